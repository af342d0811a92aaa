"""The activity indices (CDASI, CLASI) and their change, as a short panel for the terminal report.

Read in the order a clinician asks: the score and its band, what was not scored and how far
that could move the score, the informational thresholds, the change since the baseline
visit, then what is unverified.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from ifnscope.activity import ActivityResult
from ifnscope.activity.compare import OUTCOME_WORDS, ActivityChange, IndexChange
from ifnscope.activity.results import IndexResult

_OUTCOME_STYLE = {
    "improved": "green",
    "worsened": "red",
    "no_important_change": "",
    "not_met": "",
    "not_applicable": "dim",
    "undetermined": "yellow",
}


def _span(r: tuple[int, int]) -> str:
    return f"{r[0]}" if r[0] == r[1] else f"{r[0]}–{r[1]}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _band_words(res: IndexResult) -> str:
    labels = {b.id: b.label for b in res.bands}
    if res.band_label is not None:
        text = f"{res.band_label}; {res.band_rule}"
    else:
        could = " or ".join(labels[b] for b in res.band_if_complete_could_be)
        text = f"band undetermined: {could} once complete; {res.band_rule}"
    for c in res.cut_offs:
        text += f"; {c.text}"
    return text


def _index_lines(res: IndexResult) -> list[Any]:
    head = Text(f"{res.short} activity {res.activity} of {res.activity_max}", style="bold")
    head.append(f" ({_band_words(res)})", style="")
    head.append(f", damage {res.damage} of {res.damage_max}", style="bold")
    if not res.damage_verified:
        head.append(" (damage scale unverified)", style="yellow")
    lines: list[Any] = [head]
    doubled = getattr(res, "dyspigmentation_doubled", None)
    if doubled is not None:
        lines.append(Text(f"Dyspigmentation lasting ≥12 months: {'yes (doubled)' if doubled else 'no'}."))
    if not res.complete:
        missing_areas = [a.label for a in res.areas if not a.scored]
        others = len(res.unscored) - len(missing_areas)
        parts = []
        if len(missing_areas) > 4:
            parts.append(f"{len(missing_areas)} of {len(res.areas)} areas not scored")
        elif missing_areas:
            parts.append(f"{_plural(len(missing_areas), 'area')} not scored ({', '.join(missing_areas)})")
        if others:
            parts.append(f"{others} other {'entry' if others == 1 else 'entries'} not scored")
        what = " and ".join(parts)
        lines.append(
            Text(
                f"{what[:1].upper()}{what[1:]}: activity could be {_span(res.activity_range)}, "
                f"damage {_span(res.damage_range)}.",
                style="yellow",
            )
        )
    for t in res.thresholds:
        lines.append(Text(f"  • {t.label}: {t.text}.", style="dim"))
    return lines


def _change_lines(change: ActivityChange) -> list[Any]:
    since = f"Since {change.baseline_date}" if change.baseline_date else "Since the baseline visit"
    lines: list[Any] = [Text(f"{since}:", style="bold")]
    idx: list[IndexChange] = [c for c in (change.cdasi, change.clasi) if c is not None]
    for c in idx:
        if c.activity_change is None:
            lines.append(Text(f"  {c.summary}"))
            continue
        pct = ""
        if c.activity_change_percent is not None:
            lo, hi = c.activity_change_percent
            pct = f", {lo:+.0f}%" if lo == hi else f", {lo:+.0f}% to {hi:+.0f}%"
        b, f = c.baseline_activity or (0, 0), c.followup_activity or (0, 0)
        line = Text(f"  {c.index} activity {_span(b)} → {_span(f)} ({_signed(c.activity_change)}{pct})")
        bd, fd = c.baseline_damage, c.followup_damage
        if c.damage_change is not None and bd is not None and fd is not None:
            line.append(f"; damage {_span(bd)} → {_span(fd)} ({_signed(c.damage_change)})")
        lines.append(line)
        for v in c.verdicts:
            row = Text(f"    • {v.label}: ")
            row.append(OUTCOME_WORDS[v.outcome], style=_OUTCOME_STYLE[v.outcome])
            row.append(f" — {v.why}", style="dim")
            lines.append(row)
    lines += [Text(f"  {n}.", style="dim") for n in change.notes]
    lines.append(Text(f"  {change.tis.label}: not computed.", style="dim"))
    return lines


def _signed(r: tuple[int, int] | None) -> str:
    if r is None:
        return "?"
    return f"{r[0]:+d}" if r[0] == r[1] else f"{r[0]:+d} to {r[1]:+d}"


def activity_panel(result: ActivityResult) -> RenderableType:
    """The activity section of the report: one panel, a few lines per index."""
    parts: list[Any] = []
    unverified: list[str] = []
    notes: list[str] = []
    for res in (result.cdasi, result.clasi):
        if res is None:
            continue
        if parts:
            parts.append(Text(""))
        parts += _index_lines(res)
        unverified += res.unverified
        notes.append(res.anchors_note)
    if result.change is not None:
        if parts:
            parts.append(Text(""))
        parts += _change_lines(result.change)
        unverified += result.change.unverified
    if not parts:
        parts.append(Text("The activity section records no index."))
    for n in dict.fromkeys(notes):
        parts.append(Text(n, style="dim"))
    if unverified:
        parts.append(Text("Unverified (accepted as ranges, not guessed):", style="dim"))
        parts += [
            Text(f"  • {u}", style="dim") for u in dict.fromkeys(" ".join(x.split()) for x in unverified)
        ]
    return Panel(
        Group(*parts),
        title="[bold]Skin activity and damage[/bold]",
        title_align="left",
        border_style="cyan",
    )
