"""The repository: what safepoint stores and how (format in ``docs/FORMAT.md``).

``pack`` writes and reads pack files of blobs; ``index`` maps blob ids to pack locations
(SQLite, rebuildable from the packs); ``manifest`` encodes a checkpoint's entries as chunk
blobs; ``records`` holds checkpoint records and their marks; ``repository`` ties them together
with the format version, the write lock and blob reads that are always hash-checked; ``writer``
is a write transaction of blobs; ``upkeep`` what a writer does on taking the lock; ``atomic``
is the write-to-temp, fsync, rename discipline everything uses.

An interruption leaves at worst an orphan ``.tmp`` pack (removed) or a pack the index does not
know yet (indexed) when the next writer takes the lock; a checkpoint exists once its record has been
renamed into place, and by then everything it refers to is durable.
"""
