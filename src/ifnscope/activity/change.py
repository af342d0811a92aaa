"""Change in CDASI and CLASI since a patient's previous scored visit, judged against the
published thresholds: what a registry's visit page, timeline and report show.

:func:`change_since_previous` is a pure function of the visits a registry returns (their
stored totals: a total is stored only when every item was scored). For each index and part
scored at this visit it finds the latest earlier visit with the same total and gives the
previous value, the change and, for activity, whether the change reaches each published
threshold, with that threshold's citation. The thresholds are the ``change:`` rows of
``data/activity/cdasi.yaml`` and ``clasi.yaml`` (confidence A):

- CDASI activity: the minimal clinically important difference, 4 points (UPenn) or 5 points
  (Stanford), Anyanwu 2015;
- CLASI activity: a fall of ≥4 points or ≥20%, and the two combined (Klein 2011).

Where a verdict cannot be sourced, the change is shown without one and the reason is given:

- a rise: the thresholds were derived for improvement only (the rule tables' ``worsening``
  row is unverified), so no verdict on worsening;
- damage: no minimal clinically important difference was found (``damage_note``);
- CLASI-50 is defined as a fall from the *baseline* (a trial's start of treatment), not from
  the previous visit: it is not applied between consecutive visits;
- a percentage change from 0 is undefined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ifnscope.activity.results import Result
from ifnscope.activity.rules import ChangeRule, IndexRules, cdasi_rules, clasi_rules
from ifnscope.provenance import Reference

__all__ = [
    "IndexDelta",
    "ThresholdCheck",
    "VisitChange",
    "change_marks",
    "change_since_previous",
    "short_citation",
]

Verdict = Literal["reached", "not_reached", "no_verdict"]
Part = Literal["activity", "damage"]

VERDICT_WORDS: dict[str, str] = {
    "reached": "reached",
    "not_reached": "not reached",
    "no_verdict": "no verdict",
}
_BASELINE_ONLY = (
    "is defined as a fall from the baseline (the start of treatment in the trials), not from the "
    "previous visit; it is not applied between consecutive visits"
)


class ThresholdCheck(Result):
    """One published threshold applied to a fall in activity since the previous visit."""

    id: str
    label: str
    threshold: str
    verdict: Verdict
    why: str
    references: list[Reference]

    @property
    def cite(self) -> str:
        """The sources in short ('Anyanwu 2015'), for a line on a page; the full citations are
        in ``references``."""
        return "; ".join(short_citation(r.citation) for r in self.references)


class IndexDelta(Result):
    """One index and part (CDASI activity, CLASI damage ...) at this visit and the previous one.

    ``no_verdict``: why no threshold is judged (no earlier score, a rise, damage); ``checks``
    is empty or every check says ``no_verdict`` then."""

    index: str
    part: Part
    current: float
    previous: float | None
    previous_visit_id: int | None
    previous_when: str | None
    change: float | None
    percent: float | None
    checks: list[ThresholdCheck]
    no_verdict: str | None
    summary: str

    @property
    def reached(self) -> bool:
        """Whether any published threshold is reached (an improvement beyond it)."""
        return any(c.verdict == "reached" for c in self.checks)


class VisitChange(Result):
    """The change at one visit since the previous scored visits, per index and part."""

    visit_id: int
    rows: list[IndexDelta]
    notes: list[str]

    @property
    def reached(self) -> list[IndexDelta]:
        return [r for r in self.rows if r.reached]


# ----------------------------------------------------------------------------- helpers


def short_citation(citation: str) -> str:
    """'Anyanwu CO, Fiorentino DF, ... 2015;173:969-74' -> 'Anyanwu 2015'."""
    first = citation.split(",")[0].split()[0] if citation.strip() else "source"
    year = re.search(r"\b(19|20)\d{2}\b", citation)
    return f"{first} {year.group(0)}" if year else first


def _get(v: Any, key: str) -> Any:
    return v.get(key) if isinstance(v, Mapping) else getattr(v, key, None)


def _when(v: Any) -> str:
    """A visit's date (clinicians) or its day since the first visit (de-identified)."""
    date = _get(v, "visit_date")
    if date:
        return str(date)
    days = _get(v, "days_since_first_visit")
    return f"day {days}" if days is not None else f"visit {_get(v, 'id')}"


