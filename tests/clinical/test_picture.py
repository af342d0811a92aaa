"""One disease picture for screening and the therapy ladder (clinical.picture)."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.facts import build_facts
from ifnscope.clinical import therapy
from ifnscope.clinical.picture import DiseasePicture, disease_picture
from ifnscope.criteria import evaluate_all
from tests.helpers import make_case

NO_WEAKNESS = {"weakness_proximal_upper": "absent", "weakness_proximal_lower": "absent"}
NORMAL_CK = {"ck": {"value": 80, "upper_limit": 170}}


def picture(findings: dict[str, str], **kw: Any) -> DiseasePicture:
    return disease_picture(evaluate_all(build_facts(make_case(findings, **kw))))


def test_amyopathic_is_dm_and_clinically_amyopathic() -> None:
    p = picture(
        {"heliotrope_rash": "present", **NO_WEAKNESS}, age=41, onset=40, skin_months=8, labs=NORMAL_CK
    )
    assert (p.myositis, p.dermatomyositis, p.clinically_amyopathic, p.ladder) == (
        "yes",
        True,
        True,
        "dermatomyositis",
    )
    assert "Sontheimer: amyopathic" in p.classified_as


def test_premyopathic_is_dm_skin_disease_but_provisional_as_to_the_muscle() -> None:
    # Gottron's sign alone keeps the IIM criteria at "possible", so Sontheimer decides alone.
    p = picture({"gottron_sign": "present", **NO_WEAKNESS}, age=52, onset=51.8, skin_months=3, labs=NORMAL_CK)
    assert p.classified_as == ("Sontheimer: premyopathic",)
    assert p.ladder == "dermatomyositis"  # DM skin disease: the DM ladder
    assert (p.myositis, p.clinically_amyopathic, p.dermatomyositis) == ("unknown", None, None)


def test_lupus_classification_gives_the_lupus_ladder_and_both_give_neither() -> None:
    lupus = picture({"dle_atrophic_scarring": "present", "dle_conchal_bowl": "present"})
    assert (lupus.ladder, lupus.myositis) == ("lupus", "no")
    assert lupus.classified_as == ("2020 DLE criteria (score 5)",)
    both = picture(
        {
            "heliotrope_rash": "present",
            "dle_atrophic_scarring": "present",
            "dle_conchal_bowl": "present",
            **NO_WEAKNESS,
        },
        age=41,
        onset=40,
        skin_months=8,
        labs=NORMAL_CK,
    )
    assert both.ladder == "indeterminate"


def test_the_skin_picture_decides_only_an_indeterminate_ladder() -> None:
    crit = evaluate_all(build_facts(make_case()))
    assert disease_picture(crit).ladder == "indeterminate"
    p = disease_picture(crit, skin_picture="lupus")
    assert (p.ladder, p.classified_as) == ("lupus", ("skin picture favours lupus",))
    lupus = evaluate_all(
        build_facts(make_case({"dle_atrophic_scarring": "present", "dle_conchal_bowl": "present"}))
    )
    assert disease_picture(lupus, skin_picture="dermatomyositis").ladder == "lupus"


def test_a_wrong_result_type_is_an_error() -> None:
    crit = dict(evaluate_all(build_facts(make_case())))
    crit["sontheimer_cadm"] = crit["dle_2020"]
    with pytest.raises(TypeError):
        disease_picture(crit)


def test_assessment_and_letter_contexts_read_the_same_picture() -> None:
    case = make_case(
        {"heliotrope_rash": "present", **NO_WEAKNESS}, age=41, onset=40, skin_months=8, labs=NORMAL_CK
    )
    a = assess(case)
    assert therapy.context_from(case, a) == a.therapy.context
