"""Conformance as assertions in your own tests: :func:`assert_conformant` and a public :class:`Oracle`.

::

    from hypothesis import given
    import strategies
    from conformance.testing import assert_conformant

    @given(strategies.cases(dtypes=["float32"]))
    def test_my_lstm(lstm_oracle, case):          # lstm_oracle: a fixture of the pytest plugin
        assert_conformant(my_lstm, case, oracle=lstm_oracle)

The verdict is the one ``check`` reaches on the same case: TensorFlow's ``LSTMCell`` computes the
expected outputs [B, T, P] and final state c [B, H], h [B, P] (gate order i, j, f, o), and the
judge (the per-dtype tolerances plus the rounding model) compares them.  TensorFlow is imported
when the first case runs, not when this module is imported.
"""

from __future__ import annotations

import typing as _t
from collections import abc as _abc

# Packages, not names: this module's public surface is exactly its __all__.
from conformance import candidates as _candidates
from conformance import judge as _judge
from conformance import oracle as _oracle
from conformance import outcome as _outcome
from conformance import spec as _spec

__all__ = ["Oracle", "assert_conformant"]


class Oracle(_oracle.TFOracle):
    """TensorFlow's ``tf.compat.v1.nn.rnn_cell.LSTMCell``, the reference every candidate is judged against.

    ``run(case) -> Result`` (outputs [B, T, P], c [B, H], h [B, P], in the case's dtype, batch-major);
    ``submit(case)`` starts a run on the oracle's own thread and returns at once. It builds one graph per
    dtype (and layout and network shape) on first use and keeps it; ``close()`` (or leaving ``with Oracle() as o:``)
    gives the graphs, sessions and thread back. Each ``Oracle()`` owns its own; :func:`assert_conformant`
    without ``oracle=`` uses the process-wide one ``check`` uses.
    """

    def __enter__(self) -> Oracle:
        super().__enter__()
        return self


def assert_conformant(
    candidate: _t.Any,
    case: _spec.Case,
    *,
    tolerances: _abc.Mapping[str, _judge.Tolerance] | None = None,
    oracle: _t.Any = None,
) -> _judge.Comparison:
    """Raise AssertionError unless ``candidate`` computes what TensorFlow's LSTMCell computes on ``case``.

    ``candidate``: a callable ``fn(case) -> (outputs, (c, h))`` (decorated with ``@candidate`` or not), a
    module holding one ``@candidate`` function, or a target string (``"numpy-reference"``, ``"my_lstm:fn"``).
    ``tolerances``: per-dtype :class:`~conformance.Tolerance` overrides (the rest keep the defaults);
    ``oracle``: an :class:`Oracle` (default: the process-wide one). The message names the first failing
    element (array, index, time step, row and its length, layer and direction where they apply), what the
    candidate returned, what was expected and the allowed error; a crash, a wrong shape or dtype, or a
    mutated input is a failure too. Returns the passing :class:`~conformance.Comparison`.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this function's
    if not isinstance(case, _spec.Case):
        raise _spec.InvalidArgument(f"case={case!r} is not a conformance.Case")
    loaded = _candidates.resolve(candidate)
    evaluation = _judge.evaluate(case, _candidates.InProcessExecutor(loaded),
                                 oracle if oracle is not None else _oracle.default_oracle(),
                                 judge=_judge.Judge.from_tolerances(tolerances))
    cmp = evaluation.comparison
    if cmp.passed:
        return cmp
    raise AssertionError(f"{loaded.name} does not conform to TensorFlow's LSTMCell: {cmp.kind}: {cmp.message}\n"
                         f"  case: {_outcome.case_summary(case)}")
