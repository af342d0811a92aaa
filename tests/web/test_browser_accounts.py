"""The API docs and the user administration page in a real browser (Debian's Chromium driven by
Playwright; skipped loudly without it, via tests/web/browser_kit.py): /docs renders from the
vendored Swagger UI under the Content-Security-Policy with no request to another origin and no
console error (a CSP violation shows there), and an admin creates a user on /admin/users."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ifnscope.registry.auth import insert_user
from tests.web.browser_kit import (  # skips this module without a browser
    PASSWORD,
    SHOTS,
    Browser,
    Page,
    expect,
    registry_app,
    serve,
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = registry_app(tmp_path_factory, "browser-accounts", access_log=True)
    with app.state.registry.transaction() as s:
        insert_user(s, "boss", PASSWORD, "admin")
    with serve(app) as url:
        yield url


def _problem(kind: str, text: str) -> bool:
    """A console error or warning, except the browser's note on a page answered 422 (a form
    refused on purpose)."""
    return kind in ("error", "warning") and "status of 422" not in text


def watched(browser: Browser, base: str, width: int = 1280) -> tuple[Page, dict[str, list[Any]]]:
    seen: dict[str, list[Any]] = {"foreign": [], "console": []}
    ctx = browser.new_context(viewport={"width": width, "height": 800})
    ctx.on(
        "request",
        lambda r: (
            None if r.url.startswith(base) or r.url.startswith("data:") else seen["foreign"].append(r.url)
        ),
    )
    page = ctx.new_page()
    page.on("console", lambda m: seen["console"].append(m.text) if _problem(m.type, m.text) else None)
    return page, seen


def test_docs_render_offline_under_the_csp(browser: Browser, base: str) -> None:
    page, seen = watched(browser, base)
    page.goto(base + "/docs")
    expect(page.locator(".opblock-tag").first).to_be_visible(timeout=20000)
    assert page.locator(".opblock-tag").count() >= 5
    expect(page.get_by_text("/api/auth/login").first).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "docs.png"))
    assert seen == {"foreign": [], "console": []}
    page.context.close()


@pytest.mark.parametrize("width", [1280, 400])
def test_an_admin_creates_a_user(browser: Browser, base: str, width: int) -> None:
    page, seen = watched(browser, base, width)
    page.goto(base + "/login")
    page.fill("#username", "boss")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    name = f"nurse{width}"
    page.fill("#new-username", name)
    page.select_option("#new-role", "researcher")
    page.fill("#new-password", "short")
    page.fill("#new-password-again", "short")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("alert")).to_contain_text("at least 12 characters")
    page.fill("#new-password", "amber-violin-tundra-kettle")
    page.fill("#new-password-again", "amber-violin-tundra-kettle")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_contain_text(f"User {name} created.")
    row = page.locator("tr", has_text=name)
    expect(row).to_contain_text("researcher")
    row.get_by_role("button", name=f"Deactivate {name}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{name} deactivated")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin-users-{width}.png"), full_page=True)
    scroll = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not scroll, "the page scrolls sideways"
    assert seen == {"foreign": [], "console": []}
    page.context.close()
