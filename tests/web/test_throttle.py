"""Login throttling: too many failed logins per account or per address get 429 with
``Retry-After`` and ``auth.throttled`` (API) or a page that says how long to wait; the hash is
checked outside the database transaction. On SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ifnscope.errors import AuthError
from ifnscope.registry import auth, services
from ifnscope.registry.auth import insert_user
from ifnscope.registry.models import AuditEvent, User
from ifnscope.web import Settings, create_app
from ifnscope.web.logins import LoginThrottle, account_key

PASSWORD = "correct-horse-battery"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def app(db_url: str) -> Iterator[FastAPI]:
    key = None if db_url.startswith("sqlite") else secrets.token_urlsafe(32)
    settings = Settings(
        database_url=db_url,
        secret_key=key,
        login_failures_per_account=3,
        login_failures_per_address=6,
        login_window_minutes=10,
    )
    application = create_app(settings)
    with application.state.registry.transaction() as s:
        for name in ("alice", "bob", "carol"):
            insert_user(s, name, PASSWORD, "clinician")
    yield application
    application.state.registry.engine.dispose()


def client(app: FastAPI, address: str = "10.0.0.1") -> TestClient:
    return TestClient(app, raise_server_exceptions=False, client=(address, 50000))


def api_login(c: TestClient, username: str, password: str) -> tuple[int, dict[str, object], str | None]:
    r = c.post("/api/auth/login", json={"username": username, "password": password})
    return r.status_code, r.json(), r.headers.get("retry-after")


def test_an_account_is_throttled_after_its_failures_even_with_the_right_password(app: FastAPI) -> None:
    c = client(app)
    for _ in range(3):
        assert api_login(c, "alice", "wrong-password-x")[0] == 401
    status, body, retry = api_login(c, "alice", PASSWORD)
    assert status == 429
    assert body["error"]["code"] == "auth.throttled"  # type: ignore[index]
    assert "try again in 10 minutes" in body["error"]["message"]  # type: ignore[index]
    assert retry is not None
    assert 590 <= int(retry) <= 600
    # Case and width variants of the name are the same account.
    assert api_login(client(app, "10.0.0.2"), "ALICE", PASSWORD)[0] == 429
    # Another account from the same address is not affected.
    assert api_login(c, "bob", PASSWORD)[0] == 200


def test_unknown_usernames_are_throttled_like_real_ones(app: FastAPI) -> None:
    c = client(app)
    codes = [api_login(c, "nobody-here", "wrong-password-x")[0] for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_an_address_is_throttled_across_accounts(app: FastAPI) -> None:
    guesser = client(app, "10.0.0.9")
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    assert [api_login(guesser, n, "wrong-password-x")[0] for n in names] == [401] * 6
    status, body, retry = api_login(guesser, "alice", PASSWORD)
    assert (status, body["error"]["code"]) == (429, "auth.throttled")  # type: ignore[index]
    assert retry is not None
    # Someone at another address logs in as usual (alice has 1 failure of 3).
    assert api_login(client(app, "10.0.0.10"), "alice", PASSWORD)[0] == 200


def test_a_success_clears_the_accounts_failures(app: FastAPI) -> None:
    c = client(app)
    for _ in range(2):
        assert api_login(c, "carol", "wrong-password-x")[0] == 401
    assert api_login(c, "carol", PASSWORD)[0] == 200
    for _ in range(2):
        assert api_login(c, "carol", "wrong-password-x")[0] == 401
    assert api_login(c, "carol", PASSWORD)[0] == 200  # 2 failures again, not 4


def test_the_login_page_says_how_long_to_wait(app: FastAPI) -> None:
    c = client(app)
    csrf = c.get("/login", headers=HTML).text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": csrf, "username": "bob", "password": "wrong-password-x", "next": "/"}
    for _ in range(3):
        assert c.post("/login", data=form, headers=HTML, follow_redirects=False).status_code == 401
    r = c.post("/login", data={**form, "password": PASSWORD}, headers=HTML, follow_redirects=False)
    assert r.status_code == 429
    assert r.headers["retry-after"].isdigit()
    assert "Too many failed logins" in r.text
    assert "Try again in 10 minutes" in r.text
    assert "text/html" in r.headers["content-type"]


def test_guessing_the_current_password_from_a_session_is_throttled_too(app: FastAPI) -> None:
    c = client(app, "10.0.0.20")
    r = c.post("/api/auth/login", json={"username": "carol", "password": PASSWORD})
    h = {"X-CSRF-Token": r.json()["csrf_token"]}
    new = "staple-lantern-quiet-orbit"
    for _ in range(3):
        r = c.post(
            "/api/auth/password",
            json={"current_password": "wrong-password-x", "new_password": new},
            headers=h,
        )
        assert r.status_code == 401
    r = c.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": new}, headers=h)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "auth.throttled"
    assert r.headers["retry-after"].isdigit()
    # A new password refused by the policy is not a guess: it does not count.
    r = c.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=h)
    assert r.status_code == 429  # still throttled from the guesses above
    other = client(app, "10.0.0.21")
    r = other.post("/api/auth/login", json={"username": "bob", "password": PASSWORD})
    h2 = {"X-CSRF-Token": r.json()["csrf_token"]}
    for _ in range(4):
        r = other.post(
            "/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=h2
        )
        assert r.status_code == 422
    r = other.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": new}, headers=h2)
    assert r.status_code == 204


def test_a_successful_login_is_audited_and_a_password_changed_meanwhile_refuses_it(app: FastAPI) -> None:
    registry = app.state.registry
    with registry.transaction() as s:
        candidate = services.login_lookup(s, "alice")
    verified = services.check_login(candidate, PASSWORD)  # outside any transaction
    with registry.transaction() as s:
        user = s.scalar(select(User).where(User.username == "alice"))
        assert user is not None
        user.password_hash = auth.hash_password("another-long-passphrase", username="alice")
    with registry.transaction() as s, pytest.raises(AuthError) as exc:
        services.finish_login(s, verified)
    assert exc.value.code == "auth.invalid"
    c = client(app)
    assert api_login(c, "bob", PASSWORD)[0] == 200
    with registry.transaction() as s:
        logins = s.scalars(select(AuditEvent).where(AuditEvent.action == "login")).all()
    assert [e.username for e in logins] == ["bob"]


def test_unknown_and_inactive_users_are_checked_against_a_dummy_hash(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No user enumeration by timing: a hash is verified whether or not the user exists."""
    calls: list[str] = []
    from argon2 import PasswordHasher

    real = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        calls.append(str(hash)[:9])
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    with app.state.registry.transaction() as s:
        assert services.login_lookup(s, "nobody") is None
    with pytest.raises(AuthError, match="wrong username or password"):
        services.check_login(None, "whatever-password")
    assert calls == ["$argon2id"]


# ------------------------------------------------------------------ the throttle itself


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_window_slides() -> None:
    clock = Clock()
    th = LoginThrottle(2, 100, 60, clock=clock)
    assert th.attempt("a", "ip") is None
    clock.t += 30
    assert th.attempt("a", "ip") is None
    assert th.attempt("a", "ip") == 30  # the first failure leaves the window in 30 s
    clock.t += 30.5
    assert th.attempt("a", "ip") is None  # one failure left in the window: room for one
    assert th.attempt("a", "ip") is not None


def test_zero_turns_a_limit_off_and_memory_stays_bounded() -> None:
    clock = Clock()
    off = LoginThrottle(0, 0, 60, clock=clock)
    assert all(off.attempt("a", "ip") is None for _ in range(100))
    th = LoginThrottle(5, 0, 60, clock=clock, max_keys=50)
    for i in range(500):
        th.attempt(f"user{i}", "ip")
    assert len(th._account.hits) <= 50


def test_account_keys_are_normalised() -> None:
    assert account_key("ADMIN") == account_key("ａｄｍｉｎ") == "admin"
    assert account_key(" adm\u200bin ") == "adm\u200bin"  # not a valid name: kept, folded
