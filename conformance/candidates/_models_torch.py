"""A torch ``nn.LSTM`` / ``nn.LSTMCell`` (an object, a ``torch.save``d module or TorchScript) as a candidate.

Weights back to TF's layout by ``tf_from_torch`` (adapters/_layout.py): kernel = [weight_ih.T;
weight_hh.T] with gates i, f, g, o reordered to i, j, f, o; bias = bias_ih + bias_hh (forget_bias 0);
proj_kernel = weight_hr.T.  ``nn.LSTM`` runs on the case's inputs in its own ``batch_first`` layout,
with ``(h0, c0)`` [1, B, .] and, for row lengths, packed (torch cannot express a row of length 0, so
such rows are not drawn); ``nn.LSTMCell`` is stepped over time (no row lengths).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from conformance.candidates._models import ModelCandidate, pinned_from_model, to_layout
from conformance.candidates._protocol import CandidateInfo
from conformance.candidates.adapters._layout import tf_from_torch
from conformance.spec import CandidateLoadError, Case


def load_torch_file(path: str) -> Any:
    """TorchScript (``torch.jit.save``) or a pickled module (``torch.save(module)``; unpickling runs code
    from the file, as ``torch.load`` always does: check only files you would import)."""
    import torch

    try:
        return torch.jit.load(path, map_location="cpu")
    except Exception:
        pass
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CandidateLoadError(f"{path}: expected a saved torch module (torch.save(module) or TorchScript), "
                                 f"found an unreadable file ({type(exc).__name__}: {exc})") from None
    return obj


def _find_lstm(obj: Any, where: str, node: str | None) -> tuple[str, Any]:
    import torch

    from conformance.candidates._models import choose

    if not isinstance(obj, torch.nn.Module):
        raise CandidateLoadError(f"{where}: expected a torch.nn.LSTM/LSTMCell module, found a "
                                 f"{type(obj).__name__} (a state_dict holds no module: torch.save the module)")
    found = {name or type(m).__name__: m for name, m in obj.named_modules() if _kind(m) is not None}
    return choose(found, node, "torch LSTM/LSTMCell module", where)


def _kind(m: Any) -> str | None:
    """"LSTM" or "LSTMCell" for such a module (a subclass too) or its TorchScript form; None otherwise."""
    import torch

    if isinstance(m, torch.nn.LSTM):
        return "LSTM"
    if isinstance(m, torch.nn.LSTMCell):
        return "LSTMCell"
    name = getattr(m, "original_name", None)
    return name if name in ("LSTM", "LSTMCell") else None


def _np(t: Any) -> np.ndarray:
    import torch

    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def torch_model(obj: Any, path: str | None, node: str | None) -> ModelCandidate:
    """The candidate running ``obj`` (or its one LSTM), pinned to its weights in TF's layout."""
    where = path or f"{type(obj).__name__} object"
    name, m = _find_lstm(obj, where, node)
    is_cell = _kind(m) == "LSTMCell"
    params = dict(m.named_parameters())
    suffix = "" if is_cell else "_l0"
    if not is_cell and (int(getattr(m, "num_layers", 1)) != 1 or bool(getattr(m, "bidirectional", False))):
        raise CandidateLoadError(f"{where}: expected a one-layer unidirectional nn.LSTM, found num_layers="
                                 f"{m.num_layers}, bidirectional={m.bidirectional}")
    get = lambda n: params.get(n + suffix)  # noqa: E731
    w_ih = get("weight_ih")
    if w_ih is None:
        raise CandidateLoadError(f"{where}: {name} has no weight_ih{suffix}; found {', '.join(params)}")
    arrays, fields = tf_from_torch(_np(w_ih), _np(get("weight_hh")),
                                   None if get("bias_ih") is None else _np(get("bias_ih")),
                                   None if get("bias_hh") is None else _np(get("bias_hh")),
                                   None if get("weight_hr") is None else _np(get("weight_hr")))
    dtype = str(w_ih.dtype).rsplit(".", 1)[-1]
    pinned = pinned_from_model(arrays, {**fields, "dtype": dtype}, f"{where} ({name})", path)
    batch_first = bool(getattr(m, "batch_first", False))
    features = ["forget_bias", "initial_state", "time_major"]
    if not is_cell:
        features += ["projection"] + ([] if _scripted_overloads(m) else ["sequence_length"])
    accepts = None if is_cell else (lambda case: case.sequence_length is None or bool(np.all(case.sequence_length > 0)))
    info = CandidateInfo(name=where, features=frozenset(features), dtypes=frozenset({pinned.config.dtype}),
                         description=f"torch {type(m).__name__} from {where}, its own weights", accepts=accepts)
    run = (lambda case: _run_cell(m, case)) if is_cell else (lambda case: _run_lstm(m, batch_first, case))
    return ModelCandidate(run, pinned, info)


def _tensor(array: np.ndarray, like: Any) -> Any:
    import torch

    a = np.ascontiguousarray(array.astype(np.float32) if array.dtype.name == "bfloat16" else array)
    return torch.from_numpy(a).to(like.dtype)


def _run_lstm(m: Any, batch_first: bool, case: Case) -> Any:
    import torch

    like = next(iter(m.parameters()))
    x = _tensor(to_layout(case.inputs, case.config.time_major, not batch_first), like)
    h0 = _tensor(case.initial_state.h, like)[None]
    c0 = _tensor(case.initial_state.c, like)[None]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if case.sequence_length is None:
            out, (h, c) = _tensor_forward(m)(x, (h0, c0))
        else:
            rnn = torch.nn.utils.rnn
            lengths = torch.from_numpy(case.sequence_length.astype(np.int64))
            packed = rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
            out_p, (h, c) = m(packed, (h0, c0))
            out, _ = rnn.pad_packed_sequence(out_p, batch_first=batch_first, total_length=case.time)
    outputs = to_layout(_np(out), not batch_first, case.config.time_major)
    return outputs, (_np(c[0]), _np(h[0]))


def _run_cell(m: Any, case: Case) -> Any:
    import torch

    like = next(iter(m.parameters()))
    x = _tensor(to_layout(case.inputs, case.config.time_major, True), like)  # [T, B, I]
    h, c = _tensor(case.initial_state.h, like), _tensor(case.initial_state.c, like)
    outs = []
    with torch.no_grad():
        for t in range(case.time):
            h, c = m(x[t], (h, c))
            outs.append(h)
        out = torch.stack(outs)
    return to_layout(_np(out), True, case.config.time_major), (_np(c), _np(h))


def _scripted_overloads(m: Any) -> bool:
    """Whether ``m`` is a scripted nn.LSTM: TorchScript compiles its forward's two overloads (tensor, packed) as
    ``forward__0`` and ``forward__1`` and has no plain ``forward``; only the tensor one is called here."""
    names = getattr(getattr(m, "_c", None), "_method_names", None)
    return names is not None and "forward__0" in names()


def _tensor_forward(m: Any) -> Any:
    return m._c._get_method("forward__0") if _scripted_overloads(m) else m
