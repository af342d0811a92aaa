"""Build the presentation model from the assessment's JSON contract.

Reading the JSON (``Assessment.to_json_dict()``, the dict a visit stores) rather than the live
objects is what makes the live report and a stored visit render the same. Everything is read
defensively: a visit stored by an older ifnscope may lack a key, and it becomes an empty
section, never an error.

Sources are numbered here, in the order the report first cites them (criteria, differential,
activity, triggers, screening, therapy, the other flags); every reference the assessment rests
on is numbered after them, cited in the body or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from ifnscope.clinical.drugs import Resolution
from ifnscope.clinical.therapy import on_ifn_pathway
from ifnscope.criteria import CRITERIA_SETS
from ifnscope.presentation.model import (
    ActivityView,
    Area,
    AssessmentView,
    ChangeRow,
    ChangeVerdictView,
    ChangeView,
    Cites,
    ClinicianRecord,
    CriteriaView,
    DerivedFinding,
    Differential,
    Evidence,
    Feature,
    FlagView,
    Header,
    HistoryRow,
    IndexItem,
    IndexView,
    ItemRow,
    LevelView,
    Lung,
    Note,
    OptionView,
    PanelView,
    PictureChange,
    Screening,
    SourceView,
    Step,
    Subgroup,
    TestHint,
    TestRow,
    Therapy,
    Threshold,
    Tis,
    TriggerRow,
    Triggers,
    UnknownFinding,
    UnknownGroup,
    UnknownSet,
    Verdict,
    WhatIf,
)
from ifnscope.presentation.words import (
    APPROVAL_WORDS,
    OUTCOME_WORDS,
    SEVERITY_ORDER,
    STRENGTH_WORDS,
    TEST_WORDS,
    TIER_WORDS,
    TRI_WORDS,
    TRIGGER_STATUS_WORDS,
    capital,
    first_sentence,
    join_or,
    short_label,
    signed,
    span,
    words,
)

J = Mapping[str, Any]
IIM, CADM, SLE, SLICC, DLE = (
    "eular_acr_iim_2017",
    "sontheimer_cadm",
    "eular_acr_sle_2019",
    "slicc_2012",
    "dle_2020",
)

# ------------------------------------------------------------------------ reading JSON


def _m(x: Any) -> J:
    return x if isinstance(x, Mapping) else {}


def _ms(x: Any) -> list[J]:
    return [i for i in x if isinstance(i, Mapping)] if isinstance(x, list | tuple) else []


def _s(x: Any, default: str = "") -> str:
    return default if x is None else str(x)


def _ss(x: Any) -> tuple[str, ...]:
    return tuple(str(i) for i in x if i is not None) if isinstance(x, list | tuple) else ()


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _int(x: Any) -> int | None:
    return int(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _range(x: Any, fallback: Any = None) -> list[int] | None:
    """A [low, high] score range; a single number when the range is missing."""
    if isinstance(x, list | tuple) and len(x) == 2 and all(_int(v) is not None for v in x):
        return [int(x[0]), int(x[1])]
    n = _int(fallback)
    return None if n is None else [n, n]


def _g(x: Any) -> str:
    """A number as the report prints it (6.5, 3, ?)."""
    n = _num(x)
    return "?" if n is None else f"{n:g}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------- sources


class _Sources:
    """Numbers sources in order of first citation; keeps every confidence tag a source was cited at."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, str, set[str]]] = {}

    def cite(self, refs: Iterable[Any]) -> Cites:
        nums: set[int] = set()
        for ref in refs:
            r = _m(ref)
            sid = r.get("source")
            if not sid:
                continue
            sid = str(sid)
            entry = self.entries.get(sid)
            if entry is None:
                entry = self.entries[sid] = (len(self.entries) + 1, _s(r.get("citation"), sid), set())
            if r.get("confidence"):
                entry[2].add(str(r["confidence"]))
            nums.add(entry[0])
        return tuple(sorted(nums))

    def listing(self) -> tuple[SourceView, ...]:
        return tuple(
            SourceView(n=n, id=sid, citation=citation, tags="/".join(sorted(tags)), unverified=tags == {"U"})
            for sid, (n, citation, tags) in self.entries.items()
        )


def all_references(a: J) -> list[J]:
    """Every reference the assessment rests on, criteria first, one per source (the last seen)."""
    refs: list[J] = []
    for res in _m(a.get("criteria")).values():
        refs += _ms(_m(res).get("references"))
    d = _m(a.get("differential"))
    refs += _ms(d.get("references")) + _ms([d.get("rule_reference")])
    refs += [r for f in _ms(a.get("flags")) for r in _ms(f.get("references"))]
    refs += [r for t in _triggers_of(a) for r in _ms(t.get("references"))]
    sc = _m(a.get("screening"))
    refs += _ms(_m(sc.get("cancer")).get("references")) + _ms(_m(sc.get("lung")).get("references"))
    act = _m(a.get("activity"))
    for key in ("cdasi", "clasi"):
        refs += _ms(_m(act.get(key)).get("references"))
    refs += _ms(_m(a.get("therapy")).get("references"))
    return list({str(r.get("source")): r for r in refs if r.get("source")}.values())


# --------------------------------------------------------------------------- criteria


def short_name(key: str) -> str:
    """The criteria set's short name ('EULAR/ACR 2017 IIM'); its key in words when unknown."""
    return CRITERIA_SETS[key].short if key in CRITERIA_SETS else words(key)


