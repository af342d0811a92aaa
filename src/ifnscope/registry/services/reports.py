"""The registry's part of a visit's report: the visit, the patient's record (identifiers for
clinicians only, scores, the reconciled treatments) and the change since the previous visit.

Everything comes from the same service functions the pages use, so the permission checks, the
de-identification for researchers and the audit log apply to the report as they do to a page."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.orm import Session

from ifnscope.registry.auth import Actor
from ifnscope.registry.services.patients import get_record
from ifnscope.registry.services.views import PatientRecord, VisitView
from ifnscope.registry.services.visits import visit_for_report


class VisitReport(BaseModel):
    """What a visit's report shows beyond the stored assessment, as the actor may see it."""

    visit: VisitView
    record: PatientRecord
    change: dict[str, Any]

    def registry_json(self) -> dict[str, Any]:
        """The ``registry`` argument of ``presentation.build``."""
        return {
            "record": self.record.model_dump(mode="json"),
            "visit_id": self.visit.id,
            "change": self.change,
        }


def visit_report(s: Session, actor: Actor, visit_id: int, kind: Literal["html", "pdf"]) -> VisitReport:
    """The visit whose report is downloaded (the read and the download audited) with the patient's
    record and the change since the previous scored visit."""
    from ifnscope.activity.change import change_since_previous

    v = visit_for_report(s, actor, visit_id, kind)
    rec = get_record(s, actor, v.patient_id)
    change = change_since_previous(rec.visits, v.id).model_dump(mode="json")
    return VisitReport(visit=v, record=rec, change=change)
