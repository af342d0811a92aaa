"""The change since the previous visit (activity/change.py) against the published thresholds,
the timeline running to today with every dated treatment (web/plots.py), the registry sections
of a visit's report (identifiers for clinicians only, IFN scores, treatments) and the upload of
an expression matrix from the patient page (web/pages/upload.py)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from ifnscope.activity.change import change_marks, change_since_previous
from ifnscope.presentation import build
from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from ifnscope.web import Settings, create_app
from ifnscope.web.plots import _date_number, timeline_plot
from tests.helpers import ROOT, activity_case
from tests.sigdata import make_counts, write_tsv_genes_in_rows
from tests.web.test_pages import PASSWORD, Browser

ACTIVITY = ROOT / "examples" / "activity-cdasi-clasi.yaml"
NAME, MRN, BIRTH = "Rosalind Uploadtest", "MRN-UP-9031", "1981-07-23"


def _visit(vid: int, day: int, **totals: float | None) -> dict[str, Any]:
    base = dt.date(2025, 1, 6)
    return {
        "id": vid,
        "visit_date": (base + dt.timedelta(days=day)).isoformat(),
        "days_since_first_visit": day,
        **{k: totals.get(k) for k in ("cdasi_activity", "cdasi_damage", "clasi_activity", "clasi_damage")},
    }


def _row(change: Any, label: str) -> Any:
    (row,) = [r for r in change.rows if f"{r.index} {r.part}" == label]
    return row


# --------------------------------------------------------------------- change and MCID


def test_cdasi_fall_of_five_reaches_both_mcids_with_their_citation() -> None:
    visits = [
        _visit(1, 0, cdasi_activity=20, cdasi_damage=3),
        _visit(2, 90, cdasi_activity=15, cdasi_damage=4),
    ]
    row = _row(change_since_previous(visits, 2), "CDASI activity")
    assert (row.previous, row.current, row.change, row.previous_visit_id) == (20, 15, -5, 1)
    assert row.percent == pytest.approx(-25.0)
    assert row.no_verdict is None
    assert row.reached
    verdicts = {c.id: c for c in row.checks}
    assert set(verdicts) == {"mcid_upenn", "mcid_stanford"}
    for c, points in ((verdicts["mcid_upenn"], 4), (verdicts["mcid_stanford"], 5)):
        assert c.verdict == "reached"
        assert c.threshold == f"{points} points"
        (ref,) = c.references
        assert ref.source == "anyanwu2015"
        assert ref.confidence == "A"
        assert ref.verified
        assert "Anyanwu" in ref.citation
        assert "Br J Dermatol" in ref.citation
        assert f"{points}-point change" in ref.where
        assert c.cite == "Anyanwu 2015"


def test_cdasi_fall_below_the_mcid_is_not_reached_and_between_them_only_upenn() -> None:
    visits = [
        _visit(1, 0, cdasi_activity=20),
        _visit(2, 90, cdasi_activity=17),
        _visit(3, 200, cdasi_activity=13),
    ]
    row = _row(change_since_previous(visits, 2), "CDASI activity")
    assert [c.verdict for c in row.checks] == ["not_reached", "not_reached"]
    assert not row.reached
    row = _row(change_since_previous(visits, 3), "CDASI activity")  # 17 -> 13: 4 points
    assert {c.id: c.verdict for c in row.checks} == {"mcid_upenn": "reached", "mcid_stanford": "not_reached"}
    assert set(change_marks(visits)) == {3}


def test_a_rise_and_damage_get_the_change_without_a_verdict_and_why() -> None:
    visits = [
        _visit(1, 0, cdasi_activity=10, cdasi_damage=2),
        _visit(2, 60, cdasi_activity=19, cdasi_damage=5),
    ]
    change = change_since_previous(visits, 2)
    act = _row(change, "CDASI activity")
    assert act.change == 9
    assert all(c.verdict == "no_verdict" for c in act.checks)
    assert act.no_verdict is not None
    assert "improvement only" in act.no_verdict
    assert not act.reached
    dmg = _row(change, "CDASI damage")
    assert (dmg.previous, dmg.current, dmg.change) == (2, 5, 3)
    assert dmg.checks == []
    assert dmg.no_verdict is not None
    assert "No minimal clinically important difference" in dmg.no_verdict


def test_clasi_thresholds_points_percent_and_combined_with_klein_2011() -> None:
    visits = [_visit(1, 0, clasi_activity=10), _visit(2, 40, clasi_activity=8)]
    row = _row(change_since_previous(visits, 2), "CLASI activity")
    verdicts = {c.id: c.verdict for c in row.checks}
    # exactly 20% counts; 2 points do not; either is enough for the combined rule
    assert verdicts == {
        "fall_4_points": "not_reached",
        "fall_20_percent": "reached",
        "klein_improvement": "reached",
    }
    assert {r.source for c in row.checks for r in c.references} == {"klein2011"}
    notes = change_since_previous(visits, 2).notes
    assert any("CLASI-50" in n and "baseline" in n for n in notes)  # not applied between visits


def test_compared_with_the_latest_earlier_visit_that_has_the_score() -> None:
    visits = [
        _visit(1, 0, cdasi_activity=30),
        _visit(2, 50),  # not completely scored
        _visit(3, 120, cdasi_activity=24, clasi_activity=6),
    ]
    change = change_since_previous(visits, 3)
    row = _row(change, "CDASI activity")
    assert row.previous_visit_id == 1
    assert row.previous_when == "2025-01-06"
    clasi = _row(change, "CLASI activity")
    assert clasi.previous is None
    assert clasi.change is None
    assert clasi.no_verdict == "no earlier visit has a complete CLASI activity score"
    assert change_since_previous(visits, 2).rows == []
    # de-identified visits (no dates): the previous visit is named by its day
    for v in visits:
        v["visit_date"] = None
    assert _row(change_since_previous(visits, 3), "CDASI activity").previous_when == "day 0"
    with pytest.raises(KeyError):
        change_since_previous(visits, 99)


# ----------------------------------------------------------------------------- timeline


def _timeline(today: dt.date) -> dict[str, Any]:
    return {
        "visits": [_visit(1, 0, cdasi_activity=20), _visit(2, 100, cdasi_activity=14)],
        "scores": [],
        "treatments": [
            {"recorded_as": "hydroxychloroquine", "agent": "hydroxychloroquine", "ifn_targeted": False,
             "started": "2024", "stopped": "2025-03"},
            {"recorded_as": "anifrolumab", "agent": "anifrolumab", "ifn_targeted": True,
             "started": (today - dt.timedelta(days=30)).isoformat(), "stopped": None},
            {"recorded_as": "methotrexate", "agent": "methotrexate", "ifn_targeted": False,
             "started": None, "stopped": None},
            {"recorded_as": "belimumab", "agent": "belimumab", "ifn_targeted": False,
             "started": (today + dt.timedelta(days=10)).isoformat(), "stopped": None},
            {"recorded_as": "IVIG", "agent": "ivig", "ifn_targeted": False, "started": "2025-02",
             "stopped": None, "status": "denied_by_payer"},
        ],
    }  # fmt: skip


def test_timeline_runs_to_today_and_draws_every_dated_treatment() -> None:
    today = dt.date(2026, 11, 20)
    plot = timeline_plot(_timeline(today), today=today)
    left, right = plot.x_limits
    assert plot.until == today.isoformat()
    assert _date_number(today) <= right <= _date_number(today) + 3  # ends at today, not the last visit
    assert left <= _date_number(dt.date(2024, 1, 1))  # the earliest (approximate) start is on the plot
    # a treatment started long after the last visit is drawn, ongoing to today
    assert "anifrolumab" in plot.svg
    assert "(ongoing)" in plot.svg
    assert "anifrolumab" not in " ".join(plot.not_drawn)
    # approximate dates are drawn and said to be approximate
    assert plot.approximate == ["hydroxychloroquine"]
    assert "dates approximate" in plot.svg
    # undated and future treatments are named, not dropped
    assert "methotrexate" in plot.not_drawn
    assert any(x.startswith("belimumab") for x in plot.not_drawn)
    assert "IVIG (denied by the payer)" in plot.not_drawn  # never given: no period
    assert "today" in plot.svg
    # the visit whose CDASI fell by 6 is marked (both MCIDs)
    assert plot.marked == ["2025-04-16: CDASI activity -6"]
    assert 'id="mcid-2-cdasi"' in plot.svg


def test_timeline_today_moves_the_right_edge_and_researchers_keep_the_day_axis() -> None:
    a = timeline_plot(_timeline(dt.date(2026, 1, 1)), today=dt.date(2026, 1, 1))
    b = timeline_plot(_timeline(dt.date(2026, 1, 1)), today=dt.date(2026, 6, 1))
    assert b.x_limits[1] - a.x_limits[1] == pytest.approx((dt.date(2026, 6, 1) - dt.date(2026, 1, 1)).days)
    data = _timeline(dt.date(2026, 1, 1))
    for v in data["visits"]:
        v["visit_date"] = None
    data["treatments"][1].update(started="2025", started_days=300)
    plot = timeline_plot(data, today=dt.date(2026, 6, 1))
    assert plot.axis == "days"
    assert plot.until is None
    assert plot.x_limits[1] < 330  # the last treatment date: today's offset would give the dates away
    assert "anifrolumab" in plot.approximate  # a year only, for a researcher


# --------------------------------------------------------------------- pages and report


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    db = tmp_path_factory.mktemp("tlchange") / "registry.sqlite3"
    application = create_app(Settings(database_url=f"sqlite:///{db}"))
    with application.state.registry.transaction() as s:
        insert_user(s, "doc", PASSWORD, "clinician")
        insert_user(s, "res", PASSWORD, "researcher")
    yield application
    application.state.registry.engine.dispose()


@pytest.fixture(scope="module")
def seeded(app: FastAPI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A patient with two scored visits, treatments and a saved reference; the matrices."""
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import fit_reference, select_controls

    folder = tmp_path_factory.mktemp("tlsig")
    counts, genes, names, _ = make_counts(24)
    cohort = folder / "cohort.tsv"
    write_tsv_genes_in_rows(cohort, counts, genes, names)
    m = read_expression(cohort)
    fit_reference(m, select_controls(m, "ctrl"), rule="ctrl").save(folder / "ref.json")
    patient_tsv = folder / "patient.tsv"
    write_tsv_genes_in_rows(patient_tsv, counts[[12, 13]], genes, ["blood_a", "blood_b"])
    import json

    with app.state.registry.transaction() as s:
        clin = _clinician(s)
        p = services.create_patient(
            s, clin, name=NAME, mrn=MRN, birth_date=dt.date.fromisoformat(BIRTH), sex="female"
        )
        today = dt.date.today()
        v1 = services.add_visit(s, clin, p.id, activity_case(3), visit_date=today - dt.timedelta(days=200))
        v2 = services.add_visit(s, clin, p.id, activity_case(0), visit_date=today - dt.timedelta(days=30))
        services.add_treatment(s, clin, p.id, name="Plaquenil 200", started="2024-03", response="partial")
        services.save_reference(s, clin, "blood-ref", json.loads((folder / "ref.json").read_text()))
    return {"patient": p.id, "v1": v1, "v2": v2, "matrix": patient_tsv}


