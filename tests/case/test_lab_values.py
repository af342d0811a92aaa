"""Raw laboratory values (issue 12, item 1): blood counts, urine protein with units, complement,
with the findings derived by the criteria's own thresholds (data/lab_findings.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.facts import build_facts
from ifnscope.registry.services.deidentify import keep_allowed
from tests.helpers import case_issues as issues
from tests.helpers import make_case

HEAD = "format: ifnscope-case/1\nid: t\n"


def fact(labs: dict[str, Any], name: str, **kw: Any) -> Any:
    return build_facts(make_case(labs=labs, **kw))[name]


@pytest.mark.parametrize(
    ("count", "value"),
    [
        ({"value": 3.2, "unit": "10^9/L"}, "present"),
        ({"value": 3200, "unit": "/mm3"}, "present"),  # the same count, per mm³
        ({"value": 3.99, "unit": "G/L"}, "present"),
        ({"value": 4.0, "unit": "10^9/L"}, "absent"),  # "<4,000/mm³": 4,000 itself is not below
        ({"value": 5400, "unit": "/uL"}, "absent"),
    ],
)
def test_leukopenia_from_the_white_cell_count(count: dict[str, Any], value: str) -> None:
    """Aringer 2019 and Petri 2012: leukopenia <4,000/mm³."""
    f = fact({"wbc": count}, "leukopenia")
    assert (f.value, f.origin, f.record_at) == (value, "computed", "labs.wbc")
    if value == "absent":
        assert "at this visit" in f.detail  # the criteria count a low count on any occasion


def test_the_derived_findings_count_in_both_sle_criteria_sets() -> None:
    labs = {
        "ana_titer": 320,
        "wbc": {"value": 3.1, "unit": "10^9/L"},
        "lymphocytes": {"value": 800, "unit": "/mm3"},
        "platelets": {"value": 85, "unit": "10^9/L"},
        "urine_protein": {"value": 1.2, "unit": "g/24h"},
        "c3": {"value": 0.62, "lower_limit": 0.9, "unit": "g/L"},
    }
    a = assess(make_case({"acute_cutaneous_lupus": "present"}, age=30, onset=29, labs=labs))
    sle = {i.id: i for i in a.criteria["eular_acr_sle_2019"].items}
    assert sle["thrombocytopenia"].status == "present"  # the domain counts its highest, 4
    assert sle["leukopenia"].status == "present"
    assert sle["proteinuria"].counted
    assert sle["low_c3_or_c4"].counted
    slicc = {i.id: i for i in a.criteria["slicc_2012"].items}
    for item in ("leukopenia_or_lymphopenia", "thrombocytopenia", "renal", "low_complement"):
        assert slicc[item].counted, item


@pytest.mark.parametrize(
    ("protein", "value"),
    [
        ({"value": 0.8, "unit": "g/24h"}, "present"),
        ({"value": 650, "unit": "mg/24h"}, "present"),
        ({"value": 0.7, "unit": "mg/mg"}, "present"),  # a spot ratio: the 24-hour amount it represents
        ({"value": 0.3, "unit": "g/g"}, "absent"),
        ({"value": 500, "unit": "mg/24h"}, "unknown"),  # 2019 ">0.5 g"; SLICC "representing 500 mg"
    ],
)
def test_proteinuria_from_urine_protein(protein: dict[str, Any], value: str) -> None:
    f = fact({"urine_protein": protein}, "proteinuria_over_0_5g")
    assert f.value == value
    if value == "unknown":
        assert "criteria's words differ" in f.detail


def test_a_written_finding_wins_and_a_contradiction_is_refused() -> None:
    normal = {"wbc": {"value": 6.0, "unit": "10^9/L"}}
    f = fact(normal, "leukopenia", findings={"leukopenia": "present"})  # low at another visit
    assert (f.value, f.origin) == ("present", "recorded")
    (i,) = issues("findings: {leukopenia: absent}\nlabs:\n  wbc: {value: 2.1, unit: 10^9/L}\n")
    assert (i.code, i.path) == ("case.inconsistent", "findings.leukopenia")
    assert "below 4" in i.message


def test_complement_against_its_lower_limit() -> None:
    f = fact({"c3": {"value": 0.62, "lower_limit": 0.9, "unit": "g/L"}}, "c3_low")
    assert (f.value, f.detail) == ("present", "C3 0.62 g/L < lower limit 0.9 g/L")
    assert fact({"c4": {"value": 0.2, "lower_limit": 0.1}}, "c4_low").value == "absent"
    (i,) = issues("labs:\n  c3: {value: 0.5, lower_limit: 0.9}\n  c3_low: absent\n")
    assert (i.code, i.path, i.expected) == ("case.inconsistent", "labs.c3_low", "present")


def test_a_count_needs_its_unit() -> None:
    (i,) = issues("labs:\n  wbc: {value: 3.2}\n")
    assert (i.code, i.path) == ("case.missing-key", "labs.wbc.unit")
    (j,) = issues("labs:\n  platelets: {value: 85, unit: 10^9/l}\n")
    assert (j.code, j.path, j.suggestion) == ("case.invalid-value", "labs.platelets.unit", "10^9/L")


def test_researchers_see_a_count_with_its_unit() -> None:
    doc = {"labs": {"wbc": {"value": 3.2, "unit": "10^9/L"}, "ck": {"value": 90, "unit": "Zq typed"}}}
    kept = keep_allowed("case", doc)
    assert kept["labs"] == {"wbc": {"value": 3.2, "unit": "10^9/L"}, "ck": {"value": 90}}


# ------------------------------------------------------------------------ series of results


def test_a_series_counts_a_value_on_any_occasion() -> None:
    """Petri 2012: leukopenia "<4,000/mm³ at least once"; Aringer 2019: "occurrence of a criterion
    on at least one occasion is sufficient" (data/lab_findings.yaml)."""
    series = [
        {"value": 5.2, "unit": "10^9/L", "date": "2024-01"},
        {"value": 3.1, "unit": "10^9/L", "date": "2024-06"},
        {"value": 4.8, "unit": "10^9/L", "date": "2024-11"},
    ]
    f = fact({"wbc": series}, "leukopenia")
    assert f.value == "present"
    assert f.detail == "wbc 3.1 10^9/L (2024-06): below 4 ×10⁹/L"
    normal = fact({"wbc": [series[0], series[2]]}, "leukopenia")
    assert normal.value == "absent"
    assert "in the 2 results recorded" in normal.detail


