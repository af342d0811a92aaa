"""The presentation model: built from the JSON contract, the same live or stored, tolerant of
older stored assessments, and rendered with the same verdict sentence by every output."""

from __future__ import annotations

import copy
import datetime as dt
import html as htmllib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ifnscope import __version__
from ifnscope.assessment import Assessment, assess
from ifnscope.case.model import Case
from ifnscope.case.reader import load_case
from ifnscope.data import rules_version
from ifnscope.presentation import (
    AssessmentView,
    as_view,
    build,
    capital,
    first_sentence,
    from_assessment,
    join_or,
    short_label,
    span,
)
from ifnscope.report.html import render_html
from ifnscope.report.terminal import render
from tests.helpers import ROOT, needs_shared_cases, shared_cases

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
CASE_FILES = shared_cases() + EXAMPLES
WHEN = dt.datetime(2025, 1, 2, 3, 4, tzinfo=dt.UTC)


def stored(a: Assessment) -> dict[str, Any]:
    """The assessment as a registry visit keeps it: its JSON, through text and back."""
    doc: dict[str, Any] = json.loads(json.dumps(a.to_json_dict()))
    return doc


def terminal_text(view: Any) -> str:
    console = Console(width=400, record=True, file=io.StringIO())
    render(view, console)
    return console.export_text()


def part(pattern: str, doc: str) -> str:
    m = re.search(pattern, doc, re.S)
    assert m, pattern
    return m.group(0)


def visible(fragment: str) -> str:
    """Visible text of HTML: inline tags dropped, block tags made spaces, spaces collapsed."""
    inline = re.sub(r"</?(?:a|b|i|em|strong|span|sup)\b[^>]*>", "", fragment)
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", inline)).split())


@pytest.fixture(scope="module", params=CASE_FILES, ids=lambda p: p.stem)
def assessed(request: pytest.FixtureRequest) -> tuple[Case, Assessment]:
    case = load_case(request.param)
    return case, assess(case)


# ----------------------------------------------------------------------- live == stored


def test_the_view_of_a_live_assessment_equals_the_view_of_its_stored_json(
    assessed: tuple[Case, Assessment],
) -> None:
    _, a = assessed
    live = from_assessment(a)
    assert live == build(stored(a))
    assert as_view(a) == live
    assert as_view(live) is live


def test_the_report_renders_the_same_from_the_stored_json(assessed: tuple[Case, Assessment]) -> None:
    case, a = assessed
    live = render_html(a, case, generated=WHEN)
    again = render_html(stored(a), json.loads(json.dumps(case.model_dump(mode="json"))), generated=WHEN)
    assert again == live
    assert terminal_text(stored(a)) == terminal_text(a)


def test_every_criteria_set_has_met(assessed: tuple[Case, Assessment]) -> None:
    _, a = assessed
    view = from_assessment(a)
    assert [c.key for c in view.criteria] == list(a.criteria)
    for c in view.criteria:
        assert isinstance(c.met, bool)
        assert c.verdict.sentence.startswith(c.verdict.word)
    res = {c.key: c.met for c in view.criteria}
    crit = a.criteria
    assert res["eular_acr_iim_2017"] == crit["eular_acr_iim_2017"].classified
    assert res["sontheimer_cadm"] == (crit["sontheimer_cadm"].category in ("amyopathic", "hypomyopathic"))
    assert res["eular_acr_sle_2019"] == crit["eular_acr_sle_2019"].classified
    assert res["slicc_2012"] == crit["slicc_2012"].classified
    assert res["dle_2020"] == crit["dle_2020"].meets_5


def test_sources_are_numbered_once_and_every_cite_has_a_source(assessed: tuple[Case, Assessment]) -> None:
    _, a = assessed
    view = from_assessment(a)
    numbers = [s.n for s in view.references]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len({s.id for s in view.references}) == len(numbers)

    def cites(node: Any) -> Iterator[int]:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("cites", "rule_cites", "band_cites"):
                    yield from v
                else:
                    yield from cites(v)
        elif isinstance(node, list | tuple):
            for v in node:
                yield from cites(v)

    assert set(cites(view.model_dump())) <= set(numbers)


