"""CDS Hooks calls: what was answered, for how long the full report stays open, and the
clinicians' feedback (``web.api.cds``).

A call keeps the case the EHR's record gave (clinical data: only clinicians and admins open it,
through the card's link, and each opening is audited) until it expires; then the case is erased
and the row stays for the feedback. The EHR's patient id is never stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ifnscope.errors import AuthError, RegistryError
from ifnscope.registry.auth import Actor
from ifnscope.registry.models import CdsCall, CdsCard, CdsFeedback, CdsJti
from ifnscope.registry.services.audit import write_audit

REPORT_HOURS = 24  # how long a card's link opens the full report


def _client_actor(client: str) -> Actor:
    """The EHR calling, for the audit log (not a user: it reads no registry patient)."""
    return Actor(None, f"cds:{client}"[:80], "clinician", "cds")


def use_jti(s: Session, *, iss: str, jti: str, exp: float, now: dt.datetime | None = None) -> None:
    """Record a JWT as used; the same (issuer, jti) again is a replay (``auth.invalid``)."""
    now = now or dt.datetime.now(dt.UTC)
    s.execute(delete(CdsJti).where(CdsJti.expires_at < now - dt.timedelta(minutes=5)))
    s.add(CdsJti(iss=iss[:200], jti=jti[:200], expires_at=dt.datetime.fromtimestamp(exp, dt.UTC)))
    try:
        s.flush()
    except IntegrityError:
        raise AuthError("this JWT was used before (jti replay)", code="auth.invalid") from None


def store_call(
    s: Session,
    *,
    call_id: str,
    service: str,
    client: str,
    hook_instance: str,
    case: dict[str, Any],
    cards: Sequence[tuple[str, str]],
    now: dt.datetime | None = None,
) -> None:
    """Keep one answered call and its cards (uuid, kind); erase the cases of expired calls."""
    now = now or dt.datetime.now(dt.UTC)
    s.execute(update(CdsCall).where(CdsCall.expires_at < now, CdsCall.case.is_not(None)).values(case=None))
    s.add(
        CdsCall(
            id=call_id,
            service=service,
            client=client[:200],
            hook_instance=hook_instance[:200],
            created_at=now,
            expires_at=now + dt.timedelta(hours=REPORT_HOURS),
            case=case,
        )
    )
    s.flush()  # the cards' foreign key needs the call
    s.add_all(CdsCard(uuid=u, call_id=call_id, kind=kind) for u, kind in cards)
    write_audit(s, _client_actor(client), "cds-call", None, f"cds call {call_id}, {len(cards)} cards")


def record_feedback(s: Session, *, client: str, service: str, items: Sequence[dict[str, Any]]) -> int:
    """Store each feedback item (already validated); a card this client was not given by this
    service is an error for the whole request (nothing stored half-written)."""
    uuids = {str(i["card"]) for i in items}
    known = set(
        s.scalars(
            select(CdsCard.uuid)
            .join(CdsCall, CdsCall.id == CdsCard.call_id)
            .where(CdsCard.uuid.in_(uuids), CdsCall.client == client[:200], CdsCall.service == service)
        )
    )
    unknown = sorted(uuids - known)
    if unknown:
        raise RegistryError(f"no card {unknown[0]!r} was returned by this service", code="registry.not-found")
    for i in items:
        reason = (i.get("overrideReason") or {}).get("reason") or {}
        s.add(
            CdsFeedback(
                card_uuid=str(i["card"]),
                outcome=str(i["outcome"]),
                override_system=(reason.get("system") or None),
                override_code=(reason.get("code") or None),
                user_comment=(i.get("overrideReason") or {}).get("userComment"),
                outcome_at=i["outcomeTimestamp"],
            )
        )
    write_audit(s, _client_actor(client), "cds-feedback", None, f"{len(items)} feedback items")
    return len(items)


def report_case(s: Session, actor: Actor, call_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The case behind a card's link, for a clinician or admin, while the link is open."""
    actor.require("read_identified")
    now = now or dt.datetime.now(dt.UTC)
    call = s.get(CdsCall, call_id)
    if call is None:
        raise RegistryError("no such CDS Hooks report", code="registry.not-found")
    expires = call.expires_at if call.expires_at.tzinfo else call.expires_at.replace(tzinfo=dt.UTC)
    if call.case is None or expires < now:
        raise RegistryError(
            f"this report was kept for {REPORT_HOURS} hours and has expired: open the chart again",
            code="registry.not-found",
        )
    write_audit(s, actor, "cds-report", None, f"cds call {call_id}")
    return dict(call.case)


def feedback_counts(s: Session, actor: Actor) -> dict[str, dict[str, int]]:
    """Accepted and overridden cards by kind (admins): how the cards are received."""
    actor.require("manage_users")
    rows = s.execute(
        select(CdsCard.kind, CdsFeedback.outcome).join(CdsFeedback, CdsFeedback.card_uuid == CdsCard.uuid)
    )
    out: dict[str, dict[str, int]] = {}
    for kind, outcome in rows:
        out.setdefault(kind, {}).setdefault(outcome, 0)
        out[kind][outcome] += 1
    return out
