"""CDASI and CLASI entry through the case form's grids in a real browser (Debian's Chromium driven
by Playwright against uvicorn in a thread, a temporary SQLite registry): the running totals that
static/activity.js shows while items are chosen are what the saved visit reports. The browser, the
server and the watch come from tests/web/browser_kit.py.

Never ``playwright install``: without /usr/bin/chromium every test here is skipped loudly.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ifnscope.activity import evaluate as evaluate_activity
from ifnscope.activity.results import span
from ifnscope.case.reader import validate_case
from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from ifnscope.web.forms import case_from_form
from tests.helpers import ROOT
from tests.web.browser_kit import (  # skips this module without a browser
    NARROW,
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
SHOT_CSS = ".submit-bar { position: static !important; }"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    app = registry_app(tmp_path_factory, "browser-grid")
    with app.state.registry.transaction() as s:
        clin = actor_for(insert_user(s, "doc", PASSWORD, "clinician"), "cli")
        p = services.create_patient(
            s, clin, name="Greta Gridbrowser", mrn="MRN-GR-1", birth_date=dt.date(1995, 3, 4), sex="female"
        )
        patient_id = p.id
    with serve(app) as base:
        yield {"base": base, "patient": patient_id}


def _context(
    browser: Browser, server: dict[str, Any], viewport: dict[str, int]
) -> tuple[BrowserContext, Page, Watch]:
    return new_page(browser, server["base"], viewport)


def _login(page: Page, username: str) -> None:
    login(page, username)


def _shot(page: Page, name: str) -> None:
    page.add_style_tag(content=SHOT_CSS)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _cdasi() -> dict[str, Any]:
    doc = yaml.safe_load(ACTIVITY.read_text(encoding="utf-8"))
    return dict(doc["activity"]["cdasi"])


def _choose(page: Page, name: str, value: str) -> None:
    page.locator(f'select[name="{name}"]').select_option(value)


def _total(page: Page, index: str, part: str) -> str:
    return (page.locator(f'#grid-{index} [data-total="{part}"]').text_content() or "").strip()


def test_cdasi_entered_in_the_grid_running_totals_match_the_saved_visit(
    browser: Browser, server: dict[str, Any]
) -> None:
    ctx, page, watch = _context(browser, server, WIDE)
    _login(page, "doc")
    page.goto(f"/patients/{server['patient']}/visits/new")
    page.locator("#grid-cdasi > summary").click()
    expect(page.locator('#grid-cdasi [data-total="activity"]')).to_have_text("not scored")

    # One cell: the rest is unknown, so the total is a range and the band is open.
    _choose(page, "activity.cdasi.areas.scalp.erythema", "2")
    # 2 chosen, and 100 less scalp erythema's maximum of 3 could still be scored
    expect(page.locator('#grid-cdasi [data-total="activity"]')).to_have_text("2\u201399")
    expect(page.locator('#grid-cdasi [data-total="band"]')).to_contain_text("Band not determined")

    cdasi = _cdasi()
    for area, items in cdasi["areas"].items():
        for item, v in items.items():
            _choose(page, f"activity.cdasi.areas.{area}.{item}", str(v))
    for item, v in cdasi["gottron_hands"].items():
        _choose(page, f"activity.cdasi.gottron_hands.{item}", str(v))
    _choose(page, "activity.cdasi.periungual", str(cdasi["periungual"]))
    _choose(page, "activity.cdasi.alopecia", str(cdasi["alopecia"]))
    activity, damage = _total(page, "cdasi", "activity"), _total(page, "cdasi", "damage")
    assert activity == "36"  # every item chosen: one number (added up by hand from the file)
    assert damage == "2"
    expect(page.locator('#grid-cdasi [data-total="band"]')).to_have_text("Stanford band: moderate–severe")
    expect(page.locator("#grid-cdasi [data-summary]")).to_contain_text("activity 36")

    # CLASI partly scored: the running total is the range the engine will report.
    page.locator("#grid-clasi > summary").click()
    _choose(page, "activity.clasi.areas.ears.erythema", "2")
    _choose(page, "activity.clasi.areas.ears.dyspigmentation", "1")
    clasi_activity, clasi_damage = _total(page, "clasi", "activity"), _total(page, "clasi", "damage")
    assert clasi_activity == "2\u201369"
    _choose(page, "activity.clasi.dyspigmentation_12_months", "yes")
    clasi_damage = _total(page, "clasi", "damage")
    assert clasi_damage.startswith("2\u2013")  # the ears' 1 doubled
    _shot(page, "grid-01-cdasi-1280")

    page.get_by_role("button", name="Assess and save visit").click()
    page.wait_for_url(re.compile(r"/visits/\d+$"))
    section = page.locator("section[aria-labelledby=h-activity]")
    expect(section).to_contain_text(f"CDASI: activity {activity} of 100")
    expect(section).to_contain_text(f"damage {damage} of 32")
    expect(section).to_contain_text(f"CLASI: activity {clasi_activity} of 70")
    expect(section).to_contain_text(f"damage {clasi_damage} of 56")
    watch.check()
    ctx.close()


def test_grid_on_a_narrow_screen(browser: Browser, server: dict[str, Any]) -> None:
    ctx, page, watch = _context(browser, server, NARROW)
    _login(page, "doc")
    page.goto(f"/patients/{server['patient']}/visits/new")
    page.locator("#grid-cdasi > summary").click()
    _choose(page, "activity.cdasi.areas.malar.erythema", "1")
    expect(page.locator('#grid-cdasi [data-total="activity"]')).to_have_text("1\u201398")
    # "blanks → 0" on the malar row: the other malar cells become 0, the range narrows by
    # their maxima (scale 2, erosion 1), and no other area is touched
    page.get_by_role("button", name="Malar area: 0 in the cells left blank").click()
    expect(page.locator('select[name="activity.cdasi.areas.malar.scale"]')).to_have_value("0")
    expect(page.locator('select[name="activity.cdasi.areas.malar.erythema"]')).to_have_value("1")
    expect(page.locator('select[name="activity.cdasi.areas.scalp.scale"]')).to_have_value("")
    expect(page.locator('#grid-cdasi [data-total="activity"]')).to_have_text("1\u201395")
    # the grid scrolls inside its box; the page itself does not scroll sideways
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > 402 && !e.closest('.grid-scroll'))
            .slice(0, 8).map(e => e.tagName + '.' + e.className)"""
    )
    assert width <= NARROW["width"] + 1, wide
    _shot(page, "grid-02-cdasi-400")
    watch.check()
    ctx.close()


