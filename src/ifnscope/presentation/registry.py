"""The registry parts of a visit's presentation model: the patient's identifiers, the change since
the previous visit, the stored interferon scores and the treatments.

Built from plain JSON (what ``registry.services`` returned, dumped), so that this package does
not depend on the registry and shows exactly what the services let the actor see: a researcher's
record carries no name, MRN, birth date or calendar date, and so neither does the section.

``registry`` (the argument of :func:`ifnscope.presentation.build`)::

    {"record": PatientRecord, "visit_id": int, "change": VisitChange}   # each dumped to JSON
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ifnscope.presentation.model import (
    ChangeLine,
    ChangeVerdictView,
    Cites,
    PatientIdentity,
    RegistrySection,
    ScoreLine,
    TreatmentLine,
)
from ifnscope.presentation.words import words

Cite = Callable[[Iterable[Any]], Cites]

_VERDICT_WORDS = {"reached": "reached", "not_reached": "not reached", "no_verdict": "no verdict"}


def _m(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _ms(x: Any) -> list[Mapping[str, Any]]:
    return [i for i in x if isinstance(i, Mapping)] if isinstance(x, list | tuple) else []


def _s(x: Any, default: str = "") -> str:
    return default if x is None or x == "" else str(x)


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, int | float) and not isinstance(x, bool) else "—"


def _when(date: Any, days: Any) -> str:
    if date:
        return str(date)
    return f"day {days}" if days is not None else "—"


def _identity(rec: Mapping[str, Any]) -> PatientIdentity:
    p = _m(rec.get("patient"))
    deidentified = bool(rec.get("deidentified", True))
    return PatientIdentity(
        pseudonym=_s(p.get("pseudonym"), "?"),
        name=None if deidentified else (_s(p.get("name")) or None),
        mrn=None if deidentified else (_s(p.get("mrn")) or None),
        birth_date=None if deidentified else (_s(rec.get("birth_date")) or None),
        sex=_s(p.get("sex")) or None,
    )


def _score(x: Mapping[str, Any]) -> ScoreLine:
    score = x.get("score")
    return ScoreLine(
        sample=_s(x.get("sample"), "?"),
        collected=_when(x.get("collected_on"), x.get("days_since_first_visit")),
        signature=_s(x.get("signature"), "?"),
        method=_s(x.get("method"), "?"),
        score=f"{score:.3g}" if isinstance(score, int | float) else "not scored",
        call=_s(x.get("call"), "—"),
        genes=f"{_s(x.get('genes_found'), '?')}/{_s(x.get('genes_total'), '?')}",
        reference=_s(x.get("reference"), "none"),
    )


def _treatment(t: Mapping[str, Any]) -> TreatmentLine:
    agent = t.get("agent")
    started = _s(t.get("started")) or (
        f"day {t['started_days']}" if t.get("started_days") is not None else ""
    )
    stopped = _s(t.get("stopped")) or (
        f"day {t['stopped_days']}" if t.get("stopped_days") is not None else ""
    )
    status = _s(t.get("status"))
    if status == "denied_by_payer":
        when = _s(t.get("denied_on"))
        stopped = "denied by the payer" + (f" ({when})" if when else "")
    elif status == "planned":
        stopped = "planned, not started"
    return TreatmentLine(
        agent=words(agent) if agent else "not recognised",
        recorded_as=_s(t.get("recorded_as")),
        started=started or "not recorded",
        stopped=stopped or ("ongoing" if started else "not recorded"),
        response=words(t.get("response")) if t.get("response") else "not recorded",
        ifn_targeted=bool(t.get("ifn_targeted")),
    )


def _change(row: Mapping[str, Any], cite: Cite) -> ChangeLine:
    change = row.get("change")
    pct = row.get("percent")
    text = "—"
    if isinstance(change, int | float):
        text = f"{change:+g}" + (f" ({pct:+.0f}%)" if isinstance(pct, int | float) else "")
    return ChangeLine(
        label=f"{_s(row.get('index'))} {_s(row.get('part'))}",
        previous=_num(row.get("previous")),
        since=_s(row.get("previous_when"), "no earlier score"),
        current=_num(row.get("current")),
        change=text,
        verdicts=tuple(
            ChangeVerdictView(
                label=_s(c.get("label")),
                outcome=_VERDICT_WORDS.get(_s(c.get("verdict")), words(c.get("verdict"))),
                kind=_s(c.get("verdict")),
                why=_s(c.get("why")),
                cites=cite(_ms(c.get("references"))),
            )
            for c in _ms(row.get("checks"))
        ),
        no_verdict=_s(row.get("no_verdict")),
    )


def registry_section(registry: Mapping[str, Any], cite: Cite) -> RegistrySection:
    """The section, citing the change thresholds' sources through ``cite`` (the view's numbering)."""
    rec = _m(registry.get("record"))
    visit_id = registry.get("visit_id")
    visit = next((v for v in _ms(rec.get("visits")) if v.get("id") == visit_id), {})
    change = _m(registry.get("change"))
    return RegistrySection(
        identity=_identity(rec),
        visit_when=_when(visit.get("visit_date"), visit.get("days_since_first_visit")),
        change=tuple(_change(r, cite) for r in _ms(change.get("rows"))),
        change_notes=tuple(_s(n) for n in change.get("notes") or () if n),
        glance=tuple(
            _s(r.get("summary")).replace("Minimal clinically important difference", "MCID")
            for r in _ms(change.get("rows"))
            if r.get("part") == "activity" and r.get("previous") is not None
        ),
        scores=tuple(_score(x) for x in _ms(rec.get("scores"))),
        treatments=tuple(_treatment(t) for t in _ms(rec.get("treatments"))),
    )
