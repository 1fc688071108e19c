"""``lstm-conformance merge REPORT_DIR... --report-dir OUT``: several runs' reports as one (scale-out)."""

from __future__ import annotations

import argparse

NAME = "merge"
HELP = ("merge the reports of several fuzz/check runs (e.g. workers sharing a Redis database) into one "
        "(exit 0 all conformant, 1 any nonconformant, 2 error)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", metavar="REPORT_DIR", help="report directories (or report.json files)")
    p.add_argument("--report-dir", required=True, metavar="OUT", help="where the merged report goes")
    from conformance.cli._check import report_formats

    p.add_argument("--format", action="append", type=report_formats, default=None, metavar="FMT[,FMT]",
                   help="report formats: json, html, junit, markdown (default: all)")


def run(args: argparse.Namespace) -> int:
    from conformance.campaign import merge_reports
    from conformance.cli._check import check_report_dir
    from conformance.report import write_reports
    from conformance.spec import exit_status

    check_report_dir(args.report_dir)
    report = merge_reports(args.reports, args.report_dir)
    formats = [f for group in (args.format or []) for f in group]
    paths = write_reports(report, args.report_dir, formats)
    runs = report.get("runs") or []
    print(f"merge: {str(report['verdict']).upper()}: {len(args.reports)} report(s), {len(runs)} run(s), "
          f"{report.get('examples', 0)} examples, {len(report.get('counterexamples') or [])} counterexample(s)")
    shards = report.get("shards")
    if shards:
        n = shards["count"]
        problems = [f"missing {', '.join(f'{k}/{n}' for k in shards['missing'])}"] if shards["missing"] else []
        problems += [f"repeated {', '.join(map(str, shards['repeated']))}"] if shards["repeated"] else []
        problems += ["shards of different N"] if shards["mixed_counts"] else []
        if problems:
            print(f"merge: warning: shards {'; '.join(problems)}: the merged report covers part of the plan")
        else:
            print(f"merge: all {shards['count']} shards")
    print(f"report: {', '.join(paths.values())}")
    return exit_status(report["verdict"])
