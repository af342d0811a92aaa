"""Login and logout (session cookie + CSRF token), the current user, API tokens."""

from __future__ import annotations

import logging
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ifnscope.errors import AuthError
from ifnscope.registry import services
from ifnscope.registry.auth import Actor, Permission, Via
from ifnscope.registry.services import TokenInfo
from ifnscope.registry.services.views import UtcDateTime
from ifnscope.web.api.types import DbId, SafeText, Text80
from ifnscope.web.deps import Authenticated, DbSession, actor_briefly, inline_read
from ifnscope.web.logins import change_own_password, password_login
from ifnscope.web.openapi import created, set_total
from ifnscope.web.security import csrf_token, logout_session, session_id, verify_csrf

router = APIRouter(prefix="/auth", tags=["auth"])
log = logging.getLogger("ifnscope.web")


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text80 = Field(min_length=1, max_length=80)
    password: SafeText = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    username: str
    role: Literal["clinician", "researcher", "admin"]
    permissions: list[str]


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str | None = Field(
        description="Send as X-CSRF-Token with state-changing requests that use the session cookie"
    )
    via: Via


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: SafeText = Field(min_length=1, max_length=1024)
    new_password: SafeText = Field(min_length=1, max_length=1024)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text80 = Field(
        min_length=1, max_length=80, description="What the token is for, e.g. 'lab pipeline'"
    )
    days: int = Field(default=90, ge=1, le=366, description="Days until the token expires")


class TokenOut(BaseModel):
    id: int
    name: str
    token: str = Field(description="Shown once; only its hash is stored")
    expires_at: UtcDateTime


def user_out(actor: Actor) -> UserOut:
    assert actor.user_id is not None
    return UserOut(
        id=actor.user_id,
        username=actor.username,
        role=actor.role,
        permissions=[p for p in get_args(Permission) if actor.can(p)],
    )


@router.post(
    "/login",
    response_model=SessionOut,
    responses={429: {"description": "Too many failed logins (auth.throttled); see Retry-After"}},
)
async def login(body: LoginIn, request: Request) -> SessionOut:
    """Check the password and start a session (the ``ifnscope_session`` cookie). Too many
    failed logins for a username or from an address get 429 ``auth.throttled`` with a
    ``Retry-After`` header (seconds)."""
    try:
        actor, token = await password_login(request, body.username, body.password, via="web")
    except AuthError as err:
        log.info("login refused: %s", err.code)  # never the username: it may be a mistyped password
        raise
    log.info("login: user %d", actor.user_id)
    return SessionOut(user=user_out(actor), csrf_token=token, via="web")


@router.post("/logout", status_code=204, response_class=Response)
async def logout(request: Request, s: DbSession) -> Response:
    """End the session: its row is deleted, so a copy of the cookie stops working too (cookie
    sessions need the CSRF token, like every state change)."""
    sid = session_id(request)
    if sid is not None:
        await verify_csrf(request)
        await run_in_threadpool(services.end_session, s, sid)
    logout_session(request)
    return Response(status_code=204)


@router.get("/me", response_model=SessionOut)
async def me(actor: Authenticated, request: Request) -> SessionOut:
    """The current user, role and permissions; for cookie sessions also the CSRF token."""
    token = csrf_token(request) if actor.via == "web" else None
    return SessionOut(user=user_out(actor), csrf_token=token, via=actor.via)


@router.post("/password", status_code=204, response_class=Response)
async def change_password(
    body: PasswordIn, actor: Annotated[Actor, Depends(actor_briefly)], request: Request
) -> Response:
    """Change your password (the current one is required). Every other web session of yours
    ends; this one stays. A wrong current password counts as a failed login (429
    ``auth.throttled`` after too many)."""
    keep = session_id(request) if actor.via == "web" else None
    await change_own_password(request, actor, body.current_password, body.new_password, keep_session=keep)
    return Response(status_code=204)


@router.post("/tokens", status_code=201, response_model=TokenOut)
def new_token(body: TokenIn, actor: Authenticated, s: DbSession, response: Response) -> TokenOut:
    """Create an API token for the current user. The token is in this answer only."""
    new = services.create_token(s, actor, body.name, days=body.days)
    created(response, f"/api/auth/tokens/{new.id}")
    return TokenOut(id=new.id, name=new.name, token=new.token, expires_at=new.expires_at)


@router.get("/tokens", response_model=list[TokenInfo])
@inline_read()
def list_tokens(actor: Authenticated, s: DbSession, response: Response) -> list[TokenInfo]:
    """The current user's API tokens (never the tokens themselves)."""
    rows = services.list_tokens(s, actor)
    set_total(response, len(rows))
    return rows


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke(token_id: DbId, actor: Authenticated, s: DbSession) -> Response:
    """Revoke one of your API tokens (admins: anyone's)."""
    services.revoke_token(s, actor, token_id)
    return Response(status_code=204)
