"""Database engines: an embedded SQLite file by default, PostgreSQL by URL.

``IFNSCOPE_DATABASE_URL`` selects the database (``postgresql+psycopg://user@host/db`` to scale
out); without it the registry is a SQLite file in the user's data directory, created on first
start. SQLite is set up for a server with many clients: write-ahead logging (readers never block
the writer), a busy timeout instead of "database is locked" errors, foreign keys on, and
``synchronous=FULL`` so that a committed visit survives a killed process or a power cut.

SQLite's Python driver commits silently before DDL, which would let a failed migration leave
half a schema behind; the engine takes over transaction control (SQLAlchemy's documented
recipe) so that a migration is one transaction on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

ENV_URL = "IFNSCOPE_DATABASE_URL"


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


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or default_url()
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


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
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class Registry:
    """An engine and its sessions; ``transaction()`` is one unit of work (the service functions
    in ``registry.services`` take its session and never commit themselves)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s