# ---------------------------------------------------------------- one verdict sentence


def test_terminal_html_and_web_adapter_give_the_same_verdict_sentence(
    assessed: tuple[Case, Assessment],
) -> None:
    case, a = assessed
    view = from_assessment(a)
    glance = visible(part(r'<section class="glance".*?</section>', render_html(a, case)))
    term = terminal_text(a)
    web = build(stored(a))  # what the visit page renders
    for v, w in zip(view.verdicts, web.verdicts, strict=True):
        assert w.sentence == v.sentence
        assert f"{v.short} {v.sentence}" in glance
        assert capital(v.sentence) in term


@needs_shared_cases
def test_the_visit_page_shows_the_same_verdict_sentences(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ifnscope.registry.auth import insert_user
    from ifnscope.web import Settings, create_app

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'registry.sqlite3'}"))
    with app.state.registry.transaction() as s:
        insert_user(s, "doc", "correct-horse-battery", "clinician")
    client = TestClient(app, headers={"Accept": "text/html"})

    def csrf(page: str) -> str:
        m = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert m
        return m.group(1)

    login = {"username": "doc", "password": "correct-horse-battery", "next": "/"}
    client.post("/login", data={**login, "csrf_token": csrf(client.get("/login").text)})
    token = csrf(client.get("/").text)
    r = client.post(
        "/patients/new", data={"csrf_token": token, "name": "Test Patient"}, follow_redirects=False
    )
    patient = r.headers["location"]
    try:
        for i, path in enumerate(shared_cases(), 1):
            r = client.post(
                f"{patient}/visits/upload",
                data={"csrf_token": token, "visit_date": f"2024-08-{i:02d}", "text": path.read_text()},
                files={"file": ("", b"", "application/octet-stream")},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text[:500]
            page = visible(client.get(r.headers["location"]).text)
            view = from_assessment(assess(load_case(path)))
            for v in view.verdicts:
                assert f"{v.short}: {v.sentence}" in page, (path.name, v.sentence)
    finally:
        app.state.registry.engine.dispose()


# ------------------------------------------------------------- older stored assessments

TOP_KEYS = [
    "format",
    "ifnscope_version",
    "case_id",
    "title",
    "disclaimer",
    "derived_findings",
    "findings",
    "near_misses",
    "conflicts",
    "criteria",
    "unknowns",
    "differential",
    "flags",
    "triggers",
    "trigger_screen",
    "screening",
    "activity",
    "therapy",
]


@pytest.fixture(scope="module")
def full() -> tuple[Case, dict[str, Any]]:
    case = load_case(ROOT / "examples" / "activity-cdasi-clasi.yaml")
    return case, stored(assess(case))


def renders(doc: dict[str, Any], case: Case | None = None) -> AssessmentView:
    view = build(doc)
    assert "<!DOCTYPE html>" in render_html(doc, case, generated=WHEN)
    assert terminal_text(doc)
    return view


@pytest.mark.parametrize("key", TOP_KEYS)
def test_a_stored_assessment_missing_a_section_still_builds_and_renders(
    full: tuple[Case, dict[str, Any]], key: str
) -> None:
    case, doc = full
    doc = copy.deepcopy(doc)
    doc.pop(key)
    renders(doc, case)


def test_nested_keys_missing_or_of_another_shape_still_build(full: tuple[Case, dict[str, Any]]) -> None:
    _, doc = full
    doc = copy.deepcopy(doc)
    for res in doc["criteria"].values():
        for k in ("classified", "items", "what_if", "references", "score", "thresholds", "steps"):
            res.pop(k, None)
    doc["activity"]["cdasi"].pop("activity_range")
    doc["activity"]["cdasi"]["areas"] = "not a list"
    doc["activity"]["change"].pop("tis")
    doc["therapy"].pop("ifn_pathway")
    doc["screening"]["cancer"] = None
    doc["differential"]["features_for_lupus"] = [None, 3, "text"]
    doc["flags"] = [{"code": "x"}]
    view = renders(doc)
    iim = view.criteria[0]
    assert iim.verdict.sentence.startswith("probable IIM, score ?")
    assert iim.met  # a probable category classifies when the flag itself is missing
    assert view.flags[0].code == "x"
    assert view.activity is not None
    assert view.activity.indices[0].activity_range == "36"


def test_an_empty_or_foreign_document_builds_an_empty_view() -> None:
    for doc in ({}, {"case_id": "old"}, {"criteria": [], "flags": "none", "activity": 3}):
        view = renders(doc)
        assert view.criteria == ()
        assert view.activity is None
        assert view.references == ()


def test_an_unknown_criteria_set_is_shown_by_its_key() -> None:
    view = build({"criteria": {"new_set_2030": {"classified": True, "title": "New set"}}})
    (c,) = view.criteria
    assert (c.short, c.verdict.word, c.met) == ("new set 2030", "classified", True)


# -------------------------------------------------------------------------- the header


def test_rules_version_is_the_version_and_a_digest_of_the_data_files() -> None:
    v = rules_version()
    assert re.fullmatch(rf"{re.escape(__version__)}\+[0-9a-f]{{12}}", v)
    assert rules_version() is v  # computed once


def test_the_rules_version_covers_what_an_assessment_reads_only() -> None:
    """Every rule table and source list counts; the gene table and signatures (expression data)
    do not, so refreshing them does not mark every stored assessment as made by other rules."""
    from ifnscope.data import rules_files

    names = [n for n, _ in rules_files()]
    for needed in (
        "vocabulary.yaml",
        "lesion_rules.yaml",
        "criteria/iim_2017.yaml",
        "clinical/therapies.yaml",
        "activity/cdasi.yaml",
        "sources/therapy.yaml",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("genes/", "signatures/")) or n.endswith(".py")]