def latest_line(
    iim_category: str | None, iim_subgroup: str | None, sle_classified: bool | None, favours: str | None
) -> str:
    """A patient list's one line for a visit, from the registry's indexed columns (the IIM
    category and subgroup, SLE 2019 classified, what the skin picture favours)."""
    parts = []
    if iim_category and iim_category != "not_met":
        parts.append(f"{iim_category} IIM" + (f" ({words(iim_subgroup)})" if iim_subgroup else ""))
    if sle_classified:
        parts.append("SLE (2019)")
    if favours and favours != "indeterminate":
        parts.append(f"skin favours {favours}")
    return "; ".join(parts) or "no classification met"


def _met(key: str, r: J) -> bool:
    """Whether the stored result meets its set: the criteria set's own definition, read once."""
    return CRITERIA_SETS[key].met(r) if key in CRITERIA_SETS else bool(r.get("classified"))


def _iim_probability(r: J, category: str) -> str:
    """The approximate probability, and where it and the published score cut-off disagree
    (score 5.5 gives 54.2%, under the 55% that defines probable), which one the category follows."""
    p = float(r["probability"])
    text = f"≈{p:.0%}"
    by_p = r.get("category_by_probability")
    th = {k: v for k, v in _m(r.get("probability_thresholds")).items() if _num(v) is not None}
    if not isinstance(by_p, str) or by_p == category:
        return text
    follows = "the category follows the published score cut-off"
    if category in th and p < th[category]:
        return f"{text}, under the {th[category]:.0%} that defines {words(category)} IIM: {follows}"
    if by_p in th:
        return f"{text}, reaching the {th[by_p]:.0%} of {words(by_p)} IIM: {follows}"
    return text


def verdict(key: str, r: J) -> Verdict:
    """One criteria set in words, and whether it classifies (``met``: CADM and DLE have no
    ``classified`` flag of their own)."""
    short = short_name(key)
    if key == IIM:
        cat = _s(r.get("category"), "not_met")
        word = "criteria not met" if cat == "not_met" else f"{words(cat)} IIM"
        text = f"score {_g(r.get('score'))}"
        if _num(r.get("probability")) is not None:
            text += f" ({_iim_probability(r, cat)})"
        if r.get("subgroup"):
            text += f", {words(r['subgroup'])}"
        return Verdict(key=key, short=short, word=word, text=text, met=_met(key, r))
    if key == CADM:
        cat = _s(r.get("category"), "undetermined")
        explanation = _s(r.get("explanation"))
        text = explanation[:1].lower() + explanation[1:]
        return Verdict(key=key, short=short, word=words(cat), text=text, met=_met(key, r))
    if key == SLE:
        entry = {"present": "entry criterion met", "absent": "entry criterion not met"}.get(
            _s(r.get("entry_status")), "entry criterion not recorded (ANA)"
        )
        met = _met(key, r)
        word = "classified" if met else "not classified"
        return Verdict(key=key, short=short, word=word, text=f"{entry}; score {_g(r.get('score'))}", met=met)
    if key == SLICC:
        met = _met(key, r)
        text = f"{_g(r.get('clinical'))} clinical, {_g(r.get('immunologic'))} immunologic"
        return Verdict(
            key=key, short=short, word="classified" if met else "not classified", text=text, met=met
        )
    if key == DLE:
        word = "meets ≥7" if r.get("meets_7") else ("meets ≥5" if r.get("meets_5") else "below 5")
        text = f"score {_g(r.get('score'))}"
        return Verdict(key=key, short=short, word=word, text=text, met=_met(key, r))
    met = bool(r.get("classified"))
    word = words(r.get("category")) or ("classified" if met else "not classified")
    return Verdict(key=key, short=short, word=word, text="", met=met)


def _item_rows(res: J, src: _Sources) -> tuple[tuple[ItemRow, ...], int, int]:
    """Items that count, and unknown items whose value would change the result; the rest counted."""
    decisive = {w.get("fact") for w in _ms(res.get("what_if"))}
    rows: list[ItemRow] = []
    absent = unknown = 0
    for it in _ms(res.get("items")):
        status = _s(it.get("status"), "unknown")
        is_decisive = status == "unknown" and bool(decisive & set(_ss(it.get("facts"))))
        if not it.get("counted") and not is_decisive:
            if status == "unknown":
                unknown += 1
            else:
                absent += 1
            continue
        counted = bool(it.get("counted"))
        rows.append(
            ItemRow(
                label=_s(it.get("label")),
                points="" if _num(it.get("points")) is None else f"{it['points']:g}",
                status="counted"
                if counted
                else ("not recorded, decisive" if status == "unknown" else TRI_WORDS.get(status, status)),
                counted=counted,
                because=short_label(_s(it.get("because"))),
                cites=src.cite([it.get("reference")]),
            )
        )
    return tuple(rows), absent, unknown


def _what_if(changes: list[J]) -> tuple[WhatIf, ...]:
    """What-if changes grouped by the result they would give (one line per result)."""
    by_result: dict[str, list[J]] = {}
    for c in changes:
        by_result.setdefault(_s(c.get("result")), []).append(c)
    return tuple(
        WhatIf(
            label=join_or([short_label(_s(c.get("label"))) for c in cs]),
            result=result,
            record_at=", ".join(dict.fromkeys(_s(c.get("record_at")) for c in cs)),
        )
        for result, cs in by_result.items()
    )


