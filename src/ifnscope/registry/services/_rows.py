"""Lookups every service module needs (internal to the services package).

A deleted row (``deleted_at`` set) is "not found" here: only the version history
(``services.versions``) still reaches it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.orm import Session, object_session

from ifnscope.errors import RegistryError
from ifnscope.registry.db import is_read
from ifnscope.registry.models import Patient, Treatment, Visit


def patient_row(s: Session, patient_id: int) -> Patient:
    """The patient, or ``registry.not-found`` (also when deleted)."""
    p = s.get(Patient, patient_id)
    if p is None or p.deleted_at is not None:
        raise RegistryError(f"no patient {patient_id}", code="registry.not-found")
    return p


def visit_row(s: Session, visit_id: int) -> Visit:
    """The visit, or ``registry.not-found`` (also when it or its patient was deleted)."""
    v = s.get(Visit, visit_id)
    if v is None or v.deleted_at is not None or v.patient.deleted_at is not None:
        raise RegistryError(f"no visit {visit_id}", code="registry.not-found")
    return v


def treatment_row(s: Session, treatment_id: int) -> Treatment:
    """The treatment, or ``registry.not-found`` (also when it or its patient was deleted)."""
    t = s.get(Treatment, treatment_id)
    if t is None or t.deleted_at is not None or t.patient.deleted_at is not None:
        raise RegistryError(f"no treatment {treatment_id}", code="registry.not-found")
    return t


# Built once (reading a patient is the registry's commonest request): in a read transaction a
# prepared statement runs in about half the time of the relationship's lazy load. A write keeps
# the relationship, which holds the changes it made (a treatment just appended).
_LIVE_VISITS = (
    select(Visit)
    .where(Visit.patient_id == bindparam("patient_id"), Visit.deleted_at.is_(None))
    .order_by(Visit.visit_date, Visit.id)
)
_LIVE_TREATMENTS = (
    select(Treatment)
    .where(Treatment.patient_id == bindparam("patient_id"), Treatment.deleted_at.is_(None))
    .order_by(Treatment.id)
)

_FIRST_VISIT = select(func.min(Visit.visit_date)).where(
    Visit.patient_id == bindparam("patient_id"), Visit.deleted_at.is_(None)
)


def _live(p: Patient, relation: str, stmt: Any) -> list[Any]:
    """The patient's rows of ``relation`` that were not deleted: by ``stmt`` in a read whose
    relationship is not loaded yet, else as loaded, with this session's changes."""
    s = object_session(p)
    if s is not None and is_read(s) and relation in inspect(p).unloaded:
        return list(s.scalars(stmt, {"patient_id": p.id}))
    return [r for r in getattr(p, relation) if r.deleted_at is None]


def live_visits(p: Patient) -> list[Visit]:
    """The patient's visits that were not deleted, oldest first."""
    return _live(p, "visits", _LIVE_VISITS)


def live_treatments(p: Patient) -> list[Treatment]:
    """The patient's treatments that were not deleted, in the order recorded."""
    return _live(p, "treatments", _LIVE_TREATMENTS)


def first_visit_date(s: Session, patient_id: int) -> dt.date | None:
    """Day 0 of the patient's de-identified time axis (deleted visits do not count)."""
    return s.scalar(_FIRST_VISIT, {"patient_id": patient_id})
