"""User administration: the admin pages, the API and the command line list, create, deactivate
and reactivate users and change roles and passwords; every change is audited and refused with a
clear message when it breaks a rule. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from ifnscope.registry.auth import insert_user
from ifnscope.registry.models import AuditEvent, User
from ifnscope.web import Settings, create_app

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


def new_user(app: FastAPI, role: str = "clinician") -> tuple[int, str]:
    name = f"u{secrets.token_hex(4)}"
    with app.state.registry.transaction() as s:
        uid = insert_user(s, name, PASSWORD, role).id  # type: ignore[arg-type]
    return uid, name


def page_login(app: FastAPI, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
    """A browser logged in through the login page, and its CSRF token."""
    c = TestClient(app, raise_server_exceptions=False)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login", headers=HTML).text)
    assert csrf is not None
    r = c.post(
        "/login",
        data={"csrf_token": csrf.group(1), "username": username, "password": password, "next": "/"},
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/", headers=HTML).text)
    assert token is not None
    return c, token.group(1)


def audit_actions(app: FastAPI) -> list[str]:
    with app.state.registry.transaction() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def user_row(app: FastAPI, uid: int) -> User:
    with app.state.registry.transaction() as s:
        u = s.get(User, uid)
        assert u is not None
        return u


# ------------------------------------------------------------------------------- pages


def test_the_users_page_lists_users_with_their_last_login(app: FastAPI) -> None:
    uid, name = new_user(app, "researcher")
    page_login(app, name)
    c, _ = page_login(app, "boss")
    r = c.get("/admin/users", headers=HTML)
    assert r.status_code == 200
    row = r.text.split(f'id="user-{uid}"')[1].split("</tr>")[0]
    assert name in row
    assert "researcher" in row
    assert "yes" in row
    assert "UTC" in row.split('data-label="Last login"')[1]  # logged in above
    assert 'href="/admin/users"' in r.text  # the admin's navigation links here


def test_only_admins_see_the_users_page(app: FastAPI) -> None:
    _, name = new_user(app, "clinician")
    c, csrf = page_login(app, name)
    r = c.get("/admin/users", headers=HTML)
    assert r.status_code == 403
    assert 'href="/admin/users"' not in c.get("/", headers=HTML).text
    r = c.post("/admin/users", data={"csrf_token": csrf, "username": "x"}, headers=HTML)
    assert r.status_code == 403
    anon = TestClient(app, raise_server_exceptions=False)
    r = anon.get("/admin/users", headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


def test_creating_a_user_enforces_the_password_policy_with_its_message(app: FastAPI) -> None:
    c, csrf = page_login(app, "boss")
    name = f"new{secrets.token_hex(3)}"
    form = {"csrf_token": csrf, "username": name, "role": "researcher"}
    r = c.post("/admin/users", data={**form, "password": "short", "password_again": "short"}, headers=HTML)
    assert r.status_code == 422
    assert "A password needs at least 12 characters." in r.text
    r = c.post(
        "/admin/users",
        data={**form, "password": "password123!", "password_again": "password123!"},
        headers=HTML,
    )
    assert r.status_code == 422
    assert "too common" in r.text
    r = c.post(
        "/admin/users", data={**form, "password": NEW_PASSWORD, "password_again": "other"}, headers=HTML
    )
    assert r.status_code == 422
    assert "two passwords differ" in r.text
    assert f'value="{name}"' in r.text  # what was typed stays in the form (not the password)
    assert NEW_PASSWORD not in r.text
    r = c.post(
        "/admin/users",
        data={**form, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert NEW_PASSWORD not in r.headers["location"]
    r = c.get(r.headers["location"], headers=HTML)
    assert f"User {name} created." in r.text
    page_login(app, name, NEW_PASSWORD)  # the new user can log in
    r = c.post(
        "/admin/users",
        data={**form, "username": name.upper(), "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        headers=HTML,
    )
    assert r.status_code == 422
    assert "already exists" in r.text


def test_forms_need_the_csrf_token(app: FastAPI) -> None:
    uid, _ = new_user(app)
    c, _ = page_login(app, "boss")
    r = c.post(f"/admin/users/{uid}/active", data={"active": "0"}, headers=HTML)
    assert r.status_code == 403
    assert user_row(app, uid).active


def test_deactivate_reactivate_role_and_password_from_the_page(app: FastAPI) -> None:
    uid, name = new_user(app, "clinician")
    victim, _ = page_login(app, name)
    c, csrf = page_login(app, "boss")

    r = c.post(f"/admin/users/{uid}/active", data={"csrf_token": csrf, "active": "0"}, headers=HTML)
    assert r.status_code == 200  # after the redirect
    assert f"{name} deactivated" in r.text
    assert not user_row(app, uid).active
    assert victim.get("/", headers=HTML, follow_redirects=False).status_code == 303  # session ended

    r = c.post(f"/admin/users/{uid}/active", data={"csrf_token": csrf, "active": "1"}, headers=HTML)
    assert f"{name} reactivated" in r.text
    assert user_row(app, uid).active

    r = c.post(f"/admin/users/{uid}/role", data={"csrf_token": csrf, "role": "researcher"}, headers=HTML)
    assert f"{name} is now researcher" in r.text
    assert user_row(app, uid).role == "researcher"
    r = c.post(f"/admin/users/{uid}/role", data={"csrf_token": csrf, "role": "root"}, headers=HTML)
    assert r.status_code == 422
    assert "Choose a role" in r.text

    victim, _ = page_login(app, name)
    r = c.post(f"/admin/users/{uid}/password", data={"csrf_token": csrf, "password": "short"}, headers=HTML)
    assert r.status_code == 422
    assert "at least 12 characters" in r.text
    r = c.post(
        f"/admin/users/{uid}/password", data={"csrf_token": csrf, "password": NEW_PASSWORD}, headers=HTML
    )
    assert f"New password set for {name}" in r.text
    assert victim.get("/", headers=HTML, follow_redirects=False).status_code == 303  # session ended
    page_login(app, name, NEW_PASSWORD)

    actions = audit_actions(app)
    for action in ("deactivate_user", "activate_user", "change_role", "set_password"):
        assert action in actions


def test_admins_may_not_lock_themselves_out(app: FastAPI) -> None:
    c, csrf = page_login(app, "boss")
    with app.state.registry.transaction() as s:
        boss = s.scalar(select(User).where(User.username == "boss"))
        assert boss is not None
        boss_id = boss.id
    r = c.post(f"/admin/users/{boss_id}/active", data={"csrf_token": csrf, "active": "0"}, headers=HTML)
    assert r.status_code == 422
    assert "You may not deactivate yourself." in r.text
    r = c.post(f"/admin/users/{boss_id}/role", data={"csrf_token": csrf, "role": "clinician"}, headers=HTML)
    assert r.status_code == 422
    assert "You may not change your own role." in r.text
    assert user_row(app, boss_id).role == "admin"
    r = c.post("/admin/users/999999/active", data={"csrf_token": csrf, "active": "0"}, headers=HTML)
    assert r.status_code == 404


# --------------------------------------------------------------------------------- API


def test_the_api_lists_creates_and_changes_users(app: FastAPI) -> None:
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/api/auth/login", json={"username": "boss", "password": PASSWORD})
    h = {"X-CSRF-Token": r.json()["csrf_token"]}
    name = f"api{secrets.token_hex(3)}"
    r = c.post(
        "/api/admin/users", json={"username": name, "password": "short", "role": "clinician"}, headers=h
    )
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "registry.invalid",
        "message": "a password needs at least 12 characters",
    }
    r = c.post(
        "/api/admin/users", json={"username": name, "password": NEW_PASSWORD, "role": "clinician"}, headers=h
    )
    assert r.status_code == 201
    uid = r.json()["id"]
    assert r.headers["location"] == f"/api/admin/users/{uid}"
    assert r.json()["last_login_at"] is None
    assert c.get(f"/api/admin/users/{uid}").json()["username"] == name
    r = c.patch(f"/api/admin/users/{uid}", json={"role": "researcher"}, headers=h)
    assert r.status_code == 200
    assert r.json()["role"] == "researcher"
    r = c.patch(f"/api/admin/users/{uid}", json={"role": "root"}, headers=h)
    assert r.status_code == 422
    # One transaction: a bad password leaves the role as it was.
    r = c.patch(f"/api/admin/users/{uid}", json={"role": "admin", "password": "short"}, headers=h)
    assert r.status_code == 422
    assert c.get(f"/api/admin/users/{uid}").json()["role"] == "researcher"
    listed = {u["username"]: u for u in c.get("/api/admin/users").json()}
    assert listed[name]["role"] == "researcher"
    assert listed["boss"]["last_login_at"] is not None
    assert c.get("/api/admin/users/999999").json()["error"]["code"] == "registry.not-found"


# --------------------------------------------------------------------------------- CLI


def test_the_cli_changes_users_and_exits_2_on_bad_input(module_db_url: str, app: FastAPI) -> None:
    from ifnscope.cli import app as cli

    runner = CliRunner()
    db = ["--database-url", module_db_url]
    uid, name = new_user(app, "clinician")

    r = runner.invoke(cli, ["admin", "deactivate", name, *db])
    assert r.exit_code == 0, r.output
    assert f"deactivated {name}" in r.output
    assert not user_row(app, uid).active
    r = runner.invoke(cli, ["admin", "activate", name.upper(), *db])  # names compare by their key
    assert r.exit_code == 0, r.output
    assert user_row(app, uid).active
    r = runner.invoke(cli, ["admin", "set-role", name, "admin", *db])
    assert r.exit_code == 0, r.output
    assert f"{name} is now admin" in r.output
    assert user_row(app, uid).role == "admin"
    r = runner.invoke(cli, ["admin", "set-password", name, *db], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert r.exit_code == 0, r.output
    assert NEW_PASSWORD not in r.output
    c = TestClient(app, raise_server_exceptions=False)
    assert c.post("/api/auth/login", json={"username": name, "password": NEW_PASSWORD}).status_code == 200

    r = runner.invoke(cli, ["admin", "users", "--json", *db])
    assert r.exit_code == 0, r.output
    row = next(u for u in json.loads(r.stdout) if u["username"] == name)
    assert row["role"] == "admin"
    assert row["last_login_at"] is not None

    for args, message in [
        (["deactivate", "ghost-user"], "no user 'ghost-user'"),
        (["set-role", name, "root"], "unknown role 'root'"),
        (["set-password", name, "--password", "short"], "at least 12 characters"),
        (["set-password", name, "--password", "password123!"], "too common"),
    ]:
        r = runner.invoke(cli, ["admin", *args, *db])
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output, (args, r.output)
        assert "Traceback" not in r.output
    assert user_row(app, uid).role == "admin"
