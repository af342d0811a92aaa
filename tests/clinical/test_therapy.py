"""The therapy knowledge base, the therapy history and options, and the draft letter."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from ifnscope.assessment import assess
from ifnscope.case.model import Case
from ifnscope.case.reader import load_case
from ifnscope.clinical.drugs import all_classes, resolve
from ifnscope.clinical.letter import build_letter
from ifnscope.clinical.therapy import (
    TherapyContext,
    activity_score,
    context_from,
    evaluate,
    knowledge_base,
)
from ifnscope.data import load_yaml, sources
from ifnscope.errors import IfnscopeError
from ifnscope.provenance import SourceRef
from tests.helpers import SHARED, make_case, shared_cases, source_refs

DATA = Path(__file__).resolve().parents[2] / "src/ifnscope/data"
SEED = SHARED / "cases" / "seed-cadm.yaml"


def _seed_by_hand() -> Case:
    """The article's case, built in code (used when ../shared is absent)."""
    return make_case(
        {
            "heliotrope_rash": "present",
            "gottron_papules": "present",
            "pruritus": "present",
            "weakness_proximal_upper": "absent",
            "weakness_proximal_lower": "absent",
            "weakness_neck_flexors_gt_extensors": "absent",
            "weakness_proximal_gt_distal_legs": "absent",
        },
        age=29,
        onset=28.5,
        skin_months=6,
        patient={"sex": "female", "age_years": 29},
        labs={"ck": {"value": 95, "upper_limit": 170, "unit": "U/L"}, "ana_titer": 0},
        muscle={"mri": "normal", "emg": "not_done", "biopsy": "not_done"},
        medications=[
            {"name": "antihistamines", "response": "none"},
            {"name": "topical corticosteroids", "response": "none"},
            {"name": "methotrexate", "response": "inadequate"},
            {"name": "mycophenolate mofetil", "response": "inadequate"},
        ],
    )


@pytest.fixture(scope="module")
def seed() -> Case:
    return load_case(SEED) if SEED.exists() else _seed_by_hand()


@pytest.fixture(scope="module")
def seed_assessment(seed: Case) -> Any:
    return assess(seed)


def _dm(**kw: Any) -> TherapyContext:
    return TherapyContext(picture="dermatomyositis", **kw)


# --- the knowledge base ---------------------------------------------------------------------


def test_every_row_of_the_knowledge_base_cites_a_known_source_at_a_or_b() -> None:
    refs = source_refs(load_yaml("clinical/therapies.yaml"))
    assert len(refs) > 100
    for ref in refs:
        SourceRef.model_validate(ref)
        assert ref["where"].strip()
        assert ref["confidence"] in ("A", "B"), ref  # U facts are stated in words, never as rows


def test_the_bibliography_is_exactly_what_the_rows_cite_and_clashes_with_nothing() -> None:
    mine = yaml.safe_load((DATA / "sources/therapy.yaml").read_text())
    cited = {r["id"] for r in source_refs(load_yaml("clinical/therapies.yaml"))}
    assert set(mine) == cited  # every id defined is cited, every id cited is defined here
    others: set[str] = set(yaml.safe_load((DATA / "sources.yaml").read_text()))
    for p in (DATA / "sources").glob("*.yaml"):
        if p.name != "therapy.yaml":
            others |= set(yaml.safe_load(p.read_text()) or {})
    assert not set(mine) & others
    for sid in mine:
        assert sources()[sid]["read"].strip()


def test_therapy_class_keys_do_not_collide_with_the_trigger_table() -> None:
    ours = set(load_yaml("clinical/therapies.yaml")["classes"])
    theirs = set(load_yaml("clinical/drugs.yaml")["classes"])
    assert not ours & theirs
    assert ours <= set(all_classes())


