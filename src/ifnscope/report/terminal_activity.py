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
from ifnscope.presentation import ActivityView, activity_view
from ifnscope.presentation.model import ChangeView, IndexView

_OUTCOME_STYLE = {
    "improved": "green",
    "worsened": "red",
    "no_important_change": "",
    "not_met": "",
    "not_applicable": "dim",
    "undetermined": "yellow",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _band_words(res: IndexView) -> str:
    if res.band_label is not None:
        text = f"{res.band_label}; {res.band_rule}"
    else:
        text = f"band undetermined: {' or '.join(res.band_could_be)} once complete; {res.band_rule}"
    for c in res.cut_offs:
        text += f"; {c.text}"
    return text


def _index_lines(res: IndexView) -> list[RenderableType]:
    head = Text(f"{res.short} activity {res.activity} of {res.activity_max}", style="bold")
    head.append(f" ({_band_words(res)})", style="")
    head.append(f", damage {res.damage} of {res.damage_max}", style="bold")
    if not res.damage_verified:
        head.append(" (damage scale unverified)", style="yellow")
    lines: list[RenderableType] = [head]
    if res.doubled is not None:
        lines.append(Text(f"Dyspigmentation lasting ≥12 months: {'yes (doubled)' if res.doubled else 'no'}."))
    if not res.complete:
        missing_areas = res.unscored_areas
        others = res.unscored - len(missing_areas)
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
                f"{what[:1].upper()}{what[1:]}: activity could be {res.activity_range}, "
                f"damage {res.damage_range}.",
                style="yellow",
            )
        )
    for t in res.thresholds:
        lines.append(Text(f"  • {t.label}: {t.text}.", style="dim"))
    return lines


def _change_lines(change: ChangeView) -> list[RenderableType]:
    lines: list[RenderableType] = [Text(f"Since {change.since}:", style="bold")]
    for c in change.rows:
        if c.summary:
            lines.append(Text(f"  {c.summary}"))
            continue
        pct = f", {c.percent}" if c.percent else ""
        line = Text(f"  {c.index} activity {c.baseline} → {c.followup} ({c.change}{pct})")
        if c.damage is not None:
            line.append(f"; damage {c.damage}")
        lines.append(line)
        for v in c.verdicts:
            row = Text(f"    • {v.label}: ")
            row.append(v.outcome, style=_OUTCOME_STYLE.get(v.kind, ""))
            row.append(f" — {v.why}", style="dim")
            lines.append(row)
            if v.note:
                lines.append(Text(f"      {v.note}", style="dim"))
    lines += [Text(f"  {n}.", style="dim") for n in change.notes]
    if change.tis is not None:
        lines.append(Text(f"  {change.tis.label}: not computed.", style="dim"))
    return lines


def activity_panel(result: ActivityView | ActivityResult) -> RenderableType:
    """The activity section of the report: one panel, a few lines per index.

    It takes the presentation model's activity part, or a live :class:`ActivityResult`
    (read through the same model)."""
    view = result if isinstance(result, ActivityView) else activity_view(result.model_dump(mode="json"))
    parts: list[Any] = []
    if view is not None:
        for res in view.indices:
            if parts:
                parts.append(Text(""))
            parts += _index_lines(res)
        if view.change is not None:
            if parts:
                parts.append(Text(""))
            parts += _change_lines(view.change)
    if not parts:
        parts.append(Text("The activity section records no index."))
    if view is not None:
        for n in dict.fromkeys(idx.anchors_note for idx in view.indices):
            parts.append(Text(n, style="dim"))
        if view.unverified:
            parts.append(Text("Unverified (accepted as ranges, not guessed):", style="dim"))
            parts += [Text(f"  • {u}", style="dim") for u in view.unverified]
    return Panel(
        Group(*parts),
        title="[bold]Skin activity and damage[/bold]",
        title_align="left",
        border_style="cyan",
    )
