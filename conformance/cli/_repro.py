"""``lstm-conformance repro FILE [TARGET]``: re-run a saved case on the oracle and a candidate.

Prints the case, both results, the error per time step and the verdict.
Exit 0 if the candidate conforms on this case, 1 if not, 2 when FILE is not a
readable case (corrupt or truncated .npz: one line naming it) or TARGET cannot load.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from conformance.report import recorded, recorded_target
from conformance.spec import shortest

NAME = "repro"
HELP = "replay a saved counterexample (.npz) on the oracle and a candidate; print both, errors and the verdict"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a counterexample .npz written by check/fuzz")
    p.add_argument("target", nargs="?", default=None,
                   help="candidate to run (default: the one recorded in the .json beside FILE)")
    p.add_argument("--tolerance", action="append", default=[], metavar="DTYPE=ATOL[:RTOL]",
                   help="override a dtype's tolerance, e.g. float16=1e-2 (repeatable)")
    p.add_argument("--run-recorded", action="store_true",
                   help="run the target recorded beside FILE even when it is a module, a file or an exec: command "
                        "(a shared counterexample could otherwise run code; built-in and plugin names need no flag)")
    p.add_argument("--path", action="append", default=[], metavar="DIR",
                   help="put DIR first on the import path (where a module:attr target's module lives; the replay "
                        "command printed by check/fuzz passes it)")
    p.add_argument("--cwd", default=None, metavar="DIR",
                   help="run the candidate from DIR (an exec: command's working directory; printed by check/fuzz)")
    p.add_argument("--isolate", action="store_true",
                   help="run the candidate in a worker process (a crash or hang is then reported, not fatal)")


def print_step_table(case: Any, ev: Any, out=None) -> None:
    """Per time step: max abs error of outputs[:, t], and candidate vs oracle at that step's worst element."""
    import numpy as np

    out = out or sys.stdout
    first = ev.comparison.first_divergent_step
    got = np.asarray(ev.candidate.outputs, dtype=np.float64)
    want = np.asarray(ev.oracle.outputs, dtype=np.float64)
    if got.shape != want.shape:
        print(f"  no per-step errors: candidate outputs have shape {got.shape}, the oracle's {want.shape}", file=out)
        return
    print("  error per time step (outputs [B, T, P]; worst element of each step):", file=out)
    print(f"    {'t':>4}  {'max |err|':>10}  {'element':<16} {'candidate':>13} {'oracle':>13}", file=out)
    T = case.time
    steps = range(T) if T <= 40 else [*range(20), None, *range(T - 10, T)]
    for t in steps:
        if t is None:
            print("    ...", file=out)
            continue
        with np.errstate(invalid="ignore"):
            err = np.nan_to_num(np.abs(got[:, t] - want[:, t]), nan=np.inf)
        b, p = np.unravel_index(int(np.argmax(err)), err.shape)
        mark = "  <- first divergence" if t == first else ""
        dtype = case.config.dtype  # shortest round-trip digits: a 2e-10 difference shows (spec.shortest)
        print(f"    {t:>4}  {float(err[b, p]):>10.2g}  {f'outputs[{b}, {t}, {p}]':<16} "
              f"{shortest(got[b, t, p], dtype):>13} {shortest(want[b, t, p], dtype):>13}{mark}", file=out)
    for name in ("c", "h"):
        g = np.asarray(getattr(ev.candidate, name), dtype=np.float64)
        w = np.asarray(getattr(ev.oracle, name), dtype=np.float64)
        if g.shape != w.shape:
            print(f"  final {name}: shape {g.shape}, expected {w.shape}", file=out)
            continue
        with np.errstate(invalid="ignore"):
            worst = float(np.max(np.nan_to_num(np.abs(g - w), nan=np.inf))) if g.size else 0.0
        print(f"  final {name}: max |err| {worst:.3g}", file=out)


