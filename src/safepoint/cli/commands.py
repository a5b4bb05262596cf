"""The commands, by name, in the order ``--help`` shows them, as ``module:attribute``.

A command's module is imported only when that command runs: ``safepoint status`` should not pay
for importing the HTTP client, the archive code and rich.
"""

COMMANDS: dict[str, str] = {
    "init": "safepoint.cli.init_cmd:init",
    "create": "safepoint.cli.create_cmd:create",
    "list": "safepoint.cli.list_cmd:list_",
    "show": "safepoint.cli.list_cmd:show",
    "mark": "safepoint.cli.mark_cmd:mark",
    "status": "safepoint.cli.status_cmd:status",
    "diff": "safepoint.cli.status_cmd:diff",
    "verify": "safepoint.cli.verify_cmd:verify",
    "restore": "safepoint.cli.restore_cmd:restore",
    "rollback": "safepoint.cli.rollback_cmd:rollback_cmd",
    "recover": "safepoint.cli.rollback_cmd:recover",
    "health": "safepoint.cli.health_cmd:health",
    "guard": "safepoint.cli.health_cmd:guard",
    "export": "safepoint.cli.export_cmd:export",
    "import": "safepoint.cli.import_cmd:import_",
    "repair": "safepoint.cli.repair_cmd:repair",
    "run": "safepoint.cli.run_cmd:run",
    "demo": "safepoint.cli.demo_cmd:demo",
    "timeline": "safepoint.cli.timeline_cmd:timeline",
    "forget": "safepoint.cli.forget_cmd:forget_cmd",
    "undelete": "safepoint.cli.forget_cmd:undelete_cmd",
    "prune": "safepoint.cli.forget_cmd:prune_cmd",
    "gc": "safepoint.cli.gc_cmd:gc",
    "check": "safepoint.cli.check_cmd:check",
    "copy": "safepoint.cli.copy_cmd:copy",
    "fleet": "safepoint.cli.fleet_cmd:fleet",
    "key": "safepoint.cli.key_cmd:key",
    "unlock": "safepoint.cli.key_cmd:unlock",
}
