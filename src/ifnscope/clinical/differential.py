"""The CLE-vs-DM differential: which recorded features favour which disease, and why.

When disease is limited to the skin, lupus and dermatomyositis are hard to tell apart (the
article's patient was first treated for eczema; many DM patients are first called lupus). The
features and their sources are in ``data/clinical/differential.yaml``. No source gives a
likelihood ratio for any single feature, so none is invented: features are sorted into tiers
(a classification-criteria skin item, a disease-specific antibody, a supportive feature) and a
stated rule, ifnscope's own, turns them into ``dermatomyositis``, ``lupus`` or
``indeterminate``. Like the criteria, the verdict counts recorded evidence only, and the
what-if names every unrecorded feature that would change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from pydantic import BaseModel, Field

from ifnscope.case.facts import PRESENT, UNKNOWN, Facts, TriValue, known_fact_names
from ifnscope.clinical.base import Disease, Picture
from ifnscope.criteria.base import Expr, WhatIf, WhatIfChange, because, check_expr, evaluate
from ifnscope.data import load_table
from ifnscope.provenance import Reference, RuleModel, SourceRef

Tier = Literal["criteria", "specific", "supportive"]
_STRONG: tuple[Tier, ...] = ("criteria", "specific")
_OTHER: dict[Disease, Disease] = {"dermatomyositis": "lupus", "lupus": "dermatomyositis"}


class Feature(RuleModel):
    id: str
    label: str
    favours: Disease
    tier: Tier
    when: Expr
    note: str | None = None
    source: SourceRef
    extra_sources: list[SourceRef] = Field(default_factory=list)


class NonDiscriminating(RuleModel):
    id: str
    label: str
    when: Expr
    note: str
    source: SourceRef


class TestRule(RuleModel):
    id: str
    label: str
    when_unrecorded: list[str]
    why: str
    source: SourceRef


class Verdict(RuleModel):
    rule: str
    min_supportive: int
    source: SourceRef


class Rules(RuleModel):
    verdict: Verdict
    features: list[Feature]
    not_discriminating: list[NonDiscriminating]
    tests: list[TestRule]


@cache
def rules() -> Rules:
    r = load_table("clinical/differential.yaml", Rules)
    known = set(known_fact_names())
    for f in r.features:
        check_expr(f.when, known, f"differential.yaml features.{f.id}")
    for n in r.not_discriminating:
        check_expr(n.when, known, f"differential.yaml not_discriminating.{n.id}")
    for t in r.tests:
        for name in t.when_unrecorded:
            check_expr(name, known, f"differential.yaml tests.{t.id}")
    return r


# ---------------------------------------------------------------------------------- results


class FeatureResult(BaseModel):
    id: str
    label: str
    favours: Disease
    tier: Tier
    status: TriValue
    because: str
    note: str | None = None
    references: list[Reference]


class TestSuggestion(BaseModel):
    id: str
    test: str
    why: str
    could_change_verdict: bool = Field(description="A result of this test alone could change the verdict")
    reference: Reference


class DifferentialResult(BaseModel):
    favours: Picture
    mixed: bool = Field(description="Strong features of both diseases are present")
    summary: str
    features_for_dermatomyositis: list[FeatureResult] = Field(description="Present features favouring DM")
    features_for_lupus: list[FeatureResult] = Field(description="Present features favouring lupus")
    recorded_absent: list[str] = Field(description="Features recorded absent")
    not_recorded: list[str] = Field(description="Features not recorded")
    not_discriminating: list[FeatureResult] = Field(description="Present, but seen in both diseases")
    unknowns_that_could_change_verdict: list[str]
    what_if: list[WhatIfChange]
    tests_that_would_help: list[TestSuggestion]
    rule: str = Field(description="The weighing rule (ifnscope's own, not a published score)")
    rule_reference: Reference
    references: list[Reference]


# ---------------------------------------------------------------------------------- engine


@dataclass(frozen=True)
class _Core:
    favours: Picture
    mixed: bool
    present: tuple[tuple[str, Disease, Tier], ...]
    statuses: tuple[tuple[str, TriValue], ...]


def _decide(present: list[tuple[str, Disease, Tier]], min_supportive: int) -> tuple[Picture, bool]:
    strong = {d: sum(1 for _, fav, t in present if fav == d and t in _STRONG) for d in _OTHER}
    support = {d: sum(1 for _, fav, t in present if fav == d and t == "supportive") for d in _OTHER}
    if strong["dermatomyositis"] and strong["lupus"]:
        return "indeterminate", True
    for d, other in _OTHER.items():
        if strong[d] and not strong[other]:
            return d, False
    for d, other in _OTHER.items():
        if support[d] >= min_supportive and not support[other]:
            return d, False
    return "indeterminate", False


def _core(facts: Facts, explain: bool = True) -> _Core:
    r = rules()
    statuses = [(f.id, evaluate(f.when, facts)) for f in r.features]
    by_id = {f.id: f for f in r.features}
    present = [(fid, by_id[fid].favours, by_id[fid].tier) for fid, s in statuses if s == PRESENT]
    favours, mixed = _decide(present, r.verdict.min_supportive)
    return _Core(favours, mixed, tuple(present), tuple(statuses))


def _feature_result(f: Feature, status: TriValue, facts: Facts) -> FeatureResult:
    refs = [Reference.of(f.source), *(Reference.of(s) for s in f.extra_sources)]
    return FeatureResult(
        id=f.id,
        label=f.label,
        favours=f.favours,
        tier=f.tier,
        status=status,
        because=because(f.when, facts),
        note=f.note,
        references=refs,
    )


def _summary(core: _Core, dm: list[FeatureResult], lu: list[FeatureResult]) -> str:
    def names(fs: list[FeatureResult]) -> str:
        return ", ".join(_in_sentence(f.label) for f in fs) or "none"

    if core.mixed:
        return (
            f"Mixed picture: features of dermatomyositis ({names(dm)}) and of lupus ({names(lu)}) are "
            "both present; consider an overlap or a second look at the lesions."
        )
    if core.favours == "indeterminate":
        if not dm and not lu:
            return "No feature that separates lupus from dermatomyositis is recorded."
        return (
            f"Indeterminate: dermatomyositis features {names(dm)}; lupus features {names(lu)}; "
            "neither side meets the weighing rule."
        )
    side, other = (dm, lu) if core.favours == "dermatomyositis" else (lu, dm)
    text = f"Favours {core.favours}: {names(side)}."
    if other:
        text += f" Against it: {names(other)}."
    return text


def _in_sentence(label: str) -> str:
    """A label inside a sentence: lower-case its first letter unless it starts a name or acronym."""
    first = label.split()[0] if label.split() else label
    if "'" in first or (len(first) > 1 and first[1].isupper()):
        return label
    return label[:1].lower() + label[1:]


def evaluate_facts(facts: Facts) -> DifferentialResult:
    """The differential from the case's facts. Pure."""
    r = rules()
    wi = WhatIf(_core, facts)
    core = wi.explained
    by_id = {f.id: f for f in r.features}
    status = dict(core.statuses)
    results = [_feature_result(f, status[f.id], facts) for f in r.features]
    dm = [x for x in results if x.status == PRESENT and x.favours == "dermatomyositis"]
    lu = [x for x in results if x.status == PRESENT and x.favours == "lupus"]
    changes = wi.changes(key=lambda c: (c.favours, c.mixed), describe=_describe)
    nd = []
    for n in r.not_discriminating:
        s = evaluate(n.when, facts)
        if s == PRESENT:
            nd.append(
                FeatureResult(
                    id=n.id,
                    label=n.label,
                    favours="dermatomyositis",  # placeholder side; `tier` and the note say it is not weighed
                    tier="supportive",
                    status=s,
                    because=because(n.when, facts),
                    note=n.note,
                    references=[Reference.of(n.source)],
                )
            )
    decisive = {c.fact for c in changes}
    tests = []
    for t in r.tests:
        unrecorded = [name for name in t.when_unrecorded if facts.value(name) == UNKNOWN]
        if unrecorded:
            tests.append(
                TestSuggestion(
                    id=t.id,
                    test=t.label,
                    why=t.why,
                    could_change_verdict=bool(decisive & set(unrecorded)),
                    reference=Reference.of(t.source),
                )
            )
    tests.sort(key=lambda t: not t.could_change_verdict)  # stable: data order within each group
    refs = list(dict.fromkeys(ref for x in results for ref in x.references))
    return DifferentialResult(
        favours=core.favours,
        mixed=core.mixed,
        summary=_summary(core, dm, lu),
        features_for_dermatomyositis=dm,
        features_for_lupus=lu,
        recorded_absent=[by_id[i].label for i, s in core.statuses if s == "absent"],
        not_recorded=[by_id[i].label for i, s in core.statuses if s == UNKNOWN],
        not_discriminating=nd,
        unknowns_that_could_change_verdict=[c.fact for c in changes],
        what_if=changes,
        tests_that_would_help=tests,
        rule=" ".join(r.verdict.rule.split()),
        rule_reference=Reference.of(r.verdict.source),
        references=refs,
    )


def _describe(core: _Core) -> str:
    if core.mixed:
        return "mixed picture (indeterminate)"
    return f"favours {core.favours}" if core.favours != "indeterminate" else "indeterminate"
