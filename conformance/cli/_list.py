"""``lstm-conformance list``: every built-in and plugin candidate, whether it can run here, and why not."""

from __future__ import annotations

import argparse
import json

from conformance.spec import EXIT_OK

NAME = "list"
HELP = "list built-in and plugin candidates: available or not (and why), declared features and dtypes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help='print [{"name", "available", "features", "dtypes", "reason", "description"}]')


def run(args: argparse.Namespace) -> int:
    # Availability is decided from installed packages without importing any framework.
    from conformance.candidates import list_candidates

    rows = list_candidates()
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return EXIT_OK
    width = max((len(r.name) for r in rows), default=4)
    for r in rows:
        if r.available:
            detail = (f"{r.description} | features: {', '.join(r.features) or 'baseline only'}"
                      f" | dtypes: {', '.join(r.dtypes)}")
            print(f"{r.name:<{width}}  available    {detail}")
        else:
            print(f"{r.name:<{width}}  unavailable  {r.reason}")
    return EXIT_OK
