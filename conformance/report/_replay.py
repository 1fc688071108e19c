"""Replay commands that work from any directory.

A target such as ``torch_port:lstm`` imports from the directory the run started in, and
``port.py:lstm`` or ``exec:./a.out`` name paths relative to it: a replay command printed as
``lstm-conformance repro reports/counterexample.npz torch_port:lstm`` fails anywhere else.  So the
command carries absolute paths, and what the target needs to load is recorded beside the case
(the ``replay`` object of the counterexample's ``.json``):

* ``import_path``: the ``sys.path`` entry a ``module:attr`` target's module was imported from
  (``repro --path DIR``), unless it is one every interpreter has (site-packages, the stdlib);
* ``target``: a ``path/file.py:attr`` target with its path made absolute;
* ``cwd``: the directory an ``exec:`` command ran in (``repro --cwd DIR``).
"""

from __future__ import annotations

import os
import shlex
import sys
import sysconfig
from typing import Any


def _standard_paths() -> list[str]:
    paths = sysconfig.get_paths()
    found = [paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    return [os.path.realpath(p) for p in found if p]


def _inside(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _module_entry(module_name: str) -> str | None:
    """The sys.path entry ``module_name`` (imported in this process) was found under, or None."""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    entry = os.path.dirname(os.path.abspath(file))
    # A package's directory is the last part of its name; a module file's directory holds it.
    package = os.path.basename(file).startswith("__init__.")
    for _ in range(len(module_name.split(".")) - (0 if package else 1)):
        entry = os.path.dirname(entry)
    return entry


def replay_context(target: str | None) -> dict[str, Any]:
    """What ``target`` needs to load from another directory (see the module docstring); {} for names.

    Reads this process's ``sys.modules`` and working directory: call it where the target was resolved.
    """
    if not target:
        return {}
    if target.startswith("exec:"):
        return {"cwd": os.getcwd()}
    if ":" not in target:
        return {}  # a built-in or plugin name: installed, found from anywhere
    left, _, attr = target.rpartition(":")
    if left.endswith(".py") or os.sep in left:
        return {"target": f"{os.path.abspath(left)}:{attr}"}
    entry = _module_entry(left)
    if entry is None or _inside(entry, _standard_paths()):
        return {}
    return {"import_path": entry}


def replay_command(path: str, target: str | None, context: dict[str, Any] | None = None) -> str:
    """``lstm-conformance repro /abs/case.npz TARGET [--path DIR] [--cwd DIR]``, runnable from anywhere.

    ``context``: what :func:`replay_context` recorded (a counterexample's ``replay``); None computes it here.
    """
    ctx = replay_context(target) if context is None else context
    words = ["lstm-conformance", "repro", os.path.abspath(path)]
    if target:
        words.append(str(ctx.get("target") or target))
    if ctx.get("import_path"):
        words += ["--path", str(ctx["import_path"])]
    if ctx.get("cwd"):
        words += ["--cwd", str(ctx["cwd"])]
    return " ".join(shlex.quote(w) for w in words)
