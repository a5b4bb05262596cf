"""Database snapshots stored in the repository with a checkpoint (``[database]``, ``--with-db``).

``chunks`` owns the stored form: a snapshot is a list of content blobs (SQLite: pieces of one
page, so pages that did not change are stored once; ``pg_dump`` output:
content-defined chunks, so an insertion does not shift every later piece) and a small JSON
"top" blob listing them; which blobs a checkpoint's snapshot uses is answered below, in
``store/snapshots.py``, so that gc, check and verify count them. ``sqlite`` copies a live
SQLite database with the online backup API, both ways; ``postgres`` runs ``pg_dump`` and
restores into a new database that is then swapped in by renaming. ``snapshot`` ties them
together for ``ops``.

An interruption while taking a snapshot leaves a temporary folder ``.dbsnap-*`` in the
repository (removed by the next snapshot) and at most unreferenced pack data; while restoring
a SQLite database, the backup API writes the live file in one transaction of the live
database; while restoring PostgreSQL, at most a database named ``<name>_sp_new`` (dropped by
the next restore): the live one changes only by the final rename.
"""
