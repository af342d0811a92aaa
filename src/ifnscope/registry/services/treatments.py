"""Treatments: each medication as recorded, its knowledge-base agent and whether it targets the
type I interferon pathway, with start, stop and response."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ifnscope.clinical.therapy import is_ifn_targeted
from ifnscope.errors import RegistryError
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import check_partial_date
from ifnscope.registry.models import Patient, Treatment
from ifnscope.registry.services._rows import first_visit_date, patient_row
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.views import TreatmentView

if TYPE_CHECKING:
    from ifnscope.assessment import Assessment


def add_treatment(
    s: Session,
    actor: Actor,
    patient_id: int,
    *,
    name: str,
    started: str | None = None,
    stopped: str | None = None,
    response: str | None = None,
    dose: str | None = None,
) -> TreatmentView:
    from ifnscope.case.model import Medication
    from ifnscope.clinical.therapy import find_agent, knowledge_base

    actor.require("write_patients")
    check_partial_date(started, "started")
    check_partial_date(stopped, "stopped")
    p = patient_row(s, patient_id)
    try:
        med = Medication(name=name, started=started, stopped=stopped, response=response, dose=dose)
    except Exception as exc:
        raise RegistryError(f"treatment: {exc}", code="registry.invalid") from exc
    agent = find_agent(med.name)
    level = knowledge_base().agents[agent].pathway.level if agent else None
    row = Treatment(
        patient_id=p.id,
        recorded_as=med.name,
        agent=agent,
        pathway_level=level,
        ifn_targeted=is_ifn_targeted(level),
        started=med.started,
        stopped=med.stopped,
        response=med.response,
        dose=med.dose,
    )
    s.add(row)
    s.flush()
    write_audit(s, actor, "add_treatment", p.id, f"treatment {row.id}")
    return treatment_view(row, actor, first_visit_date(s, p.id))


def update_treatment(
    s: Session, actor: Actor, treatment_id: int, *, stopped: str | None = None, response: str | None = None
) -> TreatmentView:
    from ifnscope.case.model import Medication

    actor.require("write_patients")
    check_partial_date(stopped, "stopped")
    row = s.get(Treatment, treatment_id)
    if row is None:
        raise RegistryError(f"no treatment {treatment_id}", code="registry.not-found")
    try:
        med = Medication(
            name=row.recorded_as,
            started=row.started,
            stopped=stopped or row.stopped,
            response=response or row.response,
        )
    except Exception as exc:
        raise RegistryError(f"treatment: {exc}", code="registry.invalid") from exc
    row.stopped, row.response = med.stopped, med.response
    write_audit(s, actor, "update_treatment", row.patient_id, f"treatment {row.id}")
    return treatment_view(row, actor, first_visit_date(s, row.patient_id))


def sync_treatments(s: Session, p: Patient, a: Assessment, *, recorded: bool = True) -> None:
    """Medications of the case become treatment rows (one per name and start, updated in place).

    ``recorded=False`` (re-assessing an older visit) refreshes only what the rules decide (the
    agent, its pathway level, IFN-targeted) and adds medications not yet listed: a stop date,
    response or dose entered since the visit is never overwritten by the visit's older values."""
    existing = {(t.recorded_as.lower(), t.started): t for t in p.treatments}
    for h in a.therapy.history:
        key = (h.recorded_as.lower(), h.started)
        level = h.pathway_level
        row = existing.get(key)
        new = row is None
        if row is None:
            row = Treatment(patient_id=p.id, recorded_as=h.recorded_as, started=h.started)
            s.add(row)
            p.treatments.append(row)
            existing[key] = row
        row.agent = h.agent
        row.pathway_level = level
        row.ifn_targeted = is_ifn_targeted(level)
        if not (recorded or new):
            continue
        row.stopped = h.stopped or row.stopped
        row.response = h.response or row.response
        row.dose = h.dose or row.dose


def _partial_date(text: str | None) -> dt.date | None:
    """YYYY, YYYY-MM or YYYY-MM-DD as the first day it can mean."""
    if not text:
        return None
    parts = [int(x) for x in text.split("-")]
    try:
        return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:  # year 0, 31 February: no such day (refused on entry: inputs.check_partial_date)
        return None


def treatment_view(t: Treatment, actor: Actor, first: dt.date | None = None) -> TreatmentView:
    """The row as the actor may see it: researchers get years and day offsets, not dates."""

    def days(text: str | None) -> int | None:
        d = _partial_date(text)
        return (d - first).days if (d is not None and first is not None) else None

    return TreatmentView(
        started_days=days(t.started),
        stopped_days=days(t.stopped),
        id=t.id,
        recorded_as=t.recorded_as,
        agent=t.agent,
        pathway_level=t.pathway_level,
        ifn_targeted=t.ifn_targeted,
        started=t.started if actor.identified else (t.started[:4] if t.started else None),
        stopped=t.stopped if actor.identified else (t.stopped[:4] if t.stopped else None),
        response=t.response,
        dose=t.dose,
    )
