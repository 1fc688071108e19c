"""How a check run is driven: :class:`CheckOptions`, validated once when it is built."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from conformance.judge import Tolerance
from conformance.outcome import Progress
from conformance.spec import MAX_SIZE_LIMIT, MAX_TIME_LIMIT, Case, InvalidArgument, PinnedParams, check_int

#: How a run draws cases.  "seeded": Hypothesis draws one seed per batch of SEEDED_BATCH cases,
#: which a numpy RNG turns into cases of the same distribution as strategies.cases() (one choice
#: per batch instead of 30-60 per case: several times the examples per second); a failure is
#: minimised by conformance.run._minimize alone.  "choices": strategies.cases(), every choice a
#: Hypothesis choice; Hypothesis shrinks a failure, then conformance.run._minimize.
GENERATIONS = ("seeded", "choices")
SEEDED_BATCH = 16


@dataclasses.dataclass
class CheckOptions:
    """How a run is driven.  ``database`` is None, a directory path, a ``redis://`` URL or an ExampleDatabase."""

    max_examples: int = 100
    seed: int | None = None
    tolerances: Mapping[str, Tolerance] | None = None
    database: Any = None  # see conformance.run.open_database
    features: Collection[str] | None = None  # further narrow what the candidate declares
    dtypes: Collection[str] | None = None
    #: The dtypes this run draws, of those it covers (a worker's share, conformance.run._parallel.dtype_shards);
    #: None: all.  Unlike ``dtypes`` it leaves the run's scope as it is: replayed cases and the minimiser
    #: may still move a failure to any dtype the run covers, as a serial run's would.
    draw_dtypes: Collection[str] | None = None
    max_batch: int = 4
    max_time: int = 24
    max_units: int = 16
    max_input_size: int = 16
    long_sequences: bool = True
    #: One case in ``large_every`` is large (strategies.Tail, docs/strategies.md): batch, time, units or input
    #: size above the ordinary range, up to the tail's reach (LARGE_REACH); 0: no large case.
    large_every: int = 16
    #: Caps of every drawn case's sizes, the tail's included (CLI --max-batch, --max-time, --max-units,
    #: --max-input-size); None: the tail's reach, unless max_batch/max_time/max_units/max_input_size is
    #: narrowed below its default, which then caps that axis (conformance.run._scope.caps).
    max_large_batch: int | None = None
    max_large_time: int | None = None
    max_large_units: int | None = None
    max_large_input_size: int | None = None
    #: A fuzz run's round: later rounds draw larger (the reach doubles in round 2, quadruples from round 3).
    large_round: int = 1
    #: Shortest ordinary sequence (the matrix's long-sequence column sets 100).
    min_time: int = 1
    #: Features every drawn case exercises (the matrix forces one feature per column).
    require_features: Collection[str] = ()
    #: Draw kernel and bias densely at these scales (strategies.params), e.g. saturating ones.
    weight_scales: tuple[float, ...] | None = None
    minimize: bool = True
    minimize_seconds: float = 60.0
    #: Explain a mismatch after minimisation: convention variants, localization, structure (conformance.diagnose._search).
    diagnose: bool = True
    diagnose_seconds: float = 30.0
    budget_seconds: float | None = None
    #: When everything must be done, minimisation and diagnosis included (time.monotonic(); None: no bound).  An
    #: isolated candidate's calls never run past it (its timeouts adapt: conformance.candidates.AdaptiveTimeouts).
    finish_by: float | None = None
    replay: Sequence[Case] = ()
    progress: Callable[[Progress], None] | None = None
    #: Run the candidate in a worker process (conformance.candidates._isolation) with these limits.
    isolate: bool = False
    timeout_seconds: float | None = None
    memory_limit_mb: int | None = None
    #: Re-run every Nth passing example of a candidate declaring ``deterministic=True`` (0: never).
    determinism_every: int = 10
    #: How cases are drawn (see GENERATIONS): "seeded" (fast; the post-minimiser shrinks a failure)
    #: or "choices" (every choice a Hypothesis choice, which Hypothesis shrinks before the post-minimiser).
    generation: str = "seeded"
    #: Run the oracle on its own thread while the candidate runs (TF releases the GIL, so it
    #: uses a second core); check_parallel turns it off where its workers already fill the cores.
    overlap_oracle: bool = True
    #: Pinned config and weights (``check --params FILE``, or a model candidate's own): only inputs, initial
    #: states, row lengths and the layout are drawn (strategies.pinned_cases); the minimiser keeps them.
    params: PinnedParams | None = None
    #: For a candidate declaring ``per_params_cost`` (a converter), a seeded run draws this many cases
    #: (inputs, initial states, lengths) per parameter set (strategies.amortized_cases).
    inputs_per_params: int = 16

    def __post_init__(self) -> None:
        check_int("max_examples", self.max_examples, minimum=1)
        check_int("seed", self.seed, optional=True)
        for name in ("max_time", "min_time"):
            check_int(name, getattr(self, name), minimum=1, maximum=MAX_TIME_LIMIT)
        for name in ("max_batch", "max_units", "max_input_size"):
            check_int(name, getattr(self, name), minimum=1, maximum=MAX_SIZE_LIMIT)
        check_int("max_large_time", self.max_large_time, minimum=1, maximum=MAX_TIME_LIMIT, optional=True)
        for name in ("max_large_batch", "max_large_units", "max_large_input_size"):
            check_int(name, getattr(self, name), minimum=1, maximum=MAX_SIZE_LIMIT, optional=True)
        check_int("large_every", self.large_every, minimum=0)
        check_int("large_round", self.large_round, minimum=1)
        if self.budget_seconds is not None and not self.budget_seconds > 0:
            raise InvalidArgument(f"budget_seconds={self.budget_seconds!r} must be > 0")
        if self.finish_by is not None and (isinstance(self.finish_by, bool) or not isinstance(self.finish_by, (int, float))
                                           or not math.isfinite(self.finish_by)):
            raise InvalidArgument(f"finish_by={self.finish_by!r} must be a finite time.monotonic() value or None")
        check_int("determinism_every", self.determinism_every, minimum=0)
        check_int("inputs_per_params", self.inputs_per_params, minimum=1, maximum=MAX_SIZE_LIMIT)
        from conformance.candidates import check_limits

        check_limits(self.timeout_seconds, self.memory_limit_mb)
        if self.params is not None and not isinstance(self.params, PinnedParams):
            raise InvalidArgument(f"params={self.params!r} must be a PinnedParams (conformance.load_params) or None")
        if self.generation not in GENERATIONS:
            raise InvalidArgument(f"generation={self.generation!r} must be one of {', '.join(GENERATIONS)}")


def executor_limits(options: CheckOptions) -> dict[str, Any]:
    """make_executor keyword arguments from the options (limits only apply to isolated runs)."""
    limits: dict[str, Any] = {"isolate": options.isolate}
    if options.isolate:
        limits.update(timeout_seconds=options.timeout_seconds, memory_limit_mb=options.memory_limit_mb)
    return limits
