"""The operations the command line and the Python API call: one module each (``create``,
``rollback``, ``status``, ``verify``, ``guard``, ``init``, ``export``, ``import_``,
``restore_to``), each taking an open ``Site`` and returning a result object; ``prove`` runs
hooks and health checks, ``refs`` resolves checkpoint references. The working tree is read by
``scan.tree.read_tree``, handed the repository's writer when what it reads is to be stored.

What an interruption leaves is the business of the layer below: a checkpoint is created whole
or not at all (``store``); a rollback leaves a journal that ``recover`` completes (``restore``).
"""
