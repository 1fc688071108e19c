"""How often the diagnosis names the right mistake, on hand-written wrong implementations.

    PYTHONPATH=. python benchmarks/diagnosis_accuracy.py [--seeds 1 2] [--json out.json]

For every hand-written wrong implementation of a catalogue variant (tests/wrong_impls.py and
tests/wrong_impls_catalogue.py) and every seed: a dense starting case exposing it, minimized against
the float64 spec (as the runner minimizes against TF), then :func:`conformance.diagnose.diagnose`.
Prints top-1 / top-3 accuracy (the right variant first / among the first three), per implementation and
per family; the same for standalone ports written from scratch in a library's or tutorial's style
(tests/wrong_impls_catalogue.py STANDALONE, not subclasses of the shared cell); whether fitted variants
state their fitted value; the share of mistakes outside the catalogue
that get the right structural hint; the narrower-precision candidates' diagnosis and structural findings;
and the seconds per diagnosis of the seed bug ``seed-missing-forget-bias``.  No TensorFlow needed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.candidates._numpy import seed_missing_forget_bias  # noqa: E402
from conformance.diagnose import diagnose, variants  # noqa: E402
from conformance.diagnose._analysis import reduced_precision  # noqa: E402
from conformance.diagnose._fresh import structural_case  # noqa: E402
from conformance.judge import check_structure, violated  # noqa: E402
from conformance.run import minimize  # noqa: E402
from tests import wrong_impls as W  # noqa: E402
from tests import wrong_impls_catalogue as WC  # noqa: E402


def _minimized(cell, name, changes, seed, dtype="float32", **kw):
    ex = W.executor_for(W.as_candidate(cell, name, dtypes=(dtype,)))
    still_fails = W.spec_fails(ex)
    case = W.dense_case(dict(changes), seed=seed, dtype=dtype, **kw)
    if not still_fails(case):
        return ex, None
    return ex, minimize(case, still_fails, max_evaluations=200, max_seconds=10)


def catalogue_accuracy(seeds):
    families = {v.name: v.family for v in variants()}
    rows = []
    for name, (cell, changes) in sorted({**W.WRONG, **WC.WRONG}.items()):
        for seed in seeds:
            ex, case = _minimized(cell, name, changes, seed)
            if case is None:
                rows.append({"name": name, "seed": seed, "rank": None, "note": "agrees with the spec on the start"})
                continue
            result = diagnose(case, ex.run(case), ex)
            ranked = [m.variant for m in result.matches]
            rank = ranked.index(name) + 1 if name in ranked else None
            row = {"name": name, "family": families.get(name, "?"), "seed": seed, "rank": rank,
                   "first": ranked[0] if ranked else None, "seconds": round(result.elapsed, 2)}
            if name in WC.FITTED and result.matches:
                row["fitted_stated"] = WC.FITTED[name] in result.matches[0].explanation
                row["explanation"] = result.matches[0].explanation
            rows.append(row)
    return rows


def standalone_ports(seeds):
    rows = []
    for name, (_fn, want, changes) in WC.STANDALONE.items():
        ex = W.executor_for(WC.port_candidate(name))
        still_fails = W.spec_fails(ex)
        for seed in seeds:
            case = W.dense_case(dict(changes), seed=seed)
            if not still_fails(case):
                rows.append({"name": name, "seed": seed, "rank": None, "note": "agrees with the spec on the start"})
                continue
            case = minimize(case, still_fails, max_evaluations=200, max_seconds=10)
            ranked = [m.variant for m in diagnose(case, ex.run(case), ex).matches]
            rows.append({"name": name, "seed": seed, "want": want, "first": ranked[0] if ranked else None,
                         "rank": ranked.index(want) + 1 if want in ranked else None})
    return rows


def plus_one_library(forget_biases=(0.3, 1.0, 2.5, -0.6)):
    out = []
    for fb in forget_biases:
        ex, case = _minimized(WC.LibraryAddsOneOnTopOfFoldedBias, "plus-one", {"forget_bias": fb}, 1)
        result = diagnose(case, ex.run(case), ex)
        best = result.matches[0] if result.matches else None
        out.append({"forget_bias": fb, "first": best and best.variant,
                    "explained": best and f"{best.explained_cases}/{best.tried_cases}",
                    "explanation": best and best.explanation})
    return out


def hints(seeds):
    rows = []
    for name, (cell, changes, want) in WC.HINTED.items():
        for seed in seeds:
            ex, case = _minimized(cell, name, changes, seed)
            if case is None:
                rows.append({"name": name, "seed": seed, "hinted": None})
                continue
            result = diagnose(case, ex.run(case), ex)
            got = [h.hint for h in result.hints]
            rows.append({"name": name, "seed": seed, "want": want, "hints": got, "hinted": want in got,
                         "matches": [m.variant for m in result.matches[:2]]})
    return rows


def precision(seeds):
    rows = []
    for name, (cell, dtype, narrow) in WC.PRECISION.items():
        for seed in seeds:
            ex, case = _minimized(cell, name, {}, seed, dtype=dtype, batch=3, time=6)
            if case is None:
                rows.append({"name": name, "seed": seed, "first": None})
                continue
            result = diagnose(case, ex.run(case), ex)
            structural = check_structure(structural_case(case, ex.info), ex, rounding_dtype=reduced_precision(result))
            rows.append({"name": name, "seed": seed, "want": f"reduced_precision_{narrow}",
                         "first": result.matches[0].variant if result.matches else None,
                         "structural_violations": violated(structural)})
    return rows


def ties(seeds=(1, 2, 3)):
    """Ports whose minimized counterexample cannot tell their variant from another (tests/wrong_impls_catalogue.py
    TIED): the variant first after the tie-breaking cases, and how many such cases ran."""
    rows = []
    for name, (cell, changes, want) in WC.TIED.items():
        for seed in seeds:
            ex, case = _minimized(cell, name, changes, seed)
            if case is None:
                rows.append({"name": name, "seed": seed, "first": None, "note": "agrees with the spec on the start"})
                continue
            result = diagnose(case, ex.run(case), ex)
            rows.append({"name": name, "seed": seed, "want": want,
                         "first": result.matches[0].variant if result.matches else None,
                         "tie_breaking_cases": result.tie_breaking, "ambiguous": list(result.ambiguous)})
    return rows


def seed_bug_seconds(repeats=3):
    ex = W.executor_for(seed_missing_forget_bias)
    still_fails = W.spec_fails(ex)
    case = minimize(W.dense_case({}, seed=1, initial_state=False), still_fails, max_evaluations=200, max_seconds=10)
    times, first = [], None
    for _ in range(repeats):
        result = diagnose(case, ex.run(case), ex)
        times.append(result.elapsed)
        m = result.matches[0]
        first = f"{m.variant} {m.explained_cases}/{m.tried_cases}"
    return {"seconds_median": round(statistics.median(times), 3), "first": first}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = catalogue_accuracy(args.seeds)
    judged = [r for r in rows if "first" in r]
    top1 = sum(r["rank"] == 1 for r in judged) / len(judged)
    top3 = sum(r["rank"] is not None and r["rank"] <= 3 for r in judged) / len(judged)
    fams: dict[str, list[bool]] = {}
    for r in judged:
        fams.setdefault(r["family"], []).append(r["rank"] == 1)
    fam_top1 = sum(all(v) for v in fams.values()) / len(fams)
    fitted = [r for r in judged if "fitted_stated" in r]
    hint_rows = hints(args.seeds)
    hinted = [r for r in hint_rows if r["hinted"] is not None]
    prec = precision(args.seeds)
    ports = [r for r in standalone_ports(args.seeds) if "first" in r]
    tie_rows = [r for r in ties() if r["first"] is not None]
    summary = {
        "implementations": len({r["name"] for r in rows}), "runs": len(judged),
        "skipped_runs": len(rows) - len(judged),
        "top1": round(top1, 4), "top3": round(top3, 4), "families": len(fams),
        "families_all_top1": round(fam_top1, 4),
        "fitted_value_stated": f"{sum(r['fitted_stated'] for r in fitted)}/{len(fitted)}",
        "standalone_ports_top1": f"{sum(r['rank'] == 1 for r in ports)}/{len(ports)}",
        "standalone_ports_top3": f"{sum(r['rank'] is not None and r['rank'] <= 3 for r in ports)}/{len(ports)}",
        "hints_correct": round(sum(r["hinted"] for r in hinted) / max(len(hinted), 1), 4),
        "hint_runs": len(hinted),
        "precision_correct": f"{sum(r['first'] == r['want'] and not r['structural_violations'] for r in prec)}"
                             f"/{len(prec)}",
        "ties_top1": f"{sum(r['first'] == r['want'] for r in tie_rows)}/{len(tie_rows)}",
        "ties_broken_by_fresh_cases": sum(r["tie_breaking_cases"] > 0 for r in tie_rows),
        "plus_one_library": plus_one_library(),
        "seed_bug": seed_bug_seconds(),
        "seconds": round(time.monotonic() - started, 1),
    }
    for r in judged:
        if r["rank"] != 1:
            print(f"  miss: {r['name']} seed {r['seed']}: rank {r['rank']}, first {r['first']}")
    for r in hinted:
        if not r["hinted"]:
            print(f"  hint miss: {r['name']} seed {r['seed']}: want {r['want']}, got {r['hints']} {r['matches']}")
    for r in ports:
        if r["rank"] != 1:
            print(f"  port miss: {r['name']} seed {r['seed']}: want {r['want']}, first {r['first']}")
    for r in tie_rows:
        if r["first"] != r["want"]:
            print(f"  tie miss: {r['name']} seed {r['seed']}: want {r['want']}, first {r['first']}, "
                  f"ambiguous {r['ambiguous']}")
    for r in prec:
        print(f"  precision: {r['name']} seed {r['seed']}: {r['first']} (want {r.get('want')}), "
              f"structural violations {r.get('structural_violations')}")
    for r in summary["plus_one_library"]:
        print(f"  +1 library, forget_bias {r['forget_bias']}: {r['first']} {r['explained']}: {r['explanation']}")
    print(json.dumps({k: v for k, v in summary.items() if k != "plus_one_library"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "catalogue": rows, "hints": hint_rows,
                                         "precision": prec, "ports": ports, "ties": tie_rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
