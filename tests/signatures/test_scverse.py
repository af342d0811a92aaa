"""AnnData as scanpy users hold it: use_raw, layer, uns['log1p'], key_added, copy, backed
files and a .uns that write_h5ad stores (built with scanpy itself on the Kang PBMC cells)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ifnscope import signatures as sig
from ifnscope.errors import MatrixError, SignatureError
from ifnscope.signatures.adata import from_anndata
from ifnscope.signatures.matrix import H5adStream
from ifnscope.signatures.output import write_obs
from tests.signatures.kang import kang_counts, kang_scanpy, needs_kang

pytestmark = [needs_kang, pytest.mark.filterwarnings("ignore:zero-centering a sparse array")]


@pytest.fixture(scope="module")
def tutorial() -> Any:
    """Counts layer, log-normalised .raw, scaled .X (scanpy's clustering tutorial)."""
    return kang_scanpy(150)


def _plain(x: Any) -> Any:
    """uns as plain Python (numpy arrays as lists), for comparing what was written and read."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return [_plain(v) for v in x.tolist()]
    if isinstance(x, (np.generic,)):
        return x.item()
    return x


# ------------------------------------------------------------------ use_raw and layer


def test_use_raw_none_reads_raw_like_score_genes(tutorial: Any) -> None:
    """With .raw set and no layer, the log values of .raw are scored, not the scaled .X."""
    adata = tutorial.copy()
    run = sig.score(adata, "aybey_ifna", method="singscore")
    assert "(.raw)" in run.matrix_notes[0]
    plain = adata.raw.to_adata()  # the same log values as .X, no .raw
    del plain.uns["log1p"]
    expected = sig.score(plain, "aybey_ifna", method="singscore", inplace=False)
    assert np.allclose(adata.obs["ifn_aybey_ifna"], expected.results[0].scores, atol=1e-6)


def test_raw_var_names_are_used_when_x_was_subset(tutorial: Any) -> None:
    """After subsetting .X to a few genes (e.g. highly variable ones), .raw still has them all."""
    genes = [g for g in tutorial.var_names if not g.startswith(("IFI", "ISG", "MX", "RSAD", "OAS"))][:400]
    adata = tutorial[:, genes].copy()
    run = sig.score(adata, "rice6", method="singscore")
    assert len(run.results[0].coverage.found) == 6
    with pytest.raises(SignatureError) as e:
        sig.score(adata, "rice6", method="singscore", use_raw=False)
    assert e.value.code == "signature.coverage"


def test_layer_is_read_and_singscore_ignores_normalisation(tutorial: Any) -> None:
    """Ranks within a cell do not change under per-cell normalisation and log1p."""
    adata = tutorial.copy()
    on_counts = sig.score(adata, "aybey_ifna", method="singscore", layer="counts", inplace=False)
    assert "(layer 'counts')" in on_counts.matrix_notes[0]
    on_raw = sig.score(adata, "aybey_ifna", method="singscore", inplace=False)
    assert np.allclose(on_counts.results[0].scores, on_raw.results[0].scores, atol=1e-6)


def test_use_raw_and_layer_errors_name_what_exists(tutorial: Any) -> None:
    adata = tutorial.copy()
    with pytest.raises(MatrixError) as e:
        sig.score(adata, "rice6", method="singscore", layer="count")
    assert e.value.code == "matrix.layer"
    assert "did you mean 'counts'" in e.value.message
    with pytest.raises(MatrixError) as e:
        sig.score(adata, "rice6", method="singscore", layer="counts", use_raw=True)
    assert e.value.code == "matrix.layer"
    no_raw = kang_counts(20)
    with pytest.raises(MatrixError) as e:
        sig.score(no_raw, "rice6", method="singscore", use_raw=True)
    assert e.value.code == "matrix.layer"
    assert "no .raw" in e.value.message


# ------------------------------------------------------------------------ uns['log1p']


def test_log1p_base_is_read_from_uns() -> None:
    import scanpy as sc

    adata = kang_counts(20)
    adata.layers["counts"] = adata.X.copy()
    assert from_anndata(adata).log_base is None  # nothing recorded: detected from the values
    sc.pp.normalize_total(adata)
    natural = adata.copy()
    sc.pp.log1p(natural)
    m = from_anndata(natural)
    assert m.log_base == pytest.approx(math.e)
    assert m.log_base_source == "uns['log1p']"
    base2 = adata.copy()
    sc.pp.log1p(base2, base=2)
    assert from_anndata(base2).log_base == pytest.approx(2.0)
    layer = from_anndata(natural, layer="counts")  # the record describes .X, not a layer
    assert layer.log_base is None
    assert any("describes .X" in n for n in layer.notes)


def test_raw_of_counts_is_not_taken_for_log(tutorial: Any) -> None:
    """.raw set before normalisation holds counts: uns['log1p'] does not describe it."""
    import scanpy as sc

    adata = kang_counts(20)
    adata.raw = adata.copy()  # anndata 0.12 shares a CSR X with .raw: in-place steps would reach it
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    m = from_anndata(adata)
    assert m.log_base is None
    assert any("integer values" in n for n in m.notes)
    assert from_anndata(adata, use_raw=False).log_base == pytest.approx(math.e)


# --------------------------------------------------------- key_added, copy, inplace


def test_copy_returns_a_new_anndata_and_leaves_the_input_alone(tutorial: Any) -> None:
    import anndata as ad

    adata = tutorial.copy()
    before = set(adata.obs.columns)
    out = sig.score(adata, "rice6", method="singscore", copy=True)
    assert isinstance(out, ad.AnnData)
    assert "ifn_rice6" in out.obs.columns
    assert "ifnscope" in out.uns
    assert set(adata.obs.columns) == before
    assert "ifnscope" not in adata.uns
    run = sig.score(adata, "rice6", method="singscore", inplace=False)
    assert isinstance(run, sig.ScoreRun)
    assert set(adata.obs.columns) == before
    assert np.allclose(out.obs["ifn_rice6"], run.results[0].scores)
    with pytest.raises(ValueError, match="inplace=False"):
        sig.score(adata, "rice6", method="singscore", copy=True, inplace=False)
    with pytest.raises(TypeError, match="new AnnData"):
        sig.score(run.extracted, "rice6", copy=True)


def test_key_added_names_the_columns_and_the_uns_entry(tutorial: Any) -> None:
    adata = tutorial.copy()
    sig.score(adata, "rice6", method="singscore", key_added="isg")
    assert "isg_rice6" in adata.obs.columns
    assert "ifn_rice6" not in adata.obs.columns
    assert adata.uns["isg"]["signatures"]["rice6"]["obs_key"] == "isg_rice6"
    assert "ifnscope" not in adata.uns


# ------------------------------------------------- obs and uns that write_h5ad stores


def test_scores_survive_write_h5ad_and_accumulate(tutorial: Any, tmp_path: Path) -> None:
    import anndata as ad

    adata = tutorial.copy()
    sig.score(adata, ["rice6", "aybey_ifna"], controls="condition=control")
    sig.score(adata, "aybey_ifng", method="singscore")  # a second call adds, it does not replace
    assert set(adata.uns["ifnscope"]["signatures"]) == {"rice6", "aybey_ifna", "aybey_ifng"}
    call = adata.obs["ifn_rice6_call"]
    assert isinstance(call.dtype, pd.CategoricalDtype)
    assert list(call.cat.categories) == ["low", "high"]
    assert "ifn_aybey_ifng_call" not in adata.obs.columns  # no cut-off, no call
    path = tmp_path / "scored.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    assert _plain(back.uns["ifnscope"]) == _plain(adata.uns["ifnscope"])
    rice = back.uns["ifnscope"]["signatures"]["rice6"]
    assert rice["cutoff"]["kind"] == "published"
    assert rice["cutoff"]["value"] == pytest.approx(2.466)
    assert "caution" in rice["cutoff"]
    assert "cutoff" not in back.uns["ifnscope"]["signatures"]["aybey_ifng"]  # None is left out


def test_module_count_calls_are_ordered_level_words(tutorial: Any) -> None:
    adata = tutorial[:120].copy()
    sig.score(adata, "chiche_count", controls="condition=control")
    call = adata.obs["ifn_chiche_count_call"]
    assert list(call.cat.categories) == ["absent", "mild", "moderate", "strong"]
    assert call.cat.ordered


def test_an_older_uns_layout_is_replaced(tutorial: Any) -> None:
    adata = tutorial.copy()
    adata.uns["ifnscope"] = {"scale": "x", "signatures": [{"signature": "rice6"}]}  # before issue 10
    sig.score(adata, "rice6", method="singscore")
    assert list(adata.uns["ifnscope"]["signatures"]) == ["rice6"]


def test_obs_is_aligned_by_obs_names(tutorial: Any) -> None:
    adata = tutorial.copy()
    run = sig.score(adata, "rice6", method="singscore", inplace=False)
    shuffled = adata[np.random.default_rng(1).permutation(adata.n_obs)].copy()
    write_obs(run, shuffled)
    by_name = dict(zip(run.samples, run.results[0].scores, strict=True))
    assert np.allclose(shuffled.obs["ifn_rice6"], [by_name[n] for n in shuffled.obs_names])
    other = kang_counts(5, seed=3)
    other.obs_names = [f"x{i}" for i in range(other.n_obs)]
    with pytest.raises(MatrixError) as e:
        write_obs(run, other)
    assert e.value.code == "matrix.samples"


# ---------------------------------------------------------------------------- backed


def test_backed_anndata_is_streamed_with_the_same_scores(tmp_path: Path) -> None:
    import anndata as ad

    adata = kang_counts(100)
    path = tmp_path / "counts.h5ad"
    adata.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        assert isinstance(from_anndata(backed), H5adStream)
        names = ["aybey_ifna", "rice6"]
        on_disk = sig.score(backed, names, method="singscore")
        in_memory = sig.score(adata, names, method="singscore")
        for a, b in zip(on_disk.results, in_memory.results, strict=True):
            assert np.allclose(a.scores, b.scores, atol=1e-6)
        assert np.allclose(backed.obs["ifn_rice6"], adata.obs["ifn_rice6"], atol=1e-6)
        # obs columns added in memory after the file was written are seen (pseudobulk by them)
        backed.obs["half"] = np.where(np.arange(backed.n_obs) % 2 == 0, "even", "odd")
        adata.obs["half"] = backed.obs["half"].to_numpy()
        assert np.array_equal(sig.pseudobulk(backed, "half").x, sig.pseudobulk(adata, "half").x)
    finally:
        backed.file.close()


def test_backed_layer_and_raw_are_streamed_from_the_file(tmp_path: Path) -> None:
    """A backed AnnData's layer and .raw are read from the file, never X in their place, and a
    pseudobulk of a layer sums that layer chunk by chunk."""
    import anndata as ad

    adata = kang_counts(40)
    adata.layers["counts"] = adata.X.copy()
    adata.raw = adata.copy()
    adata.X = adata.X * 0.5  # anything but the counts
    path = tmp_path / "layers.h5ad"
    adata.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        for kw in ({"layer": "counts"}, {"use_raw": True}):
            on_disk = sig.score(backed, "rice6", method="singscore", inplace=False, **kw)
            in_memory = sig.score(adata, "rice6", method="singscore", inplace=False, **kw)
            assert np.allclose(on_disk.results[0].scores, in_memory.results[0].scores, atol=1e-6)
        backed.obs["half"] = np.where(np.arange(backed.n_obs) % 2 == 0, "even", "odd")
        adata.obs["half"] = backed.obs["half"].to_numpy()
        streamed = sig.pseudobulk(backed, "half", layer="counts", min_cells=1)
        assert np.allclose(streamed.x, sig.pseudobulk(adata, "half", layer="counts", min_cells=1).x)
        with pytest.raises(MatrixError) as e:  # X holds halves, not counts
            sig.pseudobulk(backed, "half", use_raw=False, min_cells=1)
        assert e.value.code == "matrix.scale"
    finally:
        backed.file.close()


def test_signatures_not_scored_are_recorded_in_uns_and_cleared_once_scored(tmp_path: Path) -> None:
    adata = kang_counts(60)
    sig.score(adata, ["rice6", "hallmark_ifng"], method="singscore", min_coverage=1.0)
    record = adata.uns["ifnscope"]
    assert "rice6" in record["signatures"]
    assert record["not_scored"]["hallmark_ifng"]["code"] == "signature.coverage"
    adata.write_h5ad(tmp_path / "scored.h5ad")  # storable as written
    sig.score(adata, "hallmark_ifng", method="singscore", min_coverage=0.0)
    assert "not_scored" not in adata.uns["ifnscope"]
    assert {"rice6", "hallmark_ifng"} <= set(adata.uns["ifnscope"]["signatures"])
