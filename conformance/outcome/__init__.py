"""What runs found, as typed, frozen results: the data reports are written from."""

from conformance.outcome._check import SOURCES, CheckResult, Counterexample, Progress

__all__ = ["SOURCES", "CheckResult", "Counterexample", "Progress"]
