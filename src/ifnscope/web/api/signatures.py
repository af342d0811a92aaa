"""Saved references (from ``ifnscope reference fit``) and interferon scores of uploaded samples.

An uploaded expression matrix is copied into a private temporary folder (mode 0700), read by
the same readers as the command line (chosen by the file's suffix), scored, and deleted at once;
only the scores are stored.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from ifnscope.errors import MatrixError, ReferenceFileError
from ifnscope.registry import services
from ifnscope.registry.auth import Actor
from ifnscope.registry.services import ReferenceInfo, ScoreUpload
from ifnscope.web.api.types import DbId, Text40, Text120
from ifnscope.web.deps import Authenticated, DbSession, actor_briefly, in_transaction, require
from ifnscope.web.openapi import created, set_total

router = APIRouter(tags=["signatures"])
log = logging.getLogger("ifnscope.web")

Scorer = Annotated[Actor, Depends(require("score"))]
# Folders (10x Matrix Market, .zarr) cannot be uploaded as one file: a 10x matrix is uploaded
# as Cell Ranger's .h5, an AnnData as .h5ad.
MATRIX_SUFFIXES = (
    ".tsv",
    ".txt",
    ".csv",
    ".tab",
    ".tsv.gz",
    ".txt.gz",
    ".csv.gz",
    ".tab.gz",
    ".h5ad",
    ".h5",
)


@router.post("/references", status_code=201, response_model=ReferenceInfo)
def save_reference(
    actor: Scorer,
    s: DbSession,
    response: Response,
    file: Annotated[UploadFile, File(description="A reference file written by `ifnscope reference fit`")],
    name: Annotated[
        Text120 | None, Form(max_length=120, description="Default: the file name without .json")
    ] = None,
) -> ReferenceInfo:
    """Save a fixed reference under a name, for scoring later uploads against it."""
    label = (name or PurePath(file.filename or "reference").stem).strip()
    try:
        content = json.loads(file.file.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ReferenceFileError(
            "not a JSON reference file (write one with `ifnscope reference fit`)", code="reference.format"
        ) from None
    if not isinstance(content, dict):
        raise ReferenceFileError("a reference file is a JSON object", code="reference.format")
    info = services.save_reference(s, actor, label, content)
    log.info("reference saved")
    created(response, "/api/references")  # references are listed, not read one by one
    return info


@router.get("/references", response_model=list[ReferenceInfo])
def list_references(actor: Authenticated, s: DbSession, response: Response) -> list[ReferenceInfo]:
    rows = services.list_references(s, actor)
    set_total(response, len(rows))
    return rows


def _suffix(filename: str | None) -> str:
    name = (filename or "").lower()
    for suffix in sorted(MATRIX_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise MatrixError(
        "unsupported upload: expected a delimited text file (.tsv, .txt, .csv, optionally .gz), "
        "an .h5ad file or a 10x Cell Ranger .h5 file (folders such as a 10x Matrix Market folder "
        "or a .zarr cannot be uploaded)",
        code="matrix.format",
    )


@router.post("/patients/{patient_id}/samples", status_code=201, response_model=ScoreUpload)
async def score_samples(
    patient_id: DbId,
    request: Request,
    response: Response,
    file: Annotated[
        UploadFile, File(description="Expression matrix: .tsv/.csv (optionally .gz), .h5ad or 10x .h5")
    ],
    signature: Annotated[list[Text40], Form(description="Signature name(s), e.g. rice6, aybey_ifna")],
    reference: Annotated[Text120 | None, Form(description="Name of a saved reference")] = None,
    visit_id: Annotated[DbId | None, Form()] = None,
    tissue: Annotated[Text40 | None, Form(max_length=40, description="blood, skin, ...")] = None,
    collected_on: Annotated[dt.date | None, Form()] = None,
) -> ScoreUpload:
    """Score every sample of the uploaded matrix (all from this patient) and store the scores;
    answers with all of the patient's scores, and the signatures that could not be scored
    (``not_scored``: code and why). One refused signature does not stop the others; the
    upload is refused (422) only when none can be scored.

    Three steps, so that the scoring run (seconds) holds no database lock: check and load the
    reference in a short transaction, score with no transaction, store in a second one."""
    actor = await actor_briefly(request)
    actor.require("score")
    suffix = _suffix(file.filename)
    signatures = [x.strip() for item in signature for x in item.split(",") if x.strip()]
    ref_name = (reference or "").strip() or None
    ref = await in_transaction(
        request, services.prepare_scoring, actor, patient_id, reference_name=ref_name, visit_id=visit_id
    )
    with tempfile.TemporaryDirectory(prefix="ifnscope-upload-") as folder:  # created 0700
        path = Path(folder) / f"matrix{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1024 * 1024)
        run = await run_in_threadpool(services.compute_scores, path, signatures, ref)
    scores = await in_transaction(
        request,
        services.store_scores,
        actor,
        patient_id,
        run,
        reference_name=ref_name,
        visit_id=visit_id,
        collected_on=collected_on,
        tissue=(tissue or "").strip() or None,
    )
    log.info(
        "patient %d: %d scores stored, %d signatures not scored", patient_id, len(scores), len(run.failed)
    )
    created(response, f"/api/patients/{patient_id}/timeline")  # the scores are read with the record
    return ScoreUpload(scores=scores, not_scored=services.not_scored(run), notes=services.run_notes(run))
