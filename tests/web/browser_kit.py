"""What every browser test needs: Debian's Chromium (/usr/bin/chromium) driven by Playwright
against a real server (uvicorn in a thread on a free port).

Importing this module skips the importing test module loudly when the browser or Playwright is
missing: never ``playwright install``; ``tools/install-browser.sh`` installs the distribution's
browser with apt-get. Screenshots go to ``$IFNSCOPE_SHOTS`` (default /tmp/ifnscope-shots).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"!!! {CHROMIUM} IS MISSING: the browser tests did NOT run. Install Debian's Chromium with "
        "`bash tools/install-browser.sh` (apt-get install chromium); never `playwright install` !!!",
        allow_module_level=True,
    )

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    pytest.skip(
        "!!! THE PLAYWRIGHT PYTHON PACKAGE IS MISSING: the browser tests did NOT run "
        "(pip install -e '.[dev]') !!!",
        allow_module_level=True,
    )

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "NARROW",
    "PASSWORD",
    "SHOTS",
    "WIDE",
    "Browser",
    "BrowserContext",
    "Page",
    "Watch",
    "expect",
    "launch",
    "login",
    "new_page",
    "serve",
]

PASSWORD = "correct-horse-battery"
SHOTS = Path(os.environ.get("IFNSCOPE_SHOTS", "/tmp/ifnscope-shots"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 400, "height": 800}


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free port: yields the base URL; stops the server
    and disposes of the registry's engine afterwards."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the web server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)
        app.state.registry.engine.dispose()


def registry_app(tmp_path_factory: pytest.TempPathFactory, name: str, **settings: Any) -> Any:
    """The web app on a new SQLite registry in a temporary folder named ``name`` (no access log
    unless ``settings`` say otherwise)."""
    from ifnscope.web import Settings, create_app

    db = tmp_path_factory.mktemp(name) / "registry.sqlite3"
    return create_app(Settings(database_url=f"sqlite:///{db}", **{"access_log": False, **settings}))


@contextmanager
def launch() -> Iterator[Browser]:
    """Chromium, headless (the module-scoped ``browser`` fixture in tests/web/conftest.py wraps it)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """Requests that left the server, and console errors, for one browser context."""

    def __init__(self, ctx: BrowserContext, base: str) -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []
        ctx.on("request", lambda req: self._request(req.url, base))
        self.base = base

    def _request(self, url: str, base: str) -> None:
        if not url.startswith((base, "data:", "blob:")):
            self.outside.append(url)

    def page(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("response", self._response)
        return page

    def _console(self, msg: Any) -> None:
        # A page answered with 401/422 (a refused login, a form with problems) is logged by the
        # browser as a failed load; failed subresources are caught by _response instead.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def _response(self, resp: Any) -> None:
        if resp.status >= 400 and resp.request.resource_type != "document":
            self.errors.append(f"{resp.status} {resp.url}")

    def check(self) -> None:
        assert self.outside == [], f"requests left the server: {self.outside}"
        assert self.errors == [], f"console errors: {self.errors}"


def new_page(
    browser: Browser, base: str, viewport: dict[str, int] = WIDE, **options: Any
) -> tuple[BrowserContext, Page, Watch]:
    """A fresh context at ``viewport`` with its page, watched (``Watch.check`` at the end)."""
    ctx = browser.new_context(viewport=viewport, base_url=base, **options)  # type: ignore[arg-type]
    watch = Watch(ctx, base)
    page = watch.page(ctx.new_page())
    page.set_default_timeout(10_000)
    return ctx, page, watch


def login(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form, as a person does."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))
