"""``lstm-conformance fuzz TARGET... --budget DURATION``: time-boxed fuzzing with memory between runs."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from conformance.cli._check import (
    add_params_arguments,
    add_run_arguments,
    check_report_dir,
    options_from_args,
    signalled,
    unwritten_line,
)

NAME = "fuzz"
HELP = ("fuzz candidates until a time budget is spent, rotating through features and dtypes; "
        "replays stored failures first (exit 0 conformant, 1 nonconformant, 2 error)")

#: Where the example database lives unless --db says otherwise (a cache: commit the corpus, not this).
DEFAULT_DB = os.path.join(".lstm-conformance", "db")


def report_reserve(budget: float) -> float:
    """Budget kept back for saving counterexamples and writing the reports (HTML with plots takes seconds)."""
    return min(10.0, max(2.0, 0.1 * budget), 0.5 * budget)


def duration(option: str) -> Callable[[str], float]:
    """argparse type of ``option`` (--budget, --slice): a bad value is one line, ``--budget=-5s: ...``."""

    def parse(text: str) -> float:
        from conformance.campaign import parse_duration
        from conformance.spec import InvalidArgument

        try:
            return parse_duration(text, name=option)
        except InvalidArgument as exc:
            raise argparse.ArgumentTypeError(str(exc).strip()) from None

    parse.__name__ = "duration"
    return parse


def shard_arg(text: str) -> tuple[int, int]:
    """argparse type of --shard: ``K/N`` with 1 <= K <= N."""
    from conformance.campaign import parse_shard
    from conformance.spec import InvalidArgument

    try:
        return parse_shard(text)
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc).strip()) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="+", metavar="TARGET",
                   help="built-in name, plugin name, module:attr, path/file.py:attr or exec:COMMAND (several allowed)")
    p.add_argument("--budget", type=duration("--budget"), required=True, metavar="DURATION",
                   help="wall-clock time for the whole run: 90s, 30m, 1h, 1h30m or plain seconds")
    p.add_argument("--slice", type=duration("--slice"), default=None, metavar="DURATION",
                   help="time per target x feature x dtype slice (default: the budget spread over them, 5 s to 5 min)")
    p.add_argument("--db", default=DEFAULT_DB, metavar="DIR|redis://HOST:PORT/N|none",
                   help=f"Hypothesis example database; failures stored there are replayed first "
                        f"(default: {DEFAULT_DB}; 'none' for no database)")
    p.add_argument("--corpus", default=None, metavar="DIR",
                   help="regression corpus: replay its cases first, save new minimized counterexamples there "
                        "(the thing to commit)")
    p.add_argument("--history", default=None, metavar="FILE",
                   help="append each slice's largest error to this JSON-lines file; the report carries "
                        "the series over runs (history)")
    p.add_argument("--shard", type=shard_arg, default=None, metavar="K/N",
                   help="run only the K-th of N deterministic shares of the slices (N CI jobs sharing one "
                        "--db redis://...; give each the same targets and options; join with merge)")
    add_run_arguments(p)
    add_params_arguments(p)
    # A night of fuzzing must survive a candidate that crashes or hangs: isolated unless --no-isolate.
    p.set_defaults(isolate=True)


def fuzz_progress_printer(stream: Any = None) -> Callable[[Any], None]:
    """One status line: time used, the slice running, examples/s and findings so far."""
    stream = stream or sys.stderr
    interactive = hasattr(stream, "isatty") and stream.isatty()
    last: dict[str, Any] = {"time": 0.0, "slice": None, "findings": 0}

    def show(p: Any) -> None:
        now = time.monotonic()
        changed = p.slice_number != last["slice"] or p.findings != last["findings"]
        # A log (CI) gets a line per slice, per finding and every 10 s; a terminal redraws in place.
        if not interactive and not changed and now - last["time"] < 10.0:
            return
        last.update(time=now, slice=p.slice_number, findings=p.findings)
        # No rate until a second of searching: "(0/s)" while the first slice starts says nothing.
        rate = f" ({p.rate:.0f}/s)" if p.searching >= 1.0 and p.examples else ""
        line = (f"[{p.elapsed:5.0f}s/{p.budget:.0f}s] slice {p.slice_number}: {p.slice.label}  "
                f"examples: {p.examples}{rate}  findings: {p.findings}")
        stream.write(("\r" + line + "   ") if interactive else line + "\n")
        stream.flush()

    return show


def run(args: argparse.Namespace) -> int:
    clock_start = time.monotonic()  # the budget covers everything from here to the report on disk
    from conformance.campaign import FuzzOptions, fuzz
    from conformance.candidates import resolve, with_node
    from conformance.run import check_corpus_dir, warn_stderr
    from conformance.spec import raise_pending_signal

    # Everything that can be wrong with the command line fails here, in one line, before any example runs.
    candidates = [resolve(with_node(t, args.node)) for t in args.targets]
    check_report_dir(args.report_dir)
    if args.corpus:
        check_corpus_dir(args.corpus)
    database = None if str(args.db).lower() in ("none", "") else args.db
    template = options_from_args(args)
    template.progress = None
    options = FuzzOptions(
        budget_seconds=args.budget, check=template, database=database, corpus=args.corpus, history=args.history,
        slice_seconds=args.slice, progress=None if args.quiet else fuzz_progress_printer(), warn=warn_stderr,
        clock_start=clock_start, reserve_seconds=report_reserve(args.budget), shard=args.shard,
    )
    # main()'s SIGINT/SIGTERM handlers note the signal in SIGNALS as well as raising it: a signal whose
    # exception Python swallowed (inside a gc or weakref callback) is raised again at the next safe point.
    options.stop_check = raise_pending_signal
    if not args.quiet:
        shard = f", shard {args.shard[0]}/{args.shard[1]}" if args.shard else ""
        first = f"fuzzing {' '.join(c.target for c in candidates)} for {args.budget:.0f} s{shard}; loading TensorFlow..."

        def announce() -> None:  # before TensorFlow's import (part of the budget), which takes seconds
            sys.stderr.write(first + "\n")
            sys.stderr.flush()

        options.on_start = announce
    result = fuzz(candidates, options)
    return finish(result, options, args)


def finish(result: Any, options: Any, args: argparse.Namespace) -> int:
    """Save counterexamples (report dir, corpus), append the history, write the reports, print the outcome.

    Signals are deferred meanwhile (the files are written whole, then marked interrupted); a file that
    cannot be written is named on one stderr line and the exit status stays the verdict's (docs/fuzzing.md).
    """
    from conformance.spec import SIGNALS

    with SIGNALS.deferred():
        if not args.quiet:
            sys.stderr.write("\n")
        return _finish(result, options, args)


def _finish(result: Any, options: Any, args: argparse.Namespace) -> int:
    from conformance import campaign
    from conformance.report import print_counterexample, write_reports
    from conformance.run import warn_stderr

    result = signalled(result)
    unwritten: list[str] = []
    added = campaign.save_findings(result, args.report_dir, corpus=options.corpus, errors=unwritten)
    if options.history:
        records = campaign.history_records(result)
        try:
            campaign.append(options.history, records)
        except OSError as exc:
            unwritten.append(f"--history {options.history}: {exc.strerror or exc}")
        mine = {c.target for c in result.candidates}
        try:
            result.history = campaign.series([r for r in campaign.read(options.history, warn=warn_stderr)
                                              if r.get("target") in mine], path=options.history)
        except OSError:  # unreadable now: the report goes without the series
            pass
    formats = [f for group in (getattr(args, "format", None) or []) for f in group]
    marked = result.interrupted
    lost: list[str] = []
    paths = write_reports(campaign.fuzz_report(result, options), args.report_dir, formats, errors=lost)
    if signalled(result).interrupted and not marked:  # a signal came while they were written: say so in them
        lost.clear()
        paths = write_reports(campaign.fuzz_report(result, options), args.report_dir, formats, errors=lost)
    unwritten += lost

    extra = " (interrupted; partial report)" if result.interrupted else ""
    extra += f" (shard {args.shard[0]}/{args.shard[1]})" if getattr(args, "shard", None) else ""
    print(f"fuzz: {result.verdict.upper()} after {result.examples} examples in {len(result.runs)} slice(s), "
          f"{result.elapsed:.1f} s of a {result.budget_seconds:.0f} s budget{extra}")
    if result.error:
        print(f"error: {result.error}")
    for c in result.candidates:
        runs = [r for r in result.runs if r.slice.target == c.target]
        bad = [r for r in runs if r.verdict != "conformant"]
        verdict = "NONCONFORMANT" if any(r.verdict == "nonconformant" for r in bad) else \
            ("ERROR" if bad else "CONFORMANT")
        examples = sum(r.result.examples for r in runs if r.result is not None)
        print(f"  {c.target}: {verdict} ({examples} examples, {len(runs)} slice(s), {len(bad)} failing)")
        for r in bad:
            cx = r.result.counterexample if r.result is not None else None
            how = f"{cx.kind}: {cx.comparison.message}" if cx is not None else r.error
            where = f" (replayed from the database: example {r.first_failure_example})" if r.from_database else ""
            print(f"    {r.slice.group}/{r.slice.dtype}: {how}{where}")
    findings = result.counterexamples()
    if findings:
        print("first finding:")
        print_counterexample(findings[0][1], verbose=args.verbose)
    if added:
        print(f"corpus: {len(added)} new case(s) in {options.corpus}")
    if options.history:
        print(f"history: {options.history}")
    if paths:
        print(f"report: {', '.join(paths.values())}")
    sys.stdout.flush()
    if unwritten:
        print(unwritten_line(unwritten), file=sys.stderr)
    return result.exit_code
