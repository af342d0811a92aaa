"""More of the examination and history (issue 12, item 4): new findings, smoking, cancer and lung
disease as clinicians record them, onset events, and what the engines read of them."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.assessment import assess
from ifnscope.case.facts import build_facts
from ifnscope.case.reader import parse_case
from ifnscope.errors import CaseValidationError
from ifnscope.registry.services.deidentify import keep_allowed
from tests.helpers import make_case

DM = {"heliotrope_rash": "present", "gottron_papules": "present"}


def _dm(findings: dict[str, str] | None = None, onset: Any = 57, **kw: Any) -> Any:
    return make_case(findings or DM, age=58, onset=onset, **kw)


def test_the_new_findings_are_words_of_the_case() -> None:
    words = ["palmar_papules", "nailfold_hemorrhages", "capillary_dropout", "digital_ulcers",
             "photodistributed_rash", "weight_loss", "myalgia", "dysphonia"]  # fmt: skip
    f = build_facts(make_case(dict.fromkeys(words, "present")))
    assert all(f[w].value == "present" for w in words)


def test_weight_loss_is_named_among_the_cancer_red_flags() -> None:
    """ACR 2022 guideline as reported (data/clinical/screening.yaml, red_flags, B): unexplained
    weight loss is a red-flag feature of cancer in IIM."""
    cancer = assess(_dm({**DM, "weight_loss": "present"})).screening.cancer
    assert cancer is not None
    (red,) = [t for t in cancer.additional if t.startswith("Screen any IIM patient with red-flag")]
    assert "Recorded here: unexplained weight loss." in red


@pytest.mark.parametrize(
    ("status", "value"), [("current", "present"), ("former", "present"), ("never", "absent")]
)
def test_smoking_status_gives_the_history_word_the_rules_read(status: str, value: str) -> None:
    c = _dm(smoking={"status": status, "pack_years": 20} if status != "never" else {"status": status})
    f = build_facts(c)["history_smoking"]
    assert (f.value, f.origin, f.record_at) == (value, "derived", "smoking")
    flags = {fl.code for fl in assess(c).flags}
    assert ("smoking" in flags) == (value == "present")  # the smoking trigger (Boeckler 2009 ...)


def test_a_history_word_that_contradicts_its_section_is_inconsistent() -> None:
    with pytest.raises(CaseValidationError) as ei:
        parse_case("format: ifnscope-case/1\nid: t\nhistory: {smoking: absent}\nsmoking: {status: current}\n")
    (i,) = ei.value.issues
    assert (i.code, i.path, i.expected) == (
        "case.inconsistent",
        "history.smoking",
        "present, or smoking corrected",
    )


def test_cancer_history_gives_history_cancer_and_hides_its_type_from_researchers() -> None:
    entry = {"type": "Zq breast carcinoma", "diagnosed": "2019-04", "active": False}
    c = _dm(cancer_history=[entry])
    f = build_facts(c)["history_cancer"]
    assert f.value == "present"
    assert "Zq breast carcinoma (2019-04)" in f.detail
    kept = keep_allowed("case", c.model_dump(mode="json", exclude_none=True))
    assert kept["cancer_history"] == [{"active": False}]


@pytest.mark.parametrize(
    ("lung", "ild"),
    [
        ({"hrct_pattern": "nsip", "fvc_percent_predicted": 68}, "present"),
        ({"rapidly_progressive": True}, "present"),
        ({"hrct_pattern": "normal"}, "absent"),
        ({"fvc_percent_predicted": 95}, "unknown"),  # pulmonary function alone does not say
    ],
)
def test_lung_findings_give_interstitial_lung_disease(lung: dict[str, Any], ild: str) -> None:
    c = _dm(lung=lung, labs={"antibodies": {"mda5": "positive"}})
    assert build_facts(c)["history_ild"].value == ild
    screen = assess(c).screening.lung
    assert screen is not None
    assert screen.ild_recorded == ild


def test_onset_events_sun_exposure_and_cold() -> None:
    """Sun exposure without a burn: Parks 2020 (high job or hobby sun exposure, OR 1.64 for DM):
    the same UV flag as sunburn. Cold exposure: no association verified, listed as recorded."""
    a = assess(_dm(onset={"age_years": 57, "after": ["sun_exposure", "cold_exposure"]}))
    (uv,) = [f for f in a.flags if f.code == "uv_exposure_before_onset"]
    assert uv.evidence == ["onset.after: sun_exposure"]
    assert "cold_exposure" in str(a.trigger_screen.model_dump())


def test_a_lupus_band_is_a_skin_biopsy_word() -> None:
    f = build_facts(make_case(skin_biopsy={"lupus_band": "present"}))
    assert f["skin_biopsy_lupus_band"].value == "present"
