"""The web pages in a real browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright
against a real server (uvicorn in a thread, a temporary SQLite registry).

Never ``playwright install``: the browser is the distribution's (``tools/install-browser.sh``
installs it with apt-get). Without /usr/bin/chromium every test here is skipped with a loud
reason. Full-page screenshots go to ``$IFNSCOPE_SHOTS`` (default /tmp/ifnscope-shots) at
1280×800 and 400×800, for a person to look at.

Every page is also checked for requests that leave the server (there must be none) and for
console errors (a Content-Security-Policy violation shows up there).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from ifnscope.registry.models import IfnScore, Sample
from tests.helpers import CASES, ROOT
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

SEED = (
    CASES / "seed-cadm.yaml" if (CASES / "seed-cadm.yaml").exists() else ROOT / "examples" / "seed-cadm.yaml"
)
ACTIVITY = ROOT / "examples" / "activity-cdasi-clasi.yaml"
TIMELINE_NAME = "Ada Timelinecase"
# Full-page screenshots: the sticky "save" bar would float over the middle of the picture.
SHOT_CSS = ".submit-bar { position: static !important; }"


def _doc(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.pop("expected", None)
    return doc


def _seed_registry(app: Any) -> dict[str, int]:
    """Users, and a patient with a history worth plotting: two visits with CDASI/CLASI scored,
    dated treatments (one IFN-targeted) and interferon scores."""
    registry = app.state.registry
    with registry.transaction() as s:
        doc_user = insert_user(s, "doc", PASSWORD, "clinician")
        insert_user(s, "res", PASSWORD, "researcher")
        clin = actor_for(doc_user, "cli")
        p = services.create_patient(
            s, clin, name=TIMELINE_NAME, mrn="MRN-TL-1", birth_date=dt.date(1990, 5, 17), sex="female"
        )
        activity = _doc(ACTIVITY)
        today = dt.date.today()
        first, second, third = (today - dt.timedelta(days=d) for d in (300, 170, 20))
        earlier = yaml.safe_load(yaml.safe_dump(activity))
        earlier.get("activity", {}).pop("baseline", None)
        for area in ("malar", "rest_of_face", "posterior_neck", "dorsal_hands"):
            a = earlier["activity"]["cdasi"]["areas"].get(area)
            if isinstance(a, dict):
                a["erythema"] = 3
        v1 = services.add_visit(s, clin, p.id, earlier, visit_date=first)
        later = yaml.safe_load(yaml.safe_dump(activity))
        later.get("activity", {}).pop("baseline", None)
        services.add_visit(s, clin, p.id, later, visit_date=second)
        for area in (
            "malar",
            "rest_of_face",
            "posterior_neck",
            "dorsal_hands",
            "v_neck",
            "upper_back_shoulders",
            "arm",
        ):
            a = later["activity"]["cdasi"]["areas"].get(area)
            if isinstance(a, dict):
                a["erythema"] = 0
        v3 = services.add_visit(s, clin, p.id, later, visit_date=third)
        services.add_treatment(
            s,
            clin,
            p.id,
            name="hydroxychloroquine",
            started=(first - dt.timedelta(days=40)).isoformat(),
            stopped=(first + dt.timedelta(days=120)).isoformat(),
            response="inadequate",
        )
        services.add_treatment(
            s, clin, p.id, name="anifrolumab", started=(first + dt.timedelta(days=135)).isoformat()
        )
        for visit_id, when, score, call in ((v1.id, first, 3.9, "high"), (v3.id, third, 1.2, "low")):
            smp = Sample(
                patient_id=p.id, visit_id=visit_id, label=f"blood-{when}", collected_on=when, tissue="blood"
            )
            s.add(smp)
            s.flush()
            s.add(
                IfnScore(
                    sample_id=smp.id,
                    signature="rice6",
                    method="zscore",
                    score=score,
                    call=call,
                    genes_found=6,
                    genes_total=6,
                    reference_name="ref",
                )
            )
        return {"timeline_patient": p.id}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    app = registry_app(tmp_path_factory, "browser")
    ids = _seed_registry(app)
    with serve(app) as base:
        yield {"base": base, **ids}


def _context(
    browser: Browser, server: dict[str, Any], viewport: dict[str, int]
) -> tuple[BrowserContext, Page, Watch]:
    return new_page(browser, server["base"], viewport, accept_downloads=True)


def _login(page: Page, username: str) -> None:
    login(page, username)


def _shot(page: Page, name: str) -> Path:
    page.add_style_tag(content=SHOT_CSS)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _tri(page: Page, name: str, value: str) -> None:
    """Click a tri-state option the way a person does: on its visible label."""
    page.locator(f'label:has(> input[name="{name}"][value="{value}"])').click()


# ------------------------------------------------------------------------------- tests


def test_clinician_logs_in_searches_creates_a_patient_and_records_a_visit(
    browser: Browser, server: dict[str, Any]
) -> None:
    ctx, page, watch = _context(browser, server, WIDE)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    _shot(page, "01-login-1280")
    _login(page, "doc")
    expect(page.locator(".who")).to_contain_text("doc")
    expect(page.locator(".role")).to_have_text("clinician")
    expect(page.get_by_role("note")).to_contain_text("Decision support, not a diagnosis")

    # live search (htmx, POST): the list narrows without a page load
    page.get_by_label("Search by name, MRN or pseudonym").fill("timelinecase")
    expect(page.locator("#results")).to_contain_text("1 patient found")
    expect(page.locator("#results")).to_contain_text(TIMELINE_NAME)
    assert page.url.endswith("/")  # no search text in the address
    _shot(page, "02-patients-search-1280")

    # a new patient
    page.get_by_role("link", name="New patient").first.click()
    page.get_by_label("Name").fill("Berta Formfill")
    page.get_by_label("MRN (medical record number)").fill("MRN-BF-77")
    page.get_by_label("Birth date").fill("1995-03-14")
    page.get_by_label("Sex").select_option("female")
    page.get_by_role("button", name="Create patient").click()
    expect(page.locator("h1")).to_have_text("Berta Formfill")

    # the case form: the seed case typed in
    page.get_by_role("link", name="New visit").click()
    expect(page.locator("h1")).to_have_text("New visit")
    page.locator('[name="patient.age_years"]').fill("29")
    page.locator('[name="onset.age_years"]').fill("28.5")
    page.locator('[name="onset.skin_disease_months"]').fill("6")
    page.get_by_label("viral illness").check()
    for name in ("pruritus", "scalp_pruritus", "fatigue", "hair_loss"):
        _tri(page, f"findings.{name}", "present")
    for name in ("weakness_proximal_upper", "weakness_proximal_lower", "weakness_neck_flexors_gt_extensors",
                 "weakness_proximal_gt_distal_legs"):  # fmt: skip
        _tri(page, f"findings.{name}", "absent")
    seed = _doc(SEED)
    lesions = seed["lesions"]
    for n, les in enumerate(lesions):
        if n >= 3:  # the form starts with three rows: add the others with htmx
            page.get_by_role("button", name="+ Add lesion").click()
            expect(page.locator(f'[name="lesions.{n}.site"]')).to_be_focused()
        page.locator(f'[name="lesions.{n}.site"]').select_option(les["site"])
        page.locator(f'[name="lesions.{n}.morphology"]').select_option(les["morphology"])
        if les.get("colour"):
            page.locator(f'[name="lesions.{n}.colour"]').select_option(les["colour"])
        for flag in ("scale", "bilateral"):
            if les.get(flag):
                page.locator(f'[name="lesions.{n}.{flag}"]').check()
        if les.get("note"):
            page.locator(f'[name="lesions.{n}.note"]').fill(les["note"])
    page.get_by_label("Creatine kinase: value").fill("95")
    page.get_by_label("Creatine kinase: upper limit of normal").fill("170")
    page.get_by_label("ANA titre (HEp-2)").select_option("0")
    for ab in ("jo1", "mda5", "tif1g", "nxp2", "sae", "mi2", "ro_ssa", "dsdna", "sm"):
        _tri(page, f"labs.antibodies.{ab}", "negative")
    page.get_by_label("MRI").select_option("normal")
    page.get_by_label("Muscle biopsy", exact=True).select_option("not_done")
    for n, med in enumerate(seed["medications"]):
        if n >= 2:
            page.get_by_role("button", name="+ Add medication").click()
        page.locator(f'[name="medications.{n}.name"]').fill(med["name"])
        page.locator(f'[name="medications.{n}.response"]').select_option(med["response"])
    _shot(page, "03-case-form-filled-1280")
    page.get_by_role("button", name="Assess and save visit").click()

    # the assessment
    expect(page).to_have_url(re.compile(r"/visits/\d+$"))
    glance = page.locator(".glance")
    expect(glance).to_contain_text("probable IIM")
    expect(glance).to_contain_text("score 6.5")
    expect(glance).to_contain_text("amyopathic dermatomyositis")
    expect(page.locator("#h-unknowns")).to_be_visible()
    _shot(page, "04-assessment-1280")

    with page.expect_download() as dl:
        page.get_by_role("link", name="Download report (PDF)").click()
    pdf = Path(dl.value.path())
    assert pdf.read_bytes()[:4] == b"%PDF"
    assert dl.value.suggested_filename.endswith(".pdf")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download report (HTML)").click()
    assert "Decision support, not a diagnosis" in Path(dl.value.path()).read_text(encoding="utf-8")

    # the patient with a history: the timeline plot
    page.goto(f"/patients/{server['timeline_patient']}")
    plot = page.locator(".plot svg")
    expect(plot).to_be_visible()
    expect(plot).to_contain_text("anifrolumab")
    expect(plot).to_contain_text("hydroxychloroquine")
    box = plot.bounding_box()
    assert box is not None
    assert box["width"] > 900  # the plot fills the card
    _shot(page, "05-patient-timeline-1280")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login\?out=1$"))
    expect(page.locator(".notice")).to_have_text("You have logged out.")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    watch.check()
    ctx.close()


def test_case_form_errors_are_shown_beside_the_fields(browser: Browser, server: dict[str, Any]) -> None:
    ctx, page, watch = _context(browser, server, WIDE)
    _login(page, "doc")
    page.goto(f"/patients/{server['timeline_patient']}/visits/new")
    page.locator('[name="patient.age_years"]').fill("30")
    page.locator('[name="onset.age_years"]').fill("45")
    page.get_by_label("Creatine kinase: value").fill("250")
    page.get_by_label("Creatine kinase: upper limit of normal").fill("0")
    _tri(page, "findings.heliotrope_rash", "present")
    page.get_by_role("button", name="Assess and save visit").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("2 problems")
    expect(page.locator('[id="err-labs.ck.upper_limit"]')).to_contain_text("greater than 0")
    expect(page.locator('[id="err-onset.age_years"]')).to_contain_text("after the visit")
    expect(page.get_by_label("Creatine kinase: upper limit of normal")).to_have_value("0")
    expect(page.get_by_label("Creatine kinase: upper limit of normal")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.locator('input[name="findings.heliotrope_rash"][value="present"]')).to_be_checked()
    _shot(page, "06-case-form-errors-1280")
    # the summary's link takes the cursor to the field
    summary.get_by_role("link").first.click()
    watch.check()
    ctx.close()


def test_researcher_sees_no_names(browser: Browser, server: dict[str, Any]) -> None:
    ctx, page, watch = _context(browser, server, WIDE)
    _login(page, "res")
    expect(page.locator(".role")).to_have_text("researcher")
    expect(page.get_by_role("note")).to_contain_text("De-identified view")
    body = page.locator("body")
    expect(body).not_to_contain_text(TIMELINE_NAME)
    expect(body).not_to_contain_text("Berta Formfill")
    expect(page.get_by_role("link", name="New patient")).to_have_count(0)
    page.get_by_label("Search by pseudonym").fill("Timelinecase")
    expect(page.locator("#results")).to_contain_text("0 patients found")
    page.get_by_label("Search by pseudonym").fill("")
    expect(page.locator("#results")).to_contain_text("2 patients")
    _shot(page, "07-researcher-patients-1280")
    page.goto(f"/patients/{server['timeline_patient']}")
    expect(body).not_to_contain_text(TIMELINE_NAME)
    expect(body).not_to_contain_text("MRN-TL-1")
    expect(body).not_to_contain_text("1990-05-17")
    expect(page.get_by_role("link", name="New visit")).to_have_count(0)
    expect(page.locator(".plot svg")).to_contain_text("days since the first visit")
    _shot(page, "08-researcher-patient-1280")
    page.locator('a[href^="/visits/"]').first.click()
    expect(page.locator("h1")).to_contain_text("day ")
    expect(body).not_to_contain_text(TIMELINE_NAME)
    page.get_by_role("link", name="Cohort").click()
    page.get_by_label("Picture").select_option("dermatomyositis")
    page.get_by_label("Minimum CDASI activity").fill("14")
    page.get_by_label("Interferon signature called high").select_option("rice6")
    page.get_by_role("button", name="Find patients").click()
    expect(page.locator("#h-results")).to_have_text("0 patients")  # rice6 is low at the latest sample
    page.get_by_label("Interferon signature called high").select_option("")
    page.get_by_role("button", name="Find patients").click()
    expect(page.locator("#h-results")).to_have_text("1 patient")
    expect(body).not_to_contain_text(TIMELINE_NAME)
    _shot(page, "08b-researcher-cohort-1280")
    watch.check()
    ctx.close()


def test_narrow_screen(browser: Browser, server: dict[str, Any]) -> None:
    ctx, page, watch = _context(browser, server, NARROW)
    _login(page, "doc")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # no sideways scrolling
    _shot(page, "09-patients-400")
    page.goto(f"/patients/{server['timeline_patient']}")
    expect(page.locator(".plot svg")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # the plot scrolls inside its box
    _shot(page, "10-patient-timeline-400")
    page.goto(f"/patients/{server['timeline_patient']}/visits/new")
    _tri(page, "findings.gottron_papules", "present")
    expect(page.locator('input[name="findings.gottron_papules"][value="present"]')).to_be_checked()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    _shot(page, "11-case-form-400")
    page.goto(f"/patients/{server['timeline_patient']}")
    page.locator('a[href^="/visits/"]').first.click()
    expect(page.locator(".glance")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    _shot(page, "12-assessment-400")
    watch.check()
    ctx.close()


def test_keyboard_focus_is_visible(browser: Browser, server: dict[str, Any]) -> None:
    ctx, page, watch = _context(browser, server, WIDE)
    page.goto("/login")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.id")
    assert focused in ("username", "password")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    watch.check()
    ctx.close()
