"""Users, logins and API tokens: who may act, each step checked and audited here.

``login`` is the one password login (pages and API alike); ``session_actor`` and
``token_actor`` identify the user behind a session cookie or a bearer token on every request
(not audited: the login was). Users and tokens made from the command line use an admin actor
without a user id (``registry.auth.cli_actor``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifnscope.errors import AuthError, RegistryError
from ifnscope.registry import auth
from ifnscope.registry.auth import Actor, Role, Via
from ifnscope.registry.models import ApiToken, AuditEvent, User
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.views import NewToken, TokenInfo, UserInfo


def _user_info(u: User, last_login_at: dt.datetime | None = None) -> UserInfo:
    return UserInfo(
        id=u.id,
        username=u.username,
        role=u.role,
        active=u.active,
        created_at=u.created_at,
        last_login_at=last_login_at,
    )


def _last_logins(s: Session, user_ids: list[int] | None = None) -> dict[int, dt.datetime]:
    """Each user's latest login, from the audit log (users who never logged in are absent)."""
    stmt = (
        select(AuditEvent.user_id, func.max(AuditEvent.at))
        .where(AuditEvent.action == "login", AuditEvent.user_id.is_not(None))
        .group_by(AuditEvent.user_id)
    )
    if user_ids is not None:
        stmt = stmt.where(AuditEvent.user_id.in_(user_ids))
    return {int(uid): at for uid, at in s.execute(stmt) if uid is not None and at is not None}


def has_users(s: Session) -> bool:
    """Whether any user exists (start-up and demo seeding; no actor, nothing audited)."""
    return bool(s.scalar(select(func.count()).select_from(User)))


@dataclass(frozen=True)
class VerifiedLogin:
    """A password that was checked (outside any transaction) against the hash read earlier;
    :func:`finish_login` turns it into a login if that hash is still the user's."""

    user_id: int
    password_hash: str
    new_hash: str | None


def login_lookup(s: Session, username: str) -> auth.LoginCandidate | None:
    """Step 1 of a login, in a short transaction: the active user's id and hash, or None
    (nothing audited: :func:`finish_login` audits the login)."""
    return auth.find_login(s, username)


def check_login(candidate: auth.LoginCandidate | None, password: str) -> VerifiedLogin:
    """Step 2, outside any transaction (Argon2id is slow on purpose; run inside a transaction
    it would hold SQLite's write lock and a database slot while guessing clients wait for it):
    ``auth.invalid`` for a wrong password or no such active user, in about the same time."""
    new_hash = auth.verify_login(candidate, password)
    assert candidate is not None
    return VerifiedLogin(candidate.user_id, candidate.password_hash, new_hash)


def finish_login(
    s: Session,
    verified: VerifiedLogin,
    *,
    via: Via = "web",
    session: bool = False,
    replace_session: str | None = None,
    lifetime: dt.timedelta | None = None,
) -> tuple[Actor, str | None]:
    """Step 3, in a short transaction: the login audited, and with ``session`` a new web
    session (``replace_session``, an old one of this browser, ends). ``auth.invalid`` if the
    user was deactivated or their password changed since step 1."""
    user = s.get(User, verified.user_id)
    if user is None or not user.active or user.password_hash != verified.password_hash:
        raise AuthError("wrong username or password", code="auth.invalid")
    if verified.new_hash is not None:
        user.password_hash = verified.new_hash
    actor = auth.actor_for(user, via)
    write_audit(s, actor, "login")
    sid = None
    if session:
        if replace_session is not None:
            auth.end_session(s, replace_session)
        sid = start_session(s, actor, lifetime=lifetime)
    return actor, sid


def login(s: Session, username: str, password: str, *, via: Via = "web") -> Actor:
    """The actor for a right password of an active user, with the login audited; ``auth.invalid``
    (one message for every failure: no user enumeration) otherwise. All in the caller's
    transaction: servers use :func:`login_lookup`, :func:`check_login` and :func:`finish_login`
    so that the hash is checked outside it."""
    verified = check_login(login_lookup(s, username), password)
    return finish_login(s, verified, via=via)[0]


