"""The OpenAPI document, made to tell the truth to a client written against it.

FastAPI documents what the route functions declare: the success answer and a 422 with its own
validation-error shape. The app really answers errors as ``{"error": {code, message, …}}``
(``web.errors``), authenticates with a bearer API token or the session cookie (``web.deps``),
sends ``Location`` with every 201 and ``X-Total-Count`` with every list. :func:`install`
rewrites the generated document to say so, once, when it is first asked for:

- ``components.schemas.ErrorResponse`` (:class:`ErrorResponse`) for every error status, and 401
  / 403 / 404 / 409 / 413 / 415 / 422 on the operations that can answer them (see
  :func:`_error_statuses`);
- ``components.securitySchemes``: ``bearerToken`` (``Authorization: Bearer ifn_…``) and
  ``sessionCookie`` (``ifnscope_session``; state changes also need ``X-CSRF-Token``), required by
  every operation except login and logout;
- the ``Location`` header on 201 answers and ``X-Total-Count`` on lists.

It also answers 405 with an ``Allow`` header that lists every method of the path: Starlette
takes it from the first route that matched the path, which names only one of them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ifnscope.web.security import SESSION_COOKIE

TOTAL_HEADER = "X-Total-Count"


class ErrorIssue(BaseModel):
    """One problem in the request (validation errors list every one)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable code, e.g. request.invalid, case.unknown-key")
    path: str | None = Field(
        default=None, description="Where, e.g. body.visit_date, findings.gottron_papules"
    )
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, machine-readable: registry.not-found, auth.required, …")
    message: str = Field(description="For a person; never quotes patient data")
    field: str | None = Field(default=None, description="The request field at fault, dotted")
    issues: list[ErrorIssue] | None = Field(default=None, description="Every problem found")


class ErrorResponse(BaseModel):
    """Every error answer of the API (docs/api.md lists the codes)."""

    error: ErrorBody


_DESCRIPTIONS = {
    400: "The body could not be parsed (`request.invalid`)",
    401: "Not authenticated (`auth.required`) or the credentials are wrong, expired or revoked "
    "(`auth.invalid`)",
    403: "The role may not do this (`registry.forbidden`), or a cookie session sent no valid "
    "`X-CSRF-Token` (`auth.csrf`)",
    404: "No such record (`registry.not-found`)",
    409: "Conflicts with an existing record, e.g. the same MRN (`registry.conflict`)",
    413: "The body is larger than the server accepts (`registry.too-large`)",
    415: "Send JSON or multipart/form-data (`request.unsupported-media-type`)",
    422: "The request is invalid: `request.invalid` (with `field` and `issues`), `registry.invalid`, "
    "or a domain error (`case.*`, `matrix.*`, `signature.*`, `reference.*`)",
    429: "Too many attempts; retry later",
    501: "The server was installed without the optional part this needs (`install.missing-extra`)",
    502: "The FHIR server named refused, failed or timed out (`fhir.server`)",
    503: "The database is unavailable; retry later",
}
_PUBLIC = {("/api/auth/login", "post"), ("/api/auth/logout", "post")}
_WRITES = {"post", "put", "patch", "delete"}


def _error_statuses(path: str, method: str, op: dict[str, Any]) -> set[int]:
    """The error statuses an operation can really answer."""
    statuses = {422, 503}
    if (path, method) not in _PUBLIC:
        statuses |= {401, 403}
    if method == "post" and path in ("/api/auth/login", "/api/auth/password"):
        statuses |= {401, 429}  # a wrong password counts as a failed login (throttled)
    if method == "post" and path == "/api/auth/logout":
        statuses |= {403}  # a cookie session without its CSRF token
    if "{" in path:
        statuses.add(404)
    if method in _WRITES:
        statuses.add(409)
    body = op.get("requestBody", {}).get("content", {})
    if body:
        statuses |= {400, 413}  # 400: a body that does not parse (malformed JSON or multipart)
    if "multipart/form-data" in body and "application/json" in body:
        statuses.add(415)  # endpoints that read either body themselves
    if path.endswith(("/report.pdf", "/letter.pdf")):
        statuses.add(501)
    if path == "/api/patients/import/fhir-server":
        statuses.add(502)
    # The 200/201 of an operation is never an error; keep what the route declared explicitly.
    return statuses