def _clinician(s: Any) -> Any:
    from sqlalchemy import select

    from ifnscope.registry.models import User

    return actor_for(s.scalar(select(User).where(User.username == "doc")), "cli")


def test_visit_page_shows_the_change_with_the_mcid_and_its_source(
    doc: Browser, seeded: dict[str, Any]
) -> None:
    v1, v2 = seeded["v1"], seeded["v2"]
    assert v1.cdasi_activity is not None
    assert v2.cdasi_activity is not None
    fall = v1.cdasi_activity - v2.cdasi_activity
    assert fall >= 5  # the seed: four areas from erythema 3 to 0
    page = doc.get(f"/visits/{v2.id}").text
    section = page[page.index('id="h-change"') :]
    section = section[: section.index("</section>")]
    assert "Change since the previous visit" in page
    assert f"{v1.cdasi_activity:g}" in section
    assert f"{-fall:+g}" in section
    assert "Minimal clinically important difference, UPenn (4 points)" in section
    assert re.search(r"UPenn \(4 points\): <strong[^>]*>reached</strong>", section)
    assert "Anyanwu 2015" in section
    assert "confidence A" in section
    assert "No verdict" in section  # damage: no MCID
    first = doc.get(f"/visits/{v1.id}").text
    assert 'id="h-change"' in first  # the first visit: scored, nothing earlier to compare with
    assert "no earlier visit has a complete CDASI activity score" in first


