"""Server-side sessions: a copied cookie dies with its session (logout, password change,
deactivation, idle and absolute expiry), and CSRF protection still holds. On SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from ifnscope.registry.auth import insert_user
from ifnscope.registry.models import User, WebSession
from ifnscope.web import Settings, create_app
from ifnscope.web.security import SESSION_COOKIE

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "staple-lantern-quiet-orbit"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
def app(module_db_url: str) -> Iterator[FastAPI]:
    key = None if module_db_url.startswith("sqlite") else secrets.token_urlsafe(32)
    application = create_app(Settings(database_url=module_db_url, secret_key=key))
    with application.state.registry.transaction() as s:
        insert_user(s, "boss", PASSWORD, "admin")
    yield application
    application.state.registry.engine.dispose()


def new_user(app: FastAPI) -> str:
    name = f"u{secrets.token_hex(4)}"
    with app.state.registry.transaction() as s:
        insert_user(s, name, PASSWORD, "clinician")
    return name


def login(app: FastAPI, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
    """A logged-in client and its CSRF token."""
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return c, r.json()["csrf_token"]


def copy_of(app: FastAPI, c: TestClient) -> TestClient:
    """Another client holding a copy of ``c``'s session cookie (what a thief would have)."""
    cookie = c.cookies.get(SESSION_COOKIE)
    assert cookie
    return TestClient(app, cookies={SESSION_COOKIE: cookie}, raise_server_exceptions=False)


def error_code(r: httpx.Response) -> str:
    code: str = r.json()["error"]["code"]
    return code


def cookie_payload(c: TestClient) -> dict[str, Any]:
    raw = c.cookies[SESSION_COOKIE].split(".")[0]
    payload: dict[str, Any] = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    return payload


def test_the_cookie_holds_a_random_id_stored_only_as_its_hash(app: FastAPI) -> None:
    name = new_user(app)
    c, _ = login(app, name)
    payload = cookie_payload(c)
    assert set(payload) == {"sid", "csrf"}  # no user id, nothing clinical
    with app.state.registry.transaction() as s:
        hashes = set(s.scalars(select(WebSession.id_hash)))
    assert payload["sid"] not in hashes
    assert hashlib.sha256(payload["sid"].encode()).hexdigest() in hashes


def test_after_api_logout_a_copied_cookie_gets_401(app: FastAPI) -> None:
    name = new_user(app)
    c, csrf = login(app, name)
    thief = copy_of(app, c)
    assert thief.get("/api/auth/me").status_code == 200
    assert c.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    r = thief.get("/api/auth/me")
    assert r.status_code == 401
    assert error_code(r) == "auth.required"
    assert c.get("/api/auth/me").status_code == 401


