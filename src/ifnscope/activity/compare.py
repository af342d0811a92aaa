"""Change between two visits in CDASI and CLASI activity, judged by the published rules.

:func:`compare` takes numbers, not cases, so a registry can call it on stored totals. A
score may be a whole number or a ``[low, high]`` range (what an incompletely scored visit
gives); a verdict is then given only when every score in the ranges gives the same one,
otherwise it is ``undetermined`` with ``could_be``.

Rules (each verdict carries its reference):

- CDASI activity: the minimal clinically important difference, 4 points (UPenn) or 5 points
  (Stanford), Anyanwu 2015 (A).
- CLASI activity: a fall of ≥4 points or ≥20% (Klein 2011, A), reported separately and
  combined; CLASI-50, a fall of ≥50%, assessed only when the baseline is ≥10 (A).
- A rise of the same size is reported as worsening by symmetry (unverified: the cut-offs
  were derived for improvement).
- The myositis Total Improvement Score is not computed (``tis``): its per-measure
  percentage-change formula could not be verified.
"""

from collections.abc import Callable, Mapping
from itertools import product
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from ifnscope.activity.results import Range, Result, signed, span
from ifnscope.activity.rules import ChangeRule, CombinedRule, IndexRules, cdasi_rules, clasi_rules
from ifnscope.provenance import Reference

Outcome = Literal["improved", "worsened", "no_important_change", "not_met", "not_applicable", "undetermined"]

# Outcomes along the scale, for filling in what lies between two ends of a range.
_ORDER: dict[Outcome, int] = {"improved": 0, "no_important_change": 1, "not_met": 1, "worsened": 2}
OUTCOME_WORDS = {
    "improved": "improved",
    "worsened": "worsened",
    "no_important_change": "no important change",
    "not_met": "not met",
    "not_applicable": "not applicable",
    "undetermined": "undetermined",
}


