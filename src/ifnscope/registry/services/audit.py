"""The audit log: who (user), what (action), which patient (id), when and how (web/api/cli).

Only service functions write it, in the transaction of the work they audit: a refused or failed
request is rolled back and leaves no event. Reads queue their event instead (``db.defer``) and it
is group-committed right after the read, before the response leaves. Details are ids and counts,
never clinical content, names or search text.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifnscope.registry.auth import Actor
from ifnscope.registry.db import defer
from ifnscope.registry.models import AuditEvent
from ifnscope.registry.services.views import AuditEntry


def write_audit(
    s: Session, actor: Actor, action: str, patient_id: int | None = None, detail: str | None = None
) -> None:
    """Add one event to the audit log (committed with the caller's transaction, or in a read
    transaction by the group commit that follows it)."""
    event = {
        "at": dt.datetime.now(dt.UTC),
        "user_id": actor.user_id,
        "username": actor.username,
        "action": action,
        "patient_id": patient_id,
        "detail": detail,
        "via": actor.via,
    }
    defer(s, lambda w: w.add(AuditEvent(**event)))


def count_audit(s: Session, actor: Actor, patient_id: int | None = None) -> int:
    """How many events :func:`audit_log` could list in all (admins only)."""
    actor.require("manage_users")
    stmt = select(func.count()).select_from(AuditEvent)
    if patient_id is not None:
        stmt = stmt.where(AuditEvent.patient_id == patient_id)
    return int(s.scalar(stmt) or 0)


def audit_log(s: Session, actor: Actor, patient_id: int | None = None, limit: int = 200) -> list[AuditEntry]:
    """Audit events, newest first (admins only); reading the log is not itself audited."""
    actor.require("manage_users")
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if patient_id is not None:
        stmt = stmt.where(AuditEvent.patient_id == patient_id)
    return [
        AuditEntry(
            at=e.at.isoformat(),
            user=e.username,
            action=e.action,
            patient_id=e.patient_id,
            detail=e.detail,
            via=e.via,
        )
        for e in s.scalars(stmt)
    ]