def test_a_series_of_complement_and_protein() -> None:
    c3 = [{"value": 1.0, "lower_limit": 0.9}, {"value": 0.7, "lower_limit": 0.9, "date": "2024-05"}]
    assert fact({"c3": c3}, "c3_low").value == "present"
    protein = [{"value": 0.2, "unit": "g/24h"}, {"value": 500, "unit": "mg/24h"}]
    assert fact({"urine_protein": protein}, "proteinuria_over_0_5g").value == "unknown"  # at 0.5
    # c3_low recorded absent beside a low value in the series contradicts it; recorded present
    # beside normal values does not (it may have been low at a visit not listed)
    (i,) = issues("labs:\n  c3: [{value: 0.5, lower_limit: 0.9}]\n  c3_low: absent\n")
    assert (i.code, i.path) == ("case.inconsistent", "labs.c3_low")
    said = make_case(labs={"c3": [{"value": 1.2, "lower_limit": 0.9}], "c3_low": "present"})
    assert build_facts(said)["c3_low"].value == "present"


def test_a_series_entry_is_checked_like_one_result() -> None:
    (i,) = issues("labs:\n  wbc: [{value: 5.2, unit: 10^9/L}, {value: 3.1}]\n")
    assert (i.code, i.path) == ("case.missing-key", "labs.wbc[1].unit")
    (j,) = issues("labs:\n  wbc: []\n")
    assert j.path == "labs.wbc"


def test_researchers_see_a_series_without_its_dates() -> None:
    doc = {"labs": {"wbc": [{"value": 3.1, "unit": "10^9/L", "date": "2024-06"}]}}
    assert keep_allowed("case", doc) == {"labs": {"wbc": [{"value": 3.1, "unit": "10^9/L"}]}}


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("labs:\n  ck: {value: .inf, upper_limit: 200}\n", "labs.ck.value"),  # read as above the limit before
        ("labs:\n  c3: {value: .inf, lower_limit: 0.9}\n", "labs.c3.value"),
        ("labs:\n  wbc: [{value: .nan, unit: 10^9/L}]\n", "labs.wbc[0].value"),
    ],
)
def test_an_infinite_or_missing_number_is_no_measurement(text: str, path: str) -> None:
    (i,) = issues(text)
    assert (i.code, i.path, i.expected) == ("case.wrong-type", path, "a finite number")
