"""Login and logout: the session cookie, with a CSRF token in every form (the login form too)."""

from __future__ import annotations

import datetime as dt
import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ifnscope.errors import AuthError
from ifnscope.registry import services
from ifnscope.web.deps import DbSession, MaybeActor, get_settings
from ifnscope.web.pages.common import CheckedForm, form_text, render, safe_next
from ifnscope.web.security import login_session, logout_session, session_id

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_page(request: Request, actor: MaybeActor) -> Response:
    if actor is not None:
        return RedirectResponse("/", status_code=303)
    return render(
        request,
        "login.html",
        None,
        next=safe_next(request.query_params.get("next")),
        username="",
        error=None,
        logged_out=request.query_params.get("out") == "1",
    )


@router.post("/login")
def login_submit(request: Request, form: CheckedForm, s: DbSession) -> Response:
    username = form_text(form, "username", 80)
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    nxt = safe_next(form_text(form, "next", 300))
    if not username or not password:
        return render(
            request,
            "login.html",
            None,
            422,
            next=nxt,
            username=username,
            error="Enter your username and password.",
            logged_out=False,
        )
    try:
        actor = services.login(s, username, password[:1024], via="web")
    except AuthError:
        log.info("login failed (web)")  # never the username
        return render(
            request,
            "login.html",
            None,
            401,
            next=nxt,
            username=username,
            error="Wrong username or password.",
            logged_out=False,
        )
    assert actor.user_id is not None
    old = session_id(request)
    if old is not None:  # a login over an old session replaces it
        services.end_session(s, old)
    lifetime = dt.timedelta(hours=get_settings(request).session_hours)
    login_session(request, services.start_session(s, actor, lifetime=lifetime))
    log.info("login: user %d (web)", actor.user_id)
    return RedirectResponse(nxt, status_code=303)


@router.post("/logout")
def logout(request: Request, form: CheckedForm, s: DbSession) -> Response:
    """End the session: its row is deleted, so a copy of the cookie stops working too."""
    sid = session_id(request)
    if sid is not None:
        services.end_session(s, sid)
    logout_session(request)
    return RedirectResponse("/login?out=1", status_code=303)
