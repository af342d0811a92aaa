"""A database that is down, read-only, stalled or slow answers 503 ``registry.unavailable`` with a
log line naming the kind of failure (never SQL or values); a value the database refuses is 422;
the PostgreSQL timeouts come from the settings; a case is assessed outside the database slot."""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from ifnscope.registry import auth
from ifnscope.registry.db import Registry, make_engine, pg_connect_args
from ifnscope.web import Settings, create_app
from ifnscope.web.deps import DbSession
from tests.registry_db import needs_pg, pg_database
from tests.web.test_api import PASSWORD, SEED, Session, assert_error, case_doc
from tests.web.test_pages import Browser, form_from_case, seed_doc

SECRET_NAME = "Jane Secretname"


def _app(url: str, **settings: Any) -> FastAPI:
    app = create_app(Settings(database_url=url, secret_key=secrets.token_urlsafe(32), **settings))

    @app.get("/api/_test/sleep")
    def sleep(s: DbSession) -> dict[str, str]:
        s.execute(text("SELECT pg_sleep(2)"))
        return {"slept": "yes"}

    @app.post("/api/_test/too-long")
    def too_long(s: DbSession) -> dict[str, str]:
        # A value the request types would have refused, sent straight to the database.
        s.execute(text("SELECT CAST(:v AS INTEGER)"), {"v": SECRET_NAME})
        return {"stored": "yes"}

    return app


def _token(app: FastAPI, username: str = "doc") -> str:
    registry: Registry = app.state.registry
    with registry.transaction() as s:
        user = auth.insert_user(s, username, PASSWORD, "clinician")
        _row, token = auth.issue_token(s, user, "test", days=30)
    return token


def _unavailable(r: httpx.Response, caplog: pytest.LogCaptureFixture, reason: str) -> None:
    err = assert_error(r, 503, "registry.unavailable")
    assert reason in err["message"]
    assert r.headers["retry-after"] == "5"
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "ifnscope.web"]
    line = next(m for m in lines if m.startswith("database unavailable"))
    assert reason in line
    for leak in ("SELECT", "INSERT", "UPDATE", SECRET_NAME, "[SQL", "parameters"):
        assert leak not in "\n".join(lines)


# ------------------------------------------------------------------------------ read-only


@pytest.fixture
def sqlite_file(tmp_path: Path) -> tuple[Path, str]:
    """A migrated SQLite registry with one clinician, and an API token for her."""
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    app = _app(url)
    token = _token(app)
    app.state.registry.close()
    return tmp_path / "registry.sqlite3", token


