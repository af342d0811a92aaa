"""The case form's live assessment, selected buttons, definitions on touch screens and the phone
layout, in a real browser (Debian's Chromium driven by Playwright against uvicorn in a thread, a
temporary SQLite registry). Scaffolding: tests/web/browser_kit.py.

Never ``playwright install``: without /usr/bin/chromium every test here is skipped loudly.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from tests.helpers import ROOT
from tests.web.browser_kit import (  # skips this module without a browser
    PASSWORD,
    SHOTS,
    WIDE,
    Browser,
    BrowserContext,
    Page,
    Watch,
    expect,
    login,
    new_page,
    registry_app,
    serve,
)

ACTIVITY = ROOT / "examples" / "activity-cdasi-clasi.yaml"
PHONE = {"width": 390, "height": 844}


def _seed(app: Any) -> dict[str, int]:
    """A clinician and a patient with a scored visit and a treatment (tables on the patient page)."""
    doc = yaml.safe_load(ACTIVITY.read_text(encoding="utf-8"))
    doc.pop("expected", None)
    doc.get("activity", {}).pop("baseline", None)
    with app.state.registry.transaction() as s:
        clin = actor_for(insert_user(s, "doc", PASSWORD, "clinician"), "cli")
        p = services.create_patient(
            s, clin, name="Lina Livepanel", mrn="MRN-LIVE-1", birth_date=dt.date(1981, 3, 9), sex="female"
        )
        services.add_visit(s, clin, p.id, doc, visit_date=dt.date.today() - dt.timedelta(days=30))
        services.add_treatment(s, clin, p.id, name="hydroxychloroquine", started="2024-01-05")
        return {"patient": p.id}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    app = registry_app(tmp_path_factory, "browser-live")
    ids = _seed(app)
    with serve(app) as base:
        yield {"base": base, **ids}


def _context(
    browser: Browser, server: dict[str, Any], viewport: dict[str, int], touch: bool = False
) -> tuple[BrowserContext, Page, Watch]:
    ctx, page, watch = new_page(browser, server["base"], viewport, has_touch=touch, is_mobile=touch)
    login(page, "doc")
    return ctx, page, watch


def _tri(page: Page, name: str, value: str) -> None:
    page.locator(f'label:has(> input[name="{name}"][value="{value}"])').click()


def _contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two computed colours ('rgb(r, g, b)')."""

    def lum(css: str) -> float:
        r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _no_page_overflow(page: Page) -> tuple[int, int]:
    return page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")  # type: ignore[no-any-return]


def test_clicking_findings_updates_the_live_panel_without_a_page_load(
    browser: Browser, server: dict[str, Any]
) -> None:
    ctx, page, watch = _context(browser, server, WIDE)
    page.goto(f"/patients/{server['patient']}/visits/new")
    body = page.locator("#live-body")
    expect(body).to_contain_text("Nothing to assess yet")  # the panel loaded (htmx, on load)
    page.evaluate("window.__sameDocument = true")  # gone if the page were loaded again
    visits_before = page.evaluate("performance.getEntriesByType('navigation').length")

    _tri(page, "findings.gottron_papules", "present")
    iim = body.locator('tr[data-key="eular_acr_iim_2017"]')
    expect(iim).to_contain_text("score")
    first = iim.inner_text()
    expect(body.locator('tr[data-key="differential"]')).to_contain_text("dermatomyositis")

    _tri(page, "findings.heliotrope_rash", "present")
    expect(iim).not_to_have_text(first)
    assert page.evaluate("window.__sameDocument") is True
    assert page.evaluate("performance.getEntriesByType('navigation').length") == visits_before
    assert page.url.endswith("/visits/new")
    expect(body).to_contain_text("Not recorded, and would change a result")

    # a bad number: a message in the panel, not an error page
    page.locator('[name="onset.age_years"]').fill("abc")
    page.locator('[name="onset.age_years"]').blur()
    expect(body).to_contain_text("Not assessed: correct the form first.")
    page.screenshot(path=str(SHOTS / "live-panel-1280.png"), full_page=False)
    watch.check()
    ctx.close()


def test_a_selected_antibody_button_looks_different_beyond_colour(
    browser: Browser, server: dict[str, Any]
) -> None:
    ctx, page, watch = _context(browser, server, WIDE)
    page.goto(f"/patients/{server['patient']}/visits/new")
    name = page.locator('input[name^="labs.antibodies."]').first.get_attribute("name")
    assert name
    _tri(page, name, "positive")
    js = """([sel]) => { const s = document.querySelector(sel).nextElementSibling;
        const st = getComputedStyle(s); const b = getComputedStyle(s, '::before');
        return {shadow: st.boxShadow, weight: st.fontWeight, mark: b.content,
                fg: st.color, bg: st.backgroundColor}; }"""
    on = page.evaluate(js, [f'input[name="{name}"][value="positive"]'])
    off = page.evaluate(js, [f'input[name="{name}"][value="negative"]'])
    assert "✓" in on["mark"]
    assert off["mark"] in ("none", "normal", "")
    assert on["shadow"] != off["shadow"]
    assert on["shadow"] != "none"
    assert int(on["weight"]) > int(off["weight"])
    assert _contrast(on["fg"], on["bg"]) >= 4.5  # WCAG AA for the selected button's text
    assert _contrast(off["fg"], off["bg"]) >= 4.5
    watch.check()
    ctx.close()


def test_a_definition_opens_by_tap_and_by_keyboard(browser: Browser, server: dict[str, Any]) -> None:
    ctx, page, watch = _context(browser, server, PHONE, touch=True)
    page.goto(f"/patients/{server['patient']}/visits/new")
    button = page.get_by_role("button", name="Definition of Heliotrope rash")
    definition = page.locator("#def-findings\\.heliotrope_rash")
    expect(definition).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    box = button.bounding_box()
    assert box
    assert box["width"] >= 44
    assert box["height"] >= 44
    button.tap()
    expect(definition).to_be_visible()
    expect(definition).to_contain_text("eyelids")
    expect(button).to_have_attribute("aria-expanded", "true")
    button.focus()
    page.keyboard.press("Enter")
    expect(definition).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    watch.check()
    ctx.close()


def test_the_form_and_the_patient_page_fit_a_phone(browser: Browser, server: dict[str, Any]) -> None:
    ctx, page, watch = _context(browser, server, PHONE, touch=True)
    for url, shot in (
        (f"/patients/{server['patient']}/visits/new", "live-visit-form-390"),
        (f"/patients/{server['patient']}", "live-patient-390"),
        ("/", "live-patients-390"),
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        if url.endswith("/visits/new"):  # with the live panel filled in
            _tri(page, "findings.heliotrope_rash", "present")
            expect(page.locator('#live-body tr[data-key="eular_acr_iim_2017"]')).to_be_visible()
        width, inner = _no_page_overflow(page)
        page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
        assert width <= inner, f"{url}: the page is {width}px wide in a {inner}px window"
    # the form is one column: every field of the first grid starts at the same x
    page.goto(f"/patients/{server['patient']}/visits/new")
    xs = page.evaluate(
        "Array.from(document.querySelector('#case-form .grid-form').children)"
        ".map(e => Math.round(e.getBoundingClientRect().x))"
    )
    assert len(set(xs)) == 1, xs
    # tap targets: the finding buttons are at least 44 px high
    seg = page.locator('label:has(> input[name="findings.gottron_papules"][value="present"]) > span')
    box = seg.bounding_box()
    assert box
    assert box["height"] >= 44
    watch.check()
    ctx.close()
