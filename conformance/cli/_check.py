"""``lstm-conformance check TARGET``: one candidate, a verdict, a minimized counterexample."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import sys
from typing import TYPE_CHECKING, Any

from conformance.candidates import MAX_MEMORY_LIMIT_MB, MAX_TIMEOUT_SECONDS
from conformance.report import print_counterexample, progress_printer
from conformance.spec import MAX_SIZE_LIMIT, MAX_TIME_LIMIT, InvalidArgument

if TYPE_CHECKING:
    from conformance.outcome import CheckResult

NAME = "check"
HELP = "check one candidate against TensorFlow's LSTMCell (exit 0 conformant, 1 nonconformant, 2 error)"


def positive_int(text: str, maximum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"{text!r} must be <= {maximum}")
    return value


def positive_float(text: str, maximum: float | None = None) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"{text!r} must be <= {maximum:g}")
    return value


def int_at_most(maximum: int):
    """argparse type: an integer from 1 to ``maximum``."""

    def parse(text: str) -> int:
        return positive_int(text, maximum)

    parse.__name__ = "positive_int"
    return parse


def float_at_most(maximum: float):
    """argparse type: a finite number > 0 and <= ``maximum``."""

    def parse(text: str) -> float:
        return positive_float(text, maximum)

    parse.__name__ = "positive_float"
    return parse


#: Per-example limit of an isolated run when --timeout is not given.
DEFAULT_TIMEOUT_SECONDS = 60.0


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs examples (check, matrix, fuzz).

    A command that isolates by default (fuzz) calls ``p.set_defaults(isolate=True)`` after this.
    """
    p.add_argument("--seed", type=int, default=None, help="make the run reproducible")
    p.add_argument("--report-dir", default="reports", metavar="DIR", help="where reports go (default: reports/)")
    p.add_argument("--tolerance", action="append", default=[], metavar="DTYPE=ATOL[:RTOL]",
                   help="override a dtype's tolerance, e.g. float16=1e-2 (repeatable)")
    p.add_argument("--dtype", action="append", default=None, metavar="DTYPE",
                   help="only these dtypes (repeatable; default: all the candidate supports)")
    p.add_argument("--feature", action="append", default=None, metavar="FEATURE",
                   help="only these optional features (repeatable; default: all the candidate supports)")
    p.add_argument("--max-time", type=int_at_most(MAX_TIME_LIMIT), default=None, metavar="T",
                   help=f"longest sequence: ordinary ones up to T (default 24), the large-size tail's and the "
                        f"long ones no longer than T (default 1000; at most {MAX_TIME_LIMIT})")
    p.add_argument("--max-batch", type=int_at_most(MAX_SIZE_LIMIT), default=None, metavar="B",
                   help="most batch rows of any case, the large-size tail's included (default: 4 ordinary, "
                        "64 in the tail)")
    p.add_argument("--max-units", type=int_at_most(MAX_SIZE_LIMIT), default=None, metavar="H",
                   help="most units of any case, the tail's included (default: 16 ordinary, 1024 in the tail)")
    p.add_argument("--max-input-size", type=int_at_most(MAX_SIZE_LIMIT), default=None, metavar="I",
                   help="widest input of any case, the tail's included (default: 16 ordinary, 1024 in the tail)")
    p.add_argument("--no-long", action="store_true", help="never draw long (T >= 100) sequences")
    p.add_argument("--generation", choices=("seeded", "choices"), default="seeded",
                   help="seeded (default): cases from a seeded RNG, 8 per Hypothesis example, a failure minimised "
                        "by the post-minimiser; choices: every choice a Hypothesis choice (slower; Hypothesis "
                        "shrinks a failure first)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    p.add_argument("--no-diagnose", action="store_true",
                   help="skip explaining a mismatch (convention variants, localization, structure; docs/diagnosis.md)")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                   help="run the candidate in a worker process, so a crash, hang or memory blow-up is a finding "
                        "(implied by --timeout/--memory-limit)")
    p.add_argument("--timeout", type=float_at_most(MAX_TIMEOUT_SECONDS), default=None, metavar="SECONDS",
                   help=f"per-example limit of an isolated run; past it the example is a hang "
                        f"(default {DEFAULT_TIMEOUT_SECONDS:g}, at most {MAX_TIMEOUT_SECONDS:g})")
    p.add_argument("--memory-limit", type=int_at_most(MAX_MEMORY_LIMIT_MB), default=None, metavar="MB",
                   help=f"memory an isolated candidate may allocate beyond what its worker holds once loaded "
                        f"(address space; default: unlimited; at most {MAX_MEMORY_LIMIT_MB}, 2**42)")
    p.add_argument("--format", action="append", type=report_formats, default=None, metavar="FMT[,FMT]",
                   help="report formats: json, html, junit, markdown (repeatable or comma-separated; default: all)")


