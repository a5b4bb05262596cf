"""The list of commands, in the order ``--help`` shows them."""

from safepoint.cli.create_cmd import create
from safepoint.cli.init_cmd import init
from safepoint.cli.list_cmd import list_, show
from safepoint.cli.restore_cmd import restore
from safepoint.cli.verify_cmd import verify

ALL = [init, create, list_, show, verify, restore]
