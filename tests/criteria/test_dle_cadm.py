"""2020 DLE criteria and Sontheimer's CADM categories."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.criteria import cadm, dle_2020
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


# ---------------------------------------------------------------------------------- CADM

NO_WEAKNESS = {"weakness_proximal_upper": "absent", "weakness_proximal_lower": "absent"}
SKIN = {"heliotrope_rash": "present"}


def sontheimer(findings: dict[str, str], months: float | None = 8, **kw: Any) -> cadm.CadmResult:
    return cadm.evaluate_facts(facts_of(make_case(findings, age=41, onset=40, skin_months=months, **kw)))


NORMAL_CK = {"ck": {"value": 80, "upper_limit": 170}}


def test_amyopathic() -> None:
    r = sontheimer({**SKIN, **NO_WEAKNESS}, labs=NORMAL_CK, muscle={"mri": "normal"})
    assert r.category == "amyopathic"
    assert set(r.unknowns_that_could_change_category) == {
        "aldolase_above_uln",
        "emg_abnormal",
        "muscle_biopsy_abnormal",
    }


@pytest.mark.parametrize(
    "evidence",
    [
        {"labs": {"ck": {"value": 400, "upper_limit": 170}}},
        {"labs": {**NORMAL_CK, "aldolase": {"value": 12, "upper_limit": 7.6}}},
        {"labs": NORMAL_CK, "muscle": {"emg": "abnormal"}},
        {"labs": NORMAL_CK, "muscle": {"mri": "abnormal"}},
        {"labs": NORMAL_CK, "muscle": {"biopsy": {"perifascicular_atrophy": "present"}}},
    ],
)
def test_hypomyopathic_on_any_subclinical_evidence(evidence: dict[str, Any]) -> None:
    assert sontheimer({**SKIN, **NO_WEAKNESS}, **evidence).category == "hypomyopathic"


def test_premyopathic_before_six_months() -> None:
    assert sontheimer({**SKIN, **NO_WEAKNESS}, months=5.9, labs=NORMAL_CK).category == "premyopathic"
    assert sontheimer({**SKIN, **NO_WEAKNESS}, months=6, labs=NORMAL_CK).category == "amyopathic"


def test_not_applicable_without_skin_or_with_weakness() -> None:
    assert sontheimer(NO_WEAKNESS, labs=NORMAL_CK).category == "not_applicable"
    assert (
        sontheimer({**SKIN, "weakness_proximal_upper": "present"}, labs=NORMAL_CK).category
        == "not_applicable"
    )


@pytest.mark.parametrize(
    ("findings", "months", "labs", "to_decide"),
    [
        (SKIN, 8, NORMAL_CK, ["findings.weakness_proximal_upper", "findings.weakness_proximal_lower"]),
        ({**SKIN, **NO_WEAKNESS}, None, NORMAL_CK, ["onset.skin_disease_months"]),
        ({**SKIN, **NO_WEAKNESS}, 8, {}, ["labs.ck"]),
    ],
)
def test_undetermined_when_an_absence_is_not_recorded(
    findings: dict, months: float | None, labs: dict, to_decide: list[str]
) -> None:
    r = sontheimer(findings, months=months, labs=labs)
    assert r.category == "undetermined"
    assert r.to_decide == to_decide


def test_unverified_exclusions_are_reported_not_applied() -> None:
    r = sontheimer(
        {**SKIN, **NO_WEAKNESS},
        labs=NORMAL_CK,
        medications=[{"name": "hydroxyurea", "months_before_onset": 3}],
    )
    assert r.category == "amyopathic"
    assert any("not applied" in t for t in r.not_applied)
