"""Candidates whose returned arrays would crash a careless harness (issue 17 item 17)."""
import numpy as np
from conformance import candidate
@candidate(features=[], dtypes=["float32"])
def strings(case):
    B, T, H = case.batch, case.time, case.config.num_units
    return np.full((B, T, H), "x"), (np.full((B, H), "x"), np.full((B, H), "x"))
@candidate(features=[], dtypes=["float32"])
def huge(case):
    B, T, H = case.batch, case.time, case.config.num_units
    big = np.broadcast_to(np.float32(0), (B, T, 10**10))
    return big, (np.zeros((B, H), np.float32), np.zeros((B, H), np.float32))
