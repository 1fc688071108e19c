"""Hypothesis example databases: stable keys, the Redis-backed shared database, replay counting.

Hypothesis keys a database by a digest of the test function's source.  ``check``
builds its test dynamically, so that digest would be the same for every
candidate and every feature/dtype slice (and would change whenever the runner's
source is edited): one candidate's replay would then delete another's stored
failures.  :func:`database_key` keys entries by what they mean instead:
``(target, features, dtypes)``.

Nothing here imports TensorFlow; ``redis`` is imported only for ``redis://`` URLs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterable
from typing import Any

from conformance.spec import InvalidArgument, read_regular

#: Bump when the meaning of stored choices changes incompatibly (a different case strategy layout).
KEY_VERSION = 1
#: Prefix of every key this project writes in a Redis database (others may share the server).
REDIS_KEY_PREFIX = b"lstm-conformance:"
#: The largest directory-database entry :func:`open_database`'s database hands out (Hypothesis
#: entries are choice sequences of a few hundred bytes to a few KiB; anything bigger is not one).
MAX_ENTRY_BYTES = 1 << 20


def database_key(
    target: str, features: Collection[str], dtypes: Collection[str], generation: str = "seeded"
) -> bytes:
    """The example-database key of one candidate restricted to one feature/dtype slice.

    Stable across processes, machines and edits of the runner, so a failure found
    by any run (or any worker sharing a Redis database) is replayed by the next run
    of the same slice.  ``generation`` (conformance.run._runner.GENERATIONS) is part of the key:
    the two draw cases from different choice sequences.
    """
    blob = json.dumps({"v": KEY_VERSION, "target": str(target), "features": sorted(features),
                       "dtypes": sorted(dtypes), "generation": generation}, sort_keys=True)
    return hashlib.sha384(blob.encode()).digest()


def redis_database(url: str, *, expire_days: float = 30.0, warn: Callable[[str], None] | None = None) -> Any:
    """A ``RedisExampleDatabase`` for ``redis://HOST:PORT/N``; InvalidArgument if it cannot be reached.

    Entries of a slice that no run touched for ``expire_days`` expire (Hypothesis's
    default is 8 days, too short for a nightly job that skips a week-end and a holiday).
    The database is a cache: should Redis go away later, the run carries on without it, says so
    once through ``warn`` (default: a stderr line) and uses it again once it is back (:data:`RETRY_SECONDS`).
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "redis" or not parsed.hostname:
        raise InvalidArgument(f"--db {url!r}: expected redis://HOST:PORT/N")
    try:
        port = parsed.port
    except ValueError:
        raise InvalidArgument(f"--db {url!r}: the port is not a number") from None
    path = parsed.path.strip("/")
    if path and not path.isdigit():
        raise InvalidArgument(f"--db {url!r}: the database number {path!r} is not an integer")
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError:
        raise InvalidArgument(
            f"--db {url!r} needs the redis client: pip install 'lstm-conformance[redis]'"
        ) from None
    from datetime import timedelta

    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        raise InvalidArgument(f"--db {url!r}: cannot reach Redis at {parsed.hostname}:{port or 6379} ({exc})") from None
    if warn is None:
        from conformance.run._corpus import warn_stderr

        warn = warn_stderr
    inner = RedisExampleDatabase(client, expire_after=timedelta(days=expire_days), key_prefix=REDIS_KEY_PREFIX)
    return _cache_class()(inner, describe_database(url) or url, redis.exceptions.RedisError, warn)


def describe_database(spec: Any) -> str | None:
    """How a database spec is shown in reports: a path or a URL without its password."""
    if spec is None:
        return None
    text = str(spec)
    if text.startswith("redis://"):
        parts = urllib.parse.urlsplit(text)
        if parts.password:
            netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
            text = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return text


def stored_failures(db: Any, key: bytes) -> int:
    """How many failing examples ``db`` holds for ``key`` (Hypothesis keeps only failures under the bare key)."""
    if db is None:
        return 0
    return sum(1 for _ in db.fetch(key))


def counting_database(inner: Any) -> Any:
    """Wrap an ExampleDatabase so it counts, per key, how many stored examples it handed out.

    The runner's Hypothesis test reads a slice's stored failures with ``fetch(key)``
    before generating anything; the count (``.fetched[key]``) tells a report whether
    a failure came from the database (a previous run, or another worker sharing it)
    rather than from search.
    """
    return _counting_class()(inner)


# The database classes below are built on first use (subclassing Hypothesis' classes needs Hypothesis
# imported, which `--help` and the pytest plugin avoid); functools.cache keeps the one class built.


