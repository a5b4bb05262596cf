"""Portable archives: ``export`` writes one checkpoint as a standard tar archive with a
``.sha256`` and a standalone POSIX restore script; ``import`` takes such an archive, or a plain
``tar czf`` of a site, back as a checkpoint of kind ``imported``.

Modules: ``layout`` (what an archive holds, file names), ``paths`` (path safety, shared with
the restore side), ``compress`` (gzip/zstd streams that notice damage), ``checksum``
(``sha256sum`` files), ``export``, ``script`` (the restore script), ``reader`` (validating an
archive without extracting it), ``select`` (the site's rules applied path by path),
``importer``.

Interruptions: an export writes ``.NAME.partial-PID`` and renames it last, so there is never a
partial archive under the final name; an import writes no record until everything is stored,
so an interrupted one leaves at most unreferenced pack data for ``gc``.

Nothing is imported here, so that the restore side can use ``paths`` without loading the rest.
"""
