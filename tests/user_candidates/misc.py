"""Small candidates for the resolution and CLI tests (importable as tests.user_candidates.misc)."""

import numpy as np

from conformance import candidate
from conformance.candidates._numpy import numpy_reference

NOT_CALLABLE = 42


class NotAnInstance:
    def __call__(self, case):
        return numpy_reference(case)


def two_args(case, extra):
    return numpy_reference(case)


def undeclared(case):
    """A correct candidate without the decorator: assumed to support everything."""
    return numpy_reference(case)


@candidate(features=[], dtypes=["float32"])
def raises(case):
    """Raises on cases longer than one step."""
    if case.time > 1:
        raise ValueError(f"cannot handle time={case.time}")
    return numpy_reference(case)


@candidate(features=[], dtypes=["float32"])
def wrong_shape(case):
    outputs, (c, h) = numpy_reference(case)
    return outputs[:, :1], (c, h)


@candidate(features=[], dtypes=["float32"])
def wrong_dtype(case):
    outputs, (c, h) = numpy_reference(case)
    return outputs.astype(np.float64), (c.astype(np.float64), h.astype(np.float64))


@candidate(features=[], dtypes=["float32"])
def returns_garbage(case):
    return "not a tuple"
