"""Visits: a validated case, its assessment by the running ifnscope, and the numbers cohort
queries need copied out of it."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy.orm import Session

from ifnscope import __version__
from ifnscope.errors import RegistryError
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import check_visit_date
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


def _assessed(v: Visit, c: Any) -> Any:
    """Assess the case with the running ifnscope and copy the result and its index columns onto
    the visit (shared by a new visit and an explicit re-assessment)."""
    from ifnscope.assessment import assess

    a = assess(c)
    doc = a.to_json_dict()
    crit = a.criteria
    act = doc.get("activity") or {}
    v.assessment = doc
    v.ifnscope_version = __version__
    v.iim_category = crit["eular_acr_iim_2017"].category
    v.iim_subgroup = crit["eular_acr_iim_2017"].subgroup
    v.cadm_category = crit["sontheimer_cadm"].category
    v.sle_classified = crit["eular_acr_sle_2019"].classified
    v.favours = a.differential.favours
    v.cdasi_activity = _complete(act.get("cdasi"), "activity")
    v.cdasi_damage = _complete(act.get("cdasi"), "damage")
    v.clasi_activity = _complete(act.get("clasi"), "activity")
    v.clasi_damage = _complete(act.get("clasi"), "damage")
    return a


def add_visit(
    s: Session,
    actor: Actor,
    patient_id: int,
    case: Any,
    visit_date: dt.date | None = None,
) -> VisitView:
    """Validate and assess a case (a :class:`Case` or its JSON/YAML structure) and store it as a
    visit; medications with a recognised agent are added to the patient's treatments."""
    from ifnscope.case.model import Case
    from ifnscope.case.reader import validate_case

    actor.require("write_patients")
    p = patient_row(s, patient_id)
    check_visit_date(visit_date, p.birth_date)  # the rules the web form and the API apply
    c = case if isinstance(case, Case) else validate_case(case)
    v = Visit(
        patient_id=p.id,
        visit_date=visit_date or dt.date.today(),
        case=c.model_dump(mode="json", exclude_none=True),
        created_by=actor.user_id,
    )
    a = _assessed(v, c)
    s.add(v)
    s.flush()
    sync_treatments(s, p, a)
    write_audit(s, actor, "add_visit", p.id, f"visit {v.id}")
    return visit_view(v, actor, first_visit_date(s, p.id), p.pseudonym, full=True)


def reassess_visit(s: Session, actor: Actor, visit_id: int) -> VisitView:
    """Assess a stored visit's case again with the running rules, replacing its stored assessment.

    A visit keeps the assessment it was stored with (the page and the report show that one, with
    the rules version that made it); only this explicit action brings it to the current rules.
    The audit log records the rules versions before and after.
    """
    from ifnscope.case.reader import validate_case

    actor.require("write_patients")
    v = s.get(Visit, visit_id)
    if v is None:
        raise RegistryError(f"no visit {visit_id}", code="registry.not-found")
    before = str((v.assessment or {}).get("rules_version") or f"ifnscope {v.ifnscope_version}")
    a = _assessed(v, validate_case(v.case))
    s.flush()
    sync_treatments(s, v.patient, a, recorded=False)  # the rules' part only, never newer entries
    after = str(v.assessment.get("rules_version") or f"ifnscope {__version__}")
    write_audit(s, actor, "reassess_visit", v.patient_id, f"visit {v.id} rules {before} -> {after}")
    return visit_view(v, actor, first_visit_date(s, v.patient_id), v.patient.pseudonym, full=True)


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