def test_the_rules_version_is_shown_when_the_assessment_has_it(full: tuple[Case, dict[str, Any]]) -> None:
    case, doc = full
    older = {k: v for k, v in doc.items() if k != "rules_version"}  # stored before it was recorded
    assert build(older).header.rules_version is None
    doc = {**older, "rules_version": "0.1.0+0123456789ab"}
    assert build(doc).header.rules_version == "0.1.0+0123456789ab"
    assert "rules 0.1.0+0123456789ab" in visible(render_html(doc, case))
    assert "Rules 0.1.0+0123456789ab" in terminal_text(doc)


def test_the_report_without_a_case_document_says_the_patient_is_not_recorded(
    full: tuple[Case, dict[str, Any]],
) -> None:
    _, doc = full
    head = visible(part(r"<header>.*?</header>", render_html(doc)))
    assert "Patient: age and sex not recorded" in head
    assert "Onset: not recorded" in head


# ---------------------------------------------------------------------------- the words


def test_the_shared_wording_helpers() -> None:
    assert first_sentence("No antimalarial is recorded. In the ladder, x.") == "No antimalarial is recorded."
    long = "A first clause long enough to be cut there: " + "word " * 60
    assert first_sentence(long) == "A first clause long enough to be cut there …"
    assert short_label("CK above the upper limit of normal") == "CK > ULN"
    assert join_or(["a", "b", "a", "c"]) == "a, b or c"
    assert (span([3, 3]), span([27, 33]), span(None)) == ("3", "27–33", "?")


# --------------------------------------------------- issue 9: what the new results look like


def test_the_iim_verdict_says_when_the_probability_and_the_score_cut_off_disagree() -> None:
    """Score 5.5 without biopsy gives ≈54% yet "probable (≥55%)": the categories are probability
    cut-offs whose score equivalents are published rounded (Lundberg 2017 abstract: "a
    probability cutoff of 55%, corresponding to a score of 5.5"). The verdict keeps "probable"
    and says the category follows the published score cut-off; the note is in the detail."""
    from tests.helpers import make_case

    case = make_case(
        {"weakness_proximal_upper": "present", "weakness_proximal_gt_distal_legs": "present"},
        onset=12,
        age=40,
        labs={"antibodies": {"jo1": "positive"}},
    )
    view = from_assessment(assess(case))
    (iim,) = [c for c in view.criteria if c.key == "eular_acr_iim_2017"]
    assert iim.verdict.word == "probable IIM"
    assert "≈54%, under the 55% that defines probable IIM" in iim.verdict.sentence
    assert "published score cut-off" in iim.verdict.sentence
    assert any("54.2%" in n and "below 55%" in n for n in iim.notes)
    assert "under the 55%" in terminal_text(view)


