"""Plots: the score distribution with its cut-off, scores by group and on an embedding, and a
gene-by-sample heatmap (matplotlib).

The figures are built with matplotlib's object-oriented API (:class:`~matplotlib.figure.Figure`,
no pyplot) and returned: nothing here selects a backend or touches pyplot's global state, so
a notebook or an application keeps its own backend. :func:`save_figure` writes one to a file
(the format follows the suffix); :func:`plot_distribution` and :func:`plot_heatmap` build and
save in one call, for the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ifnscope.signatures.extract import Extracted
from ifnscope.signatures.reference import FixedReference
from ifnscope.signatures.scoring import ScoreRun, SignatureScore

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_HEATMAP_SAMPLES = 2000
DPI = 150


def distribution_figure(run: ScoreRun, *, groups: np.ndarray | None = None) -> Figure:
    """One panel per signature: scores per group (or all samples) with the cut-off line."""
    from matplotlib.figure import Figure

    n = len(run.results)
    fig = Figure(figsize=(7.5, 2.6 * n + 0.6))
    axes = fig.subplots(n, 1, squeeze=False)
    labels = [""] if groups is None else sorted({str(g) for g in groups})
    rng = np.random.default_rng(0)
    for ax, r in zip(axes[:, 0], run.results, strict=True):
        data = (
            [r.scores[np.isfinite(r.scores)]]
            if groups is None
            else [r.scores[(groups.astype(str) == g) & np.isfinite(r.scores)] for g in labels]
        )
        ax.violinplot(
            [d if d.size else np.array([np.nan]) for d in data], showmedians=True, orientation="horizontal"
        )
        for i, d in enumerate(data, start=1):
            if d.size <= 3000:
                ax.scatter(d, i + rng.uniform(-0.15, 0.15, d.size), s=6, alpha=0.5, color="0.2", lw=0)
        ax.set_yticks(range(1, len(labels) + 1), labels if groups is not None else [""])
        if r.cutoff is not None:
            ax.axvline(r.cutoff.value, color="crimson", ls="--", lw=1)
            kind = "published" if r.cutoff.kind == "published" else "reference-derived"
            ax.text(
                r.cutoff.value,
                ax.get_ylim()[1],
                f" {kind} cut-off {r.cutoff.value:.3g}",
                color="crimson",
                va="top",
                fontsize=8,
            )
        ax.set_title(
            f"{r.signature.definition.title} — {r.method} ({len(r.coverage.found)}/{r.coverage.total} genes)",
            fontsize=9,
            loc="left",
        )
        ax.set_xlabel("score")
    fig.tight_layout()
    return fig


def group_violin_figure(
    panels: list[tuple[str, np.ndarray, float | None, str]],
    labels: np.ndarray | None,
    order: list[str],
    *,
    strip: bool = True,
    max_strip: int = 3000,
) -> Figure:
    """One panel per score: a violin per group (x) with its points, as ``sc.pl.violin`` draws.

    ``panels`` holds (title, scores, cut-off or None, cut-off label); ``labels`` one group per
    sample (None: all samples in one violin) and ``order`` the groups in display order. Points
    are drawn for up to ``max_strip`` samples per group (a random subset beyond, seeded).
    """
    from matplotlib.figure import Figure

    n = len(panels)
    groups = order if labels is not None else ["all"]
    fig = Figure(figsize=(max(3.0, 0.9 * len(groups) + 1.8) * min(n, 3), 3.2 * ((n + 2) // 3)))
    axes = fig.subplots((n + 2) // 3, min(n, 3), squeeze=False).ravel()
    rng = np.random.default_rng(0)
    for ax, (title, scores, cut, cut_label) in zip(axes, panels, strict=False):
        data = [scores[np.isfinite(scores) & ((labels == g) if labels is not None else True)] for g in groups]
        pos = [i for i, d in enumerate(data, start=1) if d.size]
        if pos:
            ax.violinplot([data[i - 1] for i in pos], positions=pos, showmedians=True, widths=0.8)
        for i, d in enumerate(data, start=1):
            if strip and d.size:
                shown = d if d.size <= max_strip else rng.choice(d, max_strip, replace=False)
                ax.scatter(i + rng.uniform(-0.2, 0.2, shown.size), shown, s=4, alpha=0.5, color="0.2", lw=0)
        ax.set_xticks(range(1, len(groups) + 1), groups, rotation=90 if len(groups) > 6 else 0)
        ax.set_xlim(0.4, len(groups) + 0.6)
        if cut is not None:
            ax.axhline(cut, color="crimson", ls="--", lw=1, label=cut_label)
            ax.legend(loc="upper left", fontsize=7, frameon=False)
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_ylabel("score")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def embedding_figure(
    coords: np.ndarray, panels: list[tuple[str, np.ndarray]], *, basis: str, size: float | None = None
) -> Figure:
    """One panel per score: the cells at their embedding coordinates, coloured by the score.

    As ``sc.pl.embedding`` does, the highest scores are drawn last (on top) and cells without a
    score are drawn first, in light grey.
    """
    from matplotlib.figure import Figure

    n = len(panels)
    fig = Figure(figsize=(4.4 * min(n, 3), 3.8 * ((n + 2) // 3)))
    axes = fig.subplots((n + 2) // 3, min(n, 3), squeeze=False).ravel()
    s = size if size is not None else max(1.0, min(30.0, 120_000 / max(coords.shape[0], 1)))
    label = basis.removeprefix("X_").upper()
    for ax, (title, scores) in zip(axes, panels, strict=False):
        ok = np.isfinite(scores)
        if (~ok).any():
            ax.scatter(coords[~ok, 0], coords[~ok, 1], s=s, color="0.85", lw=0, label="no score")
        order = np.flatnonzero(ok)[np.argsort(scores[ok], kind="stable")]
        pts = ax.scatter(coords[order, 0], coords[order, 1], c=scores[order], s=s, cmap="viridis", lw=0)
        fig.colorbar(pts, ax=ax, fraction=0.05, label="score")
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_xlabel(f"{label}1")
        ax.set_ylabel(f"{label}2")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def heatmap_figure(
    result: SignatureScore, ex: Extracted, *, reference: FixedReference | None = None
) -> Figure:
    """Genes x samples, samples ordered by score; z-scores against the reference when given."""
    from matplotlib.figure import Figure

    genes = result.coverage.found
    cols = [ex.column(g) for g in genes]
    x = ex.log2[:, cols].astype(np.float64)
    if reference is not None and all(g in reference.genes for g in genes):
        mu = np.array([reference.genes[g].mean for g in genes])
        sd = np.array([max(reference.genes[g].sd, 1e-6) for g in genes])
        z, label = (x - mu) / sd, "z-score vs reference"
    else:
        z = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-6)
        label = "z-score across these samples"
    order = np.argsort(result.scores)
    if order.size > MAX_HEATMAP_SAMPLES:  # evenly spaced by score, to stay readable
        order = order[np.linspace(0, order.size - 1, MAX_HEATMAP_SAMPLES).astype(int)]
    z = np.clip(z[order].T, -4, 4)
    fig = Figure(figsize=(9, 0.25 * len(genes) + 2.2))
    ax0, ax = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, max(len(genes), 4)]}, sharex=True)
    ax0.plot(result.scores[order], color="0.2", lw=1)
    ax0.set_ylabel("score", fontsize=8)
    ax0.set_title(f"{result.signature.definition.title} ({result.method})", fontsize=9, loc="left")
    im = ax.imshow(z, aspect="auto", cmap="RdBu_r", vmin=-4, vmax=4, interpolation="nearest")
    ax.set_yticks(range(len(genes)), genes, fontsize=7)
    if order.size <= 60:
        ax.set_xticks(range(order.size), [str(s) for s in ex.samples[order]], rotation=90, fontsize=6)
    else:
        ax.set_xlabel(f"{order.size} samples, ordered by score")
        ax.set_xticks([])
    fig.colorbar(im, ax=ax, label=label, fraction=0.03)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int = DPI) -> None:
    """Write a figure to ``path`` (PNG, SVG, PDF, ... by its suffix) with no backend switch."""
    fig.savefig(path, dpi=dpi)


def plot_distribution(run: ScoreRun, path: str | Path, *, groups: np.ndarray | None = None) -> None:
    """:func:`distribution_figure`, saved to ``path`` (what ``ifnscope score --plot`` writes)."""
    save_figure(distribution_figure(run, groups=groups), path)


def plot_heatmap(
    result: SignatureScore, ex: Extracted, path: str | Path, *, reference: FixedReference | None = None
) -> None:
    """:func:`heatmap_figure`, saved to ``path`` (what ``ifnscope score --heatmap`` writes)."""
    save_figure(heatmap_figure(result, ex, reference=reference), path)
