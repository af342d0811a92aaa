"""Family history (issue 12, item 2): who had what, kept as the relatives' own, never counted as
the patient's."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.facts import build_facts
from ifnscope.case.reader import parse_case
from ifnscope.errors import CaseValidationError
from ifnscope.registry.services.deidentify import keep_allowed
from tests.helpers import make_case

HEAD = "format: ifnscope-case/1\nid: t\n"
SKIN = {"acute_cutaneous_lupus": "present", "oral_ulcers": "present"}
RELATIVES_WITH_LUPUS = [
    {"relative": "mother", "condition": "sle"},
    {"relative": "sister", "condition": "cutaneous_lupus"},
    {"relative": "aunt", "condition": "dermatomyositis", "note": "diagnosed in Leeds, 1998"},
]


def _case(**kw: Any) -> Any:
    return make_case(SKIN, age=30, onset=29, labs={"ana_titer": 320}, **kw)


def test_a_relatives_lupus_is_never_counted_as_the_patients() -> None:
    without, with_family = assess(_case()), assess(_case(family_history=RELATIVES_WITH_LUPUS))
    for key in ("eular_acr_sle_2019", "slicc_2012", "eular_acr_iim_2017", "sontheimer_cadm", "dle_2020"):
        assert with_family.criteria[key].model_dump() == without.criteria[key].model_dump(), key
    assert with_family.differential.model_dump() == without.differential.model_dump()
    assert with_family.family_history == [
        "mother: Systemic lupus erythematosus",
        "sister: Cutaneous lupus erythematosus",
        "aunt: Dermatomyositis",
    ]
    a, b = build_facts(_case()), build_facts(_case(family_history=RELATIVES_WITH_LUPUS))
    changed = {n for n in a if a[n].value != b[n].value}
    assert changed == {"history_autoimmune_family_history"}  # the one word that is about relatives


@pytest.mark.parametrize(
    ("family", "recorded", "expected"),
    [
        ([{"relative": "mother", "condition": "sle"}], None, "present"),  # first-degree
        ([{"relative": "son", "condition": "type1_diabetes"}], None, "present"),
        ([{"relative": "aunt", "condition": "sle"}], None, "unknown"),  # second-degree: not this word
        ([{"relative": "father", "condition": "cancer"}], None, "unknown"),  # not autoimmune
        ([{"relative": "mother", "condition": "sle"}], "present", "present"),
        ([], None, "unknown"),  # nothing written is unknown, never "no family history"
    ],
)
def test_autoimmune_disease_in_a_first_degree_relative(
    family: list[dict[str, str]], recorded: str | None, expected: str
) -> None:
    history = {"autoimmune_family_history": recorded} if recorded else {}
    f = build_facts(make_case(family_history=family, history=history))["history_autoimmune_family_history"]
    assert f.value == expected
    if expected == "present" and recorded is None:
        assert f.origin == "derived"
        assert f.detail.startswith("from family_history: ")


def test_a_recorded_no_beside_a_listed_first_degree_relative_is_inconsistent() -> None:
    text = (
        HEAD + "history: {autoimmune_family_history: absent}\n"
        "family_history:\n  - {relative: brother, condition: systemic_sclerosis}\n"
    )
    with pytest.raises(CaseValidationError) as ei:
        parse_case(text)
    (i,) = ei.value.issues
    assert i.code == "case.inconsistent"
    assert i.path == "history.autoimmune_family_history"
    assert "brother: Systemic sclerosis" in i.message


def test_cancer_in_a_relative_is_a_red_flag_of_the_cancer_screening() -> None:
    """ACR 2022 guideline as reported (data/clinical/screening.yaml, red_flags, B): "a family
    history of cancer" is a red-flag feature; the screen names it when the case records it."""
    dm = {"heliotrope_rash": "present", "gottron_papules": "present"}
    c = make_case(dm, age=50, onset=49, family_history=[{"relative": "uncle", "condition": "cancer"}])
    cancer = assess(c).screening.cancer
    assert cancer is not None
    (red,) = [t for t in cancer.additional if t.startswith("Screen any IIM patient with red-flag")]
    assert red.endswith("Recorded here: cancer in a relative.")
    assert build_facts(c)["history_cancer"].value == "unknown"  # the patient's own: not recorded
    bare = assess(make_case(dm, age=50, onset=49)).screening.cancer
    assert bare is not None
    assert all("cancer in a relative" not in t for t in bare.additional)


def test_unknown_relatives_and_conditions_name_the_nearest_word() -> None:
    with pytest.raises(CaseValidationError) as ei:
        parse_case(HEAD + "family_history:\n  - {relative: mothr, condition: lupus_sle}\n")
    by_path = {i.path: i for i in ei.value.issues}
    assert by_path["family_history[0].relative"].suggestion == "mother"
    assert by_path["family_history[0].condition"].code == "case.invalid-value"


def test_researchers_see_the_relative_and_the_disease_but_not_the_note() -> None:
    c = _case(family_history=RELATIVES_WITH_LUPUS)
    kept = keep_allowed("case", c.model_dump(mode="json", exclude_none=True))
    assert kept["family_history"][2] == {"relative": "aunt", "condition": "dermatomyositis"}
    assert "Leeds" not in str(kept)
