"""Password logins for the API and the login page: throttled, with the hash checked outside
the database transaction.

**Throttling.** Failed logins are counted in a sliding window per account (the username's
normalised key, whether or not such a user exists, so the answer does not tell) and per client
address. Once either count reaches its limit, logins for that account or from that address are
refused with 429 ``auth.throttled`` and a ``Retry-After`` header until the oldest failure leaves
the window; no password is checked meanwhile, so a guessing client costs no hashing. A success
clears its account's count (not the address's). Defaults (``web.settings``): 5 failures per
account and 20 per address in 15 minutes: operational defaults against password guessing, not
clinical numbers. The counts live in this process's memory: they start empty when the server
restarts, and each process of a multi-process deployment counts on its own (N processes allow
up to N times the limits). Behind a reverse proxy every client has the proxy's address unless
the server is told to trust its ``X-Forwarded-For`` (uvicorn ``--proxy-headers``
``--forwarded-allow-ips``).

**Per-account limits can lock a user out** for the window while someone guesses at their
name; an admin cannot lift it other than by restarting the server. This is the usual trade
(NIST SP 800-63B asks for a limit on failed attempts per account).

**The hash outside the transaction.** Argon2id takes tens of milliseconds on purpose. Checked
inside the request's transaction, it held the database slot (and SQLite's write lock) the whole
time, so four guessing clients cut everyone else's throughput ninefold. A login is now three
steps: read the user's hash (short transaction), verify it (no transaction, at most
``hash_slots`` at a time so guessers queue among themselves), then record the login and the
session (short transaction; it fails if the password changed in between).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ifnscope.errors import AuthError, RegistryError
from ifnscope.registry import services
from ifnscope.registry.auth import Actor, Via
from ifnscope.registry.passwords import normalize_username
from ifnscope.web.deps import get_settings, in_transaction
from ifnscope.web.security import login_session, session_id


class LoginThrottled(AuthError):
    """Too many failed logins for an account or from an address: 429 with ``Retry-After``."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            f"too many failed logins; try again in {minutes} minute{'s' if minutes != 1 else ''}",
            code="auth.throttled",
        )
        self.retry_after = retry_after


@dataclass
class _Window:
    limit: int
    hits: dict[str, deque[float]]


class LoginThrottle:
    """Sliding-window counts of failed logins per account and per address (in memory, this
    process only). ``0`` as a limit turns that count off.

    :meth:`attempt` counts an attempt as a failure before the password is checked (so that
    many attempts at once cannot all slip under the limit) and :meth:`succeeded` takes it back.
    """

    def __init__(
        self,
        per_account: int,
        per_address: int,
        window_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.window = window_seconds
        self._account = _Window(per_account, {})
        self._address = _Window(per_address, {})
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def _prune(self, w: _Window, key: str, now: float) -> deque[float]:
        q = w.hits.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del w.hits[key]
        return q

    def _wait(self, w: _Window, key: str, now: float) -> float | None:
        if w.limit <= 0:
            return None
        q = self._prune(w, key, now)
        if len(q) < w.limit:
            return None
        return q[len(q) - w.limit] + self.window - now  # until enough failures leave the window

    def _add(self, w: _Window, key: str, now: float) -> None:
        if w.limit <= 0:
            return
        if key not in w.hits and len(w.hits) >= self._max_keys:
            self._sweep(w, now)
        w.hits.setdefault(key, deque()).append(now)

    def _sweep(self, w: _Window, now: float) -> None:
        """Drop keys with no failure in the window; if still full, the stalest keys (memory is
        bounded whatever an attacker sends)."""
        for key in list(w.hits):
            self._prune(w, key, now)
        if len(w.hits) >= self._max_keys:
            stalest = sorted(w.hits, key=lambda k: w.hits[k][-1])[: len(w.hits) // 10 + 1]
            for key in stalest:
                del w.hits[key]

    def attempt(self, account: str, address: str) -> int | None:
        """Seconds to wait (nothing counted) if either limit is reached; else None, with this
        attempt counted as a failure until :meth:`succeeded` says otherwise."""
        with self._lock:
            now = self._clock()
            waits = [
                w
                for w in (self._wait(self._account, account, now), self._wait(self._address, address, now))
                if w
            ]
            if waits:
                return max(1, math.ceil(max(waits)))
            self._add(self._account, account, now)
            self._add(self._address, address, now)
            return None

    def succeeded(self, account: str, address: str) -> None:
        """The password was right: forget the account's failures, and this attempt's count
        against the address."""
        with self._lock:
            self._account.hits.pop(account, None)
            q = self._address.hits.get(address)
            if q:
                q.pop()
                if not q:
                    del self._address.hits[address]


def account_key(username: str) -> str:
    """What the per-account count is kept under: the normalised username (the raw text,
    folded, when it is not a valid name)."""
    try:
        return normalize_username(username)
    except RegistryError:
        return username.strip().casefold()[:80]


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def password_login(
    request: Request, username: str, password: str, *, via: Via = "web"
) -> tuple[Actor, str]:
    """Log in with a password and start a web session (replacing this browser's old one):
    the actor and the new CSRF token. ``auth.throttled`` (:class:`LoginThrottled`) or
    ``auth.invalid``; nothing is held while the hash is checked."""
    throttle: LoginThrottle = request.app.state.login_throttle
    account, address = account_key(username), client_address(request)
    wait = throttle.attempt(account, address)
    if wait is not None:
        raise LoginThrottled(wait)
    candidate = await in_transaction(request, services.login_lookup, username)
    hash_slots: anyio.CapacityLimiter = request.app.state.hash_limiter
    async with hash_slots:
        verified = await run_in_threadpool(services.check_login, candidate, password)
    settings = get_settings(request)
    actor, sid = await in_transaction(
        request,
        services.finish_login,
        verified,
        via=via,
        session=True,
        replace_session=session_id(request),
        lifetime=dt.timedelta(hours=settings.session_hours),
    )
    throttle.succeeded(account, address)
    assert sid is not None
    return actor, login_session(request, sid)


async def change_own_password(
    request: Request, actor: Actor, current: str, new: str, *, keep_session: str | None
) -> None:
    """Change the actor's password with both hashes computed outside any transaction; a wrong
    current password counts as a failed login for the account (a stolen session cannot guess
    it faster than a login could)."""
    throttle: LoginThrottle = request.app.state.login_throttle
    account, address = account_key(actor.username), client_address(request)
    wait = throttle.attempt(account, address)
    if wait is not None:
        raise LoginThrottled(wait)
    candidate = await in_transaction(request, services.own_password, actor)
    hash_slots: anyio.CapacityLimiter = request.app.state.hash_limiter
    async with hash_slots:
        try:
            verified, new_hash = await run_in_threadpool(
                services.prepare_password_change, candidate, actor.username, current, new
            )
        except RegistryError:  # the new password breaks the policy: not a guess
            throttle.succeeded(account, address)
            raise
    await in_transaction(
        request, services.store_password_change, actor, verified, new_hash, keep_session=keep_session
    )
    throttle.succeeded(account, address)
