"""``lstm-conformance check TARGET``: one candidate, a verdict, a minimized counterexample."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from conformance._console import print_counterexample, progress_printer
from conformance._errors import InvalidArgument

NAME = "check"
HELP = "check one candidate against TensorFlow's LSTMCell (exit 0 conformant, 1 nonconformant, 2 error)"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs examples (check, matrix, fuzz)."""
    p.add_argument("--seed", type=int, default=None, help="make the run reproducible")
    p.add_argument("--report-dir", default="reports", metavar="DIR", help="where reports go (default: reports/)")
    p.add_argument("--tolerance", action="append", default=[], metavar="DTYPE=ATOL[:RTOL]",
                   help="override a dtype's tolerance, e.g. float16=1e-2 (repeatable)")
    p.add_argument("--dtype", action="append", default=None, metavar="DTYPE",
                   help="only these dtypes (repeatable; default: all the candidate supports)")
    p.add_argument("--feature", action="append", default=None, metavar="FEATURE",
                   help="only these optional features (repeatable; default: all the candidate supports)")
    p.add_argument("--max-time", type=positive_int, default=24, metavar="T", help="longest ordinary sequence (default 24)")
    p.add_argument("--no-long", action="store_true", help="never draw long (T >= 100) sequences")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="built-in name, plugin name, module:attr, path/file.py:attr or exec:COMMAND")
    p.add_argument("--max-examples", type=positive_int, default=200, metavar="N", help="examples to try (default 200)")
    p.add_argument("--db", default=None, metavar="DIR|redis://HOST:PORT/N",
                   help="Hypothesis example database (default: none)")
    add_run_arguments(p)


def options_from_args(args: argparse.Namespace, **extra: Any):
    from conformance._compare import parse_tolerance_overrides
    from conformance._runner import CheckOptions
    from conformance._spec import DTYPES, FEATURES

    for d in args.dtype or []:
        if d not in DTYPES:
            raise InvalidArgument(f"--dtype {d!r} is not one of {', '.join(DTYPES)}")
    for f in args.feature or []:
        if f not in FEATURES:
            raise InvalidArgument(f"--feature {f!r} is not one of {', '.join(FEATURES)}")
    return CheckOptions(
        seed=args.seed,
        tolerances=parse_tolerance_overrides(args.tolerance),
        dtypes=args.dtype,
        features=args.feature,
        max_time=args.max_time,
        long_sequences=not args.no_long,
        progress=None if args.quiet else progress_printer(),
        **extra,
    )


def check_report_dir(path: str) -> None:
    """Fail early, before any work, if reports cannot be written there."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write-test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise InvalidArgument(f"--report-dir {path!r} is not writable ({exc.strerror or exc})") from None


def run(args: argparse.Namespace) -> int:
    from conformance._runner import check
    from conformance.candidates import resolve

    loaded = resolve(args.target)  # a bad target fails here, in one line, before TF is imported
    options = options_from_args(args, max_examples=args.max_examples, database=args.db)
    check_report_dir(args.report_dir)
    result = check(loaded, options)
    if not args.quiet:
        sys.stderr.write("\n")
    return finish(result, args)


def finish(result: Any, args: argparse.Namespace) -> int:
    """Print the outcome, write the reports, return the exit status."""
    from conformance._oracle import tensorflow_version
    from conformance.report import build_report, save_counterexample, write_json

    cx = result.counterexample
    if cx is not None:
        save_counterexample(cx, args.report_dir)
    report = build_report(result, oracle_version=tensorflow_version())
    path = write_json(report, args.report_dir)
    status = result.verdict.upper()
    extra = " (interrupted; partial report)" if result.interrupted else ""
    extra += " (time budget spent)" if result.budget_exhausted else ""
    print(f"{result.target}: {status} after {result.examples} examples in {result.elapsed:.1f} s{extra}")
    if result.oracle_deviations:
        print(f"note: on {result.oracle_deviations} example(s) TensorFlow itself strayed from the float64 spec; "
              f"those were judged against the spec ({result.oracle_deviation_examples[0]})")
    if cx is not None:
        print_counterexample(cx, verbose=args.verbose)
    print(f"report: {path}")
    return result.exit_code
