"""The operations the command line and the Python API call: one module each (``create``,
``rollback``, ``status``, ``verify``, ``guard``, ``init``, ``export``, ``import_``), each taking
an open ``Site`` and
returning a result object; ``tree`` reads the working tree with hashes, ``prove`` runs hooks
and health checks, ``refs`` resolves checkpoint references.

What an interruption leaves is the business of the layer below: a checkpoint is created whole
or not at all (``store``); a rollback leaves a journal that ``recover`` completes (``restore``).
"""
