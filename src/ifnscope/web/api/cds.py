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
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
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
    """The public base URL (required with trusted clients: the JWT audience never comes from the
    request's Host header)."""
    return str(request.app.state.settings.public_url).rstrip("/")


async def _client(request: Request, audience: str) -> str:
    """The trusted issuer of the call's JWT for ``audience``; its jti recorded (no replay)."""
    trusted = request.app.state.cds_clients
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    if trusted is None:
        raise AuthError(
            "no EHR is trusted to call this CDS service (the server's IFNSCOPE_CDS_CLIENTS is not set)",
            code="auth.required",
        )
    iss, jti, exp = await run_in_threadpool(trusted.verify, token, audience)
    await in_transaction(request, lambda s: cds_store.use_jti(s, iss=iss, jti=jti, exp=exp))
    return str(iss)


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
    except (ValueError, RecursionError):
        raise CdsError("the body is not JSON (or nested too deeply)", code="cds.request") from None


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], data: Any, what: str) -> M:
    """``data`` as ``model``; the first problem as a 400 ``cds.request``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CdsError(f"not {what}: {where}: {err['msg']}", code="cds.request") from None


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
    client = await _client(request, f"{_base(request)}/cds-services/{service_id}")
    hook = _parse(HookRequest, await _json(request), "a CDS Hooks request")
    if hook.hook != service.hook:
        raise CdsError(f"this service answers the {service.hook} hook, not {hook.hook!r}", code="cds.request")
    if hook.fhirAuthorization is not None and not hook.fhirServer:
        raise CdsError("fhirAuthorization is given without fhirServer", code="cds.request")
    pid = patient_id(hook)
    if pid is None:
        raise CdsError("context.patientId is missing or not a FHIR id", code="cds.request")
    docs, missing = prefetched(hook, service)
    if missing:
        docs += await _read_missing(request, hook, service, missing, client)
    call_id = str(uuid.uuid4())
    report_url = f"{_base(request)}/cds/reports/{call_id}"
    case, out = await assess_in_turn(request, _answer, docs, pid, call_id, report_url)
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


async def _read_missing(
    request: Request, hook: Any, service: Any, missing: list[str], client: str
) -> list[dict[str, Any]]:
    """What the prefetch lacks, from the EHR's FHIR server (only one registered for this EHR):
    a required search that cannot be had is 412; an optional one is left out."""
    from ifnscope.cds.fetch import fetch
    from ifnscope.fhir._server import check_base

    required = [k for k in missing if k in service.required]
    if not (hook.fhirServer and hook.fhirAuthorization):
        if required:
            raise CdsError(
                f"prefetch {', '.join(required)} missing and no FHIR server access given", code="cds.prefetch"
            )
        return []
    try:
        base = check_base(hook.fhirServer)
        allowed = {check_base(u) for u in request.app.state.cds_clients.fhir_servers(client)}
    except FhirError:
        base, allowed = "", set()
    if base not in allowed:
        raise CdsError("this EHR's fhirServer is not registered for it on this service", code="cds.prefetch")
    out: list[dict[str, Any]] = []
    for key in missing:
        try:
            out += await run_in_threadpool(fetch, hook, service, [key])
        except FhirError as exc:
            log.info("cds: reading %s from the FHIR server failed (%s)", key, exc.code)
            if key in service.required:
                raise CdsError(f"{key} could not be read from the FHIR server", code="cds.prefetch") from None
    return out


def _answer(
    docs: list[dict[str, Any]], pid: str, call_id: str, report_url: str
) -> tuple[dict[str, Any], list[Any]]:
    """The case the record gives, and its cards (CPU work: run in turn)."""
    from ifnscope import __version__, fhir
    from ifnscope.assessment import assess
    from ifnscope.cds import cards
    from ifnscope.presentation.build import build

    try:
        imported = fhir.import_resources(*docs, patient=pid, source="CDS Hooks patient-view")
        imported.case["id"] = f"cds-{call_id}"  # never the EHR's patient id
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
    outcomeTimestamp: AwareDatetime


class _FeedbackBody(BaseModel):
    feedback: list[_Feedback] = Field(min_length=1, max_length=100)


@router.post("/cds-services/{service_id}/feedback")
async def feedback(service_id: str, request: Request) -> dict[str, Any]:
    """Record the clinician's response to cards (accepted or overridden, with the reason)."""

    _service(service_id)
    client = await _client(request, f"{_base(request)}/cds-services/{service_id}/feedback")
    body = _parse(_FeedbackBody, await _json(request), "CDS Hooks feedback")
    items = [f.model_dump() for f in body.feedback]
    n = await in_transaction(
        request, lambda s: cds_store.record_feedback(s, client=client, service=service_id, items=items)
    )
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