def test_patient_page_timeline_notes_run_to_today(doc: Browser, seeded: dict[str, Any]) -> None:
    page = doc.get(f"/patients/{seeded['patient']}").text
    assert f"runs to today ({dt.date.today().isoformat()}" in page
    assert "Ringed, ▼" in page
    assert "Plaquenil 200" in page


def test_clinician_report_carries_identifiers_scores_and_treatments(
    doc: Browser, res: Browser, seeded: dict[str, Any]
) -> None:
    pid, v2 = seeded["patient"], seeded["v2"]
    r = doc.post(
        f"/patients/{pid}/samples/upload",
        data={"signature": ["rice6"], "reference": "blood-ref", "tissue": "blood"},
        files={"file": ("patient.tsv", seeded["matrix"].read_bytes(), "text/tab-separated-values")},
    )
    assert r.status_code == 200, r.text
    report = doc.get(f"/visits/{v2.id}/report.html").text
    for text in (NAME, MRN, BIRTH, "Interferon scores", "rice6", "blood-ref", "blood_a",
                 "Treatments (the patient's medication list)", "Plaquenil 200", "partial",
                 "Change since the previous visit", "Minimal clinically important difference"):  # fmt: skip
        assert text in report, text
    assert re.search(r"<td class=\"num\">\d+/\d+</td>", report)  # genes found/total
    # the MCID's source is numbered in the report's sources
    assert "Anyanwu" in report[report.index('id="sources"') :]
    # a researcher's report of the same visit: no identifiers
    rr = res.get(f"/visits/{v2.id}/report.html")
    assert rr.status_code == 200
    for text in (NAME, MRN, BIRTH, "blood_a"):
        assert text not in rr.text, text
    assert "Interferon scores" in rr.text
    assert "rice6" in rr.text


