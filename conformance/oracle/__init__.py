"""The oracle: real TensorFlow running the real legacy ``LSTMCell`` (imported lazily).

``_tf.py`` imports TF; ``_graph.py`` builds the one graph per dtype (activation fed) and packs its
feeds; ``_oracle.py`` holds :class:`TFOracle` (which owns its graphs, lock, thread and switch
interval, and gives them back on ``close()``) and the process-wide :func:`default_oracle`;
``_sequence.py`` and ``_network.py`` the dynamic_rnn graphs for row lengths and time-major inputs and
for stacked and bidirectional networks; ``_eager.py`` :class:`EagerOracle`, the cross-check;
``_protocol.py`` the Protocols the harness needs of an oracle.
"""

from conformance.oracle._eager import EagerOracle
from conformance.oracle._graph import UNROLL, pack_case, unpack_result
from conformance.oracle._oracle import (
    PendingRun,
    TFOracle,
    default_oracle,
    reset_default_oracle,
)
from conformance.oracle._preload import (
    preloading,
    wait_for_preload,
)
from conformance.oracle._protocol import (
    Oracle,
    PendingResult,
    SubmittingOracle,
)
from conformance.oracle._tf import (
    TF_ENVIRONMENT,
    apply_tf_environment,
    import_tensorflow,
    tensorflow_version,
    tf_environment,
)

__all__ = [
    "EagerOracle",
    "Oracle",
    "PendingResult",
    "PendingRun",
    "SubmittingOracle",
    "TFOracle",
    "UNROLL",
    "default_oracle",
    "import_tensorflow",
    "apply_tf_environment",
    "tf_environment",
    "TF_ENVIRONMENT",
    "pack_case",
    "preloading",
    "reset_default_oracle",
    "tensorflow_version",
    "unpack_result",
    "wait_for_preload",
]