def report_formats(text: str) -> tuple[str, ...]:
    """argparse type of --format: validates the names before any work is done."""
    from conformance.report import parse_formats

    try:
        return parse_formats([text])
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="built-in name, plugin name, module:attr, path/file.py:attr or exec:COMMAND")
    p.add_argument("--max-examples", type=positive_int, default=200, metavar="N", help="examples to try (default 200)")
    p.add_argument("--db", default=None, metavar="DIR|redis://HOST:PORT/N",
                   help="Hypothesis example database (default: none)")
    p.add_argument("--corpus", default=None, metavar="DIR",
                   help="regression corpus: replay its cases first, save a new counterexample there (commit it)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="split the examples across N worker processes, one TF oracle each (default 1: in process)")
    add_run_arguments(p)


def options_from_args(args: argparse.Namespace, **extra: Any):
    from conformance.judge import parse_tolerance_overrides
    from conformance.run import CheckOptions
    from conformance.spec import DTYPES, FEATURES

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
        **({"max_time": args.max_time} if args.max_time is not None else {}),
        max_large_time=args.max_time, max_large_batch=args.max_batch, max_large_units=args.max_units,
        max_large_input_size=args.max_input_size,
        long_sequences=not args.no_long,
        generation=args.generation,
        diagnose=not getattr(args, "no_diagnose", False),
        progress=None if args.quiet else progress_printer(),
        **{**isolation_from_args(args), **extra},
    )


def isolation_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """``isolate``/``timeout_seconds``/``memory_limit_mb`` for CheckOptions from --isolate, --timeout, --memory-limit."""
    timeout, memory = getattr(args, "timeout", None), getattr(args, "memory_limit", None)
    isolate = getattr(args, "isolate", None)
    if isolate is False and (timeout is not None or memory is not None):
        given = "--timeout" if timeout is not None else "--memory-limit"
        raise InvalidArgument(f"{given} needs a worker process, but --no-isolate was given")
    isolate = bool(isolate) or timeout is not None or memory is not None
    if not isolate:
        return {"isolate": False}
    return {"isolate": True, "timeout_seconds": timeout if timeout is not None else DEFAULT_TIMEOUT_SECONDS,
            "memory_limit_mb": memory}


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
    from conformance.candidates import resolve
    from conformance.run import check, check_parallel, check_with_corpus
    from conformance.spec import SIGNALS

    loaded = resolve(args.target)  # a bad target fails here, in one line, before TF is imported
    options = options_from_args(args, max_examples=args.max_examples, database=args.db)
    check_report_dir(args.report_dir)
    run_check = functools.partial(check_parallel, workers=args.workers) if args.workers > 1 else check
    unwritten: list[str] = []
    with contextlib.ExitStack() as end_of_run:

        def run_then_hold(loaded: Any, options: Any) -> CheckResult:
            result = run_check(loaded, options)
            # From here on a signal is only noted: the corpus entry and the reports are written whole,
            # then marked interrupted (SIGNALS.deferred; docs/reports.md).
            end_of_run.enter_context(SIGNALS.deferred())
            return result

        result = check_with_corpus(loaded, options, args.corpus, run=run_then_hold, errors=unwritten)
        if not args.quiet:
            sys.stderr.write("\n")
        return finish(result, args, unwritten)


def signalled(result: Any) -> Any:
    """``result`` marked interrupted by a signal that :data:`SIGNALS` noted (while the reports were written)."""
    from conformance.spec import SIGNALS

    pending = SIGNALS.pending
    if pending is None or result.interrupted:
        return result
    if hasattr(result, "replace"):
        return result.replace(interrupted=True, signal=pending)
    result.interrupted, result.signal = True, pending
    return result


