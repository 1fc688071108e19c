"""Simpler numbers for the minimizer (conformance.run._minimize): how hard a number is to read, and the
config's floats (forget_bias, cell_clip, proj_clip) rounded toward 1.0, 0.5, integers and short decimals."""

from __future__ import annotations

import math

from conformance.run._shrink_cells import replace_cell_config
from conformance.spec import Case, LSTMConfig, rounded_to


def complexity(value: float) -> float:
    """How hard a number is to read: significant digits, then magnitude."""
    if value == 0:
        return 0.0
    for digits in range(1, 18):
        if float(f"{value:.{digits}g}") == value:
            return digits + abs(math.log10(abs(value))) / 100
    return 18.0


def simpler_values(value: float) -> list[float]:
    sign = 1.0 if value > 0 else -1.0
    out = [sign * 1.0, sign * 0.5, sign * 2.0, float(round(value))]
    for digits in (1, 2, 3):
        out.append(float(f"{value:.{digits}g}"))
    return [v for v in dict.fromkeys(out) if v != 0 and complexity(v) < complexity(value)]


#: The config's floats the minimizer rounds, and whether the value must stay > 0 (a clip).
_CONFIG_FLOATS = {"forget_bias": False, "cell_clip": True, "proj_clip": True}


def _simpler_config_values(value: float) -> list[float]:
    """Simpler values for a config float, simplest first: 1.0, 0.5, 2.0, integers, short decimals and the
    nearest halves, quarters, eighths and sixteenths (short decimals every dtype holds exactly: 3.5, 3.375)."""
    out = simpler_values(value) + [round(value * 2**m) / 2**m for m in range(1, 5)]
    return sorted((v for v in dict.fromkeys(out) if v != 0 and complexity(v) < complexity(value)), key=complexity)


def config_floats(config: LSTMConfig) -> dict[str, float]:
    """The config's forget_bias, cell_clip and proj_clip that are set (a clip of None is not a number)."""
    return {name: float(v) for name in _CONFIG_FLOATS if (v := getattr(config, name)) is not None}


def round_config(case: Case, attempt) -> Case:
    """Round every cell's forget_bias, cell_clip and proj_clip toward 1.0, 0.5, 2.0, an integer, then short
    decimals, while the case fails; only values the dtype holds exactly (the strategies draw them so, as TF
    converts a float option: a value the oracle rounded on its way in would change the case, not its printing)."""
    for k, d, _ in case.cells():
        for name, positive in _CONFIG_FLOATS.items():
            config = next(cell.config for kk, dd, cell in case.cells() if (kk, dd) == (k, d))
            value = getattr(config, name)
            if value is None:
                continue
            for simpler in _simpler_config_values(float(value)):
                if (positive and simpler <= 0) or rounded_to(config.dtype, simpler) != simpler:
                    continue
                trial = replace_cell_config(case, (k, d), **{name: simpler})
                if attempt(trial):
                    case = trial
                    break
    return case
