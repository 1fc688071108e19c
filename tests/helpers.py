"""Assertion helpers whose failures say which array, which index, got vs expected and at which step."""

from __future__ import annotations

import subprocess
import sys

import numpy as np


def assert_close(got: np.ndarray, expected: np.ndarray, *, atol: float, rtol: float, label: str) -> None:
    """Fail with the first offending index (and time step for [B, T, P] arrays), got vs expected."""
    got64 = np.asarray(got, dtype=np.float64)
    exp64 = np.asarray(expected, dtype=np.float64)
    assert got64.shape == exp64.shape, f"{label}: shape {got64.shape} != expected {exp64.shape}"
    bad = ~(np.abs(got64 - exp64) <= atol + rtol * np.abs(exp64))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        step = f" (time step {idx[1]})" if got64.ndim == 3 else ""
        raise AssertionError(
            f"{label}{list(idx)}{step}: got {got64[idx]!r}, expected {exp64[idx]!r} "
            f"(|diff| {abs(got64[idx] - exp64[idx]):.3g} > {atol} + {rtol}*|expected|; "
            f"{int(bad.sum())} of {bad.size} elements off)"
        )


def assert_results_close(got, expected, *, atol: float, rtol: float, label: str) -> None:
    for name in ("outputs", "c", "h"):
        assert_close(got.arrays()[name], expected.arrays()[name], atol=atol, rtol=rtol, label=f"{label}.{name}")


def run_cli(*args: str, cwd=None, timeout: float = 600, env=None) -> subprocess.CompletedProcess:
    """Run ``lstm-conformance ARGS`` in a fresh interpreter; returns the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env=env,
    )