def test_read_only_sqlite_gives_503_with_a_clear_log_line(
    sqlite_file: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    path, token = sqlite_file
    app = _app(f"sqlite:///file:{path}?mode=ro&uri=true")
    c = TestClient(app, raise_server_exceptions=False)
    bearer = {"Authorization": f"Bearer {token}"}
    caplog.set_level(logging.INFO, logger="ifnscope.web")
    # A write: the transaction's first statement is refused.
    r = c.post("/api/patients", json={"name": SECRET_NAME}, headers=bearer)
    _unavailable(r, caplog, "read-only database")
    # A read: it runs, but its audit event cannot be committed, so it is not answered as if durable.
    caplog.clear()
    _unavailable(c.get("/api/patients", headers=bearer), caplog, "read-only database")
    # A login (writes its session row) says the same, not "wrong password".
    caplog.clear()
    r = c.post("/api/auth/login", json={"username": "doc", "password": PASSWORD})
    _unavailable(r, caplog, "read-only database")
    app.state.registry.close()


# ------------------------------------------------------------------- PostgreSQL down or slow


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from pg_database()


@contextlib.contextmanager
def _silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a stalled database server."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        yield srv.getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the socket is


@needs_pg
@pytest.mark.parametrize("kind", ["closed", "stalled"])
def test_postgresql_down_or_stalled_gives_503(
    pg_url: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(pg_url, db_connect_timeout=2)
    token = _token(app, f"doc_{kind}")
    c = TestClient(app, raise_server_exceptions=False)
    live: Registry = app.state.registry
    with contextlib.ExitStack() as stack:
        port = _closed_port() if kind == "closed" else stack.enter_context(_silent_server())
        down = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
        assert down != pg_url
        # The server goes away: the next connection the app opens fails (after the connect
        # timeout when it accepts and never answers, instead of hanging the request).
        app.state.registry = Registry(make_engine(down, connect_timeout=2))
        caplog.set_level(logging.INFO, logger="ifnscope.web")
        r = c.get("/api/patients", headers={"Authorization": f"Bearer {token}"})
        _unavailable(r, caplog, "cannot connect or connection lost")
        app.state.registry.close()
    app.state.registry = live
    assert c.get("/api/patients", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    live.close()


@needs_pg
def test_a_statement_over_the_timeout_is_cancelled_and_gives_503(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(pg_url, db_statement_timeout=0.2)
    c = TestClient(app, raise_server_exceptions=False)
    caplog.set_level(logging.INFO, logger="ifnscope.web")
    _unavailable(c.get("/api/_test/sleep"), caplog, "statement timeout")
    with app.state.registry.engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "200ms"
    app.state.registry.close()


@needs_pg
def test_a_value_the_database_refuses_is_422_not_500(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    app = _app(pg_url)
    c = TestClient(app, raise_server_exceptions=False)
    caplog.set_level(logging.INFO, logger="ifnscope.web")
    assert_error(c.post("/api/_test/too-long"), 422, "registry.invalid")
    assert SECRET_NAME not in caplog.text
    app.state.registry.close()


def test_timeouts_reach_the_postgresql_connection() -> None:
    url = "postgresql+psycopg://u@db.example/reg?options=-c%20search_path%3Dx"
    args = pg_connect_args(url, connect_timeout=0.5, statement_timeout=1.5)
    assert args == {"connect_timeout": 2, "options": "-c search_path=x -c statement_timeout=1500"}
    assert pg_connect_args(url, 0, 0) == {}  # 0: no limit, as documented


def test_timeout_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IFNSCOPE_DB_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv("IFNSCOPE_DB_STATEMENT_TIMEOUT", "0.5")
    s = Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}")
    assert (s.db_connect_timeout, s.db_statement_timeout) == (3, 0.5)
    monkeypatch.setenv("IFNSCOPE_DB_STATEMENT_TIMEOUT", "soon")
    from ifnscope.errors import RegistryError

    with pytest.raises(RegistryError, match="IFNSCOPE_DB_STATEMENT_TIMEOUT"):
        Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}")


# ---------------------------------------------------------------- assessed outside the slot


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_pg)])
def any_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FastAPI]:
    if request.param == "sqlite":
        app = _app(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
        yield app
        app.state.registry.close()
    else:
        for url in pg_database():
            app = _app(url)
            yield app
            app.state.registry.close()


def test_a_case_is_assessed_while_no_database_slot_is_held(
    any_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ifnscope.assessment as assessment

    app = any_app
    with app.state.registry.transaction() as s:
        auth.insert_user(s, "doc", PASSWORD, "clinician")
    doc = Session(app, "doc")
    pid = doc.post("/api/patients", json={"name": "Slot Patient"}).json()["id"]
    held: list[float] = []
    real = assessment.assess

    def watched(case: Any) -> Any:
        held.append(app.state.db_limiter.borrowed_tokens)
        return real(case)

    monkeypatch.setattr(assessment, "assess", watched)
    r = doc.post(f"/api/patients/{pid}/visits", json={"visit_date": "2024-06-01", "case": case_doc(SEED)})
    assert r.status_code == 201, r.text
    files = {"file": ("seed.yaml", SEED.read_bytes(), "application/x-yaml")}
    assert doc.post(f"/api/patients/{pid}/visits", files=files).status_code == 201
    assert doc.post("/api/assess", json=case_doc(SEED)).status_code == 200
    # The pages: the case form and a pasted case file.
    page = Browser(app, "doc")
    form = form_from_case(seed_doc())
    form["visit_date"] = "2024-07-01"
    assert page.post(f"/patients/{pid}/visits/new", form).status_code == 303
    pasted = {"text": SEED.read_text(encoding="utf-8"), "visit_date": "2024-08-01"}
    assert page.post(f"/patients/{pid}/visits/upload", pasted).status_code == 303
    assert held == [0, 0, 0, 0, 0]
    # A refused case is refused before any slot too, and nothing is stored.
    assert_error(doc.post(f"/api/patients/{pid}/visits", json={"case": {"id": 1}}), 422, "case.invalid")
    assert len(doc.get(f"/api/patients/{pid}").json()["visits"]) == 4


@needs_pg
def test_a_read_only_postgresql_gives_503(caplog: pytest.LogCaptureFixture) -> None:
    for url in pg_database():
        app = _app(url)
        token = _token(app)
        app.state.registry.close()
        engine = make_engine(url)
        with engine.connect() as conn:  # as on a standby: every transaction is read-only
            name = conn.execute(text("SELECT current_database()")).scalar()
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
            conn.commit()
        engine.dispose()
        app = _app(url)
        c = TestClient(app, raise_server_exceptions=False)
        caplog.set_level(logging.INFO, logger="ifnscope.web")
        r = c.post("/api/patients", json={"name": SECRET_NAME}, headers={"Authorization": f"Bearer {token}"})
        _unavailable(r, caplog, "read-only transaction")
        app.state.registry.close()


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", 2**63], ids=["nul", "surrogate", "int-beyond-64-bits"])
def test_both_databases_refuse_unstorable_values_alike(db_url: str, value: object) -> None:
    """The engine's backstop: a value no request type stopped is a DataError on SQLite as on
    PostgreSQL (SQLite stored NUL quietly; its driver raised a bare OverflowError; a lone
    surrogate failed to encode in both drivers), and the error carries no parameters."""
    from sqlalchemy.exc import DataError

    from ifnscope.registry.migrate import upgrade
    from ifnscope.registry.models import Patient

    engine = make_engine(db_url)
    upgrade(engine)
    registry = Registry(engine)
    try:

        def use(s: Any) -> None:
            if isinstance(value, int):
                s.get(Patient, value)
            else:
                s.add(Patient(pseudonym="P-TEST01", name=value))
                s.flush()

        with registry.transaction() as s, pytest.raises(DataError) as ei:
            use(s)
        assert str(value) not in str(ei.value)
        with registry.transaction() as s:  # the connection is still usable
            assert s.get(Patient, 1) is None
    finally:
        registry.close()