def _note_text(n: Any) -> str:
    """A caveat or note: text, or an object with its ``text``."""
    if isinstance(n, Mapping):
        return _s(n.get("text") or n.get("message"))
    return _s(n)


def _criteria_set(key: str, res: J, src: _Sources) -> CriteriaView:
    cites = src.cite(_ms(res.get("references")))
    lines: list[str] = []
    subgroup = None
    steps: tuple[Step, ...] = ()
    caveats: tuple[Note, ...] = ()
    if key == IIM:
        th = _m(res.get("thresholds"))
        weights = "with" if res.get("biopsy") else "without"
        line = f"Score {_g(res.get('score'))}, weights {weights} muscle biopsy."
        if th:
            line += " Cut-offs: " + ", ".join(
                f"{k} ≥{_g(th.get(k))}" for k in ("possible", "probable", "definite")
            )
            line += "."
        if _num(res.get("probability")) is not None:
            line += f" Probability ≈{res['probability']:.0%} ({_s(res.get('probability_note'))})."
        lines.append(line)
        path = _ms(res.get("subgroup_path"))
        if path:
            subgroup = Subgroup(
                path=" → ".join(
                    f"{_s(s.get('question'))}: {TRI_WORDS.get(_s(s.get('answer')), words(s.get('answer')))}"
                    for s in path
                ),
                result=words(res.get("subgroup")),
                cites=src.cite([res.get("subgroup_reference")]),
            )
        caveats = tuple(
            Note(text=_note_text(c), cites=src.cite(_ms(_m(c).get("references"))))
            for c in res.get("caveats") or []
            if _note_text(c)
        )
    elif key == CADM:
        steps = tuple(
            Step(
                question=_s(s.get("question")),
                answer=TRI_WORDS.get(_s(s.get("answer")), words(s.get("answer"))),
                because=short_label(_s(s.get("because"))),
                cites=src.cite([s.get("reference")]),
            )
            for s in _ms(res.get("steps"))
        )
        if res.get("to_decide"):
            lines.append("To decide, record: " + ", ".join(_ss(res.get("to_decide"))) + ".")
    elif key == SLE:
        lines.append(f"Entry criterion (ANA ≥1:80): {_s(res.get('entry_because'), 'not recorded')}.")
        lines.append(
            f"Score {_g(res.get('score'))} in {_g(res.get('clinical_domains_counted'))} clinical domain(s); "
            f"classifies at ≥{_g(res.get('threshold'))} with at least one clinical criterion."
        )
    elif key == SLICC:
        route = f"; route: {res['route']}" if res.get("route") else ""
        lines.append(
            f"{_g(res.get('clinical'))} clinical and {_g(res.get('immunologic'))} immunologic criteria{route}"
            f"{'; biopsy-proven nephritis route met' if res.get('nephritis_route_met') else ''}."
        )
    elif key == DLE:
        cutoffs = _ms(res.get("cutoffs"))
        if cutoffs:
            lines.append(
                "; ".join(
                    f"≥{_g(c.get('min_score'))}: {'met' if c.get('met') else 'not met'} "
                    f"({_s(c.get('performance'))})"
                    for c in cutoffs
                )
                + "."
            )
    rows: tuple[ItemRow, ...] = ()
    absent = unknown = 0
    if key != CADM:
        rows, absent, unknown = _item_rows(res, src)
    return CriteriaView(
        key=key,
        short=short_name(key),
        title=_s(res.get("title"), short_name(key)),
        use_when=_s(res.get("use_when")),
        verdict=verdict(key, res),
        cites=cites,
        lines=tuple(lines),
        subgroup=subgroup,
        steps=steps,
        rows=rows,
        absent=absent,
        unknown=unknown,
        what_if=_what_if(_ms(res.get("what_if"))),
        caveats=caveats,
        notes=tuple(t for t in (_note_text(n) for n in res.get("notes") or []) if t),
        unverified=tuple(_one_line(u) for u in (*_ss(res.get("unverified")), *_ss(res.get("not_applied")))),
    )


# --------------------------------------------------------------------- evidence, unknowns


def _evidence(a: J) -> Evidence:
    findings = _m(a.get("findings"))
    names = list(_m(a.get("derived_findings"))) or list(findings)
    derived = []
    for name in names:
        f = _m(findings.get(name))
        if f.get("origin") != "derived":
            continue
        where = "; ".join(
            f"lesion {_s(lr.get('number'))} ({_s(lr.get('text'))})" for lr in _ms(f.get("lesions"))
        )
        derived.append(DerivedFinding(name=name, label=words(name), lesions=where))
    return Evidence(
        derived=tuple(derived),
        conflicts=_ss(a.get("conflicts")),
        near_misses=tuple(_s(m.get("message")) for m in _ms(a.get("near_misses")) if m.get("message")),
    )


def _clinician(a: J) -> ClinicianRecord:
    """The impression, differential and family history as the case records them."""
    imp = _m(a.get("impression"))
    return ClinicianRecord(
        impression=_s(imp.get("text")) or None,
        differential=_ss(imp.get("differential")),
        family_history=_ss(a.get("family_history")),
    )


