"""2017 EULAR/ACR classification criteria for idiopathic inflammatory myopathies.

Score = the sum of the weights of the items present (the no-biopsy or the biopsy column);
category from the published score cut-offs; the probability is shown as approximate
because its constants were not found in a retrieved source; the subgroup tree is applied to
patients classified as IIM (probable or definite). Rules: ``data/criteria/iim_2017.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Union

from pydantic import BaseModel

from ifnscope.case.facts import PRESENT, Facts, TriValue, known_fact_names
from ifnscope.criteria.base import (
    CriteriaResult,
    Expr,
    ItemResult,
    RulesHeader,
    WhatIf,
    WhatIfChange,
    decimal_sum,
    evaluate,
    item_result,
    load_rules,
)
from ifnscope.errors import DataError
from ifnscope.provenance import Reference, RuleModel, SourceRef

Column = Literal["no_biopsy", "biopsy"]
Category = Literal["definite", "probable", "possible", "not_met"]
Subgroup = Literal[
    "juvenile_dermatomyositis",
    "juvenile_myositis_other",
    "dermatomyositis",
    "amyopathic_dermatomyositis",
    "inclusion_body_myositis",
    "polymyositis",
]
# The subgroups that are dermatomyositis (adult, amyopathic, juvenile), and the others.
DM_SUBGROUPS: frozenset[Subgroup] = frozenset(
    {"dermatomyositis", "amyopathic_dermatomyositis", "juvenile_dermatomyositis"}
)
OTHER_SUBGROUPS: frozenset[Subgroup] = frozenset(
    {"polymyositis", "inclusion_body_myositis", "juvenile_myositis_other"}
)
_ORDER = {"not_met": 0, "possible": 1, "probable": 2, "definite": 3}


class Item(RuleModel):
    id: str
    label: str
    when: Expr
    points: dict[Column, float]
    source: SourceRef


class Cut(RuleModel):
    category: Category
    min_score: float
    probability: str
    min_probability: float


class Categories(RuleModel):
    no_biopsy: list[Cut]
    biopsy: list[Cut]
    below: Category
    classified_from: Category
    source: SourceRef
    probability_source: SourceRef


class Probability(RuleModel):
    intercept: dict[Column, float]
    source: SourceRef


class CaveatRule(RuleModel):
    id: str
    unless_present: Expr
    applies_without_biopsy: bool = False
    text: str
    sources: list[SourceRef]


class Leaf(RuleModel):
    subgroup: Subgroup
    source: SourceRef


class Node(RuleModel):
    ask: str
    label: str
    if_yes: Union[Node, Leaf]  # noqa: UP007 (pydantic needs the forward reference resolved)
    if_no: Union[Node, Leaf]  # noqa: UP007


class Subgroups(RuleModel):
    composites: dict[str, Expr]
    tree: Node


class Rules(RulesHeader):
    items: list[Item]
    categories: Categories
    probability: Probability
    caveats: list[CaveatRule]
    subgroups: Subgroups


@cache
def rules() -> Rules:
    r = load_rules("iim_2017.yaml", Rules)
    asks = _asks(r.subgroups.tree)
    unknown = asks - set(r.subgroups.composites) - known_fact_names()
    if unknown:
        raise DataError(f"iim_2017.yaml subgroup tree asks about unknown facts {sorted(unknown)}")
    return r


def _asks(node: Node | Leaf) -> set[str]:
    if isinstance(node, Leaf):
        return set()
    return {node.ask} | _asks(node.if_yes) | _asks(node.if_no)


# ------------------------------------------------------------------------------- results


class PathStep(BaseModel):
    question: str
    answer: TriValue
    branch: Literal["yes", "no"]


class CaveatResult(BaseModel):
    id: str
    text: str
    references: list[Reference]


class IimResult(CriteriaResult):
    """The criteria applied to one case; every number has its reference in this object."""

    id: str
    title: str
    use_when: str
    biopsy: bool
    column: Column
    score: float
    thresholds: dict[str, float]
    category: Category
    classified: bool
    probability: float
    probability_note: str
    probability_thresholds: dict[str, float]
    category_by_probability: Category
    notes: list[str]
    subgroup: Subgroup | None
    subgroup_path: list[PathStep]
    subgroup_reference: Reference | None
    unknowns_that_could_change_category: list[str]
    unknowns_that_could_change_subgroup: list[str]
    what_if: list[WhatIfChange]
    items: list[ItemResult]
    caveats: list[CaveatResult]
    references: list[Reference]
    unverified: list[str]

    @classmethod
    def met_in(cls, values: Mapping[str, Any]) -> bool:
        """Classified as IIM: probable or definite (the table's ``classified_from``); a stored
        result without its ``classified`` flag is read from its category."""
        if "classified" in values:
            return bool(values["classified"])
        category = values.get("category")
        return category in _ORDER and _ORDER[category] >= _ORDER[rules().categories.classified_from]


@dataclass(frozen=True)
class _Core:
    column: Column
    score: float
    category: Category
    subgroup: Subgroup | None
    items: tuple[ItemResult, ...]
    path: tuple[PathStep, ...]
    leaf: Leaf | None


def _ask(r: Rules, name: str, facts: Facts) -> TriValue:
    expr: Expr = r.subgroups.composites.get(name, name)
    return evaluate(expr, facts)


def _core(facts: Facts, explain: bool = True) -> _Core:
    r = rules()
    column: Column = "biopsy" if facts.muscle_biopsy_done else "no_biopsy"
    items = []
    for item in r.items:
        if column not in item.points:
            continue
        items.append(
            item_result(
                item.id,
                item.label,
                item.when,
                facts,
                Reference.of(item.source),
                points=item.points[column],
                explain=explain,
            )
        )
    score = round(decimal_sum([i.points for i in items if i.counted and i.points]), 1)
    category: Category = r.categories.below
    for cut in getattr(r.categories, column):
        if score >= cut.min_score:
            category = cut.category
            break
    subgroup = None
    path: list[PathStep] = []
    leaf: Leaf | None = None
    if _ORDER[category] >= _ORDER[r.categories.classified_from]:
        node: Node | Leaf = r.subgroups.tree
        while isinstance(node, Node):
            answer = _ask(r, node.ask, facts)
            branch: Literal["yes", "no"] = "yes" if answer == PRESENT else "no"
            path.append(PathStep(question=node.label, answer=answer, branch=branch))
            node = node.if_yes if branch == "yes" else node.if_no
        leaf = node
        subgroup = node.subgroup
    return _Core(column, score, category, subgroup, tuple(items), tuple(path), leaf)


def probability(score: float, column: Column) -> float:
    """Approximate probability of IIM (constants unverified; never decides the category)."""
    intercept = rules().probability.intercept[column]
    return 1.0 / (1.0 + math.exp(intercept - score))


def category_by_probability(p: float, column: Column) -> Category:
    """The category a probability falls in by the criteria's own probability cut-offs."""
    r = rules()
    cuts: list[Cut] = getattr(r.categories, column)
    for cut in cuts:
        if p >= cut.min_probability:
            return cut.category
    return r.categories.below


def cutoff_note(score: float, p: float, category: Category, column: Column) -> str | None:
    """Where the probability shown and the published score cut-off disagree, say so.

    The criteria define each category by a probability (Lundberg 2017: "a probability cutoff
    of 55%, corresponding to a score of 5.5 (6.7 with muscle biopsy)"); the score cut-offs are
    the published, rounded equivalents. At a score such as 5.5 the probability computed is
    54.2%, just under 55%: the category stays the one the published score gives.
    """
    by_p = category_by_probability(p, column)
    if by_p == category:
        return None
    r = rules()
    cuts = {c.category: c for c in getattr(r.categories, column)}
    biopsy = "with" if column == "biopsy" else "without"
    shown = f"{100 * p:.1f}%"
    if _ORDER[by_p] < _ORDER[category]:
        cut = cuts[category]
        return (
            f"The category follows the published score cut-off ({category} IIM at a score of "
            f"{cut.min_score:g} or more, {biopsy} muscle biopsy), the rounded equivalent of the "
            f"probability that defines it (≥{100 * cut.min_probability:g}%). The approximate "
            f"probability shown for a score of {score:g}, {shown}, is below "
            f"{100 * cut.min_probability:g}%; the category is kept as the published score gives it."
        )
    cut = cuts[by_p]
    return (
        f"The approximate probability shown for a score of {score:g}, {shown}, reaches the "
        f"{100 * cut.min_probability:g}% that defines {by_p} IIM, but the score is below the "
        f"published cut-off for it ({cut.min_score:g}, {biopsy} muscle biopsy); the category "
        f"is kept as the published score gives it ({category.replace('_', ' ')})."
    )


def evaluate_facts(facts: Facts) -> IimResult:
    r = rules()
    wi = WhatIf(_core, facts)
    core = wi.explained
    cat_changes = wi.changes(
        key=lambda c: c.category,
        describe=lambda c: f"{c.category} (score {c.score:g})",
    )
    sub_changes = [
        ch
        for ch in wi.changes(
            key=lambda c: c.subgroup,
            describe=lambda c: f"subgroup {(c.subgroup or 'none').replace('_', ' ')}",
        )
        if core.subgroup is not None and wi.alternatives[ch.fact].subgroup is not None
    ]
    caveats = []
    for c in r.caveats:
        if c.applies_without_biopsy and facts.muscle_biopsy_done:
            continue
        if evaluate(c.unless_present, facts) != PRESENT:
            caveats.append(
                CaveatResult(
                    id=c.id, text=" ".join(c.text.split()), references=[Reference.of(s) for s in c.sources]
                )
            )
    prob_source = r.probability.source
    unverified = [
        "Probability constants (P = 1/(1+exp(c − score)), c = "
        f"{r.probability.intercept['no_biopsy']} without and {r.probability.intercept['biopsy']} "
        "with biopsy) were not found in a retrieved source; the category uses the published "
        "score cut-offs instead."
    ]
    if core.leaf is not None and core.leaf.source.confidence == "U":
        unverified.append(
            f"The subgroup branch leading to '{core.subgroup}' could not be verified against "
            "Lundberg 2017 Figure 2."
        )
    cuts = getattr(r.categories, core.column)
    shown_p = round(probability(core.score, core.column), 3)
    note = cutoff_note(core.score, shown_p, core.category, core.column)
    return IimResult(
        id=r.id,
        title=r.title,
        use_when=r.use_when,
        biopsy=core.column == "biopsy",
        column=core.column,
        score=core.score,
        thresholds={c.category: c.min_score for c in cuts},
        category=core.category,
        classified=_ORDER[core.category] >= _ORDER[r.categories.classified_from],
        probability=shown_p,
        probability_note=(
            "approximate: logistic formula whose constants are unverified "
            f"({prob_source.confidence}); the category follows the published score cut-offs"
        ),
        probability_thresholds={c.category: c.min_probability for c in cuts},
        category_by_probability=category_by_probability(shown_p, core.column),
        notes=[note] if note else [],
        subgroup=core.subgroup,
        subgroup_path=list(core.path),
        subgroup_reference=Reference.of(core.leaf.source) if core.leaf else None,
        unknowns_that_could_change_category=[c.fact for c in cat_changes],
        unknowns_that_could_change_subgroup=[c.fact for c in sub_changes],
        what_if=cat_changes + sub_changes,
        items=list(core.items),
        caveats=caveats,
        references=[
            Reference.of(s)
            for s in [*r.references, r.categories.source, r.categories.probability_source, prob_source]
        ],
        unverified=unverified,
    )
