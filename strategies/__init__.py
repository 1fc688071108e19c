"""Hypothesis strategies for LSTM conformance cases (no TensorFlow, no candidates)."""

from strategies._arrays import INPUT_SCALES, WEIGHT_SCALES, lstm_arrays
from strategies._cases import cases, configs, initial_states, input_sequences, params
from strategies._seeded import CaseBatch, seeded_cases
from strategies._sizes import BOUNDARIES, Tail

__all__ = [
    "BOUNDARIES",
    "CaseBatch",
    "INPUT_SCALES",
    "WEIGHT_SCALES",
    "cases",
    "configs",
    "initial_states",
    "input_sequences",
    "lstm_arrays",
    "params",
    "Tail",
    "seeded_cases",
]
