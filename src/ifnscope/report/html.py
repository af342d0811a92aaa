"""The clinician's report: one self-contained HTML document for a case, and its PDF.

A clinician should get the picture in two minutes, so the order is fixed: the header (case,
patient, disclaimer), an *at a glance* box (one line per criteria set, the CLE-vs-DM verdict,
activity, flags by severity, the few unrecorded findings that would change a result), then the
evidence section by section (criteria, differential, activity, triggers, screening, therapy,
the draft letter when asked for), the rules not verified, and the numbered sources.

The HTML has inline CSS and nothing else: no script, no font, image or stylesheet to fetch, so
the file can be mailed, archived or printed as it is. Citations keep their URLs as plain links.
Everything shown comes from the :class:`~ifnscope.assessment.Assessment`; this module only
chooses, orders and words it. Citation numbers are given in order of first citation in the
body; every reference the assessment rests on is listed, cited in the body or not.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from ifnscope import __version__
from ifnscope.activity.compare import OUTCOME_WORDS
from ifnscope.assessment import Assessment, assess
from ifnscope.case.model import Case
from ifnscope.case.reader import load_case
from ifnscope.clinical.base import SEVERITY_ORDER, Flag
from ifnscope.clinical.letter import Letter, build_letter
from ifnscope.clinical.screening import TEST_STATUS_WORDS
from ifnscope.clinical.therapy import on_ifn_pathway
from ifnscope.clinical.triggers import STATUS_WORDS as TRIGGER_STATUS_WORDS
from ifnscope.criteria import CRITERIA_SETS
from ifnscope.criteria.base import ItemResult, WhatIfChange
from ifnscope.errors import ReportError
from ifnscope.provenance import CONFIDENCE_WORDS, Reference
from ifnscope.report.terminal import all_references

__all__ = ["ReportError", "render_html", "render_pdf", "write_report"]


# ------------------------------------------------------------------------------------ words

_TRI = {"present": "yes", "absent": "no", "unknown": "not recorded"}
# In the panel tables a result reads "done: negative"; elsewhere the plain words are used.
_TEST_WORD = {**TEST_STATUS_WORDS, "negative": "done: negative", "positive": "done: POSITIVE"}
_APPROVAL_WORD = {
    "approved_for_indication": "approved for this indication",
    "approved_other_indication": "approved for another indication only",
    "not_approved": "not approved",
    "not_applicable": "not a drug",
}
_ULN = re.compile(r"\s+above the upper limit of normal\b")
_URL = re.compile(r"(https?://[^\s<>\"]*[^\s<>\".,;:)\]](?:\.\.\.)?|doi:\s?10\.[^\s<>\"]*[^\s<>\".,;:)\]])")


def _words(s: str | None) -> str:
    return (s or "").replace("_", " ")


def _capital(s: str) -> str:
    return s[:1].upper() + s[1:]


def _join_or(items: Sequence[str]) -> str:
    items = list(dict.fromkeys(items))
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


def _short_label(label: str) -> str:
    """Shorter wording for the glance box and the evidence columns ('… above the upper limit of
    normal' -> '… > ULN'); the labels in the criteria tables keep the full wording."""
    return _ULN.sub(" > ULN", label)


def _short_message(message: str, limit: int = 150) -> str:
    """The first sentence of a flag message, cut at a clause if it is still long."""
    first = re.split(r"(?<=[a-z0-9)%])\.\s+(?=[A-Z])", message, maxsplit=1)[0].rstrip(".")
    if len(first) <= limit:
        return first + "."
    for sep in (": ", "; ", ", and "):
        cut = first.find(sep)
        if 40 <= cut <= limit:
            return first[:cut] + " …"
    return first[:limit].rsplit(" ", 1)[0] + " …"


def _span(r: Sequence[int] | None) -> str:
    if r is None:
        return "?"
    return f"{r[0]}" if r[0] == r[1] else f"{r[0]}–{r[1]}"


def _signed(r: Sequence[int] | None) -> str:
    if r is None:
        return "?"
    return f"{r[0]:+d}" if r[0] == r[1] else f"{r[0]:+d} to {r[1]:+d}"


def _linkify(text: str) -> Markup:
    """Escape a citation and turn its URLs and DOIs into plain links."""
    out: list[Markup] = []
    for i, part in enumerate(_URL.split(text)):
        if i % 2 == 0:
            out.append(escape(part))
        elif part.startswith("doi:"):
            doi = part[4:].strip()
            out.append(Markup('<a href="https://doi.org/{}">{}</a>').format(doi, part))
        else:
            out.append(Markup('<a href="{}">{}</a>').format(part, _short_url(part)))
    return Markup("").join(out)


def _short_url(url: str) -> str:
    """A URL as printed: its host, with '/…' when there is a path (the link keeps it whole)."""
    bare = url.split("://", 1)[-1]
    host, _, path = bare.partition("/")
    host = host.removeprefix("www.")
    return f"{host}/…" if path.strip("/") else host


# -------------------------------------------------------------------------------- citations


class _Sources:
    """Numbers sources in order of first citation; keeps every confidence tag a source was read at."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def cite(self, refs: Iterable[Reference | None]) -> Markup:
        nums: list[int] = []
        for r in refs:
            if r is None:
                continue
            e = self.entries.get(r.source)
            if e is None:
                e = self.entries[r.source] = {
                    "n": len(self.entries) + 1,
                    "citation": r.citation,
                    "tags": set(),
                }
            e["tags"].add(r.confidence)
            nums.append(e["n"])
        return _cite_mark(nums)

    def number(self, ref: Reference) -> int:
        """The number of one source (numbering it if it is new)."""
        self.cite([ref])
        return int(self.entries[ref.source]["n"])

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "n": e["n"],
                "id": sid,
                "citation": _linkify(e["citation"]),
                "tags": "/".join(sorted(e["tags"])),
                "unverified": e["tags"] == {"U"},
            }
            for sid, e in self.entries.items()
        ]


def _cite_mark(nums: Iterable[int]) -> Markup:
    """Citation numbers as a superscript, runs compressed ([1–3,5]), each linked to its source."""
    runs: list[list[int]] = []
    for n in sorted(set(nums)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    if not runs:
        return Markup("")

    def link(n: int) -> Markup:
        return Markup('<a href="#src-{0}">{0}</a>').format(n)

    parts: list[Markup] = []
    for first, last in runs:
        if last == first:
            parts.append(link(first))
        elif last == first + 1:
            parts += [link(first), link(last)]
        else:
            parts.append(link(first) + Markup("–") + link(last))
    return Markup('<sup class="cite">[{}]</sup>').format(Markup(",").join(parts))


# ----------------------------------------------------------------------------- the glance


def _verdict(key: str, res: Any) -> dict[str, Any]:
    """One criteria set in words: the verdict, and whether it classifies (for emphasis only)."""
    short = CRITERIA_SETS[key].short
    if key == "eular_acr_iim_2017":
        word = "criteria not met" if res.category == "not_met" else f"{res.category} IIM"
        text = f"score {res.score:g} (≈{res.probability:.0%})"
        if res.subgroup:
            text += f", {_words(res.subgroup)}"
        return {"set": short, "word": word, "text": text, "met": bool(res.classified)}
    if key == "sontheimer_cadm":
        met = res.category in ("amyopathic", "hypomyopathic")
        text = res.explanation[:1].lower() + res.explanation[1:]
        return {"set": short, "word": _words(res.category), "text": text, "met": met}
    if key == "eular_acr_sle_2019":
        entry = {"present": "entry criterion met", "absent": "entry criterion not met"}.get(
            res.entry_status, "entry criterion not recorded (ANA)"
        )
        word = "classified" if res.classified else "not classified"
        return {"set": short, "word": word, "text": f"{entry}; score {res.score}", "met": res.classified}
    if key == "slicc_2012":
        word = "classified" if res.classified else "not classified"
        text = f"{res.clinical} clinical, {res.immunologic} immunologic"
        return {"set": short, "word": word, "text": text, "met": res.classified}
    if key == "dle_2020":
        word = "meets ≥7" if res.meets_7 else ("meets ≥5" if res.meets_5 else "below 5")
        return {"set": short, "word": word, "text": f"score {res.score}", "met": res.meets_5}
    return {"set": short, "word": CRITERIA_SETS[key].verdict(res), "text": "", "met": False}


def _unknown_groups(a: Assessment) -> list[dict[str, Any]]:
    """Unrecorded findings grouped by what recording them present would change."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for u in a.unknowns:
        groups.setdefault(tuple(u.would_change), []).append(u.label)
    for ch in a.differential.what_if:
        groups.setdefault((f"CLE vs DM: {ch.result}",), []).append(ch.label)
    return [
        {"findings": _join_or([_short_label(x) for x in labels]), "changes": list(changes)}
        for changes, labels in groups.items()
    ]


def _activity_line(idx: Any) -> str:
    text = f"{idx.short} activity {_span(idx.activity_range)} of {idx.activity_max}"
    if idx.band_label:
        text += f" ({idx.band_label})"
    elif idx.band_if_complete_could_be:
        labels = {b.id: b.label for b in idx.bands}
        text += f" (band undetermined: {' or '.join(labels[b] for b in idx.band_if_complete_could_be)})"
    text += f", damage {_span(idx.damage_range)} of {idx.damage_max}"
    if not idx.complete:
        text += f"; {len(idx.unscored)} not scored"
    return text


def _change_line(c: Any) -> str:
    if c.activity_change is None:
        return c.summary
    verdicts = "; ".join(
        f"{v.label.replace('Minimal clinically important difference', 'MCID')}: {OUTCOME_WORDS[v.outcome]}"
        for v in c.verdicts
    )
    was, now = _span(c.baseline_activity), _span(c.followup_activity)
    text = f"{c.index} {was} → {now} ({_signed(c.activity_change)})"
    return f"{text}: {verdicts}" if verdicts else text


def _glance(a: Assessment, flag_section: dict[int, str]) -> dict[str, Any]:
    activity: list[str] = []
    if a.activity is not None:
        for idx in (a.activity.cdasi, a.activity.clasi):
            if idx is not None:
                activity.append(_activity_line(idx))
        ch = a.activity.change
        if ch is not None:
            since = f"since {ch.baseline_date}" if ch.baseline_date else "since baseline"
            for c in (ch.cdasi, ch.clasi):
                if c is not None:
                    activity.append(f"Change {since}: {_change_line(c)}")
    flags = sorted(a.flags, key=lambda f: SEVERITY_ORDER[f.severity])
    groups = _unknown_groups(a)
    c = a.screening.cancer
    if c.applies == "no":
        cancer = f"does not apply ({c.why})"
    else:
        panels = "; ".join(f"{p.label.lower()} {p.recorded} of {p.applicable} recorded" for p in c.panels)
        applies = "applies" if c.applies == "yes" else "may apply"
        cancer = f"{applies} ({c.why}): {panels}; risk category not computed"
    t = a.therapy
    n = len(t.history)
    therapy = (
        f"{n} medication{'' if n == 1 else 's'} recorded, "
        f"{len(t.failed)} with inadequate response or intolerance"
    )
    if t.ifn_pathway.targeted:
        level = {lv.level: lv.label for lv in t.ifn_pathway.levels}
        therapy += "; type I IFN pathway targeted at: " + ", ".join(level[x] for x in t.ifn_pathway.targeted)
    else:
        therapy += "; no level of the type I IFN pathway targeted yet"
    nxt = [o.label for o in t.options_not_tried[:3]]
    if nxt:
        therapy += f". First options in the ladder not recorded as tried: {', '.join(nxt)}"
    return {
        "criteria": [_verdict(k, r) for k, r in a.criteria.items()],
        "differential": a.differential.summary,
        "activity": activity,
        "flags": [
            {
                "severity": f.severity,
                "code": f.code,
                "text": _short_message(f.message),
                "section": flag_section.get(id(f), ""),
            }
            for f in flags
        ],
        "unknowns": groups[:5],
        "unknowns_more": max(0, len(groups) - 5),
        "cancer": cancer,
        "therapy": therapy,
    }


# ------------------------------------------------------------------------------- sections


def _flag_view(f: Flag, src: _Sources) -> dict[str, Any]:
    return {
        "severity": f.severity,
        "code": f.code,
        "message": f.message,
        "evidence": f.evidence,
        "cites": src.cite(f.references),
    }


def _item_rows(
    items: list[ItemResult], decisive: set[str], src: _Sources
) -> tuple[list[dict[str, Any]], str]:
    """Items that count, and unknown items whose value would change the result; the rest counted."""
    rows: list[dict[str, Any]] = []
    absent = unknown = 0
    for it in items:
        if not it.counted and not (it.status == "unknown" and decisive & set(it.facts)):
            if it.status == "unknown":
                unknown += 1
            else:
                absent += 1
            continue
        rows.append(
            {
                "label": it.label,
                "points": "" if it.points is None else f"{it.points:g}",
                "status": "counted"
                if it.counted
                else ("not recorded, decisive" if it.status == "unknown" else _TRI[it.status]),
                "counted": it.counted,
                "because": _short_label(it.because),
                "cites": src.cite([it.reference]),
            }
        )
    rest = []
    if absent:
        rest.append(f"{absent} recorded absent or not met")
    if unknown:
        rest.append(f"{unknown} not recorded, none of which alone would change the result")
    return rows, ("Other items: " + "; ".join(rest) + ".") if rest else ""


def _what_if(changes: list[WhatIfChange]) -> list[dict[str, str]]:
    """What-if changes grouped by the result they would give (one line per result)."""
    by_result: dict[str, list[WhatIfChange]] = {}
    for c in changes:
        by_result.setdefault(c.result, []).append(c)
    return [
        {
            "label": _join_or([_short_label(c.label) for c in cs]),
            "result": result,
            "record_at": ", ".join(dict.fromkeys(c.record_at for c in cs)),
        }
        for result, cs in by_result.items()
    ]


def _criteria(a: Assessment, src: _Sources) -> list[dict[str, Any]]:
    out = []
    for key, res in a.criteria.items():
        decisive = {c.fact for c in getattr(res, "what_if", [])}
        block: dict[str, Any] = {
            "key": key,
            "title": res.title,
            "verdict": _verdict(key, res),
            "cites": src.cite(res.references),
            "lines": [],
            "steps": [],
            "rows": [],
            "rest": "",
            "what_if": _what_if(getattr(res, "what_if", [])),
            "caveats": [],
            "notes": [],
            "unverified": [" ".join(u.split()) for u in getattr(res, "unverified", [])]
            + [" ".join(u.split()) for u in getattr(res, "not_applied", [])],
            "use_when": getattr(res, "use_when", ""),
        }
        if key == "eular_acr_iim_2017":
            th = res.thresholds
            block["lines"].append(
                f"Score {res.score:g}, weights {'with' if res.biopsy else 'without'} muscle biopsy. "
                f"Cut-offs: possible ≥{th['possible']:g}, probable ≥{th['probable']:g}, "
                f"definite ≥{th['definite']:g}. Probability ≈{res.probability:.0%} ({res.probability_note})."
            )
            if res.subgroup_path:
                path = " → ".join(f"{s.question}: {_TRI[s.answer]}" for s in res.subgroup_path)
                cite = src.cite([res.subgroup_reference])
                block["lines"].append(
                    Markup("Subgroup: {} → <b>{}</b>{}").format(path, _words(res.subgroup), cite)
                )
            block["caveats"] = [{"text": c.text, "cites": src.cite(c.references)} for c in res.caveats]
        elif key == "sontheimer_cadm":
            block["steps"] = [
                {
                    "question": s.question,
                    "answer": _TRI.get(s.answer, _words(s.answer)),
                    "because": _short_label(s.because),
                    "cites": src.cite([s.reference]),
                }
                for s in res.steps
            ]
            block["lines"].append(res.explanation)
            if res.to_decide:
                block["lines"].append("To decide, record: " + ", ".join(res.to_decide) + ".")
        elif key == "eular_acr_sle_2019":
            block["lines"].append(f"Entry criterion (ANA ≥1:80): {res.entry_because}.")
            block["lines"].append(
                f"Score {res.score} in {res.clinical_domains_counted} clinical domain(s); classifies at "
                f"≥{res.threshold} with at least one clinical criterion."
            )
            block["notes"] = list(res.notes)
        elif key == "slicc_2012":
            route = f"; route: {res.route}" if res.route else ""
            block["lines"].append(
                f"{res.clinical} clinical and {res.immunologic} immunologic criteria{route}"
                f"{'; biopsy-proven nephritis route met' if res.nephritis_route_met else ''}."
            )
        elif key == "dle_2020":
            block["lines"].append(
                "; ".join(
                    f"≥{c.min_score}: {'met' if c.met else 'not met'} ({c.performance})" for c in res.cutoffs
                )
                + "."
            )
        if hasattr(res, "items") and key != "sontheimer_cadm":
            block["rows"], block["rest"] = _item_rows(res.items, decisive, src)
        block["compact"] = not (block["rows"] or block["steps"] or block["what_if"] or block["caveats"])
        out.append(block)
    return out


def _lesions(a: Assessment) -> dict[str, list[str]]:
    derived = []
    for name in a.derived_findings:
        f = a.findings.get(name)
        if f is None or f.origin != "derived":
            continue
        where = "; ".join(f"lesion {lr.number} ({lr.text})" for lr in f.lesions)
        derived.append(f"{_capital(_words(name))} from {where}")
    return {"derived": derived, "conflicts": list(a.conflicts), "near": [m.message for m in a.near_misses]}


def _differential(a: Assessment, src: _Sources) -> dict[str, Any]:
    d = a.differential

    def feats(fs: list[Any]) -> list[dict[str, Any]]:
        return [
            {
                "label": f.label,
                "tier": {"criteria": "criteria item", "specific": "specific antibody"}.get(f.tier, f.tier),
                "because": f.because,
                "note": f.note,
                "cites": src.cite(f.references),
            }
            for f in fs
        ]

    by_result: dict[str, list[str]] = {}
    for ch in d.what_if:
        by_result.setdefault(ch.result, []).append(ch.label)
    return {
        "favours": d.favours,
        "mixed": d.mixed,
        "summary": d.summary,
        "dm": feats(d.features_for_dermatomyositis),
        "lupus": feats(d.features_for_lupus),
        "not_weighed": feats(d.not_discriminating),
        "recorded_absent": d.recorded_absent,
        "not_recorded": [x for x in d.not_recorded if x not in {c.label for c in d.what_if}],
        "what_if": [{"result": r, "labels": ", ".join(ls)} for r, ls in by_result.items()],
        "tests": [
            {
                "test": t.test,
                "why": t.why,
                "could_change": t.could_change_verdict,
                "cites": src.cite([t.reference]),
            }
            for t in d.tests_that_would_help
        ],
        "rule": d.rule,
        "rule_cites": src.cite([d.rule_reference]),
    }


def _activity(a: Assessment, src: _Sources) -> dict[str, Any] | None:
    act = a.activity
    if act is None:
        return None
    indices = []
    unverified: list[str] = []
    for idx in (act.cdasi, act.clasi):
        if idx is None:
            continue
        areas = [
            {
                "label": ar.label,
                "activity": _span(ar.activity_range) if ar.scored else "not scored",
                "damage": _span(ar.damage_range) if ar.scored else "not scored",
                "scored": ar.scored and not ar.unscored_items,
            }
            for ar in idx.areas
        ]
        half = (len(areas) + 1) // 2
        pairs = [(areas[i], areas[i + half] if i + half < len(areas) else None) for i in range(half)]
        items = [
            {
                "label": it.label,
                "part": it.part,
                "value": "not scored" if it.value is None else f"{it.value} of {it.max}",
                "cites": src.cite([it.reference]),
            }
            for it in idx.items
        ]
        band = idx.band_label
        if band is None:
            labels = {b.id: b.label for b in idx.bands}
            band = "undetermined: " + " or ".join(labels[b] for b in idx.band_if_complete_could_be)
        doubled = getattr(idx, "dyspigmentation_doubled", None)
        indices.append(
            {
                "short": idx.short,
                "title": idx.title,
                "cites": src.cite(idx.references),
                "activity": _span(idx.activity_range),
                "activity_max": idx.activity_max,
                "damage": _span(idx.damage_range),
                "damage_max": idx.damage_max,
                "damage_verified": idx.damage_verified,
                "complete": idx.complete,
                "unscored": len(idx.unscored),
                "band": band,
                "band_rule": idx.band_rule,
                "band_cites": src.cite([idx.band_reference]),
                "cut_offs": [{"text": c.text, "cites": src.cite([c.reference])} for c in idx.cut_offs],
                "thresholds": [
                    {"label": t.label, "text": t.text, "cites": src.cite([t.reference])}
                    for t in idx.thresholds
                ],
                "pairs": pairs,
                "extra": items,
                "doubled": doubled,
                "anchors_note": idx.anchors_note,
            }
        )
        unverified += idx.unverified
    change = None
    if act.change is not None:
        ch = act.change
        rows = []
        for c in (ch.cdasi, ch.clasi):
            if c is None:
                continue
            pct = ""
            if c.activity_change_percent is not None:
                lo, hi = c.activity_change_percent
                pct = f"{lo:+.0f}%" if lo == hi else f"{lo:+.0f}% to {hi:+.0f}%"
            rows.append(
                {
                    "index": c.index,
                    "summary": c.summary if c.activity_change is None else "",
                    "baseline": _span(c.baseline_activity),
                    "followup": _span(c.followup_activity),
                    "change": _signed(c.activity_change),
                    "percent": pct,
                    "damage": (
                        f"{_span(c.baseline_damage)} → {_span(c.followup_damage)} "
                        f"({_signed(c.damage_change)})"
                        if c.damage_change is not None
                        else "not compared"
                    ),
                    "damage_note": c.damage_note,
                    "verdicts": [
                        {
                            "label": v.label,
                            "outcome": OUTCOME_WORDS[v.outcome],
                            "kind": v.outcome,
                            "why": v.why,
                            "cites": src.cite(v.references),
                        }
                        for v in c.verdicts
                    ],
                }
            )
        change = {
            "since": ch.baseline_date or "the baseline visit",
            "rows": rows,
            "notes": ch.notes,
            "tis": {"label": ch.tis.label, "why": ch.tis.why, "cites": src.cite(ch.tis.references)},
        }
        unverified += ch.unverified
    return {
        "indices": indices,
        "change": change,
        "unverified": list(dict.fromkeys(" ".join(u.split()) for u in unverified)),
    }


def _triggers(a: Assessment, src: _Sources) -> dict[str, Any]:
    ts = a.trigger_screen

    def row(t: Any) -> dict[str, Any]:
        return {
            "agent": t.agent,
            "recorded_as": t.recorded_as,
            "disease": t.disease,
            "status": TRIGGER_STATUS_WORDS.get(t.status, _words(t.status)),
            "strong": t.status == "suspected",
            "presentation": t.presentation,
            "timing": t.timing,
            "evidence": t.evidence,
            "strength": {
                "population": "population study",
                "series": "case series",
                "reports": "case reports",
            }.get(t.strength, t.strength),
            "latency": t.latency,
            "fits": t.fits_picture,
            "cites": src.cite(t.references),
        }

    return {
        "rows": [row(t) for t in a.triggers],
        "set_aside": [row(t) for t in ts.set_aside],
        "medications": len(ts.medications),
        "unrecognised": [r.describe() for r in ts.unrecognised],
        "events_without_rule": ts.events_without_rule,
        "flags": [_flag_view(f, src) for f in ts.flags],
        "unknowns": ts.unknowns,
    }


def _screening(a: Assessment, src: _Sources) -> dict[str, Any]:
    c, lung = a.screening.cancer, a.screening.lung
    panels = [
        {
            "label": p.label,
            "for": p.recommended_for,
            "recorded": p.recorded,
            "applicable": p.applicable,
            "note": p.note,
            "cites": src.cite(p.references),
            "tests": [
                {
                    "label": t.label,
                    "status": _TEST_WORD[t.status],
                    "kind": t.status,
                    "detail": t.detail,
                }
                for t in p.tests
            ],
        }
        for p in c.panels
    ]
    factors: dict[str, list[str]] = {"higher": [], "lower": []}
    unknown_factors: list[str] = []
    for f in c.risk_factors:
        if f.status == "present":
            factors[f.direction].append(f"{f.label} ({f.effect})")
        elif f.status == "unknown":
            unknown_factors.append(f.label)
    cites = src.cite(c.references)
    return {
        "applies": c.applies,
        "why": c.why,
        "scope": c.scope,
        "cites": cites,
        "panels": panels if c.applies != "no" else [],
        "other": [f"{o.label} ({_TEST_WORD[o.status]})" for o in c.other_tests_recorded],
        "higher": factors["higher"],
        "lower": factors["lower"],
        "unknown_factors": unknown_factors,
        "category_note": c.category_note,
        "counting_rule": c.counting_rule,
        "additional": c.additional,
        "lung": {
            "antibodies": lung.risk_antibodies_positive,
            "features": lung.risk_features_present,
            "ild": lung.ild_recorded,
            "advice": lung.advice,
            "unknowns": lung.unknowns,
            "cites": src.cite(lung.references),
        },
        "flags": [_flag_view(f, src) for f in a.screening.flags],
    }


def _approval_detail(code: str, text: str) -> str:
    """The approval text when it says more than the approval word in the table: the approved
    indication, or a filing; not the list of other indications, nor 'no approval found'."""
    if code in ("approved_other_indication", "not_applicable"):
        return ""
    if code == "not_approved" and ";" not in text:
        return ""
    return text


def _therapy(a: Assessment, src: _Sources) -> dict[str, Any]:
    t = a.therapy
    labels = {o.agent: o.label for o in t.options_not_tried}
    labels.update({h.agent: h.agent_label for h in t.history if h.agent and h.agent_label})
    level_labels = {lv.level: lv.label for lv in t.ifn_pathway.levels}

    def names(keys: list[str]) -> str:
        return ", ".join(labels.get(k, _words(k)) for k in keys)

    return {
        "context": t.context.classified_as,
        "picture": t.context.picture,
        "history": [
            {
                "recorded_as": h.recorded_as,
                "read_as": h.agent_label or h.read_as,
                "status": h.status_text,
                "failed": h.counts_as_failed,
                "level": level_labels.get(h.pathway_level, _words(h.pathway_level))
                if h.pathway_level
                else "—",
                "dates": ", ".join(
                    x
                    for x in (
                        h.dose,
                        f"from {h.started}" if h.started else "",
                        f"to {h.stopped}" if h.stopped else "",
                    )
                    if x
                ),
            }
            for h in t.history
        ],
        "unrecognised": [u.message for u in t.unrecognised],
        "options": [
            {
                "label": o.label,
                "position": o.position_label,
                "level": o.pathway_label,
                "ifn": on_ifn_pathway(o.pathway_level),
                "approval": _APPROVAL_WORD[o.approval_code],
                "approval_detail": _approval_detail(o.approval_code, o.approval_status),
                "trial": o.key_trial or "",
                "notes": [*o.eligibility_notes, *o.cautions],
                "cites": src.cite(o.references),
            }
            for o in t.options_not_tried
        ],
        "levels": [
            {
                "label": lv.label,
                "ifn": on_ifn_pathway(lv.level),
                "tried": ", ".join(
                    labels.get(k, _words(k)) + (" (failed)" if k in lv.failed else "") for k in lv.tried
                ),
                "options": names(lv.options),
            }
            for lv in t.ifn_pathway.levels
        ],
        "summary": re.split(r"(?<=\.)\s+(?=[A-Z])", t.ifn_pathway.summary, maxsplit=1)[0],
        "flags": [_flag_view(f, src) for f in t.flags],
        "disclaimer": t.disclaimer,
        "cites": src.cite(t.references),
    }


def _letter(letter: Letter | None, src: _Sources) -> dict[str, Any] | None:
    """The draft letter as sections of paragraphs and lists. Its own references ([1], [2], … in
    its text) point to the report's numbered sources, with the places the letter read."""
    if letter is None:
        return None
    sections = []
    ref_lines: list[str] = []
    for s in letter.sections:
        if s.heading == "Status":
            continue
        if s.heading == "References":
            ref_lines = [p for p in s.paragraphs if p.startswith("[")]
            continue
        blocks: list[dict[str, Any]] = []
        for p in s.paragraphs:
            if p.startswith("- "):
                if not blocks or blocks[-1]["kind"] != "list":
                    blocks.append({"kind": "list", "entries": []})
                blocks[-1]["entries"].append(p[2:])
            else:
                blocks.append({"kind": "p", "text": p})
        sections.append({"heading": s.heading, "blocks": blocks})
    refs = []
    for i, ref in enumerate(letter.references, 1):
        head = f"[{i}] {ref.citation}"
        line = next((x for x in ref_lines if x.startswith(head)), "")
        read = line[len(head) :].lstrip(". ").removeprefix("Read: ")
        short = ref.citation if len(ref.citation) <= 70 else ref.citation[:70].rsplit(" ", 1)[0] + " …"
        refs.append({"n": i, "source": src.number(ref), "short": short, "read": read})
    return {
        "title": letter.title.removesuffix("(DRAFT)").strip(),
        "notice": letter.draft_notice,
        "sections": sections,
        "references": refs,
        "gaps": letter.gaps,
    }


def _unverified(
    a: Assessment, activity: dict[str, Any] | None, sources: list[dict[str, Any]]
) -> dict[str, Any]:
    groups = []
    if a.screening.cancer.unverified:
        groups.append({"part": "Cancer screening (IMACS 2023)", "entries": a.screening.cancer.unverified})
    if activity and activity["unverified"]:
        groups.append({"part": "Skin activity indices", "entries": activity["unverified"]})
    criteria = sum(
        len(getattr(r, "unverified", [])) + len(getattr(r, "not_applied", [])) for r in a.criteria.values()
    )
    u_sources = [s["n"] for s in sources if s["unverified"]]
    links = Markup(", ").join(Markup('<a href="#src-{0}">[{0}]</a>').format(n) for n in u_sources)
    return {"groups": groups, "criteria": criteria, "u_sources": links}


# ------------------------------------------------------------------------------- rendering


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("ifnscope.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["capital"] = _capital
    return env


def _patient_line(case: Case) -> list[str]:
    p, o = case.patient, case.onset
    who = []
    if p.age_years is not None:
        who.append(f"{p.age_years:g} years")
    if p.sex and p.sex != "unknown":
        who.append(p.sex)
    parts = [f"Patient: {', '.join(who) if who else 'age and sex not recorded'}"]
    onset = []
    if o.age_years is not None:
        onset.append(f"at {o.age_years:g} years")
    if o.skin_disease_months is not None:
        onset.append(f"skin disease for {o.skin_disease_months:g} months")
    if o.after:
        onset.append("after " + ", ".join(_words(str(x)) for x in o.after))
    parts.append(f"Onset: {'; '.join(onset) if onset else 'not recorded'}")
    return parts


def render_html(
    assessment: Assessment,
    case: Case,
    *,
    letter: Letter | None = None,
    generated: dt.datetime | None = None,
) -> str:
    """The whole report as one self-contained HTML document (inline CSS, no scripts)."""
    a = assessment
    src = _Sources()
    section_of: dict[int, str] = {}
    for name, flags in (
        ("triggers", a.trigger_screen.flags),
        ("screening", a.screening.flags),
        ("therapy", a.therapy.flags),
    ):
        for f in flags:
            section_of[id(f)] = name
    glance = _glance(a, section_of)
    criteria = _criteria(a, src)
    differential = _differential(a, src)
    activity = _activity(a, src)
    triggers = _triggers(a, src)
    screening = _screening(a, src)
    therapy = _therapy(a, src)
    other_flags = [_flag_view(f, src) for f in a.flags if id(f) not in section_of]
    letter_view = _letter(letter, src)
    src.cite(all_references(a))  # every reference the assessment rests on, cited above or not
    sources = src.listing()
    when = generated or dt.datetime.now().astimezone()
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            a=a,
            case=case,
            title=a.title or a.case_id,
            patient=_patient_line(case),
            generated=when.strftime("%Y-%m-%d %H:%M"),
            version=__version__,
            glance=glance,
            lesions=_lesions(a),
            criteria=criteria,
            differential=differential,
            activity=activity,
            triggers=triggers,
            screening=screening,
            therapy=therapy,
            other_flags=other_flags,
            letter=letter_view,
            unverified=_unverified(a, activity, sources),
            sources=sources,
            confidence=CONFIDENCE_WORDS,
        )
    )


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
    raise ValueError(f"the report is self-contained; refusing to fetch {url}")