def _unknowns(a: J) -> tuple[UnknownGroup, ...]:
    """Unrecorded findings grouped by what recording them present would change."""
    groups: dict[tuple[str, ...], list[UnknownFinding]] = {}
    for u in _ms(a.get("unknowns")):
        label = _s(u.get("label"))
        if u.get("recorded"):  # an unknown the case records as such (an equivocal antibody)
            label = f"{label}: {_s(u.get('recorded'))}"
        finding = UnknownFinding(label=label, record_at=_s(u.get("record_at")))
        groups.setdefault(_ss(u.get("would_change")), []).append(finding)
    for w in _ms(_m(a.get("differential")).get("what_if")):
        finding = UnknownFinding(label=_s(w.get("label")), record_at=_s(w.get("record_at")))
        groups.setdefault((f"CLE vs DM: {_s(w.get('result'))}",), []).append(finding)
    return tuple(UnknownGroup(findings=tuple(fs), changes=changes) for changes, fs in groups.items())


def _unknown_sets(a: J) -> tuple[UnknownSet, ...]:
    """Sets of unrecorded findings that change results only together (the assessment's
    ``unknown_combinations``), each finding with the others that would do the same."""
    out = []
    for c in _ms(a.get("unknown_combinations")):
        facts, labels, where = _ss(c.get("facts")), _ss(c.get("labels")), _ss(c.get("record_at"))
        alt_labels = _m(c.get("alternative_labels"))
        findings = tuple(
            UnknownFinding(
                label=labels[i] if i < len(labels) else words(f), record_at=where[i] if i < len(where) else ""
            )
            for i, f in enumerate(facts)
        )
        out.append(
            UnknownSet(
                findings=findings,
                alternatives=tuple(_ss(alt_labels.get(f)) for f in facts),
                changes=_ss(c.get("would_change")),
            )
        )
    # one criteria set after another in turn, so that the first few lines show every set changed
    by_set: dict[str, list[UnknownSet]] = {}
    for x in out:
        by_set.setdefault(x.changes[0].split(":")[0] if x.changes else "", []).append(x)
    queues = list(by_set.values())
    return tuple(q[i] for i in range(max((len(q) for q in queues), default=0)) for q in queues if i < len(q))


def _unknown_sets_notes(a: J) -> tuple[str, ...]:
    """How far the search for sets went: set sizes searched, and any list capped or incomplete."""
    triples: list[str] = []
    pairs: list[str] = []
    notes: list[str] = []
    for key, res in _m(a.get("criteria")).items():
        search = _m(_m(res).get("unknown_sets_search"))
        if not search:
            continue
        short = short_name(str(key))
        if search.get("complete") is False:
            notes.append(f"{short}: {_s(search.get('note'))}")
            continue
        (triples if search.get("max_size") == 3 else pairs).append(short)
        if search.get("capped"):
            notes.append(f"{short}: {_g(search.get('listed'))} of {_g(search.get('found'))} sets listed")
    head = []
    if triples:
        head.append("pairs and sets of three searched for " + ", ".join(triples))
    if pairs:
        head.append("pairs only for " + ", ".join(pairs) + " (sets of three would exceed the search budget)")
    return ((capital("; ".join(head)) + ".",) if head else ()) + tuple(notes)


# ----------------------------------------------------------------------- differential


def _differential(a: J, src: _Sources) -> Differential:
    d = _m(a.get("differential"))

    def feats(key: str) -> tuple[Feature, ...]:
        return tuple(
            Feature(
                label=_s(f.get("label")),
                tier=TIER_WORDS.get(_s(f.get("tier")), _s(f.get("tier"))),
                because=_s(f.get("because")),
                note=_s(f.get("note")),
                cites=src.cite(_ms(f.get("references"))),
            )
            for f in _ms(d.get(key))
        )

    what_if = _ms(d.get("what_if"))
    by_result: dict[str, list[str]] = {}
    for ch in what_if:
        by_result.setdefault(_s(ch.get("result")), []).append(_s(ch.get("label")))
    changing = {_s(ch.get("label")) for ch in what_if}
    dm, lupus, not_weighed = (
        feats("features_for_dermatomyositis"),
        feats("features_for_lupus"),
        feats("not_discriminating"),
    )
    tests = tuple(
        TestHint(
            test=_s(t.get("test")),
            why=_s(t.get("why")),
            could_change=bool(t.get("could_change_verdict")),
            cites=src.cite([t.get("reference")]),
        )
        for t in _ms(d.get("tests_that_would_help"))
    )
    not_recorded = [x.get("label") if isinstance(x, Mapping) else x for x in d.get("not_recorded") or []]
    return Differential(
        favours=_s(d.get("favours"), "indeterminate"),
        mixed=bool(d.get("mixed")),
        summary=_s(d.get("summary")),
        dm=dm,
        lupus=lupus,
        not_weighed=not_weighed,
        recorded_absent=_ss(d.get("recorded_absent")),
        not_recorded=tuple(_s(x) for x in not_recorded if x and _s(x) not in changing),
        what_if=tuple(PictureChange(result=r, labels=", ".join(ls)) for r, ls in by_result.items()),
        tests=tests,
        rule=_s(d.get("rule")),
        rule_cites=src.cite([d.get("rule_reference")]),
    )


# -------------------------------------------------------------------------------- flags


def _flag_key(f: J) -> tuple[str, str, str]:
    return (_s(f.get("code")), _s(f.get("severity")), _s(f.get("message")))


def _flag(f: J, section: str, src: _Sources) -> FlagView:
    message = _s(f.get("message"))
    return FlagView(
        severity=_s(f.get("severity"), "info"),
        code=_s(f.get("code")),
        message=message,
        short=first_sentence(message),
        evidence=_ss(f.get("evidence")),
        source=_s(f.get("source")),
        section=section,
        cites=src.cite(_ms(f.get("references"))),
    )


# ----------------------------------------------------------------------------- activity


