"""Lookups every service module needs (internal to the services package)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifnscope.errors import RegistryError
from ifnscope.registry.models import Patient, Visit


def patient_row(s: Session, patient_id: int) -> Patient:
    """The patient, or ``registry.not-found``."""
    p = s.get(Patient, patient_id)
    if p is None:
        raise RegistryError(f"no patient {patient_id}", code="registry.not-found")
    return p


def first_visit_date(s: Session, patient_id: int) -> dt.date | None:
    """Day 0 of the patient's de-identified time axis."""
    return s.scalar(select(func.min(Visit.visit_date)).where(Visit.patient_id == patient_id))
