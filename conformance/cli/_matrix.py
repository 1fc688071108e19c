"""``lstm-conformance matrix [TARGET ...]``: candidates x behaviours, written as matrix.json, matrix.md and matrix.html."""

from __future__ import annotations

import argparse
import shlex

from conformance.cli._check import check_report_dir, positive_int
from conformance.spec import exit_status

NAME = "matrix"
HELP = ("run candidates feature by feature (baseline, each option, each dtype, long sequences, saturating weights) "
        "and write matrix.json, matrix.md and a self-contained matrix.html (exit 0 all conformant, 1 a nonconformant cell, 2 error)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from conformance.campaign import COLUMN_IDS

    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="candidates (default: every available built-in, see `lstm-conformance list`)")
    p.add_argument("--report-dir", default="reports/matrix", metavar="DIR",
                   help="where matrix.json, matrix.md, matrix.html and cases/ go (default: reports/matrix)")
    p.add_argument("--max-examples", type=positive_int, default=20, metavar="N",
                   help="examples per cell (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of every cell (default 0)")
    p.add_argument("--column", action="append", default=None, metavar="COLUMN",
                   help=f"only these columns (repeatable): {', '.join(COLUMN_IDS)}")
    p.add_argument("--tolerance", action="append", default=[], metavar="DTYPE=ATOL[:RTOL]",
                   help="override a dtype's tolerance (repeatable)")
    p.add_argument("--minimize-seconds", type=float, default=15.0, metavar="S",
                   help="time to minimize each failing cell's case (default 15)")
    p.add_argument("--cell-seconds", type=float, default=30.0, metavar="S",
                   help="time to generate and shrink in each cell before minimizing (default 30)")
    p.add_argument("--quiet", "-q", action="store_true", help="no line per finished cell")


def _targets(names: list[str]) -> list:
    from conformance.candidates import list_candidates, resolve

    if not names:
        names = [row.name for row in list_candidates() if row.available]
    # Resolve every target first: a bad one fails in one line before any work.
    return [resolve(name) for name in names]


def run(args: argparse.Namespace) -> int:
    from conformance.campaign import MatrixSettings, run_matrix
    from conformance.judge import parse_tolerance_overrides
    from conformance.spec import InvalidArgument

    for flag, value in (("--minimize-seconds", args.minimize_seconds), ("--cell-seconds", args.cell_seconds)):
        if not value > 0:
            raise InvalidArgument(f"{flag} {value!r} must be > 0")
    settings = MatrixSettings(
        max_examples=args.max_examples, seed=args.seed, tolerances=parse_tolerance_overrides(args.tolerance),
        minimize_seconds=args.minimize_seconds, cell_seconds=args.cell_seconds,
        **({"columns": tuple(args.column)} if args.column else {}),  # type: ignore[arg-type]
    )
    targets = _targets(args.targets)
    check_report_dir(args.report_dir)
    command = " ".join(["lstm-conformance matrix", *map(shlex.quote, args.targets), "--report-dir",
                        shlex.quote(args.report_dir), "--max-examples", str(args.max_examples), "--seed",
                        str(args.seed), *(f"--column {c}" for c in args.column or [])])

    def show(target: str, column, cell) -> None:
        if args.quiet or cell.status == "unsupported":
            return
        detail = f"{cell.examples} examples, {cell.elapsed_s:.1f} s"
        if cell.status == "nonconformant":
            detail += f"; {cell.kind}: {cell.message}"
        elif cell.status == "error":
            detail = cell.reason
        print(f"{target}  {column.id}: {cell.status.upper()} ({detail})", flush=True)

    matrix, interrupted = run_matrix(targets, settings, args.report_dir, progress=show, command=command)
    counts = matrix.counts()
    print(f"matrix: {counts['conformant']} conformant, {counts['nonconformant']} nonconformant, "
          f"{counts['unsupported']} unsupported, {counts['error']} error cells in {matrix.elapsed_s:.0f} s"
          + (" (interrupted; partial)" if interrupted else ""))
    print(f"report: {args.report_dir}/matrix.html, {args.report_dir}/matrix.md, {args.report_dir}/matrix.json")
    verdict = "error" if counts["error"] else "nonconformant" if counts["nonconformant"] else "conformant"
    return exit_status(verdict, interrupted=bool(interrupted), signal=interrupted)