def test_every_agent_loads_with_a_pathway_level_and_every_therapy_drug_has_an_agent() -> None:
    kb = knowledge_base()
    levels = {lv.key for lv in kb.pathway_levels}
    owners: dict[str, str] = {}
    for key, agent in kb.agents.items():
        assert agent.pathway.level in levels
        for d in agent.matches.drugs:
            owners[d] = key
        for trial in agent.trials:
            assert trial.result.strip()
            assert trial.sources
    assert set(load_yaml("clinical/therapies.yaml")["drugs"]) == set(owners)
    assert kb.agents["anifrolumab"].pathway.level == "receptor"
    assert kb.agents["dazukibart"].pathway.level == "ligand"
    assert kb.agents["litifilimab"].pathway.level == "producer"
    assert kb.agents["tofacitinib"].pathway.level == "signalling"
    assert kb.agents["ivig"].pathway.level == "not_ifn_specific"


def test_the_stored_numbers_are_the_ones_read() -> None:
    kb = knowledge_base()
    proderm = kb.agents["ivig"].trials[0]
    assert proderm.name == "ProDERM"
    assert "78.7% (37 of 47)" in proderm.result
    assert "43.8% (21 of 48)" in proderm.result
    daz = kb.agents["dazukibart"].trials[0]
    assert daz.eligibility[0].rule == "min_cdasi_activity"
    assert daz.eligibility[0].value == 14
    jasmine = next(t for t in kb.agents["anifrolumab"].trials if t.name == "JASMINE")
    assert jasmine.eligibility[0].rule == "excludes_amyopathic"
    hcq = kb.agents["hydroxychloroquine"].cautions[0].text
    assert "31%" in hcq
    assert "20.7%" in hcq
    assert "5% in DM vs 4% in CLE" in hcq


# --- the resolver ---------------------------------------------------------------------------


def _all_names() -> list[tuple[str, str | None, str | None]]:
    table = load_yaml("clinical/therapies.yaml")
    out: list[tuple[str, str | None, str | None]] = []
    for generic, d in table["drugs"].items():
        for name in [generic, *d.get("brands", []), *d.get("aliases", [])]:
            out.append((name, generic, None))
    for key, c in table["classes"].items():
        for term in c["terms"]:
            out.append((term, None, key))
    return out


@pytest.mark.parametrize(("name", "generic", "cls"), _all_names())
def test_the_resolver_recognises_every_name_added(name: str, generic: str | None, cls: str | None) -> None:
    res = resolve(name)
    assert res.recognised, name
    if generic:
        assert res.generic == generic
    else:
        assert res.how == "class"
        assert res.classes == [cls]


@pytest.mark.parametrize(
    ("written", "generic"),
    [
        ("Plaquenil 200 mg twice daily", "hydroxychloroquine"),
        ("Saphnelo 300 mg IV every 4 weeks", "anifrolumab"),
        ("Octagam 10%", "intravenous immunoglobulin"),
        ("IVIG 2 g/kg", "intravenous immunoglobulin"),
        ("CellCept 1 g bid", "mycophenolate mofetil"),
        ("Trexall", "methotrexate"),
        ("Xeljanz XR 11 mg", "tofacitinib"),
        ("tacrolimus ointment 0.1%", "topical tacrolimus"),
    ],
)
def test_names_as_clinicians_write_them(written: str, generic: str) -> None:
    assert resolve(written).generic == generic


# --- the seed case --------------------------------------------------------------------------


def test_seed_case_history_failed_agents_and_flags(seed: Case, seed_assessment: Any) -> None:
    ctx = context_from(seed, seed_assessment)
    assert ctx.picture == "dermatomyositis"
    assert ctx.muscle_involvement == "absent"
    assert any("amyopathic" in c for c in ctx.classified_as)
    r = evaluate(seed, ctx)
    assert {"methotrexate", "mycophenolate"} <= set(r.failed)
    by_name = {h.recorded_as: h for h in r.history}
    assert by_name["antihistamines"].agent == "antihistamine"
    assert by_name["antihistamines"].resolution.how == "class"
    assert by_name["topical corticosteroids"].agent == "topical_corticosteroid"
    assert by_name["methotrexate"].status_text == "tried with inadequate response"
    assert by_name["mycophenolate mofetil"].counts_as_failed
    assert not r.unrecognised
    codes = [f.code for f in r.flags]
    assert "no_antimalarial_tried" in codes
    assert "hcq_eruption_risk_dm" in codes
    flag = next(f for f in r.flags if f.code == "no_antimalarial_tried")
    assert {ref.source for ref in flag.references} == {"callen2006_dm", "vleugels_uptodate_refractory_cdm"}
    assert "methotrexate" in flag.evidence[0]
    if seed.expected:
        assert "no_antimalarial_tried" in seed.expected["flags"]
    assert r.ifn_pathway.targeted == []
    assert r.ifn_pathway.summary.startswith("No level of the type I IFN pathway has been targeted")
    assert not any(o.agent in ("methotrexate", "mycophenolate") for o in r.options_not_tried)


