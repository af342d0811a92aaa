"""The patient timeline as an inline SVG: skin activity, interferon scores and treatment periods.

:func:`timeline_svg` is a pure function of the data ``registry.services.timeline`` returns:

- top panel: CDASI and CLASI activity per visit (only complete scores are stored: a partial sum
  is a lower bound, not a value);
- middle panel (when there are scores): interferon scores per signature, filled markers for a
  'high' call, open markers otherwise;
- bottom lane: one bar per treatment, labelled with the medication as recorded; the same colour
  shades its period in the panels above; agents that target the type I interferon pathway are
  hatched and labelled "IFN-targeted". A start or stop recorded as a month or a year only is a
  span of days: the bar is solid where the treatment certainly ran and pale where it may have,
  and labelled "dates approximate". An ongoing treatment runs to the right edge;
- visits whose activity fell by a published threshold since the previous score (the CDASI
  minimal clinically important difference, the CLASI 4-point / 20% fall; computed by
  :mod:`ifnscope.activity.change`) are ringed and marked "▼".

Clinicians get calendar dates, and the x axis runs to today (a dashed line): treatments and
their periods are drawn whether or not they fall between visits. De-identified data
(researchers) carry no dates, so the x axis is days since the first visit and ends after the
last data point (today's offset would give the visit dates away). Treatment periods need dates
(or ``started_days``/``stopped_days`` on the de-identified rows); treatments that cannot be
placed (no start date, or a start after the plot's end) are named in ``not_drawn`` for a note
under the plot, never dropped silently.

Matplotlib is used through ``Figure`` alone: no pyplot state and no backend chosen (the SVG
canvas is picked by ``savefig``), so an application's own matplotlib backend is left alone. Text
is kept as SVG text (``svg.fonttype: none``) so labels are searchable and scale with the page.
The style is applied with ``rc_context``, which changes matplotlib's process-wide settings while
a figure is drawn: one figure at a time (a lock), so the server's threads cannot mix styles.

Positions on the x axis are plain numbers: days since the first visit, or matplotlib's date
numbers (days since its epoch) on a calendar axis.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from markupsafe import escape

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import XAxis
    from matplotlib.ticker import Formatter, Locator
    from matplotlib.typing import RcKeyType

Axis = Literal["date", "days"]

ACTIVITY_SERIES = (
    ("cdasi_activity", "CDASI activity", "#0b5c99", "o"),
    ("clasi_activity", "CLASI activity", "#b3470a", "s"),
)
SIGNATURE_COLOURS = ("#1b7a5a", "#a8387b", "#8a6d00", "#3b6fb6", "#6b4c9a", "#555555")
# Light fills, one per agent, distinguishable from each other and from the series colours.
TREATMENT_FILLS = (
    "#9ecae1",
    "#fdd0a2",
    "#c7e9c0",
    "#dadaeb",
    "#fcbba1",
    "#d9d9d9",
    "#f6e8a6",
    "#c6dbef",
    "#e5c8e0",
    "#b7e4e0",
)
TREATMENT_EDGES = (
    "#2f6f99",
    "#b35806",
    "#2f7d32",
    "#5e4fa2",
    "#b2302a",
    "#555555",
    "#8a7300",
    "#2c5d8f",
    "#8e3b82",
    "#1f7a72",
)


_RC_LOCK = threading.Lock()  # rc_context changes matplotlib's process-wide settings


@dataclass
class Period:
    """One treatment's bar. A date recorded to the month or year only is a span of days: the
    bar is solid where the treatment certainly ran (from the last possible start to the first
    possible stop) and pale where it may have (``start``..``start_late``, ``end_early``..``end``)."""

    label: str
    agent: str
    ifn_targeted: bool
    start: float  # an x position (see the module docstring): the earliest possible start
    end: float | None  # None: ongoing (drawn to the right edge: today on a calendar axis)
    start_late: float | None = None  # the latest possible start, when the start is approximate
    end_early: float | None = None  # the earliest possible stop, when the stop is approximate

    @property
    def approximate(self) -> bool:
        return self.start_late is not None or self.end_early is not None


@dataclass
class TimelinePlot:
    """The SVG and what could not be drawn (for a note under the plot).

    ``not_drawn``: treatments without a usable date (named, never dropped silently);
    ``approximate``: treatments drawn from a month or year only; ``marked``: visits whose
    activity change reaches a published threshold (marked on the plot); ``until``: where the
    x axis ends (today's date on a calendar axis, else None)."""

    svg: str
    not_drawn: list[str]
    axis: Axis
    approximate: list[str] = field(default_factory=list)
    marked: list[str] = field(default_factory=list)
    until: str | None = None
    x_limits: tuple[float, float] = (0.0, 0.0)


# ------------------------------------------------------------- matplotlib.dates, typed
# matplotlib.dates ships without type information; these state the signatures used here.


class _DateToNumber(Protocol):
    def __call__(self, d: dt.date, /) -> float: ...


class _LocatorClass(Protocol):
    def __call__(self, *, minticks: int, maxticks: int) -> Locator: ...


class _FormatterClass(Protocol):
    def __call__(self, locator: Locator, /) -> Formatter: ...


def _date_number(d: dt.date) -> float:
    """A date as matplotlib's date number (the x position on a calendar axis)."""
    from matplotlib import dates

    return float(cast(_DateToNumber, dates.date2num)(d))


def _date_ticks(axis: XAxis) -> None:
    """Calendar ticks: 3 to 9 of them, labelled concisely (year once, then months or days)."""
    from matplotlib import dates

    locator = cast(_LocatorClass, dates.AutoDateLocator)(minticks=3, maxticks=9)
    axis.set_major_locator(locator)
    axis.set_major_formatter(cast(_FormatterClass, dates.ConciseDateFormatter)(locator))


# ------------------------------------------------------------------------------- dates


def _plain(text: str) -> str:
    """Text from the registry as literal text: matplotlib would read ``$...$`` as mathtext."""
    return text.replace("$", r"\$")


def _parse_partial(text: str | None, *, end: bool) -> dt.date | None:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; a start is the first day of its period, an end the
    last day (a drug stopped in May 2024 ran into May)."""
    if not text:
        return None
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", text.strip())
    if not m:
        return None
    y = int(m.group(1))
    try:
        if m.group(3):
            return dt.date(y, int(m.group(2)), int(m.group(3)))
        if m.group(2):
            mo = int(m.group(2))
            return dt.date(y, mo, calendar.monthrange(y, mo)[1] if end else 1)
        return dt.date(y, 12, 31) if end else dt.date(y, 1, 1)
    except ValueError:
        return None


def _date(text: Any) -> dt.date | None:
    if isinstance(text, dt.date):
        return text
    if isinstance(text, str):
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None


# ------------------------------------------------------------------------------- series


def _x_of(date: Any, days: Any, axis: Axis) -> float | None:
    """The x position: the date on a calendar axis, else the day offset (None: not placeable)."""
    if axis == "date":
        d = _date(date)
        return None if d is None else _date_number(d)
    return None if days is None else float(days)


def _series(data: Mapping[str, Any]) -> tuple[Axis, list[dict[str, Any]], list[dict[str, Any]]]:
    """The axis kind, visit points and score points, each with an ``x``."""
    visits = list(data.get("visits") or [])
    dated = bool(visits) and all(_date(v.get("visit_date")) for v in visits)
    axis: Axis = "date" if dated else "days"
    vpts = []
    for v in visits:
        x = _x_of(v.get("visit_date"), v.get("days_since_first_visit"), axis)
        if x is not None:
            vpts.append({**v, "x": x})
    spts = []
    for sc in data.get("scores") or []:
        if sc.get("score") is None:
            continue
        x = _x_of(sc.get("collected_on"), sc.get("days_since_first_visit"), axis)
        if x is not None:
            spts.append({**sc, "x": x})
    return axis, vpts, spts


def _precise(text: Any) -> bool:
    """Whether a recorded date names a day (``YYYY-MM-DD``), not a month or a year."""
    return isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()) is not None


# Treatment statuses that are not a period of treatment (registry services' TreatmentView.status).
_NOT_GIVEN = {
    "denied_by_payer": "denied by the payer",
    "planned": "planned, not started",
    "refused": "refused by the patient",
}


def _periods(
    treatments: Sequence[Mapping[str, Any]], axis: Axis, until: float
) -> tuple[list[Period], list[str], list[str]]:
    """The bars, the treatments that cannot be drawn (no usable date, or starting after
    ``until``) and those drawn from an approximate date."""
    periods: list[Period] = []
    not_drawn: list[str] = []
    approximate: list[str] = []
    for t in treatments:
        label = str(t.get("recorded_as") or t.get("agent") or "treatment")
        agent = str(t.get("agent") or label.lower())
        status = t.get("status")
        if status in _NOT_GIVEN:  # never taken: no period to draw, named under the plot
            not_drawn.append(f"{label} ({_NOT_GIVEN[status]})")
            continue
        start_late = end_early = None
        if axis == "date":
            lo, hi = _parse_partial(t.get("started"), end=False), _parse_partial(t.get("started"), end=True)
            start = None if lo is None else _date_number(lo)
            if lo is not None and hi is not None and hi != lo:
                start_late = _date_number(hi)
            elo = _parse_partial(t.get("stopped"), end=False)
            ehi = _parse_partial(t.get("stopped"), end=True)
            end = None if ehi is None else _date_number(ehi)
            if elo is not None and ehi is not None and elo != ehi:
                end_early = _date_number(elo)
        else:
            # De-identified rows carry day offsets (a partial date counts from its first day);
            # the recorded text, when given, says whether the date was approximate.
            start = _x_of(None, t.get("started_days"), axis)
            end = _x_of(None, t.get("stopped_days"), axis)
            if start is not None and t.get("started") and not _precise(t.get("started")):
                start_late = start
            if end is not None and t.get("stopped") and not _precise(t.get("stopped")):
                end_early = end
        if start is None:
            not_drawn.append(label)  # no usable start date
            continue
        if start > until:
            not_drawn.append(f"{label} (starts after the end of the plot)")
            continue
        if t.get("stopped") and end is None and axis == "date":
            not_drawn.append(f"{label} (stop date not usable)")
            continue
        p = Period(
            label=label,
            agent=agent,
            ifn_targeted=bool(t.get("ifn_targeted")),
            start=start,
            end=end,
            start_late=start_late,
            end_early=end_early,
        )
        periods.append(p)
        if p.approximate:
            approximate.append(label)
    return periods, not_drawn, approximate


def _range(xs: list[float], axis: Axis, until: float | None = None) -> tuple[float, float]:
    """Left and right edge: the data with a margin (5% of the span, at least a week; whole days
    on a calendar axis). ``until`` (today, on a calendar axis) is the right edge itself: the
    plot runs to today and no further."""
    lo, hi = min(xs), max(xs)
    if until is not None:
        hi = max(hi, until)
    span = hi - lo
    pad = max(7, round(span * 0.05)) if axis == "date" else max(7, span * 0.05)
    return lo - pad, (hi + pad if until is None or hi > until else until + 2)


# ------------------------------------------------------------------------------- drawing


def timeline_plot(data: Mapping[str, Any], *, today: dt.date | None = None) -> TimelinePlot:
    """The timeline figure for one patient (see the module docstring)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    from ifnscope.activity.change import change_marks

    axis, vpts, spts = _series(data)
    treatments = list(data.get("treatments") or [])
    xs = [p["x"] for p in vpts] + [p["x"] for p in spts]
    if not xs:
        return TimelinePlot(
            svg=_empty_svg("No visits or interferon scores to plot yet."), not_drawn=[], axis=axis
        )
    # A calendar axis runs to today; a de-identified one (days since the first visit) cannot
    # (today's offset would give the visits' dates away): it ends after the last data point or
    # treatment date.
    day = today or dt.date.today()
    until = _date_number(day) if axis == "date" else float("inf")
    periods, not_drawn, approximate = _periods(treatments, axis, until)
    ends = [e for p in periods for e in (p.start, p.end) if e is not None]
    left, right = _range(xs + ends, axis, until if axis == "date" else None)
    marks = change_marks(vpts)
    marked = [
        f"{_when(p)}: " + "; ".join(f"{d.index} activity {d.change:+g}" for d in marks[p["id"]])
        for p in vpts
        if p.get("id") in marks
    ]

    has_scores = bool(spts)
    lanes = len(periods)
    heights = [2.5] + ([1.9] if has_scores else []) + ([0.34 * lanes + 0.25] if lanes else [])
    width = 9.6
    rc: dict[RcKeyType, Any] = {
        "svg.fonttype": "none",
        "svg.hashsalt": "ifnscope",
        "font.size": 9,
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "axes.titlesize": 10,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
    with _RC_LOCK, rc_context(rc):
        fig = Figure(figsize=(width, sum(heights) + 0.5), layout="constrained")
        grid = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights, squeeze=False)
        axes: list[Axes] = list(grid[:, 0])
        colour_of = _colours([p.agent for p in periods])

        # Panel 1: activity
        ax = axes[0]
        drawn_any = False
        for key, label, colour, marker in ACTIVITY_SERIES:
            pairs = [(p["x"], p[key]) for p in vpts if p.get(key) is not None]
            if pairs:
                drawn_any = True
                ax.plot(
                    [x for x, _ in pairs],
                    [y for _, y in pairs],
                    marker=marker,
                    color=colour,
                    linewidth=1.8,
                    markersize=6,
                    label=label,
                    zorder=3,
                )
                for x, y in pairs:
                    ax.annotate(
                        f"{y:g}",
                        (x, y),
                        textcoords="offset points",
                        xytext=(0, 6),
                        ha="center",
                        fontsize=8,
                        color=colour,
                    )
        # Visits whose change since the previous score reaches a published threshold
        # (activity/change.py): a ring around the point and "≥MCID" / "≥4 pts" above it.
        series_of = {label.split()[0]: (key, colour) for key, label, colour, _ in ACTIVITY_SERIES}
        for p in vpts:
            for d in marks.get(int(p.get("id") or 0), []):
                key, colour = series_of[d.index]
                ax.plot(
                    [p["x"]],
                    [p[key]],
                    marker="o",
                    markersize=13,
                    markerfacecolor="none",
                    markeredgecolor=colour,
                    markeredgewidth=1.6,
                    zorder=4,
                    gid=f"mcid-{p['id']}-{d.index.lower()}",
                )
                ax.annotate(
                    "▼ " + ("MCID" if d.index == "CDASI" else "≥4 pts or 20%"),
                    (p["x"], p[key]),
                    textcoords="offset points",
                    xytext=(0, -16),
                    ha="center",
                    fontsize=7.5,
                    fontweight="bold",
                    color=colour,
                )
        for p in vpts:  # every visit, scored or not, as a tick on the activity panel
            ax.axvline(p["x"], color="#9a9a9a", linewidth=0.6, linestyle=":", zorder=1)
        ax.set_title("Skin activity (complete CDASI / CLASI scores)")
        ax.set_ylabel("activity score")
        if drawn_any:
            top = max(p[k] for p in vpts for k, *_ in ACTIVITY_SERIES if p.get(k) is not None)
            ax.set_ylim(0, top * 1.2 + 1)
            ax.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False, fontsize=8, ncols=2)
        else:
            ax.set_ylim(0, 10)
            ax.text(
                0.5,
                0.5,
                "no complete CDASI or CLASI score recorded (dotted lines: visits)",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="#444444",
            )

        # Panel 2: interferon scores
        if has_scores:
            ax2 = axes[1]
            by_sig: dict[str, list[dict[str, Any]]] = {}
            for p in spts:
                by_sig.setdefault(_plain(f"{p['signature']} ({p['method']})"), []).append(p)
            for i, (name, series) in enumerate(sorted(by_sig.items())):
                colour = SIGNATURE_COLOURS[i % len(SIGNATURE_COLOURS)]
                series.sort(key=lambda p: float(p["x"]))
                ax2.plot(
                    [p["x"] for p in series],
                    [p["score"] for p in series],
                    color=colour,
                    linewidth=1.4,
                    label=name,
                    zorder=3,
                )
                for p in series:
                    high = p.get("call") == "high"
                    ax2.plot(
                        [p["x"]],
                        [p["score"]],
                        marker="D",
                        markersize=6,
                        color=colour,
                        markerfacecolor=colour if high else "white",
                        zorder=4,
                    )
            ax2.set_title("Interferon scores (filled: called high)")
            ax2.set_ylabel("score")
            lo = min(p["score"] for p in spts)
            hi = max(p["score"] for p in spts)
            pad = (hi - lo) * 0.15 or 1
            ax2.set_ylim(lo - pad, hi + pad)
            ax2.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False, fontsize=8, ncols=3)

        # Shading of the treatment periods in the score panels
        for period in periods:
            end = period.end if period.end is not None else right
            fill, edge = colour_of[period.agent]
            for a in axes[: 1 + int(has_scores)]:
                a.axvspan(
                    period.start_late if period.start_late is not None else period.start,
                    period.end_early if period.end_early is not None else end,
                    facecolor=fill,
                    edgecolor=edge if period.ifn_targeted else "none",
                    hatch="///" if period.ifn_targeted else None,
                    linewidth=0,
                    alpha=0.45,
                    zorder=0,
                )

        # Treatment lane: a solid bar where the treatment certainly ran, pale where an
        # approximate (month or year) start or stop leaves it uncertain.
        if lanes:
            lane = axes[-1]
            for i, period in enumerate(periods):
                y = lanes - 1 - i
                end = period.end if period.end is not None else right
                fill, edge = colour_of[period.agent]
                solid_from = period.start_late if period.start_late is not None else period.start
                solid_to = period.end_early if period.end_early is not None else end
                for x0, x1 in ((period.start, solid_from), (solid_to, end)):
                    if x1 > x0:
                        lane.barh(
                            y,
                            x1 - x0,
                            left=x0,
                            height=0.72,
                            color=fill,
                            edgecolor=edge,
                            linestyle=":",
                            alpha=0.45,
                            linewidth=0.8,
                            zorder=1,
                        )
                if solid_to > solid_from:
                    lane.barh(
                        y,
                        solid_to - solid_from,
                        left=solid_from,
                        height=0.72,
                        color=fill,
                        edgecolor=edge,
                        hatch="///" if period.ifn_targeted else None,
                        linewidth=1,
                        zorder=2,
                    )
                text = _plain(period.label) + (" · IFN-targeted" if period.ifn_targeted else "")
                if period.end is None:
                    text += " (ongoing)"
                if period.approximate:
                    text = "≈ " + text + " (dates approximate)"
                lane.annotate(
                    text,
                    (period.start, y),
                    xytext=(5, 0),
                    textcoords="offset points",
                    va="center",
                    ha="left",
                    fontsize=8.5,
                    color="#111111",
                    fontweight="bold" if period.ifn_targeted else "normal",
                    zorder=3,
                    annotation_clip=False,
                )
            lane.set_yticks([])
            lane.set_ylim(-0.6, lanes - 0.4)
            lane.spines["left"].set_visible(False)
            lane.set_title(
                "Treatments (hatched: targets the type I interferon pathway; pale: approximate dates)"
            )

        if axis == "date":  # today, where the plot ends
            for a in axes:
                a.axvline(until, color="#444444", linewidth=0.9, linestyle="--", zorder=1)
            axes[0].annotate(
                "today",
                (until, 1),
                xycoords=("data", "axes fraction"),
                xytext=(-3, -2),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize=8,
                color="#444444",
            )
        axes[-1].set_xlim(left, right)
        if axis == "date":
            _date_ticks(axes[-1].xaxis)
        else:
            axes[-1].set_xlabel("days since the first visit")
        for a in axes:
            a.grid(axis="y", color="#e3e3e3", linewidth=0.6)
            a.set_axisbelow(True)

        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return TimelinePlot(
        svg=_inline(buf.getvalue(), _description(vpts, spts, periods, axis, marked)),
        not_drawn=not_drawn,
        axis=axis,
        approximate=approximate,
        marked=marked,
        until=day.isoformat() if axis == "date" else None,
        x_limits=(left, right),
    )


