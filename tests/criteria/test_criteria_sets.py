"""The uniform accessors of every criteria result: ``met`` and ``decisive_unknowns``."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.model import Case
from ifnscope.case.reader import load_case
from ifnscope.criteria import CRITERIA_SETS
from ifnscope.criteria.base import CriteriaResult
from tests.helpers import make_case, shared_cases

CASES: list[Case] = [
    make_case(),
    make_case(
        {
            "heliotrope_rash": "present",
            "weakness_proximal_upper": "absent",
            "weakness_proximal_lower": "absent",
        },
        age=41,
        onset=40,
        skin_months=8,
        labs={"ck": {"value": 80, "upper_limit": 170}},
    ),
    make_case(
        {
            "heliotrope_rash": "present",
            "weakness_proximal_upper": "absent",
            "weakness_proximal_lower": "absent",
        },
        age=41,
        onset=40.8,
        skin_months=3,
        labs={"ck": {"value": 80, "upper_limit": 170}},
    ),
    make_case({"dle_atrophic_scarring": "present", "dle_conchal_bowl": "present"}),
    make_case({"acute_cutaneous_lupus": "present", "oral_ulcers": "present"}, labs={"ana_titer": 160}),
]


def _results() -> list[tuple[str, CriteriaResult]]:
    cases = CASES + [load_case(p) for p in shared_cases()]
    return [(key, res) for case in cases for key, res in assess(case).criteria.items()]


RESULTS = _results()


def _met_as_the_report_reads_it(key: str, res: Any) -> bool:
    """How report/html.py and web/present.py derived "met" before it had one definition."""
    if key == "sontheimer_cadm":
        return bool(res.category in ("amyopathic", "hypomyopathic"))
    if key == "dle_2020":
        return bool(res.meets_5)
    return bool(res.classified)


@pytest.mark.parametrize(("key", "res"), RESULTS)
def test_met_is_the_one_definition_for_results_and_stored_json(key: str, res: CriteriaResult) -> None:
    cs = CRITERIA_SETS[key]
    assert res.met == _met_as_the_report_reads_it(key, res)
    assert cs.met(res) == res.met
    assert cs.met(res.model_dump(mode="json")) == res.met  # a stored assessment answers the same


@pytest.mark.parametrize(("key", "res"), RESULTS)
def test_decisive_unknowns_is_the_json_list(key: str, res: CriteriaResult) -> None:
    data = res.model_dump(mode="json")
    lists = [v for k, v in data.items() if k.startswith("unknowns_that_could_change_")]
    assert lists, key
    assert res.decisive_unknowns == list(dict.fromkeys(f for v in lists for f in v))
    assert "decisive_unknowns" not in data
    assert "met" not in data


def test_every_kind_of_result_is_covered() -> None:
    seen = {(k, r.met) for k, r in RESULTS}
    assert ("sontheimer_cadm", True) in seen
    assert ("dle_2020", True) in seen
    assert {k for k, _ in seen} == set(CRITERIA_SETS)
