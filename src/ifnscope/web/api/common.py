"""What several routers share: reading a case from JSON or an uploaded file, and request errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import PurePath
from typing import Any, Literal

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ifnscope.case.model import Case
from ifnscope.errors import CaseParseError
from ifnscope.registry.inputs import VisitDate, visit_date_problem

CASE_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "A case file (.yaml, .yml or .json)"},
    },
    "required": ["file"],
}


class VisitIn(BaseModel):
    """A visit as JSON: the date and the case (an ``ifnscope-case/1`` document, see
    ``ifnscope schema``)."""

    model_config = ConfigDict(extra="forbid")

    visit_date: VisitDate | None = Field(default=None, description="Default: today; not in the future")
    case: dict[str, Any] = Field(description="An ifnscope-case/1 document")


def invalid(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    """A ``request.invalid`` error at ``loc`` (rendered as a dotted path)."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message, "input": None}])


def from_pydantic(exc: ValidationError, prefix: tuple[str, ...] = ("body",)) -> RequestValidationError:
    return RequestValidationError(
        [
            {"type": e["type"], "loc": (*prefix, *e["loc"]), "msg": e["msg"], "input": None}
            for e in exc.errors(include_url=False)
        ]
    )


async def read_json(request: Request) -> object:
    """The body as parsed JSON (any JSON value); ``request.invalid`` when it is not JSON."""
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body",),
                    "msg": "JSON decode error",
                    "input": None,
                    "ctx": {"error": getattr(exc, "msg", None) or "not UTF-8"},
                }
            ]
        ) from None


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _unsupported() -> HTTPException:
    return HTTPException(
        415, "send JSON (application/json) or a case file (multipart/form-data, field 'file')"
    )


async def case_from_upload(upload: UploadFile) -> Case:
    """Parse an uploaded case file (YAML, or JSON by its .json suffix); errors are case.* (422)."""
    name = PurePath(upload.filename or "case.yaml").name
    data = await upload.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaseParseError(f"not UTF-8 text ({exc.reason})", file=name) from None
    from ifnscope.case.reader import parse_case

    kind: Literal["json", "yaml"] = "json" if name.lower().endswith(".json") else "yaml"
    return await run_in_threadpool(parse_case, text, file=name, kind=kind)


def _form_date(value: Any, loc: tuple[str, ...]) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        d = TypeAdapter(dt.date).validate_python(value)
    except ValidationError:
        raise invalid(loc, "expected a date (YYYY-MM-DD)") from None
    if problem := visit_date_problem(d):  # the JSON body's rule (VisitDate), for uploads
        raise invalid(loc, problem)
    return d


async def read_visit(request: Request) -> tuple[Case | dict[str, Any], dt.date | None]:
    """``{"visit_date", "case"}`` as JSON, or a multipart upload (``file``, ``visit_date``)."""
    ctype = _content_type(request)
    if ctype == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid(("body", "file"), "a case file (YAML or JSON) is required")
        return await case_from_upload(upload), _form_date(form.get("visit_date"), ("body", "visit_date"))
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            visit = VisitIn.model_validate(await read_json(request))
        except ValidationError as exc:
            raise from_pydantic(exc) from None
        return visit.case, visit.visit_date
    raise _unsupported()


async def read_case(request: Request) -> Case | object:
    """A case parsed from a multipart upload (``file``), or the JSON body as sent (any JSON
    value: ``validate_case`` names what is wrong with it)."""
    ctype = _content_type(request)
    if ctype == "multipart/form-data":
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile):
            raise invalid(("body", "file"), "a case file (YAML or JSON) is required")
        return await case_from_upload(upload)
    if ctype == "application/json" or ctype.endswith("+json"):
        return await read_json(request)  # validated by the caller (validate_case: case.* issues)
    raise _unsupported()


async def buffer_body(request: Request) -> None:
    """Read the whole body before the endpoint's other dependencies (list it first): a slow
    upload then waits in the event loop, not while holding a database slot. The body is cached
    on the request for the parsers that follow."""
    if _content_type(request) in ("multipart/form-data", "application/x-www-form-urlencoded"):
        await request.form()
    else:
        await request.body()


def body_doc(json_schema: dict[str, Any], multipart_schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for an endpoint that reads JSON or multipart itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_schema},
                "multipart/form-data": {"schema": multipart_schema},
            },
        }
    }
