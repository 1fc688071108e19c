"""One check run: options, the Hypothesis-driven lifecycle, post-minimisation, workers, the example
database and the regression corpus."""

from conformance.run._corpus import (
    CorpusEntry,
    add_to_corpus,
    case_digest,
    check_corpus_dir,
    check_with_corpus,
    entry_stem,
    load_corpus,
    replay_cases,
    select,
    warn_stderr,
)
from conformance.run._database import (
    KEY_VERSION,
    REDIS_KEY_PREFIX,
    counting_database,
    database_key,
    describe_database,
    open_database,
    redis_database,
    stored_failures,
)
from conformance.run._finish import (
    finish_counterexample,
)
from conformance.run._minimize import (
    minimize,
    simplicity_key,
)
from conformance.run._options import (
    GENERATIONS,
    SEEDED_BATCH,
    CheckOptions,
    executor_limits,
)
from conformance.run._parallel import (
    AUTO_EXAMPLES_PER_WORKER,
    GRACE_SECONDS,
    auto_workers,
    check_parallel,
    dtype_shards,
    split_examples,
    worker_seeds,
)
from conformance.run._runner import (
    Nonconformance,
    check,
)
from conformance.run._scope import (
    MAX_LONG_TIME,
    Scope,
    cases_for,
    narrowed,
    scope,
)
from conformance.run._threads import (
    THREAD_VARIABLES,
    pools_beside_the_oracle,
)

__all__ = [
    "AUTO_EXAMPLES_PER_WORKER",
    "CheckOptions",
    "CorpusEntry",
    "GENERATIONS",
    "GRACE_SECONDS",
    "KEY_VERSION",
    "MAX_LONG_TIME",
    "Nonconformance",
    "REDIS_KEY_PREFIX",
    "SEEDED_BATCH",
    "Scope",
    "THREAD_VARIABLES",
    "add_to_corpus",
    "auto_workers",
    "case_digest",
    "cases_for",
    "check",
    "check_corpus_dir",
    "check_parallel",
    "check_with_corpus",
    "counting_database",
    "database_key",
    "describe_database",
    "entry_stem",
    "executor_limits",
    "finish_counterexample",
    "load_corpus",
    "minimize",
    "narrowed",
    "open_database",
    "pools_beside_the_oracle",
    "redis_database",
    "replay_cases",
    "scope",
    "select",
    "simplicity_key",
    "dtype_shards",
    "split_examples",
    "stored_failures",
    "warn_stderr",
    "worker_seeds",
]
