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


@candidate(name="sometimes-wrong", dtypes=["float32"], features=[])
def sometimes_wrong(case):
    """Right, except one call in 30 at random (np.random), when it drops the forget bias (issue 17 item 5)."""
    import numpy as np

    from conformance.candidates import resolve

    outputs, (c, h) = resolve("numpy-reference").fn(case)
    if np.random.random() < 1 / 30:
        return resolve("seed-missing-forget-bias").fn(case)
    return outputs, (c, h)


@candidate(name="sometimes-wrong-stdlib", dtypes=["float32"], features=[])
def sometimes_wrong_stdlib(case):
    """As sometimes-wrong, with the standard library's random."""
    import random

    from conformance.candidates import resolve

    if random.random() < 1 / 30:
        return resolve("seed-missing-forget-bias").fn(case)
    return resolve("numpy-reference").fn(case)


@candidate(name="exits", dtypes=["float32"], features=[])
def exits(case):
    """Calls os._exit(0) on its third call (issue 17 item 6)."""
    import os

    exits.calls = getattr(exits, "calls", 0) + 1
    if exits.calls >= 3:
        os._exit(0)
    from conformance.candidates import resolve

    return resolve("numpy-reference").fn(case)


@candidate(name="env-probe", dtypes=["float32"], features=[])
def env_probe(case):
    """Fails, saying what TF environment it runs in (issue 17 item 7: the same in-process and isolated)."""
    import os

    names = ("TF_USE_LEGACY_KERAS", "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")
    raise RuntimeError("env " + " ".join(f"{n}={os.environ.get(n)}" for n in names))
