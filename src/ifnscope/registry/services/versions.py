"""Versions of corrected records: before a patient, visit or treatment is changed or deleted, the
row as it was is copied into ``record_versions`` with the reason, so nothing is destroyed.

Versions hold identifiers and clinical content (a snapshot is the whole row), so only actors who
may read identified records see them; researchers get ``registry.forbidden``. The audit log
records that versions were read or written (ids only, never the reason: it is free text).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Mapper, Session

from ifnscope.errors import RegistryError
from ifnscope.registry.auth import Actor
from ifnscope.registry.models import Patient, RecordVersion, Treatment, User, Visit
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.views import VersionInfo, VersionView

Entity = Literal["patient", "visit", "treatment"]
ENTITIES: tuple[Entity, ...] = ("patient", "visit", "treatment")
REASON_MAX = 500
_MODELS: dict[str, type[Patient] | type[Visit] | type[Treatment]] = {
    "patient": Patient,
    "visit": Visit,
    "treatment": Treatment,
}


def require_reason(reason: str | None) -> str:
    """The reason, trimmed; ``registry.invalid`` at ``reason`` when it is missing or too long."""
    text = (reason or "").strip()
    if not text:
        raise RegistryError("a reason for the change is required", code="registry.invalid", loc=("reason",))
    if len(text) > REASON_MAX:
        raise RegistryError(
            f"the reason is longer than {REASON_MAX} characters", code="registry.invalid", loc=("reason",)
        )
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def snapshot(row: Patient | Visit | Treatment) -> dict[str, Any]:
    """Every column of the row, as JSON values."""
    mapper: Mapper[Any] = inspect(type(row))
    return {c.key: _jsonable(getattr(row, c.key)) for c in mapper.column_attrs}


def record_version(
    s: Session,
    actor: Actor,
    entity: Entity,
    row: Patient | Visit | Treatment,
    patient_id: int,
    action: Literal["update", "delete"],
    reason: str,
) -> int:
    """Keep ``row`` as it is now (call before changing it); returns the version number."""
    last = s.scalar(
        select(func.max(RecordVersion.version)).where(
            RecordVersion.entity == entity, RecordVersion.entity_id == row.id
        )
    )
    n = (last or 0) + 1
    s.add(
        RecordVersion(
            entity=entity,
            entity_id=row.id,
            patient_id=patient_id,
            version=n,
            action=action,
            snapshot=snapshot(row),
            reason=reason,
            changed_by=actor.user_id,
        )
    )
    return n


def soft_delete(row: Patient | Visit | Treatment, actor: Actor) -> None:
    """Mark the row deleted: every list, cohort, timeline and export leaves it out from now on."""
    row.deleted_at = dt.datetime.now(dt.UTC)
    row.deleted_by = actor.user_id


def _info(v: RecordVersion, user: str | None, cls: type[VersionInfo] = VersionInfo) -> Any:
    extra = {"snapshot": v.snapshot} if cls is VersionView else {}
    return cls(
        id=v.id,
        entity=v.entity,
        entity_id=v.entity_id,
        patient_id=v.patient_id,
        version=v.version,
        action=v.action,
        reason=v.reason,
        changed_by=user,
        changed_at=v.changed_at,
        **extra,
    )


def _check(entity: str) -> None:
    if entity not in ENTITIES:
        raise RegistryError(
            f"no record kind {entity!r}: expected patient, visit or treatment", code="registry.not-found"
        )


def list_versions(s: Session, actor: Actor, entity: str, entity_id: int) -> list[VersionInfo]:
    """The earlier versions of one record, oldest first (deleted records included)."""
    actor.require("read_identified")
    _check(entity)
    row = s.get(_MODELS[entity], entity_id)
    if not isinstance(row, Patient | Visit | Treatment):
        raise RegistryError(f"no {entity} {entity_id}", code="registry.not-found")
    rows = s.execute(
        select(RecordVersion, User.username)
        .outerjoin(User, User.id == RecordVersion.changed_by)
        .where(RecordVersion.entity == entity, RecordVersion.entity_id == entity_id)
        .order_by(RecordVersion.version)
    ).all()
    pid = row.id if isinstance(row, Patient) else row.patient_id
    write_audit(s, actor, "list_versions", pid, f"{entity} {entity_id}: {len(rows)} versions")
    return [_info(v, u) for v, u in rows]


def patient_versions(s: Session, actor: Actor, patient_id: int) -> list[VersionInfo]:
    """Every earlier version of the patient's record and of its visits and treatments."""
    actor.require("read_identified")
    if s.get(Patient, patient_id) is None:
        raise RegistryError(f"no patient {patient_id}", code="registry.not-found")
    rows = s.execute(
        select(RecordVersion, User.username)
        .outerjoin(User, User.id == RecordVersion.changed_by)
        .where(RecordVersion.patient_id == patient_id)
        .order_by(RecordVersion.changed_at.desc(), RecordVersion.id.desc())
    ).all()
    write_audit(s, actor, "list_versions", patient_id, f"patient {patient_id}: {len(rows)} versions")
    return [_info(v, u) for v, u in rows]


def get_version(s: Session, actor: Actor, entity: str, entity_id: int, version: int) -> VersionView:
    """One earlier version with the row as it was."""
    actor.require("read_identified")
    _check(entity)
    found = s.execute(
        select(RecordVersion, User.username)
        .outerjoin(User, User.id == RecordVersion.changed_by)
        .where(
            RecordVersion.entity == entity,
            RecordVersion.entity_id == entity_id,
            RecordVersion.version == version,
        )
    ).first()
    if found is None:
        raise RegistryError(f"no version {version} of {entity} {entity_id}", code="registry.not-found")
    v, user = found
    write_audit(s, actor, "read_version", v.patient_id, f"{entity} {entity_id} v{version}")
    result: VersionView = _info(v, user, VersionView)
    return result