def test_presentation_model_has_the_registry_section() -> None:
    record = {
        "patient": {"pseudonym": "P-1", "name": NAME, "mrn": MRN, "sex": "female"},
        "birth_date": BIRTH,
        "deidentified": False,
        "visits": [_visit(1, 0, cdasi_activity=20), _visit(2, 50, cdasi_activity=12)],
        "scores": [{"sample": "s1", "collected_on": None, "days_since_first_visit": 3, "signature": "rice6",
                    "method": "zscore", "score": 2.345, "call": "high", "genes_found": 5, "genes_total": 6,
                    "reference": "ref"}],
        "treatments": [{"recorded_as": "MTX", "agent": "methotrexate", "started": "2024-02", "stopped": None,
                        "response": "inadequate", "ifn_targeted": False},
                       {"recorded_as": "IVIG", "agent": "ivig", "started": None, "stopped": None,
                        "response": None, "status": "denied_by_payer", "denied_on": "2025-03-02"}],
    }  # fmt: skip
    change = change_since_previous(record["visits"], 2).model_dump(mode="json")
    view = build({}, registry={"record": record, "visit_id": 2, "change": change})
    reg = view.registry
    assert reg is not None
    assert reg.identity is not None
    assert (reg.identity.name, reg.identity.mrn, reg.identity.birth_date) == (NAME, MRN, BIRTH)
    assert reg.visit_when == "2025-02-25"
    assert reg.scores[0].score == "2.35"
    assert reg.scores[0].genes == "5/6"
    assert reg.scores[0].collected == "day 3"
    assert reg.treatments[0].agent == "methotrexate"
    assert reg.treatments[0].stopped == "ongoing"
    assert reg.treatments[1].stopped == "denied by the payer (2025-03-02)"
    assert reg.treatments[1].started == "not recorded"
    assert reg.glance == (
        "CDASI activity 20 → 12 (-8) since 2025-01-06: MCID, UPenn (4 points): reached; "
        "MCID, Stanford (5 points): reached",
    )
    (line,) = reg.change
    assert line.change == "-8 (-40%)"
    assert line.verdicts[0].outcome == "reached"
    cited = {n for v in line.verdicts for n in v.cites}
    assert {s.id for s in view.references if s.n in cited} == {"anyanwu2015"}
    # a de-identified record gives no identifiers, whatever it carries
    record["deidentified"] = True
    reg = build({}, registry={"record": record, "visit_id": 2, "change": change}).registry
    assert reg is not None
    assert reg.identity is not None
    assert not reg.identity.identified
    assert build({}).registry is None


