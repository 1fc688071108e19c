"""JAX set-up shared by the Flax and Keras-on-JAX adapters."""

from __future__ import annotations

from typing import Any


def import_jax() -> Any:
    """``jax`` with 64-bit types enabled (without it, float64 arrays silently become float32)."""
    import jax

    if not jax.config.jax_enable_x64:  # type: ignore[attr-defined]
        jax.config.update("jax_enable_x64", True)
    return jax


#: Cell activations of :data:`conformance.ACTIVATIONS` by ``jax.nn`` function name.
JAX_ACTIVATIONS = {"tanh": "tanh", "sigmoid": "sigmoid", "relu": "relu", "softsign": "soft_sign"}


def activation(name: str) -> Any:
    """The ``jax.nn`` function for a cell activation name."""
    return getattr(import_jax().nn, JAX_ACTIVATIONS[name])
