"""Sontheimer's clinically amyopathic dermatomyositis: amyopathic, hypomyopathic, premyopathic.

CADM needs hallmark DM skin findings and no clinical weakness. After 6 months of skin
disease it is amyopathic (normal muscle enzymes and, where done, normal EMG, MRI and
biopsy) or hypomyopathic (subclinical myositis on testing); before 6 months it is
provisional ("premyopathic"). Because every category asserts an *absence* (no weakness,
normal CK), an unrecorded strength examination, CK or duration gives ``undetermined``
rather than a guess. Rules: ``data/criteria/cadm.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from ifnscope.case.facts import ABSENT, PRESENT, UNKNOWN, Facts
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


class Rules(RulesHeader):
    hallmark_skin: Condition
    clinical_weakness: Condition
    muscle_enzymes: Condition
    subclinical_myositis: Condition
    duration: Duration
    premyopathic: Sourced
    not_applied: list[str]


@cache
def rules() -> Rules:
    return load_rules("cadm.yaml", Rules)


class Step(BaseModel):
    question: str
    answer: str
    because: str
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


def _core(facts: Facts, explain: bool = True) -> _Core:
    r = rules()
    steps: list[Step] = []

    def ask(cond: Condition) -> str:
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

    def done(cat: Category, why: str, decide: tuple[str, ...] = ()) -> _Core:
        return _Core(cat, why, tuple(steps), decide)

    if ask(r.hallmark_skin) != PRESENT:
        return done("not_applicable", "No hallmark skin finding of dermatomyositis is recorded.")
    weak = ask(r.clinical_weakness)
    if weak == PRESENT:
        return done("not_applicable", "Clinical proximal weakness is present: this is not amyopathic.")
    if weak == UNKNOWN:
        return done(
            "undetermined",
            "Proximal muscle strength is not recorded.",
            ("findings.weakness_proximal_upper", "findings.weakness_proximal_lower"),
        )
    dur = facts[r.duration.fact]
    steps.append(
        Step(
            question=f"Skin disease for {r.duration.months:g} months or longer",
            answer=dur.value,
            because=dur.detail,
            reference=Reference.of(r.duration.source),
        )
    )
    if dur.value == UNKNOWN:
        return done("undetermined", "The duration of skin disease is not recorded.", (dur.record_at,))
    if dur.value == ABSENT:
        return done(
            "premyopathic",
            f"Hallmark skin findings without weakness for less than {r.duration.months:g} "
            "months: provisional; reassess for myositis later.",
        )
    if ask(r.subclinical_myositis) == PRESENT:
        return done("hypomyopathic", "No clinical weakness, but testing shows subclinical myositis.")
    missing = [f for f in r.muscle_enzymes.required if facts.value(f) == UNKNOWN]
    if missing:
        return done(
            "undetermined",
            "Muscle enzymes (CK) are not recorded.",
            tuple(facts[f].record_at for f in missing),
        )
    return done(
        "amyopathic",
        f"Hallmark skin findings for {r.duration.months:g} months or longer, no clinical "
        "weakness, normal muscle enzymes and no abnormal muscle test recorded.",
    )


def evaluate_facts(facts: Facts) -> CadmResult:
    r = rules()
    wi = WhatIf(_core, facts)
    core = wi.explained
    changes = wi.changes(key=lambda c: c.category, describe=lambda c: c.category)
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
    )
