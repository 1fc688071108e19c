"""Shared fixtures: one TF oracle per test process, Hypothesis profiles with small example counts."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "tests", max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
settings.register_profile(
    "nightly", max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
settings.load_profile(os.environ.get("LSTM_CONFORMANCE_PROFILE", "tests"))


@pytest.fixture(scope="session")
def oracle():
    from conformance._oracle import default_oracle

    return default_oracle()
