"""The house rules of the package layout (docs/architecture.md), checked on the source itself.

* each stage is a subpackage; a module may import only the subpackages below its own
  (:data:`ALLOWED`), lazily or not, under TYPE_CHECKING or not;
* nothing outside a subpackage imports its ``_``-prefixed modules or any ``_`` name;
* nothing imports ``conformance.cli`` but ``python -m conformance``;
* each public package's ``__all__`` is exactly what it exports, and every name resolves.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Subpackage -> the subpackages (and flat modules) it may import, besides itself.
ALLOWED: dict[str, set[str]] = {
    "spec": set(),
    "strategies": {"spec"},
    "oracle": {"spec"},
    "candidates": {"spec", "oracle"},
    "judge": {"spec", "oracle", "candidates"},
    "diagnose": {"spec", "oracle", "candidates", "judge"},
    "outcome": {"spec", "candidates", "judge", "diagnose"},
    "report": {"spec", "candidates", "judge", "diagnose", "outcome", "_version"},
    "run": {"spec", "strategies", "oracle", "candidates", "judge", "diagnose", "outcome", "report"},
    "campaign": {"spec", "strategies", "oracle", "candidates", "judge", "diagnose", "outcome", "report", "run",
                 "_version"},
    "cli": {"spec", "strategies", "oracle", "candidates", "judge", "diagnose", "outcome", "report", "run",
            "campaign", "_version"},
    "pytest_plugin": {"spec", "candidates", "outcome", "run", "report", "testing"},
    "testing": {"spec", "oracle", "candidates", "judge", "outcome"},
    "_version": set(),
    "__init__": {"spec", "oracle", "candidates", "judge", "diagnose", "outcome", "run", "campaign", "_version"},
    "__main__": {"cli"},
}

PUBLIC_PACKAGES = ["conformance", "strategies"] + [f"conformance.{p}" for p in
                                                   ("spec", "oracle", "candidates", "judge", "diagnose", "outcome",
                                                    "report", "run", "campaign", "cli", "testing")]


def _sources() -> list[pathlib.Path]:
    return sorted([*ROOT.joinpath("conformance").rglob("*.py"), *ROOT.joinpath("strategies").rglob("*.py")])


def _unit(path: pathlib.Path) -> str:
    """The layer a source file belongs to: its subpackage, or the flat module's name."""
    rel = path.relative_to(ROOT).parts
    if rel[0] == "strategies":
        return "strategies"
    return rel[1] if len(rel) > 2 else rel[1][:-3]


def _imports(path: pathlib.Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, names) of every import in the file, however deep in the code."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            out.append((node.lineno, module, [a.name for a in node.names]))
    return out


def _target_unit(module: str, names: list[str]) -> list[str]:
    parts = module.split(".")
    if parts[0] == "strategies":
        return ["strategies"]
    if parts[0] != "conformance":
        return []
    if len(parts) >= 2:
        return [parts[1]]
    return [n for n in names]  # "from conformance import x": x is the unit (a subpackage or a public name)


def _violations() -> list[str]:
    bad = []
    for path in _sources():
        unit = _unit(path)
        rel = path.relative_to(ROOT)
        for line, module, names in _imports(path):
            parts = module.split(".")
            if parts[0] not in ("conformance", "strategies"):
                continue
            where = f"{rel}:{line}: imports {module}" + (f" ({', '.join(names)})" if names else "")
            for target in _target_unit(module, names):
                if target != unit and target in ALLOWED and target not in ALLOWED.get(unit, set()):
                    bad.append(f"{where}: {unit} may not import {target}")
            own_package = parts[:2] == ["conformance", unit] or (parts[0] == "strategies" and unit == "strategies")
            private_module = any(p.startswith("_") and p not in ("__init__",) for p in parts[1:])
            if private_module and not own_package and module != "conformance._version":
                bad.append(f"{where}: a private module of another package")
            if not own_package and any(n.startswith("_") for n in names) and module != "conformance._version":
                bad.append(f"{where}: a private name of another package")
    return bad


def test_imports_follow_the_layers_and_never_reach_into_another_package():
    bad = _violations()
    assert not bad, "import contract (docs/architecture.md) broken:\n" + "\n".join(bad)


def test_the_contract_test_sees_a_violation(tmp_path, monkeypatch):
    """The checker itself: a planted spec -> run import and a private cross-package import are reported."""
    fake = tmp_path / "conformance" / "spec"
    fake.mkdir(parents=True)
    (tmp_path / "strategies").mkdir()
    (fake / "_bad.py").write_text("from conformance.run import check\nfrom conformance.judge._judge import Judge\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = _violations()
    assert any("spec may not import run" in b for b in bad), bad
    assert any("a private module of another package" in b for b in bad), bad


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_is_exactly_the_public_surface(name):
    module = importlib.import_module(name)
    declared = set(module.__all__)
    exported = {k for k, v in vars(module).items()
                if not k.startswith("_") and not isinstance(v, types.ModuleType) and k != "annotations"}
    exported |= {k for k in ("__version__",) if hasattr(module, k)}
    missing = sorted(n for n in declared if not hasattr(module, n))
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    assert declared == exported, (f"{name}.__all__ and its exports differ: not in __all__ "
                                  f"{sorted(exported - declared)}, in __all__ only {sorted(declared - exported)}")
    assert len(module.__all__) == len(declared), f"{name}.__all__ lists a name twice"


def test_no_module_is_over_400_lines():
    long = [f"{p.relative_to(ROOT)}: {n}" for p in _sources() if (n := len(p.read_text().splitlines())) > 400]
    assert not long, "modules over 400 lines:\n" + "\n".join(long)


def test_py_typed_ships():
    assert ROOT.joinpath("conformance", "py.typed").exists() and ROOT.joinpath("strategies", "py.typed").exists()