def test_clasi_50_withheld_below_10_is_shown_as_a_trial_rule() -> None:
    """CLASI-50 is a ≥50% fall from baseline (Werth ACR 2024 abstract); withholding it below a
    baseline of 10 follows TULIP (post hoc Figure 2 legend, baseline ≥10) and LAVENDER
    (NCT06015737 eligibility, CLASI-A ≥10). The change row says so in every output."""
    from tests.helpers import make_case

    case = make_case(
        activity={"clasi": {"scalp_scarring": 0}, "baseline": {"clasi_activity": 8, "date": "2024-01"}}
    )
    a = assess(case)
    view = from_assessment(a)
    assert view.activity is not None
    assert view.activity.change is not None
    (row,) = view.activity.change.rows
    (c50,) = [v for v in row.verdicts if v.label.startswith("CLASI-50")]
    assert "trial rule, not part of the definition" in c50.note
    assert "trial rule, not part of the definition" in terminal_text(view)
    assert "trial rule, not part of the definition" in visible(render_html(a))


def test_the_unknowns_section_shows_findings_that_change_a_result_only_together() -> None:
    """Issue 9 item 7: every IIM item unrecorded, onset at 30: no single finding changes the IIM
    category, heliotrope rash with Gottron's sign makes it definite (1.3 + 3.1 + 3.3 = 7.7 ≥ 7.5;
    Bottai 2017 Table 1, Lundberg 2017). The view's unknowns section lists the set, with how far
    the search went; the terminal and HTML reports show it; a stored visit without the key
    shows nothing (older assessments)."""
    from tests.helpers import make_case

    a = assess(make_case(None, onset=30, age=40))
    view = from_assessment(a)
    (x,) = [s for s in view.unknown_sets if s.labels == "Heliotrope rash + Gottron's sign"]
    assert x.changes == ("EULAR/ACR 2017 IIM: definite (score 7.7)",)
    assert x.record_at == "findings.heliotrope_rash, findings.gottron_sign"
    assert view.unknown_sets_notes[0].startswith("Pairs and sets of three searched for EULAR/ACR 2017 IIM")
    assert view == build(stored(a))
    text = terminal_text(view)
    assert "would change a result only together" in text
    assert "Heliotrope rash + Gottron's sign" in text
    html = visible(render_html(a))
    assert "would change a result only together" in html
    assert "Heliotrope rash + Gottron's sign → EULAR/ACR 2017 IIM: definite (score 7.7)" in html
    old = stored(a)
    del old["unknown_combinations"]
    assert build(old).unknown_sets == ()


def test_a_set_with_interchangeable_findings_names_them() -> None:
    """CK, LDH, AST or ALT above the upper limit is one IIM item (Bottai 2017 Table 1): anti-Jo-1
    with any of them is one set, shown once with the others as alternatives."""
    from tests.helpers import make_case

    absent = dict.fromkeys(
        [
            "weakness_proximal_upper",
            "weakness_proximal_lower",
            "weakness_neck_flexors_gt_extensors",
            "weakness_proximal_gt_distal_legs",
            "heliotrope_rash",
            "gottron_papules",
            "gottron_sign",
            "dysphagia",
        ],
        "absent",
    )
    view = from_assessment(assess(make_case(absent, onset=30, age=40)))
    (x,) = [s for s in view.unknown_sets if "Anti-Jo-1" in s.labels]
    assert x.labels.startswith("Anti-Jo-1 (histidyl-tRNA synthetase) positive + CK > ULN (or ")
    assert "Lactate dehydrogenase > ULN" in x.labels
    assert x.changes == ("EULAR/ACR 2017 IIM: probable (score 6.5)",)
