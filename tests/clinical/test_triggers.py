"""Drug names, the drug-trigger table (one test per row) and pre-onset events."""

from __future__ import annotations

from typing import Any

import pytest

from ifnscope.clinical import triggers
from ifnscope.clinical.drugs import all_classes, all_drugs, members, resolve
from ifnscope.clinical.triggers import drug_rules, event_rules
from tests.helpers import make_case


def _case(meds: list[dict[str, Any]], **kw: Any) -> Any:
    return make_case(age=50, onset=49, medications=meds, **kw)


# ------------------------------------------------------------------------------- drug names


@pytest.mark.parametrize(
    ("written", "generic", "how"),
    [
        ("Keytruda", "pembrolizumab", "brand"),
        ("KEYTRUDA®", "pembrolizumab", "brand"),
        ("Lamisil 250 mg daily", "terbinafine", "brand"),
        ("terbinafine", "terbinafine", "generic"),
        ("pembrolizumab 200 mg q3w", "pembrolizumab", "generic"),
        ("Hydrea", "hydroxyurea", "brand"),
        ("hydroxycarbamide", "hydroxyurea", "alias"),
        ("certolizumab", "certolizumab pegol", "alias"),
        ("Nexium", "esomeprazole", "brand"),
        ("omeprazole 20mg", "omeprazole", "generic"),
    ],
)
def test_brand_and_generic_names_resolve(written: str, generic: str, how: str) -> None:
    r = resolve(written)
    assert r.generic == generic
    assert r.how == how
    assert r.classes == list(all_drugs()[generic].classes)


def test_a_brand_carries_the_place_it_was_read() -> None:
    r = resolve("Keytruda")
    assert r.names_reference is not None
    assert r.names_reference.confidence == "A"
    assert "openFDA" in r.names_reference.citation


@pytest.mark.parametrize(
    ("written", "cls"),
    [("PPI", "proton_pump_inhibitor"), ("statins", "statin"), ("anti-TNF", "tnf_inhibitor")],
)
def test_a_class_written_for_a_drug_resolves_to_the_class(written: str, cls: str) -> None:
    r = resolve(written)
    assert r.how == "class"
    assert r.generic is None
    assert r.classes == [cls]


def test_an_unknown_name_is_reported_with_the_nearest_known_name() -> None:
    r = resolve("Lamisl")
    assert not r.recognised
    assert r.suggestion == "lamisil"
    assert "did you mean lamisil" in r.describe()
    assert resolve("zzzzqqq").suggestion is None


def test_every_drug_class_has_members_or_terms() -> None:
    for key, cls in all_classes().items():
        assert members(key) or cls.terms, key


# ------------------------------------------------------------------- the association table


def _agent_name(assoc: triggers.Association) -> str:
    if assoc.agent.drug:
        return assoc.agent.drug
    return members(assoc.agent.class_ or "")[0]


@pytest.mark.parametrize("assoc", drug_rules().associations, ids=lambda a: a.id)
def test_each_association_flags_a_drug_started_before_onset(assoc: triggers.Association) -> None:
    name = _agent_name(assoc)
    res = triggers.evaluate(_case([{"name": name, "months_before_onset": 1}]), assoc.disease)
    mine = [t for t in res.triggers if t.presentation == assoc.presentation]
    assert len(mine) == 1, [t.presentation for t in res.triggers]
    t = mine[0]
    expected = "possible" if assoc.window is None else "suspected"
    assert t.status == expected
    assert t.disease == assoc.disease
    assert t.fits_picture is True
    assert t.evidence == assoc.evidence
    assert t.references[0].source == assoc.source.id
    codes = {f.code for f in res.flags}
    if expected == "suspected":
        assert "drug_trigger_suspected" in codes
    elif all(x.status == "possible" for x in res.triggers):
        assert "drug_trigger_suspected" not in codes


@pytest.mark.parametrize(
    "assoc", [a for a in drug_rules().associations if a.window and a.window.max_months], ids=lambda a: a.id
)
def test_each_window_has_an_edge(assoc: triggers.Association) -> None:
    assert assoc.window is not None
    assert assoc.window.max_months is not None
    edge = assoc.window.max_months
    name = _agent_name(assoc)

    def status(months: float) -> str:
        res = triggers.evaluate(_case([{"name": name, "months_before_onset": months}]))
        found = [t for t in res.triggers + res.set_aside if t.presentation == assoc.presentation]
        return found[0].status

    assert status(edge) == "suspected"
    assert status(edge + 1) == "outside_window"
    assert status(-1) == "after_onset"


