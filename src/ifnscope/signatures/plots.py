"""Plots: the score distribution with its cut-off, and a gene-by-sample heatmap (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ifnscope.signatures.extract import Extracted
from ifnscope.signatures.reference import FixedReference
from ifnscope.signatures.scoring import ScoreRun, SignatureScore

MAX_HEATMAP_SAMPLES = 2000


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_distribution(run: ScoreRun, path: str | Path, *, groups: np.ndarray | None = None) -> None:
    """One panel per signature: scores per group (or all samples) with the cut-off line."""
    plt = _plt()
    n = len(run.results)
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 2.6 * n + 0.6), squeeze=False)
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
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_heatmap(
    result: SignatureScore, ex: Extracted, path: str | Path, *, reference: FixedReference | None = None
) -> None:
    """Genes x samples, samples ordered by score; z-scores against the reference when given."""
    plt = _plt()
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
    fig, (ax0, ax) = plt.subplots(
        2,
        1,
        figsize=(9, 0.25 * len(genes) + 2.2),
        gridspec_kw={"height_ratios": [1, max(len(genes), 4)]},
        sharex=True,
    )
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
    fig.savefig(path, dpi=150)
    plt.close(fig)
