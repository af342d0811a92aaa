"""The registry tests' shared fixture: a migrated registry with one user of each role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ifnscope.registry import auth, migrate
from ifnscope.registry.db import Registry, make_engine

PASSWORD = "correct horse battery"


@pytest.fixture
def reg(db_url: str) -> Iterator[Any]:
    """A registry on a fresh database (SQLite and PostgreSQL) with actors ``doc`` (clinician),
    ``res`` (researcher) and ``adm`` (admin), and its ``url``."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    r: Any = Registry(engine)
    with r.transaction() as s:
        r.doc = auth.actor_for(auth.insert_user(s, "doc", PASSWORD, "clinician"), "api")
        r.res = auth.actor_for(auth.insert_user(s, "res", PASSWORD, "researcher"), "api")
        r.adm = auth.actor_for(auth.insert_user(s, "adm", PASSWORD, "admin"), "api")
    r.url = db_url
    yield r
    engine.dispose()
