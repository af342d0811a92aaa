"""CDS Hooks 2.0 on the same server (issue 13, item 3).

- ``GET /cds-services``: discovery (no JWT needed: it lists services, nothing about anyone);
- ``POST /cds-services/{id}``: a hook call, authenticated by the EHR's JWT
  (:mod:`ifnscope.cds.trust`); the prefetched record (or the FHIR server, with the token the
  call gives) is read as a case, assessed, and answered with cards;
- ``POST /cds-services/{id}/feedback``: the clinician's response to a card, stored;
- ``GET /cds/reports/{call}``: the full report a card links to, for a logged-in clinician,
  while the call is kept (``registry.services.cds``).

Errors follow the specification: 412 when the data the service needs is neither prefetched nor
readable, 401 without a trusted JWT, 400 for a request that is not a hook call, always with
ifnscope's ``{"error": {code, message}}`` body.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from ifnscope.errors import AuthError, CdsError, FhirError
from ifnscope.registry.services import cds as cds_store
from ifnscope.web.deps import DbSession, MaybeActor, assess_in_turn, in_transaction

log = logging.getLogger("ifnscope.web")
# Not in /openapi.json: these endpoints follow the CDS Hooks specification (its discovery is their
# description), and only an EHR with a signed JWT may call them (docs/fhir.md).
router = APIRouter(tags=["cds-hooks"], include_in_schema=False)

MAX_BODY = 20 * 1024 * 1024


def _base(request: Request) -> str:
    settings = request.app.state.settings
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _client(request: Request, audiences: list[str]) -> str:
    trusted = request.app.state.cds_clients
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    if trusted is None:
        raise AuthError(
            "no EHR is trusted to call this CDS service (the server's IFNSCOPE_CDS_CLIENTS is not set)",
            code="auth.required",
        )
    issuer: str = trusted.verify(token, audiences)
    return issuer


def _service(service_id: str) -> Any:
    from ifnscope.cds import services

    found = services().get(service_id)
    if found is None:
        raise CdsError(f"no CDS service {service_id!r} (see /cds-services)", code="cds.unknown-service")
    return found


async def _json(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise CdsError("the request is over 20 MB", code="cds.request")
    try:
        return json.loads(body)
    except ValueError:
        raise CdsError("the body is not JSON", code="cds.request") from None


@router.get("/cds-services")
def discovery() -> dict[str, Any]:
    """The CDS services this server offers, with their prefetch templates."""
    from ifnscope.cds import services

    return {"services": [s.discovery() for s in services().values()]}


@router.post("/cds-services/{service_id}")
async def call_service(service_id: str, request: Request) -> dict[str, Any]:
    """Answer a hook call with cards (an empty list when the record holds nothing to classify)."""
    from ifnscope.cds import HookRequest, patient_id, prefetched

    service = _service(service_id)
    client = _client(request, [f"{_base(request)}/cds-services/{service_id}"])
    try:
        hook = HookRequest.model_validate(await _json(request))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CdsError(f"not a CDS Hooks request: {where}: {err['msg']}", code="cds.request") from None
    if hook.hook != service.hook:
        raise CdsError(f"this service answers the {service.hook} hook, not {hook.hook!r}", code="cds.request")
    if hook.fhirAuthorization is not None and not hook.fhirServer:
        raise CdsError("fhirAuthorization is given without fhirServer", code="cds.request")
    pid = patient_id(hook)
    if pid is None:
        raise CdsError("context.patientId is missing or not a FHIR id", code="cds.request")
    docs, missing = prefetched(hook, service)
    if missing:
        if hook.fhirServer and hook.fhirAuthorization:
            from ifnscope.cds.fetch import fetch

            try:
                docs += await run_in_threadpool(fetch, hook, service, missing)
            except FhirError as exc:
                raise CdsError(f"the data could not be read: {exc.message}", code="cds.prefetch") from None
        elif any(k in service.required for k in missing):
            raise CdsError(
                f"prefetch {', '.join(missing)} missing and no FHIR server access given",
                code="cds.prefetch",
            )
    call_id = str(uuid.uuid4())
    report_url = f"{_base(request)}/cds/reports/{call_id}"
    case, out = await assess_in_turn(request, _answer, docs, pid, client, report_url)
    if out:
        await in_transaction(
            request,
            lambda s: cds_store.store_call(
                s,
                call_id=call_id,
                service=service_id,
                client=client,
                hook_instance=hook.hookInstance,
                case=case,
                cards=[(c["uuid"], kind) for kind, c in out],
            ),
        )
    log.info("cds %s: %d cards", service_id, len(out))
    return {"cards": [c for _, c in out]}


def _answer(
    docs: list[dict[str, Any]], pid: str, client: str, report_url: str
) -> tuple[dict[str, Any], list[Any]]:
    """The case the record gives, and its cards (CPU work: run in turn)."""
    from ifnscope import __version__, fhir
    from ifnscope.assessment import assess
    from ifnscope.cds import cards
    from ifnscope.presentation.build import build

    try:
        imported = fhir.import_resources(*docs, patient=pid, source="CDS Hooks patient-view")
        case = fhir.to_case(imported)
    except FhirError as exc:
        raise CdsError(f"the prefetched record cannot be read: {exc.message}", code="cds.request") from None
    except Exception as exc:  # an inconsistent record (case.invalid): say so, never a 500
        from ifnscope.errors import CaseValidationError

        if isinstance(exc, CaseValidationError):
            raise CdsError(
                f"the record contradicts itself: {exc.issues[0].message}", code="cds.request"
            ) from None
        raise
    a = assess(case)
    view = build(a.to_json_dict())
    out = cards(view, source_label=f"ifnscope {__version__} (rules {a.rules_version})", report_url=report_url)
    return imported.case, out


class _Reason(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str | None = Field(default=None, max_length=100)
    system: str | None = Field(default=None, max_length=200)
    display: str | None = None


class _Override(BaseModel):
    model_config = ConfigDict(extra="allow")
    reason: _Reason | None = None
    userComment: str | None = Field(default=None, max_length=10_000)


class _Feedback(BaseModel):
    model_config = ConfigDict(extra="allow")
    card: str = Field(min_length=1, max_length=36)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: _Override | None = None
    outcomeTimestamp: Annotated[
        str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
    ]


class _FeedbackBody(BaseModel):
    feedback: list[_Feedback] = Field(min_length=1, max_length=100)


@router.post("/cds-services/{service_id}/feedback")
async def feedback(service_id: str, request: Request) -> dict[str, Any]:
    """Record the clinician's response to cards (accepted or overridden, with the reason)."""
    import datetime as dt

    _service(service_id)
    base = f"{_base(request)}/cds-services/{service_id}"
    client = _client(request, [f"{base}/feedback", base])
    try:
        body = _FeedbackBody.model_validate(await _json(request))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CdsError(f"not CDS Hooks feedback: {where}: {err['msg']}", code="cds.request") from None
    items = []
    for f in body.feedback:
        d = f.model_dump()
        d["outcomeTimestamp"] = dt.datetime.fromisoformat(f.outcomeTimestamp.replace("Z", "+00:00"))
        items.append(d)
    n = await in_transaction(request, lambda s: cds_store.record_feedback(s, client=client, items=items))
    log.info("cds %s: %d feedback items", service_id, n)
    return {}


@router.get("/cds/reports/{call_id}", include_in_schema=False)
def report(call_id: str, request: Request, actor: MaybeActor, s: DbSession) -> Response:
    """The full report a card links to: a logged-in clinician's, audited, while it is kept."""
    from ifnscope.assessment import assess
    from ifnscope.case.reader import validate_case
    from ifnscope.report.html import render_html

    if actor is None:
        from ifnscope.web.pages.common import to_login

        return to_login(request)
    if len(call_id) != 36:
        raise CdsError("no such CDS Hooks report", code="cds.unknown-service")
    case_doc = cds_store.report_case(s, actor, call_id)
    case = validate_case(case_doc)
    html = render_html(assess(case), case)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        },
    )
