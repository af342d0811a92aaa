"""The clinician's report of a visit (HTML and PDF downloads), rendered from the visit's stored
assessment (the one its page shows, with the rules version that made it; re-assessing is an
explicit action on the visit page) and the registry's section of the presentation model: the
patient's identifiers (clinicians only), the change since the previous visit, the interferon
scores and the treatments. Each download is audited by the registry service."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.services import VisitView
from ifnscope.web.api.types import DbId
from ifnscope.web.deps import DbSession, MaybeActor
from ifnscope.web.pages.common import to_login

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)


def _report_html(
    s: Session, actor: Actor, visit_id: int, kind: Literal["html", "pdf"]
) -> tuple[str, VisitView]:
    """The report of the stored assessment with the registry's section (identifiers for
    clinicians, the change since the previous visit, the IFN scores, the treatments), all read
    through the services: audited, and de-identified for researchers."""
    from ifnscope.presentation import build
    from ifnscope.report.html import render_html

    rep = services.visit_report(s, actor, visit_id, kind)  # audits the read and the download
    v = rep.visit
    return render_html(build(v.assessment or {}, registry=rep.registry_json()), v.case or {}), v


@router.get("/visits/{visit_id}/report.html")
def report_html(visit_id: DbId, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    if actor is None:
        return to_login(request)
    html, v = _report_html(s, actor, visit_id, "html")
    log.info("visit %d: HTML report (web)", v.id)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="ifnscope-visit-{v.id}.html"',
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        },
    )


@router.get("/visits/{visit_id}/report.pdf")
def report_pdf(visit_id: DbId, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    from ifnscope.report.html import render_pdf

    if actor is None:
        return to_login(request)
    html, v = _report_html(s, actor, visit_id, "pdf")
    pdf = render_pdf(html)
    log.info("visit %d: PDF report (web)", v.id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="ifnscope-visit-{v.id}.pdf"',
            "Cache-Control": "no-store",
        },
    )