def _error_ref() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}


def _is_list(op: dict[str, Any]) -> bool:
    for status in ("200",):
        content = op.get("responses", {}).get(status, {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        if schema.get("type") == "array":
            return True
    return False


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document FastAPI generates, made truthful (see the module docstring)."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    err_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in err_schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas["ErrorResponse"] = err_schema
    components["securitySchemes"] = {
        "bearerToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`ifn_…`) from `POST /api/auth/tokens` or "
            "`ifnscope admin create-token`",
        },
        "sessionCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": SESSION_COOKIE,
            "description": "The session from `POST /api/auth/login`; requests that change state "
            "also send the login's `csrf_token` as the `X-CSRF-Token` header",
        },
    }
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses: dict[str, Any] = op.setdefault("responses", {})
            for param in op.get("parameters", []):
                _bound_id(param["name"], param.get("schema", {}))
            if (path, method) in _PUBLIC:
                op["security"] = []
            else:
                op["security"] = [{"bearerToken": []}, {"sessionCookie": []}]
            for status in sorted(_error_statuses(path, method, op)):
                key = str(status)
                responses[key] = {"description": _DESCRIPTIONS[status], "content": _error_ref()}
            if "201" in responses:
                responses["201"].setdefault("headers", {})["Location"] = {
                    "description": "The URL of the record created",
                    "required": True,
                    "schema": {"type": "string"},
                }
            if _is_list(op):
                responses["200"].setdefault("headers", {})[TOTAL_HEADER] = {
                    "description": "How many items match in all (a page holds at most `limit`)",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                }
    for item in doc.get("paths", {}).values():
        for op in item.values():
            form = op.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
            ref = form.get("schema", {}).get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                _form_fields(schemas[ref.rsplit("/", 1)[1]])
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


MAX_ID = 2**31 - 1  # a PostgreSQL integer column; larger ids are refused (422) on every database


def _bound_id(name: str, schema: dict[str, Any]) -> None:
    """Record ids are 1 … 2³¹−1 (the range every supported database stores)."""
    if name.endswith("_id") and schema.get("type") == "integer":
        schema.setdefault("minimum", 1)
        schema.setdefault("maximum", MAX_ID)


def _form_fields(schema: dict[str, Any]) -> None:
    """A form field cannot be null (it is absent, or text), and a required list has an item."""
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if options and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del prop["anyOf"]
            prop.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        _bound_id(name, prop)
        if prop.get("type") == "array" and name in required:
            prop.setdefault("minItems", 1)


def set_total(response: Response, total: int) -> None:
    """Say how many items a list has in all (``X-Total-Count``), for paging."""
    response.headers[TOTAL_HEADER] = str(total)


def created(response: Response, location: str) -> None:
    """The ``Location`` of a record a 201 answer created."""
    response.headers["Location"] = location


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app accepts at this request's path (a route matches
    FULL only for a method it takes; included routers answer for their routes)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    from ifnscope.web.errors import _http_error

    assert isinstance(exc, StarletteHTTPException)
    allow = ", ".join(allowed_methods(request)) or (exc.headers or {}).get("Allow", "")
    exc = StarletteHTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": allow})
    return _http_error(request, exc)


async def _out_of_range(request: Request, exc: Exception) -> Response:
    """A number too large for the database (SQLite binds at most 64 bits) is the documented 422,
    not a 500; the engine-level check of the database layer answers first where it exists."""
    from ifnscope.web.errors import error_body, error_response

    return error_response(
        request, 422, error_body("request.invalid", "a number in the request is out of range")
    )


def install(app: FastAPI) -> None:
    """Serve the truthful document and the right ``Allow`` (call once, after the routes)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(OverflowError, _out_of_range)


__all__ = ["ErrorResponse", "allowed_methods", "build_openapi", "created", "install", "set_total"]
