"""Import a patient from FHIR on the web: upload a FHIR record (a Bundle, one resource or NDJSON)
or read one from a FHIR server the registry may read (``IFNSCOPE_FHIR_SERVERS``); the page then
shows the patient made and the import report (what was read, what was not and why). The same
services as ``POST /api/patients/import/fhir`` (``registry.services.fhir_import``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ifnscope.errors import AuthError, IfnscopeError
from ifnscope.registry.services.fhir_import import import_patient, prepare_fhir
from ifnscope.web.deps import MaybeActor, actor_briefly, assess_in_turn, in_transaction
from ifnscope.web.pages.common import form_text, render, to_login

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)
MAX_FILE = 50 * 1024 * 1024


def _page(request: Request, actor: Any, status: int = 200, **context: Any) -> Response:
    servers = request.app.state.settings.fhir_server_list
    return render(request, "fhir_import.html", actor, status, servers=servers, **context)


@router.get("/patients/import")
def import_page(request: Request, actor: MaybeActor) -> Response:
    if actor is None:
        return to_login(request)
    actor.require("write_patients")
    return _page(request, actor)


def _documents(raw: bytes, name: str) -> list[Any]:
    from ifnscope.errors import FhirError

    text = raw.decode("utf-8")
    try:
        if name.lower().endswith(".ndjson"):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return [json.loads(text)]
    except (ValueError, RecursionError):
        raise FhirError(f"{name}: not FHIR JSON", code="fhir.format") from None


@router.post("/patients/import")
async def import_submit(request: Request) -> Response:
    """Import from the uploaded file or from the chosen server; the report on success."""
    from ifnscope import fhir
    from ifnscope.fhir._server import check_base, read_patient

    actor = await actor_briefly(request)  # the login, and the CSRF token of the form
    actor.require("write_patients")
    form = await request.form()
    source = form_text(form, "source", 10)
    patient = form_text(form, "patient", 64) or None
    values = {"patient": patient or "", "base_url": form_text(form, "base_url", 2000), "source": source}
    try:
        if source == "server":
            base = values["base_url"]
            allowed = {check_base(u) for u in request.app.state.settings.fhir_server_list}
            if not base or check_base(base) not in allowed:
                raise IfnscopeError(
                    "Choose one of the FHIR servers this registry may read.", code="registry.forbidden"
                )
            if not patient:
                raise IfnscopeError("Give the patient's id on that server.", code="registry.invalid")
            token = form_text(form, "token", 10_000) or None
            docs = await run_in_threadpool(read_patient, base, token, patient)
            where = f"FHIR server {base}"
        else:
            file = form.get("file")
            if not isinstance(file, UploadFile) or not file.filename:
                raise IfnscopeError("Choose a FHIR file (.json or .ndjson).", code="registry.invalid")
            raw = await file.read(MAX_FILE + 1)
            if len(raw) > MAX_FILE:
                raise IfnscopeError("The file is over 50 MB.", code="registry.too-large")
            docs = _documents(raw, file.filename)
            where = f"FHIR file {file.filename}"
        imported = await assess_in_turn(
            request, lambda: fhir.import_resources(*docs, patient=patient, source=where)
        )
        prepared = await assess_in_turn(request, prepare_fhir, imported)
        out = await in_transaction(request, import_patient, actor, imported, prepared)
    except AuthError:
        raise
    except UnicodeDecodeError:
        return _page(
            request, actor, 422, values=values, error="The file is not UTF-8 text (FHIR JSON is UTF-8)."
        )
    except IfnscopeError as err:
        status = 409 if err.code in ("registry.conflict", "registry.duplicate") else 422
        return _page(request, actor, status, values=values, error=f"{err.message} [{err.code}]")
    log.info("patient %d imported from FHIR (web)", out.patient.id)
    return _page(request, actor, 201, values=values, result=out)
