"""The minimizer's size steps on a case's cells: fewer inputs, units, projected outputs and directions, in
any cell of a network, keeping the next layer's input in step (conformance.run._minimize drives them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from conformance.spec import BACKWARD, FORWARD, Case, InitialState, LSTMConfig, LSTMLayer, LSTMParams


def drop_input(case: Case, k: int) -> Case:
    """Remove input column ``k``: from the inputs and from every layer-1 cell's kernel (row k)."""
    cfg = case.config
    params = case.params.replace(kernel=np.ascontiguousarray(np.delete(case.params.kernel, k, axis=0)))
    inputs = np.ascontiguousarray(np.delete(case.inputs, k, axis=2))
    backward = case.backward
    if backward:
        backward = (without_rows(backward[0], [k]), *backward[1:])
    return dataclasses.replace(case, config=cfg.replace(input_size=cfg.input_size - 1), params=params, inputs=inputs,
                               backward=backward)


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


def _cell_without_unit(cell: LSTMLayer, u: int) -> tuple[LSTMLayer, int | None]:
    """``cell`` without hidden unit ``u`` (and, without projection, the recurrent row it feeds); the output
    column that went with it (None with a projection: the outputs keep their width)."""
    cfg, p, state = cell.config, cell.params, cell.initial_state
    H, I = cfg.num_units, cfg.input_size
    cols = [g * H + v for g in range(4) for v in range(H) if v != u]
    kernel = p.kernel[:, cols]
    h0 = state.h
    proj = p.proj_kernel
    out_col: int | None = None
    if cfg.num_proj is None or proj is None:
        kernel = np.delete(kernel, I + u, axis=0)
        h0 = np.delete(h0, u, axis=1)
        out_col = u
    else:
        proj = np.delete(proj, u, axis=0)
    diag = {n: (None if (d := getattr(p, n)) is None else np.delete(d, u)) for n in ("w_i_diag", "w_f_diag", "w_o_diag")}
    params = LSTMParams(kernel=np.ascontiguousarray(kernel), bias=p.bias[cols], proj_kernel=proj, **diag)
    new_state = InitialState(np.ascontiguousarray(np.delete(state.c, u, axis=1)), np.ascontiguousarray(h0))
    return LSTMLayer(cfg.replace(num_units=H - 1), params, new_state), out_col


def _cell_without_proj_output(cell: LSTMLayer, q: int) -> tuple[LSTMLayer, int | None]:
    cfg, p, state = cell.config, cell.params, cell.initial_state
    assert cfg.num_proj is not None and p.proj_kernel is not None
    kernel = np.delete(p.kernel, cfg.input_size + q, axis=0)
    params = p.replace(kernel=kernel, proj_kernel=np.ascontiguousarray(np.delete(p.proj_kernel, q, axis=1)))
    new_state = InitialState(state.c, np.ascontiguousarray(np.delete(state.h, q, axis=1)))
    return LSTMLayer(cfg.replace(num_proj=cfg.num_proj - 1), params, new_state), q


def _change_cell(case: Case, place: tuple[int, str], change: Callable[[LSTMLayer], tuple[LSTMLayer, int | None]]) -> Case:
    """``case`` with the cell at ``place`` changed; an output column it lost is removed from the next layer's
    input (the kernel rows it fed, in every direction of that layer)."""
    cells = {(k, d): cell for k, d, cell in case.cells()}
    k, d = place
    cells[place], out_col = change(cells[place])
    if out_col is not None and k + 1 < case.num_layers:
        row = out_col if d == FORWARD else cells[(k, FORWARD)].config.output_size + out_col
        for (layer, direction), cell in list(cells.items()):
            if layer == k + 1:
                cells[(layer, direction)] = without_rows(cell, [row])
    first = cells[(0, FORWARD)]
    return dataclasses.replace(
        case, config=first.config, params=first.params, initial_state=first.initial_state,
        upper=tuple(cells[(j, FORWARD)] for j in range(1, case.num_layers)),
        backward=tuple(cells[(j, BACKWARD)] for j in range(case.num_layers)) if case.backward else ())


def drop_unit(case: Case, u: int, place: tuple[int, str] = (0, FORWARD)) -> Case:
    """Remove hidden unit ``u`` of the cell at ``place`` (layer 1 forward by default)."""
    return _change_cell(case, place, lambda cell: _cell_without_unit(cell, u))


def drop_proj_output(case: Case, q: int, place: tuple[int, str] = (0, FORWARD)) -> Case:
    return _change_cell(case, place, lambda cell: _cell_without_proj_output(cell, q))


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


def unit_dropper(place: tuple[int, str]) -> Callable[[Case, int], Case]:
    def drop(case: Case, u: int) -> Case:
        return drop_unit(case, u, place)

    return drop


def output_dropper(place: tuple[int, str]) -> Callable[[Case, int], Case]:
    def drop(case: Case, q: int) -> Case:
        return drop_proj_output(case, q, place)

    return drop
