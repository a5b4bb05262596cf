"""The list of commands, in the order ``--help`` shows them."""

from safepoint.cli.create_cmd import create
from safepoint.cli.export_cmd import export
from safepoint.cli.health_cmd import guard, health
from safepoint.cli.import_cmd import import_
from safepoint.cli.init_cmd import init
from safepoint.cli.list_cmd import list_, show
from safepoint.cli.restore_cmd import restore
from safepoint.cli.rollback_cmd import recover, rollback_cmd
from safepoint.cli.status_cmd import diff, status
from safepoint.cli.verify_cmd import verify

ALL = [
    init,
    create,
    list_,
    show,
    status,
    diff,
    verify,
    restore,
    rollback_cmd,
    recover,
    health,
    guard,
    export,
    import_,
]
