"""User administration pages (admins only): list users, create one, deactivate or reactivate,
change a role, set a password.

Every change goes through ``registry.services`` (permission check and audit event); each form
carries the CSRF token like every other form. After a change the page redirects to the list
with a fixed message key and a user id in the URL (never a password or other text typed in).
A refused change (the password policy, a taken username, your own role) renders the list again
with the service's message and 422.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from ifnscope.errors import RegistryError
from ifnscope.registry import services
from ifnscope.registry.auth import ROLES, Actor, Role
from ifnscope.web.deps import Authenticated, DbSession, MaybeActor
from ifnscope.web.pages.common import Form, form_text, render, to_login

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)

_DONE = {
    "created": "User {name} created.",
    "deactivated": "{name} deactivated: their sessions have ended and their API tokens no longer work.",
    "activated": "{name} reactivated.",
    "role": "{name} is now {role}.",
    "password": "New password set for {name}: their sessions have ended.",
}


def _page(
    request: Request,
    s: Session,
    actor: Actor,
    status: int = 200,
    *,
    notice: str | None = None,
    error: str | None = None,
    error_user: int | None = None,
    new: dict[str, str] | None = None,
) -> Response:
    users = services.list_users(s, actor)
    return render(
        request,
        "admin_users.html",
        actor,
        status,
        users=users,
        roles=ROLES,
        notice=notice,
        error=error,
        error_user=error_user,
        new=new or {"username": "", "role": "clinician"},
    )


@router.get("/admin/users")
def users_page(request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return to_login(request)
    actor.require("manage_users")
    notice = None
    done = request.query_params.get("done", "")
    uid = request.query_params.get("user", "")
    if done in _DONE and uid.isdigit():
        try:
            info = services.get_user(s, actor, int(uid))
            notice = _DONE[done].format(name=info.username, role=info.role)
        except RegistryError:
            notice = None
    return _page(request, s, actor, notice=notice)


def _done(key: str, user_id: int) -> RedirectResponse:
    return RedirectResponse(f"/admin/users?done={key}&user={user_id}", status_code=303)


@router.post("/admin/users")
def create_user(request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    actor.require("manage_users")
    username = form_text(form, "username", 80)
    role = form_text(form, "role", 20)
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    confirm = form.get("password_again")
    confirm = confirm if isinstance(confirm, str) else ""
    new = {"username": username, "role": role}
    error = None
    if not username:
        error = "Enter a username."
    elif role not in ROLES:
        error = "Choose a role: clinician, researcher or admin."
    elif not password:
        error = "Enter a password."
    elif password != confirm:
        error = "The two passwords differ; type the same password twice."
    if error is None:
        try:
            info = services.create_user(s, actor, username, password[:1024], _role(role))
        except RegistryError as err:
            error = _sentence(err.message)
        else:
            log.info("user %d created (web)", info.id)
            return _done("created", info.id)
    return _page(request, s, actor, 422, error=error, new=new)


@router.post("/admin/users/{user_id}/active")
def set_active(user_id: int, request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    actor.require("manage_users")
    active = form_text(form, "active", 5)
    if active not in ("0", "1"):
        return _page(request, s, actor, 422, error="Choose deactivate or reactivate.", error_user=user_id)
    return _change(
        request,
        s,
        actor,
        user_id,
        lambda: services.set_active(s, actor, user_id, active == "1"),
        "activated" if active == "1" else "deactivated",
    )


@router.post("/admin/users/{user_id}/role")
def set_role(user_id: int, request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    actor.require("manage_users")
    role = form_text(form, "role", 20)
    if role not in ROLES:
        return _page(
            request, s, actor, 422, error="Choose a role: clinician, researcher or admin.", error_user=user_id
        )
    return _change(
        request, s, actor, user_id, lambda: services.set_role(s, actor, user_id, _role(role)), "role"
    )


@router.post("/admin/users/{user_id}/password")
def set_password(user_id: int, request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    actor.require("manage_users")
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    if not password:
        return _page(request, s, actor, 422, error="Enter the new password.", error_user=user_id)
    return _change(
        request,
        s,
        actor,
        user_id,
        lambda: services.set_password(s, actor, user_id, password[:1024]),
        "password",
    )


def _change(request: Request, s: Session, actor: Actor, user_id: int, fn: Any, key: str) -> Response:
    """Run one change; the list again with the reason if the service refuses it (404 for a
    user that does not exist goes to the error page like any other 404)."""
    services.get_user(s, actor, user_id)
    try:
        fn()
    except RegistryError as err:
        if err.code == "registry.not-found":
            raise
        return _page(request, s, actor, 422, error=_sentence(err.message), error_user=user_id)
    log.info("user %d changed (web): %s", user_id, key)
    return _done(key, user_id)


def _role(role: str) -> Role:
    for r in ROLES:
        if r == role:
            return r
    raise RegistryError(f"unknown role {role!r}", code="registry.invalid")


def _sentence(message: str) -> str:
    """A service message ("a password needs at least 12 characters") as a sentence."""
    message = message.strip()
    return (message[:1].upper() + message[1:]).rstrip(".") + "." if message else message
