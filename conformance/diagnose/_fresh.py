"""Fresh cases that tell convention variants apart, derived from a failing case (see conformance.diagnose._search)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from conformance.candidates import CandidateInfo
from conformance.spec import (
    ACTIVATIONS,
    Case,
    InitialState,
    LSTMConfig,
    LSTMLayer,
    LSTMParams,
    reference,
    reference_trace,
    zero_state,
)


def random_lengths(batch: int, time: int, rng: np.random.Generator) -> np.ndarray:
    """Ragged row lengths [B] that tell length conventions apart: row 0 full, row 1 ending mid-way,
    row 2 (T >= 3) one step long, the rest anything from 0 to T."""
    lengths = rng.integers(0, time + 1, batch)
    fixed = [time, max(1, time // 2), 1]
    lengths[: min(batch, 3)] = fixed[: min(batch, 3)]
    return lengths.astype(np.int32)


def random_case(config: LSTMConfig, batch: int, time: int, rng: np.random.Generator, *, initial_state: bool,
                lengths: bool = False) -> Case:
    """Dense values sized so every gate's pre-activation is O(1) (neither saturated nor zero); inputs in
    the config's layout, and (``lengths``) ragged row lengths from :func:`random_lengths`."""
    I, H, P = config.input_size, config.num_units, config.output_size
    npd = config.np_dtype

    def normal(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(npd)

    diag = (lambda: normal((H,), 0.7)) if config.use_peepholes else (lambda: None)
    params = LSTMParams(
        kernel=normal((I + P, 4 * H), 1.2 / math.sqrt(I + P)),
        bias=normal((4 * H,), 0.7),
        w_i_diag=diag(), w_f_diag=diag(), w_o_diag=diag(),
        proj_kernel=normal((H, P), 1.2 / math.sqrt(H)) if config.num_proj is not None else None,
    )
    if initial_state:
        state = InitialState(normal((batch, H), 1.0), normal((batch, P), 0.5))
    else:
        state = zero_state(config, batch)
    inputs = normal((batch, time, I), 1.0)
    if config.time_major:
        inputs = np.ascontiguousarray(inputs.transpose(1, 0, 2))
    return Case(config, params, inputs, state, random_lengths(batch, time, rng) if lengths else None)


def random_network(like: Case, batch: int, time: int, rng: np.random.Generator, *, initial_state: bool) -> Case:
    """A case of ``like``'s network (every cell's config, the layers and directions) with fresh dense values."""
    lengths = like.sequence_length is not None

    def fresh(cell: LSTMLayer) -> LSTMLayer:
        one = random_case(cell.config, batch, time, rng, initial_state=initial_state)
        return LSTMLayer(cell.config, one.params, one.initial_state)

    first = random_case(like.config, batch, time, rng, initial_state=initial_state, lengths=lengths)
    return dataclasses.replace(first, upper=tuple(fresh(c) for c in like.upper),
                               backward=tuple(fresh(c) for c in like.backward))


def _perturbed(case: Case, rng: np.random.Generator) -> Case:
    """The case with noise on every number (zeros included), keeping its magnitudes."""
    npd = case.config.np_dtype
    out = {}
    for name, a in case.arrays().items():
        if name in ("c0", "h0") and case.initial_state.is_zero():
            continue
        wide = a.astype(np.float64)
        out[name] = (wide + rng.standard_normal(a.shape) * 0.3 * max(1.0, 0.1 * float(np.max(np.abs(wide), initial=0)))).astype(npd)
    return case.with_arrays(out)


def _grown(config: LSTMConfig, info: CandidateInfo) -> LSTMConfig:
    """Larger sizes that keep the counterexample's equalities (I == H, P == H)."""
    I, H, P = config.input_size, config.num_units, config.output_size
    H2 = H + 2
    I2 = H2 if I == H else I + 1
    changes: dict[str, Any] = {"num_units": H2, "input_size": I2}
    if config.num_proj is not None:
        changes["num_proj"] = H2 if P == H else (I2 if P == I else P + 1)
    if (info.max_units and H2 > info.max_units) or (info.max_input_size and I2 > info.max_input_size):
        return config
    return config.replace(**changes)


def _enriched(config: LSTMConfig, info: CandidateInfo, rng: np.random.Generator, probability: float) -> LSTMConfig:
    """The config with other declared features switched on, each with ``probability`` (values that matter)."""
    declared = info.features

    def wanted(feature: str, absent: bool) -> bool:
        return feature in declared and absent and rng.random() < probability

    changes: dict[str, Any] = {}
    if wanted("forget_bias", config.forget_bias == 1.0):
        changes["forget_bias"] = float(rng.choice([0.3, 1.7, 2.5, -0.6]))
    if wanted("activation", config.activation == "tanh"):
        changes["activation"] = str(rng.choice([a for a in ACTIVATIONS if a != "tanh"]))
    if wanted("peepholes", not config.use_peepholes):
        changes["use_peepholes"] = True
    if wanted("cell_clip", config.cell_clip is None):
        changes["cell_clip"] = float(rng.choice([0.6, 0.9, 1.2]))  # c is O(1): the clip bites sometimes
    if wanted("projection", config.num_proj is None):
        changes["num_proj"] = int(rng.integers(1, config.num_units + 2))
        if wanted("proj_clip", True):
            changes["proj_clip"] = float(rng.choice([0.3, 0.6]))
    return config.replace(**changes) if changes else config


def _biting_clips(case: Case, original: LSTMConfig) -> Case:
    """Set clips the enrichment added to 60% of what the unclipped values reach, so they always bite."""
    cfg = case.config
    changes: dict[str, float] = {}
    if cfg.cell_clip is not None and original.cell_clip is None:
        _, cells = reference_trace(dataclasses.replace(case, config=cfg.replace(cell_clip=None, proj_clip=None)))
        changes["cell_clip"] = 0.6 * float(np.max(np.abs(cells)))
    if cfg.proj_clip is not None and original.proj_clip is None:
        unclipped = reference(dataclasses.replace(case, config=cfg.replace(proj_clip=None)))
        changes["proj_clip"] = 0.6 * float(np.max(np.abs(unclipped.outputs)))
    changes = {k: v for k, v in changes.items() if v > 0}
    return dataclasses.replace(case, config=cfg.replace(**changes)) if changes else case


def discriminating_cases(case: Case, info: CandidateInfo, *, count: int = 12, seed: int = 0) -> list[Case]:
    """Fresh cases, derived from the failing ``case``, that tell variants apart (see the module docstring).

    Every case is one ``info`` (the candidate's CandidateInfo) supports, in ``case``'s dtype,
    with at least ``case.time`` (and >= 5) steps and 3 batch rows.
    """
    rng = np.random.default_rng(seed)
    cfg = case.config
    T = max(case.time, 5)
    if info.max_time is not None:
        T = max(case.time, min(T, info.max_time))
    B = max(case.batch, 3)
    wants_state = "initial_state" in info.features
    out: list[Case] = []
    # The first enriched case switches on every declared feature the counterexample lacks (a second
    # mistake hiding behind a feature the minimisation removed shows there); later ones a random half.
    plan = ["same", "same", "grown", "perturbed", "enriched", "same", "grown", "enriched", "perturbed", "same",
            "grown", "enriched"]
    enriched = 0
    for k in range(count):
        kind = plan[k % len(plan)]
        state = wants_state and (not case.initial_state.is_zero() or k % 2 == 0)
        if not case.single_cell:  # a network keeps its cells' configs: fresh values, or the case perturbed
            trial = _perturbed(case, rng) if kind == "perturbed" else random_network(case, B, T, rng,
                                                                                     initial_state=state)
        elif kind == "perturbed":
            trial = _perturbed(case, rng)
        else:
            if kind == "same":
                config = cfg
            elif kind == "grown":
                config = _grown(cfg, info)
            else:
                config = _enriched(cfg, info, rng, 1.0 if enriched == 0 else 0.5)
                enriched += 1
            trial = random_case(config, B, T, rng, initial_state=state, lengths=case.sequence_length is not None)
            if kind == "enriched":
                trial = _biting_clips(trial, cfg)
        if info.supports(trial):
            out.append(trial)
    return out


def structural_case(case: Case, info: CandidateInfo, *, seed: int = 0) -> Case:
    """A case for the structural properties: the counterexample's config, B = 3, T >= 4, dense values."""
    rng = np.random.default_rng(seed + 1)
    T = max(case.time, 4)
    if info.max_time is not None:
        T = max(case.time, min(T, info.max_time))
    if not case.single_cell:
        fresh = random_network(case, 3, T, rng, initial_state="initial_state" in info.features)
    else:
        fresh = random_case(case.config, 3, T, rng, initial_state="initial_state" in info.features,
                            lengths=case.sequence_length is not None)
    return fresh if info.supports(fresh) else case


#: Clip values tried whatever the magnitudes (|h| < 1 always: a clip >= 1 on h never bites).
_SMALL_CLIPS = (0.1, 0.3, 0.6)
#: Fractions of the largest value a clip could bite on (the cell state, the projected output).
_CLIP_FRACTIONS = (0.3, 0.6, 0.9)


def _with_clips(case: Case, info: CandidateInfo) -> list[Case]:
    """``case`` with cell_clip / proj_clip (where its config has them, or the candidate declares them) set
    across the range the clipped values take: small clips < 1 and fractions of the largest |c| / projection."""
    cfg = case.config
    out: list[Case] = []
    declared = info.features
    clips_cell = cfg.cell_clip is not None or "cell_clip" in declared
    clips_proj = cfg.num_proj is not None and (cfg.proj_clip is not None or "proj_clip" in declared)
    if not (clips_cell or clips_proj):
        return out
    free = dataclasses.replace(case, config=cfg.replace(cell_clip=None, proj_clip=None))
    with np.errstate(all="ignore"):
        result, cells = reference_trace(free)
    if clips_cell:
        top = float(np.max(np.abs(cells), initial=0.0))
        for value in _SMALL_CLIPS + tuple(f * top for f in _CLIP_FRACTIONS):
            if 0 < value < math.inf:  # a state that overflowed gives no clip to try
                out.append(dataclasses.replace(case, config=cfg.replace(cell_clip=float(value))))
    if clips_proj:
        top = float(np.max(np.abs(result.outputs), initial=0.0))
        for value in _SMALL_CLIPS + tuple(f * top for f in _CLIP_FRACTIONS):
            if 0 < value < math.inf:
                out.append(dataclasses.replace(case, config=cfg.replace(proj_clip=float(value))))
    return out


#: forget_bias values a tie is tried at besides the case's own: the minimizer rounds forget_bias to 1.0, where
#: e.g. "forget_bias added twice" and "a fixed +1 on top of it" compute the same.
TIE_FORGET_BIASES = (0.0, 2.5, -0.75)


def _with_forget_biases(case: Case, info: CandidateInfo) -> list[Case]:
    if "forget_bias" not in info.features:
        return []
    return [dataclasses.replace(case, config=dataclasses.replace(case.config, forget_bias=b))
            for b in TIE_FORGET_BIASES if b != case.config.forget_bias]


def tie_candidates(like: list[Case], info: CandidateInfo, *, seed: int = 0, max_configs: int = 3) -> list[Case]:
    """A pool of fresh cases to tell variants apart that explain the same cases so far (see
    conformance.diagnose._tiebreak): for each of the first ``max_configs`` distinct configs of ``like``,
    fresh dense values at its sizes and grown ones, the same with every clip swept across the range its
    values take (:func:`_with_clips`) and at other forget biases, and once with every declared feature switched
    on, clips biting.
    Every case is one ``info`` supports; sizes B >= 3, T >= 5 as in :func:`discriminating_cases`."""
    rng = np.random.default_rng(seed + 7919)
    pool: list[Case] = []
    seen: list[LSTMConfig] = []
    wants_state = "initial_state" in info.features
    for case in like:
        if case.config in seen or len(seen) >= max_configs:
            continue
        seen.append(case.config)
        T = max(case.time, 5)
        if info.max_time is not None:
            T = max(case.time, min(T, info.max_time))
        B = max(case.batch, 3)
        lengths = case.sequence_length is not None
        if not case.single_cell:
            pool += [random_network(case, B, T, rng, initial_state=wants_state) for _ in range(3)]
            continue
        for config in (case.config, case.config, _grown(case.config, info)):
            fresh = random_case(config, B, T, rng, initial_state=wants_state, lengths=lengths)
            pool += [fresh] + _with_clips(fresh, info) + _with_forget_biases(fresh, info)
        enriched = _enriched(case.config, info, rng, 1.0)
        pool.append(_biting_clips(random_case(enriched, B, T, rng, initial_state=wants_state, lengths=lengths),
                                  case.config))
    return [c for c in pool if info.supports(c)]
