"""The model both sides of the repository share: what a tree is, independent of how it is read
(``scan``) or stored (``store``).

``entry``: the ``Entry`` (one path with its kind, metadata and content hash), the kinds
``FILE``/``DIR``/``SYMLINK`` and tree order (``order_key``, ``parent_of``). ``rows``: entries
as manifest rows, the encoding that the tree cache keeps per directory and that manifest chunks
are made of, so a directory read again goes into a checkpoint without being decoded.
``blobs``: when a file is read in pieces (``LARGE``, ``CHUNK``) and ``BlobSink``, the protocol
through which the tree's reader (``scan``) stores content in the repository (``store``).

It imports nothing of safepoint but ``errors`` and holds no state: nothing to interrupt.
"""
