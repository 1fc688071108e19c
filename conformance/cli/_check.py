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
from conformance.report import ProgressPrinter, print_counterexample, progress_printer
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
                        "1024 in the tail)")
    p.add_argument("--max-units", type=int_at_most(MAX_SIZE_LIMIT), default=None, metavar="H",
                   help="most units of any case, the tail's included (default: 16 ordinary, 1024 in the tail)")
    p.add_argument("--max-input-size", type=int_at_most(MAX_SIZE_LIMIT), default=None, metavar="I",
                   help="widest input of any case, the tail's included (default: 16 ordinary, 1024 in the tail)")
    p.add_argument("--no-long", action="store_true", help="never draw long (T >= 100) sequences")
    p.add_argument("--generation", choices=("seeded", "choices"), default="seeded",
                   help="seeded (default): cases from a seeded RNG, 16 per Hypothesis example, a failure minimised "
                        "by the post-minimiser; choices: every choice a Hypothesis choice (slower; Hypothesis "
                        "shrinks a failure first)")
    p.add_argument("--inputs-per-params", type=int_at_most(MAX_TIME_LIMIT), default=16, metavar="N",
                   help="for a candidate that converts a model per parameter set (tflite-*, tf2onnx): cases drawn "
                        "per parameter set, so one conversion serves N cases (default 16)")
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


def add_params_arguments(p: argparse.ArgumentParser) -> None:
    """``--params FILE`` and ``--node NAME`` (check and fuzz; README "Check your converted model")."""
    p.add_argument("--params", default=None, metavar="FILE",
                   help="pin the config and weights: an .npz of TF-layout arrays (docs/mapping.md), a TF checkpoint "
                        "or SavedModel holding an LSTMCell, or a Keras file holding an LSTM layer; only inputs, "
                        "initial states and lengths are drawn. With a model target, the oracle runs these weights "
                        "and the model its own")
    p.add_argument("--node", default=None, metavar="NAME",
                   help="which LSTM of a model target or --params file holding several (the error lists them)")


def report_formats(text: str) -> tuple[str, ...]:
    """argparse type of --format: validates the names before any work is done."""
    from conformance.report import parse_formats

    try:
        return parse_formats([text])
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="built-in name, plugin name, module:attr, path/file.py:attr, exec:COMMAND, or a model "
                                  "file (.pt, .onnx, .tflite, .keras, .h5, a SavedModel directory)")
    p.add_argument("--max-examples", type=positive_int, default=200, metavar="N", help="examples to try (default 200)")
    p.add_argument("--db", default=None, metavar="DIR|redis://HOST:PORT/N",
                   help="Hypothesis example database (default: none)")
    p.add_argument("--corpus", default=None, metavar="DIR",
                   help="regression corpus: replay its cases first, save a new counterexample there (commit it)")
    p.add_argument("--workers", type=workers_arg, default="auto", metavar="N|auto",
                   help="split the examples across N worker processes, one TF oracle each; auto (default): in "
                        "process unless the run is long enough and there are cores enough for workers to pay "
                        "back their start-up (one per core from 1,000 examples each; README \"When workers help\")")
    add_run_arguments(p)
    add_params_arguments(p)


def workers_arg(text: str) -> int | str:
    """argparse type of --workers: ``auto`` or an integer >= 1."""
    return "auto" if text.strip().lower() == "auto" else positive_int(text)


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
    if getattr(args, "params", None):
        from conformance.candidates import load_params

        extra.setdefault("params", load_params(args.params, getattr(args, "node", None)))
        if args.dtype is None:  # the pinned weights have one dtype (fuzz plans its slices by dtype)
            args.dtype = [extra["params"].config.dtype]
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
        inputs_per_params=getattr(args, "inputs_per_params", 16),
        diagnose=not getattr(args, "no_diagnose", False),
        progress=None if args.quiet else progress_printer(total=extra.get("max_examples")),
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
    from conformance.candidates import resolve, with_node
    from conformance.run import auto_workers, check, check_parallel, check_with_corpus
    from conformance.spec import SIGNALS

    loaded = resolve(with_node(args.target, args.node))  # a bad target fails here, in one line, before TF is imported
    options = options_from_args(args, max_examples=args.max_examples, database=args.db)
    check_report_dir(args.report_dir)
    workers = auto_workers(args.max_examples) if args.workers == "auto" else args.workers
    run_check = functools.partial(check_parallel, workers=workers) if workers > 1 else check
    printer = options.progress if isinstance(options.progress, ProgressPrinter) else None
    if printer is not None:  # written with the run's first report, before TensorFlow loads (seconds)
        how = f"{workers} worker processes" if workers > 1 else "in process"
        printer.start(f"checking {loaded.target}: {args.max_examples} examples, {how}; loading TensorFlow...")
    unwritten: list[str] = []
    with contextlib.ExitStack() as end_of_run:

        def run_then_hold(loaded: Any, options: Any) -> CheckResult:
            result = run_check(loaded, options)
            # From here on a signal is only noted: the corpus entry and the reports are written whole,
            # then marked interrupted (SIGNALS.deferred; docs/reports.md).
            end_of_run.enter_context(SIGNALS.deferred())
            return result

        try:
            result = check_with_corpus(loaded, options, args.corpus, run=run_then_hold, errors=unwritten)
        finally:
            if printer is not None:
                printer.close()
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
    if result.weights is not None:
        print(weights_line(result.weights))
    for line in run_notes(result):
        print(line)
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


def run_notes(result: Any) -> list[str]:
    """What the headline leaves out: cases accepts= turned down, and the largest error in context."""
    lines = []
    rejected = getattr(result, "rejected_by_accepts", 0)
    if rejected:
        asked = getattr(result, "examples_asked", None)
        ran = f"{result.examples} of the {asked} examples asked ran" if asked else f"{result.examples} examples ran"
        lines.append(f"note: {ran}; the candidate's accepts= turned down {rejected} drawn case(s) (not run)")
    if result.verdict == "conformant" and result.max_abs_error > 0:
        rel = getattr(result, "max_abs_error_relative", 0.0)
        relative = f"{rel:.2g}x the largest |expected| of its example; " if 0 < rel < float("inf") else ""
        lines.append(f"largest error: {result.max_abs_error:.2g} ({relative}{below_one(result.max_score)}x the allowed "
                     f"error)")
    return lines


def below_one(score: float) -> str:
    """``score`` (error / allowed error) with two significant digits, or as many more as it takes for a score below 1
    not to print as 1 (a conformant run's 0.996 is not at its limit)."""
    for digits in range(2, 8):
        text = f"{score:.{digits}g}"
        if score >= 1 or float(text) < 1:
            return text
    return "<1"


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


def weights_line(weights: Any) -> str:
    """The console line saying whose weights a pinned run used (report.json ``weights``)."""
    sha = f" (sha256 {weights['sha256'][:16]})" if weights.get("sha256") else ""
    what = "pinned from" if weights.get("source") == "pinned" else "taken from the model"
    return f"weights: {what} {weights.get('origin', '')}{sha}"
