"""``lstm-conformance repro FILE [TARGET]``: re-run a saved case on the oracle and a candidate."""

from __future__ import annotations

import argparse
import json
import os

NAME = "repro"
HELP = "replay a saved counterexample (.npz) on the oracle and a candidate; print both, errors and the verdict"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a counterexample .npz written by check/fuzz")
    p.add_argument("target", nargs="?", default=None,
                   help="candidate to run (default: the one recorded in the .json beside FILE)")
    p.add_argument("--tolerance", action="append", default=[], metavar="DTYPE=ATOL[:RTOL]")


def recorded_target(npz_path: str) -> str | None:
    """The target saved in the .json written beside a counterexample .npz, if any."""
    meta = os.path.splitext(npz_path)[0] + ".json"
    try:
        with open(meta) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    cmd = data.get("repro_command") or ""
    parts = cmd.split()
    return parts[3] if len(parts) >= 4 else None


def run(args: argparse.Namespace) -> int:
    from conformance._compare import parse_tolerance_overrides
    from conformance._console import print_arrays, print_case, print_step_errors
    from conformance._errors import InvalidArgument
    from conformance._evaluate import InProcessExecutor, evaluate
    from conformance._oracle import default_oracle
    from conformance._spec import Case
    from conformance.candidates import resolve

    case = Case.load_npz(args.file)
    target = args.target or recorded_target(args.file)
    if target is None:
        raise InvalidArgument(f"no TARGET given and none recorded beside {args.file!r}")
    loaded = resolve(target)
    tolerances = parse_tolerance_overrides(args.tolerance)
    ev = evaluate(case, InProcessExecutor(loaded), default_oracle(), tolerances=tolerances)
    print(f"case {args.file}:")
    print_case(case)
    print_arrays("oracle (TF LSTMCell)", ev.oracle)
    if ev.candidate is not None:
        print_arrays(f"candidate ({loaded.name})", ev.candidate)
    cmp = ev.comparison
    if cmp.step_errors:
        print_step_errors(cmp.step_errors, cmp.first_divergent_step)
    verdict = "CONFORMANT" if cmp.passed else f"NONCONFORMANT ({cmp.kind}: {cmp.message})"
    print(f"verdict: {verdict}")
    return 0 if cmp.passed else 1