def start_session(s: Session, actor: Actor, *, lifetime: dt.timedelta | None = None) -> str:
    """A server-side web session for a logged-in actor; the id goes in the cookie. With
    ``lifetime``, sessions older than that (anyone's) are deleted on the way."""
    user = s.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None or not user.active:
        raise AuthError("log in again", code="auth.required")
    purge = dt.datetime.now(dt.UTC) - lifetime if lifetime is not None else None
    return auth.start_session(s, user, purge_before=purge)


def session_actor(s: Session, session_id: str, *, idle: dt.timedelta, lifetime: dt.timedelta) -> Actor:
    """The actor behind a session cookie; ``auth.required`` once the session was ended (logout,
    password change, deactivation) or expired, or the user is gone or inactive."""
    return auth.actor_for_session(s, session_id, idle=idle, lifetime=lifetime)


def end_session(s: Session, session_id: str) -> None:
    """Logout: the session's row is deleted, so a copied cookie no longer works."""
    auth.end_session(s, session_id)


def own_password(s: Session, actor: Actor) -> auth.LoginCandidate:
    """Step 1 of changing one's own password, in a short transaction: the current hash."""
    user = s.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None or not user.active:
        raise AuthError("log in again", code="auth.required")
    return auth.LoginCandidate(user.id, user.password_hash)


def prepare_password_change(
    candidate: auth.LoginCandidate, username: str, current: str, new: str
) -> tuple[VerifiedLogin, str]:
    """Step 2, outside any transaction (two slow hashes): check the current password
    (``auth.invalid``) and the new one against the policy (``registry.invalid``), and hash it."""
    verified = check_login(candidate, current)
    return verified, auth.hash_password(new, username=username)


def store_password_change(
    s: Session, actor: Actor, verified: VerifiedLogin, new_hash: str, *, keep_session: str | None = None
) -> None:
    """Step 3, in a short transaction: the new hash stored, the user's other web sessions (all
    but ``keep_session``) ended, the change audited; ``auth.invalid`` if the password changed
    since step 1."""
    user = s.get(User, verified.user_id)
    if user is None or not user.active or user.id != actor.user_id:
        raise AuthError("log in again", code="auth.required")
    if user.password_hash != verified.password_hash:
        raise AuthError("your password was changed meanwhile; try again", code="auth.invalid")
    user.password_hash = new_hash
    ended = auth.end_user_sessions(s, user.id, keep=keep_session)
    write_audit(s, actor, "change_password", None, f"user {user.id}; {ended} sessions ended")


def change_password(
    s: Session, actor: Actor, current: str, new: str, *, keep_session: str | None = None
) -> None:
    """The actor's own password, given the current one; ends the user's other web sessions
    (all but ``keep_session``) so a stolen session does not outlive the change. All in the
    caller's transaction; the server runs the three steps above around it instead."""
    candidate = own_password(s, actor)
    verified, new_hash = prepare_password_change(candidate, actor.username, current, new)
    store_password_change(s, actor, verified, new_hash, keep_session=keep_session)


def set_password(s: Session, actor: Actor, user_id: int, new: str) -> None:
    """An admin resets a user's password; every web session of that user ends."""
    actor.require("manage_users")
    user = _get_user(s, user_id)
    user.password_hash = auth.hash_password(new, username=user.username)
    ended = auth.end_user_sessions(s, user.id)
    write_audit(s, actor, "set_password", None, f"user {user.id}; {ended} sessions ended")


def set_active(s: Session, actor: Actor, user_id: int, active: bool) -> UserInfo:
    """An admin activates or deactivates a user; deactivation ends every web session of theirs
    (their API tokens stop working too, as tokens of inactive users are refused)."""
    actor.require("manage_users")
    user = _get_user(s, user_id)
    if not active and user.id == actor.user_id:
        raise RegistryError("you may not deactivate yourself", code="registry.invalid")
    user.active = active
    detail = f"user {user.id}"
    if not active:
        detail += f"; {auth.end_user_sessions(s, user.id)} sessions ended"
    write_audit(s, actor, "activate_user" if active else "deactivate_user", None, detail)
    return get_user(s, actor, user.id)


