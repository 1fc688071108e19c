"""``lstm-conformance list``: every built-in and plugin candidate, with whether it can run here."""

from __future__ import annotations

import dataclasses
from typing import Any

from conformance.candidates._protocol import info_of
from conformance.candidates._registry import BUILTINS, Builtin, _entry_points, _import_attr, _missing, resolve
from conformance.spec import CandidateLoadError


@dataclasses.dataclass(frozen=True)
class Listing:
    """One row of ``lstm-conformance list``."""

    name: str
    available: bool
    features: list[str]
    dtypes: list[str]
    reason: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: pyproject extra that installs each optional package built-ins require.
_EXTRAS = {"torch": "torch", "jax": "jax", "flax": "jax", "onnx": "onnx", "onnxruntime": "onnx", "keras": "keras",
           "tf2onnx": "converters"}


def _missing_reason(missing: list[str]) -> str:
    extras = sorted({_EXTRAS[m] for m in missing if m in _EXTRAS})
    hint = f"; pip install \"lstm-conformance[{','.join(extras)}]\"" if extras else ""
    return f"needs {', '.join(missing)} (not installed){hint}"


def _declared(b: Builtin) -> dict[str, Any]:
    """What a built-in declares, read without its framework (adapters import theirs only when called)."""
    module_name, _, attr = b.target.partition(":")
    try:
        return info_of(_import_attr(module_name, attr, b.target)).to_dict()
    except CandidateLoadError:
        return {}


def list_candidates() -> list[Listing]:
    """Every built-in and plugin candidate, with availability; missing packages are found without importing."""
    rows = []
    for name, b in BUILTINS.items():
        missing = _missing(b.requires)
        if missing:
            d = _declared(b)
            rows.append(Listing(name, False, d.get("features", []), d.get("dtypes", []), _missing_reason(missing),
                                b.description))
            continue
        try:
            loaded = resolve(name)
        except CandidateLoadError as exc:
            rows.append(Listing(name, False, [], [], str(exc), b.description))
            continue
        d = loaded.info.to_dict()
        rows.append(Listing(name, True, d["features"], d["dtypes"], "", b.description or loaded.description))
    for name in sorted(_entry_points()):
        if name in BUILTINS:
            continue
        try:
            loaded = resolve(name)
        except CandidateLoadError as exc:
            rows.append(Listing(name, False, [], [], str(exc), "plugin"))
            continue
        d = loaded.info.to_dict()
        rows.append(Listing(name, True, d["features"], d["dtypes"], "", loaded.description or "plugin"))
    return rows
