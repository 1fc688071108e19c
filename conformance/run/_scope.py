"""What a run covers, worked out once: the features, dtypes and sizes it draws, and the strategy.

A candidate declares what it supports (:class:`~conformance.candidates.CandidateInfo`);
the options narrow it further.  :func:`scope` validates that combination (one line
naming the bad value) before anything runs, and :func:`cases_for` turns it into the
Hypothesis strategy of the run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from conformance.candidates import CandidateInfo, LoadedCandidate, ModelCandidate, model_params, model_shape
from conformance.run._options import SEEDED_BATCH, CheckOptions
from conformance.spec import DTYPES, FEATURES, MAX_SIZE_LIMIT, MAX_TIME_LIMIT, InvalidArgument

#: Longest "long" sequence drawn (the long-sequence tail of the distribution).
MAX_LONG_TIME = 160
#: The large-size tail's reach in a check and in a fuzz run's first round (strategies._sizes); later fuzz
#: rounds double it, then quadruple it (up to MAX_SIZE_LIMIT / MAX_TIME_LIMIT), and the work cap with it.
LARGE_REACH = {"batch": 1024, "time": 1000, "units": 1024, "input_size": 1024}
#: A large case's cost (strategies._sizes.work: about 40 ms) and per-step elements (B * T * max(I, H)), round one.
LARGE_WORK, LARGE_ELEMENTS = 2**25, 2**20


@dataclasses.dataclass(frozen=True)
class Scope:
    """The features and dtypes a run covers and the sizes it draws (the candidate's limits applied)."""

    features: frozenset[str]
    dtypes: frozenset[str]
    max_units: int
    max_input_size: int
    max_time: int
    long_sequences: bool
    max_long_time: int
    max_batch: int = 4
    #: The large-size tail (a strategies.Tail; None: no large case), the candidate's limits applied.
    tail: Any = None

    def sorted_features(self) -> tuple[str, ...]:
        return tuple(sorted(self.features, key=FEATURES.index))

    def sorted_dtypes(self) -> tuple[str, ...]:
        return tuple(sorted(self.dtypes, key=DTYPES.index))

    def drawn_dtypes(self, options: CheckOptions) -> frozenset[str]:
        """The dtypes a run draws: its own, narrowed to ``options.draw_dtypes`` (a worker's share) where set."""
        if options.draw_dtypes is None:
            return self.dtypes
        return (self.dtypes & frozenset(options.draw_dtypes)) or self.dtypes


def narrowed(info: CandidateInfo, options: CheckOptions) -> tuple[frozenset[str], frozenset[str]]:
    """The features and dtypes a run covers: what the candidate declares, narrowed by the options."""
    features = frozenset(info.features)
    dtypes = frozenset(info.dtypes)
    if options.features is not None:
        bad = sorted(set(options.features) - set(FEATURES))
        if bad:
            raise InvalidArgument(f"features={bad!r} unknown; known: {', '.join(FEATURES)}")
        features &= frozenset(options.features)
    if options.dtypes is not None:
        bad = sorted(set(options.dtypes) - set(DTYPES))
        if bad:
            raise InvalidArgument(f"dtype={bad[0]!r} unknown; known: {', '.join(DTYPES)}")
        dtypes &= frozenset(options.dtypes)
        if not dtypes:
            raise InvalidArgument(
                f"dtypes={sorted(options.dtypes)!r}: the candidate supports only {sorted(info.dtypes)}"
            )
    return features, dtypes


def caps(options: CheckOptions) -> dict[str, int | None]:
    """The most batch rows, steps, units and input columns of any case (None: the tail's reach): the options'
    max_large_*, else an ordinary maximum narrowed below its default (``CheckOptions(max_units=6)`` still means
    no case has more than 6 units, as it did before the tail)."""
    defaults = {f.name: f.default for f in dataclasses.fields(CheckOptions)}

    def cap(axis: str) -> int | None:
        given, ordinary = getattr(options, f"max_large_{axis}"), getattr(options, f"max_{axis}")
        return given if given is not None else (ordinary if ordinary < defaults[f"max_{axis}"] else None)

    return {axis: cap(axis) for axis in ("batch", "time", "units", "input_size")}


def scope(info: CandidateInfo, options: CheckOptions) -> Scope:
    """The :class:`Scope` of a run of ``info``'s candidate under ``options`` (InvalidArgument if there is none)."""
    features, dtypes = narrowed(info, options)
    if options.params is not None:
        features, dtypes = _pinned_scope(options.params, frozenset(info.features), features, dtypes)
    cap = caps(options)

    def limit(ordinary: int, declared: int | None, most: int | None) -> int:
        return min(ordinary, declared or ordinary, most or ordinary)

    longest = min(info.max_time or MAX_TIME_LIMIT, options.max_large_time or MAX_TIME_LIMIT)
    max_time = limit(options.max_time, info.max_time, cap["time"])
    missing = sorted(set(options.require_features) - features)
    if missing:
        raise InvalidArgument(f"require_features={sorted(options.require_features)!r}: {missing} not among the "
                              f"features this run covers ({sorted(features)})")
    if options.min_time > max_time:
        raise InvalidArgument(f"min_time={options.min_time!r} exceeds the longest sequence allowed ({max_time})")
    return Scope(
        features=features,
        dtypes=dtypes,
        max_units=limit(options.max_units, info.max_units, cap["units"]),
        max_input_size=limit(options.max_input_size, info.max_input_size, cap["input_size"]),
        max_time=max_time,
        long_sequences=options.long_sequences and longest >= 100,
        # Below 100 steps there are no long sequences, and their range must stay a valid one (100..160).
        max_long_time=min(MAX_LONG_TIME, longest) if longest >= 100 else MAX_LONG_TIME,
        max_batch=limit(options.max_batch, info.max_batch, cap["batch"]),
        tail=large_tail(info, options),
    )


def large_tail(info: CandidateInfo, options: CheckOptions) -> Any:
    """The run's strategies.Tail: LARGE_REACH grown by the fuzz round, capped by the options' max_large_*
    and the candidate's declared limits (a candidate is never given a case beyond them); None: no tail."""
    if not options.large_every:
        return None
    import strategies

    grow = 2 ** (min(options.large_round, 3) - 1)
    cap = caps(options)

    def reach(axis: str, limit: int, declared: int | None) -> int:
        return min(LARGE_REACH[axis] * grow, limit, cap[axis] or limit, declared or limit)

    return strategies.Tail(
        every=options.large_every,
        max_batch=reach("batch", MAX_SIZE_LIMIT, info.max_batch),
        max_time=reach("time", MAX_TIME_LIMIT, info.max_time),
        max_units=reach("units", MAX_SIZE_LIMIT, info.max_units),
        max_input_size=reach("input_size", MAX_SIZE_LIMIT, info.max_input_size),
        max_work=LARGE_WORK * grow**2, max_elements=LARGE_ELEMENTS * grow)


def cases_for(info: CandidateInfo, options: CheckOptions, run_scope: Scope | None = None) -> Any:
    """The strategy a run draws from: lists of cases (one per list for ``generation="choices"``,
    SEEDED_BATCH for "seeded"), narrowed to the candidate's declared features, dtypes and sizes
    and to the cases it ``accepts``."""
    from hypothesis import strategies as st

    import strategies

    sc = run_scope if run_scope is not None else scope(info, options)
    common: dict[str, Any] = dict(
        features=sc.features, dtypes=sc.drawn_dtypes(options), max_batch=sc.max_batch, min_time=options.min_time,
        max_time=sc.max_time, max_units=sc.max_units, max_input_size=sc.max_input_size,
        require=options.require_features, weight_scales=options.weight_scales, tail=sc.tail)
    accepts = info.accepts
    if options.params is not None:
        pinned: Any = strategies.pinned_cases(
            options.params, count=1 if options.generation == "choices" else SEEDED_BATCH,
            seeded=options.generation != "choices", features=sc.features, max_batch=options.max_batch,
            min_time=options.min_time, max_time=sc.max_time, require=options.require_features,
            long_times=(100, sc.max_long_time) if sc.long_sequences else None)
        if accepts is None:
            return pinned
        if options.generation == "choices":
            return pinned.filter(lambda one: bool(accepts(one[0])))
        return pinned.map(lambda batch: strategies.CaseBatch(batch.seed, [c for c in batch if accepts(c)]))
    if options.generation == "choices":
        long_times = st.integers(100, sc.max_long_time) if sc.long_sequences else None
        one = strategies.cases(long_times=long_times, **common)
        # A library limit beyond features/dtypes/sizes (e.g. torch's proj_size < hidden_size).
        return (one.filter(accepts) if accepts is not None else one).map(lambda case: [case])
    if info.per_params_cost:  # a converter: one conversion serves inputs_per_params cases
        # No size tail for a converter (yet): each large parameter set is a conversion of seconds.
        batches = strategies.amortized_cases(inputs_per_params=options.inputs_per_params, count=SEEDED_BATCH,
                                             long_sequences=sc.long_sequences, max_long_time=sc.max_long_time,
                                             **{k: v for k, v in common.items() if k != "tail"})
    else:
        batches = strategies.seeded_cases(count=SEEDED_BATCH, long_sequences=sc.long_sequences,
                                          max_long_time=sc.max_long_time, **common)
    if accepts is None:
        return batches
    return batches.map(lambda batch: strategies.CaseBatch(batch.seed, [c for c in batch if accepts(c)]))


def _pinned_scope(pinned: Any, declared: frozenset[str], features: frozenset[str],
                  dtypes: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """A pinned run's features (the pinned config's, which only the candidate's declaration can refuse, plus the
    drawn ones the options leave: initial state, lengths, layout) and its one dtype."""
    import strategies

    used = pinned.config.features()
    unsupported = sorted(used - declared)
    if unsupported:
        raise InvalidArgument(f"params {pinned.origin}: the pinned config uses {unsupported}, which the candidate "
                              f"does not declare (it supports {sorted(declared)})")
    if pinned.config.dtype not in dtypes:
        raise InvalidArgument(f"params {pinned.origin}: the pinned dtype {pinned.config.dtype} is not among this "
                              f"run's dtypes {sorted(dtypes)}")
    return used | (features & strategies.DRAWN_FEATURES), frozenset({pinned.config.dtype})


def pinned_options(loaded: LoadedCandidate, options: CheckOptions) -> CheckOptions:
    """``options`` for a model candidate (conformance.candidates.ModelCandidate): pinned to the model's own
    weights, unless ``--params`` pinned others (whose sizes must then be the model's: the oracle runs those,
    the model its own baked ones), and drawing the batch and time baked into it (TFLite).  A model's weights
    do not follow a case's, so the diagnosis (which draws fresh weights) is off for it."""
    if not isinstance(loaded.fn, ModelCandidate):
        return options
    batch, time = model_shape(loaded)
    if time is not None or batch is not None:
        options = dataclasses.replace(options, max_batch=batch or options.max_batch, long_sequences=False,
                                      min_time=time or options.min_time, max_time=time or options.max_time)
    own, given = model_params(loaded), options.params
    if given is None and own is None:
        raise InvalidArgument(f"{loaded.target}: its weights cannot be read from the model; give the TF weights "
                              f"with --params FILE")
    if given is not None and own is not None:
        sizes = lambda c: (c.input_size, c.num_units, c.output_size)  # noqa: E731
        if sizes(given.config) != sizes(own.config):
            raise InvalidArgument(f"params {given.origin}: sizes (input, units, output) {sizes(given.config)} are not "
                                  f"the model's {sizes(own.config)}")
    return dataclasses.replace(options, params=given or own, diagnose=False)