def _order(v: Any) -> tuple[Any, ...]:
    days = _get(v, "days_since_first_visit")
    return (days if days is not None else 0, str(_get(v, "visit_date") or ""), _get(v, "id") or 0)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _whole(x: float) -> int | None:
    return int(x) if float(x).is_integer() else None


def _check(rule: ChangeRule, rules: IndexRules, prev: int, cur: int) -> ThresholdCheck:
    refs = [Reference.of(rule.source)]
    threshold = f"{rule.points} points" if rule.points is not None else f"{rule.percent}%"
    fall = prev - cur
    verdict: Verdict
    if cur > prev:
        verdict, why = "no_verdict", _rise_why(rules)
    elif rule.points is not None:
        if fall >= rule.points:
            verdict, why = "reached", f"fell by {fall} point{'s' if fall != 1 else ''} (≥{rule.points})"
        else:
            verdict = "not_reached"
            why = (
                f"fell by {fall} point{'s' if fall != 1 else ''} (less than {rule.points})"
                if fall
                else "unchanged"
            )
    else:
        pct = rule.percent or 0
        if prev == 0:
            verdict, why = "no_verdict", "a percentage change from a score of 0 is undefined"
        elif 100 * fall >= pct * prev:  # whole-number arithmetic: exactly 20% counts
            verdict, why = "reached", f"fell by {100 * fall / prev:.1f}% (≥{pct}%)"
        else:
            verdict = "not_reached"
            why = f"fell by {100 * fall / prev:.1f}% (less than {pct}%)" if fall else "unchanged"
    return ThresholdCheck(
        id=rule.id, label=rule.label, threshold=threshold, verdict=verdict, why=why, references=refs
    )


def _rise_why(rules: IndexRules) -> str:
    """Why a rise gets no verdict: the thresholds were derived for improvement only."""
    w = rules.change.worsening.source
    return (
        f"{rules.short} activity rose; in the source {w.where.removeprefix('abstract: ')}, so a rise "
        "is shown without a verdict"
    )


def _activity_checks(rules: IndexRules, prev: int, cur: int) -> list[ThresholdCheck]:
    """Every visit-to-visit threshold of the index, and their combination (Klein 2011)."""
    applied = [r for r in rules.change.rules if r.min_baseline is None and r.direction == "both"]
    checks = [_check(r, rules, prev, cur) for r in applied]
    comb = rules.change.combined
    if comb is not None:
        parts = [c for c in checks if c.id in comb.any_of]
        verdicts = {c.verdict for c in parts}
        verdict: Verdict = (
            "reached"
            if "reached" in verdicts
            else "no_verdict"
            if verdicts == {"no_verdict"}
            else "not_reached"
        )
        checks.append(
            ThresholdCheck(
                id=comb.id,
                label=comb.label,
                threshold=" or ".join(c.threshold for c in parts),
                verdict=verdict,
                why="; ".join(f"{c.label}: {c.why}" for c in parts)
                if verdict != "no_verdict"
                else parts[0].why,
                references=[Reference.of(comb.source)],
            )
        )
    return checks


def _not_applied(rules: IndexRules) -> list[str]:
    """Thresholds of the table not applied between visits, and why."""
    return [
        f"{rules.short}: {r.label} {_BASELINE_ONLY}."
        for r in rules.change.rules
        if r.min_baseline is not None or r.direction != "both"
    ]


