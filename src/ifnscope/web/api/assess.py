"""Assess a case without storing it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ifnscope.case.model import Case
from ifnscope.registry.auth import Actor
from ifnscope.web.api.common import CASE_FILE_SCHEMA, body_doc, buffer_body, read_case
from ifnscope.web.deps import actor_briefly

router = APIRouter(tags=["assessment"])


async def _case_body(request: Request) -> Case | object:
    return await read_case(request)


@router.post(
    "/assess",
    openapi_extra=body_doc(
        {"type": "object", "description": "An ifnscope-case/1 document (see `ifnscope schema`)"},
        CASE_FILE_SCHEMA,
    ),
)
def assess_case(
    _body: Annotated[None, Depends(buffer_body)],
    actor: Annotated[Actor, Depends(actor_briefly)],  # a short transaction: assessing holds no slot
    case: Annotated[Case | object, Depends(_case_body)],
) -> dict[str, Any]:
    """The assessment JSON (as `ifnscope assess --json`) of a case sent as the JSON body or as an
    uploaded YAML/JSON file (`file`). Nothing is stored or audited: no patient is involved."""
    from ifnscope.assessment import assess
    from ifnscope.case.reader import validate_case

    c = case if isinstance(case, Case) else validate_case(case)
    return assess(c).to_json_dict()
