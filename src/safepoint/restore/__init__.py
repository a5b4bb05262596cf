"""Putting checkpoints back on disk.

``files`` writes single entries (content verified before it is written, modes, owners, mtimes);
``materialize`` restores a checkpoint into an empty directory; ``plan``, ``journal`` and ``apply``
bring a live root back to a checkpoint in place. A restore into a new directory that fails
removes what it wrote; an interrupted in-place rollback leaves a journal that
``safepoint recover`` completes or undoes.
"""