def _index(idx: J, src: _Sources) -> IndexView:
    items = tuple(
        IndexItem(
            label=_s(it.get("label")),
            part=_s(it.get("part")),
            value="not scored"
            if it.get("value") is None
            else f"{_s(it.get('value'))} of {_s(it.get('max'))}",
            cites=src.cite([it.get("reference")]),
        )
        for it in _ms(idx.get("items"))
    )
    areas = _ms(idx.get("areas"))
    labels = {_s(b.get("id")): _s(b.get("label")) for b in _ms(idx.get("bands"))}
    doubled = idx.get("dyspigmentation_doubled")
    return IndexView(
        short=_s(idx.get("short"), "index"),
        title=_s(idx.get("title")),
        cites=src.cite(_ms(idx.get("references"))),
        activity=_int(idx.get("activity")),
        activity_range=span(_range(idx.get("activity_range"), idx.get("activity"))),
        activity_max=_int(idx.get("activity_max")),
        damage=_int(idx.get("damage")),
        damage_range=span(_range(idx.get("damage_range"), idx.get("damage"))),
        damage_max=_int(idx.get("damage_max")),
        damage_verified=bool(idx.get("damage_verified", True)),
        complete=bool(idx.get("complete", True)),
        unscored=len(idx.get("unscored") or []),
        unscored_areas=tuple(_s(ar.get("label")) for ar in areas if not ar.get("scored", True)),
        band_label=None if idx.get("band_label") is None else _s(idx.get("band_label")),
        band_could_be=tuple(labels.get(b, words(b)) for b in _ss(idx.get("band_if_complete_could_be"))),
        band_rule=_s(idx.get("band_rule")),
        band_cites=src.cite([idx.get("band_reference")]),
        cut_offs=tuple(
            Note(text=_s(c.get("text")), cites=src.cite([c.get("reference")]))
            for c in _ms(idx.get("cut_offs"))
        ),
        thresholds=tuple(
            Threshold(label=_s(t.get("label")), text=_s(t.get("text")), cites=src.cite([t.get("reference")]))
            for t in _ms(idx.get("thresholds"))
        ),
        areas=tuple(
            Area(
                label=_s(ar.get("label")),
                activity=span(_range(ar.get("activity_range"), ar.get("activity")))
                if ar.get("scored")
                else "not scored",
                damage=span(_range(ar.get("damage_range"), ar.get("damage")))
                if ar.get("scored")
                else "not scored",
                scored=bool(ar.get("scored")) and not ar.get("unscored_items"),
            )
            for ar in areas
        ),
        items=items,
        doubled=doubled if isinstance(doubled, bool) else None,
        anchors_note=_s(idx.get("anchors_note")),
    )


def _index_glance(idx: J) -> str:
    activity = span(_range(idx.get("activity_range"), idx.get("activity")))
    text = f"{_s(idx.get('short'), 'index')} activity {activity} of {_s(idx.get('activity_max'), '?')}"
    if idx.get("band_label"):
        text += f" ({_s(idx.get('band_label'))})"
    elif idx.get("band_if_complete_could_be"):
        labels = {_s(b.get("id")): _s(b.get("label")) for b in _ms(idx.get("bands"))}
        could = " or ".join(labels.get(b, words(b)) for b in _ss(idx.get("band_if_complete_could_be")))
        text += f" (band undetermined: {could})"
    damage = span(_range(idx.get("damage_range"), idx.get("damage")))
    text += f", damage {damage} of {_s(idx.get('damage_max'), '?')}"
    if not idx.get("complete", True):
        text += f"; {len(idx.get('unscored') or [])} not scored"
    return text


def _change_glance(c: J) -> str:
    if c.get("activity_change") is None:
        return _s(c.get("summary"))
    verdicts = "; ".join(
        f"{_s(v.get('label')).replace('Minimal clinically important difference', 'MCID')}: "
        f"{OUTCOME_WORDS.get(_s(v.get('outcome')), words(v.get('outcome')))}"
        for v in _ms(c.get("verdicts"))
    )
    text = (
        f"{_s(c.get('index'))} {span(_range(c.get('baseline_activity')))} → "
        f"{span(_range(c.get('followup_activity')))} ({signed(_range(c.get('activity_change')))})"
    )
    return f"{text}: {verdicts}" if verdicts else text


def _change_row(c: J, src: _Sources) -> ChangeRow:
    pct = ""
    p = c.get("activity_change_percent")
    if isinstance(p, list | tuple) and len(p) == 2 and all(_num(x) is not None for x in p):
        lo, hi = p
        pct = f"{lo:+.0f}%" if lo == hi else f"{lo:+.0f}% to {hi:+.0f}%"
    comparable = c.get("activity_change") is not None
    damage = None
    if c.get("damage_change") is not None:
        damage = (
            f"{span(_range(c.get('baseline_damage')))} → {span(_range(c.get('followup_damage')))} "
            f"({signed(_range(c.get('damage_change')))})"
        )
    return ChangeRow(
        index=_s(c.get("index")),
        summary="" if comparable else _s(c.get("summary")),
        baseline=span(_range(c.get("baseline_activity"))),
        followup=span(_range(c.get("followup_activity"))),
        change=signed(_range(c.get("activity_change"))),
        percent=pct,
        damage=damage,
        damage_note=_s(c.get("damage_note")),
        verdicts=tuple(
            ChangeVerdictView(
                label=_s(v.get("label")),
                outcome=OUTCOME_WORDS.get(_s(v.get("outcome")), words(v.get("outcome"))),
                kind=_s(v.get("outcome")),
                why=_s(v.get("why")),
                cites=src.cite(_ms(v.get("references"))),
                note=_s(v.get("note")),
            )
            for v in _ms(c.get("verdicts"))
        ),
    )


