"""Cohort queries over each patient's latest visit."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from ifnscope.registry import services
from ifnscope.registry.services import CohortQuery, PatientSummary
from ifnscope.web.deps import Authenticated, DbSession
from ifnscope.web.openapi import set_total

router = APIRouter(tags=["cohort"])
log = logging.getLogger("ifnscope.web")


@router.post("/cohort", response_model=list[PatientSummary])
def cohort(
    query: CohortQuery, actor: Authenticated, s: DbSession, response: Response
) -> list[PatientSummary]:
    """Patients whose latest visit meets every condition given, e.g. dermatomyositis with CDASI
    activity ≥ 14, a high rice6 interferon call and no current interferon-targeted drug:
    `{"picture": "dermatomyositis", "min_cdasi_activity": 14, "ifn_high": "rice6",
    "not_on_ifn_targeted": true}`."""
    rows = services.cohort(s, actor, query)
    log.info("cohort query: %d patients", len(rows))
    set_total(response, len(rows))  # every match is in the answer
    return rows


@router.post(
    "/cohort/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per patient of the cohort"}},
)
def cohort_export(query: CohortQuery, actor: Authenticated, s: DbSession) -> Response:
    """The same query's patients as a CSV file (researchers: the de-identified cohort row)."""
    export = services.cohort_csv(s, actor, query)
    log.info("cohort export")
    return Response(
        content=export.content,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
