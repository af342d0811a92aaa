"""Medications as prescribed (issue 12, item 5): the route, and whether one was ever taken."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.reader import parse_case
from ifnscope.clinical.drugs import resolve
from ifnscope.errors import CaseValidationError
from ifnscope.registry.services.deidentify import keep_allowed
from tests.helpers import make_case

DM = {"heliotrope_rash": "present", "gottron_papules": "present"}


@pytest.mark.parametrize(
    ("name", "route", "classes"),
    [
        ("steroids", "topical", ["topical_corticosteroid"]),
        ("steroids", "oral", ["systemic_corticosteroid"]),
        ("corticosteroid", "topical", ["topical_corticosteroid"]),
        ("tacrolimus", "topical", ["topical_calcineurin_inhibitor"]),  # not the systemic drug
        ("prednisone", "oral", ["systemic_corticosteroid"]),  # a name that says it already
        ("clobetasol", "topical", ["topical_corticosteroid"]),
        ("steroids", None, []),  # without a route the word is not a treatment ifnscope can name
    ],
)
def test_the_route_decides_which_treatment_a_name_is(
    name: str, route: str | None, classes: list[str]
) -> None:
    assert resolve(name, route).classes == classes


def test_a_refused_or_denied_treatment_was_never_tried_and_stays_an_option() -> None:
    """The seed article: IVIG refused. A medication never taken is not 'tried': it counts for no
    failed-treatment rule and stays among the options, saying what the case records."""
    meds = [
        {"name": "IVIG", "status": "refused"},
        {"name": "anifrolumab", "status": "denied_by_payer"},
        {
            "name": "methotrexate",
            "response": "inadequate",
            "status": "stopped",
            "stop_reason": "inadequate_response",
        },
        {"name": "steroids", "route": "topical", "response": "partial", "status": "taking"},
    ]
    t = assess(make_case(DM, age=29, onset=28.5, medications=meds)).therapy
    by_name = {h.recorded_as: h for h in t.history}
    assert (by_name["IVIG"].status, by_name["IVIG"].taken) == ("refused", False)
    assert by_name["anifrolumab"].status == "denied_by_payer"
    assert by_name["methotrexate"].counts_as_failed
    assert by_name["steroids"].agent == "topical_corticosteroid"
    assert set(t.tried) == {"methotrexate", "topical_corticosteroid"}
    assert "ivig" not in t.tried_classes
    options = {o.agent: o for o in t.options_not_tried}
    assert options["ivig"].recorded_not_taken == "recorded: refused by the patient, never taken"
    assert options["anifrolumab"].recorded_not_taken == "recorded: denied by the payer, never taken"


@pytest.mark.parametrize("course", ["stopped: 2024-05", "response: inadequate", "stop_reason: cost"])
def test_a_medication_never_taken_has_no_course(course: str) -> None:
    with pytest.raises(CaseValidationError) as ei:
        parse_case(
            f"format: ifnscope-case/1\nid: t\nmedications:\n  - {{name: IVIG, status: refused, {course}}}\n"
        )
    (i,) = ei.value.issues
    assert (i.code, i.path) == ("case.inconsistent", "medications[0]")
    assert "never taken" in i.message


def test_researchers_see_route_and_status_not_the_name_typed() -> None:
    doc: dict[str, Any] = {
        "medications": [
            {"name": "Zq-brand 5 mg", "route": "oral", "status": "held", "stop_reason": "adverse_effect"}
        ]
    }
    assert keep_allowed("case", doc) == {
        "medications": [{"route": "oral", "status": "held", "stop_reason": "adverse_effect"}]
    }