def _activity(a: J, src: _Sources) -> ActivityView | None:
    act = a.get("activity")
    if not isinstance(act, Mapping):
        return None
    indices, glance = [], []
    unverified: list[str] = []
    for key in ("cdasi", "clasi"):
        idx = act.get(key)
        if isinstance(idx, Mapping):
            indices.append(_index(idx, src))
            glance.append(_index_glance(idx))
            unverified += _ss(idx.get("unverified"))
    change = None
    ch = act.get("change")
    if isinstance(ch, Mapping):
        date = _s(ch.get("baseline_date"))
        rows = []
        for key in ("cdasi", "clasi"):
            c = ch.get(key)
            if isinstance(c, Mapping):
                rows.append(_change_row(c, src))
                glance.append(f"Change since {date or 'the baseline visit'}: {_change_glance(c)}")
        tis = _m(ch.get("tis"))
        change = ChangeView(
            since=date or "the baseline visit",
            rows=tuple(rows),
            notes=_ss(ch.get("notes")),
            tis=Tis(
                label=_s(tis.get("label")), why=_s(tis.get("why")), cites=src.cite(_ms(tis.get("references")))
            )
            if tis
            else None,
        )
        unverified += _ss(ch.get("unverified"))
    return ActivityView(
        indices=tuple(indices),
        change=change,
        unverified=tuple(dict.fromkeys(_one_line(u) for u in unverified)),
        glance=tuple(glance),
    )


def activity_view(activity_json: Mapping[str, Any] | None) -> ActivityView | None:
    """The activity part alone (``ActivityResult`` as JSON), for outputs that show only it."""
    return _activity({"activity": activity_json}, _Sources())


# ----------------------------------------------------------------------------- triggers


def _triggers_of(a: J) -> list[J]:
    if "triggers" in a:
        return _ms(a.get("triggers"))
    return _ms(_m(a.get("trigger_screen")).get("triggers"))


def _describe(r: J) -> str:
    """An unrecognised medication name in the drug tables' own words."""
    try:
        return Resolution.model_validate(r).describe()
    except ValidationError:  # a stored shape this ifnscope no longer reads
        return f"'{_s(r.get('recorded_as'))}' is not a drug ifnscope knows"


def _trigger_row(t: J, src: _Sources) -> TriggerRow:
    status = _s(t.get("status"))
    fits = t.get("fits_picture")
    return TriggerRow(
        agent=_s(t.get("agent")),
        recorded_as=_s(t.get("recorded_as"), _s(t.get("agent"))),
        disease=words(t.get("disease")),
        status=TRIGGER_STATUS_WORDS.get(status, words(status)),
        strong=status == "suspected",
        presentation=_s(t.get("presentation")),
        timing=_s(t.get("timing")),
        evidence=_s(t.get("evidence")),
        strength=STRENGTH_WORDS.get(_s(t.get("strength")), _s(t.get("strength"))),
        latency=_s(t.get("latency")),
        fits=fits if isinstance(fits, bool) else None,
        cites=src.cite(_ms(t.get("references"))),
    )


def _triggers(a: J, src: _Sources) -> Triggers:
    ts = _m(a.get("trigger_screen"))
    rows = tuple(_trigger_row(t, src) for t in _triggers_of(a))
    set_aside = tuple(_trigger_row(t, src) for t in _ms(ts.get("set_aside")))
    return Triggers(
        rows=rows,
        set_aside=set_aside,
        medications=len(ts.get("medications") or []),
        unrecognised=tuple(_describe(r) for r in _ms(ts.get("unrecognised"))),
        events_without_rule=_ss(ts.get("events_without_rule")),
        flags=tuple(_flag(f, "triggers", src) for f in _ms(ts.get("flags"))),
        unknowns=_ss(ts.get("unknowns")),
    )


# ---------------------------------------------------------------------------- screening


def _cancer_glance(c: J) -> str:
    applies, why = _s(c.get("applies"), "unknown"), _s(c.get("why"))
    if applies == "no":
        return f"does not apply ({why})"

    def panel(p: J) -> str:
        text = f"{_s(p.get('label')).lower()} {_s(p.get('recorded'), '0')} of {_s(p.get('applicable'), '0')}"
        by_sex = len(_ss(p.get("depends_on_sex")))
        return text + " recorded" + (f" (and {by_sex} depending on the unrecorded sex)" if by_sex else "")

    panels = "; ".join(panel(p) for p in _ms(c.get("panels")))
    return f"{'applies' if applies == 'yes' else 'may apply'} ({why}): {panels}; risk category not computed"


