"""Run every engine on a case and assemble the assessment (the JSON contract).

Data flows one way: case -> facts (recorded + derived from lesions) -> engines -> this
object -> terminal report / JSON / HTML report / registry and web app. The criteria come
first; the clinical parts read what they need of them (the differential's picture for the
trigger screen, the myositis classification for cancer screening).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ifnscope import __version__
from ifnscope.activity import ActivityResult
from ifnscope.activity import evaluate as evaluate_activity
from ifnscope.case.derive import derive_findings, describe_lesion
from ifnscope.case.facts import PRESENT, Facts, build_facts, relative_words
from ifnscope.case.model import Case, Impression
from ifnscope.clinical import differential, screening, therapy, triggers
from ifnscope.clinical.base import Flag
from ifnscope.clinical.differential import DifferentialResult
from ifnscope.clinical.picture import disease_picture
from ifnscope.clinical.screening import ScreeningResult
from ifnscope.clinical.therapy import TherapyResult
from ifnscope.clinical.triggers import TriggerOut, TriggerResult
from ifnscope.criteria import CRITERIA_SETS
from ifnscope.criteria.sle_2019 import rules as sle_rules
from ifnscope.data import rules_version
from ifnscope.provenance import Reference

ASSESSMENT_FORMAT = "ifnscope-assessment/1"
DISCLAIMER = (
    "Decision support, not a diagnosis: this says what published classification criteria "
    "say about the recorded findings, and why. Classification criteria are built for "
    "research cohorts; the diagnosis remains the clinician's."
)


class LesionRef(BaseModel):
    number: int
    text: str


class FindingSource(BaseModel):
    """Where the value of a finding came from."""

    value: str
    origin: str = Field(description="recorded, derived (from lesions) or not_recorded")
    detail: str
    lesions: list[LesionRef] = Field(default_factory=list)
    rule: str | None = Field(default=None, description="the definition the lesion matched")
    source: str | None = None


class NearMissOut(BaseModel):
    finding: str
    lesion: LesionRef
    missing: str
    would_need: list[str]
    message: str


class UnknownImpact(BaseModel):
    """An unrecorded fact and what recording it as present would change."""

    fact: str
    label: str
    record_at: str
    would_change: list[str]
    recorded: str | None = Field(
        default=None,
        description="For an unknown that the case records as such (an equivocal antibody): what it "
        "records; absent for a fact nobody recorded",
    )


class UnknownCombination(BaseModel):
    """A smallest set of unrecorded facts that would change a result only together, and what
    recording them all as present would change (each criteria set it changes, and to what)."""

    facts: list[str]
    labels: list[str]
    record_at: list[str]
    alternatives: dict[str, list[str]] = Field(
        default_factory=dict, description="For a fact of the set, other unrecorded facts that do the same"
    )
    alternative_labels: dict[str, list[str]] = Field(default_factory=dict)
    would_change: list[str]


class Assessment(BaseModel):
    format: str = ASSESSMENT_FORMAT
    ifnscope_version: str = __version__
    rules_version: str = Field(
        default_factory=rules_version,
        description="The rules that made this assessment: the ifnscope version and a hash of its data files",
    )
    case_id: str
    title: str | None
    disclaimer: str = DISCLAIMER
    derived_findings: dict[str, str] = Field(
        description="Findings derived from the described lesions (always 'present')"
    )
    findings: dict[str, FindingSource] = Field(
        description="Every finding that is not unknown, with its origin"
    )
    near_misses: list[NearMissOut]
    conflicts: list[str]
    criteria: dict[str, Any] = Field(description="One result object per criteria set")
    unknowns: list[UnknownImpact]
    unknown_combinations: list[UnknownCombination] = Field(
        default_factory=list,
        description="Smallest sets of unrecorded facts that change a result only together (pairs, "
        "triples where searched); each criteria set's own list and search are in its result",
    )
    differential: DifferentialResult = Field(
        description="CLE vs DM: the features on each side and the verdict"
    )
    flags: list[Flag] = Field(description="Things to check or act on, each with its source")
    triggers: list[TriggerOut] = Field(description="Drugs that may have induced the disease, by timing")
    trigger_screen: TriggerResult = Field(description="The whole drug and event screen")
    screening: ScreeningResult = Field(description="Cancer (IMACS 2023) and lung screening")
    activity: ActivityResult | None = Field(
        description="CDASI and CLASI from the case's activity section, and the change since baseline"
    )
    therapy: TherapyResult = Field(description="Medication history and the options not yet tried")
    impression: Impression | None = Field(
        default=None,
        description="The clinician's impression and differential as written in the case: shown to "
        "clinicians, never to researchers, read by no rule",
    )
    family_history: list[str] = Field(
        default_factory=list,
        description="Relatives' diseases, in words ('mother: Systemic lupus erythematosus'): the "
        "relatives' own, never counted as the patient's",
    )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _attributed_flags(facts: Facts) -> list[Flag]:
    """A finding the clinician attributes to another cause: EULAR/ACR 2019 SLE does not count it
    (its own rule); the other criteria sets read findings as recorded, so say which to check."""
    rule = sle_rules().more_likely_explanation
    out = []
    for name in facts:
        f = facts[name]
        if f.attributed_to and f.value == PRESENT:
            out.append(
                Flag.make(
                    "finding_attributed_elsewhere",
                    "check",
                    f"{f.label} is recorded as attributed to {f.attributed_to}. EULAR/ACR 2019 SLE does "
                    "not count it (a criterion with a more likely explanation than SLE does not "
                    "count); the other criteria sets count it as recorded: check their own "
                    "exclusions (SLICC 2012 counts several items only when other causes are excluded).",
                    [Reference.of(rule.source)],
                    [f.record_at],
                )
            )
    return out


def assess(case: Case) -> Assessment:
    """Assess one validated case. Pure: no I/O, no printing."""
    derivation = derive_findings(case)
    facts = build_facts(case, derivation)
    criteria = {key: cs.evaluate(facts) for key, cs in CRITERIA_SETS.items()}

    def lesion_ref(n: int) -> LesionRef:
        return LesionRef(number=n, text=describe_lesion(case.lesions[n - 1]))

    findings: dict[str, FindingSource] = {}
    for name in facts:
        f = facts[name]
        if name not in derivation.derived and f.origin not in ("recorded",):
            continue
        if f.record_at != f"findings.{name}":
            continue
        d = derivation.derived.get(name)
        findings[name] = FindingSource(
            value=f.value,
            origin=f.origin,
            detail=f.detail,
            lesions=[lesion_ref(n) for n in f.lesions],
            rule=" ".join(d.rule.definition.split()) if d and d.rule and f.origin == "derived" else None,
            source=d.rule.source.id if d and d.rule and f.origin == "derived" else None,
        )

    near = []
    for m in derivation.near_misses:
        need = ", ".join(x.replace("_", " ") for x in m.would_need)
        ref = lesion_ref(m.lesion)
        near.append(
            NearMissOut(
                finding=m.finding,
                lesion=ref,
                missing=m.missing,
                would_need=list(m.would_need),
                message=(
                    f"lesion {m.lesion} ({ref.text}) would count as {facts[m.finding].label} "
                    f"if its {m.missing} were {need}; its {m.missing} is not recorded"
                ),
            )
        )

    impacts: dict[str, UnknownImpact] = {}
    for key, result in criteria.items():
        for ch in result.what_if:
            if ch.fact not in impacts:
                f = facts[ch.fact]
                impacts[ch.fact] = UnknownImpact(
                    fact=ch.fact,
                    label=ch.label,
                    record_at=ch.record_at,
                    would_change=[],
                    recorded=f.detail if f.origin == "recorded" else None,
                )
            imp = impacts[ch.fact]
            imp.would_change.append(f"{CRITERIA_SETS[key].short}: {ch.result}")

    combos: dict[tuple[tuple[str, ...], str], UnknownCombination] = {}
    for key, result in criteria.items():
        for x in result.unknown_sets.sets if result.unknown_sets else []:
            alts = repr(sorted(x.alternatives.items()))
            combo = combos.setdefault(
                (tuple(sorted(x.facts)), alts),
                UnknownCombination(
                    facts=list(x.facts),
                    labels=list(x.labels),
                    record_at=list(x.record_at),
                    alternatives=dict(x.alternatives),
                    alternative_labels=dict(x.alternative_labels),
                    would_change=[],
                ),
            )
            combo.would_change.append(f"{CRITERIA_SETS[key].short}: {x.result}")

    picture = differential.evaluate_facts(facts)
    trig = triggers.evaluate(case, picture.favours, facts)
    disease = disease_picture(criteria, skin_picture=picture.favours)
    screen = screening.evaluate(
        case,
        facts,
        myositis=disease.myositis,
        dermatomyositis=disease.dermatomyositis,
        cadm=disease.clinically_amyopathic,
        picture=picture.favours,
    )
    activity = evaluate_activity(case)
    context = therapy.build_context(case, disease, activity)
    treatment = therapy.evaluate(case, context)

    return Assessment(
        case_id=case.id,
        title=case.title,
        derived_findings=dict.fromkeys(derivation.derived, "present"),
        findings=findings,
        near_misses=near,
        conflicts=[
            f"{facts[c].label}: recorded absent, but lesion(s) "
            f"{', '.join(str(n) for n in derivation.derived[c].lesions)} match its definition"
            for c in derivation.conflicts
        ],
        criteria=criteria,
        unknowns=list(impacts.values()),
        unknown_combinations=list(combos.values()),
        differential=picture,
        flags=[*_attributed_flags(facts), *trig.flags, *screen.flags, *treatment.flags],
        triggers=trig.triggers,
        trigger_screen=trig,
        screening=screen,
        activity=activity,
        therapy=treatment,
        family_history=[relative_words(m) for m in case.family_history],
        impression=case.impression,
    )