# ------------------------------------------------------------------------------- upload


def test_upload_from_the_patient_page_stores_and_shows_scores(doc: Browser, seeded: dict[str, Any]) -> None:
    pid = seeded["patient"]
    page = doc.get(f"/patients/{pid}").text
    assert 'id="h-upload"' in page
    assert 'enctype="multipart/form-data"' in page
    assert '<option value="blood-ref"' in page
    assert 'value="aybey_ifna"' in page
    r = doc.post(
        f"/patients/{pid}/samples/upload",
        data={"signature": ["rice6", "aybey_ifna"], "reference": "blood-ref", "collected_on": "2025-05-01"},
        files={"file": ("patient.tsv", seeded["matrix"].read_bytes(), "text/plain")},
    )
    assert r.status_code == 200, r.text
    result = r.text[r.text.index('id="upload-result"') :]
    assert "Stored 4 scores" in result
    assert "blood_a, blood_b" in result
    assert "blood-ref" in result
    scores = r.text[r.text.index('id="h-scores"') : r.text.index('id="h-upload"')]
    assert scores.count("aybey_ifna") >= 2
    assert "2025-05-01" in scores


def test_upload_problems_are_shown_in_the_page_with_their_code(doc: Browser, seeded: dict[str, Any]) -> None:
    pid = seeded["patient"]
    matrix = seeded["matrix"].read_bytes()
    tsv = ("m.tsv", matrix, "text/plain")
    bad = ("m.tsv", b"gene\tx\nfoo\tbar\n", "text/plain")
    ref = {"reference": "blood-ref"}
    cases: list[tuple[dict[str, Any], Any, str]] = [
        ({"signature": "rice6"}, None, "request.invalid"),
        ({}, tsv, "request.invalid"),
        ({"signature": "rice6"}, ("m.xlsx", b"PK", "application/octet-stream"), "matrix.format"),
        ({"signature": "no_such_sig", **ref}, tsv, "signature.unknown"),
        ({"signature": "rice6", "reference": "missing"}, tsv, "registry.not-found"),
        ({"signature": "rice6"}, tsv, "signature.needs-reference"),
        ({"signature": "rice6", **ref}, bad, "matrix."),
        ({"signature": "rice6", "collected_on": "2025-13-40"}, tsv, "request.invalid"),
    ]
    before = doc.get(f"/patients/{pid}").text.count('<td data-label="Signature"')
    for data, file, code in cases:
        files = {"file": file} if file else {"file": ("", b"", "application/octet-stream")}
        r = doc.post(f"/patients/{pid}/samples/upload", data=data, files=files)
        assert r.status_code == 422, (data, r.status_code)
        alert = r.text[r.text.index('id="upload-error"') :]
        m = re.search(r'Code <span class="mono">([^<]+)</span>', alert)
        assert m, data
        assert m.group(1).startswith(code), (data, m.group(1))
        assert 'id="h-upload"' in r.text  # the patient page, with the form
    after = doc.get(f"/patients/{pid}").text.count('<td data-label="Signature"')
    assert after == before  # nothing stored
    # no CSRF token: refused, never stored
    r = doc.client.post(
        f"/patients/{pid}/samples/upload",
        data={"signature": "rice6", "reference": "blood-ref"},
        files={"file": ("m.tsv", matrix, "text/plain")},
    )
    assert r.status_code == 403
    # a patient that is not there: the error page
    r = doc.post(
        "/patients/999999/samples/upload",
        data={"signature": "rice6", "reference": "blood-ref"},
        files={"file": ("m.tsv", matrix, "text/plain")},
    )
    assert r.status_code == 404