def test_after_page_logout_a_copied_cookie_is_sent_to_the_login_page(app: FastAPI) -> None:
    name = new_user(app)
    c, csrf = login(app, name)
    thief = copy_of(app, c)
    assert thief.get("/", headers=HTML, follow_redirects=False).status_code == 200
    r = c.post("/logout", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    r = thief.get("/", headers=HTML, follow_redirects=False)
    assert r.status_code in (302, 303, 307)
    assert r.headers["location"].startswith("/login")


def test_logout_still_needs_the_csrf_token(app: FastAPI) -> None:
    name = new_user(app)
    c, _ = login(app, name)
    r = c.post("/api/auth/logout")
    assert error_code(r) == "auth.csrf"
    assert c.get("/api/auth/me").status_code == 200  # the session survived the forged logout
    r = c.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert error_code(r) == "auth.csrf"


def test_a_password_change_ends_the_users_other_sessions(app: FastAPI) -> None:
    name = new_user(app)
    here, csrf = login(app, name)
    elsewhere, _ = login(app, name)
    thief = copy_of(app, here)
    other_user, _ = login(app, "boss")
    r = here.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 204, r.text
    assert elsewhere.get("/api/auth/me").status_code == 401
    assert here.get("/api/auth/me").status_code == 200  # the session that changed it stays
    assert thief.get("/api/auth/me").status_code == 200  # (a copy of it too: log out to end it)
    assert other_user.get("/api/auth/me").status_code == 200  # other users are untouched
    bad = TestClient(app).post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert bad.status_code == 401
    login(app, name, NEW_PASSWORD)


def test_a_password_change_needs_the_current_password_and_meets_the_policy(app: FastAPI) -> None:
    name = new_user(app)
    c, csrf = login(app, name)
    h = {"X-CSRF-Token": csrf}
    r = c.post(
        "/api/auth/password",
        json={"current_password": "wrong-password-x", "new_password": NEW_PASSWORD},
        headers=h,
    )
    assert r.status_code == 401
    for weak in ("short", f"{name}-is-my-password", "password123456!", "dragondragondragon"):
        r = c.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": weak}, headers=h)
        assert r.status_code == 422, weak
        assert error_code(r) == "registry.invalid"


def test_deactivating_a_user_ends_their_sessions_and_tokens(app: FastAPI) -> None:
    name = new_user(app)
    one, csrf = login(app, name)
    two, _ = login(app, name)
    token = one.post("/api/auth/tokens", json={"name": "etl"}, headers={"X-CSRF-Token": csrf}).json()["token"]
    boss, boss_csrf = login(app, "boss")
    uid = one.get("/api/auth/me").json()["user"]["id"]
    r = boss.patch(f"/api/admin/users/{uid}", json={"active": False}, headers={"X-CSRF-Token": boss_csrf})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    with app.state.registry.transaction() as s:
        assert not list(s.scalars(select(WebSession).where(WebSession.user_id == uid)))
    for c in (one, two):
        assert c.get("/api/auth/me").status_code == 401
    bearer = TestClient(app).get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401
    r = boss.patch(f"/api/admin/users/{uid}", json={"active": True}, headers={"X-CSRF-Token": boss_csrf})
    assert r.json()["active"] is True
    assert one.get("/api/auth/me").status_code == 401  # reactivation does not revive old sessions
    login(app, name)


def test_an_admin_password_reset_ends_the_users_sessions(app: FastAPI) -> None:
    name = new_user(app)
    c, _ = login(app, name)
    boss, boss_csrf = login(app, "boss")
    uid = c.get("/api/auth/me").json()["user"]["id"]
    h = {"X-CSRF-Token": boss_csrf}
    r = boss.patch(f"/api/admin/users/{uid}", json={"password": "password"}, headers=h)
    assert error_code(r) == "registry.invalid"
    assert c.get("/api/auth/me").status_code == 200  # a refused reset changes nothing
    r = boss.patch(f"/api/admin/users/{uid}", json={"password": NEW_PASSWORD}, headers=h)
    assert r.status_code == 200, r.text
    assert c.get("/api/auth/me").status_code == 401
    login(app, name, NEW_PASSWORD)
    r = boss.patch(f"/api/admin/users/{uid}", json={"active": False}, headers={})
    assert error_code(r) == "auth.csrf"


def _age_sessions(app: FastAPI, username: str, **fields: dt.datetime) -> None:
    with app.state.registry.transaction() as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        s.execute(update(WebSession).where(WebSession.user_id == uid).values(**fields))


def test_an_idle_session_ends(app: FastAPI) -> None:
    name = new_user(app)
    c, _ = login(app, name)
    now = dt.datetime.now(dt.UTC)
    _age_sessions(app, name, last_seen_at=now - dt.timedelta(minutes=20))
    assert c.get("/api/auth/me").status_code == 200  # within the 30 idle minutes: still on
    _age_sessions(app, name, last_seen_at=now - dt.timedelta(minutes=31))
    r = c.get("/api/auth/me")
    assert r.status_code == 401
    assert error_code(r) == "auth.required"


def test_a_session_ends_after_its_lifetime_even_when_busy(app: FastAPI) -> None:
    name = new_user(app)
    c, _ = login(app, name)
    now = dt.datetime.now(dt.UTC)
    _age_sessions(app, name, created_at=now - dt.timedelta(hours=8, minutes=1), last_seen_at=now)
    assert c.get("/api/auth/me").status_code == 401


def test_a_new_login_replaces_the_old_session(app: FastAPI) -> None:
    name = new_user(app)
    c, _ = login(app, name)
    before = copy_of(app, c)
    r = c.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200
    assert before.get("/api/auth/me").status_code == 401  # the pre-login cookie (fixation) is dead
    assert c.get("/api/auth/me").status_code == 200


# ------------------------------------------------------------------------------ API tokens


def test_api_tokens_expire(app: FastAPI) -> None:
    from ifnscope.registry.models import ApiToken

    name = new_user(app)
    c, csrf = login(app, name)
    h = {"X-CSRF-Token": csrf}
    r = c.post("/api/auth/tokens", json={"name": "etl", "days": 7}, headers=h)
    assert r.status_code == 201, r.text
    made = r.json()
    left = dt.datetime.fromisoformat(made["expires_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < left <= dt.timedelta(days=7)
    bearer = {"Authorization": f"Bearer {made['token']}"}
    api = TestClient(app, raise_server_exceptions=False)
    assert api.get("/api/auth/me", headers=bearer).status_code == 200
    with app.state.registry.transaction() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == made["id"])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    r = api.get("/api/auth/me", headers=bearer)
    assert r.status_code == 401
    assert error_code(r) == "auth.invalid"
    assert "expired" in r.json()["error"]["message"]
    listed = {t["id"]: t for t in c.get("/api/auth/tokens").json()}
    assert listed[made["id"]]["expires_at"]
    for days in (0, 367):
        r = c.post("/api/auth/tokens", json={"name": "x", "days": days}, headers=h)
        assert r.status_code == 422
    r = c.post("/api/auth/tokens", json={"name": "default"}, headers=h)
    left = dt.datetime.fromisoformat(r.json()["expires_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=89) < left <= dt.timedelta(days=90)


def test_a_login_deletes_sessions_past_their_lifetime(app: FastAPI) -> None:
    stale = new_user(app)
    login(app, stale)
    _age_sessions(app, stale, created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=9))
    login(app, new_user(app))
    with app.state.registry.transaction() as s:
        uid = s.scalar(select(User.id).where(User.username == stale))
        assert not list(s.scalars(select(WebSession).where(WebSession.user_id == uid)))


def test_changing_a_missing_user_is_404(app: FastAPI) -> None:
    boss, csrf = login(app, "boss")
    for body in ({}, {"active": False}, {"password": NEW_PASSWORD}):
        r = boss.patch("/api/admin/users/999999", json=body, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 404, body
        assert error_code(r) == "registry.not-found"
