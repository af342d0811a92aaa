"""Content-Security-Policy on every response, no inline script in any page, and /docs served
from this origin only (vendored Swagger UI). On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from ifnscope.case.reader import load_case
from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from ifnscope.web import Settings, create_app

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"
HTML = {"Accept": "text/html,application/xhtml+xml"}
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)


@pytest.fixture(scope="module")
def app(module_db_url: str) -> Iterator[FastAPI]:
    key = None if module_db_url.startswith("sqlite") else secrets.token_urlsafe(32)
    application = create_app(Settings(database_url=module_db_url, secret_key=key))
    with application.state.registry.transaction() as s:
        boss = actor_for(insert_user(s, "boss", PASSWORD, "admin"), "cli")
        p = services.create_patient(s, boss, name="Jane Roe")
        v = services.add_visit(
            s, boss, p.id, load_case(ROOT / "examples" / "seed-cadm.yaml"), dt.date(2025, 6, 1)
        )
        t = services.add_treatment(s, boss, p.id, name="hydroxychloroquine", started="2024-01")
    application.state.ids = {"patient_id": p.id, "visit_id": v.id, "treatment_id": t.id, "user_id": 1}
    yield application
    application.state.registry.engine.dispose()


@pytest.fixture(scope="module")
def admin(app: FastAPI) -> TestClient:
    c = TestClient(app, raise_server_exceptions=False)
    assert c.post("/api/auth/login", json={"username": "boss", "password": PASSWORD}).status_code == 200
    return c


def get_paths(routes: list[Any], prefix: str = "") -> list[str]:
    """Every GET path of the app, through included routers (whatever FastAPI nests them in)."""
    out: list[str] = []
    for r in routes:
        if isinstance(r, APIRoute):
            if "GET" in r.methods:
                out.append(prefix + r.path)
        elif hasattr(r, "original_router"):
            out += get_paths(r.original_router.routes, prefix + r.include_context.prefix)
        elif hasattr(r, "routes") and not isinstance(r, Mount):
            out += get_paths(r.routes, prefix + getattr(r, "path", ""))
    return out


def assert_policy(r: httpx.Response, where: str) -> None:
    csp = r.headers.get("content-security-policy")
    assert csp, f"{where}: no Content-Security-Policy"
    assert "frame-ancestors 'none'" in csp, where
    if r.headers.get("content-type", "").startswith("text/html"):
        rules = dict([*d.strip().split(" ", 1), ""][:2] for d in csp.split(";") if d.strip())
        assert rules["default-src"] in ("'self'", "'none'"), where  # this origin at most
        assert rules.get("script-src", rules["default-src"]) in ("'self'", "'none'"), where
        assert "unsafe-eval" not in csp, where
        for attrs, body in SCRIPT.findall(r.text):
            assert "src=" in attrs, f"{where}: inline script {body[:80]!r}"
            assert not body.strip(), f"{where}: inline script {body[:80]!r}"
            src = re.search(r'src="([^"]+)"', attrs)
            assert src is not None
            assert src.group(1).startswith("/"), f"{where}: script from another origin {src.group(1)}"
            assert not src.group(1).startswith("//"), where
        assert not HANDLER.search(r.text), f"{where}: inline event handler {HANDLER.search(r.text)}"
        assert "javascript:" not in r.text.lower(), where


def test_every_get_route_answers_with_a_policy(app: FastAPI, admin: TestClient) -> None:
    ids: dict[str, int] = app.state.ids
    seen_html = 0
    paths = get_paths(app.routes)
    assert "/docs" in paths
    assert "/login" in paths
    assert "/api/patients/{patient_id}" in paths
    for path in paths:
        url = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: str(ids.get(m.group(1), 1)), path)
        for headers in (HTML, {"Accept": "application/json"}):
            r = admin.get(url, headers=headers, follow_redirects=False)
            assert r.status_code < 500, f"{url}: {r.status_code}"
            assert_policy(r, url)
            seen_html += r.headers.get("content-type", "").startswith("text/html")
    assert seen_html >= 10  # the pages were really rendered, not only redirects


def test_error_pages_and_anonymous_pages_carry_it_too(app: FastAPI) -> None:
    c = TestClient(app, raise_server_exceptions=False)
    for url in ("/login", "/no-such-page", "/api/no-such-endpoint", "/static/app.js", "/openapi.json"):
        r = c.get(url, headers=HTML)
        assert_policy(r, url)
    r = c.get("/no-such-page", headers=HTML)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    r = c.post("/login", data={"username": "x"}, headers=HTML)  # no CSRF token: an error page
    assert r.status_code == 403
    assert_policy(r, "POST /login without a token")


def test_docs_use_only_vendored_same_origin_files(app: FastAPI) -> None:
    c = TestClient(app, raise_server_exceptions=False)
    r = c.get("/docs")
    assert r.status_code == 200
    assert_policy(r, "/docs")
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', r.text)
    styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', r.text)
    assert scripts == ["/static/swagger/swagger-ui-bundle.js", "/static/swagger/init.js"]
    assert styles == ["/static/swagger/swagger-ui.css"]
    assert "http://" not in r.text
    assert "https://" not in r.text
    for url in [*scripts, *styles, "/static/swagger/LICENSE"]:
        f = c.get(url)
        assert f.status_code == 200, url
        assert len(f.content) > 100, url
    assert "SwaggerUIBundle" in c.get("/static/swagger/swagger-ui-bundle.js").text
    assert c.get("/redoc").status_code == 404  # ReDoc would come from a CDN: not served


def test_docs_can_be_switched_off(tmp_path: Path) -> None:
    application = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}", api_docs=False))
    c = TestClient(application, raise_server_exceptions=False)
    assert c.get("/docs").status_code == 404
    assert c.get("/openapi.json").status_code == 200
    application.state.registry.engine.dispose()


def test_no_template_has_an_inline_script_or_handler() -> None:
    """Pages rendered only after a POST are not reached by the route walk: read every template."""
    from ifnscope.web.pages.common import WEB

    templates = sorted((WEB / "templates").glob("*.html"))
    assert len(templates) >= 10
    for path in templates:
        text = path.read_text(encoding="utf-8")
        for attrs, body in SCRIPT.findall(text):
            assert "src=" in attrs, f"{path.name}: inline script"
            assert not body.strip(), f"{path.name}: inline script"
        assert not HANDLER.search(text), f"{path.name}: {HANDLER.search(text)}"
        assert "javascript:" not in text.lower(), path.name
