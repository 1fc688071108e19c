"""The conformance matrix: candidates x behaviours, each cell a small :func:`check` run.

Every column forces its behaviour on in *every* drawn case (``CheckOptions.require_features``,
``min_time``, ``weight_scales``) and leaves the other options at the baseline, so a
cell answers one question: does this candidate agree with TF's LSTMCell when this
one behaviour is exercised?  Feature columns and the long/saturating columns run in
float32 (or the candidate's first dtype without float32); the dtype columns run the
baseline in that dtype.  A cell is ``conformant``, ``nonconformant`` (max error, and
the minimized case saved as ``cases/TARGET--COLUMN.npz``), ``inconclusive``,
``unsupported`` (the candidate does not declare it) or ``error`` (the harness could
not run it).

``inconclusive`` is a numerical mismatch on a case that the *control* (the built-in
``numpy-reference``, a correct implementation computing in the case's dtype) fails
too: rounding alone moves that case's result beyond the tolerance (an
ill-conditioned case, e.g. long chaotic dynamics), so it cannot tell this candidate
from a correct one.  Its case is saved and linked like a finding's.

``matrix.json`` and ``matrix.md`` are rewritten after every cell, so an interrupted
run keeps every finished cell.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conformance._version import __version__
from conformance.candidates import CandidateInfo, LoadedCandidate
from conformance.judge import DEFAULT_TOLERANCES, Tolerance
from conformance.spec import (
    DTYPES,
    ConformanceError,
    InvalidArgument,
    check_int,
    finite_or_none,
    signal_name,
    write_text_atomic,
)

SCHEMA_VERSION = "1.0"
#: Weight scales of the saturating column: gate pre-activations of tens, sigmoid/tanh pinned at their limits.
SATURATING_SCALES = (8.0, 20.0)
#: A correct implementation: a mismatch it shares on the same case is not evidence against a candidate.
CONTROL = "numpy-reference"
#: Cases per parameter set in a cell of a converter candidate (``per_params_cost``; 10 examples: 3 sets).
MATRIX_INPUTS_PER_PARAMS = 4
#: Sequence lengths of the long-sequence column.
LONG_MIN_TIME, LONG_MAX_TIME = 100, 128


@dataclasses.dataclass(frozen=True)
class Column:
    """One behaviour of the matrix; ``feature``/``dtype`` must be declared by a candidate to apply."""

    id: str
    title: str
    description: str
    feature: str | None = None
    dtype: str | None = None
    long: bool = False
    saturating: bool = False

    def features(self) -> list[str]:
        """The features a run of this column allows and requires (proj_clip needs projection)."""
        if self.feature is None:
            return []
        return ["projection", "proj_clip"] if self.feature == "proj_clip" else [self.feature]


COLUMNS: tuple[Column, ...] = (
    Column("baseline", "baseline", "forget_bias 1.0, zero initial state, tanh, no peepholes/clip/projection"),
    Column("forget_bias", "forget_bias != 1", "every case has a forget_bias other than 1.0", feature="forget_bias"),
    Column("initial_state", "initial state != 0", "every case starts from a non-zero (c, h)",
           feature="initial_state"),
    Column("peepholes", "peepholes", "every case uses peephole connections", feature="peepholes"),
    Column("cell_clip", "cell_clip", "every case clips the cell state", feature="cell_clip"),
    Column("projection", "projection", "every case has num_proj set", feature="projection"),
    Column("proj_clip", "proj_clip", "every case has a projection and clips it", feature="proj_clip"),
    Column("activation", "activation != tanh", "every case uses sigmoid, relu or softsign as the cell activation",
           feature="activation"),
    Column("sequence_length", "sequence_length", "every case has row lengths (ragged, empty, one-step rows; noise "
           "in the padding): dynamic_rnn's sequence_length", feature="sequence_length"),
    Column("time_major", "time-major", "every case is time-major: inputs [T, B, I], outputs [T, B, P]",
           feature="time_major"),
    Column("stacked", "stacked", "every case has 2-3 layers (MultiRNNCell), each with its own sizes and options",
           feature="stacked"),
    Column("bidirectional", "bidirectional", "every case has a backward cell per layer "
           "(bidirectional_dynamic_rnn)", feature="bidirectional"),
    *(Column(d, d, f"the baseline computed in {d}", dtype=d) for d in DTYPES),
    Column("long", f"T >= {LONG_MIN_TIME}", f"every sequence has {LONG_MIN_TIME}-{LONG_MAX_TIME} steps", long=True),
    Column("saturating", "saturating weights",
           f"kernel and bias drawn densely at scales {', '.join(f'{s:g}' for s in SATURATING_SCALES)}: gates saturate",
           saturating=True),
)
COLUMN_IDS = tuple(c.id for c in COLUMNS)


@dataclasses.dataclass
class MatrixSettings:
    """How each cell is run (per cell, not in total)."""

    max_examples: int = 20
    seed: int | None = 0
    tolerances: Mapping[str, Tolerance] | None = None
    minimize_seconds: float = 15.0
    diagnose_seconds: float = 10.0
    #: Time for generating and shrinking in one cell (then the best failure so far is minimized).
    cell_seconds: float = 30.0
    max_time: int = 24
    columns: Sequence[str] = COLUMN_IDS

    def __post_init__(self) -> None:
        check_int("max_examples", self.max_examples, minimum=1)
        bad = [c for c in self.columns if c not in COLUMN_IDS]
        if bad:
            raise InvalidArgument(f"column {bad[0]!r} is not one of {', '.join(COLUMN_IDS)}")
        if not self.columns:
            raise InvalidArgument("columns=[] : name at least one column")
        for name in ("minimize_seconds", "diagnose_seconds", "cell_seconds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise InvalidArgument(f"{name}={v!r} must be a number > 0")


@dataclasses.dataclass
class Cell:
    """The outcome of one (candidate, column) run."""

    status: str  # conformant, nonconformant, inconclusive, unsupported, error
    reason: str = ""
    examples: int = 0
    elapsed_s: float = 0.0
    max_abs_error: float | None = None
    kind: str | None = None
    message: str | None = None
    case: str | None = None  # minimized case, relative to the report directory
    repro_command: str | None = None
    diagnosis: str | None = None
    dtype: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None and v != ""}


def run_dtype(info: CandidateInfo, column: Column) -> str:
    """The dtype a column runs in for a candidate: the column's, else float32, else the first declared."""
    if column.dtype is not None:
        return column.dtype
    return "float32" if "float32" in info.dtypes else next(d for d in DTYPES if d in info.dtypes)


