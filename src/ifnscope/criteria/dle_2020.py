"""2020 DLE classification criteria (Elman et al.): six weighted clinical items, ≥5 and ≥7."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel

from ifnscope.case.facts import Facts
from ifnscope.criteria.base import (
    CriteriaResult,
    Expr,
    ItemResult,
    RulesHeader,
    WhatIf,
    WhatIfChange,
    item_result,
    load_rules,
)
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, RuleModel, SourceRef


class Item(RuleModel):
    id: str
    label: str
    when: Expr
    points: int


class ClassificationCutOff(RuleModel):
    """A classification cut-off of the DLE score (≥5, ≥7) with its published performance."""

    id: str
    min_score: int
    performance: str
    source: SourceRef


class Rules(RulesHeader):
    items: list[Item]
    item_source: SourceRef
    cutoffs: list[ClassificationCutOff]


@cache
def rules() -> Rules:
    r = load_rules("dle_2020.yaml", Rules)
    if [c.id for c in r.cutoffs] != ["meets_5", "meets_7"]:
        raise DataError("dle_2020.yaml: cutoffs must be meets_5 then meets_7")
    return r


class ClassificationCutOffResult(BaseModel):
    """One classification cut-off applied to this score (JSON key ``cutoffs``)."""

    id: str
    min_score: int
    met: bool
    performance: str
    reference: Reference


class DleResult(CriteriaResult):
    id: str
    title: str
    score: int
    meets_5: bool
    meets_7: bool
    cutoffs: list[ClassificationCutOffResult]
    unknowns_that_could_change_result: list[str]
    what_if: list[WhatIfChange]
    items: list[ItemResult]
    references: list[Reference]

    @classmethod
    def met_in(cls, values: Mapping[str, Any]) -> bool:
        """Meets the classification cut-off of 5 points (Elman 2020; ≥7 is the more specific one)."""
        return bool(values.get("meets_5"))


@dataclass(frozen=True)
class _Core:
    score: int
    met: tuple[bool, ...]
    items: tuple[ItemResult, ...]


def _core(facts: Facts, explain: bool = True) -> _Core:
    r = rules()
    ref = Reference.of(r.item_source)
    items = [
        item_result(i.id, i.label, i.when, facts, ref, points=i.points, explain=explain) for i in r.items
    ]
    score = sum(int(i.points or 0) for i in items if i.counted)
    return _Core(score, tuple(score >= c.min_score for c in r.cutoffs), tuple(items))


def evaluate_facts(facts: Facts) -> DleResult:
    r = rules()
    wi = WhatIf(_core, facts)
    core = wi.explained
    changes = wi.changes(key=lambda c: c.met, describe=lambda c: f"score {c.score}")
    return DleResult(
        id=r.id,
        title=r.title,
        score=core.score,
        meets_5=core.met[0],
        meets_7=core.met[1],
        cutoffs=[
            ClassificationCutOffResult(
                id=c.id,
                min_score=c.min_score,
                met=m,
                performance=c.performance,
                reference=Reference.of(c.source),
            )
            for c, m in zip(r.cutoffs, core.met, strict=True)
        ],
        unknowns_that_could_change_result=[c.fact for c in changes],
        what_if=changes,
        items=list(core.items),
        references=[Reference.of(s) for s in r.references],
    )
