"""Where repository objects live: a small storage protocol and its implementations.

``base`` is the contract (``Storage``: list, ranged get, put, put-if-absent, put-if-match,
delete, stat) that every implementation honours; ``local`` keeps objects as files under a
directory (write to a temporary name, fsync, rename: a reader sees the old object or the new,
never a part); ``s3`` keeps them in an S3-compatible bucket through ``boto3`` (the optional
``safepoint[s3]`` extra, imported only when an ``s3://`` URL is opened); ``encrypted`` wraps any
storage so that what it holds is AES-256-GCM ciphertext, with the keys of ``keys`` (a master key
in passphrase-wrapped key slots) and the primitives of ``crypto``; ``lock`` is the cross-host
write lock kept as an object, ``probe`` tests whether a service honours conditional writes, and
``remote`` creates and opens an encrypted repository's storage (``config``, the first key slot);
``open`` picks the storage for a URL.

Nothing here knows packs, indexes or checkpoints: the repository (``store.repository``) is to be
built on this layer (docs/FORMAT.md, "Remote repositories (in progress)"). An interruption
leaves at worst a temporary file of a local put (``.NAME.tmp-PID``), an unfinished multipart
upload (aborted when the process can still do so; otherwise the bucket's lifecycle rule or a
later ``gc`` removes it), or a lock object that turns stale.
"""