def _as_range(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    return value


ScoreRange = Annotated[tuple[int, int], BeforeValidator(_as_range)]


class Scores(BaseModel):
    """Totals of one visit: a whole number each, or ``[low, high]`` when incompletely scored."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    cdasi_activity: ScoreRange | None = None
    cdasi_damage: ScoreRange | None = None
    clasi_activity: ScoreRange | None = None
    clasi_damage: ScoreRange | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for name in type(self).model_fields:
            r = getattr(self, name)
            if r is not None and not 0 <= r[0] <= r[1]:
                raise ValueError(f"{name}: a score range must be 0 ≤ low ≤ high, got {list(r)}")
        return self


class ChangeVerdict(Result):
    """One rule applied to a change in activity.

    ``note``: where a trial rule rather than the definition withholds the verdict (CLASI-50
    below a baseline of 10: TULIP, LAVENDER), that said, with the trials among the references."""

    id: str
    label: str
    outcome: Outcome
    could_be: list[Outcome]
    why: str
    references: list[Reference]
    unverified: str | None
    note: str | None = None


class IndexChange(Result):
    """The change in one index between the two visits (follow-up minus baseline)."""

    index: str
    baseline_activity: Range | None
    followup_activity: Range | None
    activity_change: Range | None
    activity_change_percent: tuple[float, float] | None
    baseline_damage: Range | None
    followup_damage: Range | None
    damage_change: Range | None
    damage_note: str
    verdicts: list[ChangeVerdict]
    summary: str


class NotComputed(Result):
    """A response measure ifnscope deliberately does not compute, and why."""

    implemented: bool
    label: str
    why: str
    references: list[Reference]


class ActivityChange(Result):
    """Change since an earlier visit in CDASI and CLASI (``None`` where either visit lacks it)."""

    baseline_date: str | None
    cdasi: IndexChange | None
    clasi: IndexChange | None
    tis: NotComputed
    notes: list[str]
    unverified: list[str]


# ------------------------------------------------------------------------------ one rule


def _exact(rule: ChangeRule, short: str, b: int, f: int) -> tuple[Outcome, str]:
    """The outcome of one rule for exact scores, with the reason in words."""
    not_met: Outcome = "no_important_change" if rule.direction == "both" else "not_met"
    if rule.min_baseline is not None and b < rule.min_baseline:
        return "not_applicable", (
            f"assessed only when the baseline {short} activity is ≥{rule.min_baseline}; it was {b}"
        )
    if rule.points is not None:
        fall = b - f
        if fall >= rule.points:
            return "improved", f"fell by {fall} point{'s' if fall != 1 else ''} (≥{rule.points})"
        if rule.direction == "both" and -fall >= rule.points:
            return "worsened", f"rose by {-fall} points (≥{rule.points})"
        unit = "point" if abs(fall) == 1 else "points"
        return not_met, f"changed by {-fall:+d} {unit} (less than {rule.points})"
    pct = rule.percent or 0
    if b == 0:
        return "not_applicable", "a percentage change from a baseline of 0 is undefined"
    change = 100 * (f - b) / b
    if 100 * (b - f) >= pct * b:  # whole-number arithmetic: exactly 20% counts
        return "improved", f"fell by {-change:.1f}% (≥{pct}%)"
    if rule.direction == "both" and 100 * (f - b) >= pct * b:
        return "worsened", f"rose by {change:.1f}% (≥{pct}%)"
    return not_met, f"changed by {change:+.1f}% (less than {pct}%)"


def _combined(results: list[Outcome]) -> Outcome:
    if "improved" in results:
        return "improved"
    if "worsened" in results:
        return "worsened"
    if all(r == "not_applicable" for r in results):
        return "not_applicable"
    return "no_important_change"


def _over_ranges(
    fn: Callable[[int, int], tuple[Outcome, str]], b: Range, f: Range
) -> tuple[Outcome, list[Outcome], str | None]:
    """An outcome over every (baseline, follow-up) pair in the ranges (monotone in each)."""
    seen = {fn(bb, ff) for bb, ff in product(sorted(set(b)), sorted(set(f)))}
    outcomes = {o for o, _ in seen}
    if len(outcomes) == 1:
        (only,) = outcomes
        whys = {w for _, w in seen}
        return only, [], whys.pop() if len(whys) == 1 else None
    ordered = {o for o in outcomes if o in _ORDER}
    filled: set[Outcome] = set(outcomes - ordered)
    if ordered:
        lo, hi = min(_ORDER[o] for o in ordered), max(_ORDER[o] for o in ordered)
        neutral: Outcome = "not_met" if "not_met" in ordered else "no_important_change"
        names: dict[int, Outcome] = {0: "improved", 1: neutral, 2: "worsened"}
        filled |= {names[i] for i in range(lo, hi + 1)}
    could = sorted(filled, key=lambda o: _ORDER.get(o, 3))
    return "undetermined", could, None


def _verdict(rule: ChangeRule, rules: IndexRules, b: Range, f: Range) -> ChangeVerdict:
    outcome, could, why = _over_ranges(lambda bb, ff: _exact(rule, rules.short, bb, ff), b, f)
    refs = [Reference.of(rule.source)]
    if rule.baseline_source is not None:
        refs.append(Reference.of(rule.baseline_source))
    note = None
    withheld = "not_applicable" in (outcome, *could)
    below = rule.min_baseline is not None and b[0] < rule.min_baseline
    if rule.baseline_rule is not None and withheld and below:
        note = " ".join(rule.baseline_rule.note.split())
        refs += [Reference.of(s) for s in rule.baseline_rule.sources]
    return ChangeVerdict(
        id=rule.id,
        label=rule.label,
        outcome=outcome,
        could_be=could,
        why=why or _range_why(outcome, could),
        references=list({(r.source, r.where): r for r in refs}.values()),
        unverified=_worsening_note(rules, rule.direction, outcome, could),
        note=note,
    )


def _combined_verdict(comb: CombinedRule, rules: IndexRules, b: Range, f: Range) -> ChangeVerdict:
    parts = [r for r in rules.change.rules if r.id in comb.any_of]

    def fn(bb: int, ff: int) -> tuple[Outcome, str]:
        results = [_exact(r, rules.short, bb, ff) for r in parts]
        outcome = _combined([o for o, _ in results])
        return outcome, "; ".join(f"{r.label}: {w}" for r, (_, w) in zip(parts, results, strict=True))

    outcome, could, why = _over_ranges(fn, b, f)
    return ChangeVerdict(
        id=comb.id,
        label=comb.label,
        outcome=outcome,
        could_be=could,
        why=why or _range_why(outcome, could),
        references=[Reference.of(comb.source)],
        unverified=_worsening_note(rules, "both", outcome, could),
    )


def _range_why(outcome: Outcome, could: list[Outcome]) -> str:
    if outcome == "undetermined":
        return "depends on the unscored items: could be " + " or ".join(OUTCOME_WORDS[c] for c in could)
    return f"{OUTCOME_WORDS[outcome]} whatever the unscored items score"


def _worsening_note(rules: IndexRules, direction: str, outcome: Outcome, could: list[Outcome]) -> str | None:
    if direction == "both" and (outcome == "worsened" or "worsened" in could):
        return rules.change.worsening.unverified
    return None


# ----------------------------------------------------------------------------- one index


def _percent(b: Range, f: Range) -> tuple[float, float] | None:
    values = [100 * (ff - bb) / bb for bb, ff in product(b, f) if bb > 0]
    if b[0] == 0 or not values:
        return None
    return (round(min(values), 1), round(max(values), 1))


def index_change(
    rules: IndexRules,
    baseline_activity: Range | None,
    followup_activity: Range | None,
    baseline_damage: Range | None = None,
    followup_damage: Range | None = None,
) -> IndexChange:
    """The change in one index; verdicts need both activity scores."""
    verdicts: list[ChangeVerdict] = []
    change = percent = None
    summary = f"{rules.short} activity was not recorded at both visits; no verdict"
    if baseline_activity is not None and followup_activity is not None:
        b, f = baseline_activity, followup_activity
        verdicts = [_verdict(r, rules, b, f) for r in rules.change.rules]
        if rules.change.combined is not None:
            verdicts.append(_combined_verdict(rules.change.combined, rules, b, f))
        change, percent = (f[0] - b[1], f[1] - b[0]), _percent(b, f)
        summary = f"{rules.short} activity {span(b)} → {span(f)} ({signed(change)}): " + "; ".join(
            f"{v.label}: {OUTCOME_WORDS[v.outcome]}" for v in verdicts
        )
    dchange = None
    if baseline_damage is not None and followup_damage is not None:
        dchange = (followup_damage[0] - baseline_damage[1], followup_damage[1] - baseline_damage[0])
        summary += f". Damage {span(baseline_damage)} → {span(followup_damage)} ({signed(dchange)})"
    return IndexChange(
        index=rules.short,
        baseline_activity=baseline_activity,
        followup_activity=followup_activity,
        activity_change=change,
        activity_change_percent=percent,
        baseline_damage=baseline_damage,
        followup_damage=followup_damage,
        damage_change=dchange,
        damage_note=rules.change.damage_note,
        verdicts=verdicts,
        summary=summary + ".",
    )


def tis_status() -> NotComputed:
    (tis,) = [n for n in cdasi_rules().not_implemented if n.id == "tis"]
    return NotComputed(
        implemented=False,
        label=tis.label,
        why=" ".join(tis.why.split()),
        references=[Reference.of(s) for s in tis.sources],
    )


def compare(
    baseline: Scores | Mapping[str, Any],
    followup: Scores | Mapping[str, Any],
    *,
    baseline_date: str | None = None,
) -> ActivityChange:
    """Judge the change from ``baseline`` to ``followup`` (numbers or ``[low, high]`` ranges).

    An index is compared when its activity or damage is present at both visits; an index
    present at one visit only is named in ``notes``.
    """
    b = baseline if isinstance(baseline, Scores) else Scores.model_validate(baseline)
    f = followup if isinstance(followup, Scores) else Scores.model_validate(followup)
    notes: list[str] = []
    out: dict[str, IndexChange | None] = {}
    for key, rules in (("cdasi", cdasi_rules()), ("clasi", clasi_rules())):
        ba, fa = getattr(b, f"{key}_activity"), getattr(f, f"{key}_activity")
        bd, fd = getattr(b, f"{key}_damage"), getattr(f, f"{key}_damage")
        at_both = (ba is not None and fa is not None) or (bd is not None and fd is not None)
        if at_both:
            out[key] = index_change(rules, ba, fa, bd, fd)
        else:
            out[key] = None
            if any(v is not None for v in (ba, bd)):
                notes.append(f"{rules.short} is recorded at the baseline visit but not scored at this one")
            elif any(v is not None for v in (fa, fd)):
                notes.append(f"{rules.short} is scored at this visit but has no baseline to compare with")
    unverified = [v.unverified for c in out.values() if c is not None for v in c.verdicts if v.unverified]
    return ActivityChange(
        baseline_date=baseline_date,
        cdasi=out["cdasi"],
        clasi=out["clasi"],
        tis=tis_status(),
        notes=notes,
        unverified=list(dict.fromkeys(unverified)),
    )
