"""Skin activity and damage indices: CDASI v2 (dermatomyositis) and CLASI (cutaneous lupus).

:func:`evaluate` scores a case's ``activity:`` section item by item and compares it with
the earlier visit in ``activity.baseline``; :func:`compare` does the comparison on numbers
alone (for a registry). Rule tables: ``data/activity/cdasi.yaml`` and ``clasi.yaml``.

Nothing here imports :mod:`ifnscope.case` at run time: the case model builds its
``activity`` models from the same tables (:mod:`ifnscope.activity.rules`).
The parts: ``rules`` (table models), ``results`` (result models), ``scoring`` (the shared
scorer), ``cdasi``/``clasi`` (one index each) and ``compare`` (change between visits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ifnscope.activity import cdasi as _cdasi
from ifnscope.activity import clasi as _clasi
from ifnscope.activity.cdasi import CdasiResult
from ifnscope.activity.clasi import ClasiResult
from ifnscope.activity.compare import ActivityChange, ChangeVerdict, IndexChange, Scores, compare
from ifnscope.activity.results import Result
from ifnscope.activity.rules import cdasi_rules, clasi_rules
from ifnscope.activity.scoring import value_issues as _value_issues
from ifnscope.errors import CaseValidationError, Issue

if TYPE_CHECKING:
    from ifnscope.case.model import Case

__all__ = [
    "ActivityChange",
    "ActivityResult",
    "CdasiResult",
    "ChangeVerdict",
    "ClasiResult",
    "IndexChange",
    "Scores",
    "compare",
    "evaluate",
    "value_issues",
]


class ActivityResult(Result):
    """The activity indices of one case: each index scored at this visit, and the change."""

    cdasi: CdasiResult | None
    clasi: ClasiResult | None
    change: ActivityChange | None


def value_issues(activity: Any) -> list[Issue]:
    """Item scores the forms do not offer, in a case's ``activity`` section (CLASI scalp scarring
    takes 0, 3, 4, 5 or 6 only): each a ``case.invalid-value`` naming the allowed values."""
    out: list[Issue] = []
    for key, rules in (("cdasi", cdasi_rules()), ("clasi", clasi_rules())):
        entry = getattr(activity, key, None)
        if entry is not None:
            out += _value_issues(rules, entry, ("activity", key))
    return out


def evaluate(case: Case) -> ActivityResult | None:
    """Score ``case.activity``; ``None`` when the case has no ``activity`` section.

    A score the form does not offer is refused (:class:`CaseValidationError`, each problem a
    ``case.invalid-value`` naming the allowed values), never scored."""
    a = getattr(case, "activity", None)
    if a is None:
        return None
    problems = value_issues(a)
    if problems:
        n = len(problems)
        raise CaseValidationError(f"{n} score{'s' if n != 1 else ''} not on the form", issues=problems)
    cdasi = _cdasi.evaluate(a.cdasi) if a.cdasi is not None else None
    clasi = _clasi.evaluate(a.clasi) if a.clasi is not None else None
    change = None
    if a.baseline is not None:
        base = a.baseline
        baseline = Scores(
            cdasi_activity=base.cdasi_activity,
            cdasi_damage=base.cdasi_damage,
            clasi_activity=base.clasi_activity,
            clasi_damage=base.clasi_damage,
        )
        followup = Scores(
            cdasi_activity=cdasi.activity_range if cdasi else None,
            cdasi_damage=cdasi.damage_range if cdasi else None,
            clasi_activity=clasi.activity_range if clasi else None,
            clasi_damage=clasi.damage_range if clasi else None,
        )
        change = compare(baseline, followup, baseline_date=base.date)
    return ActivityResult(cdasi=cdasi, clasi=clasi, change=change)