def _delta(rules: IndexRules, part: Part, current: Any, earlier: list[Any]) -> IndexDelta | None:
    key = f"{rules.id.split('_')[0]}_{part}"
    cur = _get(current, key)
    if cur is None:
        return None
    cur = float(cur)
    label = f"{rules.short} {part}"
    prev_visit = next((v for v in reversed(earlier) if _get(v, key) is not None), None)
    if prev_visit is None:
        return IndexDelta(
            index=rules.short,
            part=part,
            current=cur,
            previous=None,
            previous_visit_id=None,
            previous_when=None,
            change=None,
            percent=None,
            checks=[],
            no_verdict=f"no earlier visit has a complete {label} score",
            summary=f"{label} {_fmt(cur)}: no earlier complete score to compare with",
        )
    prev = float(_get(prev_visit, key))
    change = cur - prev
    percent = round(100 * change / prev, 1) if prev else None
    when = _when(prev_visit)
    checks: list[ThresholdCheck] = []
    no_verdict: str | None = None
    p, c = _whole(prev), _whole(cur)
    if part == "damage":
        no_verdict = " ".join(rules.change.damage_note.split())
        if rules.totals.damage.source.confidence == "U":
            no_verdict += " The damage total itself is not verified in a source."
    elif p is None or c is None:
        no_verdict = "the stored totals are not whole numbers, which the published thresholds assume"
    else:
        checks = _activity_checks(rules, p, c)
        if c > p:
            no_verdict = checks[0].why if checks else "a rise is not judged"
    sign = f"{change:+g}"
    text = f"{label} {_fmt(prev)} → {_fmt(cur)} ({sign}) since {when}"
    if checks and no_verdict is None:
        text += ": " + "; ".join(f"{x.label}: {VERDICT_WORDS[x.verdict]}" for x in checks)
    elif no_verdict:
        text += ": no threshold verdict"
    return IndexDelta(
        index=rules.short,
        part=part,
        current=cur,
        previous=prev,
        previous_visit_id=_get(prev_visit, "id"),
        previous_when=when,
        change=change,
        percent=percent,
        checks=checks,
        no_verdict=no_verdict,
        summary=text,
    )


# ----------------------------------------------------------------------------- public


def change_since_previous(visits: Iterable[Any], visit_id: int) -> VisitChange:
    """The change at visit ``visit_id`` since the earlier visits of the same patient.

    ``visits``: the patient's visits (registry ``VisitView`` objects or their dicts: ``id``,
    ``visit_date`` or ``days_since_first_visit``, and the stored ``cdasi_activity``,
    ``cdasi_damage``, ``clasi_activity``, ``clasi_damage``). Each index and part is compared
    with the latest earlier visit that has it. Raises ``KeyError`` for an unknown visit."""
    ordered = sorted(visits, key=_order)
    idx = next((i for i, v in enumerate(ordered) if _get(v, "id") == visit_id), None)
    if idx is None:
        raise KeyError(visit_id)
    current, earlier = ordered[idx], ordered[:idx]
    rows: list[IndexDelta] = []
    notes: list[str] = []
    for rules in (cdasi_rules(), clasi_rules()):
        found = [d for part in ("activity", "damage") if (d := _delta(rules, part, current, earlier))]
        rows += found
        if any(d.part == "activity" and d.previous is not None for d in found):
            notes += _not_applied(rules)
    if not rows:
        notes.append("No complete CDASI or CLASI score at this visit: no change to show.")
    return VisitChange(visit_id=visit_id, rows=rows, notes=notes)


def change_marks(visits: Iterable[Any]) -> dict[int, list[IndexDelta]]:
    """For a timeline: each visit whose activity change reaches a published threshold, with the
    rows that reach it."""
    listed = list(visits)
    out: dict[int, list[IndexDelta]] = {}
    for v in listed:
        vid = _get(v, "id")
        if vid is None:
            continue
        hits = change_since_previous(listed, vid).reached
        if hits:
            out[int(vid)] = hits
    return out
