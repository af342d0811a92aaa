"""Upload of an expression matrix from the patient page: score it against a saved reference and
the chosen signatures, store the scores, and show them with what could not be scored.

The same three service steps as the API upload (``web/api/signatures.py``): check the patient,
the visit and the reference in a short transaction (``services.prepare_scoring``), score with no
transaction held (``services.compute_scores``, seconds), store in a second short transaction
(``services.store_scores``). The matrix is copied into a private temporary folder (mode 0700)
and deleted at once; only the scores are kept.

Every problem a person can cause (no file, an unsupported or broken file, an unknown or
unscorable signature, a missing reference) is shown on the patient page with its stable code and
message (422), never as an error page or a 500; a lost login goes to the login form, a missing
permission or patient to the error page, as everywhere else.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ifnscope.errors import AuthError, IfnscopeError
from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.web.api.signatures import MATRIX_SUFFIXES, _suffix
from ifnscope.web.deps import actor_briefly, in_transaction
from ifnscope.web.pages.common import form_text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ifnscope.signatures.scoring import ScoreRun

log = logging.getLogger("ifnscope.web")
router = APIRouter(include_in_schema=False)

ACCEPT = ",".join(MATRIX_SUFFIXES)


@cache
def signature_choices() -> tuple[dict[str, str], ...]:
    """The signature catalogue as the form lists it: name, title (and its first words), tissue
    and method."""
    from ifnscope.signatures import list_signatures

    return tuple(
        {
            "name": sig.name,
            "title": sig.definition.title,
            "short": sig.definition.title.split(";")[0].split(" (")[0],
            "tissue": sig.definition.tissue,
            "method": str(sig.definition.method),
        }
        for sig in list_signatures()
    )


def upload_context(s: Session, actor: Actor) -> dict[str, Any]:
    """What the patient page's upload form needs (nothing for a role that may not score)."""
    if not actor.can("score"):
        return {"upload_form": None}
    return {
        "upload_form": {
            "references": services.list_references(s, actor),
            "signatures": signature_choices(),
            "accept": ACCEPT,
        }
    }


def _problem(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _values(form: Any) -> dict[str, Any]:
    return {
        "reference": form_text(form, "reference", 120),
        "signatures": [x.strip() for x in form.getlist("signature") if isinstance(x, str) and x.strip()][:50],
        "tissue": form_text(form, "tissue", 40),
        "collected_on": form_text(form, "collected_on", 20),
        "visit_id": form_text(form, "visit_id", 20),
    }


def _checked(values: dict[str, Any], file: Any) -> tuple[dict[str, str] | None, dt.date | None, int | None]:
    """The form's own problems (before any work), the collection date and the visit id."""
    if not isinstance(file, UploadFile) or not file.filename:
        return _problem("request.invalid", "Choose an expression matrix file to upload."), None, None
    if not values["signatures"]:
        return _problem("request.invalid", "Choose at least one signature to score."), None, None
    collected = None
    if values["collected_on"]:
        try:
            collected = dt.date.fromisoformat(values["collected_on"])
        except ValueError:
            return _problem("request.invalid", "Collected on: write the date as YYYY-MM-DD."), None, None
        if collected > dt.date.today():
            return _problem("request.invalid", "Collected on: the date is in the future."), None, None
    visit_id = None
    if values["visit_id"]:
        if not values["visit_id"].isdigit():
            return _problem("request.invalid", "Choose the visit from the list."), None, None
        visit_id = int(values["visit_id"])
    return None, collected, visit_id


def _score_file(file: UploadFile, suffix: str, signatures: list[str], ref: dict[str, Any] | None) -> ScoreRun:
    """Copy the upload into a private folder (created 0700), score it, delete it (in a worker
    thread: the copy and the scoring block)."""
    with tempfile.TemporaryDirectory(prefix="ifnscope-upload-") as folder:
        path = Path(folder) / f"matrix{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1024 * 1024)
        return services.compute_scores(path, signatures, ref)


@router.post("/patients/{patient_id}/samples/upload")
async def upload_matrix(patient_id: int, request: Request) -> Response:
    """Score an uploaded matrix and show the patient page with the scores and the notes."""
    actor = await actor_briefly(request)  # the login, and the CSRF token of the form
    actor.require("score")
    form = await request.form()
    values = _values(form)
    file = form.get("file")
    upload: dict[str, Any] = {"values": values, "error": None, "result": None}
    problem, collected, visit_id = _checked(values, file)
    if problem is None and isinstance(file, UploadFile):
        ref_name = values["reference"] or None
        try:
            suffix = _suffix(file.filename)
            ref = await in_transaction(
                request,
                services.prepare_scoring,
                actor,
                patient_id,
                reference_name=ref_name,
                visit_id=visit_id,
            )
            run = await run_in_threadpool(_score_file, file, suffix, values["signatures"], ref)
            stored = await in_transaction(
                request,
                services.store_scores,
                actor,
                patient_id,
                run,
                reference_name=ref_name,
                visit_id=visit_id,
                collected_on=collected,
                tissue=values["tissue"] or None,
            )
        except AuthError:
            raise
        except IfnscopeError as err:
            if err.code == "registry.forbidden":
                raise
            # A patient that is not there: the page below raises its 404, as any page would.
            problem = _problem(err.code, err.message)
        else:
            upload["result"] = {
                "samples": len(run.samples),
                "sample_names": [str(n) for n in run.samples] if actor.identified else [],
                "signatures": [r.signature.name for r in run.results],
                "stored": len(run.samples) * len(run.results),
                "total": len(stored),
                "not_scored": services.not_scored(run),
                "notes": services.run_notes(run),
                "reference": ref_name,
            }
            log.info(
                "patient %d: %d scores stored from the page, %d signatures not scored",
                patient_id,
                len(run.samples) * len(run.results),
                len(run.failed),
            )
    upload["error"] = problem
    status = 422 if problem else 200
    return await in_transaction(request, _page, request, actor, patient_id, status, upload)


def _page(
    s: Session, request: Request, actor: Actor, patient_id: int, status: int, upload: dict[str, Any]
) -> Response:
    from ifnscope.web.pages.patients import _patient_page

    return _patient_page(request, actor, s, patient_id, status, upload=upload)
