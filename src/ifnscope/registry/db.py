"""Database engines: an embedded SQLite file by default, PostgreSQL by URL.

``IFNSCOPE_DATABASE_URL`` selects the database (``postgresql+psycopg://user@host/db`` to scale
out); without it the registry is a SQLite file in the user's data directory, created on first
start. SQLite is set up for a server with many clients: write-ahead logging (readers never block
the writer), a busy timeout instead of "database is locked" errors, foreign keys on, and
``synchronous=FULL`` so that a committed visit survives a killed process or a power cut.

SQLite's Python driver commits silently before DDL, which would let a failed migration leave
half a schema behind; the engine takes over transaction control (SQLAlchemy's documented
recipe) so that a migration is one transaction on SQLite as on PostgreSQL.

Reads do not commit one by one. A read (``Registry.read``) runs in a transaction that takes no
write lock (SQLite: a plain deferred ``BEGIN``, so readers run side by side under WAL) and may not
write; what it must record (its audit event, a token's last use) is queued with :func:`defer`
and handed to the :class:`GroupCommitter`, one thread that commits the queued writes of every
request waiting at that moment in one transaction: one fsync for fifty reads instead of fifty.
The request still waits for that commit before its response is sent, so no read is answered
whose audit event is not durable. In the server, requests hand their writes to a
:class:`LoopBatcher` instead, which gathers them in the event loop and passes a whole batch to
the committer at once: handing each request's writes to the committer thread and its answer back
cost about 2 ms of CPU per read under load (threads contending for the GIL), more than the read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

ENV_URL = "IFNSCOPE_DATABASE_URL"

_READ_OPTION = "ifnscope_read"  # execution option of a read transaction's connections
_DEFERRED = "ifnscope_deferred"  # Session.info key: writes queued by a read transaction

Write = Callable[[Session], object]  # what it returns is ignored

log = logging.getLogger("ifnscope.registry")


def default_url() -> str:
    """``IFNSCOPE_DATABASE_URL``, else ``sqlite:///<user data dir>/ifnscope/registry.sqlite3``."""
    url = os.environ.get(ENV_URL)
    if url:
        return url
    from platformdirs import user_data_dir

    folder = Path(user_data_dir("ifnscope", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'registry.sqlite3'}"


def describe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds to wait for PostgreSQL to accept a connection (``IFNSCOPE_DB_CONNECT_TIMEOUT``)."""
DEFAULT_STATEMENT_TIMEOUT = 30.0
"""Seconds one PostgreSQL statement may run, waiting for locks included
(``IFNSCOPE_DB_STATEMENT_TIMEOUT``)."""


def make_engine(
    url: str | None = None,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url``. On PostgreSQL, a server that does not answer or a statement that
    runs (or waits for a lock) too long fails after the timeouts instead of holding a request
    and its database slot without end; 0 turns a timeout off."""
    url = url or default_url()
    if url.startswith("sqlite"):
        # Enough pooled connections for every concurrent reader, the writer and the group
        # commit: a connection opened beyond the pool is closed on return, and a new SQLite
        # connection re-reads the schema on its first statement (most of a read's time).
        kwargs.setdefault("pool_size", 16)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_to_json,
            **kwargs,
        )
        _sqlite_setup(engine)
    else:
        connect_args = pg_connect_args(url, connect_timeout, statement_timeout)
        connect_args.update(kwargs.pop("connect_args", {}))
        engine = create_engine(
            url, pool_pre_ping=True, connect_args=connect_args, json_serializer=_to_json, **kwargs
        )
    event.listen(engine, "before_cursor_execute", _refuse_unstorable)
    return engine


def _to_json(value: Any) -> str:
    """A JSON column's text, by pydantic-core's encoder (Rust): a visit's assessment is about
    170 KB of JSON, which ``json.dumps`` took 0.8 ms to write and this 0.3 ms. NaN and infinities
    are written as ``json.dumps`` writes them, so what is stored does not change."""
    return pydantic_core.to_json(value, inf_nan_mode="constants").decode()


_INT64 = range(-(2**63), 2**63)


def _refuse_unstorable(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool
) -> None:
    """The same answer from both databases for a value neither can hold: a NUL character or a lone
    surrogate in text (PostgreSQL refuses the first, both drivers fail to encode the second, and
    SQLite stores NUL quietly) or an integer beyond 64 bits (SQLite's driver raises a bare
    OverflowError). Raised as ``DataError``, which the web app answers with 422; the request
    types refuse all of these first, so this is the backstop for routes that forgot."""
    from sqlalchemy.exc import DataError

    from ifnscope.registry.limits import storable_problem

    rows = parameters if executemany else [parameters]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row if isinstance(row, (list, tuple)) else ()
        for v in values:
            if isinstance(v, str):
                problem = storable_problem(v)
            elif isinstance(v, int) and v not in _INT64:
                problem = "is an integer beyond 64 bits"
            else:
                continue
            if problem:
                # The statement only, never the parameters (they may be patient data).
                raise DataError(statement, None, ValueError(f"a value {problem}"), hide_parameters=True)


