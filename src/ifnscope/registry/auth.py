"""Users, roles, passwords and API tokens.

Roles, and what each may do (``can``):

- ``clinician``: read and change identifiable patient records;
- ``researcher``: read de-identified records only (pseudonym, no name, MRN, birth date, free
  text or calendar dates), run cohort queries, upload and score expression data; no changes
  to patients or visits;
- ``admin``: everything a clinician may, plus managing users.

Passwords are hashed with Argon2id (argon2-cffi, the algorithm OWASP recommends first).
API tokens are random 32-byte strings shown once; only their SHA-256 is stored, so a stolen
database does not yield usable tokens.

These are the primitives (no permission check, no audit event), named for the rows they write
(``insert_user``, ``issue_token``); callers outside the registry go through
``registry.services`` (``login``, ``create_user``, ``create_token``, ...), which add both.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from ifnscope.errors import AuthError, RegistryError
from ifnscope.registry.db import defer
from ifnscope.registry.models import ApiToken, User, WebSession
from ifnscope.registry.passwords import check_password, normalize_username

if TYPE_CHECKING:
    from argon2 import PasswordHasher

Via = Literal["web", "api", "cli", "cds"]
Role = Literal["clinician", "researcher", "admin"]
ROLES: tuple[Role, ...] = ("clinician", "researcher", "admin")
Permission = Literal["read_identified", "read_deidentified", "write_patients", "score", "manage_users"]

_GRANTS: dict[Role, frozenset[Permission]] = {
    "clinician": frozenset({"read_identified", "read_deidentified", "write_patients", "score"}),
    "researcher": frozenset({"read_deidentified", "score"}),
    "admin": frozenset({"read_identified", "read_deidentified", "write_patients", "score", "manage_users"}),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting, for permission checks and the audit log."""

    user_id: int | None
    username: str
    role: Role
    via: Via = "api"

    def can(self, permission: Permission) -> bool:
        return permission in _GRANTS[self.role]

    @property
    def identified(self) -> bool:
        """Whether this actor sees names, MRNs and dates."""
        return self.can("read_identified")

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise RegistryError(
                f"a {self.role} may not do this ({permission.replace('_', ' ')})", code="registry.forbidden"
            )


SYSTEM = Actor(None, "system", "admin", "cli")


def cli_actor() -> Actor:
    """The actor of an ``ifnscope admin`` command: an admin named after the operating-system
    user (``cli:<USER>``), so that the audit log says who ran it."""
    return Actor(None, f"cli:{os.environ.get('USER', 'unknown')}"[:80], "admin", "cli")


def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str, *, username: str | None = None) -> str:
    """The Argon2id hash of a password that meets the policy (``registry.passwords``)."""
    check_password(password, username)
    return str(_hasher().hash(password))


def insert_user(s: Session, username: str, password: str, role: Role) -> User:
    if role not in ROLES:
        raise RegistryError(f"unknown role {role!r}; roles: {', '.join(ROLES)}", code="registry.invalid")
    username = normalize_username(username)
    if _find_user(s, username) is not None:
        raise RegistryError(f"user {username!r} already exists", code="registry.conflict")
    user = User(
        username=username, password_hash=hash_password(password, username=username), role=role, active=True
    )
    s.add(user)
    s.flush()
    return user


@dataclass(frozen=True)
class LoginCandidate:
    """What a password check needs of a user row, read in one short transaction so that the
    slow hash is verified after it ends (holding no database lock or slot)."""

    user_id: int
    password_hash: str


_DUMMY_PASSWORD = "timing-equaliser-not-a-password"


@cache
def _dummy_hash() -> str:
    """A hash made with the same parameters as real ones: verifying a password against it for
    an unknown or inactive user costs what a real check costs (no user enumeration by timing)."""
    return str(_hasher().hash(_DUMMY_PASSWORD))


def find_login(s: Session, username: str) -> LoginCandidate | None:
    """The active user that ``username`` names, for :func:`verify_login`; None otherwise."""
    try:
        user = _find_user(s, normalize_username(username))
    except RegistryError:  # not a valid name today: only a row from before the rules can match
        user = s.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active:
        return None
    return LoginCandidate(user.id, user.password_hash)


def verify_login(candidate: LoginCandidate | None, password: str) -> str | None:
    """Check ``password`` (slow: Argon2id; call it outside any transaction). Returns a new hash
    when the stored one used older parameters, else None; ``auth.invalid`` (one message for
    every failure) when there is no candidate or the password is wrong."""
    from argon2.exceptions import VerificationError, VerifyMismatchError

    ph = _hasher()
    if candidate is None:
        with contextlib.suppress(VerificationError):
            ph.verify(_dummy_hash(), password)  # same cost whether or not the user exists
        raise AuthError("wrong username or password", code="auth.invalid")
    try:
        ph.verify(candidate.password_hash, password)
    except (VerifyMismatchError, VerificationError):
        raise AuthError("wrong username or password", code="auth.invalid") from None
    return str(ph.hash(password)) if ph.check_needs_rehash(candidate.password_hash) else None


def authenticate(s: Session, username: str, password: str) -> User:
    """The user, if the password is right; one error for every failure (no user enumeration).
    Verifies inside the caller's transaction: for logins use :func:`find_login` and
    :func:`verify_login` around the transaction instead."""
    candidate = find_login(s, username)
    new_hash = verify_login(candidate, password)
    assert candidate is not None
    user = s.get(User, candidate.user_id)
    assert user is not None
    if new_hash is not None:
        user.password_hash = new_hash
    return user


