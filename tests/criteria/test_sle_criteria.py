"""2019 EULAR/ACR and 2012 SLICC SLE criteria: every row, both routes, the domain rule."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.criteria import sle_2019, slicc_2012
from tests.helpers import facts_of, make_case

# Aringer 2019: item -> (domain, points), transcribed independently of the data file.
PUBLISHED_2019: dict[str, tuple[str, int]] = {
    "fever": ("constitutional", 2),
    "leukopenia": ("hematologic", 3),
    "thrombocytopenia": ("hematologic", 4),
    "autoimmune_hemolysis": ("hematologic", 4),
    "delirium": ("neuropsychiatric", 2),
    "psychosis": ("neuropsychiatric", 3),
    "seizure": ("neuropsychiatric", 5),
    "nonscarring_alopecia": ("mucocutaneous", 2),
    "oral_ulcers": ("mucocutaneous", 2),
    "subacute_or_discoid": ("mucocutaneous", 4),
    "acute_cutaneous_lupus": ("mucocutaneous", 6),
    "effusion": ("serosal", 5),
    "acute_pericarditis": ("serosal", 6),
    "joint_involvement": ("musculoskeletal", 6),
    "proteinuria": ("renal", 4),
    "nephritis_ii_v": ("renal", 8),
    "nephritis_iii_iv": ("renal", 10),
    "antiphospholipid": ("antiphospholipid", 2),
    "low_c3_or_c4": ("complement", 3),
    "low_c3_and_c4": ("complement", 4),
    "dsdna_or_sm": ("sle_specific_antibodies", 6),
}

TRIGGER_2019: dict[str, dict[str, Any]] = {
    "fever": {"findings": {"fever": "present"}},
    "leukopenia": {"findings": {"leukopenia": "present"}},
    "thrombocytopenia": {"findings": {"thrombocytopenia": "present"}},
    "autoimmune_hemolysis": {"findings": {"autoimmune_hemolysis": "present"}},
    "delirium": {"findings": {"delirium": "present"}},
    "psychosis": {"findings": {"psychosis": "present"}},
    "seizure": {"findings": {"seizure": "present"}},
    "nonscarring_alopecia": {"findings": {"nonscarring_alopecia": "present"}},
    "oral_ulcers": {"findings": {"oral_ulcers": "present"}},
    "subacute_or_discoid": {"findings": {"discoid_lupus": "present"}},
    "acute_cutaneous_lupus": {"findings": {"acute_cutaneous_lupus": "present"}},
    "effusion": {"findings": {"pleural_or_pericardial_effusion": "present"}},
    "acute_pericarditis": {"findings": {"acute_pericarditis": "present"}},
    "joint_involvement": {"findings": {"joint_tenderness_with_morning_stiffness": "present"}},
    "proteinuria": {"findings": {"proteinuria_over_0_5g": "present"}},
    "nephritis_ii_v": {"labs": {"lupus_nephritis_class": "V"}},
    "nephritis_iii_iv": {"labs": {"lupus_nephritis_class": "IV"}},
    "antiphospholipid": {"labs": {"antibodies": {"antiphospholipid": "positive"}}},
    "low_c3_or_c4": {"labs": {"c4_low": "present"}},
    "low_c3_and_c4": {"labs": {"c3_low": "present", "c4_low": "present"}},
    "dsdna_or_sm": {"labs": {"antibodies": {"sm": "positive"}}},
}


def sle(findings: dict[str, str] | None = None, ana: int | None = 160, **kw: Any) -> sle_2019.SleResult:
    labs = dict(kw.pop("labs", {}))
    if ana is not None:
        labs["ana_titer"] = ana
    return sle_2019.evaluate_facts(facts_of(make_case(findings, labs=labs, **kw)))


def test_every_2019_row_is_published_and_tested() -> None:
    rows = {i.id: (d.id, i.points) for d in sle_2019.rules().domains for i in d.items}
    assert rows == PUBLISHED_2019
    assert set(TRIGGER_2019) == set(PUBLISHED_2019)


@pytest.mark.parametrize("item_id", list(PUBLISHED_2019))
def test_each_2019_row_scores_its_points(item_id: str) -> None:
    trig = dict(TRIGGER_2019[item_id])
    r = sle(trig.pop("findings", None), **trig)
    domain, points = PUBLISHED_2019[item_id]
    assert r.score == points
    assert [d.counted_item for d in r.domains if d.counted_item] == [item_id]
    assert next(d for d in r.domains if d.id == domain).points == points


def test_only_the_highest_item_per_domain_counts() -> None:
    r = sle(
        {
            "oral_ulcers": "present",
            "nonscarring_alopecia": "present",
            "acute_cutaneous_lupus": "present",
            "discoid_lupus": "present",
        }
    )
    assert r.score == 6
    assert [i.id for i in r.items if i.counted] == ["acute_cutaneous_lupus"]


def test_entry_criterion_ana_at_least_1_in_80() -> None:
    strong = {"acute_cutaneous_lupus": "present", "synovitis_2_or_more_joints": "present"}
    assert sle(strong, ana=80).classified
    assert not sle(strong, ana=40).classified
    r = sle(strong, ana=None)
    assert (r.entry_status, r.classified, r.score) == ("unknown", False, 12)
    assert r.unknowns_that_could_change_classification == ["ana_at_least_1_80"]


def test_ten_points_needed_and_at_least_one_clinical_item() -> None:
    assert not sle({"acute_cutaneous_lupus": "present"}, labs={"c3_low": "present"}).classified  # 6 + 3
    assert sle(
        {"acute_cutaneous_lupus": "present"}, labs={"c3_low": "present", "c4_low": "present"}
    ).classified  # 6 + 4
    immunologic_only = sle(
        labs={
            "c3_low": "present",
            "c4_low": "present",
            "antibodies": {"dsdna": "positive", "antiphospholipid": "positive"},
        }
    )
    assert immunologic_only.score == 12
    assert immunologic_only.clinical_domains_counted == 0
    assert not immunologic_only.classified


def test_unknown_items_that_would_classify_are_named() -> None:
    r = sle({"acute_cutaneous_lupus": "present"}, labs={"c3_low": "present", "c4_low": "absent"})
    assert r.score == 9
    assert not r.classified
    assert "fever" in r.unknowns_that_could_change_classification  # 9 + 2
    assert "oral_ulcers" not in r.unknowns_that_could_change_classification  # same domain as ACLE


# --------------------------------------------------------------------------------- SLICC

SLICC_CLINICAL: dict[str, dict[str, str]] = {
    "acute_cutaneous_lupus": {"subacute_cutaneous_lupus": "present"},
    "chronic_cutaneous_lupus": {"lupus_tumidus": "present"},
    "oral_or_nasal_ulcers": {"nasal_ulcers": "present"},
    "nonscarring_alopecia": {"nonscarring_alopecia": "present"},
    "synovitis": {"synovitis_2_or_more_joints": "present"},
    "serositis": {"serositis": "present"},
    "renal": {"proteinuria_over_0_5g": "present"},
    "neurologic": {"delirium": "present"},
    "hemolytic_anemia": {"autoimmune_hemolysis": "present"},
    "leukopenia_or_lymphopenia": {"lymphopenia": "present"},
    "thrombocytopenia": {"thrombocytopenia": "present"},
}
SLICC_IMMUNOLOGIC: dict[str, dict[str, Any]] = {
    "ana": {"ana_titer": 40},
    "anti_dsdna": {"antibodies": {"dsdna": "positive"}},
    "anti_sm": {"antibodies": {"sm": "positive"}},
    "antiphospholipid": {"antibodies": {"antiphospholipid": "positive"}},
    "low_complement": {"c3_low": "present"},
    "direct_coombs": {"antibodies": {"direct_coombs": "positive"}},
}


def slicc(findings: dict[str, str] | None = None, **labs: Any) -> slicc_2012.SliccResult:
    return slicc_2012.evaluate_facts(facts_of(make_case(findings, labs=labs)))


def test_every_slicc_row_is_tested() -> None:
    r = slicc_2012.rules()
    assert [i.id for i in r.clinical] == list(SLICC_CLINICAL)
    assert [i.id for i in r.immunologic] == list(SLICC_IMMUNOLOGIC)


@pytest.mark.parametrize("item_id", list(SLICC_CLINICAL))
def test_each_slicc_clinical_item(item_id: str) -> None:
    r = slicc(SLICC_CLINICAL[item_id])
    assert (r.clinical, r.immunologic) == (1, 0)
    assert [i.id for i in r.items if i.counted] == [item_id]


@pytest.mark.parametrize("item_id", list(SLICC_IMMUNOLOGIC))
def test_each_slicc_immunologic_item(item_id: str) -> None:
    r = slicc(**SLICC_IMMUNOLOGIC[item_id])
    assert (r.clinical, r.immunologic) == (0, 1)
    assert [i.id for i in r.items if i.counted] == [item_id]


def test_slicc_four_criteria_route_needs_both_kinds() -> None:
    four_clinical = {
        "acute_cutaneous_lupus": "present",
        "oral_ulcers": "present",
        "nonscarring_alopecia": "present",
        "synovitis_2_or_more_joints": "present",
    }
    assert not slicc(four_clinical).classified
    r = slicc(
        {"acute_cutaneous_lupus": "present", "oral_ulcers": "present", "serositis": "present"}, ana_titer=160
    )
    assert (r.classified, r.route) == (True, "four_criteria")


def test_slicc_nephritis_route() -> None:
    r = slicc(lupus_nephritis_class="IV", ana_titer=320)
    assert (r.clinical + r.immunologic, r.classified, r.route) == (1, True, "lupus_nephritis")
    assert not slicc(lupus_nephritis_class="IV", ana_titer=0).classified
    assert slicc(lupus_nephritis_class="III", antibodies={"dsdna": "positive"}).classified


def test_slicc_coombs_counts_only_without_haemolytic_anaemia() -> None:
    r = slicc({"autoimmune_hemolysis": "present"}, antibodies={"direct_coombs": "positive"})
    assert (r.clinical, r.immunologic) == (1, 0)
    r = slicc({"autoimmune_hemolysis": "absent"}, antibodies={"direct_coombs": "positive"})
    assert (r.clinical, r.immunologic) == (0, 1)
    # haemolysis unrecorded: the Coombs criterion counts, and haemolysis is a named unknown
    r = slicc(
        {"acute_cutaneous_lupus": "present", "oral_ulcers": "present"},
        ana_titer=160,
        antibodies={"direct_coombs": "positive"},
    )
    assert (r.clinical, r.immunologic, r.classified) == (2, 2, True)