def test_an_antimalarial_in_the_list_suppresses_the_flag() -> None:
    for name in ("hydroxychloroquine 200 mg", "Plaquenil", "antimalarials", "chloroquine"):
        case = make_case(medications=[{"name": name, "response": "inadequate"}])
        r = evaluate(case, _dm())
        assert "no_antimalarial_tried" not in [f.code for f in r.flags], name
    bare = make_case(medications=[{"name": "methotrexate"}])
    assert "no_antimalarial_tried" in [f.code for f in evaluate(bare, TherapyContext(picture="lupus")).flags]
    indeterminate = evaluate(bare, TherapyContext(picture="indeterminate"))
    assert "no_antimalarial_tried" not in [f.code for f in indeterminate.flags]


def test_a_class_only_antimalarial_leaves_the_drugs_listed_with_a_note() -> None:
    r = evaluate(make_case(medications=[{"name": "antimalarials"}]), _dm())
    hcq = next(o for o in r.options_not_tried if o.agent == "hydroxychloroquine")
    assert hcq.class_note is not None
    assert "antimalarials" in hcq.class_note


def test_options_follow_the_ladder_of_the_picture() -> None:
    kb = knowledge_base()
    case = make_case(medications=[{"name": "methotrexate", "response": "inadequate"}])
    dm = [o.agent for o in evaluate(case, _dm()).options_not_tried]
    lupus = [o.agent for o in evaluate(case, TherapyContext(picture="lupus")).options_not_tried]
    assert dm.index("hydroxychloroquine") < dm.index("ivig") < dm.index("dazukibart")
    assert "litifilimab" not in dm
    assert "dapsone" not in dm
    assert lupus.index("topical_corticosteroid") < lupus.index("hydroxychloroquine") < lupus.index("dapsone")
    assert lupus.index("thalidomide") < lupus.index("litifilimab")
    assert "dazukibart" not in lupus
    assert "ivig" not in lupus
    assert "methotrexate" not in dm
    assert "methotrexate" not in lupus
    for picture in ("dermatomyositis", "lupus", "indeterminate"):
        opts = evaluate(case, TherapyContext(picture=picture)).options_not_tried  # type: ignore[arg-type]
        ranks = [kb.position_index(o.position) for o in opts]
        assert ranks == sorted(ranks)
        for o in opts:
            assert o.summary.startswith("Not recorded as tried")
            assert "should" not in o.summary.lower()
            assert "prescribe" not in o.summary.lower()


def test_approval_status_is_for_this_indication() -> None:
    case = make_case()
    dm = {o.agent: o for o in evaluate(case, _dm()).options_not_tried}
    assert dm["ivig"].approval_code == "approved_for_indication"
    assert "adult dermatomyositis" in dm["ivig"].approval_status
    assert dm["anifrolumab"].approval_code == "approved_other_indication"
    assert dm["dazukibart"].approval_code == "not_approved"
    lupus = {o.agent: o for o in evaluate(case, TherapyContext(picture="lupus")).options_not_tried}
    assert lupus["hydroxychloroquine"].approval_code == "approved_for_indication"
    assert "cutaneous lupus itself" in lupus["anifrolumab"].approval_status


