"""The oracle's graphs kept on disk, so that a process loads in ~0.1 s what it took ~0.35 s of Python to build.

Building one of the oracle's graphs (conformance/oracle/_graph.py, _sequence.py, _network.py) is mostly
Python: TF's ``LSTMCell``, ``dynamic_rnn`` and ``MultiRNNCell`` creating a few hundred ops one by one.  A
run builds a few dozen of them, every process again: a worker, the next run, each test.  The ``GraphDef``
TF made of them is written here once and imported by later processes (``import_graph_def`` is C++), with
the names of the two feeds and the fetches; the Session and its callable are made as for a built graph.

What makes a stored graph the graph this process would build:

* the directory is per *fingerprint*: TensorFlow's and tf-keras' versions and the source of the modules
  that build the graphs (and of this one), so a new TF, tf-keras or a change to how the graphs are built
  starts a new directory and nothing stale is ever read;
* an entry is named by the graph's key (dtype, layout, network shape, exact structure) and holds the key
  and the sha256 of its ``GraphDef``; an entry that does not read back exactly (truncated, edited, another
  key) is not used: the graph is built and the entry written again;
* entries are written to a temporary file and renamed, so concurrent processes (workers) never read a
  half-written one.

``LSTM_CONFORMANCE_GRAPH_CACHE``: the directory to use instead of ``$XDG_CACHE_HOME/lstm-conformance/graphs``
(default ``~/.cache/lstm-conformance/graphs``), or ``off`` to build every graph in every process.  The cache
only saves time: when it cannot be read or written the oracle builds as it would without it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from conformance.oracle._graph import open_session
from conformance.oracle._tf import import_tensorflow, tf_environment

#: The environment variable naming the cache directory, or switching it off.
CACHE_ENV = "LSTM_CONFORMANCE_GRAPH_CACHE"
_OFF = frozenset({"", "0", "off", "no", "false", "none"})
#: The modules whose source decides what a graph is (their bytes are part of the fingerprint).
_BUILDERS = ("_graph.py", "_sequence.py", "_network.py", "_tf.py", "_cache.py")


def graph_cache_dir() -> Path | None:
    """The directory graphs are kept in (before the fingerprint), or None when the cache is off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lstm-conformance" / "graphs"


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """What a stored graph must have been built with: TF's and tf-keras' versions, the environment TF is imported
    under and the builders' source."""
    tf = import_tensorflow()
    digest = hashlib.sha256(f"tf {tf.__version__}".encode())
    try:
        from importlib.metadata import version

        digest.update(f"tf-keras {version('tf-keras')}".encode())
    except Exception:  # pragma: no cover - tf-keras is a dependency; without it the cells do not exist
        digest.update(b"tf-keras ?")
    # The environment TF is imported under (tf-keras's legacy cells, oneDNN): the user may set it otherwise.
    digest.update(repr(sorted(tf_environment().items())).encode())
    here = Path(__file__).parent
    for name in _BUILDERS:
        digest.update(name.encode() + (here / name).read_bytes())
    return digest.hexdigest()[:20]


def _entry(key: tuple) -> Path | None:
    base = graph_cache_dir()
    if base is None:
        return None
    return base / fingerprint() / (hashlib.sha256(repr(key).encode()).hexdigest()[:32] + ".graph")


class StoredGraph:
    """A graph imported from the cache; runs like the graph class that built it (same feeds, same fetches)."""

    def __init__(self, graph_def: Any, feeds: list[str], fetches: list[str], single: bool):
        tf = import_tensorflow()
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self.single = single
        self.session, self._callable = open_session(
            self.graph, [self.graph.get_tensor_by_name(n) for n in feeds],
            [self.graph.get_tensor_by_name(n) for n in fetches])

    def run(self, floats: np.ndarray, ints: np.ndarray) -> Any:
        out = self._callable(floats, ints)
        return out[0] if self.single else out

    def close(self) -> None:
        self._callable = None
        self.session.close()


def load_graph(key: tuple) -> StoredGraph | None:
    """The graph of ``key`` from the cache, or None (cache off, no entry, or an entry that does not read back)."""
    path = _entry(key)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        head, _, body = data.partition(b"\n")
        meta = json.loads(head)
        if meta.get("key") != repr(key) or meta.get("sha256") != hashlib.sha256(body).hexdigest():
            return None
        tf = import_tensorflow()
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(body)
        return StoredGraph(graph_def, list(meta["feeds"]), list(meta["fetches"]), bool(meta["single"]))
    except Exception:  # unreadable: built instead, and written again
        return None


def store_graph(key: tuple, graph: Any) -> None:
    """Write a built graph (``graph.graph``, ``graph.signature``: feed names, fetch names, single fetch) to the
    cache; quietly nothing when the cache is off or cannot be written."""
    path = _entry(key)
    if path is None:
        return
    feeds, fetches, single = graph.signature
    try:
        body = graph.graph.as_graph_def().SerializeToString()
        head = json.dumps({"key": repr(key), "sha256": hashlib.sha256(body).hexdigest(), "feeds": feeds,
                           "fetches": fetches, "single": single}).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".graph")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(head + b"\n" + body)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except Exception:  # noqa: BLE001 - the cache only saves time: a graph that cannot be stored is built again
        return

