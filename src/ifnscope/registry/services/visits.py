"""Visits: a validated case, its assessment by the running ifnscope, and the numbers cohort
queries need copied out of it.

A visit must record something to assess (:func:`require_content`): a blank form would otherwise
become the patient's latest visit and drop her out of cohorts. Correcting a visit keeps the earlier
version and re-assesses the corrected case; deleting one keeps it (and its versions) out of sight.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session

from ifnscope import __version__
from ifnscope.registry.auth import Actor
from ifnscope.registry.inputs import check_visit_date
from ifnscope.registry.models import Patient, Visit
from ifnscope.registry.services._rows import first_visit_date, live_visits, patient_row, visit_row
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.deidentify import for_actor
from ifnscope.registry.services.prepare import prepare_visit, require_content
from ifnscope.registry.services.treatments import sync_treatments
from ifnscope.registry.services.versions import record_version, require_reason, soft_delete
from ifnscope.registry.services.views import VisitView

if TYPE_CHECKING:
    from ifnscope.clinical.letter import Letter
    from ifnscope.presentation.model import PatientIdentity


def _complete(index: dict[str, Any] | None, key: str) -> float | None:
    """A score only when every item was scored (a partial sum is a lower bound, not a value)."""
    if not index:
        return None
    done = index.get("activity_complete") if key == "activity" else index.get("damage_complete")
    return float(index[key]) if done else None


def visit_view(v: Visit, actor: Actor, first: dt.date | None, pseudonym: str, full: bool) -> VisitView:
    """The visit as the actor may see it; ``full`` adds the case and the assessment."""
    view = VisitView(
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
        case=v.case if full else None,
        assessment=v.assessment if full else None,
    )
    return for_actor(actor, "visit", view, pseudonym=pseudonym)  # researchers: the allow-list


def _assessed(v: Visit, c: Any) -> Any:
    """Assess the case with the running ifnscope and copy the result and its index columns onto
    the visit (shared by a new visit and an explicit re-assessment). ``c`` may be prepared
    already (``prepare.prepare_visit``, outside the transaction)."""
    p = prepare_visit(c)
    a, doc = p.assessment, p.document
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
    actor.require("write_patients")
    p = patient_row(s, patient_id)
    check_visit_date(visit_date, p.birth_date)  # the rules the web form and the API apply
    c = prepare_visit(case)  # a Prepared (made before the transaction) is used as it is
    v = Visit(
        patient_id=p.id,
        visit_date=visit_date or dt.date.today(),
        case=c.case.model_dump(mode="json", exclude_none=True),
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
    v = visit_row(s, visit_id)
    before = str((v.assessment or {}).get("rules_version") or f"ifnscope {v.ifnscope_version}")
    a = _assessed(v, validate_case(v.case))
    s.flush()
    sync_treatments(s, v.patient, a, recorded=False)  # the rules' part only, never newer entries
    after = str(v.assessment.get("rules_version") or f"ifnscope {__version__}")
    write_audit(s, actor, "reassess_visit", v.patient_id, f"visit {v.id} rules {before} -> {after}")
    return visit_view(v, actor, first_visit_date(s, v.patient_id), v.patient.pseudonym, full=True)


def update_visit(
    s: Session,
    actor: Actor,
    visit_id: int,
    *,
    reason: str | None,
    case: Any = None,
    visit_date: dt.date | None = None,
) -> VisitView:
    """Correct a visit's case and/or date. The visit as it was is kept as a version; the corrected
    case is validated (``case.invalid``, ``case.empty``) and assessed again with the running rules.
    Its medications join the treatment list; they overwrite the list's stop dates and responses
    only when this is the patient's latest visit (a later visit knows better)."""
    from ifnscope.case.model import Case
    from ifnscope.case.reader import validate_case

    actor.require("write_patients")
    v = visit_row(s, visit_id)
    why = require_reason(reason)
    c = validate_case(v.case) if case is None else (case if isinstance(case, Case) else validate_case(case))
    require_content(c)
    if visit_date is not None:
        check_visit_date(visit_date, v.patient.birth_date)
    n = record_version(s, actor, "visit", v, v.patient_id, "update", why)
    v.case = c.model_dump(mode="json", exclude_none=True)
    if visit_date is not None:
        v.visit_date = visit_date
    a = _assessed(v, c)
    s.flush()
    latest = max(live_visits(v.patient), key=lambda x: (x.visit_date, x.id))
    sync_treatments(s, v.patient, a, recorded=latest.id == v.id)
    write_audit(s, actor, "update_visit", v.patient_id, f"visit {v.id} v{n}")
    return visit_view(v, actor, first_visit_date(s, v.patient_id), v.patient.pseudonym, full=True)


def delete_visit(s: Session, actor: Actor, visit_id: int, *, reason: str | None) -> None:
    """Delete a visit: kept (with its versions) for the history, gone from the record, cohorts,
    the timeline, the latest visit and exports. Treatments it added stay on the list."""
    actor.require("write_patients")
    v = visit_row(s, visit_id)
    why = require_reason(reason)
    n = record_version(s, actor, "visit", v, v.patient_id, "delete", why)
    soft_delete(v, actor)
    write_audit(s, actor, "delete_visit", v.patient_id, f"visit {v.id} v{n}")


def get_visit(s: Session, actor: Actor, visit_id: int) -> VisitView:
    """One visit with its case and assessment (de-identified for researchers)."""
    actor.require("read_deidentified")
    v = visit_row(s, visit_id)
    write_audit(s, actor, "read_visit", v.patient_id, f"visit {v.id}")
    return visit_view(v, actor, first_visit_date(s, v.patient_id), v.patient.pseudonym, full=True)


def visit_for_report(s: Session, actor: Actor, visit_id: int, kind: Literal["html", "pdf"]) -> VisitView:
    """The visit whose report is about to be downloaded: audits the read and the download."""
    v = get_visit(s, actor, visit_id)
    write_audit(s, actor, "download_report", v.patient_id, f"visit {v.id} {kind}")
    return v


def _identity(p: Patient) -> PatientIdentity:
    """The patient row's identifiers as the presentation model carries them (identified actors only)."""
    from ifnscope.presentation.model import PatientIdentity

    return PatientIdentity(
        pseudonym=p.pseudonym,
        name=p.name or None,
        mrn=p.mrn or None,
        birth_date=p.birth_date.isoformat() if p.birth_date else None,
        sex=p.sex or None,
    )


def letter_for_visit(s: Session, actor: Actor, visit_id: int, agent: str) -> tuple[VisitView, Letter]:
    """A draft letter of medical necessity for ``agent`` (e.g. the IVIG a payer refused), from
    the visit's stored case; the letter is drafted with the running therapy knowledge base.
    Clinicians and admins only (a letter to a payer identifies the patient: its name, birth date
    and MRN come from the patient row, as the presentation model's identity); audited."""
    from ifnscope.assessment import assess
    from ifnscope.case.reader import validate_case
    from ifnscope.clinical.letter import build_letter

    actor.require("read_identified")
    v = get_visit(s, actor, visit_id)
    case = validate_case(v.case or {})
    letter = build_letter(case, assess(case), agent, identity=_identity(visit_row(s, visit_id).patient))
    write_audit(s, actor, "download_letter", v.patient_id, f"visit {v.id} {letter.agent}")
    return v, letter
