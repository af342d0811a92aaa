"""De-identification for researchers: pseudonyms, and the stored case and assessment without
names, free text or calendar dates (years stay)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ifnscope.registry.models import Patient

_PSEUDONYM_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_pseudonym(s: Session) -> str:
    """A random ``P-XXXXXX`` no patient has yet."""
    while True:
        code = "P-" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(6))
        if s.scalar(select(Patient.id).where(Patient.pseudonym == code)) is None:
            return code


def deidentify_case(case: dict[str, Any], pseudonym: str) -> dict[str, Any]:
    """The case without free text and with the pseudonym as id (for researchers)."""
    out = dict(case)
    out["id"] = pseudonym
    for key in ("title", "source"):
        out.pop(key, None)
    out["lesions"] = [{k: v for k, v in les.items() if k != "note"} for les in out.get("lesions") or []]
    out["medications"] = [
        {k: v for k, v in m.items() if k not in ("note", "started", "stopped")}
        for m in out.get("medications") or []
    ]
    if isinstance(out.get("activity"), dict) and isinstance(out["activity"].get("baseline"), dict):
        out["activity"] = {
            **out["activity"],
            "baseline": {k: v for k, v in out["activity"]["baseline"].items() if k != "date"},
        }
    return out


_DATE_KEYS = frozenset({"started", "stopped", "baseline_date", "date"})


def deidentify_assessment(assessment: dict[str, Any], case: dict[str, Any], pseudonym: str) -> dict[str, Any]:
    """The stored assessment without what ``deidentify_case`` removes from the case: the title,
    free-text notes (the assessment quotes lesion notes in its evidence text) and calendar dates
    (medication start/stop, the activity baseline), which become years."""
    notes = [
        str(item["note"])
        for key in ("lesions", "medications")
        for item in case.get(key) or []
        if isinstance(item, dict) and item.get("note")
    ]
    dates = {
        str(m[k])
        for m in case.get("medications") or []
        if isinstance(m, dict)
        for k in ("started", "stopped")
        if m.get(k)
    }
    baseline = (
        (case.get("activity") or {}).get("baseline") if isinstance(case.get("activity"), dict) else None
    )
    if isinstance(baseline, dict) and baseline.get("date"):
        dates.add(str(baseline["date"]))
    for key in ("title", "source"):
        if isinstance(case.get(key), str) and case[key].strip():
            notes.append(case[key])

    def text(s: str) -> str:
        for note in sorted(notes, key=len, reverse=True):
            s = s.replace(f" ({note})", "")  # how lesion notes are quoted in evidence text
            if len(note) >= 12:  # a short note ("red") would hit ordinary words
                s = s.replace(note, "[withheld]")
        for d in dates:
            s = s.replace(d, d[:4])
        return s

    def walk(x: Any, key: str | None = None) -> Any:
        if isinstance(x, dict):
            return {k: walk(v, k) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, str):
            return x[:4] if key in _DATE_KEYS and len(x) >= 4 and x[:4].isdigit() else text(x)
        return x

    out: dict[str, Any] = walk(assessment)
    out["case_id"] = pseudonym
    out["title"] = None
    return out
