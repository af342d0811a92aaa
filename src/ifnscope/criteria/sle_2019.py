"""2019 EULAR/ACR SLE classification criteria: entry criterion, weighted domains.

Only the highest-weighted present item in each domain counts; at least one clinical item
and a total of 10 or more, with the ANA entry criterion met. Rules:
``data/criteria/sle_2019.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from ifnscope.case.facts import ABSENT, PRESENT, Facts, TriValue
from ifnscope.criteria.base import (
    CriteriaResult,
    Expr,
    ItemResult,
    RulesHeader,
    WhatIf,
    WhatIfChange,
    because,
    evaluate,
    item_result,
    load_rules,
    with_counted,
)
from ifnscope.provenance import Reference, RuleModel, SourceRef


class Item(RuleModel):
    id: str
    label: str
    when: Expr
    points: int


class Domain(RuleModel):
    id: str
    kind: Literal["clinical", "immunologic"]
    items: list[Item]


class Entry(RuleModel):
    label: str
    when: Expr
    source: SourceRef


class Definition(RuleModel):
    """A criterion's word that the case records under another name or form."""

    term: str
    recorded_as: str
    source: SourceRef


class MoreLikely(RuleModel):
    """The rule that a criterion with a more likely explanation does not count."""

    rule: str
    source: SourceRef


class Rules(RulesHeader):
    entry: Entry
    more_likely_explanation: MoreLikely
    definitions: list[Definition]
    classify_at: int
    require_clinical: int
    rule_source: SourceRef
    domains: list[Domain]
    item_source: SourceRef


@cache
def rules() -> Rules:
    return load_rules("sle_2019.yaml", Rules)


class DomainResult(BaseModel):
    id: str
    kind: Literal["clinical", "immunologic"]
    counted_item: str | None
    points: int


class SleResult(CriteriaResult):
    id: str
    title: str
    use_when: str
    entry_criterion_met: bool
    entry_status: TriValue
    entry_because: str
    score: int
    clinical_domains_counted: int
    classified: bool
    threshold: int
    domains: list[DomainResult]
    unknowns_that_could_change_classification: list[str]
    what_if: list[WhatIfChange]
    items: list[ItemResult]
    references: list[Reference]
    notes: list[str]

    @classmethod
    def met_in(cls, values: Mapping[str, Any]) -> bool:
        """Classified: entry criterion, at least one clinical item and a score of 10 or more."""
        return bool(values.get("classified"))


@dataclass(frozen=True)
class _Core:
    entry: TriValue
    score: int
    clinical: int
    classified: bool
    domains: tuple[DomainResult, ...]
    items: tuple[ItemResult, ...]


def _core(facts: Facts, explain: bool = True) -> _Core:
    r = rules()
    entry = evaluate(r.entry.when, facts)
    if not explain and entry == ABSENT:
        # The what-if re-runs compare only whether the patient is classified, and without the
        # entry criterion nobody is, whatever the items: skip them (most of an assessment's time
        # went on re-running items that could not matter).
        return _Core(entry, 0, 0, False, (), ())
    if not explain:
        return _counts_only(r, entry, facts)
    items: list[ItemResult] = []
    domains: list[DomainResult] = []
    ref = Reference.of(r.item_source)
    for d in r.domains:
        best: ItemResult | None = None
        rows = []
        for i in d.items:
            row = item_result(
                i.id, i.label, i.when, facts, ref, points=i.points, domain=d.id, explain=explain
            )
            rows.append(row)
            if row.counted and (best is None or (row.points or 0) > (best.points or 0)):
                best = row
        for row in rows:
            items.append(with_counted(row, row is best))
        domains.append(
            DomainResult(
                id=d.id,
                kind=d.kind,
                counted_item=best.id if best else None,
                points=int(best.points or 0) if best else 0,
            )
        )
    score = sum(d.points for d in domains)
    clinical = sum(1 for d in domains if d.kind == "clinical" and d.points > 0)
    classified = entry == PRESENT and clinical >= r.require_clinical and score >= r.classify_at
    return _Core(entry, score, clinical, classified, tuple(domains), tuple(items))


def _counts_only(r: Rules, entry: TriValue, facts: Facts) -> _Core:
    """:func:`_core` for the what-if re-runs, which compare only whether the patient is classified
    (and describe the score): the same items read in the same order, with no item or domain
    records built (those were most of a re-run's time)."""
    score = clinical = 0
    for d in r.domains:
        best = 0.0
        for i in d.items:
            if evaluate(i.when, facts) == PRESENT and (i.points or 0) > best:
                best = i.points or 0
        points = int(best)
        score += points
        clinical += d.kind == "clinical" and points > 0
    classified = entry == PRESENT and clinical >= r.require_clinical and score >= r.classify_at
    return _Core(entry, score, clinical, classified, (), ())


def _not_counting_attributed(facts: Facts, rule: MoreLikely) -> tuple[Facts, list[str]]:
    """The facts with every finding attributed to another cause read as not counted (absent), and
    a note per such finding. The criteria's items read findings only positively (no item is
    "without X"), so a finding that does not count is, for them, a finding that is absent."""
    changed = {
        n: replace(
            f,
            value=ABSENT,
            detail=f"{f.detail}: not counted ({rule.rule})",
        )
        for n in facts
        if (f := facts[n]).attributed_to and f.value == PRESENT
    }
    if not changed:
        return facts, []
    notes = [
        f"{f.label} is recorded as attributed to {f.attributed_to}: not counted ({rule.rule})"
        for f in changed.values()
    ]
    return facts.replaced(changed), notes


def evaluate_facts(facts: Facts) -> SleResult:
    r = rules()
    facts, attributed = _not_counting_attributed(facts, r.more_likely_explanation)
    wi = WhatIf(_core, facts)
    core = wi.explained
    changes = wi.changes(
        key=lambda c: c.classified,
        describe=lambda c: f"{'classified' if c.classified else 'not classified'} (score {c.score})",
    )
    notes = list(attributed)
    if core.entry == "absent":
        notes.append(
            "Entry criterion not met (ANA below 1:80): the criteria do not classify this "
            "patient as SLE whatever the score; the score is shown for information."
        )
    elif core.entry == "unknown":
        notes.append(
            "ANA not recorded: the entry criterion is unknown, so the criteria cannot "
            "classify this patient; record the ANA titre (or, without a titre, the "
            "laboratory's positive or negative result)."
        )
    return SleResult(
        id=r.id,
        title=r.title,
        use_when=" ".join(r.use_when.split()),
        entry_criterion_met=core.entry == PRESENT,
        entry_status=core.entry,
        entry_because=because(r.entry.when, facts),
        score=core.score,
        clinical_domains_counted=core.clinical,
        classified=core.classified,
        threshold=r.classify_at,
        domains=list(core.domains),
        unknowns_that_could_change_classification=[c.fact for c in changes],
        what_if=changes,
        items=list(core.items),
        references=[
            Reference.of(s)
            for s in [
                *r.references,
                r.entry.source,
                r.rule_source,
                r.more_likely_explanation.source,
                *(d.source for d in r.definitions),
            ]
        ],
        notes=notes,
    )
