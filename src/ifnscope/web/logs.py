"""Logging without patient data.

The policy (docs/api.md): logs carry methods, paths, statuses, durations, ids and counts.
Never query strings (a search may be a name), request or response bodies, error messages that
may quote input, or SQL parameters.

- :class:`AccessLogMiddleware` writes one line per request to ``ifnscope.access``:
  ``GET /api/patients/12 200 4.1ms``: matched routes only, numeric ids only
  (:func:`loggable_path`).
- :class:`StripQueryFilter` removes query strings from uvicorn's own access log, for servers
  started with plain ``uvicorn`` and its access log on (``ifnscope serve`` turns it off and
  relies on the middleware).
- :data:`LOGGING_CONFIG` is the ``logging.config.dictConfig`` that ``ifnscope serve`` hands to
  uvicorn.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "ifnscope.access"
access_log = logging.getLogger(ACCESS_LOGGER)


def loggable_path(scope: Scope) -> str:
    """The path of a matched route, with every path parameter that is not a plain number replaced
    by its name (``/api/patients/{patient_id}``); an unmatched path is not logged at all. API
    paths hold ids only, but a URL typed by hand may hold a name."""
    if scope.get("route") is None:
        return "(unmatched path)"
    params = scope.get("path_params") or {}
    hidden = {str(v): k for k, v in params.items() if not str(v).isdigit()}
    path = str(scope.get("path", "?"))
    if not hidden:
        return path
    return "/".join(f"{{{hidden[seg]}}}" if seg in hidden else seg for seg in path.split("/"))


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            ms = (time.perf_counter() - start) * 1000
            access_log.info("%s %s %d %.1fms", scope.get("method", "?"), loggable_path(scope), status, ms)


class StripQueryFilter(logging.Filter):
    """Drop the query string from uvicorn's access records (args: client, method, path, http, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install_uvicorn_filter() -> None:
    """Attach :class:`StripQueryFilter` to uvicorn's access logger (idempotent)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, StripQueryFilter) for f in logger.filters):
        logger.addFilter(StripQueryFilter())


LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"strip_query": {"()": StripQueryFilter}},
    "formatters": {
        "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "access": {"format": "%(asctime)s %(message)s"},
    },
    "handlers": {
        "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "filters": ["strip_query"],
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "ifnscope": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "ifnscope.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        # SQL statements and their parameters may hold names: never below WARNING.
        "sqlalchemy": {"handlers": ["default"], "level": "WARNING", "propagate": False},
        "alembic": {"handlers": ["default"], "level": "WARNING", "propagate": False},
    },
}