def load_case(path: str) -> Any:
    """The case in ``path``; InvalidArgument in one line naming the file and what was expected."""
    from conformance.spec import Case, InvalidArgument

    try:
        return Case.load_npz(path)
    except InvalidArgument as exc:
        text = str(exc)
        if "allow_pickle" in text or "BadZipFile" in text or "not a zip file" in text:
            # numpy's own words ("allow_pickle=False") read as advice to load pickles: never take it.
            what = "it holds pickled objects" if "allow_pickle" in text else "not a whole .npz (zip) archive"
            raise InvalidArgument(f"{path}: not a readable case file ({what}); expected a counterexample .npz written by "
                                  f"lstm-conformance check/fuzz") from None
        raise


def enter_context(paths: list[str], cwd: str | None) -> None:
    """``--path`` entries first on sys.path, then ``--cwd``; a missing directory is one line naming it."""
    import os

    from conformance.spec import InvalidArgument

    for flag, d in [*(("--path", p) for p in paths), *((("--cwd", cwd),) if cwd else ())]:
        if not os.path.isdir(d):
            raise InvalidArgument(f"{flag} {d!r} is not a directory")
    for p in reversed(paths):
        sys.path.insert(0, os.path.abspath(p))
    if cwd:
        os.chdir(cwd)


def run(args: argparse.Namespace) -> int:
    import os

    from conformance.candidates import is_named_target, make_executor, resolve
    from conformance.judge import Judge, evaluate, parse_tolerance_overrides
    from conformance.report import print_arrays, print_case
    from conformance.spec import EXIT_NONCONFORMANT, EXIT_OK, InvalidArgument

    args.file = os.path.abspath(args.file)  # --cwd may change directory below
    case = load_case(args.file)  # a corrupt or truncated file stops here: one line, exit 2, before TF loads
    target = args.target or recorded_target(args.file)
    if target is None:
        raise InvalidArgument(f"no TARGET given and none recorded beside {args.file!r}")
    if args.target is None and not args.run_recorded and not is_named_target(target):
        # The .json beside a shared .npz is not the user's word: running "exec:..." or "evil.py:fn"
        # from it would run whatever a stranger wrote there.
        raise InvalidArgument(f"{args.file!r} records target {target!r}, which would run code named in a file you "
                              f"were given: repeat it on the command line (lstm-conformance repro FILE TARGET) "
                              f"or pass --run-recorded")
    paths, cwd = list(args.path), args.cwd
    if args.target is None:  # the recorded target: with what it recorded it needs to load from here
        context = recorded(args.file).get("replay")
        context = context if isinstance(context, dict) else {}
        target = str(context.get("target") or target)
        paths += [str(context["import_path"])] if context.get("import_path") and not paths else []
        cwd = cwd or (str(context["cwd"]) if context.get("cwd") else None)
    enter_context(paths, cwd)
    loaded = resolve(target)
    tolerances = parse_tolerance_overrides(args.tolerance)

    from conformance.oracle import default_oracle

    executor = make_executor(loaded, isolate=args.isolate)
    try:
        ev = evaluate(case, executor, default_oracle(), judge=Judge.from_tolerances(tolerances))
    finally:
        executor.close()
    print(f"case {args.file} (candidate {loaded.name}):")
    print_case(case)
    print_arrays("oracle (TF LSTMCell)", ev.oracle)
    cmp = ev.comparison
    if ev.candidate is not None:
        print_arrays(f"candidate ({loaded.name})", ev.candidate)
        print_step_table(case, ev)
    else:
        print(f"candidate ({loaded.name}): no result ({cmp.kind}: {cmp.message})")
    if cmp.oracle_deviation:
        print(f"note: {cmp.oracle_deviation}")
    before = recorded(args.file)
    if before.get("message"):
        who = f" ({before['target']})" if isinstance(before.get("target"), str) else ""
        print(f"recorded when saved{who}: {before.get('kind', 'failure')}: {before['message']}")
    verdict = "CONFORMANT on this case" if cmp.passed else f"NONCONFORMANT ({cmp.kind}: {cmp.message})"
    print(f"verdict: {verdict}")
    return EXIT_OK if cmp.passed else EXIT_NONCONFORMANT
