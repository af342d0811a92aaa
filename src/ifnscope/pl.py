"""Plots of interferon scores in scanpy's manner: ``from ifnscope import pl``.

Each function takes an AnnData scored by :func:`ifnscope.signatures.score` (scores in
``obs``, provenance in ``uns``) or the :class:`~ifnscope.signatures.ScoreRun` it returned,
and returns a matplotlib :class:`~matplotlib.figure.Figure` built without pyplot: nothing
here selects a backend, shows or saves (``fig.savefig(path)``, or display it in a notebook).

- :func:`violin`: scores by group, a violin and the points per group (``sc.pl.violin``);
- :func:`embedding`: the scores on a UMAP/t-SNE/PCA (``sc.pl.embedding``);
- :func:`heatmap`: the signature genes per sample, ordered by score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ifnscope.errors import MatrixError, SignatureError
from ifnscope.signatures.adata import is_anndata, nearest
from ifnscope.signatures.aggregate import ScorePanel, group_labels, obs_column, panels_of_run, scores_in_obs
from ifnscope.signatures.scoring import ScoreRun

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ifnscope.signatures.reference import FixedReference

__all__ = ["embedding", "heatmap", "violin"]


def _as_list(keys: str | list[str] | None) -> list[str] | None:
    return [keys] if isinstance(keys, str) else (list(keys) if keys is not None else None)


def _panels(data: Any, keys: list[str] | None, key_added: str | None) -> list[ScorePanel]:
    if isinstance(data, ScoreRun):
        return panels_of_run(data, keys)
    if is_anndata(data):
        return scores_in_obs(data, key_added=key_added, signatures=keys)
    raise TypeError(f"expected an AnnData scored by ifnscope or a ScoreRun, not {type(data).__name__}")


def _cut_label(p: ScorePanel) -> str:
    if p.cutoff is None:
        return ""
    kind = "published" if p.cutoff.kind == "published" else "reference-derived"
    return f"{kind} cut-off {p.cutoff.value:.3g}"


def violin(
    data: Any,
    keys: str | list[str] | None = None,
    groupby: Any = None,
    *,
    key_added: str | None = None,
    stripplot: bool = True,
) -> Figure:
    """Scores by group: one panel per signature, a violin and the points of each group.

    ``keys``: signature names (default: every score found); ``groupby``: an obs column of the
    AnnData, or one label per sample (required form for a ScoreRun); None puts every sample in
    one violin. A dashed line marks the cut-off where one applies. ``key_added``: the key
    given to ``score()``, if any.
    """
    from ifnscope.signatures.plots import group_violin_figure

    panels = _panels(data, _as_list(keys), key_added)
    n = panels[0].scores.size
    labels = None
    order: list[str] = []
    if groupby is not None:
        if isinstance(groupby, str):
            if not is_anndata(data):
                raise TypeError(
                    "with a ScoreRun, groupby is one label per sample (a column name needs an AnnData)"
                )
            groupby = obs_column(data, groupby)
        labels, order = group_labels(groupby, n, "groupby")
    return group_violin_figure(
        [(p.title, p.scores, p.cutoff.value if p.cutoff else None, _cut_label(p)) for p in panels],
        labels,
        order,
        strip=stripplot,
    )


def _basis(adata: Any, basis: str) -> np.ndarray:
    """``adata.obsm[basis]`` (``"umap"`` or ``"X_umap"``, as scanpy accepts), the first two columns."""
    keys = [str(k) for k in adata.obsm]
    key = basis if basis in keys else f"X_{basis}"
    if key not in keys:
        if not keys:
            raise MatrixError(
                f"no embedding {basis!r}: adata.obsm is empty (compute one first, e.g. sc.pp.neighbors "
                "then sc.tl.umap, or sc.pp.pca)",
                code="matrix.layer",
            )
        raise MatrixError(
            f"no embedding {basis!r} in adata.obsm (keys: {', '.join(keys)}){nearest(f'X_{basis}', keys)}",
            code="matrix.layer",
        )
    coords = np.asarray(adata.obsm[key])
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise MatrixError(f"adata.obsm[{key!r}] has fewer than two dimensions to draw", code="matrix.layer")
    return coords[:, :2].astype(np.float64)


def embedding(
    adata: Any,
    keys: str | list[str] | None = None,
    *,
    basis: str = "umap",
    run: ScoreRun | None = None,
    key_added: str | None = None,
    size: float | None = None,
) -> Figure:
    """The scores on an embedding (``adata.obsm['X_umap']`` or any ``basis``), one panel each.

    Scores come from ``adata.obs`` (written by ``score()``) or, given ``run``, from that run,
    aligned by obs_names (cells the run did not score are grey).
    """
    from ifnscope.signatures.plots import embedding_figure

    if not is_anndata(adata):
        raise TypeError(f"embedding() needs the AnnData that holds the embedding, not {type(adata).__name__}")
    coords = _basis(adata, basis)
    if run is not None:
        import pandas as pd

        pos = pd.Index([str(s) for s in run.samples]).get_indexer(adata.obs_names.astype(str))
        if (pos < 0).all():
            raise MatrixError(
                "none of the run's samples is an observation of this AnnData (a pseudobulk run is "
                "drawn from the obs columns that score(..., pseudobulk=...) wrote)",
                code="matrix.samples",
            )
        panels = [
            ScorePanel(p.name, p.title, np.where(pos >= 0, p.scores[np.maximum(pos, 0)], np.nan), p.cutoff)
            for p in panels_of_run(run, _as_list(keys))
        ]
    else:
        panels = scores_in_obs(adata, key_added=key_added, signatures=_as_list(keys))
    return embedding_figure(coords, [(p.title, p.scores) for p in panels], basis=basis, size=size)


def heatmap(
    run: ScoreRun, signature: str | None = None, *, reference: FixedReference | None = None
) -> Figure:
    """Signature genes x samples, samples ordered by score (z-scores vs ``reference`` if given).

    Needs the :class:`ScoreRun` (it holds each gene's values; obs holds only the scores).
    """
    from ifnscope.signatures.plots import heatmap_figure

    if not isinstance(run, ScoreRun):
        raise TypeError(
            "heatmap() needs the ScoreRun that score() returned (it holds the genes' values; "
            "adata.obs holds only the scores): run = sig.score(adata, ...); pl.heatmap(run)"
        )
    names = [r.signature.name for r in run.results]
    if signature is None:
        result = run.results[0]
    elif signature in names:
        result = run.results[names.index(signature)]
    else:
        raise SignatureError(
            f"{signature!r} is not in this run (scored: {', '.join(names)}){nearest(signature, names)}",
            code="signature.unknown",
        )
    if not result.coverage.found:
        raise SignatureError(f"{result.signature.name} has no genes to draw", code="signature.coverage")
    return heatmap_figure(result, run.extracted, reference=reference)
