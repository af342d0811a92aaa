"""What the values mean (issue 10): qPCR delta-Ct ranks, a recorded log base, z-scored matrices.

Built from the shapes users have: scanpy-processed AnnData of the shared whole-blood data
(normalize_total + log1p with scanpy's default natural log, sc.pp.scale), and delta-Ct tables.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from ifnscope.errors import MatrixError, SignatureError
from ifnscope.signatures import read_expression
from ifnscope.signatures.extract import extract, looks_zscored
from ifnscope.signatures.matrix import CsrMatrix, DenseMatrix, Matrix
from ifnscope.signatures.reference import fit_reference, select_controls
from ifnscope.signatures.scoring import score
from tests.helpers import SHARED

BLOOD = SHARED / "data" / "blood_ifn_stimulation" / "whole_blood_normalized_counts.txt"
KANG = SHARED / "data" / "pbmc_ifnb_kang2018"
needs_blood = pytest.mark.skipif(
    not BLOOD.is_file(), reason=f"SKIPPED: the shared whole-blood data are not at {BLOOD}"
)
needs_kang = pytest.mark.skipif(
    not KANG.is_dir(), reason=f"SKIPPED: the shared Kang 2018 PBMC data are not at {KANG}"
)


@pytest.fixture(scope="module")
def blood() -> Any:
    """The shared whole blood as AnnData (samples x genes), values as distributed."""
    import anndata as ad
    import pandas as pd

    df = pd.read_csv(BLOOD, sep="\t", index_col=0)
    a = ad.AnnData(df.T.to_numpy(dtype=np.float32))
    a.obs_names = [str(c) for c in df.columns]
    a.var_names = [str(g) for g in df.index]
    return a


def _scanpy_log(a: Any, base: float | None) -> Any:
    import scanpy as sc

    b = a.copy()
    sc.pp.normalize_total(b)
    sc.pp.log1p(b, base=base)
    return b


def _matrix(adata: Any, base: float | None) -> Matrix:
    """What the AnnData reader produces: the log base scanpy recorded in uns['log1p'] (the
    reader reads it itself, checked here); ``None`` imitates a reader that ignored it."""
    m = read_expression(adata)
    if base is None:
        m.log_base, m.log_base_source = None, ""
    else:
        assert m.log_base == pytest.approx(base)
        assert m.log_base_source == "uns['log1p']"
    return m


def _rice_calls(m: Matrix, scale: Any = None) -> tuple[np.ndarray, str]:
    ref = fit_reference(m, select_controls(m, "Buffer"), rule="Buffer", scale=scale)
    run = score(m, ["rice6"], reference=ref, scale=scale)
    calls = run.results[0].calls
    assert calls is not None
    return calls, run.scale


# --------------------------------------------------------------------------- qPCR delta-Ct


def _dct_table(blood: Any, reference_gene: str = "HPRT1") -> DenseMatrix:
    """delta-Ct = Ct(gene) - Ct(reference) = log2(reference) - log2(gene) (Ct ~ -log2 amount)."""
    x = np.log2(np.asarray(blood.X, dtype=np.float64) + 1.0)
    ref = x[:, list(blood.var_names).index(reference_gene)]
    m = read_expression(blood)
    assert isinstance(m, DenseMatrix)
    m.x = np.ascontiguousarray((ref[:, None] - x).astype(np.float32))
    return m


@needs_blood
def test_singscore_on_dct_ranks_expression_not_ct(blood: Any) -> None:
    expr = score(read_expression(blood), ["rice6", "aybey_ifna"], method="singscore")
    dct = score(_dct_table(blood), ["rice6", "aybey_ifna"], method="singscore", scale="dct")
    for a, b in zip(expr.results, dct.results, strict=True):
        # -dCt is log2(gene+1) shifted per sample: the same ranks, so the same scores and order
        assert np.argsort(a.scores).tolist() == np.argsort(b.scores).tolist()
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-3)
    names = list(dct.samples)
    s = dct.results[0].scores
    for donor in ("D1", "D2", "D3", "D1R"):  # IFN-beta above Buffer: the strongest scores highest
        assert s[names.index(f"{donor}_IFNbeta")] > s[names.index(f"{donor}_Buffer")]


@needs_blood
def test_dct_in_a_sparse_matrix_is_refused(blood: Any) -> None:
    dense = _dct_table(blood)
    m = CsrMatrix(
        source="x",
        samples=dense.samples,
        feature_ids=dense.feature_ids,
        kind="bulk",
        csr=sp.csr_matrix(dense.x),
    )
    with pytest.raises(MatrixError) as e:
        score(m, ["rice6"], method="singscore", scale="dct")
    assert e.value.code == "matrix.scale"


# --------------------------------------------------------------------------- recorded log base


@needs_blood
def test_scanpy_natural_log_gives_the_calls_of_the_log2_pipeline(blood: Any) -> None:
    log2_calls, _ = _rice_calls(_matrix(_scanpy_log(blood, 2.0), 2.0))
    ln = _scanpy_log(blood, None)
    assert ln.uns["log1p"]["base"] is None  # scanpy's default: natural log
    ln_calls, described = _rice_calls(_matrix(ln, math.e))
    assert ln_calls.tolist() == log2_calls.tolist()
    assert (log2_calls == "high").sum() >= 1
    assert "declared by uns['log1p'] as log_e(x+1)" in described
    # what happened before: natural-log values read as log2 flip calls (2 of 28 here)
    old_calls, _ = _rice_calls(_matrix(ln, None))
    assert (old_calls != log2_calls).sum() >= 1


@needs_blood
def test_any_recorded_base_is_converted(blood: Any) -> None:
    m2 = _matrix(_scanpy_log(blood, 2.0), 2.0)
    m10 = _matrix(_scanpy_log(blood, 10.0), 10.0)
    ex2 = extract(m2, ["IFI27", "ISG15"], want_ranks=False)
    ex10 = extract(m10, ["IFI27", "ISG15"], want_ranks=False)
    np.testing.assert_allclose(ex2.log2, ex10.log2, rtol=1e-4, atol=1e-4)
    assert "log_10(x+1)" in ex10.scale.describe()


@needs_blood
def test_a_user_scale_overrides_the_recorded_base_with_a_note(blood: Any) -> None:
    m = _matrix(_scanpy_log(blood, None), math.e)
    run = score(m, ["aybey_ifna"], method="singscore", scale="log2")
    assert any("--scale log2 overrides uns['log1p']" in n for n in run.matrix_notes)
    run = score(m, ["aybey_ifna"], method="singscore", scale="ln")  # agrees: no note
    assert not any("overrides" in n for n in run.matrix_notes)


# --------------------------------------------------------------------------- z-scored data


@needs_blood
def test_a_scaled_matrix_is_refused_for_level_methods_and_singscore(blood: Any) -> None:
    import scanpy as sc

    z = _scanpy_log(blood, None)
    # What a scanpy user keeps: the log-normalised values in .raw. (``z.raw = z`` on a dense X
    # shares the array in anndata 0.12, so sc.pp.scale would scale .raw as well.)
    z.raw = z.copy()
    sc.pp.scale(z)
    m = read_expression(z, use_raw=False)  # the scaled .X
    with pytest.raises(SignatureError) as e:  # no reference is fitted on it either
        fit_reference(m, select_controls(m, "Buffer"), rule="Buffer")
    assert e.value.code == "signature.scale"
    # a reference fitted on the log values (.raw), so that only the scaling refuses
    raw = read_expression(z.raw.to_adata())
    ref = fit_reference(raw, select_controls(raw, "Buffer"), rule="Buffer")
    for method, r in (("median_fold_change", ref), ("mean_z", ref), ("singscore", None)):
        with pytest.raises(SignatureError) as e:
            score(m, ["rice6"], method=method, reference=r)
        assert e.value.code == "signature.scale"
        assert "use_raw=True" in e.value.message
    # the log-normalised values in .raw score normally
    raw = z.raw.to_adata()
    assert score(read_expression(raw), ["rice6"], method="singscore").results[0].scores.size == 28
    # and scanpy's default (use_raw=None with .raw set) reads them
    assert score(read_expression(z), ["rice6"], method="singscore").results[0].scores.size == 28


@needs_kang
def test_scaled_single_cells_are_refused() -> None:
    import anndata as ad
    import scanpy as sc

    m0 = read_expression(KANG)  # raw UMI counts, cells x genes
    assert isinstance(m0, CsrMatrix)
    a = ad.AnnData(m0.csr.astype(np.float32))
    a.var_names = [str(g) for g in next(iter(m0.feature_ids.values()))]
    a.var_names_make_unique()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.filter_genes(a, min_cells=20)
        sc.pp.normalize_total(a)
        sc.pp.log1p(a)
        sc.pp.scale(a, max_value=10)
    with pytest.raises(SignatureError) as e:
        score(read_expression(a), ["rice6"], method="singscore")
    assert e.value.code == "signature.scale"


@needs_blood
def test_no_false_z_score_alarm_on_log2_or_dct(blood: Any) -> None:
    x = np.log2(np.asarray(blood.X, np.float64) + 1)
    cols = [list(blood.var_names).index(g) for g in ("IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "SIGLEC1")]
    assert not looks_zscored(x[:, cols])  # log2 RNA-seq
    assert not looks_zscored(x[:, cols] + 6.0)  # log2 array intensities (no negatives)
    dct = _dct_table(blood)
    assert not looks_zscored(dct.x[:, cols])  # delta-Ct, negative values included
    assert not looks_zscored(x[:, cols] - np.median(x[:, cols], axis=0))  # median-centred log ratios
    z = (x[:, cols] - x[:, cols].mean(axis=0)) / x[:, cols].std(axis=0, ddof=1)
    assert looks_zscored(z)
    # and the reference-based score on delta-Ct is not refused
    ref = fit_reference(dct, select_controls(dct, "Buffer"), rule="Buffer", scale="dct")
    assert score(dct, ["rice6"], reference=ref, scale="dct").results[0].scores.size == 28


@needs_blood
def test_a_recorded_base_that_the_values_contradict_is_refused(blood: Any) -> None:
    # scanpy keeps uns['log1p'] when X is put back to the counts afterwards
    counts = blood.copy()
    counts.uns["log1p"] = {"base": None}
    m = _matrix(counts, math.e)
    with pytest.raises(MatrixError) as e:
        score(m, ["rice6"], method="singscore")
    assert e.value.code == "matrix.scale"
    assert "adata.X replaced" in e.value.message
    assert score(m, ["rice6"], method="singscore", scale="linear").results[0].scores.size == 28
