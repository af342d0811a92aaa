"""Upload of an expression matrix from the patient page, in a real browser (Debian's Chromium
driven by Playwright against uvicorn in a thread, a temporary SQLite registry), and the timeline
and change marks a clinician then sees. Scaffolding: tests/web/browser_kit.py.

Never ``playwright install``: without /usr/bin/chromium every test here is skipped loudly.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from tests.helpers import ROOT, activity_case
from tests.sigdata import make_counts, write_tsv_genes_in_rows
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
    serve,
)

ACTIVITY = ROOT / "examples" / "activity-cdasi-clasi.yaml"
NAME = "Ulla Uploadbrowser"


def _seed(app: Any, folder: Path) -> dict[str, Any]:
    """A clinician, a patient with two scored visits and a treatment, a saved reference, and a
    small matrix of two interferon-high blood samples to upload."""
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import fit_reference, select_controls

    counts, genes, names, _ = make_counts(24)
    cohort = folder / "cohort.tsv"
    write_tsv_genes_in_rows(cohort, counts, genes, names)
    m = read_expression(cohort)
    fit_reference(m, select_controls(m, "ctrl"), rule="ctrl").save(folder / "ref.json")
    matrix = folder / "patient-blood.tsv"
    write_tsv_genes_in_rows(matrix, counts[[12, 13]], genes, ["blood_u1", "blood_u2"])
    with app.state.registry.transaction() as s:
        clin = actor_for(insert_user(s, "doc", PASSWORD, "clinician"), "cli")
        p = services.create_patient(s, clin, name=NAME, mrn="MRN-UB-1", birth_date=dt.date(1984, 2, 9))
        today = dt.date.today()
        services.add_visit(s, clin, p.id, activity_case(3), visit_date=today - dt.timedelta(days=240))
        v2 = services.add_visit(s, clin, p.id, activity_case(0), visit_date=today - dt.timedelta(days=60))
        services.add_treatment(s, clin, p.id, name="hydroxychloroquine", started="2024-05")
        services.save_reference(s, clin, "blood-controls", json.loads((folder / "ref.json").read_text()))
    return {"patient": p.id, "visit": v2.id, "matrix": matrix}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:

    from ifnscope.web import Settings, create_app

    folder = tmp_path_factory.mktemp("browser-upload")
    app = create_app(Settings(database_url=f"sqlite:///{folder / 'registry.sqlite3'}", access_log=False))
    ids = _seed(app, folder)
    with serve(app) as base:
        yield {"base": base, **ids}


def _context(browser: Browser, server: dict[str, Any]) -> tuple[BrowserContext, Page, Watch]:
    ctx, page, watch = new_page(browser, server["base"], WIDE)
    page.set_default_timeout(20_000)  # scoring an upload takes a while
    return ctx, page, watch


def _login(page: Page, username: str) -> None:
    login(page, username)


def test_upload_a_matrix_from_the_patient_page_and_see_the_scores(
    browser: Browser, server: dict[str, Any]
) -> None:
    ctx, page, watch = _context(browser, server)
    _login(page, "doc")
    page.goto(f"/patients/{server['patient']}")
    expect(page.locator("h1")).to_have_text(NAME)
    scores = page.locator("section[aria-labelledby=h-scores]")
    expect(scores).to_contain_text("No interferon scores")
    # the timeline runs to today, and the visit whose CDASI fell by the MCID is marked
    expect(page.locator(".timeline-notes")).to_contain_text(f"runs to today ({dt.date.today().isoformat()}")
    expect(page.locator(".timeline-notes")).to_contain_text("Ringed")

    # a problem first: no signature chosen is shown in the page, nothing stored
    upload = page.locator("#upload")
    upload.get_by_label("Expression matrix").set_input_files(str(server["matrix"]))
    upload.get_by_label("Saved reference").select_option("blood-controls")
    upload.get_by_role("button", name="Score and store").click()
    expect(page.locator("#upload-error")).to_contain_text("Choose at least one signature")
    expect(page.locator("#upload-error")).to_contain_text("request.invalid")
    expect(scores).to_contain_text("No interferon scores")

    # the upload: a matrix, the saved reference, two signatures
    upload = page.locator("#upload")
    upload.get_by_label("Expression matrix").set_input_files(str(server["matrix"]))
    upload.get_by_label("Saved reference").select_option("blood-controls")
    upload.locator('input[name="signature"][value="rice6"]').check()
    upload.locator('input[name="signature"][value="aybey_ifna"]').check()
    upload.get_by_role("textbox", name=re.compile(r"^Tissue")).fill("blood")
    upload.get_by_role("button", name="Score and store").click()
    result = page.locator("#upload-result")
    expect(result).to_contain_text("Stored 4 scores")
    expect(result).to_contain_text("blood_u1, blood_u2")
    rows = scores.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(scores).to_contain_text("rice6")
    expect(scores).to_contain_text("aybey_ifna")
    expect(scores.locator(".call-high").first).to_be_visible()
    page.add_style_tag(content=".submit-bar { position: static !important; }")
    page.screenshot(path=str(SHOTS / "20-upload-result-1280.png"), full_page=True)

    # the visit page: the change since the previous visit, with the MCID and its source
    page.goto(f"/visits/{server['visit']}")
    change = page.locator("#change")
    expect(change).to_contain_text("Change since the previous visit")
    expect(change).to_contain_text("Minimal clinically important difference, UPenn (4 points): reached")
    expect(change).to_contain_text("Anyanwu 2015")
    page.screenshot(path=str(SHOTS / "21-visit-change-1280.png"), full_page=True)
    watch.check()
    ctx.close()


def test_upload_form_and_change_fit_a_narrow_screen(browser: Browser, server: dict[str, Any]) -> None:
    ctx = browser.new_context(viewport={"width": 400, "height": 800}, base_url=server["base"])
    watch = Watch(ctx, server["base"])
    page = watch.page(ctx.new_page())
    page.set_default_timeout(20_000)
    _login(page, "doc")
    page.goto(f"/patients/{server['patient']}")
    expect(page.locator("#upload")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # no sideways scrolling
    page.screenshot(path=str(SHOTS / "22-upload-form-400.png"), full_page=True)
    page.goto(f"/visits/{server['visit']}")
    expect(page.locator("#change")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    page.screenshot(path=str(SHOTS / "23-visit-change-400.png"), full_page=True)
    watch.check()
    ctx.close()
