"""``lstm-conformance``: the command-line face, one module per subcommand (``conformance.cli._<name>``).

Nothing imports this package but the console script and ``python -m conformance``.
"""

from conformance.cli._main import COMMAND_MODULES, build_parser, console_main, main

__all__ = ["COMMAND_MODULES", "build_parser", "console_main", "main"]
