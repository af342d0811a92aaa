"""Cancer screening (IMACS 2023) and lung screening for myositis, against what the case records.

Cancer: the scope of the IMACS guideline (adult onset, diagnosed within 3 years of onset), the
basic and enhanced panels with what the case already records for each test, the PET-CT and
endoscopy rules, and the risk factors recorded. The guideline's standard/moderate/high
category is deliberately *not* computed: its lists of high- and intermediate-risk features
(the Figure 1 graphic) could not be read, and a guessed category would look authoritative.

Lung: anti-MDA5 and antisynthetase antibodies raise flags (``anti_mda5_ild_risk``,
``antisynthetase_ild_risk``) with the published risk; other ILD risk features and the
screening and monitoring recommendations are listed with their sources.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, Field

from ifnscope.case.facts import PRESENT, UNKNOWN, Facts, known_fact_names
from ifnscope.case.model import Case
from ifnscope.case.vocabulary import vocabulary
from ifnscope.clinical.base import Flag, Picture, Severity, YesNoUnknown
from ifnscope.criteria.base import check_expr
from ifnscope.data import load_table
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, RuleModel, SourceRef

# ------------------------------------------------------------------------------ rule tables


class Scope(RuleModel):
    text: str
    adult_from_age: float
    within_months_of_onset: float
    source: SourceRef


class TextRule(RuleModel):
    text: str
    source: SourceRef


class MultiTextRule(RuleModel):
    text: str
    sources: list[SourceRef]


class PanelTest(RuleModel):
    test: str
    sex: Literal["female", "male"] | None = None
    # where the restriction to one sex was read (required with ``sex``)
    sex_sources: list[SourceRef] = Field(default_factory=list)
    satisfied_by_all_of: list[str] = Field(default_factory=list)
    note: str | None = None


class Panel(RuleModel):
    label: str
    for_: str = Field(alias="for")
    source: SourceRef
    also_source: SourceRef | None = None
    tests: list[PanelTest]
    note: str | None = None


class Additional(RuleModel):
    id: str
    when: str | None = None
    text: str
    source: SourceRef


class Factor(RuleModel):
    id: str
    label: str
    effect: str
    fact: str | None = None
    sex: Literal["female", "male"] | None = None


class RiskFactors(RuleModel):
    source: SourceRef
    higher: list[Factor]
    lower: list[Factor]


class Categories(RuleModel):
    text: str
    source: SourceRef
    not_computed: str


class CancerRules(RuleModel):
    scope: Scope
    categories: Categories
    counting_rule: MultiTextRule
    panels: dict[str, Panel]
    other_test_notes: dict[str, str] = Field(default_factory=dict)
    additional: list[Additional]
    risk_factors: RiskFactors
    unverified: list[str]


class LungAntibody(RuleModel):
    id: str
    facts: list[str]
    severity: Severity
    message: str
    sources: list[SourceRef]


class LungFeatures(RuleModel):
    facts: list[str]
    text: str
    source: SourceRef


class LungRules(RuleModel):
    risk_antibodies: list[LungAntibody]
    risk_features: LungFeatures
    screening: MultiTextRule
    referral: TextRule
    subtype_prevalence: TextRule
    monitoring: TextRule


class ScreeningRules(RuleModel):
    cancer: CancerRules
    lung: LungRules


@cache
def rules() -> ScreeningRules:
    r = load_table("clinical/screening.yaml", ScreeningRules)
    tests = set(vocabulary().cancer_screening)
    for name, panel in r.cancer.panels.items():
        for t in panel.tests:
            for key in (t.test, *t.satisfied_by_all_of):
                if key not in tests:
                    raise DataError(f"screening.yaml panels.{name}: unknown test {key!r}")
            if bool(t.sex) != bool(t.sex_sources):
                raise DataError(
                    f"screening.yaml panels.{name}.{t.test}: a test for one sex needs sex_sources, "
                    "and sex_sources need a sex"
                )
    for key in r.cancer.other_test_notes:
        if key not in tests:
            raise DataError(f"screening.yaml other_test_notes: unknown test {key!r}")
    known = set(known_fact_names())
    for f in (*r.cancer.risk_factors.higher, *r.cancer.risk_factors.lower):
        if f.fact:
            check_expr(f.fact, known, f"screening.yaml risk_factors.{f.id}")
    for a in r.lung.risk_antibodies:
        for name in a.facts:
            check_expr(name, known, f"screening.yaml lung.{a.id}")
    for name in r.lung.risk_features.facts:
        check_expr(name, known, "screening.yaml lung.risk_features")
    return r


# ---------------------------------------------------------------------------------- results

# ``depends_on_sex``: a test for one sex, not recorded, in a patient whose sex is not recorded
# (or recorded as other): whether it applies is unknown, so it is neither missing nor n/a.
TestStatus = Literal["negative", "positive", "not_done", "not_recorded", "not_applicable", "depends_on_sex"]
TEST_STATUS_WORDS: dict[str, str] = {
    "negative": "negative",
    "positive": "POSITIVE",
    "not_done": "not done",
    "not_recorded": "not recorded",
    "not_applicable": "n/a",
    "depends_on_sex": "depends on sex (not recorded)",
}


class TestLine(BaseModel):
    test: str
    label: str
    status: TestStatus
    detail: str


class PanelResult(BaseModel):
    id: str
    label: str
    recommended_for: str
    tests: list[TestLine]
    recorded: int = Field(description="Tests of the panel recorded as done")
    applicable: int = Field(description="Tests of the panel known to apply to this patient")
    missing: list[str] = Field(description="Applicable tests not recorded as done")
    depends_on_sex: list[str] = Field(
        default_factory=list,
        description="Tests for one sex, not recorded, whose applicability is unknown because the "
        "patient's sex is not recorded (or is recorded as other)",
    )
    note: str | None
    references: list[Reference]


class FactorLine(BaseModel):
    id: str
    label: str
    direction: Literal["higher", "lower"]
    effect: str
    status: Literal["present", "absent", "unknown", "context"]
    detail: str


class CancerScreening(BaseModel):
    applies: YesNoUnknown
    why: str
    scope: str
    category: None = Field(
        default=None,
        description="Not computed: the IMACS lists of high- and intermediate-risk factors are unverified "
        "(category_note and unverified say what is missing)",
    )
    category_note: str
    counting_rule: str
    panels: list[PanelResult]
    additional: list[str]
    risk_factors: list[FactorLine]
    other_tests_recorded: list[TestLine]
    unverified: list[str]
    references: list[Reference]


class LungScreening(BaseModel):
    risk_antibodies_positive: list[str]
    risk_features_present: list[str]
    ild_recorded: Literal["present", "absent", "unknown"]
    advice: list[str]
    unknowns: list[str]
    references: list[Reference]


class ScreeningResult(BaseModel):
    cancer: CancerScreening
    lung: LungScreening
    flags: list[Flag]


# ---------------------------------------------------------------------------------- engine


def _applies(case: Case, myositis: YesNoUnknown, scope: Scope) -> tuple[YesNoUnknown, str]:
    onset = case.onset.age_years
    months = case.onset.skin_disease_months
    if myositis == "no":
        return "no", "the case is not classified as an idiopathic inflammatory myopathy"
    if onset is not None and onset < scope.adult_from_age:
        return "no", f"juvenile onset (at {onset:g} years): routine cancer screening is not required"
    reasons = []
    status: YesNoUnknown = "yes"
    if myositis == "unknown":
        status, reasons = "unknown", ["the myopathy classification is not settled"]
    if onset is None:
        status = "unknown"
        reasons.append("age at onset not recorded")
    if months is None:
        status = "unknown"
        reasons.append("time since symptom onset not recorded")
    elif months > scope.within_months_of_onset:
        return "no", (
            f"{months:g} months since onset: the guideline covers diagnosis within "
            f"{scope.within_months_of_onset:g} months of symptom onset"
        )
    if status == "yes":
        return "yes", f"adult-onset IIM ({onset:g} years), {months:g} months since symptom onset"
    return status, "; ".join(reasons)


def _panel(pid: str, panel: Panel, case: Case) -> PanelResult:
    voc = vocabulary().cancer_screening
    done = case.cancer_screening.model_dump()
    sex = case.patient.sex
    sex_known = sex in ("female", "male")
    lines = []
    for t in panel.tests:
        label = voc[t.test]
        if t.sex and sex_known and sex != t.sex:
            lines.append(TestLine(test=t.test, label=label, status="not_applicable", detail=f"{t.sex} only"))
            continue
        value = done.get(t.test)
        detail = ""
        if value is None and t.satisfied_by_all_of and all(done.get(k) for k in t.satisfied_by_all_of):
            parts = [done[k] for k in t.satisfied_by_all_of]
            value = "positive" if "positive" in parts else ("not_done" if "not_done" in parts else "negative")
            detail = "from " + " and ".join(voc[k] for k in t.satisfied_by_all_of)
        elif value is None and t.satisfied_by_all_of:
            have = [voc[k] for k in t.satisfied_by_all_of if done.get(k)]
            if have:
                detail = f"only {', '.join(have)} recorded"
        if t.sex and not sex_known:
            why = "sex not recorded" if sex in (None, "unknown") else f"sex recorded as {sex}"
            detail = (detail + "; " if detail else "") + f"{t.sex} only ({why})"
        if t.note:
            detail = (detail + "; " if detail else "") + t.note
        status: TestStatus = value if value else "not_recorded"
        if status == "not_recorded" and t.sex and not sex_known:
            status = "depends_on_sex"
        lines.append(TestLine(test=t.test, label=label, status=status, detail=detail))
    applicable = [x for x in lines if x.status not in ("not_applicable", "depends_on_sex")]
    recorded = [x for x in applicable if x.status in ("negative", "positive")]
    refs = [Reference.of(panel.source)] + ([Reference.of(panel.also_source)] if panel.also_source else [])
    refs += [Reference.of(s) for t in panel.tests for s in t.sex_sources]
    return PanelResult(
        id=pid,
        label=panel.label,
        recommended_for=panel.for_,
        tests=lines,
        recorded=len(recorded),
        applicable=len(applicable),
        missing=[x.label for x in applicable if x.status not in ("negative", "positive")],
        depends_on_sex=[x.label for x in lines if x.status == "depends_on_sex"],
        note=panel.note,
        references=list(dict.fromkeys(refs)),
    )


def _factors(
    case: Case, facts: Facts, r: RiskFactors, dm: bool | None, cadm: bool | None
) -> list[FactorLine]:
    out = []

    def line(f: Factor, direction: Literal["higher", "lower"]) -> FactorLine:
        if f.fact:
            v = facts.value(f.fact)
            return FactorLine(
                id=f.id,
                label=f.label,
                direction=direction,
                effect=f.effect,
                status=v,
                detail=facts[f.fact].detail,
            )
        if f.id == "male_sex":
            sex = case.patient.sex
            st = (
                "unknown" if sex in (None, "unknown", "other") else ("present" if sex == "male" else "absent")
            )
            return FactorLine(
                id=f.id, label=f.label, direction=direction, effect=f.effect, status=st, detail=f"sex {sex}"
            )
        if f.id == "older_age":
            onset = case.onset.age_years
            detail = f"onset at {onset:g} years" if onset is not None else "onset age not recorded"
            return FactorLine(
                id=f.id,
                label=f.label,
                direction=direction,
                effect=f.effect,
                status="context",
                detail=detail + " (patients with cancer were older on average)",
            )
        flag = {"dm_subtype": dm, "cadm": cadm, "pm": None}.get(f.id)
        st = "unknown" if flag is None else ("present" if flag else "absent")
        return FactorLine(
            id=f.id,
            label=f.label,
            direction=direction,
            effect=f.effect,
            status=st,
            detail="from the assessment",
        )

    out += [line(f, "higher") for f in r.higher]
    out += [line(f, "lower") for f in r.lower]
    return out


def evaluate(
    case: Case,
    facts: Facts,
    *,
    myositis: YesNoUnknown,
    dermatomyositis: bool | None,
    cadm: bool | None,
    picture: Picture,
) -> ScreeningResult:
    """Cancer and lung screening for a case. ``myositis``: is the case classified as IIM;
    ``dermatomyositis``/``cadm``: its subtype, where the assessment decided it. Pure."""
    r = rules()
    c = r.cancer
    applies, why = _applies(case, myositis, c.scope)
    panels = [_panel(pid, p, case) for pid, p in c.panels.items()]
    in_panels = {t.test for p in c.panels.values() for t in p.tests} | {
        k for p in c.panels.values() for t in p.tests for k in t.satisfied_by_all_of
    }
    voc = vocabulary().cancer_screening
    other = [
        TestLine(
            test=k,
            label=voc[k],
            status=v,
            detail=" ".join(c.other_test_notes.get(k, "recorded; not part of the two panels").split()),
        )
        for k, v in case.cancer_screening.model_dump().items()
        if v and k not in in_panels
    ]
    additional = []
    for a in c.additional:
        if a.id == "pet_ct_single_test":
            onset = case.onset.age_years
            if (
                facts.value("antibody_tif1g") == PRESENT
                and dermatomyositis
                and onset is not None
                and onset > 40
            ):
                additional.append(" ".join(a.text.split()))
            continue
        if a.id == "red_flags":
            present = [
                x
                for x in ("weight_loss", "history_smoking", "fever", "family_history_cancer")
                if facts.value(x) == PRESENT
            ]
            text = " ".join(a.text.split())
            if present:
                text += " Recorded here: " + ", ".join(facts[x].label.lower() for x in present) + "."
            additional.append(text)
            continue
        additional.append(" ".join(a.text.split()))
    refs = [Reference.of(c.scope.source), Reference.of(c.categories.source)]
    refs += [Reference.of(s) for s in c.counting_rule.sources]
    refs += [ref for p in panels for ref in p.references]
    refs += [Reference.of(a.source) for a in c.additional] + [Reference.of(c.risk_factors.source)]
    cancer = CancerScreening(
        applies=applies,
        why=why,
        scope=" ".join(c.scope.text.split()),
        category_note=" ".join(f"{c.categories.text} {c.categories.not_computed}".split()),
        counting_rule=" ".join(c.counting_rule.text.split()),
        panels=panels,
        additional=additional,
        risk_factors=_factors(case, facts, c.risk_factors, dermatomyositis, cadm),
        other_tests_recorded=other,
        unverified=[" ".join(u.split()) for u in c.unverified],
        references=list(dict.fromkeys(refs)),
    )

    lung_rules = r.lung
    flags: list[Flag] = []
    positive = []
    unknowns = []
    for ab in lung_rules.risk_antibodies:
        hits = [n for n in ab.facts if facts.value(n) == PRESENT]
        if hits:
            positive += [facts[n].label for n in hits]
            flags.append(
                Flag.make(
                    ab.id,
                    ab.severity,
                    " ".join(ab.message.split()),
                    [Reference.of(s) for s in ab.sources],
                    evidence=[f"{facts[n].label} ({facts[n].detail})" for n in hits],
                )
            )
        else:
            unknowns += [
                facts[n].label.replace(" positive", "") for n in ab.facts if facts.value(n) == UNKNOWN
            ]
    features = [facts[n].label for n in lung_rules.risk_features.facts if facts.value(n) == PRESENT]
    ild = facts.value("history_ild")
    advice = []
    lung_refs = [Reference.of(s) for a in lung_rules.risk_antibodies for s in a.sources]
    if positive or features:
        advice.append(" ".join(lung_rules.screening.text.split()))
        lung_refs += [Reference.of(s) for s in lung_rules.screening.sources]
    if positive:
        advice.append(" ".join(lung_rules.referral.text.split()))
        lung_refs.append(Reference.of(lung_rules.referral.source))
    if features:
        advice.append(" ".join(lung_rules.risk_features.text.split()) + f" Present: {', '.join(features)}.")
        lung_refs.append(Reference.of(lung_rules.risk_features.source))
    if cadm and ild != PRESENT:
        advice.append(" ".join(lung_rules.subtype_prevalence.text.split()))
        lung_refs.append(Reference.of(lung_rules.subtype_prevalence.source))
    if ild == PRESENT:
        advice.append(" ".join(lung_rules.monitoring.text.split()))
        lung_refs.append(Reference.of(lung_rules.monitoring.source))
    lung = LungScreening(
        risk_antibodies_positive=positive,
        risk_features_present=features,
        ild_recorded=ild,
        advice=advice,
        unknowns=(
            ["antibodies not recorded: " + ", ".join(unknowns)] if unknowns and picture != "lupus" else []
        ),
        references=list(dict.fromkeys(lung_refs)),
    )
    return ScreeningResult(cancer=cancer, lung=lung, flags=flags)
