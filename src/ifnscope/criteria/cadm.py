"""Sontheimer's clinically amyopathic dermatomyositis: amyopathic, hypomyopathic, premyopathic.

CADM needs hallmark DM skin findings and no clinical weakness. After 6 months of skin
disease it is amyopathic (normal muscle enzymes and, where done, normal EMG, MRI and
biopsy) or hypomyopathic (muscle involvement on testing); Gerami et al. 2006 set the 6 months
for both. Before 6 months the picture is provisional: "premyopathic" when no muscle test is
recorded abnormal, ``undetermined`` when one is (neither premyopathic, which has no laboratory
evidence of muscle disease, nor yet hypomyopathic). Any objective weakness, neck flexors
included, is clinical weakness, read from the same findings as the IIM subgroup tree.

Because every category asserts an *absence* (no weakness, normal CK, hallmark signs absent for
``not_applicable``), an unrecorded skin sign, strength examination, CK or duration gives
``undetermined`` rather than a guess. The published exclusions could not be verified: each is
listed under ``exclusions`` as ``not_applied``, with what to review by hand.
Rules: ``data/criteria/cadm.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from ifnscope.case.facts import ABSENT, PRESENT, UNKNOWN, Facts, TriValue
from ifnscope.criteria.base import (
    CriteriaResult,
    Expr,
    RulesHeader,
    WhatIf,
    WhatIfChange,
    because,
    evaluate,
    load_rules,
)
from ifnscope.provenance import Reference, RuleModel, SourceRef

Category = Literal["amyopathic", "hypomyopathic", "premyopathic", "not_applicable", "undetermined"]
# CADM proper (Gerami 2006, A: ADM or HDM, after 6 months of skin disease); premyopathic is the
# provisional category before 6 months (a secondary table key, B).
CADM_CATEGORIES: tuple[Category, ...] = ("amyopathic", "hypomyopathic")
PROVISIONAL: Category = "premyopathic"


class Condition(RuleModel):
    label: str
    when: Expr
    source: SourceRef
    required: tuple[str, ...] = ()


class Duration(RuleModel):
    fact: str
    months: float
    source: SourceRef


class Sourced(RuleModel):
    source: SourceRef


class ExclusionRule(RuleModel):
    id: str
    label: str
    review: str
    record_at: tuple[str, ...]
    source: SourceRef


class Rules(RulesHeader):
    hallmark_skin: Condition
    clinical_weakness: Condition
    muscle_enzymes: Condition
    subclinical_myositis: Condition
    duration: Duration
    premyopathic: Sourced
    exclusions: tuple[ExclusionRule, ...]
    not_applied: list[str]


@cache
def rules() -> Rules:
    return load_rules("cadm.yaml", Rules)


class Step(BaseModel):
    question: str
    answer: str
    because: str
    reference: Reference


class Exclusion(BaseModel):
    """A published exclusion of the CADM definition and whether this result applied it."""

    id: str
    label: str
    status: Literal["not_applied"] = Field(
        description="not_applied: the exclusion was not verified in a retrieved source, so it "
        "did not change the category; review it by hand"
    )
    review: str = Field(description="What to check by hand, and where")
    record_at: list[str] = Field(description="Where in the case file the needed facts are recorded")
    reference: Reference


class CadmResult(CriteriaResult):
    id: str
    title: str
    category: Category
    explanation: str
    steps: list[Step]
    to_decide: list[str]
    unknowns_that_could_change_category: list[str]
    what_if: list[WhatIfChange]
    not_applied: list[str]
    references: list[Reference]
    hallmark_skin_signs: TriValue = Field(
        description="Heliotrope rash, Gottron's papules or Gottron's sign: present, all recorded "
        "absent, or unknown (none present and one not recorded)"
    )
    provisional: bool = Field(
        description="Hallmark skin findings for less than 6 months without clinical weakness: "
        "premyopathic, or undetermined when a muscle test is already abnormal; reassess at 6 months"
    )
    exclusions: list[Exclusion] = Field(
        description="The published exclusions, each with its status; listed whenever the hallmark "
        "signs are not recorded absent and no clinical weakness is recorded"
    )

    @classmethod
    def met_in(cls, values: Mapping[str, Any]) -> bool:
        """CADM: amyopathic or hypomyopathic (Gerami 2006). Premyopathic is provisional: not met."""
        return values.get("category") in CADM_CATEGORIES


@dataclass(frozen=True)
class _Core:
    category: Category
    explanation: str
    steps: tuple[Step, ...]
    to_decide: tuple[str, ...]
    skin: TriValue
    provisional: bool = False


def _core(facts: Facts, explain: bool = True) -> _Core:
    r = rules()
    steps: list[Step] = []

    def ask(cond: Condition) -> TriValue:
        v = evaluate(cond.when, facts)
        steps.append(
            Step(
                question=cond.label,
                answer=v,
                because=because(cond.when, facts),
                reference=Reference.of(cond.source),
            )
        )
        return v

    def unrecorded(cond: Condition) -> tuple[str, ...]:
        return tuple(facts[f].record_at for f in cond.required if facts.value(f) == UNKNOWN)

    skin = ask(r.hallmark_skin)

    def done(cat: Category, why: str, decide: tuple[str, ...] = (), provisional: bool = False) -> _Core:
        return _Core(cat, why, tuple(steps), decide, skin, provisional)

    if skin == ABSENT:
        return done(
            "not_applicable",
            "Every hallmark skin finding of dermatomyositis is recorded absent.",
        )
    weak = ask(r.clinical_weakness)
    if weak == PRESENT:
        return done(
            "not_applicable",
            "Objective muscle weakness is recorded: clinical weakness, so this is not clinically amyopathic.",
        )
    if skin == UNKNOWN:
        return done(
            "undetermined",
            "No hallmark skin finding of dermatomyositis is recorded present, and not all of them "
            "are recorded absent.",
            unrecorded(r.hallmark_skin) + unrecorded(r.clinical_weakness),
        )
    missing_strength = unrecorded(r.clinical_weakness)
    if missing_strength:
        return done("undetermined", "Proximal muscle strength is not recorded.", missing_strength)
    dur = facts[r.duration.fact]
    long_enough = facts.value(r.duration.fact)  # read through value() so the what-if sees it
    steps.append(
        Step(
            question=f"Skin disease for {r.duration.months:g} months or longer",
            answer=long_enough,
            because=dur.detail,
            reference=Reference.of(r.duration.source),
        )
    )
    if long_enough == UNKNOWN:
        return done("undetermined", "The duration of skin disease is not recorded.", (dur.record_at,))
    tested = ask(r.subclinical_myositis)
    if long_enough == ABSENT:
        if tested == PRESENT:
            return done(
                "undetermined",
                f"Muscle involvement on testing with under {r.duration.months:g} months of skin "
                "disease: not premyopathic (which has no laboratory evidence of muscle disease) "
                f"and not yet hypomyopathic (which needs {r.duration.months:g} months of skin "
                f"disease). Reassess at {r.duration.months:g} months.",
                provisional=True,
            )
        return done(
            "premyopathic",
            f"Hallmark skin findings for less than {r.duration.months:g} months, without weakness "
            "and without a muscle test recorded abnormal: provisional; reassess for myositis later.",
            provisional=True,
        )
    if tested == PRESENT:
        return done(
            "hypomyopathic",
            f"Hallmark skin findings for {r.duration.months:g} months or longer and no clinical "
            "weakness, but muscle involvement on testing.",
        )
    missing = unrecorded(r.muscle_enzymes)
    if missing:
        return done("undetermined", "Muscle enzymes (CK) are not recorded.", missing)
    return done(
        "amyopathic",
        f"Hallmark skin findings for {r.duration.months:g} months or longer, no clinical "
        "weakness, normal muscle enzymes and no abnormal muscle test recorded.",
    )


def _exclusions(r: Rules) -> list[Exclusion]:
    return [
        Exclusion(
            id=e.id,
            label=" ".join(e.label.split()),
            status="not_applied",
            review=" ".join(e.review.split()),
            record_at=list(e.record_at),
            reference=Reference.of(e.source),
        )
        for e in r.exclusions
    ]


def evaluate_facts(facts: Facts) -> CadmResult:
    r = rules()
    wi = WhatIf(_core, facts)
    core = wi.explained
    changes = wi.changes(key=lambda c: c.category, describe=lambda c: c.category)
    relevant = core.category != "not_applicable"
    return CadmResult(
        id=r.id,
        title=r.title,
        category=core.category,
        explanation=core.explanation,
        steps=list(core.steps),
        to_decide=list(core.to_decide),
        unknowns_that_could_change_category=[c.fact for c in changes],
        what_if=changes,
        # the unverified exclusions matter only where a CADM category was given
        not_applied=[" ".join(t.split()) for t in r.not_applied]
        if core.category in (*CADM_CATEGORIES, PROVISIONAL)
        else [],
        references=[Reference.of(s) for s in [*r.references, r.premyopathic.source]],
        hallmark_skin_signs=core.skin,
        provisional=core.provisional,
        exclusions=_exclusions(r) if relevant else [],
    )
