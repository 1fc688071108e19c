"""``lstm-conformance``: the command-line face.  Exit 0 conformant, 1 nonconformant, 2 usage/load error.

Each subcommand lives in its own ``conformance._cmd_*`` module exposing ``NAME``,
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; they are imported
lazily enough that ``--help`` never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from conformance._version import __version__
from conformance.spec import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_USAGE,
    SIGNALS,
    ConformanceError,
    Terminated,
    note_signal,
)

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "conformance.cli._check",
    "conformance.cli._repro",
    "conformance.cli._list",
    "conformance.cli._matrix",
    "conformance.cli._fuzz",
    "conformance.cli._merge",
)

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse's default prints usage too)
        # A type check that names its option itself ("--budget=-5s: ...") needs no "argument --budget: " before it.
        message = re.sub(r"^argument [^:]+: (?=--[\w-]+=)", "", message)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    """The option strings (of the parser and its subcommands) that take exactly one value."""
    out: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= _value_options(sub)
        elif action.option_strings and action.nargs is None and isinstance(
                action, (argparse._StoreAction, argparse._AppendAction)):
            out.update(action.option_strings)
    return out


def attach_dash_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``--budget -5s`` as ``--budget=-5s``: a value that starts with "-" goes to the option before it.

    argparse takes any word starting with "-" that is not a plain negative number for an option, and
    answers "expected one argument"; joined, the option's own check names the bad value.
    """
    takes_value, words, out = _value_options(parser), list(argv), []
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if (word in takes_value and nxt is not None and nxt.startswith("-") and nxt not in ("-", "--")
                and nxt.split("=", 1)[0] not in takes_value and not nxt.lstrip("-")[:1].isalpha()):
            out.append(f"{word}={nxt}")
            i += 2
            continue
        if word == "--":
            out.extend(words[i:])
            break
        out.append(word)
        i += 1
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lstm-conformance",
        description="Property-based conformance testing of LSTM implementations against TensorFlow's LSTMCell.",
    )
    parser.add_argument("--version", action="version", version=f"lstm-conformance {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        p.add_argument("--verbose", "-v", action="store_true", help="show tracebacks and more detail")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _on_sigterm(signum, frame):  # pragma: no cover - exercised by the CLI tests in a subprocess
    note_signal("SIGTERM")
    raise Terminated()


def _on_sigint(signum, frame):  # pragma: no cover - exercised by the CLI tests in a subprocess
    note_signal("SIGINT")
    raise KeyboardInterrupt()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(attach_dash_values(parser, sys.argv[1:] if argv is None else argv))
    SIGNALS.reset()  # a signal noted by an earlier main() in this process must not stop this run
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_int = signal.signal(signal.SIGINT, _on_sigint)
    try:
        return int(args._run(args))
    except Terminated:
        print("lstm-conformance: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        print("lstm-conformance: interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except ConformanceError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"lstm-conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a harness bug: still one line unless --verbose
        if args.verbose:
            traceback.print_exc()
        print(f"lstm-conformance: internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)",
              file=sys.stderr)
        return EXIT_USAGE
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def console_main() -> None:
    sys.exit(main())
