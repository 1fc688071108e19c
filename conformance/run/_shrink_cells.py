"""The minimizer's size steps on a case's cells: fewer inputs, units, projected outputs and directions, in
any cell of a network, keeping the next layer's input in step (conformance.run._minimize drives them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from conformance.spec import BACKWARD, FORWARD, Case, InitialState, LSTMConfig, LSTMLayer, LSTMParams


def drop_input(case: Case, k: int | list[int]) -> Case:
    """Remove input column(s) ``k``: from the inputs and from every layer-1 cell's kernel (those rows)."""
    ks = [k] if isinstance(k, int) else sorted(k)
    cfg = case.config
    params = case.params.replace(kernel=np.ascontiguousarray(np.delete(case.params.kernel, ks, axis=0)))
    inputs = np.ascontiguousarray(np.delete(case.inputs, ks, axis=2))
    backward = case.backward
    if backward:
        backward = (without_rows(backward[0], ks), *backward[1:])
    return dataclasses.replace(case, config=cfg.replace(input_size=cfg.input_size - len(ks)), params=params,
                               inputs=inputs, backward=backward)


def without_rows(cell: LSTMLayer, rows: list[int]) -> LSTMLayer:
    """``cell`` without the kernel rows ``rows`` (input columns it no longer gets)."""
    kernel = np.ascontiguousarray(np.delete(cell.params.kernel, rows, axis=0))
    return LSTMLayer(cell.config.replace(input_size=cell.config.input_size - len(rows)),
                     cell.params.replace(kernel=kernel), cell.initial_state)


def forward_only(case: Case) -> Case:
    """The network without its backward cells; each upper layer loses the input rows the backward half fed."""
    if not case.backward:
        return case
    upper = []
    for k, cell in enumerate(case.upper):
        below_fw = (case.config if k == 0 else case.upper[k - 1].config).output_size
        below_bw = case.backward[k].config.output_size
        upper.append(without_rows(cell, list(range(below_fw, below_fw + below_bw))))
    return dataclasses.replace(case, upper=tuple(upper), backward=())


def _cell_without_unit(cell: LSTMLayer, us: list[int]) -> tuple[LSTMLayer, list[int]]:
    """``cell`` without hidden units ``us`` (and, without projection, the recurrent rows they feed); the output
    columns that went with them (none with a projection: the outputs keep their width)."""
    cfg, p, state = cell.config, cell.params, cell.initial_state
    H, I = cfg.num_units, cfg.input_size
    gone = set(us)
    kept = [v for v in range(H) if v not in gone]
    cols = [g * H + v for g in range(4) for v in kept]
    kernel = p.kernel[:, cols]
    h0 = state.h
    proj = p.proj_kernel
    out_cols: list[int] = []
    if cfg.num_proj is None or proj is None:
        kernel = np.delete(kernel, [I + u for u in us], axis=0)
        h0 = np.delete(h0, us, axis=1)
        out_cols = list(us)
    else:
        proj = np.delete(proj, us, axis=0)
    diag = {n: (None if (d := getattr(p, n)) is None else np.delete(d, us)) for n in ("w_i_diag", "w_f_diag", "w_o_diag")}
    params = LSTMParams(kernel=np.ascontiguousarray(kernel), bias=p.bias[cols], proj_kernel=proj, **diag)
    new_state = InitialState(np.ascontiguousarray(np.delete(state.c, us, axis=1)), np.ascontiguousarray(h0))
    return LSTMLayer(cfg.replace(num_units=H - len(gone)), params, new_state), out_cols


def _cell_without_proj_output(cell: LSTMLayer, qs: list[int]) -> tuple[LSTMLayer, list[int]]:
    cfg, p, state = cell.config, cell.params, cell.initial_state
    assert cfg.num_proj is not None and p.proj_kernel is not None
    kernel = np.delete(p.kernel, [cfg.input_size + q for q in qs], axis=0)
    params = p.replace(kernel=kernel, proj_kernel=np.ascontiguousarray(np.delete(p.proj_kernel, qs, axis=1)))
    new_state = InitialState(state.c, np.ascontiguousarray(np.delete(state.h, qs, axis=1)))
    return LSTMLayer(cfg.replace(num_proj=cfg.num_proj - len(qs)), params, new_state), list(qs)


def _change_cell(case: Case, place: tuple[int, str],
                 change: Callable[[LSTMLayer], tuple[LSTMLayer, list[int]]]) -> Case:
    """``case`` with the cell at ``place`` changed; the output columns it lost are removed from the next layer's
    input (the kernel rows they fed, in every direction of that layer)."""
    cells = {(k, d): cell for k, d, cell in case.cells()}
    k, d = place
    cells[place], out_cols = change(cells[place])
    if out_cols and k + 1 < case.num_layers:
        offset = 0 if d == FORWARD else cells[(k, FORWARD)].config.output_size
        for (layer, direction), cell in list(cells.items()):
            if layer == k + 1:
                cells[(layer, direction)] = without_rows(cell, [offset + c for c in out_cols])
    first = cells[(0, FORWARD)]
    return dataclasses.replace(
        case, config=first.config, params=first.params, initial_state=first.initial_state,
        upper=tuple(cells[(j, FORWARD)] for j in range(1, case.num_layers)),
        backward=tuple(cells[(j, BACKWARD)] for j in range(case.num_layers)) if case.backward else ())


def drop_unit(case: Case, u: int | list[int], place: tuple[int, str] = (0, FORWARD)) -> Case:
    """Remove hidden unit(s) ``u`` of the cell at ``place`` (layer 1 forward by default)."""
    us = [u] if isinstance(u, int) else sorted(u)
    return _change_cell(case, place, lambda cell: _cell_without_unit(cell, us))


def drop_proj_output(case: Case, q: int | list[int], place: tuple[int, str] = (0, FORWARD)) -> Case:
    qs = [q] if isinstance(q, int) else sorted(q)
    return _change_cell(case, place, lambda cell: _cell_without_proj_output(cell, qs))


def cell_config(case: Case, place: tuple[int, str]) -> LSTMConfig:
    return next(cell.config for k, d, cell in case.cells() if (k, d) == place)


def unit_count(place: tuple[int, str]) -> Callable[[Case], int]:
    def count(case: Case) -> int:
        return cell_config(case, place).num_units

    return count


def output_count(place: tuple[int, str]) -> Callable[[Case], int]:
    def count(case: Case) -> int:
        return cell_config(case, place).output_size

    return count


def unit_dropper(place: tuple[int, str]) -> Callable[[Case, list[int]], Case]:
    """``drop(case, units)``: the case without those units of the cell at ``place``, all at once."""
    def drop(case: Case, us: list[int]) -> Case:
        return drop_unit(case, us, place)

    return drop


def output_dropper(place: tuple[int, str]) -> Callable[[Case, list[int]], Case]:
    def drop(case: Case, qs: list[int]) -> Case:
        return drop_proj_output(case, qs, place)

    return drop


def replace_cell_config(case: Case, place: tuple[int, str], **changes: object) -> Case:
    """``case`` with the config of the cell at ``place`` changed (``forget_bias``, a clip: nothing else moves)."""
    def change(cell: LSTMLayer) -> tuple[LSTMLayer, list[int]]:
        return LSTMLayer(cell.config.replace(**changes), cell.params, cell.initial_state), []

    return _change_cell(case, place, change)
