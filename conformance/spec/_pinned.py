"""Pinned parameters: one cell's config and TF-layout weights that a run keeps fixed (``check --params FILE``).

The ``.npz`` format of a parameters file (read within the bounds of conformance.spec._npz, no pickles):

* ``kernel``       [I + P, 4H], gate order **i, j, f, o** (TF ``LSTMCell``'s ``lstm_cell/kernel``)
* ``bias``         [4H], same order (``forget_bias`` is *not* folded in; it is a config field)
* ``w_i_diag``, ``w_f_diag``, ``w_o_diag``  [H] (all three, or none: no peepholes)
* ``proj_kernel``  [H, P] (none: no projection)
* ``config``       optional JSON text of :class:`LSTMConfig` fields (``forget_bias``, ``cell_clip``,
                   ``proj_clip``, ``activation``, ``dtype``); the sizes, ``use_peepholes`` and ``num_proj``
                   follow from the arrays (given ones must agree); ``dtype`` defaults to the arrays' dtype;
                   ``time_major`` is ignored (a run fuzzes the layout).

A case file (``counterexample.npz``, :meth:`Case.save_npz`) is also a parameters file: its
``inputs``, ``c0``, ``h0`` and ``sequence_length`` are ignored.  A network's case (``topology``) is not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

import numpy as np

from conformance.spec._case import Case
from conformance.spec._config import DTYPES, PARAM_NAMES, LSTMConfig, dtype_name
from conformance.spec._errors import InvalidArgument
from conformance.spec._files import MAX_CASE_BYTES, open_regular
from conformance.spec._npz import read_npz
from conformance.spec._params import LSTMParams

#: Where a run's weights come from (report.json ``weights.source``).
WEIGHT_SOURCES = ("generated", "pinned", "model")
#: Arrays of a case file that are not parameters (ignored when it is read as a parameters file).
_CASE_ONLY = ("inputs", "c0", "h0", "sequence_length")


@dataclasses.dataclass(frozen=True)
class PinnedParams:
    """One cell's ``config`` and ``params`` (TF layout), where they came from, and the file's sha256.

    ``source``: "pinned" (a ``--params`` file) or "model" (read from the model under test);
    ``origin``: the file path or the model's description.
    """

    config: LSTMConfig
    params: LSTMParams
    source: str = "pinned"
    origin: str = ""
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.source not in WEIGHT_SOURCES[1:]:
            raise InvalidArgument(f"source={self.source!r} must be 'pinned' or 'model'")
        if self.config.time_major:
            object.__setattr__(self, "config", self.config.replace(time_major=False))
        self.params.validate(self.config)

    def matches(self, case: Case) -> bool:
        """Whether ``case`` is one cell with exactly this config (either layout) and these parameters."""
        if not case.single_cell or case.config.replace(time_major=False) != self.config:
            return False
        mine, theirs = self.params.arrays(), case.params.arrays()
        return mine.keys() == theirs.keys() and all(
            np.array_equal(mine[k].view(np.uint8), np.asarray(theirs[k]).view(np.uint8)) for k in mine)

    def describe(self) -> dict[str, Any]:
        """The JSON-able summary reports show (report.json ``weights``)."""
        return {"source": self.source, "origin": self.origin, "sha256": self.sha256,
                "config": self.config.to_dict(),
                "shapes": {k: list(v.shape) for k, v in self.params.arrays().items()}}


def file_sha256(path: str) -> str:
    """The sha256 of a file, or of a directory's files (relative names and contents, in sorted order)."""
    digest = hashlib.sha256()
    if not os.path.exists(path):  # a TF checkpoint prefix: its .index and data shards
        folder, stem = os.path.split(path)
        for name in sorted(os.listdir(folder or ".")):
            if name.startswith(stem + "."):
                digest.update(name.encode() + b"\0")
                digest.update(file_sha256(os.path.join(folder, name)).encode())
        return digest.hexdigest()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                digest.update(os.path.relpath(full, path).encode() + b"\0")
                with open(full, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
        return digest.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def params_from_arrays(arrays: dict[str, np.ndarray], fields: dict[str, Any], *, source: str = "pinned",
                       origin: str = "", sha256: str | None = None) -> PinnedParams:
    """A :class:`PinnedParams` from TF-layout ``arrays`` and config ``fields``; InvalidArgument (one line
    naming ``origin``, what was expected and what was found) for anything else."""
    where = origin or "params"
    missing = [k for k in ("kernel", "bias") if k not in arrays]
    if missing:
        raise InvalidArgument(f"{where}: expected arrays kernel [I+P, 4H] and bias [4H], found "
                              f"{sorted(arrays) or 'no arrays'}")
    unknown = sorted(set(arrays) - set(PARAM_NAMES))
    if unknown:
        raise InvalidArgument(f"{where}: expected only {', '.join(PARAM_NAMES)}, found also {', '.join(unknown)}")
    kernel, bias = np.asarray(arrays["kernel"]), np.asarray(arrays["bias"])
    if kernel.ndim != 2 or bias.ndim != 1 or kernel.shape[1] % 4 or bias.shape[0] != kernel.shape[1]:
        raise InvalidArgument(f"{where}: expected kernel [I+P, 4H] and bias [4H], found kernel "
                              f"{list(kernel.shape)} and bias {list(bias.shape)}")
    H = kernel.shape[1] // 4
    proj = arrays.get("proj_kernel")
    P = int(np.shape(proj)[1]) if proj is not None and np.ndim(proj) == 2 else H
    peeps = [k for k in ("w_i_diag", "w_f_diag", "w_o_diag") if k in arrays]
    if peeps and len(peeps) != 3:
        raise InvalidArgument(f"{where}: expected all three peephole arrays w_i_diag, w_f_diag, w_o_diag [H] or "
                              f"none, found only {', '.join(peeps)}")
    if kernel.shape[0] <= P:
        raise InvalidArgument(f"{where}: expected kernel rows I + P with I >= 1 (P = {P}), found "
                              f"{kernel.shape[0]} rows")
    stored = dtype_name(kernel.dtype)
    derived = {"num_units": H, "input_size": kernel.shape[0] - P, "use_peepholes": bool(peeps),
               "num_proj": P if proj is not None else None}
    given = {k: v for k, v in fields.items() if k != "time_major"}
    for key, value in derived.items():
        if key in given and given[key] != value:
            raise InvalidArgument(f"{where}: config says {key}={given[key]!r}, the arrays say {value!r}")
    given.update(derived)
    given.setdefault("dtype", stored if stored in DTYPES else "float32")
    try:
        config = LSTMConfig.from_dict(given)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: bad config ({exc})") from None
    npd = config.np_dtype
    params = LSTMParams(**{k: np.ascontiguousarray(np.asarray(v).astype(npd)) for k, v in arrays.items()})
    try:
        return PinnedParams(config, params, source, origin, sha256)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: {exc}") from None


def load_params_npz(path: str) -> PinnedParams:
    """Read a parameters ``.npz`` (the module docstring's format, or a one-cell case file)."""
    with open_regular(path, MAX_CASE_BYTES) as fh:
        try:
            files = read_npz(fh, path)
        except InvalidArgument:
            raise
        except Exception as exc:  # zipfile, OSError, ValueError: not a readable .npz
            raise InvalidArgument(f"{path}: expected an .npz of TF-layout arrays (kernel, bias, ...), found an "
                                  f"unreadable file ({type(exc).__name__}: {exc})") from None
    if "topology" in files:
        raise InvalidArgument(f"{path}: expected one cell's parameters, found a network's case (topology)")
    fields: dict[str, Any] = {}
    if "config" in files:
        try:
            fields = json.loads(str(files.pop("config")))
        except ValueError as exc:
            raise InvalidArgument(f"{path}: expected 'config' to be JSON text of LSTMConfig fields ({exc})") from None
        if not isinstance(fields, dict):
            raise InvalidArgument(f"{path}: expected 'config' to be a JSON object, found {type(fields).__name__}")
    arrays = {k: v for k, v in files.items() if k not in _CASE_ONLY}
    return params_from_arrays(arrays, fields, origin=path, sha256=file_sha256(path))


def save_params_npz(pinned: PinnedParams, path: str) -> None:
    """Write ``pinned`` in the format :func:`load_params_npz` reads (bfloat16 widened, exactly, to float32)."""
    from conformance.spec._config import storage_dtype

    store = storage_dtype(pinned.config.dtype)
    payload: dict[str, Any] = {k: v.astype(store) for k, v in pinned.params.arrays().items()}
    payload["config"] = np.array(json.dumps(pinned.config.to_dict(), sort_keys=True))
    with open(path, "wb") as fh:
        np.savez(fh, **payload)
