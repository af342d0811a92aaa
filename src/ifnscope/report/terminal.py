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
from ifnscope.criteria import REGISTRY
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
        cs = REGISTRY[key]
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

    unverified: list[str] = []
    for res in a.criteria.values():
        unverified += getattr(res, "unverified", []) + getattr(res, "not_applied", [])
    if unverified:
        console.print(Text("\nRules not verified in a source (reported, not guessed)", style="bold"))
        for u in unverified:
            console.print(Text(f"  • {u}", style="dim"))

    console.print(Text("\nSources", style="bold"))
    seen: dict[str, str] = {}
    for res in a.criteria.values():
        for ref in res.references:
            seen.setdefault(ref.source, ref.citation)
    for cit in seen.values():
        console.print(Text(f"  {cit}", style="dim"))
