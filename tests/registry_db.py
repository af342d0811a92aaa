"""Databases for registry tests: a temporary SQLite file, and a fresh PostgreSQL database.

PostgreSQL runs on 127.0.0.1:5432 (trust auth) on this project's machines; each test module gets
its own database, dropped afterwards. Where the server is not up the PostgreSQL variants are
skipped with a loud reason, never silently passed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG_ADMIN_URL = os.environ.get("IFNSCOPE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        from sqlalchemy import create_engine, text

        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # any failure means: not usable here
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


PG_PROBLEM = _pg_reachable()
needs_pg = pytest.mark.skipif(
    PG_PROBLEM is not None,
    reason=f"SKIPPED LOUDLY: PostgreSQL at {PG_ADMIN_URL} is not reachable ({PG_PROBLEM})",
)


def sqlite_url(tmp: Path) -> str:
    return f"sqlite:///{tmp / 'registry.sqlite3'}"


def pg_database() -> Iterator[str]:
    """Create a fresh database, yield its URL, drop it."""
    from sqlalchemy import create_engine, text

    name = f"ifnscope_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


DATABASES = ["sqlite", pytest.param("postgresql", marks=needs_pg)]


def clinician_token(app: Any, username: str = "reader") -> str:
    """A new clinician's API token, made directly in the app's registry."""
    from ifnscope.registry import services
    from ifnscope.registry.auth import Actor, insert_user

    with app.state.registry.transaction() as s:
        user = insert_user(s, username, "correct-horse-battery", "clinician")
        return services.create_token(s, Actor(user.id, user.username, "clinician", "cli"), "t").token
