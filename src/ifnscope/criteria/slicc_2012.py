"""2012 SLICC SLE classification criteria: two routes to classification.

Route 1: four or more criteria, at least one clinical and one immunologic. Route 2:
biopsy-proven lupus nephritis with ANA or anti-dsDNA. Rules: ``data/criteria/slicc_2012.yaml``.
"ANA" is the fact ``ana_above_reference_range`` (the laboratory's call, or the titre against its
cut-off; see ``case.facts``), not any titre above 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ifnscope.case.facts import PRESENT, Facts
from ifnscope.criteria.base import (
    CriteriaResult,
    Expr,
    ItemResult,
    RulesHeader,
    WhatIf,
    WhatIfChange,
    evaluate,
    item_result,
    load_rules,
)
from ifnscope.provenance import Reference, RuleModel, SourceRef


class Item(RuleModel):
    id: str
    label: str
    when: Expr
    source: SourceRef | None = None


class Classify(RuleModel):
    min_total: int
    min_clinical: int
    min_immunologic: int
    source: SourceRef


class Route(RuleModel):
    when: Expr
    label: str
    source: SourceRef


class AnaWithoutRange(RuleModel):
    """The titre read as above the laboratory's reference range when the case records neither
    the laboratory's call nor its cut-off (read by ``case.facts``)."""

    above_from_titre: int
    source: SourceRef


class Definition(RuleModel):
    """A criterion's word that the case records under another name."""

    term: str
    recorded_as: str
    source: SourceRef


class Rules(RulesHeader):
    classify: Classify
    nephritis_route: Route
    ana_without_laboratory_range: AnaWithoutRange
    definitions: list[Definition]
    clinical: list[Item]
    immunologic: list[Item]
    item_source: SourceRef


@cache
def rules() -> Rules:
    return load_rules("slicc_2012.yaml", Rules)


class SliccResult(CriteriaResult):
    id: str
    title: str
    use_when: str
    clinical: int
    immunologic: int
    classified: bool
    route: str | None
    nephritis_route_met: bool
    unknowns_that_could_change_classification: list[str]
    what_if: list[WhatIfChange]
    items: list[ItemResult]
    references: list[Reference]

    @classmethod
    def met_in(cls, values: Mapping[str, Any]) -> bool:
        """Classified by either route (four criteria with one of each kind, or nephritis)."""
        return bool(values.get("classified"))


@dataclass(frozen=True)
class _Core:
    clinical: int
    immunologic: int
    route: str | None
    nephritis: bool
    items: tuple[ItemResult, ...]


@cache
def _item_references() -> dict[str, Reference]:
    """Each item's citation, resolved once: the what-if re-runs build every item a hundred times
    per assessment, and resolving (hashing) the citation each time cost as much as the rule."""
    r = rules()
    return {i.id: Reference.of(i.source or r.item_source) for i in (*r.clinical, *r.immunologic)}


def _items(group: list[Item], domain: str, facts: Facts, explain: bool) -> list[ItemResult]:
    refs = _item_references()
    return [
        item_result(i.id, i.label, i.when, facts, refs[i.id], domain=domain, explain=explain) for i in group
    ]


def _core(facts: Facts, explain: bool = True) -> _Core:
    r = rules()
    if explain:
        clin = _items(r.clinical, "clinical", facts, explain)
        imm = _items(r.immunologic, "immunologic", facts, explain)
        n_c = sum(i.counted for i in clin)
        n_i = sum(i.counted for i in imm)
    else:  # the what-if re-runs compare and describe the counts only: no item records built
        clin = imm = []
        n_c = sum(1 for i in r.clinical if evaluate(i.when, facts) == PRESENT)
        n_i = sum(1 for i in r.immunologic if evaluate(i.when, facts) == PRESENT)
    c = r.classify
    nephritis = evaluate(r.nephritis_route.when, facts) == PRESENT
    route = None
    if n_c + n_i >= c.min_total and n_c >= c.min_clinical and n_i >= c.min_immunologic:
        route = "four_criteria"
    elif nephritis:
        route = "lupus_nephritis"
    return _Core(n_c, n_i, route, nephritis, tuple(clin + imm))


def evaluate_facts(facts: Facts) -> SliccResult:
    r = rules()
    wi = WhatIf(_core, facts)
    core = wi.explained
    changes = wi.changes(
        key=lambda k: k.route is not None,
        describe=lambda k: f"classified ({k.clinical} clinical, {k.immunologic} immunologic)",
    )
    return SliccResult(
        id=r.id,
        title=r.title,
        use_when=" ".join(r.use_when.split()),
        clinical=core.clinical,
        immunologic=core.immunologic,
        classified=core.route is not None,
        route=core.route,
        nephritis_route_met=core.nephritis,
        unknowns_that_could_change_classification=[c.fact for c in changes],
        what_if=changes,
        items=list(core.items),
        references=[
            Reference.of(s)
            for s in [
                *r.references,
                r.classify.source,
                r.nephritis_route.source,
                *(i.source for i in (*r.clinical, *r.immunologic) if i.source is not None),
                r.ana_without_laboratory_range.source,
                *(d.source for d in r.definitions),
            ]
        ],
    )
