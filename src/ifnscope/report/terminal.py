"""A readable terminal report of an assessment (rich), for a clinician at the visit.

Order follows how the result is read: what the lesions showed, what each criteria set says,
what is still unknown and would change a result, then the caveats and the sources.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ifnscope.assessment import Assessment
from ifnscope.clinical.screening import TEST_STATUS_WORDS
from ifnscope.criteria import CRITERIA_SETS
from ifnscope.criteria.base import ItemResult

_STATUS_STYLE = {"present": "green", "absent": "dim", "unknown": "yellow"}
_STATUS_WORD = {"present": "yes", "absent": "no", "unknown": "unknown"}


def _capital(s: str) -> str:
    return s[:1].upper() + s[1:]


def _words(s: str | None) -> str:
    return (s or "").replace("_", " ")


def _items_table(items: list[ItemResult], decisive: set[str], show_points: bool = True) -> Group:
    """Items that count, and unknown items whose value would change the result.

    The rest (items recorded absent, unknowns that would change nothing) are summarised in
    one line, so a clinician reads what matters first; the JSON keeps every item.
    """
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    t.add_column("item")
    if show_points:
        t.add_column("points", justify="right")
    t.add_column("recorded")
    t.add_column("counted", justify="center")
    hidden_unknown = hidden_absent = 0
    for it in items:
        if not it.counted and not (it.status == "unknown" and decisive & set(it.facts)):
            if it.status == "unknown":
                hidden_unknown += 1
            else:
                hidden_absent += 1
            continue
        row: list[Any] = [it.label]
        if show_points:
            row.append("" if it.points is None else f"{it.points:g}")
        word = _STATUS_WORD[it.status] + (" (would change the result)" if not it.counted else "")
        row.append(Text(word, style=_STATUS_STYLE[it.status]))
        row.append("✓" if it.counted else "")
        t.add_row(*row)
    parts: list[Any] = [t] if t.row_count else [Text("No item is present.")]
    rest = []
    if hidden_absent:
        rest.append(f"{hidden_absent} recorded absent")
    if hidden_unknown:
        rest.append(f"{hidden_unknown} not recorded, none of which alone would change the result")
    if rest:
        parts.append(Text("Other items: " + "; ".join(rest) + ".", style="dim"))
    return Group(*parts)


def _details(key: str, res: Any) -> list[Any]:
    parts: list[Any] = []
    decisive = {c.fact for c in getattr(res, "what_if", [])}
    if key == "eular_acr_iim_2017":
        col = "with muscle biopsy" if res.biopsy else "without muscle biopsy"
        th = res.thresholds
        parts.append(
            Text(
                f"Weights {col}. Cut-offs: possible ≥{th['possible']:g}, probable ≥{th['probable']:g}, "
                f"definite ≥{th['definite']:g}. The probability is approximate (formula constants "
                "unverified); the category follows the published cut-offs.",
                style="dim",
            )
        )
        parts.append(_items_table(res.items, decisive))
        if res.subgroup_path:
            path = " → ".join(f"{s.question}: {_STATUS_WORD[s.answer]}" for s in res.subgroup_path)
            parts.append(Text(f"Subgroup tree: {path} → {_words(res.subgroup)}"))
        parts += [Text(f"Caveat: {c.text}", style="yellow") for c in res.caveats]
    elif key == "eular_acr_sle_2019":
        parts.append(Text(f"Entry criterion (ANA ≥1:80): {res.entry_because}", style="dim"))
        parts.append(_items_table(res.items, decisive))
        parts += [Text(n, style="yellow") for n in res.notes]
    elif key == "slicc_2012":
        parts.append(_items_table(res.items, decisive, show_points=False))
    elif key == "sontheimer_cadm":
        for s in res.steps:
            parts.append(Text(f"• {s.question}: {_STATUS_WORD.get(s.answer, s.answer)}"))
        parts.append(Text(res.explanation))
        if res.to_decide:
            parts.append(Text("To decide, record: " + ", ".join(res.to_decide), style="yellow"))
    elif key == "dle_2020":
        parts.append(_items_table(res.items, decisive))
    return parts


def render(a: Assessment, console: Console) -> None:
    head = Text(a.case_id, style="bold")
    if a.title:
        head.append(f" — {a.title}", style="")
    console.print(head)
    console.print(Text(a.disclaimer, style="dim italic"))

    if a.derived_findings or a.conflicts or a.near_misses:
        console.print(Text("\nFindings derived from the lesions", style="bold"))
        for name in a.derived_findings:
            src = a.findings.get(name)
            if src is None or src.origin != "derived":
                continue
            where = "; ".join(f"lesion {lr.number} ({lr.text})" for lr in src.lesions)
            console.print(f"  • [green]{_words(name)}[/green] from {where}")
        for c in a.conflicts:
            console.print(Text(f"  ! {c}", style="yellow"))
        for m in a.near_misses:
            console.print(Text(f"  ? {m.message}", style="yellow"))

    console.print(Text("\nWhat the classification criteria say", style="bold"))
    for key, res in a.criteria.items():
        cs = CRITERIA_SETS[key]
        console.print(
            Panel(
                Group(Text(_capital(cs.verdict(res)), style="bold"), *_details(key, res)),
                title=f"[bold]{cs.short}[/bold]",
                title_align="left",
                border_style="cyan",
            )
        )

    console.print(Text("\nUnrecorded findings that would change a result if present", style="bold"))
    if not a.unknowns:
        console.print("  none: no unrecorded finding would change any result")
    for u in a.unknowns:
        line = Text("  • ")
        line.append(u.label, style="yellow")
        line.append(f" (record at {u.record_at}): ", style="dim")
        line.append("; ".join(u.would_change))
        console.print(line)

    _clinical(a, console)

    unverified: list[str] = []
    for res in a.criteria.values():
        unverified += getattr(res, "unverified", []) + getattr(res, "not_applied", [])
    unverified += a.screening.cancer.unverified
    if unverified:
        console.print(Text("\nRules not verified in a source (reported, not guessed)", style="bold"))
        for u in unverified:
            console.print(Text(f"  • {u}", style="dim"))

    console.print(Text("\nSources", style="bold"))
    seen: dict[str, str] = {}
    for ref in all_references(a):
        seen.setdefault(ref.source, ref.citation)
    for cit in seen.values():
        console.print(Text(f"  {cit}", style="dim"))


_SEVERITY = {"act": ("!", "bold red"), "check": ("?", "yellow"), "info": ("i", "cyan")}


def all_references(a: Assessment) -> list[Any]:
    """Every reference the assessment rests on, criteria first, without repeats."""
    refs: list[Any] = []
    for res in a.criteria.values():
        refs += res.references
    refs += [*a.differential.references, a.differential.rule_reference]
    refs += [r for f in a.flags for r in f.references]
    refs += [r for t in a.triggers for r in t.references]
    refs += a.screening.cancer.references + a.screening.lung.references
    if a.activity is not None:
        for idx in (a.activity.cdasi, a.activity.clasi):
            if idx is not None:
                refs += idx.references
    refs += a.therapy.references
    return list({r.source: r for r in refs}.values())


def _clinical(a: Assessment, console: Console) -> None:
    """Differential, flags, triggers and screening: what a clinician acts on at the visit."""
    d = a.differential
    console.print(Text("\nLupus or dermatomyositis?", style="bold"))
    style = {"dermatomyositis": "magenta", "lupus": "blue"}.get(d.favours, "yellow")
    console.print(Text("  " + d.summary, style=style))
    for f in d.not_discriminating:
        console.print(Text(f"  ~ {f.label}: not weighed ({f.note})", style="dim"))
    by_result: dict[str, list[str]] = {}
    for ch in d.what_if:
        by_result.setdefault(ch.result, []).append(ch.label)
    for result, labels in by_result.items():
        console.print(
            Text(f"  If any of these unrecorded features were present: {result}: ", style="yellow")
            + Text(", ".join(labels), style="dim")
        )
    for t in d.tests_that_would_help:
        mark = " (could change the verdict)" if t.could_change_verdict else ""
        console.print(Text(f"  → {t.test}{mark}: {t.why}"))
    console.print(Text(f"  Weighing rule (ifnscope's own, not a published score): {d.rule}", style="dim"))

    if a.flags:
        console.print(Text("\nFlags", style="bold"))
        for f in a.flags:
            mark, st = _SEVERITY[f.severity]
            line = Text(f"  {mark} ", style=st)
            line.append(f"{f.code}: ", style=st)
            line.append(f.message)
            console.print(line)

    ts = a.trigger_screen
    if a.triggers or ts.set_aside or ts.unrecognised:
        console.print(Text("\nDrugs that can induce lupus or dermatomyositis", style="bold"))
        for t in a.triggers:
            fit = "" if t.fits_picture is not False else " (the skin picture favours the other disease)"
            console.print(
                Text(f"  • {t.agent} [{t.status.replace('_', ' ')}]: {t.presentation}{fit}; {t.timing}. ")
                + Text(f"Evidence: {t.evidence}; usual latency {t.latency}.", style="dim")
            )
        for t in ts.set_aside:
            console.print(Text(f"  – {t.agent} set aside: {t.timing}", style="dim"))
        for r in ts.unrecognised:
            console.print(Text(f"  ? {r.describe()}", style="yellow"))

    if a.activity is not None:
        from ifnscope.report.terminal_activity import activity_panel

        console.print(Text("\nSkin activity and damage", style="bold"))
        console.print(activity_panel(a.activity))

    t = a.therapy
    console.print(Text("\nTreatment so far and options not yet tried", style="bold"))
    for h in t.history:
        style = "yellow" if h.counts_as_failed else ""
        console.print(Text(f"  • {h.recorded_as}: {h.status_text}", style=style))
    if not t.history:
        console.print(Text("  no medication recorded", style="yellow"))
    for o in t.options_not_tried[:8]:
        console.print(
            Text(f"  → {o.label} [{o.pathway_label}]: ")
            + Text(o.summary.removeprefix("Not recorded as tried. "))
        )
        for note in o.eligibility_notes:
            console.print(Text(f"      {note}", style="dim"))
    if len(t.options_not_tried) > 8:
        rest = ", ".join(o.label for o in t.options_not_tried[8:])
        console.print(Text(f"  Further options in the knowledge base: {rest}", style="dim"))
    console.print(Text(f"  {t.ifn_pathway.summary}", style="dim"))

    c = a.screening.cancer
    console.print(Text("\nCancer screening (IMACS 2023)", style="bold"))
    console.print(Text(f"  Applies: {c.applies} — {c.why}"))
    if c.applies != "no":
        for p in c.panels:
            line = Text(f"  {p.label} ({p.recommended_for}): {p.recorded} of {p.applicable} recorded")
            if p.missing:
                line.append(f"; not recorded: {', '.join(p.missing)}", style="yellow")
            console.print(line)
        for o in c.other_tests_recorded:
            console.print(Text(f"  Also recorded: {o.label} {TEST_STATUS_WORDS[o.status]}", style="dim"))
        raised = [f for f in c.risk_factors if f.status == "present"]
        if raised:
            console.print(
                Text("  Recorded factors linked to cancer risk (meta-analysis): ")
                + Text(", ".join(f"{f.label} ({f.direction}, {f.effect})" for f in raised), style="dim")
            )
        console.print(Text(f"  {c.category_note}", style="dim"))
        console.print(Text(f"  {c.counting_rule}", style="dim"))
        for x in c.additional:
            console.print(Text(f"  • {x}", style="dim"))
    lung = a.screening.lung
    if lung.advice or lung.unknowns:
        console.print(Text("\nLung (interstitial lung disease)", style="bold"))
        for x in lung.advice:
            console.print(Text(f"  • {x}"))
        for x in lung.unknowns:
            console.print(Text(f"  ? {x}", style="yellow"))