def _when(p: Mapping[str, Any]) -> str:
    return str(p.get("visit_date") or f"day {p.get('days_since_first_visit')}")


def timeline_svg(data: Mapping[str, Any]) -> str:
    """The timeline as an SVG string to inline in a page."""
    return timeline_plot(data).svg


def _colours(agents: list[str]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for agent in agents:
        if agent not in out:
            i = len(out) % len(TREATMENT_FILLS)
            out[agent] = (TREATMENT_FILLS[i], TREATMENT_EDGES[i])
    return out


def _description(
    vpts: list[dict[str, Any]],
    spts: list[dict[str, Any]],
    periods: list[Period],
    axis: Axis,
    marked: list[str],
) -> str:
    scored = sum(
        1 for p in vpts if p.get("cdasi_activity") is not None or p.get("clasi_activity") is not None
    )
    parts = [
        f"Timeline over {'calendar dates' if axis == 'date' else 'days since the first visit'}: "
        f"{len(vpts)} visit(s), {scored} with a complete activity score",
        f"{len(spts)} interferon score(s)",
        f"{len(periods)} treatment period(s)"
        + (
            ": " + ", ".join(p.label + (" (IFN-targeted)" if p.ifn_targeted else "") for p in periods)
            if periods
            else ""
        ),
    ]
    if marked:
        parts.append("change reaching a published threshold at " + ", ".join(marked))
    if axis == "date":
        parts.append("the axis runs to today")
    return "; ".join(parts) + ". The same numbers are in the tables below."


def _inline(svg: str, description: str) -> str:
    """Matplotlib's SVG document as an element for a page: no XML prolog or DOCTYPE, scalable
    (viewBox kept, fixed size dropped), with a role and a text alternative."""
    start = svg.find("<svg")
    svg = svg[start:]
    head_end = svg.find(">")
    head = svg[:head_end]
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    head += f' role="img" aria-label="{escape(description)}" class="timeline-svg"'
    return head + svg[head_end:].rstrip() + "\n"


def _empty_svg(message: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 60" role="img" class="timeline-svg" '
        f'aria-label="{escape(message)}"><text x="300" y="35" text-anchor="middle" '
        f'font-family="sans-serif" font-size="14" fill="#444">{escape(message)}</text></svg>'
    )
