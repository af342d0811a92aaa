"""The stored assessment (its JSON, as a visit keeps it) in the shape the visit page shows.

The page is the compact view; the full evidence with numbered sources is the downloadable report
(``report.html.render_html``). Everything here reads the stored JSON defensively (``.get``): a
visit stored by an older ifnscope may lack a key, and the page must still open.
"""

from __future__ import annotations

import re
from typing import Any

from ifnscope.clinical.base import SEVERITY_ORDER
from ifnscope.clinical.screening import TEST_STATUS_WORDS
from ifnscope.clinical.triggers import STATUS_WORDS as TRIGGER_STATUS_WORDS
from ifnscope.criteria import CRITERIA_SETS


def words(s: Any) -> str:
    return str(s or "").replace("_", " ")


def first_sentence(message: str, limit: int = 220) -> str:
    first = re.split(r"(?<=[a-z0-9)%])\.\s+(?=[A-Z])", message or "", maxsplit=1)[0].rstrip(".")
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0] + " …"
    return first + ("." if not first.endswith("…") else "")


def _short(key: str) -> str:
    return CRITERIA_SETS[key].short if key in CRITERIA_SETS else words(key)


def _verdicts(crit: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    iim = crit.get("eular_acr_iim_2017")
    if iim:
        cat = iim.get("category")
        word = "criteria not met" if cat == "not_met" else f"{cat} IIM"
        text = f"score {iim.get('score', 0):g}"
        if iim.get("probability") is not None:
            text += f" (≈{iim['probability']:.0%})"
        if iim.get("subgroup"):
            text += f", {words(iim['subgroup'])}"
        text += ", with muscle biopsy" if iim.get("biopsy") else ", without muscle biopsy"
        out.append(
            {
                "key": "eular_acr_iim_2017",
                "set": _short("eular_acr_iim_2017"),
                "word": word,
                "text": text,
                "met": bool(iim.get("classified")),
            }
        )
    cadm = crit.get("sontheimer_cadm")
    if cadm:
        cat = cadm.get("category")
        out.append(
            {
                "key": "sontheimer_cadm",
                "set": _short("sontheimer_cadm"),
                "word": words(cat),
                "text": cadm.get("explanation", ""),
                "met": cat in ("amyopathic", "hypomyopathic"),
            }
        )
    sle = crit.get("eular_acr_sle_2019")
    if sle:
        entry = {"present": "entry criterion met", "absent": "entry criterion not met"}.get(
            sle.get("entry_status"), "entry criterion not recorded (ANA)"
        )
        out.append(
            {
                "key": "eular_acr_sle_2019",
                "set": _short("eular_acr_sle_2019"),
                "word": "classified" if sle.get("classified") else "not classified",
                "text": f"{entry}; score {sle.get('score', 0)}",
                "met": bool(sle.get("classified")),
            }
        )
    slicc = crit.get("slicc_2012")
    if slicc:
        out.append(
            {
                "key": "slicc_2012",
                "set": _short("slicc_2012"),
                "word": "classified" if slicc.get("classified") else "not classified",
                "text": f"{slicc.get('clinical', 0)} clinical, {slicc.get('immunologic', 0)} immunologic",
                "met": bool(slicc.get("classified")),
            }
        )
    dle = crit.get("dle_2020")
    if dle:
        word = "meets ≥7" if dle.get("meets_7") else ("meets ≥5" if dle.get("meets_5") else "below 5")
        out.append(
            {
                "key": "dle_2020",
                "set": _short("dle_2020"),
                "word": word,
                "text": f"score {dle.get('score', 0)}",
                "met": bool(dle.get("meets_5")),
            }
        )
    return out


def _items(res: dict[str, Any]) -> dict[str, Any]:
    """Items that count, and unrecorded items whose value would change the result."""
    decisive = {w.get("fact") for w in res.get("what_if") or []}
    rows, absent, unknown = [], 0, 0
    for it in res.get("items") or []:
        is_decisive = it.get("status") == "unknown" and decisive & set(it.get("facts") or [])
        if not it.get("counted") and not is_decisive:
            if it.get("status") == "unknown":
                unknown += 1
            else:
                absent += 1
            continue
        rows.append(
            {
                "label": it.get("label", ""),
                "points": "" if it.get("points") is None else f"{it['points']:g}",
                "counted": bool(it.get("counted")),
                "status": "counted" if it.get("counted") else "not recorded: decisive",
                "because": it.get("because", ""),
            }
        )
    return {"rows": rows, "absent": absent, "unknown": unknown}


def _note(n: Any) -> str:
    """A caveat or note: text, or an object with its ``text``."""
    if isinstance(n, dict):
        return str(n.get("text") or n.get("message") or "")
    return str(n or "")


def _criteria(crit: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    met = {v["key"] for v in _verdicts(crit) if v["met"]}
    for key, res in crit.items():
        block: dict[str, Any] = {
            "key": key,
            "met": key in met,
            "set": _short(key),
            "title": res.get("title", ""),
            "what_if": res.get("what_if") or [],
            "steps": res.get("steps") or [],
            "notes": [_note(n) for n in [*(res.get("caveats") or []), *(res.get("notes") or [])] if _note(n)],
        }
        block.update(_items(res))
        out.append(block)
    return out


def _unknowns(a: dict[str, Any]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for u in a.get("unknowns") or []:
        groups.setdefault(tuple(u.get("would_change") or []), []).append(u)
    for w in (a.get("differential") or {}).get("what_if") or []:
        groups.setdefault((f"CLE vs DM: {w.get('result')}",), []).append(w)
    return [
        {
            "findings": [{"label": u.get("label", ""), "record_at": u.get("record_at", "")} for u in us],
            "changes": list(changes),
        }
        for changes, us in groups.items()
    ]


def _flags(a: dict[str, Any]) -> list[dict[str, Any]]:
    flags = sorted(a.get("flags") or [], key=lambda f: SEVERITY_ORDER.get(f.get("severity"), 3))
    return [
        {
            "severity": f.get("severity", "info"),
            "code": f.get("code", ""),
            "short": first_sentence(f.get("message", "")),
            "message": f.get("message", ""),
            "evidence": f.get("evidence") or [],
            "source": f.get("source", ""),
        }
        for f in flags
    ]


def _derived(a: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for name, f in (a.get("findings") or {}).items():
        if f.get("origin") == "derived":
            out.append({"name": name, "value": f.get("value", ""), "detail": f.get("detail", "")})
    return out


def _differential(a: dict[str, Any]) -> dict[str, Any]:
    d = a.get("differential") or {}

    def feats(key: str) -> list[dict[str, str]]:
        return [
            {"label": x.get("label", ""), "because": x.get("because", ""), "note": x.get("note") or ""}
            for x in d.get(key) or []
        ]

    return {
        "favours": d.get("favours", "indeterminate"),
        "summary": d.get("summary", ""),
        "for_dm": feats("features_for_dermatomyositis"),
        "for_lupus": feats("features_for_lupus"),
        "not_discriminating": feats("not_discriminating"),
        "not_recorded": [_label(x) for x in d.get("not_recorded") or []],
    }


def _label(x: Any) -> str:
    return str(x.get("label", "")) if isinstance(x, dict) else str(x)


def _triggers(a: dict[str, Any]) -> dict[str, Any]:
    ts = a.get("trigger_screen") or {}

    def row(t: dict[str, Any]) -> dict[str, Any]:
        return {
            "agent": t.get("agent", ""),
            "recorded_as": t.get("recorded_as", ""),
            "disease": words(t.get("disease")),
            "presentation": t.get("presentation", ""),
            "status": TRIGGER_STATUS_WORDS.get(t.get("status", ""), words(t.get("status"))),
            "strong": t.get("status") == "suspected",
            "timing": t.get("timing", ""),
            "evidence": t.get("evidence", ""),
        }

    return {
        "rows": [row(t) for t in a.get("triggers") or []],
        "set_aside": [row(t) for t in ts.get("set_aside") or []],
        "unknowns": ts.get("unknowns") or [],
    }


def _screening(a: dict[str, Any]) -> dict[str, Any]:
    sc = a.get("screening") or {}
    c = sc.get("cancer") or {}
    lung = sc.get("lung") or {}
    return {
        "applies": c.get("applies"),
        "why": c.get("why", ""),
        "category_note": c.get("category_note", ""),
        "counting_rule": c.get("counting_rule", ""),
        "panels": [
            {
                "label": p.get("label", ""),
                "for": p.get("recommended_for", ""),
                "recorded": p.get("recorded", 0),
                "applicable": p.get("applicable", 0),
                "note": p.get("note") or "",
                "tests": [
                    {
                        "label": t.get("label", ""),
                        "status": TEST_STATUS_WORDS.get(t.get("status", ""), words(t.get("status"))),
                        "kind": t.get("status", ""),
                        "detail": t.get("detail") or "",
                    }
                    for t in p.get("tests") or []
                ],
            }
            for p in c.get("panels") or []
        ]
        if c.get("applies") != "no"
        else [],
        "other": [
            f"{o.get('label')}: {TEST_STATUS_WORDS.get(o.get('status', ''), o.get('status'))}"
            for o in c.get("other_tests_recorded") or []
        ],
        "additional": c.get("additional") or [],
        "lung_advice": lung.get("advice") or [],
        "lung_unknowns": lung.get("unknowns") or [],
    }


def _therapy(a: dict[str, Any]) -> dict[str, Any]:
    t = a.get("therapy") or {}
    path = t.get("ifn_pathway") or {}
    level_label = {lv.get("level"): lv.get("label") for lv in path.get("levels") or []}
    return {
        "context": (t.get("context") or {}).get("classified_as") or [],
        "picture": (t.get("context") or {}).get("picture"),
        "history": [
            {
                "recorded_as": h.get("recorded_as", ""),
                "read_as": h.get("agent_label") or h.get("read_as", ""),
                "status": h.get("status_text", ""),
                "failed": bool(h.get("counts_as_failed")),
                "level": level_label.get(h.get("pathway_level"), words(h.get("pathway_level"))) or "—",
            }
            for h in t.get("history") or []
        ],
        "options": [
            {
                "label": o.get("label", ""),
                "position": o.get("position_label", ""),
                "level": o.get("pathway_label", ""),
                "ifn": o.get("pathway_level") not in (None, "not_ifn_specific"),
                "approval": o.get("approval_status", ""),
                "trial": o.get("key_trial") or "",
                "notes": [*(o.get("eligibility_notes") or []), *(o.get("cautions") or [])],
            }
            for o in t.get("options_not_tried") or []
        ],
        "summary": path.get("summary", ""),
        "disclaimer": t.get("disclaimer", ""),
    }


def _activity(a: dict[str, Any]) -> list[dict[str, Any]]:
    act = a.get("activity") or {}
    out = []
    for key in ("cdasi", "clasi"):
        idx = act.get(key)
        if not idx:
            continue
        rng = idx.get("activity_range") or [idx.get("activity"), idx.get("activity")]
        drng = idx.get("damage_range") or [idx.get("damage"), idx.get("damage")]
        out.append(
            {
                "short": idx.get("short", key.upper()),
                "activity": f"{rng[0]}" if rng[0] == rng[1] else f"{rng[0]}–{rng[1]}",
                "activity_max": idx.get("activity_max"),
                "damage": f"{drng[0]}" if drng[0] == drng[1] else f"{drng[0]}–{drng[1]}",
                "damage_max": idx.get("damage_max"),
                "band": idx.get("band_label") or "",
                "complete": bool(idx.get("complete")),
                "unscored": len(idx.get("unscored") or []),
            }
        )
    return out


def assessment_view(a: dict[str, Any]) -> dict[str, Any]:
    """Everything the visit page shows, from the stored assessment JSON."""
    crit = a.get("criteria") or {}
    return {
        "disclaimer": a.get("disclaimer", ""),
        "version": a.get("ifnscope_version", ""),
        "verdicts": _verdicts(crit),
        "differential": _differential(a),
        "activity": _activity(a),
        "flags": _flags(a),
        "unknowns": _unknowns(a),
        "derived": _derived(a),
        "conflicts": a.get("conflicts") or [],
        "near_misses": [m.get("message", "") for m in a.get("near_misses") or [] if isinstance(m, dict)],
        "criteria": _criteria(crit),
        "triggers": _triggers(a),
        "screening": _screening(a),
        "therapy": _therapy(a),
    }
