"""The clinician's report of a visit (HTML and PDF downloads), rendered from the stored case
re-assessed with the running ifnscope; each download is audited by the registry service."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from ifnscope.case.model import Case
from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.services import VisitView
from ifnscope.web.deps import DbSession, MaybeActor
from ifnscope.web.pages.common import to_login

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)


def stored_case(doc: dict[str, Any]) -> Case:
    """The stored case (``Case.model_dump``) as a :class:`Case` again (it round-trips)."""
    from ifnscope.case.reader import validate_case

    return validate_case(doc)


def _report_html(
    s: Session, actor: Actor, visit_id: int, kind: Literal["html", "pdf"]
) -> tuple[str, VisitView]:
    from ifnscope.assessment import assess
    from ifnscope.report.html import render_html

    v = services.visit_for_report(s, actor, visit_id, kind)  # audits the read and the download
    case = stored_case(v.case or {})
    return render_html(assess(case), case), v


@router.get("/visits/{visit_id}/report.html")
def report_html(visit_id: int, request: Request, actor: MaybeActor, s: DbSession) -> Response:
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
def report_pdf(visit_id: int, request: Request, actor: MaybeActor, s: DbSession) -> Response:
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
