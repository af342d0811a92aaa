"""Visits: a validated case, its assessment by the running ifnscope, and the numbers cohort
queries need copied out of it."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy.orm import Session

from ifnscope import __version__
from ifnscope.errors import RegistryError
from ifnscope.registry.auth import Actor
from ifnscope.registry.models import Visit
from ifnscope.registry.services._rows import first_visit_date, patient_row
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.deidentify import deidentify_assessment, deidentify_case
from ifnscope.registry.services.treatments import sync_treatments
from ifnscope.registry.services.views import VisitView


def _complete(index: dict[str, Any] | None, key: str) -> float | None:
    """A score only when every item was scored (a partial sum is a lower bound, not a value)."""
    if not index:
        return None
    done = index.get("activity_complete") if key == "activity" else index.get("damage_complete")
    return float(index[key]) if done else None


def visit_view(v: Visit, actor: Actor, first: dt.date | None, pseudonym: str, full: bool) -> VisitView:
    """The visit as the actor may see it; ``full`` adds the case and the assessment."""
    case = assessment = None
    if full:
        case = v.case if actor.identified else deidentify_case(v.case, pseudonym)
        assessment = v.assessment
        if not actor.identified:
            assessment = deidentify_assessment(v.assessment, v.case, pseudonym)
    return VisitView(
        id=v.id,
        patient_id=v.patient_id,
        visit_date=v.visit_date.isoformat() if actor.identified else None,
        visit_year=v.visit_date.year,
        days_since_first_visit=(v.visit_date - (first or v.visit_date)).days,
        iim_category=v.iim_category,
        iim_subgroup=v.iim_subgroup,
        cadm_category=v.cadm_category,
        sle_classified=v.sle_classified,
        favours=v.favours,
        cdasi_activity=v.cdasi_activity,
        cdasi_damage=v.cdasi_damage,
        clasi_activity=v.clasi_activity,
        clasi_damage=v.clasi_damage,
        ifnscope_version=v.ifnscope_version,
        case=case,
        assessment=assessment,
    )


def add_visit(
    s: Session,
    actor: Actor,
    patient_id: int,
    case: Any,
    visit_date: dt.date | None = None,
) -> VisitView:
    """Validate and assess a case (a :class:`Case` or its JSON/YAML structure) and store it as a
    visit; medications with a recognised agent are added to the patient's treatments."""
    from ifnscope.assessment import assess
    from ifnscope.case.model import Case
    from ifnscope.case.reader import validate_case

    actor.require("write_patients")
    p = patient_row(s, patient_id)
    c = case if isinstance(case, Case) else validate_case(case)
    a = assess(c)
    crit = a.criteria
    act = a.to_json_dict().get("activity") or {}
    v = Visit(
        patient_id=p.id,
        visit_date=visit_date or dt.date.today(),
        case=c.model_dump(mode="json", exclude_none=True),
        assessment=a.to_json_dict(),
        ifnscope_version=__version__,
        iim_category=crit["eular_acr_iim_2017"].category,
        iim_subgroup=crit["eular_acr_iim_2017"].subgroup,
        cadm_category=crit["sontheimer_cadm"].category,
        sle_classified=crit["eular_acr_sle_2019"].classified,
        favours=a.differential.favours,
        cdasi_activity=_complete(act.get("cdasi"), "activity"),
        cdasi_damage=_complete(act.get("cdasi"), "damage"),
        clasi_activity=_complete(act.get("clasi"), "activity"),
        clasi_damage=_complete(act.get("clasi"), "damage"),
        created_by=actor.user_id,
    )
    s.add(v)
    s.flush()
    sync_treatments(s, p, a)
    write_audit(s, actor, "add_visit", p.id, f"visit {v.id}")
    return visit_view(v, actor, first_visit_date(s, p.id), p.pseudonym, full=True)


def get_visit(s: Session, actor: Actor, visit_id: int) -> VisitView:
    """One visit with its case and assessment (de-identified for researchers)."""
    actor.require("read_deidentified")
    v = s.get(Visit, visit_id)
    if v is None:
        raise RegistryError(f"no visit {visit_id}", code="registry.not-found")
    write_audit(s, actor, "read_visit", v.patient_id, f"visit {v.id}")
    return visit_view(v, actor, first_visit_date(s, v.patient_id), v.patient.pseudonym, full=True)


def visit_for_report(s: Session, actor: Actor, visit_id: int, kind: Literal["html", "pdf"]) -> VisitView:
    """The visit whose report is about to be downloaded: audits the read and the download."""
    v = get_visit(s, actor, visit_id)
    write_audit(s, actor, "download_report", v.patient_id, f"visit {v.id} {kind}")
    return v