def _find_user(s: Session, key: str) -> User | None:
    """The user whose username has this key (rows from before normalisation may differ in case)."""
    from sqlalchemy import func

    user = s.scalar(select(User).where(User.username == key))
    if user is None:
        user = s.scalar(select(User).where(func.lower(User.username) == key).order_by(User.id).limit(1))
    return user


def find_user(s: Session, username: str) -> User | None:
    """The user named ``username`` (compared by its normalised key), if any."""
    try:
        return _find_user(s, normalize_username(username))
    except RegistryError:
        return None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOKEN_DAYS = 90  # an API token's default lifetime
MAX_TOKEN_DAYS = 366


def issue_token(s: Session, user: User, name: str, *, days: int = TOKEN_DAYS) -> tuple[ApiToken, str]:
    """A new API token for ``user`` that expires after ``days``: its row and the token, the only
    time the token is seen."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise RegistryError(
            f"an API token lasts 1 to {MAX_TOKEN_DAYS} days, not {days}", code="registry.invalid"
        )
    token = "ifn_" + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name.strip() or "token",
        token_hash=_digest(token),
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=days),
    )
    s.add(row)
    s.flush()
    return row, token


# Built once, with bound parameters: these run on every request, and building a statement
# costs SQLAlchemy more than running it on SQLite (about 0.15 ms against 0.05 ms per request).
_ACTOR_COLUMNS = (User.id.label("user_id"), User.username, User.role, User.active)
_TOKEN_LOOKUP = (
    select(ApiToken.id, ApiToken.revoked, ApiToken.expires_at, ApiToken.last_used_at, *_ACTOR_COLUMNS)
    .join(User, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


def actor_for_token(s: Session, token: str) -> Actor:
    """The actor behind an API token; ``auth.invalid`` if it is unknown, revoked or expired, or
    its user was deactivated. Marks the token as used (at most once a minute, deferred)."""
    row = s.execute(_TOKEN_LOOKUP, {"digest": _digest(token)}).one_or_none()
    now = dt.datetime.now(dt.UTC)
    if row is None or row.revoked or not row.active:
        raise AuthError("invalid or revoked API token", code="auth.invalid")
    if row.expires_at is not None and now >= _aware(row.expires_at):
        raise AuthError("this API token has expired; create a new one", code="auth.invalid")
    if row.last_used_at is None or now - _aware(row.last_used_at) > _TOUCH_EVERY:
        token_id = row.id
        defer(
            s, lambda w: w.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        )
    return Actor(row.user_id, row.username, row.role, "api")


def actor_for(user: User, via: Via) -> Actor:
    return Actor(user.id, user.username, user.role, via)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- web sessions

_TOUCH_EVERY = dt.timedelta(minutes=1)  # last_seen_at is rewritten at most this often


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def start_session(s: Session, user: User, *, purge_before: dt.datetime | None = None) -> str:
    """A new server-side session for ``user``: the random id for the cookie (only its hash is
    stored, so the table alone cannot be replayed). Sessions of anyone started before
    ``purge_before`` (past their lifetime) are deleted on the way, so the table does not grow."""
    if purge_before is not None:
        s.execute(delete(WebSession).where(WebSession.created_at < purge_before))
    sid = secrets.token_urlsafe(32)
    s.add(WebSession(user_id=user.id, id_hash=_digest(sid)))
    s.flush()
    return sid


_SESSION_LOOKUP = (
    select(WebSession.id, WebSession.created_at, WebSession.last_seen_at, *_ACTOR_COLUMNS)
    .join(User, WebSession.user_id == User.id)
    .where(WebSession.id_hash == bindparam("digest"))
)


def actor_for_session(s: Session, sid: str, *, idle: dt.timedelta, lifetime: dt.timedelta) -> Actor:
    """The actor of a live session; ``auth.required`` once it has been idle longer than ``idle``
    or open longer than ``lifetime``, or was ended, or its user was deactivated. (A request may
    be a read, which cannot delete: rows past their lifetime go when the next session starts.)"""
    row = s.execute(_SESSION_LOOKUP, {"digest": _digest(sid)}).one_or_none()
    now = dt.datetime.now(dt.UTC)
    if row is None:
        raise AuthError("your session has ended; log in again", code="auth.required")
    if now - _aware(row.last_seen_at) > idle or now - _aware(row.created_at) > lifetime or not row.active:
        raise AuthError("your session has ended; log in again", code="auth.required")
    if now - _aware(row.last_seen_at) > _TOUCH_EVERY:
        session_row = row.id
        defer(
            s,
            lambda w: w.execute(
                update(WebSession).where(WebSession.id == session_row).values(last_seen_at=now)
            ),
        )
    return Actor(row.user_id, row.username, row.role, "web")


def end_session(s: Session, sid: str) -> None:
    """Forget one session (logout); nothing happens for an unknown id."""
    s.execute(delete(WebSession).where(WebSession.id_hash == _digest(sid)))


def end_user_sessions(s: Session, user_id: int, *, keep: str | None = None) -> int:
    """End every session of a user (deactivation, password change), except ``keep``'s; returns
    how many ended."""
    stmt = delete(WebSession).where(WebSession.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(WebSession.id_hash != _digest(keep))
    return int(s.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]
