"""Portable archives, the format only: ``export`` writes one checkpoint as a standard tar
archive with a ``.sha256`` and a standalone POSIX restore script; ``import`` takes such an
archive, or a plain ``tar czf`` of a site, back as a checkpoint of kind ``imported``. The
operations (the site, the lock, the version recorded) are ``ops/export.py`` and
``ops/import_.py``; this package is handed a repository, entries, paths and rules.

Modules: ``layout`` (what an archive holds, file names), ``paths`` (path safety, shared with
the restore side), ``compress`` (gzip/zstd streams that notice damage), ``checksum``
(``sha256sum`` files), ``export`` (the tar stream), ``outputs`` (where export writes,
staged), ``script`` (the restore script), ``reader`` (validating an archive without
extracting it), ``limits`` (what an import may cost and hold), ``meta`` (the reserved folder
and its record), ``select`` (the site's rules applied path by path), ``importer`` (members
selected and stored).

Interruptions: an export writes its three files as ``.NAME.partial-PID`` and renames them at
the end, the archive last, so there is never a partial archive (or a companion without its
archive) under a final name, and the next export to that folder removes a killed one's
temporaries; an import writes no record until everything is stored, so an interrupted one
leaves at most unreferenced pack data (kept until a future ``gc``, planned, removes it).

Nothing is imported here, so that the restore side can use ``paths`` without loading the rest.
"""
