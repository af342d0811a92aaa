"""ifnscope.pl: the figures hold the right artists and data (never compared as pixels)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from ifnscope import pl
from ifnscope import signatures as sig
from ifnscope.errors import MatrixError, SignatureError
from tests.signatures.kang import kang_scanpy, needs_kang

pytestmark = [needs_kang, pytest.mark.filterwarnings("ignore:zero-centering a sparse array")]


@pytest.fixture(scope="module")
def scored() -> tuple[Any, sig.ScoreRun]:
    import scanpy as sc

    adata = kang_scanpy(100)
    run = sig.score(adata, ["aybey_ifna", "rice6"], controls="condition=control")
    sc.pp.pca(adata, n_comps=5)
    return adata, run


def _visible_axes(fig: Figure) -> list[Any]:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def test_violin_by_group_from_anndata(scored: tuple[Any, sig.ScoreRun]) -> None:
    adata, _ = scored
    fig = pl.violin(adata, groupby="condition")
    assert isinstance(fig, Figure)
    axes = _visible_axes(fig)
    assert len(axes) == 2  # one panel per signature
    for ax, name in zip(axes, ["aybey_ifna", "rice6"], strict=True):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["control", "ifnb"]
        bodies = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(bodies) >= 2  # a violin per group
        points = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(points) == 2
        for i, (pts, group) in enumerate(zip(points, ["control", "ifnb"], strict=True), start=1):
            xy = pts.get_offsets()
            expected = adata.obs.loc[adata.obs["condition"] == group, f"ifn_{name}"].to_numpy()
            assert np.allclose(np.sort(xy[:, 1]), np.sort(expected))
            assert np.all(np.abs(xy[:, 0] - i) <= 0.2)
        # the cut-off line: reference-derived for aybey_ifna, published (2.466) for rice6
        cut = adata.uns["ifnscope"]["signatures"][name]["cutoff"]["value"]
        assert any(np.allclose(line.get_ydata(), cut) for line in ax.get_lines())


def test_violin_from_a_run_equals_anndata(scored: tuple[Any, sig.ScoreRun]) -> None:
    adata, run = scored
    fig = pl.violin(run, "rice6", groupby=adata.obs["condition"].to_numpy())
    (ax,) = _visible_axes(fig)
    pts = [c for c in ax.collections if isinstance(c, PathCollection)]
    ifnb = run.results[1].scores[adata.obs["condition"].to_numpy() == "ifnb"]
    assert np.allclose(np.sort(pts[1].get_offsets()[:, 1]), np.sort(ifnb))
    with pytest.raises(TypeError, match="one label per sample"):
        pl.violin(run, groupby="condition")
    with pytest.raises(SignatureError) as e:
        pl.violin(adata, "rice")
    assert "did you mean 'rice6'" in e.value.message


def test_embedding_colours_cells_by_score(scored: tuple[Any, sig.ScoreRun]) -> None:
    adata, run = scored
    fig = pl.embedding(adata, "aybey_ifna", basis="pca")
    (ax,) = _visible_axes(fig)
    (pts,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    scores = adata.obs["ifn_aybey_ifna"].to_numpy()
    order = np.argsort(scores, kind="stable")  # highest drawn last, as scanpy does
    assert np.allclose(pts.get_offsets(), adata.obsm["X_pca"][order, :2])
    assert np.allclose(pts.get_array(), scores[order])
    assert ax.get_xlabel() == "PCA1"
    # the same from the run, aligned by obs_names, on a subset AnnData
    sub = adata[::2].copy()
    fig2 = pl.embedding(sub, "aybey_ifna", basis="X_pca", run=run)
    (pts2,) = [c for c in _visible_axes(fig2)[0].collections if isinstance(c, PathCollection)]
    assert np.allclose(np.sort(pts2.get_array()), np.sort(scores[::2]))


def test_embedding_errors_say_what_to_compute(scored: tuple[Any, sig.ScoreRun]) -> None:
    adata, _ = scored
    with pytest.raises(MatrixError) as e:
        pl.embedding(adata, basis="umap")
    assert e.value.code == "matrix.layer"
    assert "X_pca" in e.value.message
    bare = adata.copy()
    for k in list(bare.obsm):
        del bare.obsm[k]
    with pytest.raises(MatrixError) as e:
        pl.embedding(bare)
    assert "sc.tl.umap" in e.value.message


def test_heatmap_needs_the_run(scored: tuple[Any, sig.ScoreRun]) -> None:
    adata, run = scored
    fig = pl.heatmap(run, "rice6")
    images = [im for ax in fig.axes for im in ax.get_images() if isinstance(im, AxesImage)]
    assert len(images) == 1
    assert images[0].get_array().shape == (6, adata.n_obs)  # genes x samples
    with pytest.raises(TypeError, match="ScoreRun"):
        pl.heatmap(adata)
    with pytest.raises(SignatureError):
        pl.heatmap(run, "feng5")