def pg_connect_args(url: str, connect_timeout: float, statement_timeout: float) -> dict[str, Any]:
    """libpq's ``connect_timeout`` (whole seconds, at least 2: libpq's floor) and a
    ``statement_timeout`` set at connection start (``options``, kept after any in the URL)."""
    import math

    from sqlalchemy.engine import make_url

    args: dict[str, Any] = {}
    if connect_timeout > 0:
        args["connect_timeout"] = max(2, math.ceil(connect_timeout))
    if statement_timeout > 0:
        ms = max(1, round(statement_timeout * 1000))
        given = make_url(url).query.get("options")
        given = " ".join(given) if isinstance(given, tuple) else given
        args["options"] = " ".join(filter(None, [given, f"-c statement_timeout={ms}"]))
    return args


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the engine, not pysqlite, issues BEGIN/COMMIT
        cur = dbapi_conn.cursor()
        if not engine.url.database or engine.url.database == ":memory:":
            cur.execute("PRAGMA foreign_keys=ON")
        else:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock at the start: two writers wait for each other (busy
        # timeout) instead of one failing mid-transaction when it tries to upgrade its lock.
        # Reads take no lock at all (WAL gives them a snapshot).
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_OPTION) else "BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def defer(s: Session, write: Write) -> None:
    """Run ``write(s)`` now, or, in a read transaction, queue it for the group commit that
    follows the read (the reader then waits for it)."""
    pending: list[Write] | None = s.info.get(_DEFERRED)
    if pending is None:
        write(s)
    else:
        pending.append(write)


def is_read(s: Session) -> bool:
    """Whether ``s`` is a read transaction's session (``Registry.read_transaction``)."""
    return s.info.get(_DEFERRED) is not None


def _refuse_writes(s: Session, _ctx: Any, _instances: Any) -> None:
    if s.info.get(_DEFERRED) is not None and (s.new or s.dirty or s.deleted):
        raise RuntimeError("a read transaction tried to write; queue the write with registry.db.defer")


class GroupCommitter:
    """Commits the writes queued by read transactions, many requests' at a time.

    One thread takes everything queued while the previous commit ran and commits it in one
    transaction; each submitter gets a future that is done when its writes are durable (or
    fails with the database's error, then every writer in that group fails: nothing is
    half-recorded). Batching comes from waiting alone, no timer: a single client is committed
    at once, fifty concurrent ones share an fsync."""

    def __init__(self, registry: Registry, max_batch: int = 1000) -> None:
        self._registry = registry
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[list[Write], Future[None]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, writes: list[Write]) -> Future[None]:
        future: Future[None] = Future()
        if not writes:
            future.set_result(None)
            return future
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ifnscope-group-commit", daemon=True)
                self._thread.start()
            self._queue.put((writes, future))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            try:
                with self._registry.transaction() as s:
                    for writes, _ in batch:
                        for write in writes:
                            write(s)
            except Exception as exc:  # every waiter learns of it; none is answered as if durable
                log.error("group commit of %d requests failed: %s", len(batch), type(exc).__name__)
                for _, future in batch:
                    future.set_exception(exc)
            else:
                for _, future in batch:
                    future.set_result(None)

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._queue.put(None)
        thread.join(timeout=60)


class LoopBatcher:
    """Group commit for the requests of one event loop (one server process).

    Requests ``await commit(writes)``; one task hands everything gathered since its last
    round to the :class:`GroupCommitter` as one batch and answers each request when that batch
    is durable (or fails them all with its error). While a batch commits, the next one gathers,
    so batches grow with the load; the event loop and the committer thread meet once per batch,
    not once per request."""

    def __init__(self, committer: GroupCommitter, max_batch: int = 1000) -> None:
        self._committer = committer
        self._max_batch = max_batch
        self._pending: list[tuple[list[Write], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def commit(self, writes: list[Write]) -> None:
        if not writes:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((writes, done))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            try:
                await asyncio.wrap_future(self._committer.submit([w for writes, _ in batch for w in writes]))
            except Exception as exc:  # the committer logged it; every request of the batch fails
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


class Registry:
    """An engine and its sessions; ``transaction()`` is one unit of work (the service functions
    in ``registry.services`` take its session and never commit themselves); ``read()`` one that
    only reads, its audit events group-committed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._read_sessions = sessionmaker(
            engine.execution_options(**{_READ_OPTION: True}), expire_on_commit=False
        )
        event.listen(self._read_sessions, "before_flush", _refuse_writes)
        self.committer = GroupCommitter(self)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    @contextmanager
    def read_transaction(self) -> Iterator[Session]:
        """A transaction that may not write (``defer`` queues writes in ``s.info``); the caller
        passes :func:`deferred_writes` to ``committer`` after it ends. See :meth:`read`."""
        with self._read_sessions() as s:
            s.info[_DEFERRED] = []
            with s.begin():
                yield s

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read, then (blocking) the group commit of what it deferred."""
        with self.read_transaction() as s:
            yield s
        self.committer.submit(deferred_writes(s)).result()

    def close(self) -> None:
        self.committer.close()
        self.engine.dispose()


def deferred_writes(s: Session) -> list[Write]:
    """What a read transaction queued with :func:`defer`."""
    return list(s.info.get(_DEFERRED) or [])