def test_any_duration_windows_accept_long_exposure() -> None:
    res = triggers.evaluate(_case([{"name": "Hydrea", "months_before_onset": 90}]), "dermatomyositis")
    (t,) = res.triggers
    assert t.status == "suspected"
    assert "any exposure before onset counts" in t.timing


def test_unrecorded_timing_is_unknown_not_absent() -> None:
    res = triggers.evaluate(_case([{"name": "omeprazole"}]), "lupus")
    (t,) = res.triggers
    assert t.status == "timing_unknown"
    assert "drug_timing_not_recorded" in {f.code for f in res.flags}
    assert "drug_trigger_suspected" not in {f.code for f in res.flags}
    assert any("omeprazole" in u for u in res.unknowns)


def test_population_evidence_is_listed_before_case_series() -> None:
    meds = [
        {"name": "amlodipine", "months_before_onset": 40},
        {"name": "terbinafine", "months_before_onset": 1.2},
    ]
    res = triggers.evaluate(_case(meds), "lupus")
    assert [t.agent for t in res.triggers] == ["terbinafine", "amlodipine"]
    flag = next(f for f in res.flags if f.code == "drug_trigger_suspected")
    assert flag.message.startswith("Drug trigger suspected: terbinafine (lupus), amlodipine (lupus)")
    assert "Grönhagen" in flag.source


def test_a_drug_for_the_other_disease_ranks_after_those_that_fit() -> None:
    meds = [{"name": "Hydrea", "months_before_onset": 24}, {"name": "Nexium", "months_before_onset": 3}]
    res = triggers.evaluate(_case(meds), "lupus")
    assert [(t.agent, t.fits_picture) for t in res.triggers] == [
        ("esomeprazole", True),
        ("hydroxyurea", False),
    ]


def test_a_checkpoint_inhibitor_is_screened_for_both_diseases() -> None:
    res = triggers.evaluate(_case([{"name": "Keytruda", "months_before_onset": 2}]), "indeterminate")
    assert {t.disease for t in res.triggers} == {"lupus", "dermatomyositis"}
    assert all(t.fits_picture is None for t in res.triggers)


def test_unrecognised_medications_are_listed_not_dropped() -> None:
    res = triggers.evaluate(_case([{"name": "Lamisl", "months_before_onset": 1}]))
    assert res.triggers == []
    assert [r.recorded_as for r in res.unrecognised] == ["Lamisl"]
    assert "medication 'Lamisl' not recognised" in res.unknowns


# ---------------------------------------------------------------------------------- events


@pytest.mark.parametrize("rule", event_rules().events, ids=lambda r: r.id)
def test_each_event_before_onset_raises_its_flag(rule: triggers.EventRule) -> None:
    case = make_case(age=40, onset={"age_years": 39, "after": [rule.onset_after]})
    res = triggers.evaluate(case)
    flag = next(f for f in res.flags if f.code == rule.flag)
    assert flag.severity == rule.severity
    assert flag.references[0].source == rule.sources[0].id
    assert f"onset.after: {rule.onset_after}" in flag.evidence


@pytest.mark.parametrize("rule", event_rules().history, ids=lambda r: r.id)
def test_each_history_rule_raises_its_flag(rule: triggers.EventRule) -> None:
    assert rule.history
    res = triggers.evaluate(make_case(history={rule.history: "present"}))
    assert rule.flag in {f.code for f in res.flags}
    res = triggers.evaluate(make_case(history={rule.history: "absent"}))
    assert rule.flag not in {f.code for f in res.flags}


def test_new_medication_asks_for_the_drug_only_when_none_matched() -> None:
    after = {"age_years": 49, "after": ["new_medication"]}
    alone = triggers.evaluate(make_case(age=50, onset=after))
    assert "new_medication_before_onset" in {f.code for f in alone.flags}
    matched = triggers.evaluate(
        make_case(age=50, onset=after, medications=[{"name": "terbinafine", "months_before_onset": 1}])
    )
    assert "new_medication_before_onset" not in {f.code for f in matched.flags}


def test_an_event_without_a_verified_rule_is_listed() -> None:
    res = triggers.evaluate(make_case(age=30, onset={"age_years": 29, "after": ["pregnancy"]}))
    assert res.events_without_rule == ["pregnancy"]
    assert res.flags == []
