"""The command line: one module per command, each reading its options and calling one core
function; ``main`` maps errors to exit codes. Nothing here touches files directly."""