SET_VALUES = """(vals) => {
  document.querySelectorAll('.activity-index[data-index] select')
    .forEach(s => { s.value = vals[s.name] || ''; });
  document.querySelectorAll('.activity-index[data-index]').forEach(
    b => b.querySelector('select').dispatchEvent(new Event('change', {bubbles: true})));
}"""


def test_running_totals_are_the_engines_for_random_grids(browser: Browser, server: dict[str, Any]) -> None:
    """The preview in activity.js and the engine (activity/scoring.py) agree on random partial
    grids: totals, ranges, band, areas scored and entries not scored."""
    ctx, page, watch = _context(browser, server, WIDE)
    _login(page, "doc")
    page.goto(f"/patients/{server['patient']}/visits/new")
    options: dict[str, list[str]] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.activity-index[data-index] select')]
             .map(s => [s.name, [...s.options].map(o => o.value).filter(v => v !== '')]))"""
    )
    assert len(options) > 100
    rng = random.Random(11)
    flag = "activity.clasi.dyspigmentation_12_months"
    for trial, blank in enumerate((1.0, 0.0, 0.3, 0.6, 0.9, 0.97, 0.5, 0.2, 0.8, 0.95, 0.4, 0.7)):
        chosen = {n: rng.choice(vals) for n, vals in options.items() if rng.random() >= blank}
        chosen[flag] = ("yes", "no", "")[trial % 3]  # the multiplier each way, and unknown
        if not chosen[flag]:
            del chosen[flag]
        page.evaluate(SET_VALUES, chosen)
        result = evaluate_activity(validate_case(case_from_form(chosen)))
        for index in ("cdasi", "clasi"):
            r = None if result is None else getattr(result, index)
            shown = _total(page, index, "activity")
            if r is None:
                assert shown == "not scored", (blank, index)
                continue
            assert shown == span(r.activity_range), (blank, index)
            assert _total(page, index, "damage") == span(r.damage_range), (blank, index)
            band = _total(page, index, "band")
            if r.band_label is not None:
                assert band.endswith(f"band: {r.band_label}")
            else:
                assert band.startswith("Band not determined")
            notes = _total(page, index, "unscored")
            assert notes.startswith(f"{sum(a.scored for a in r.areas)} of {len(r.areas)} areas scored")
            missing = re.search(r"(\d+) entr(?:y|ies) not scored", notes)
            assert (int(missing.group(1)) if missing else 0) == len(r.unscored), (blank, index, notes)
    watch.check()
    ctx.close()