def _screening(a: J, src: _Sources) -> Screening:
    sc = _m(a.get("screening"))
    c, lung = _m(sc.get("cancer")), _m(sc.get("lung"))
    applies = _s(c.get("applies"), "unknown")
    panels = tuple(
        PanelView(
            label=_s(p.get("label")),
            recommended_for=_s(p.get("recommended_for")),
            recorded=_int(p.get("recorded")) or 0,
            applicable=_int(p.get("applicable")) or 0,
            # a test for one sex when the sex is not recorded: shown with the missing ones, marked
            missing=_ss(p.get("missing"))
            + tuple(f"{x} (depends on sex, not recorded)" for x in _ss(p.get("depends_on_sex"))),
            note=_s(p.get("note")),
            cites=src.cite(_ms(p.get("references"))),
            tests=tuple(
                TestRow(
                    label=_s(t.get("label")),
                    status=TEST_WORDS.get(_s(t.get("status")), words(t.get("status"))),
                    kind=_s(t.get("status")),
                    detail=_s(t.get("detail")),
                )
                for t in _ms(p.get("tests"))
            ),
        )
        for p in (_ms(c.get("panels")) if applies != "no" else [])
    )
    higher: list[str] = []
    lower: list[str] = []
    unknown: list[str] = []
    for f in _ms(c.get("risk_factors")):
        if f.get("status") == "present":
            (higher if f.get("direction") == "higher" else lower).append(
                f"{_s(f.get('label'))} ({_s(f.get('effect'))})"
            )
        elif f.get("status") == "unknown":
            unknown.append(_s(f.get("label")))
    cites = src.cite(_ms(c.get("references")))
    lung_view = Lung(
        antibodies=_ss(lung.get("risk_antibodies_positive")),
        features=_ss(lung.get("risk_features_present")),
        ild=_s(lung.get("ild_recorded"), "unknown"),
        advice=_ss(lung.get("advice")),
        unknowns=_ss(lung.get("unknowns")),
        cites=src.cite(_ms(lung.get("references"))),
    )
    return Screening(
        applies=applies,
        why=_s(c.get("why")),
        scope=_s(c.get("scope")),
        cites=cites,
        panels=panels,
        other=tuple(
            f"{_s(o.get('label'))} ({TEST_WORDS.get(_s(o.get('status')), words(o.get('status')))})"
            for o in _ms(c.get("other_tests_recorded"))
        ),
        higher=tuple(higher),
        lower=tuple(lower),
        unknown_factors=tuple(unknown),
        category_note=_s(c.get("category_note")),
        counting_rule=_s(c.get("counting_rule")),
        additional=_ss(c.get("additional")),
        unverified=_ss(c.get("unverified")),
        lung=lung_view,
        flags=tuple(_flag(f, "screening", src) for f in _ms(sc.get("flags"))),
        glance=_cancer_glance(c) if c else "",
    )


# ------------------------------------------------------------------------------ therapy


def _approval_detail(code: str, text: str) -> str:
    """The approval text when it says more than the approval word: the approved indication, or a
    filing; not the list of other indications, nor 'no approval found'."""
    if code in ("approved_other_indication", "not_applicable"):
        return ""
    if code == "not_approved" and ";" not in text:
        return ""
    return text


def _therapy_glance(t: J) -> str:
    n = len(t.get("history") or [])
    text = (
        f"{n} medication{'' if n == 1 else 's'} recorded, "
        f"{len(t.get('failed') or [])} with inadequate response or intolerance"
    )
    path = _m(t.get("ifn_pathway"))
    targeted = _ss(path.get("targeted"))
    if targeted:
        level = {_s(lv.get("level")): _s(lv.get("label")) for lv in _ms(path.get("levels"))}
        text += "; type I IFN pathway targeted at: " + ", ".join(level.get(x, words(x)) for x in targeted)
    else:
        text += "; no level of the type I IFN pathway targeted yet"
    nxt = [_s(o.get("label")) for o in _ms(t.get("options_not_tried"))[:3]]
    if nxt:
        text += f". First options in the ladder not recorded as tried: {', '.join(nxt)}"
    return text


def _therapy(a: J, src: _Sources) -> Therapy:
    t = _m(a.get("therapy"))
    if not t:
        return Therapy()
    options, history = _ms(t.get("options_not_tried")), _ms(t.get("history"))
    path = _m(t.get("ifn_pathway"))
    labels = {_s(o.get("agent")): _s(o.get("label")) for o in options}
    labels.update({_s(h.get("agent")): _s(h.get("agent_label")) for h in history if h.get("agent_label")})
    level_labels = {_s(lv.get("level")): _s(lv.get("label")) for lv in _ms(path.get("levels"))}

    def names(keys: Iterable[str]) -> str:
        return ", ".join(labels.get(k, words(k)) for k in keys)

    context = _m(t.get("context"))
    option_views = tuple(
        OptionView(
            label=_s(o.get("label")),
            position=_s(o.get("position_label")),
            level=_s(o.get("pathway_label")),
            ifn=on_ifn_pathway(o.get("pathway_level")),
            approval=APPROVAL_WORDS.get(_s(o.get("approval_code")), words(o.get("approval_code"))),
            approval_detail=_approval_detail(_s(o.get("approval_code")), _s(o.get("approval_status"))),
            trial=_s(o.get("key_trial")),
            summary=_s(o.get("summary")),
            notes=(*_ss(o.get("eligibility_notes")), *_ss(o.get("cautions"))),
            cites=src.cite(_ms(o.get("references"))),
        )
        for o in options
    )
    flags = tuple(_flag(f, "therapy", src) for f in _ms(t.get("flags")))
    summary = _s(path.get("summary"))
    return Therapy(
        picture=_s(context.get("picture"), "indeterminate"),
        context=_ss(context.get("classified_as")),
        history=tuple(
            HistoryRow(
                recorded_as=_s(h.get("recorded_as")),
                read_as=_s(h.get("agent_label") or h.get("read_as")),
                status=_s(h.get("status_text")),
                failed=bool(h.get("counts_as_failed")),
                level=level_labels.get(_s(h.get("pathway_level")), words(h.get("pathway_level")))
                if h.get("pathway_level")
                else "—",
                dates=", ".join(
                    x
                    for x in (
                        _s(h.get("dose")),
                        f"from {h['started']}" if h.get("started") else "",
                        f"to {h['stopped']}" if h.get("stopped") else "",
                    )
                    if x
                ),
            )
            for h in history
        ),
        unrecognised=tuple(_s(u.get("message")) for u in _ms(t.get("unrecognised"))),
        options=option_views,
        levels=tuple(
            LevelView(
                label=_s(lv.get("label")),
                ifn=on_ifn_pathway(lv.get("level")),
                tried=", ".join(
                    labels.get(k, words(k)) + (" (failed)" if k in _ss(lv.get("failed")) else "")
                    for k in _ss(lv.get("tried"))
                ),
                options=names(_ss(lv.get("options"))),
            )
            for lv in _ms(path.get("levels"))
        ),
        pathway=summary,
        summary=re.split(r"(?<=\.)\s+(?=[A-Z])", summary, maxsplit=1)[0],
        flags=flags,
        disclaimer=_s(t.get("disclaimer")),
        cites=src.cite(_ms(t.get("references"))),
        glance=_therapy_glance(t),
    )