def unsupported_reason(info: CandidateInfo, column: Column) -> str | None:
    """Why the candidate cannot run this column (it does not declare it), or None."""
    missing = [f for f in column.features() if f not in info.features]
    if missing:
        why = [info.unsupported[f] for f in missing if f in info.unsupported]
        return f"does not declare {', '.join(missing)}" + (f": {'; '.join(why)}" if why else "")
    if column.dtype is not None and column.dtype not in info.dtypes:
        return f"does not declare dtype {column.dtype}"
    if column.long and info.max_time is not None and info.max_time < LONG_MIN_TIME:
        return f"max_time={info.max_time} < {LONG_MIN_TIME}"
    return None


def column_options(info: CandidateInfo, column: Column, settings: MatrixSettings) -> Any:
    """The CheckOptions of one cell: the column's behaviour forced on, everything else at the baseline."""
    from conformance.run import CheckOptions

    features = column.features()
    long_kwargs: dict[str, Any] = {}
    if column.long:
        long_kwargs = dict(min_time=LONG_MIN_TIME, max_time=min(LONG_MAX_TIME, info.max_time or LONG_MAX_TIME))
    return CheckOptions(
        max_examples=settings.max_examples, seed=settings.seed, tolerances=settings.tolerances,
        features=features, dtypes=[run_dtype(info, column)],
        require_features=[column.feature] if column.feature else [],
        weight_scales=SATURATING_SCALES if column.saturating else None,
        long_sequences=False, max_time=long_kwargs.pop("max_time", settings.max_time), **long_kwargs,
        minimize_seconds=settings.minimize_seconds, diagnose_seconds=settings.diagnose_seconds,
        budget_seconds=settings.cell_seconds,
        # A converter (per_params_cost) converts per parameter set: a few sets per cell, not one.
        inputs_per_params=MATRIX_INPUTS_PER_PARAMS,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "candidate"


def run_cell(loaded: LoadedCandidate, column: Column, settings: MatrixSettings, executor: Any,
             report_dir: str) -> tuple[Cell, str | None]:
    """Run one cell; returns the Cell and the signal that interrupted it ("SIGINT"/"SIGTERM") or None."""
    from conformance.report import save_counterexample
    from conformance.run import check

    reason = unsupported_reason(loaded.info, column)
    if reason is not None:
        return Cell("unsupported", reason=reason), None
    dtype = run_dtype(loaded.info, column)
    try:
        result = check(loaded, column_options(loaded.info, column, settings), executor=executor)
    except ConformanceError as exc:
        return Cell("error", reason=str(exc), dtype=dtype), None
    except Exception as exc:  # a harness bug: recorded in its cell (exit 2), the other cells still run
        return Cell("error", reason=f"internal error: {type(exc).__name__}: {exc}", dtype=dtype), None
    if result.verdict == "conformant" and result.examples == 0:
        # No evidence is not conformance (seen when TensorFlow's start-up on a loaded machine took the budget).
        return Cell("error", reason=f"no example ran within the cell's {settings.cell_seconds:g} s "
                    "(raise --cell-seconds)", elapsed_s=round(result.elapsed, 2), dtype=dtype), None
    cell = Cell(result.verdict if result.verdict in ("conformant", "nonconformant") else "error",
                examples=result.examples, elapsed_s=round(result.elapsed, 2), dtype=dtype,
                max_abs_error=finite_or_none(result.max_abs_error), reason=result.error or "")
    cx = result.counterexample
    if cx is not None:
        stem = f"{_slug(loaded.name)}--{column.id}"
        path = save_counterexample(cx, os.path.join(report_dir, "cases"), stem).repro or ""
        from conformance.report import repro_command

        cell.case = f"cases/{stem}.npz"
        cell.repro_command = repro_command(path, loaded.target)
        cell.kind = cx.kind
        cell.message = cx.comparison.message
        cell.max_abs_error = finite_or_none(cx.comparison.max_abs_error)
        if cx.kind == "mismatch" and loaded.target != CONTROL:
            control = control_verdict(cx.case, settings)
            if control is not None:
                cell.status = "inconclusive"
                cell.reason = f"the control {CONTROL} fails this case too ({control})"
        if cx.diagnosis:
            best = cx.diagnosis[0]
            cell.diagnosis = f"{best.variant}: {best.explanation}"
    if result.interrupted:
        cell.reason = "interrupted; partial"
    return cell, (result.signal or "SIGINT") if result.interrupted else None


def control_verdict(case: Any, settings: MatrixSettings) -> str | None:
    """The control's mismatch message on ``case``, or None when the control passes it."""
    from conformance.candidates import InProcessExecutor, resolve
    from conformance.judge import Judge, evaluate
    from conformance.oracle import default_oracle

    ev = evaluate(case, InProcessExecutor(resolve(CONTROL)), default_oracle(),
                  judge=Judge.from_tolerances(settings.tolerances))
    return None if ev.comparison.passed else ev.comparison.message


@dataclasses.dataclass
class Matrix:
    """Everything ``matrix.json`` holds; ``cells[target][column]``."""

    settings: MatrixSettings
    targets: list[LoadedCandidate]
    cells: dict[str, dict[str, Cell]] = dataclasses.field(default_factory=dict)
    oracle_version: str | None = None
    elapsed_s: float = 0.0
    complete: bool = False
    command: str | None = None
    #: Where the run saved its cases (``cases/``), matrix.json and matrix.md.
    report_dir: str | None = None

    def write_reports(self, directory: str, formats: Any = None) -> dict[str, str]:
        """matrix.json, matrix.md, matrix.html (and the failing cells' cases) into ``directory``; returns their paths."""
        from conformance.campaign._matrix_api import write_matrix_reports

        return write_matrix_reports(self, directory, formats)

    def __str__(self) -> str:
        from conformance.campaign._matrix_api import matrix_text

        return matrix_text(self)

    def _repr_html_(self) -> str:
        from conformance.campaign._matrix_api import matrix_html

        return matrix_html(self)

    def columns(self) -> list[Column]:
        return [c for c in COLUMNS if c.id in self.settings.columns]

    def counts(self) -> dict[str, int]:
        out = {"conformant": 0, "nonconformant": 0, "inconclusive": 0, "unsupported": 0, "error": 0}
        for row in self.cells.values():
            for cell in row.values():
                out[cell.status] = out.get(cell.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        tolerances = self.settings.tolerances or DEFAULT_TOLERANCES
        return {
            "schema": "lstm-conformance/matrix",
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "lstm-conformance", "version": __version__},
            "command": self.command,
            "oracle": {"name": "tf.compat.v1.nn.rnn_cell.LSTMCell", "tensorflow": self.oracle_version},
            "settings": {
                "max_examples_per_cell": self.settings.max_examples, "seed": self.settings.seed,
                "minimize_seconds": self.settings.minimize_seconds, "cell_seconds": self.settings.cell_seconds,
                "tolerances": {k: {"atol": v.atol, "rtol": v.rtol} for k, v in tolerances.items()},
                "saturating_scales": list(SATURATING_SCALES), "long_times": [LONG_MIN_TIME, LONG_MAX_TIME],
            },
            "complete": self.complete,
            "elapsed_s": round(self.elapsed_s, 1),
            "summary": self.counts(),
            "columns": [{"id": c.id, "title": c.title, "description": c.description} for c in self.columns()],
            "targets": [
                {"name": t.name, "target": t.target, "description": t.description,
                 "features": t.info.to_dict()["features"], "dtypes": t.info.to_dict()["dtypes"]}
                for t in self.targets
            ],
            "cells": {name: {col: cell.to_dict() for col, cell in row.items()} for name, row in self.cells.items()},
        }


def run_matrix(
    targets: Sequence[LoadedCandidate],
    settings: MatrixSettings,
    report_dir: str,
    *,
    progress: Callable[[str, Column, Cell], None] | None = None,
    command: str | None = None,
) -> tuple[Matrix, str | None]:
    """Run every (target, column) cell, writing the reports after each.

    Returns the matrix and the signal that interrupted the run ("SIGINT"/"SIGTERM"), or None.
    """
    from conformance.candidates import make_executor
    from conformance.oracle import tensorflow_version

    started = time.monotonic()
    matrix = Matrix(settings, list(targets), command=command, report_dir=report_dir)
    matrix.oracle_version = tensorflow_version()
    interrupted: str | None = None
    for loaded in targets:
        row = matrix.cells.setdefault(loaded.name, {})
        executor = None
        try:
            for column in matrix.columns():
                if executor is None and unsupported_reason(loaded.info, column) is None:
                    # One executor per candidate for all its cells (a worker process starts once).
                    executor = make_executor(loaded)
                cell, interrupted = run_cell(loaded, column, settings, executor, report_dir)
                row[column.id] = cell
                matrix.elapsed_s = time.monotonic() - started
                write_matrix(matrix, report_dir)
                if progress:
                    progress(loaded.name, column, cell)
                if interrupted:
                    break
        except ConformanceError as exc:  # the candidate's executor could not start
            for column in matrix.columns():
                row.setdefault(column.id, Cell("error", reason=str(exc)))
        except KeyboardInterrupt as exc:
            interrupted = signal_name(exc)
        finally:
            if executor is not None:
                executor.close()
        if interrupted:
            break
    matrix.complete = interrupted is None
    matrix.elapsed_s = time.monotonic() - started
    write_matrix(matrix, report_dir)
    return matrix, interrupted


def write_matrix(matrix: Matrix, report_dir: str) -> tuple[str, str, str]:
    """Write ``matrix.json``, ``matrix.md`` and the self-contained ``matrix.html`` (atomically); return their paths."""
    from conformance.campaign._matrix_markdown import render_markdown
    from conformance.report import render_matrix_html

    os.makedirs(report_dir, exist_ok=True)
    paths = []
    data = matrix.to_dict()
    for name, text in (("matrix.json", json.dumps(data, indent=2, allow_nan=False) + "\n"),
                       ("matrix.md", render_markdown(data)), ("matrix.html", render_matrix_html(data))):
        path = os.path.join(report_dir, name)
        write_text_atomic(path, text)
        paths.append(path)
    return paths[0], paths[1], paths[2]
