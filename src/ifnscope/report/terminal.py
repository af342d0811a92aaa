"""A readable terminal report of an assessment (rich), for a clinician at the visit.

Order follows how the result is read: what the lesions showed, what each criteria set says,
what is still unknown and would change a result, then the clinical parts, the caveats and the
sources. It lays out the presentation model (:mod:`ifnscope.presentation`), so each sentence
reads as in the HTML report and on the web visit page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ifnscope.presentation import AssessmentView, CriteriaView, as_view, capital

if TYPE_CHECKING:
    from ifnscope.assessment import Assessment

_SEVERITY = {"act": ("!", "bold red"), "check": ("?", "yellow"), "info": ("i", "cyan")}


SETS_SHOWN = 12  # sets of unknowns shown; the rest are counted (all are in the JSON)


def _items_table(c: CriteriaView) -> Group:
    """Items that count, and unknown items whose value would change the result.

    The rest (items recorded absent, unknowns that would change nothing) are summarised in
    one line, so a clinician reads what matters first; the JSON keeps every item.
    """
    show_points = any(r.points for r in c.rows)
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    t.add_column("item")
    if show_points:
        t.add_column("points", justify="right")
    t.add_column("status")
    for r in c.rows:
        row: list[RenderableType] = [r.label]
        if show_points:
            row.append(r.points)
        row.append(Text(r.status, style="green" if r.counted else "yellow"))
        t.add_row(*row)
    parts: list[RenderableType] = [t] if t.row_count else [Text("No item is present.")]
    if c.rest:
        parts.append(Text(c.rest, style="dim"))
    return Group(*parts)


def _details(c: CriteriaView) -> list[RenderableType]:
    parts: list[RenderableType] = [Text(line, style="dim") for line in c.lines]
    for s in c.steps:
        parts.append(Text(f"• {s.question}: {s.answer}"))
    if c.rows or c.absent or c.unknown:
        parts.append(_items_table(c))
    if c.subgroup is not None:
        parts.append(Text(f"Subgroup: {c.subgroup.path} → {c.subgroup.result}"))
    parts += [Text(f"Caveat: {cv.text}", style="yellow") for cv in c.caveats]
    parts += [Text(n, style="yellow") for n in c.notes]
    return parts


def _unknown_line(labels: str, record_at: str | None, changes: Sequence[str]) -> Text:
    """One unrecorded finding (or set of findings), where to record it, and what it would change."""
    line = Text("  • ")
    line.append(labels, style="yellow")
    if record_at:
        line.append(f" (record at {record_at})", style="dim")
    line.append(": " + "; ".join(changes))
    return line


def render(a: Assessment | AssessmentView | Mapping[str, Any], console: Console) -> None:
    """Print the report of a live assessment, its stored JSON or its presentation model."""
    v = as_view(a)
    h = v.header
    head = Text(h.case_id, style="bold")
    if h.title:
        head.append(f" — {h.title}", style="")
    console.print(head)
    console.print(Text(h.disclaimer, style="dim italic"))
    if h.rules_version:
        console.print(Text(f"Rules {h.rules_version}", style="dim"))

    ev = v.evidence
    if ev.derived or ev.conflicts or ev.near_misses:
        console.print(Text("\nFindings derived from the lesions", style="bold"))
        for d in ev.derived:
            line = Text("  • ")
            line.append(d.label, style="green")
            line.append(f" from {d.lesions}" if d.lesions else "")
            console.print(line)
        for c in ev.conflicts:
            console.print(Text(f"  ! {c}", style="yellow"))
        for m in ev.near_misses:
            console.print(Text(f"  ? {m}", style="yellow"))

    rec = v.clinician
    if not rec.empty:
        console.print(Text("\nFrom the clinician's record (read by no rule)", style="bold"))
        if rec.impression:
            console.print(Text(f"  Impression: {rec.impression}"))
        if rec.differential:
            console.print(Text(f"  Differential: {'; '.join(rec.differential)}"))
        if rec.family_history:
            console.print(Text(f"  Family history (the relatives' own): {'; '.join(rec.family_history)}"))

    console.print(Text("\nWhat the classification criteria say", style="bold"))
    for crit in v.criteria:
        console.print(
            Panel(
                Group(Text(capital(crit.verdict.sentence), style="bold"), *_details(crit)),
                title=f"[bold]{crit.short}[/bold]",
                title_align="left",
                border_style="cyan",
            )
        )

    console.print(Text("\nUnrecorded findings that would change a result if present", style="bold"))
    if not v.unknowns:
        console.print("  none: no unrecorded finding would change any result")
    for u in v.unknowns:
        console.print(_unknown_line(u.labels, u.record_at, u.changes))
    if v.unknown_sets:
        console.print(Text("\nUnrecorded findings that would change a result only together", style="bold"))
        for x in v.unknown_sets[:SETS_SHOWN]:
            console.print(_unknown_line(x.labels, x.record_at, x.changes))
        if len(v.unknown_sets) > SETS_SHOWN:
            more = len(v.unknown_sets) - SETS_SHOWN
            console.print(Text(f"  … and {more} more (--json: unknown_combinations)", style="dim"))
    for note in v.unknown_sets_notes:
        console.print(Text(f"  {note}", style="dim"))

    _clinical(v, console)

    unverified = [rule for c in v.criteria for rule in c.unverified] + list(v.screening.unverified)
    if unverified:
        console.print(Text("\nRules not verified in a source (reported, not guessed)", style="bold"))
        for rule in unverified:
            console.print(Text(f"  • {rule}", style="dim"))

    console.print(Text("\nSources", style="bold"))
    for s in v.references:
        console.print(Text(f"  [{s.n}] {s.citation}", style="dim"))


def _clinical(v: AssessmentView, console: Console) -> None:
    """Differential, flags, triggers, activity, therapy and screening: what a clinician acts on."""
    d = v.differential
    console.print(Text("\nLupus or dermatomyositis?", style="bold"))
    style = {"dermatomyositis": "magenta", "lupus": "blue"}.get(d.favours, "yellow")
    console.print(Text("  " + d.summary, style=style))
    for f in d.not_weighed:
        console.print(Text(f"  ~ {f.label}: not weighed ({f.note})", style="dim"))
    for w in d.what_if:
        console.print(
            Text(f"  If any of these unrecorded features were present: {w.result}: ", style="yellow")
            + Text(w.labels, style="dim")
        )
    for t in d.tests:
        mark = " (could change the verdict)" if t.could_change else ""
        console.print(Text(f"  → {t.test}{mark}: {t.why}"))
    console.print(Text(f"  Weighing rule (ifnscope's own, not a published score): {d.rule}", style="dim"))

    if v.flags:
        console.print(Text("\nFlags", style="bold"))
        for flag in v.flags:
            mark, st = _SEVERITY.get(flag.severity, ("i", "cyan"))
            line = Text(f"  {mark} ", style=st)
            line.append(f"{flag.code}: ", style=st)
            line.append(flag.message)
            console.print(line)

    tr = v.triggers
    if tr.rows or tr.set_aside or tr.unrecognised:
        console.print(Text("\nDrugs that can induce lupus or dermatomyositis", style="bold"))
        for r in tr.rows:
            fit = "" if r.fits is not False else " (the skin picture favours the other disease)"
            console.print(
                Text(f"  • {r.agent} [{r.status}]: {r.presentation}{fit}; {r.timing}. ")
                + Text(f"Evidence: {r.evidence}; usual latency {r.latency}.", style="dim")
            )
        for r in tr.set_aside:
            console.print(Text(f"  – {r.agent} set aside: {r.timing}", style="dim"))
        for u in tr.unrecognised:
            console.print(Text(f"  ? {u}", style="yellow"))

    if v.activity is not None:
        from ifnscope.report.terminal_activity import activity_panel

        console.print(Text("\nSkin activity and damage", style="bold"))
        console.print(activity_panel(v.activity))

    th = v.therapy
    console.print(Text("\nTreatment so far and options not yet tried", style="bold"))
    for hr in th.history:
        console.print(Text(f"  • {hr.recorded_as}: {hr.status}", style="yellow" if hr.failed else ""))
    if not th.history:
        console.print(Text("  no medication recorded", style="yellow"))
    for o in th.options[:8]:
        console.print(
            Text(f"  → {o.label} [{o.level}]: ") + Text(o.summary.removeprefix("Not recorded as tried. "))
        )
        for note in o.notes:
            console.print(Text(f"      {note}", style="dim"))
    if len(th.options) > 8:
        rest = ", ".join(o.label for o in th.options[8:])
        console.print(Text(f"  Further options in the knowledge base: {rest}", style="dim"))
    console.print(Text(f"  {th.pathway}", style="dim"))

    s = v.screening
    console.print(Text("\nCancer screening (IMACS 2023)", style="bold"))
    console.print(Text(f"  Applies: {s.applies} — {s.why}"))
    if s.applies != "no":
        for p in s.panels:
            line = Text(f"  {p.label} ({p.recommended_for}): {p.recorded} of {p.applicable} recorded")
            if p.missing:
                line.append(f"; not recorded: {', '.join(p.missing)}", style="yellow")
            console.print(line)
        for test in s.other:
            console.print(Text(f"  Also recorded: {test}", style="dim"))
        raised = [f"higher risk: {', '.join(s.higher)}"] if s.higher else []
        raised += [f"lower risk: {', '.join(s.lower)}"] if s.lower else []
        if raised:
            console.print(
                Text("  Recorded factors linked to cancer risk (meta-analysis): ")
                + Text("; ".join(raised), style="dim")
            )
        console.print(Text(f"  {s.category_note}", style="dim"))
        console.print(Text(f"  {s.counting_rule}", style="dim"))
        for x in s.additional:
            console.print(Text(f"  • {x}", style="dim"))
    lung = s.lung
    if lung.advice or lung.unknowns:
        console.print(Text("\nLung (interstitial lung disease)", style="bold"))
        for x in lung.advice:
            console.print(Text(f"  • {x}"))
        for x in lung.unknowns:
            console.print(Text(f"  ? {x}", style="yellow"))