@functools.cache
def _counting_class() -> type:
    from hypothesis.database import ExampleDatabase

    class _Counting(ExampleDatabase):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            self.fetched: dict[bytes, int] = {}

        def __repr__(self) -> str:
            return f"CountingDatabase({self.inner!r})"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, _Counting) and self.inner == other.inner

        def __hash__(self) -> int:
            return id(self)

        def fetch(self, key: bytes) -> Iterable[bytes]:
            for value in self.inner.fetch(key):
                self.fetched[key] = self.fetched.get(key, 0) + 1
                yield value

        def save(self, key: bytes, value: bytes) -> None:
            self.inner.save(key, value)

        def delete(self, key: bytes, value: bytes) -> None:
            self.inner.delete(key, value)

        def move(self, src: bytes, dest: bytes, value: bytes) -> None:
            self.inner.move(src, dest, value)

    return _Counting


def open_database(spec: Any, *, warn: Callable[[str], None] | None = None) -> Any:
    """None -> no database; a path -> directory database; ``redis://`` -> Redis (``warn``: see
    :func:`redis_database`); an ExampleDatabase as is."""
    if spec is None:
        return None
    from hypothesis.database import ExampleDatabase

    if isinstance(spec, ExampleDatabase):
        return spec
    text = str(spec)
    if text.startswith("redis://"):
        return redis_database(text, warn=warn)
    if os.path.exists(text) and not os.path.isdir(text):
        raise InvalidArgument(f"--db {text!r} is not a directory")
    return _bounded_directory_class()(text)


#: While Redis is away, the shortest wait between tries to reach it again.
RETRY_SECONDS = 3.0
#: A try that failed slowly (a connect timeout) waits this many times as long before the next one,
#: so a host that is down costs the run at most about a tenth of its time ...
RETRY_COST_FACTOR = 10.0
#: ... and is tried at least this often.
MAX_RETRY_SECONDS = 60.0


@functools.cache
def _cache_class() -> type:
    from hypothesis.database import ExampleDatabase

    class CacheDatabase(ExampleDatabase):
        """A database that may go away: an operation that fails with ``errors`` (Redis unreachable)
        does nothing (a fetch hands out nothing) instead of failing the run.  The first failure is said
        once through ``warn``; while the server stays away it is tried again only every few seconds
        (:data:`RETRY_SECONDS`, longer when a try itself is slow), so a run does not wait on it per
        example; once an operation succeeds again that is said once too."""

        def __init__(self, inner: Any, where: str, errors: type[BaseException], warn: Callable[[str], None]) -> None:
            super().__init__()
            self.inner, self.where, self.errors, self.warn = inner, where, errors, warn
            self.down = False
            self.retry_at = 0.0
            self.said: set[str] = set()

        def __repr__(self) -> str:
            return f"CacheDatabase({self.inner!r})"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, CacheDatabase) and self.inner == other.inner

        def __hash__(self) -> int:
            return id(self)

        def _say_once(self, what: str, message: str) -> None:
            if what not in self.said:
                self.said.add(what)
                self.warn(message)

        def _call(self, operation: Callable[[], Any], default: Any) -> Any:
            if self.down and time.monotonic() < self.retry_at:
                return default
            started = time.monotonic()
            try:
                out = operation()
            except self.errors as exc:
                now = time.monotonic()
                self.down = True
                self.retry_at = now + min(MAX_RETRY_SECONDS, max(RETRY_SECONDS, RETRY_COST_FACTOR * (now - started)))
                reason = " ".join(str(exc).split()) or type(exc).__name__
                self._say_once("down", f"example database {self.where}: unreachable ({reason}); carrying on "
                                       "without it (it is a cache) and reconnecting when it is back")
                return default
            if self.down:
                self.down = False
                self._say_once("back", f"example database {self.where}: reachable again, using it")
            return out

        def fetch(self, key: bytes) -> Iterable[bytes]:
            yield from self._call(lambda: list(self.inner.fetch(key)), [])

        def save(self, key: bytes, value: bytes) -> None:
            self._call(lambda: self.inner.save(key, value), None)

        def delete(self, key: bytes, value: bytes) -> None:
            self._call(lambda: self.inner.delete(key, value), None)

        def move(self, src: bytes, dest: bytes, value: bytes) -> None:
            self._call(lambda: self.inner.move(src, dest, value), None)

    return CacheDatabase


@functools.cache
def _bounded_directory_class() -> type:
    from hypothesis.database import DirectoryBasedExampleDatabase

    class BoundedDirectoryDatabase(DirectoryBasedExampleDatabase):
        """A DirectoryBasedExampleDatabase whose ``fetch`` hands out only regular files of at most
        :data:`MAX_ENTRY_BYTES`: an entry that is a FIFO, a device (a symlink to ``/dev/zero``) or
        a huge file is skipped instead of blocking the run or reading until memory runs out."""

        def __repr__(self) -> str:
            return f"BoundedDirectoryDatabase({self.path!r})"

        def fetch(self, key: bytes) -> Iterable[bytes]:
            kp = self._key_path(key)
            try:
                names = os.listdir(kp)
            except OSError:  # no entries yet, or the directory went away
                return
            for name in names:
                try:
                    yield read_regular(kp / name, MAX_ENTRY_BYTES)
                except InvalidArgument:
                    continue

    return BoundedDirectoryDatabase


__all__ = ["counting_database", "database_key", "describe_database", "open_database", "redis_database",
           "stored_failures"]