@pytest.mark.parametrize(
    ("cdasi", "meets", "words"),
    [
        (13, False, "CDASI-A of 13 is below 14"),
        (14, True, "CDASI-A of 14 is at or above 14"),
        (None, None, "not recorded"),
    ],
)
def test_dazukibart_eligibility_compares_cdasi_activity(
    cdasi: float | None, meets: bool | None, words: str
) -> None:
    case = make_case(medications=[{"name": "methotrexate", "response": "inadequate"}])
    daz = next(
        o for o in evaluate(case, _dm(cdasi_activity=cdasi)).options_not_tried if o.agent == "dazukibart"
    )
    note = next(e for e in daz.eligibility if e.rule == "min_cdasi_activity")
    assert note.meets is meets
    assert words in note.text
    failed = next(e for e in daz.eligibility if e.rule == "min_failed_systemic")
    assert failed.meets is True
    assert "methotrexate" in failed.text


def test_trial_populations_are_compared_with_the_patient(seed: Case, seed_assessment: Any) -> None:
    r = evaluate(seed, context_from(seed, seed_assessment))
    opts = {o.agent: o for o in r.options_not_tried}
    ivig = next(e for e in opts["ivig"].eligibility if e.rule == "requires_muscle_weakness")
    assert ivig.meets is False
    assert "amyopathic DM was not studied" in ivig.text
    jas = next(e for e in opts["anifrolumab"].eligibility if e.rule == "excludes_amyopathic")
    assert jas.meets is False
    assert "JASMINE excludes amyopathic DM" in jas.text
    with_weakness = evaluate(seed, _dm(muscle_involvement="present"))
    ivig2 = next(o for o in with_weakness.options_not_tried if o.agent == "ivig").eligibility[0]
    assert ivig2.meets is True


def test_status_words_for_every_recorded_response() -> None:
    meds = [
        {"name": "hydroxychloroquine", "response": "good"},
        {"name": "methotrexate", "response": "intolerant"},
        {"name": "azathioprine", "response": "too_early"},
        {"name": "dapsone"},
        {"name": "prednisone", "response": "partial"},
    ]
    r = evaluate(make_case(medications=meds), TherapyContext(picture="lupus"))
    words = {h.agent: (h.status_text, h.counts_as_failed) for h in r.history}
    assert words["hydroxychloroquine"] == ("responded", False)
    assert words["methotrexate"] == ("intolerant", True)
    assert words["azathioprine"] == ("too early to judge", False)
    assert words["dapsone"] == ("response not recorded", False)
    assert words["systemic_corticosteroid"] == ("tried with partial response", False)
    assert r.failed == ["methotrexate"]
    assert r.ifn_pathway.targeted == ["sensor"]


def test_an_unrecognised_medication_gives_a_suggestion_and_a_flag() -> None:
    r = evaluate(make_case(medications=[{"name": "plaqunil"}]), _dm())
    assert r.unrecognised[0].suggestion == "plaquenil"
    assert r.history[0].agent is None
    flag = next(f for f in r.flags if f.code == "medication_not_recognised")
    assert "did you mean plaquenil" in flag.evidence[0]
    no_am = next(f for f in r.flags if f.code == "no_antimalarial_tried")
    assert any("plaqunil" in e for e in no_am.evidence)


def test_an_ifn_targeted_agent_tried_marks_its_level() -> None:
    r = evaluate(make_case(medications=[{"name": "Saphnelo", "response": "inadequate"}]), _dm())
    assert r.ifn_pathway.targeted == ["receptor"]
    assert "anifrolumab" in r.failed
    assert "anifrolumab" not in [o.agent for o in r.options_not_tried]


def test_activity_is_read_from_the_assessment_shape() -> None:
    assert activity_score({"cdasi": {"activity": 20}}, "cdasi") == 20
    assert (
        activity_score(SimpleNamespace(cdasi=SimpleNamespace(activity=17, activity_complete=True)), "cdasi")
        == 17
    )
    assert (
        activity_score(SimpleNamespace(cdasi=SimpleNamespace(activity=9, activity_complete=False)), "cdasi")
        is None
    )
    assert activity_score(None, "clasi") is None


# --- the letter -----------------------------------------------------------------------------


