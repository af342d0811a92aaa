"""2020 DLE criteria (Sontheimer's CADM categories: tests/criteria/test_cadm.py)."""

from __future__ import annotations

import pytest

from ifnscope.criteria import dle_2020
from tests.helpers import facts_of, make_case

# Elman 2020 abstract: item -> points (independent transcription)
PUBLISHED_DLE = {
    "atrophic_scarring": ("dle_atrophic_scarring", 3),
    "conchal_bowl": ("dle_conchal_bowl", 2),
    "head_neck": ("dle_head_neck_predominance", 2),
    "dyspigmentation": ("dle_dyspigmentation", 1),
    "follicular_plugging": ("dle_follicular_plugging", 1),
    "erythematous_violaceous": ("dle_erythematous_violaceous", 1),
}


def dle(findings: dict[str, str]) -> dle_2020.DleResult:
    return dle_2020.evaluate_facts(facts_of(make_case(findings)))


def test_every_dle_row_is_published_and_tested() -> None:
    assert {i.id: i.points for i in dle_2020.rules().items} == {k: v[1] for k, v in PUBLISHED_DLE.items()}


@pytest.mark.parametrize("item_id", list(PUBLISHED_DLE))
def test_each_dle_row(item_id: str) -> None:
    finding, points = PUBLISHED_DLE[item_id]
    r = dle({finding: "present"})
    assert r.score == points
    assert [i.id for i in r.items if i.counted] == [item_id]


@pytest.mark.parametrize(
    ("present", "score", "meets_5", "meets_7"),
    [
        (["dle_atrophic_scarring", "dle_dyspigmentation"], 4, False, False),
        (["dle_atrophic_scarring", "dle_conchal_bowl"], 5, True, False),
        (["dle_atrophic_scarring", "dle_conchal_bowl", "dle_dyspigmentation"], 6, True, False),
        (["dle_atrophic_scarring", "dle_conchal_bowl", "dle_head_neck_predominance"], 7, True, True),
        (list(dict(PUBLISHED_DLE.values())), 10, True, True),
    ],
)
def test_dle_thresholds(present: list[str], score: int, meets_5: bool, meets_7: bool) -> None:
    r = dle(dict.fromkeys(present, "present"))
    assert (r.score, r.meets_5, r.meets_7) == (score, meets_5, meets_7)


def test_dle_unknown_that_reaches_a_cut_off_is_named() -> None:
    r = dle(
        {
            "dle_atrophic_scarring": "present",
            "dle_dyspigmentation": "present",
            "dle_conchal_bowl": "absent",
            "dle_head_neck_predominance": "absent",
        }
    )
    assert r.score == 4
    assert set(r.unknowns_that_could_change_result) == {
        "dle_follicular_plugging",
        "dle_erythematous_violaceous",
    }