def render_pdf(html: str) -> bytes:
    """Print the HTML report to an A4 PDF with WeasyPrint (nothing is fetched from the network)."""
    with warnings.catch_warnings():
        # an optional system library's absence, not the user's concern
        warnings.filterwarnings("ignore", message=".*HarfBuzz-Subset", category=DeprecationWarning)
        from weasyprint import HTML  # slow to import: only when a PDF is asked for

        pdf: bytes = HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
    return pdf


def write_report(
    case_path: str | Path,
    out_path: str | Path | None = None,
    *,
    pdf: bool = False,
    letter_agent: str | None = None,
) -> Path:
    """Load and assess a case, render the report and write it atomically; return the path written.

    ``out_path`` defaults to ``<case file stem>.report.html`` (or ``.pdf``) in the current
    directory; a ``.pdf`` suffix implies ``pdf=True``. The file is written to
    ``<name>.partial`` and renamed, so a failure never leaves a half-written report and never
    replaces an existing one. ``letter_agent`` adds the draft letter of medical necessity for
    that agent (an unknown agent is an :class:`~ifnscope.errors.IfnscopeError`).
    """
    case_file = Path(case_path)
    default = f"{case_file.stem}.report.{'pdf' if pdf else 'html'}"
    out = Path(default if out_path is None else out_path)
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        pdf = True
    elif pdf and suffix in (".html", ".htm"):
        raise ReportError(
            f"a PDF report cannot be written to {out.name}: use a .pdf name",
            code="report.format",
            file=str(out),
        )
    case = load_case(case_file)
    assessment = assess(case)
    letter = build_letter(case, assessment, letter_agent) if letter_agent else None
    html = render_html(assessment, case, letter=letter)
    data = render_pdf(html) if pdf else html.encode("utf-8")
    tmp = out.with_name(out.name + ".partial")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(
            f"could not write the report: {exc.strerror or exc}", code="report.write", file=str(out)
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