def test_the_ivig_letter_for_the_seed_case(seed: Case, seed_assessment: Any) -> None:
    letter = build_letter(seed, seed_assessment, "IVIG")
    text = letter.text
    assert letter.agent == "ivig"
    assert "DRAFT for the treating clinician to review and sign" in text
    assert "probable IIM, score 6.5" in text
    assert "amyopathic dermatomyositis" in text
    assert (
        "Systemic agents recorded as failed (inadequate response or intolerance): methotrexate, mycophenolate"
        in text
    )
    assert "78.7% (37 of 47) on IVIG vs 43.8% (21 of 48) on placebo" in text
    assert "The FDA indication is adult dermatomyositis" in text
    limits = next(s for s in letter.sections if s.heading.startswith("Limits"))
    assert any("clinically amyopathic DM was not studied" in p for p in limits.paragraphs)
    assert any("CDASI not recorded" in g for g in letter.gaps)
    assert any("ProDERM" in g and "trial population differs" in g for g in letter.gaps)
    assert any("No antimalarial is recorded" in g for g in letter.gaps)
    assert "aggarwal2022_proderm" in {r.source for r in letter.references}
    assert f"Case {seed.id}: 29-year-old female" in text
    n = [r.source for r in letter.references].index("aggarwal2022_proderm") + 1
    assert f"[{n}] Aggarwal R" in text


def test_the_anifrolumab_letter_states_the_limits(seed: Case, seed_assessment: Any) -> None:
    letter = build_letter(seed, seed_assessment, "anifrolumab")
    assert "No approval for DM was found in the sources read" in letter.text
    assert "JASMINE excludes amyopathic DM" in letter.text
    assert "Evidence in other indications" in letter.text
    assert "46.0% (49 of 107)" in letter.text
    assert any(g.startswith("Off-label for DM") for g in letter.gaps)


def test_the_letter_uses_a_recorded_cdasi(seed: Case, seed_assessment: Any) -> None:
    fake = SimpleNamespace(criteria=seed_assessment.criteria, activity={"cdasi": {"activity": 20}})
    letter = build_letter(seed, fake, "dazukibart")
    assert "CDASI activity score: 20." in letter.text
    assert not any("CDASI not recorded" in g for g in letter.gaps)
    assert "CDASI-A of 20 is at or above 14" in letter.text


def test_a_letter_for_every_drug_in_the_knowledge_base(seed: Case, seed_assessment: Any) -> None:
    for key, agent in knowledge_base().agents.items():
        if agent.kind != "drug":
            continue
        letter = build_letter(seed, seed_assessment, key)
        assert letter.title.startswith("Letter of medical necessity")
        assert letter.sections[0].paragraphs[0].startswith("DRAFT")
        assert letter.gaps[-1].startswith("Prescriber")


def test_an_unknown_agent_is_an_error(seed: Case, seed_assessment: Any) -> None:
    with pytest.raises(IfnscopeError) as err:
        build_letter(seed, seed_assessment, "unobtainium")
    assert err.value.code == "therapy.unknown-agent"


PICTURE_WORDS = {
    "dermatomyositis": "Working picture: dermatomyositis.",
    "lupus": "Working picture: cutaneous lupus erythematosus.",
    "indeterminate": "Working picture: not settled between dermatomyositis and lupus.",
}


@pytest.mark.parametrize("path", shared_cases(), ids=lambda p: p.stem)
def test_the_letter_reads_the_assessments_disease_picture(path: Path) -> None:
    """One disease picture (issue 8): the letter's working picture is the one the assessment's
    therapy section follows, including the skin-picture fallback for unclassified cases."""
    case = load_case(path)
    a = assess(case)
    letter = build_letter(case, a, "anifrolumab")
    assert PICTURE_WORDS[a.therapy.context.picture] in letter.text
    assert "not met IIM" not in letter.text


def test_the_letter_names_cadm_only_when_a_hallmark_sign_is_present() -> None:
    """Sontheimer/Gerami CADM presupposes the hallmark skin signs of DM: a letter for a case that
    records none of them says nothing about CADM (its category is only 'undetermined')."""
    case = make_case({"acute_cutaneous_lupus": "present"}, skin_months=8)
    a = assess(case)
    assert a.criteria["sontheimer_cadm"].category == "undetermined"
    assert "Sontheimer" not in build_letter(case, a, "anifrolumab").text
    dm = make_case({"heliotrope_rash": "present"}, skin_months=8)
    assert "Sontheimer" in build_letter(dm, assess(dm), "anifrolumab").text