# ---------------------------------------------------------------------------- assembly


def build(assessment_json: Mapping[str, Any], registry: Mapping[str, Any] | None = None) -> AssessmentView:
    """The presentation model of one assessment, from its JSON contract (live or stored).

    ``registry``: for a registry visit, what the registry services returned about the patient
    (see :mod:`ifnscope.presentation.registry`): adds the ``registry`` section."""
    a = _m(assessment_json)
    src = _Sources()
    crit = _m(a.get("criteria"))
    criteria = tuple(_criteria_set(str(k), _m(r), src) for k, r in crit.items())
    differential = _differential(a, src)
    activity = _activity(a, src)
    triggers = _triggers(a, src)
    screening = _screening(a, src)
    therapy = _therapy(a, src)
    in_sections = {_flag_key(f.model_dump()): f for f in (*triggers.flags, *screening.flags, *therapy.flags)}
    other: dict[tuple[str, str, str], FlagView] = {}
    for f in _ms(a.get("flags")):
        key = _flag_key(f)
        if key not in in_sections and key not in other:
            other[key] = _flag(f, "", src)
    flags = [in_sections.get(_flag_key(f)) or other[_flag_key(f)] for f in _ms(a.get("flags"))]
    src.cite(all_references(a))  # every reference the assessment rests on, cited above or not
    section = None
    if registry is not None:
        from ifnscope.presentation.registry import registry_section

        section = registry_section(registry, src.cite)
    rules_version = a.get("rules_version")
    return AssessmentView(
        header=Header(
            case_id=_s(a.get("case_id"), "?"),
            title=_s(a.get("title")) or None,
            disclaimer=_s(a.get("disclaimer")),
            ifnscope_version=_s(a.get("ifnscope_version")),
            rules_version=_s(rules_version) if rules_version else None,
        ),
        criteria=criteria,
        evidence=_evidence(a),
        clinician=_clinician(a),
        unknowns=_unknowns(a),
        unknown_sets=_unknown_sets(a),
        unknown_sets_notes=_unknown_sets_notes(a),
        differential=differential,
        activity=activity,
        triggers=triggers,
        screening=screening,
        therapy=therapy,
        flags=tuple(sorted(flags, key=lambda f: SEVERITY_ORDER.get(f.severity, 3))),
        other_flags=tuple(other.values()),
        criteria_unverified=sum(
            len(_ss(_m(r).get("unverified"))) + len(_ss(_m(r).get("not_applied"))) for r in crit.values()
        ),
        references=src.listing(),
        registry=section,
    )


def as_view(assessment: Any) -> AssessmentView:
    """The view of a live assessment (anything with ``to_json_dict``), of its JSON, or the view."""
    if isinstance(assessment, AssessmentView):
        return assessment
    if hasattr(assessment, "to_json_dict"):
        return build(assessment.to_json_dict())
    return build(_m(assessment))


def patient_lines(case: Mapping[str, Any] | None) -> list[str]:
    """The patient and onset lines of a report header, from the case document (``Case`` dumped)."""
    doc = _m(case)
    p, o = _m(doc.get("patient")), _m(doc.get("onset"))
    who = []
    if _num(p.get("age_years")) is not None:
        who.append(f"{p['age_years']:g} years")
    elif p.get("age_years") == "90+":  # a de-identified age (registry allow-list)
        who.append("90+ years")
    if p.get("sex") and p.get("sex") != "unknown":
        who.append(_s(p.get("sex")))
    lines = [f"Patient: {', '.join(who) if who else 'age and sex not recorded'}"]
    onset = []
    if _num(o.get("age_years")) is not None:
        onset.append(f"at {o['age_years']:g} years")
    elif o.get("age_years") == "90+":
        onset.append("at 90+ years")
    if _num(o.get("skin_disease_months")) is not None:
        onset.append(f"skin disease for {o['skin_disease_months']:g} months")
    if o.get("after"):
        onset.append("after " + ", ".join(words(x) for x in _ss(o.get("after"))))
    lines.append(f"Onset: {'; '.join(onset) if onset else 'not recorded'}")
    return lines


__all__ = ["activity_view", "all_references", "as_view", "build", "patient_lines", "short_name", "verdict"]
