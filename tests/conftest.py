"""Fixtures shared across the test folders (which mirror ``src/ifnscope/``).

Plain helpers live in ``tests/helpers.py`` (cases), ``tests/sigdata.py`` (expression data),
``tests/registry_db.py`` (databases) and ``tests/server.py`` (a real server process).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.registry_db import DATABASES, pg_database, sqlite_url


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh registry database per test: every registry test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        yield from pg_database()


@pytest.fixture(scope="module", params=DATABASES)
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One registry database per test module (for an app shared by a module's tests)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path_factory.mktemp("registry"))
    else:
        yield from pg_database()


@pytest.fixture
def web_app(db_url: str) -> Iterator[Any]:
    """The web app on a fresh registry database (SQLite and PostgreSQL), closed afterwards."""
    from ifnscope.web import Settings, create_app

    key = None if db_url.startswith("sqlite") else secrets.token_urlsafe(32)
    application = create_app(Settings(database_url=db_url, secret_key=key))
    yield application
    application.state.registry.close()
