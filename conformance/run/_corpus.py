"""The regression corpus: a directory of minimized counterexamples, replayed before anything new.

Each entry is a pair written by :func:`conformance.report.save_counterexample`:
``NAME.npz`` (the case, loadable with ``allow_pickle=False``) and ``NAME.json``
(what it showed, and for which target).  NAME is ``TARGET-DTYPE-DIGEST``, the
digest being of the case's numbers, so finding the same case again adds nothing.

The corpus is small, readable and independent of Hypothesis's version and of the
strategies: it is what a project commits, while the example database is a cache.
Every case whose dtype and features a candidate supports is replayed against it,
whichever target it was first found on: a case that broke one implementation is
a good test of the next.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from conformance.report import recorded_target
from conformance.spec import Case, InvalidArgument, write_text_atomic

if TYPE_CHECKING:
    from conformance.candidates import LoadedCandidate
    from conformance.outcome import CheckResult
    from conformance.run._options import CheckOptions


@dataclasses.dataclass(frozen=True)
class CorpusEntry:
    """One loaded corpus case; ``target`` is the candidate it was first found on (None if unrecorded)."""

    path: str
    case: Case
    target: str | None


def warn_stderr(message: str) -> None:
    print(f"lstm-conformance: warning: {message}", file=sys.stderr)


def check_corpus_dir(directory: str) -> None:
    """InvalidArgument, before any work, when ``directory`` exists but is no directory or cannot be written."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise InvalidArgument(f"--corpus {directory!r} is not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise InvalidArgument(f"--corpus {directory!r} cannot be created ({exc.strerror or exc})") from None
    if not os.access(directory, os.W_OK):
        raise InvalidArgument(f"--corpus {directory!r} is not writable")


def load_corpus(directory: str, *, warn: Callable[[str], None] = warn_stderr) -> list[CorpusEntry]:
    """Every readable case in ``directory`` (sorted by file name); an unreadable one is skipped with one warning line.

    A directory that does not exist yet is an empty corpus (the first run creates it).
    """
    if not os.path.isdir(directory):
        if os.path.exists(directory):
            raise InvalidArgument(f"--corpus {directory!r} is not a directory")
        return []
    entries = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".npz"):
            continue
        path = os.path.join(directory, name)
        try:
            case = Case.load_npz(path)
        except InvalidArgument as exc:
            # The message already names the file; one line, and the rest of the corpus still runs.
            warn(f"corpus: skipping {' '.join(str(exc).split())}")
            continue
        entries.append(CorpusEntry(path, case, recorded_target(path)))
    return entries


def select(entries: Sequence[CorpusEntry], info: Any, features: Collection[str], dtypes: Collection[str]) -> list[Case]:
    """The corpus cases a candidate (its CandidateInfo) can run within a feature/dtype slice."""
    chosen = []
    for entry in entries:
        case = entry.case
        if info.supports(case) and case.features() <= set(features) and case.config.dtype in dtypes:
            chosen.append(case)
    return chosen


def case_digest(case: Case) -> str:
    """A short digest of a case's config and numbers (equal cases, equal digests)."""
    h = hashlib.sha256(json.dumps(case.config.to_dict(), sort_keys=True).encode())
    for name, array in case.arrays().items():
        h.update(name.encode())
        h.update(repr(array.shape).encode())
        h.update(array.astype("float64").tobytes())
    return h.hexdigest()[:16]


def entry_stem(target: str | None, case: Case) -> str:
    """The file name (without extension) of a case in the corpus."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", target or "case").strip("._-")[:60] or "case"
    return f"{slug}-{case.config.dtype}-{case_digest(case)}"


def add_to_corpus(cx: Any, directory: str) -> str | None:
    """Save a runner Counterexample into the corpus; return the new .npz path, or None if it was already there."""
    from conformance.report import save_counterexample

    stem = entry_stem(cx.target, cx.case)
    if _holds_case(os.path.join(directory, stem + ".npz")):
        return None
    path = save_counterexample(cx, directory, stem).repro
    assert path is not None
    _add_target(path, cx.target)
    return path


def _holds_case(path: str) -> bool:
    # Present only if it loads: an interrupted or failed write (a 0-byte file after ENOSPC), or
    # anything else that took the name, is rewritten rather than trusted forever.
    if not os.path.lexists(path):
        return False
    try:
        Case.load_npz(path)
    except InvalidArgument:
        return False
    return True


def _add_target(npz_path: str, target: str | None) -> None:
    # The counterexample .json records the target only inside its repro command; store it plainly
    # so a later replay can say where a case came from without parsing a shell command.
    meta = os.path.splitext(npz_path)[0] + ".json"
    with open(meta) as fh:
        data = json.load(fh)
    data.setdefault("target", target)
    write_text_atomic(meta, json.dumps(data, indent=2, sort_keys=True, allow_nan=False))


def replay_cases(directory: str, loaded: Any, options: Any, *,
                 warn: Callable[[str], None] = warn_stderr) -> list[Case]:
    """The corpus cases ``check`` replays for a candidate (a LoadedCandidate) under CheckOptions ``options``."""
    from conformance.run._scope import narrowed

    check_corpus_dir(directory)
    features, dtypes = narrowed(loaded.info, options)
    return select(load_corpus(directory, warn=warn), loaded.info, features, dtypes)


def check_with_corpus(loaded: LoadedCandidate, options: CheckOptions, corpus_dir: str | None, *,
                      run: Callable[[LoadedCandidate, CheckOptions], CheckResult] | None = None,
                      warn: Callable[[str], None] = warn_stderr, errors: list[str] | None = None) -> CheckResult:
    """``run(loaded, options)`` (default :func:`conformance.run.check`) with the regression corpus around it.

    With a ``corpus_dir``, the corpus cases the candidate can run under ``options`` are replayed
    first (``options.replay``; the caller's options are not changed) and a counterexample the run
    ends with is added to the corpus (nothing if an equal case is already there).  Returns the
    run's CheckResult.  A counterexample that cannot be saved into the corpus (a full disk) costs the
    run nothing: ``PATH: why`` is appended to ``errors`` when given, else one ``warn`` line.  This is what ``check --corpus`` and the pytest plugin's ``--lstm-corpus``
    both do; ``fuzz`` replays and saves through the same :func:`load_corpus`/:func:`add_to_corpus`.
    """
    if run is None:
        from conformance.run._runner import check

        run = check
    if corpus_dir:
        options = dataclasses.replace(options, replay=replay_cases(corpus_dir, loaded, options, warn=warn))
    result = run(loaded, options)
    if corpus_dir and result.counterexample is not None:
        try:
            add_to_corpus(result.counterexample, corpus_dir)
        except OSError as exc:
            what = f"{os.path.join(corpus_dir, entry_stem(result.counterexample.target, result.counterexample.case))}" \
                   f".npz: {exc.strerror or exc}"
            if errors is not None:
                errors.append(what)
            else:
                warn(f"corpus: could not write {what}")
    return result


__all__ = ["CorpusEntry", "add_to_corpus", "case_digest", "check_corpus_dir", "check_with_corpus", "entry_stem",
           "load_corpus", "replay_cases", "select", "warn_stderr"]
