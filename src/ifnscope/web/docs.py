"""The interactive API docs at ``/docs``, served from this server only.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN (blank offline, and a third party's
script on a page that holds the session cookie) and starts it with an inline script, which the
Content-Security-Policy forbids. This page uses Swagger UI's files vendored from the npm package
``swagger-ui-dist`` (``web/static/swagger``, version in ``SWAGGER_UI_VERSION``, Apache-2.0, its
LICENSE and NOTICE beside it) and a small start script of ours. ReDoc is not served.

``IFNSCOPE_API_DOCS=0`` switches the page off (``/openapi.json`` stays: clients generate code
from it).
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

SWAGGER_UI_VERSION = "5.35.0"  # web/static/swagger/swagger-ui-bundle.js, from npm swagger-ui-dist
_STATIC = "/static/swagger"


def docs_html(title: str, openapi_url: str) -> str:
    """The page: the vendored stylesheet and bundle, then our start script; nothing inline."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · API docs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{_STATIC}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{_STATIC}/swagger-ui-bundle.js"></script>
<script src="{_STATIC}/init.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (the app is created with ``docs_url=None, redoc_url=None``)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def api_docs(_request: Request) -> HTMLResponse:
        return HTMLResponse(docs_html(app.title, openapi_url), headers={"Cache-Control": "no-store"})