def _get_user(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None:
        raise RegistryError(f"no user {user_id}", code="registry.not-found")
    return user


def token_actor(s: Session, token: str) -> Actor:
    """The actor behind an ``Authorization: Bearer`` API token (marks the token as used)."""
    return auth.actor_for_token(s, token)


def create_user(s: Session, actor: Actor, username: str, password: str, role: Role) -> UserInfo:
    """A new active user (admins; ``registry.conflict`` for a taken username)."""
    actor.require("manage_users")
    user = auth.insert_user(s, username, password, role)
    write_audit(s, actor, "create_user", None, f"user {user.id}")
    return _user_info(user)


def list_users(s: Session, actor: Actor) -> list[UserInfo]:
    """Every user, oldest first, with their latest login where the audit log has one (admins)."""
    actor.require("manage_users")
    last = _last_logins(s)
    return [_user_info(u, last.get(u.id)) for u in s.scalars(select(User).order_by(User.id))]


def get_user(s: Session, actor: Actor, user_id: int) -> UserInfo:
    """One user (admins; ``registry.not-found`` if there is none)."""
    actor.require("manage_users")
    user = _get_user(s, user_id)
    return _user_info(user, _last_logins(s, [user.id]).get(user.id))


def find_user_id(s: Session, actor: Actor, username: str) -> int:
    """The id of the user named ``username`` (compared by its normalised key; admins,
    ``registry.not-found`` if there is none): the command line names users, not ids."""
    actor.require("manage_users")
    user = auth.find_user(s, username)
    if user is None:
        raise RegistryError(f"no user {username.strip()!r}", code="registry.not-found")
    return user.id


def set_role(s: Session, actor: Actor, user_id: int, role: Role) -> UserInfo:
    """An admin changes a user's role; it applies from their next request (the role is read
    from the user row on every request). Admins may not change their own role, so that the
    registry is never left without the admin who made the change."""
    actor.require("manage_users")
    if role not in auth.ROLES:
        raise RegistryError(f"unknown role {role!r}; roles: {', '.join(auth.ROLES)}", code="registry.invalid")
    user = _get_user(s, user_id)
    if user.id == actor.user_id and role != user.role:
        raise RegistryError("you may not change your own role", code="registry.invalid")
    if user.role != role:
        before = user.role
        user.role = role
        write_audit(s, actor, "change_role", None, f"user {user.id}; {before} -> {role}")
    return get_user(s, actor, user.id)


def create_token(
    s: Session, actor: Actor, name: str, *, username: str | None = None, days: int = auth.TOKEN_DAYS
) -> NewToken:
    """A new API token for the actor, or (admins) for the active user ``username``, valid for
    ``days`` (at most a year: a leaked token should not work forever)."""
    if username is None:
        user = s.get(User, actor.user_id) if actor.user_id is not None else None
        if user is None or not user.active:
            raise AuthError("log in again", code="auth.required")
    else:
        actor.require("manage_users")
        user = auth.find_user(s, username)
        if user is None or not user.active:
            raise RegistryError(f"no active user {username!r}", code="registry.not-found")
    row, token = auth.issue_token(s, user, name, days=days)
    mine = user.id == actor.user_id
    write_audit(s, actor, "create_token", None, f"token {row.id}" + ("" if mine else f" for user {user.id}"))
    assert row.expires_at is not None
    return NewToken(id=row.id, name=row.name, token=token, user_id=user.id, expires_at=row.expires_at)


def list_tokens(s: Session, actor: Actor) -> list[TokenInfo]:
    """The actor's own API tokens (never the tokens themselves)."""
    rows = s.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id))
    return [
        TokenInfo(
            id=r.id,
            name=r.name,
            created_at=r.created_at,
            last_used_at=r.last_used_at,
            revoked=r.revoked,
            expires_at=r.expires_at,
        )
        for r in rows
    ]


def revoke_token(s: Session, actor: Actor, token_id: int) -> None:
    """Revoke a token: its owner may, and an admin may revoke anyone's."""
    row = s.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.user_id and not actor.can("manage_users")):
        raise RegistryError(f"no API token {token_id} of yours", code="registry.not-found")
    row.revoked = True
    write_audit(s, actor, "revoke_token", None, f"token {token_id}")
