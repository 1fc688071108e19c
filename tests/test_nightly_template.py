"""docs/nightly-fuzz.yml: a GitHub Actions workflow users copy; it must parse and its commands must exist."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML (dev extra) is not installed")

TEMPLATE = Path(__file__).resolve().parents[1] / "docs" / "nightly-fuzz.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    data = yaml.safe_load(TEMPLATE.read_text())
    assert isinstance(data, dict), f"{TEMPLATE} is not a YAML mapping: {type(data).__name__}"
    return data


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _commands(workflow: dict, job_name: str | None = None, shard: int | None = None) -> list[list[str]]:
    """Every ``lstm-conformance ...`` command of the run steps (of one job), with $VARS and ${{ }} expressions
    filled in (``${{ matrix.shard }}``: ``shard``, or the matrix's first value)."""
    env = {k: str(v) for k, v in (workflow.get("env") or {}).items()}
    out = []
    jobs = [workflow["jobs"][job_name]] if job_name else list(workflow["jobs"].values())
    for job, step in [(j, st) for j in jobs for st in j["steps"]]:
        script = step.get("run") or ""
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        for key, values in matrix.items():
            value = shard if key == "shard" and shard is not None else values[0]
            script = re.sub(r"\$\{\{\s*matrix\." + key + r"\s*\}\}", str(value), script)
        script = re.sub(r"\$\{\{[^}]*\}\}", "7", script)  # GitHub expressions: any value of the right kind
        for line in script.replace("\\\n", " ").splitlines():
            line = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), m.group(0)), line)
            words = shlex.split(line, comments=True)
            if words and words[0] == "lstm-conformance":
                out.append(words[1:])
    return out


def test_triggers_on_a_schedule(workflow):
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert triggers and triggers.get("schedule"), f"no schedule trigger in {TEMPLATE}: {triggers}"
    cron = triggers["schedule"][0]["cron"]
    assert len(cron.split()) == 5, f"cron {cron!r} should have 5 fields"


def test_caches_the_database_and_uploads_the_html_report(workflow):
    steps = _steps(workflow)
    caches = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    assert caches, "no actions/cache step: the example database would be lost every night"
    cached = caches[0]["with"]["path"]
    commands = _commands(workflow)
    fuzz = next(c for c in commands if c[0] == "fuzz")
    db = fuzz[fuzz.index("--db") + 1]
    assert os.path.normpath(db).startswith(os.path.normpath(cached)), \
        f"the cache path {cached!r} does not hold the database --db {db!r}"
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert uploads, "no actions/upload-artifact step"
    report_dir = fuzz[fuzz.index("--report-dir") + 1]
    assert f"{report_dir}/report.html" in uploads[0]["with"]["path"], \
        f"the artifact {uploads[0]['with']['path']!r} does not include {report_dir}/report.html"
    assert uploads[0].get("if") == "always()", "the report must be uploaded when fuzz exits 1 too"


def test_commands_exist_and_their_options_parse(workflow):
    from conformance.cli import build_parser

    commands = _commands(workflow)
    assert any(c[0] == "fuzz" for c in commands), f"no lstm-conformance fuzz command in {TEMPLATE}: {commands}"
    parser = build_parser()
    for words in commands:
        try:
            args = parser.parse_args(words)
        except SystemExit as exc:  # argparse's way to reject; the message went to stderr
            pytest.fail(f"`lstm-conformance {' '.join(words)}` does not parse (exit {exc.code})")
        assert callable(getattr(args, "_run", None)), f"`{words[0]}` is not a command"
        if words[0] == "fuzz":
            assert args.budget > 0 and args.history and args.corpus, \
                f"the nightly fuzz should have a budget, a history and a corpus: {words}"


def test_the_sharded_version_covers_every_shard_and_merges_their_reports(workflow):
    """N fuzz jobs (--shard K/N for K = 1..N) sharing one Redis, then one merge of exactly their reports."""
    jobs = workflow["jobs"]
    shard_job, merge_job = jobs["fuzz-shard"], jobs["merge"]
    shards = shard_job["strategy"]["matrix"]["shard"]
    assert shard_job["strategy"].get("fail-fast") is False, "a failing shard must not cancel the others"
    assert "redis" in (shard_job.get("services") or {}), "the shards need one shared Redis database"
    report_dirs = []
    for k in shards:
        (fuzz,) = [c for c in _commands(workflow, "fuzz-shard", shard=k) if c[0] == "fuzz"]
        assert fuzz[fuzz.index("--shard") + 1] == f"{k}/{len(shards)}", fuzz
        assert fuzz[fuzz.index("--db") + 1].startswith("redis://"), fuzz
        report_dirs.append(fuzz[fuzz.index("--report-dir") + 1])
    assert sorted(range(1, len(shards) + 1)) == sorted(shards), shards
    needs = merge_job.get("needs")
    assert needs == "fuzz-shard" or needs == ["fuzz-shard"], needs
    assert str(merge_job.get("if", "")).startswith("always()"), "merge must run when a shard exits 1"
    (merge,) = [c for c in _commands(workflow, "merge") if c[0] == "merge"]
    inputs = merge[1:merge.index("--report-dir")]
    # download-artifact puts each shard's artifact in shards/<artifact name>/, its paths kept.
    assert [os.path.normpath(p).split(os.sep, 2)[-1] for p in inputs] == [os.path.normpath(d) for d in report_dirs], \
        f"merge reads {inputs}, the shards write {report_dirs}"
    single = jobs["fuzz"].get("if", "")
    assert "!=" in single and "==" in shard_job["if"], "exactly one of the two versions runs"
