"""The graph cache (conformance/oracle/_cache.py): a graph imported from disk runs bit for bit as the graph
built in this process; an entry that does not read back is never used; the cache off or unwritable changes
nothing but the time.  Counts and equalities only (benchmarks/overhead.py measures the time)."""

from __future__ import annotations

import numpy as np
import pytest

import strategies
from conformance.oracle import TFOracle
from conformance.spec import Case, LSTMConfig, LSTMParams, zero_state

#: Cases for every kind of graph: the fast one, dynamic_rnn (lengths, time-major), networks, and the
#: exact-structure graph of a float16 relu case that overflows.
_FEATURES = ["sequence_length", "time_major", "stacked", "bidirectional", "peepholes", "projection", "activation"]


def _cases() -> list[Case]:
    import hypothesis

    drawn: list[Case] = []

    @hypothesis.settings(max_examples=6, database=None, derandomize=True)
    @hypothesis.given(strategies.seeded_cases(count=6, features=_FEATURES, dtypes=["float16", "float32"],
                                              max_batch=3, max_time=6, max_units=5, max_input_size=4,
                                              long_sequences=False))
    def draw(batch):
        drawn.extend(batch)

    draw()
    cfg = LSTMConfig(num_units=2, input_size=1, dtype="float16", activation="relu")
    kernel = np.zeros((3, 8), np.float16)
    kernel[0, 2:4] = 1000  # 1000 * 100 overflows float16: re-run on the case's own structure
    drawn.append(Case(cfg, LSTMParams(kernel=kernel, bias=np.full(8, 5, np.float16)),
                      np.full((1, 3, 1), 100, np.float16), zero_state(cfg, 1)).validate())
    return drawn


def _bits(result) -> dict[str, bytes]:
    return {name: np.ascontiguousarray(array).tobytes() for name, array in result.arrays().items()}


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTM_CONFORMANCE_GRAPH_CACHE", str(tmp_path / "graphs"))
    return tmp_path / "graphs"


def _run_all(cases: list[Case]) -> tuple[TFOracle, list[dict[str, bytes]]]:
    oracle = TFOracle()
    try:
        return oracle, [_bits(oracle.run(case)) for case in cases]
    finally:
        oracle.close()


def test_a_loaded_graph_computes_bit_for_bit_what_the_built_one_did(cache):
    cases = _cases()
    assert any(not c.single_cell for c in cases) and any(c.sequence_length is not None for c in cases), (
        "the cases should reach the network and sequence graphs")
    built, want = _run_all(cases)
    assert built.graph_loads == 0 and built.graph_builds >= 4, (built.graph_builds, built.graph_loads)
    assert built.exact_structure_runs == 1, "the overflowing case should need its own structure's graph"
    entries = sorted(cache.rglob("*.graph"))
    assert len(entries) == built.graph_builds, f"{built.graph_builds} graphs built, {len(entries)} stored"
    loaded, got = _run_all(cases)
    assert loaded.graph_loads == loaded.graph_builds == built.graph_builds, (loaded.graph_builds, loaded.graph_loads)
    for i, (case, a, b) in enumerate(zip(cases, want, got)):
        for name in a:
            assert a[name] == b[name], f"case {i} ({case.describe()}): {name} differs between built and loaded graph"


@pytest.mark.parametrize("damage", ["truncate", "flip", "other key"])
def test_an_entry_that_does_not_read_back_is_rebuilt_and_written_again(cache, damage):
    case = _cases()[0]
    first, want = _run_all([case])
    [entry] = sorted(cache.rglob("*.graph"))
    data = entry.read_bytes()
    head, _, body = data.partition(b"\n")
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        entry.write_bytes(head + b"\n" + body[:-1] + bytes([body[-1] ^ 1]))
    else:
        entry.write_bytes(head.replace(b"float", b"fl0at", 1) + b"\n" + body)
    second, got = _run_all([case])
    assert second.graph_loads == 0 and second.graph_builds == 1, (damage, second.graph_builds, second.graph_loads)
    assert got == want, f"{damage}: the rebuilt graph's result differs"
    third, _ = _run_all([case])
    assert third.graph_loads == 1, f"{damage}: the rewritten entry should load"


def test_the_cache_off_or_unwritable_only_costs_time(tmp_path, monkeypatch):
    case = _cases()[0]
    monkeypatch.setenv("LSTM_CONFORMANCE_GRAPH_CACHE", "off")
    oracle, want = _run_all([case])
    assert oracle.graph_builds == 1 and oracle.graph_loads == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LSTM_CONFORMANCE_GRAPH_CACHE", str(blocker))  # mkdir under a file fails
    oracle, got = _run_all([case])
    assert oracle.graph_builds == 1 and oracle.graph_loads == 0 and got == want
    assert blocker.read_text() == "not a directory"
