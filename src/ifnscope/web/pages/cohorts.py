"""The cohort query page: patients whose latest visit matches a picture, a minimum activity, a
high interferon call, and no current IFN-targeted drug."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ifnscope.registry import services
from ifnscope.registry.inputs import MSG_SIGNATURE, canonical_signature, signature_names
from ifnscope.registry.services import CohortQuery
from ifnscope.web.deps import Authenticated, DbSession, MaybeActor
from ifnscope.web.pages.common import Form, form_text, render, to_login

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)


def _signature_names() -> list[str]:
    return signature_names()


@router.get("/cohort")
def cohort_page(request: Request, actor: MaybeActor) -> Response:
    if actor is None:
        return to_login(request)
    return render(
        request, "cohort.html", actor, values={}, errors={}, rows=None, signatures=_signature_names()
    )


def _query(form: Any) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """The form's values, its problems, and the query they make."""
    values = {
        k: form_text(form, k, 80) for k in ("picture", "min_cdasi_activity", "min_clasi_activity", "ifn_high")
    }
    values["not_on_ifn_targeted"] = "on" if form_text(form, "not_on_ifn_targeted", 5) else ""
    errors: dict[str, str] = {}
    query: dict[str, Any] = {"not_on_ifn_targeted": bool(values["not_on_ifn_targeted"])}
    if values["picture"] in ("dermatomyositis", "lupus"):
        query["picture"] = values["picture"]
    elif values["picture"]:
        errors["picture"] = "Choose dermatomyositis, lupus or any."
    for key in ("min_cdasi_activity", "min_clasi_activity"):
        if values[key]:
            try:
                n = float(values[key].replace(",", "."))
            except ValueError:
                errors[key] = "Enter a number (or leave it empty)."
                continue
            if not 0 <= n <= 100:
                errors[key] = "Enter a score between 0 and 100."
            else:
                query[key] = n
    if values["ifn_high"]:  # the rule the API applies too (registry.inputs)
        if (found := canonical_signature(values["ifn_high"])) is not None:
            query["ifn_high"] = found
        else:
            errors["ifn_high"] = MSG_SIGNATURE
    return values, errors, query


@router.post("/cohort")
def cohort_submit(request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    values, errors, query = _query(form)
    sigs = _signature_names()
    rows = None
    if not errors:
        rows = services.cohort(s, actor, CohortQuery(**query))
        log.info("cohort query (web): %d patients", len(rows))
    return render(
        request,
        "cohort.html",
        actor,
        422 if errors else 200,
        values=values,
        errors=errors,
        rows=rows,
        signatures=sigs,
    )


@router.post("/cohort/export")
def cohort_export(request: Request, actor: Authenticated, s: DbSession, form: Form) -> Response:
    """The cohort as CSV (the "Download CSV" button): for researchers the allow-listed row."""
    values, errors, query = _query(form)
    if errors:
        return render(
            request,
            "cohort.html",
            actor,
            422,
            values=values,
            errors=errors,
            rows=None,
            signatures=_signature_names(),
        )
    export = services.cohort_csv(s, actor, CohortQuery(**query))
    log.info("cohort export (web)")
    return Response(
        export.content,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )
