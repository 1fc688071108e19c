"""Hypothesis strategies for LSTM conformance cases (no TensorFlow, no candidates)."""

from strategies._amortized import amortized_cases
from strategies._arrays import INPUT_SCALES, WEIGHT_SCALES, lstm_arrays
from strategies._cases import cases, configs, initial_states, input_sequences, params
from strategies._pinned import DRAWN_FEATURES, pinned_cases
from strategies._seeded import CaseBatch, seeded_cases
from strategies._sizes import BOUNDARIES, Tail

__all__ = [
    "BOUNDARIES",
    "CaseBatch",
    "DRAWN_FEATURES",
    "INPUT_SCALES",
    "WEIGHT_SCALES",
    "amortized_cases",
    "cases",
    "configs",
    "initial_states",
    "input_sequences",
    "lstm_arrays",
    "params",
    "pinned_cases",
    "Tail",
    "seeded_cases",
]