def unwritten_line(failures: list[str]) -> str:
    """The one stderr line naming every file that could not be written (the exit status stays the verdict's)."""
    return " ".join(f"lstm-conformance: error: could not write {'; '.join(failures)}".split())


def finish(result: CheckResult, args: argparse.Namespace, unwritten: list[str] | None = None) -> int:
    """Print the outcome, write the reports, return the exit status.

    Always prints the verdict; a file that cannot be written (a full disk, a directory gone) is named
    on one stderr line and the exit status is still the verdict's (docs/reports.md).  Signals arriving
    meanwhile are deferred and mark the reports interrupted.
    """
    from conformance.spec import SIGNALS

    with SIGNALS.deferred():
        return _finish(result, args, list(unwritten or []))


def _finish(result: CheckResult, args: argparse.Namespace, unwritten: list[str]) -> int:
    from conformance.oracle import tensorflow_version
    from conformance.report import build_report, parse_formats, save_counterexample, write_reports

    formats = [f for group in (getattr(args, "format", None) or []) for f in group]
    result = signalled(result)
    lost: list[str] = []
    case_lost = False
    if result.counterexample is not None:
        try:
            result = result.replace(counterexample=save_counterexample(result.counterexample, args.report_dir))
        except OSError as exc:
            lost.append(_why(os.path.join(args.report_dir, "counterexample.npz"), exc))
            case_lost = True
    marked = result.interrupted
    paths = write_reports(build_report(result, oracle_version=tensorflow_version()), args.report_dir, formats,
                          errors=lost)
    if signalled(result).interrupted and not marked:  # a signal came while they were written: say so in them
        result = signalled(result)
        lost.clear()
        paths = write_reports(build_report(result, oracle_version=tensorflow_version()), args.report_dir, formats,
                              errors=lost)
    if case_lost or (lost and ("json" in paths) != ("json" in parse_formats(formats))) or (lost and not paths):
        # Found only at the end (the directory vanished, was replaced or filled up): the run's
        # results still reach stdout below, and the files go where they can be written.
        where, result = _write_elsewhere(result, formats)
        unwritten.append(f"reports to --report-dir {args.report_dir!r} ({'; '.join(lost)}){where}")
    elif lost:  # a secondary format only (report.json and the case are there)
        unwritten.extend(lost)
    cx = result.counterexample
    status = result.verdict.upper()
    extra = " (interrupted; partial report)" if result.interrupted else ""
    extra += " (time budget spent)" if result.budget_exhausted else ""
    print(f"{result.target}: {status} after {result.examples} examples in {result.elapsed:.1f} s{extra}")
    if result.error:
        print(f"error: {result.error}")
    if result.oracle_deviations:
        print(f"note: on {result.oracle_deviations} example(s) TensorFlow itself strayed from the float64 spec; "
              f"those were judged against the spec ({result.oracle_deviation_examples[0]})")
    if cx is not None:
        print_counterexample(cx, verbose=args.verbose)
    if paths:
        print(f"report: {', '.join(paths.values())}")
    sys.stdout.flush()
    if unwritten:
        print(unwritten_line(unwritten), file=sys.stderr)
    return result.exit_code


def _why(path: str, exc: OSError) -> str:
    return f"{path}: {exc.strerror or exc}"


def _write_elsewhere(result: CheckResult, formats: list[str]) -> tuple[str, CheckResult]:
    """Write the counterexample and reports to a fresh temporary directory; say where (or why not)."""
    import tempfile

    from conformance.oracle import tensorflow_version
    from conformance.report import build_report, save_counterexample, write_reports

    try:
        fallback = tempfile.mkdtemp(prefix="lstm-conformance-reports-")
    except OSError as exc:
        return f"; nor to a temporary directory ({exc.strerror or exc})", result
    failed: list[str] = []
    original = result
    try:
        if result.counterexample is not None:
            result = result.replace(counterexample=save_counterexample(result.counterexample, fallback))
        write_reports(build_report(result, oracle_version=tensorflow_version()), fallback, formats, errors=failed)
    except OSError as exc:
        failed.append(_why(os.path.join(fallback, "counterexample.npz"), exc))
    if failed:
        shutil.rmtree(fallback, ignore_errors=True)
        return f"; nor to a temporary directory ({failed[0].rsplit(': ', 1)[-1]})", original
    return f"; wrote them to {fallback} instead", result
