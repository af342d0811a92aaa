"""Empty samples and missing values (issue 10): no score and no call, and a note that says why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from ifnscope.signatures import kernels, read_expression
from ifnscope.signatures.reference import fit_reference, select_controls
from ifnscope.signatures.scoring import score
from tests.helpers import SHARED

BLOOD = SHARED / "data" / "blood_ifn_stimulation" / "whole_blood_normalized_counts.txt"
needs_blood = pytest.mark.skipif(
    not BLOOD.is_file(), reason=f"SKIPPED: the shared whole-blood data are not at {BLOOD}"
)


def test_dense_ranks_skip_nan_values_and_targets() -> None:
    row = np.array([[1.0, np.nan, 3.0, 0.5, 2.0, np.nan]], dtype=np.float32)
    targets = np.array([2, 4, 1], np.int64)  # values 3, 2, NaN
    vals = np.zeros((1, 3), np.float32)
    lib = np.zeros(1)
    below = np.zeros((1, 3), np.int32)
    kernels.dense_pass(row, targets, True, vals, lib, below)
    # 3.0 is above 1, 0.5, 2 (NaN counts for nothing); 2.0 above 1, 0.5; a NaN target: 0
    assert below.tolist() == [[3, 2, 0]]
    assert np.isnan(lib[0])  # the sample is known to hold a missing value


def test_csr_ranks_skip_nan_values() -> None:
    dense = np.array([[0.0, np.nan, 3.0, 0.0, 2.0, 1.0]], dtype=np.float32)
    X = sp.csr_matrix(dense)
    vals = np.zeros((1, 2), np.float32)
    below = np.zeros((1, 2), np.int32)
    kernels.csr_pass_checked(
        X.indptr, X.indices, X.data, 6, np.array([2, 4], np.int32), True, vals, np.zeros(1), below
    )
    assert below.tolist() == [[4, 3]]  # 3.0 above 0, 0, 2, 1; 2.0 above 0, 0, 1


@pytest.fixture(scope="module")
def holes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared blood table with an empty sample, a blank one, and missing values (as 'NA')."""
    import pandas as pd

    df = pd.read_csv(BLOOD, sep="\t", index_col=0)
    df["EMPTY_zero"] = 0.0
    df["BLANK_na"] = np.nan
    df["HOLE_sig"] = df["D1_IFNbeta"]
    df.loc["IFI27", "HOLE_sig"] = np.nan  # a rice6 gene missing
    df["HOLE_other"] = df["D1_IFNbeta"]
    df.loc["A4GALT", "HOLE_other"] = np.nan  # a gene of no signature missing
    p = tmp_path_factory.mktemp("holes") / "blood_holes.tsv"
    df.to_csv(p, sep="\t", na_rep="NA")
    return p


@needs_blood
def test_empty_blank_and_missing_samples_get_no_score_and_no_call(holes: Path) -> None:
    m = read_expression(holes)
    assert any("kept as missing (NaN), not read as 0" in n for n in m.notes)
    ref = fit_reference(m, select_controls(m, "_Buffer$"), rule="_Buffer$")
    run = score(m, ["rice6", "aybey_ifng"], reference=ref, min_coverage=0.6)
    names = list(run.samples)
    rice = run.results[0]
    assert rice.calls is not None
    for name in ("EMPTY_zero", "BLANK_na", "HOLE_sig"):
        i = names.index(name)
        assert np.isnan(rice.scores[i]), name
        assert rice.calls[i] == "", name
    i, j = names.index("HOLE_other"), names.index("D1_IFNbeta")
    assert rice.scores[i] == pytest.approx(rice.scores[j], rel=1e-6)  # not in the signature
    assert rice.calls[i] == rice.calls[j] == "high"
    assert any("1 empty" in n and "2 with a missing (NaN) value" in n for n in rice.notes)
    assert any("EMPTY_zero" in n and "empty" in n for n in run.matrix_notes)
    assert not np.isnan(run.results[1].scores[names.index("HOLE_sig")])  # IFI27 is not an IFN-gamma gene


@needs_blood
def test_singscore_leaves_a_missing_value_out_of_the_ranking(holes: Path) -> None:
    m = read_expression(holes)
    run = score(m, ["rice6"], method="singscore")
    names = list(run.samples)
    s = run.results[0].scores
    # N is the sample's finite genes: one fewer; the score moves by far less than a rank
    assert s[names.index("HOLE_other")] == pytest.approx(s[names.index("D1_IFNbeta")], abs=1e-3)
    assert np.isnan(s[names.index("HOLE_sig")])
    assert np.isnan(s[names.index("EMPTY_zero")])
    assert any("left out of the sample's ranking" in n for n in run.matrix_notes)


def test_nan_in_anndata_does_not_pass_silently() -> None:
    import anndata as ad

    from tests.sigdata import make_counts

    counts, genes, names, _ = make_counts(12)
    x = np.log2(counts.astype(np.float32) + 1)
    x[3, genes.index("ISG15")] = np.nan
    x[5, :] = 0.0
    a = ad.AnnData(sp.csr_matrix(x))
    a.var_names, a.obs_names = genes, names
    run = score(read_expression(a), ["rice6"], method="singscore")
    s = run.results[0].scores
    assert np.isnan(s[3])
    assert np.isnan(s[5])
    assert np.isfinite(np.delete(s, [3, 5])).all()
    assert any("missing (NaN)" in n for n in run.matrix_notes)


@needs_blood
def test_a_reference_is_not_fitted_on_empty_control_samples(tmp_path: Path) -> None:
    """Empty controls are left out of the fit (with a note), so the fitted statistics equal
    those of the real controls alone; too few real controls is an error, not a reference."""
    import pandas as pd

    from ifnscope.errors import MatrixError

    df = pd.read_csv(BLOOD, sep="\t", index_col=0)
    clean = read_expression(BLOOD)
    ref_clean = fit_reference(clean, select_controls(clean, "Buffer"), rule="Buffer", scale="linear")
    df["D9_Buffer"] = 0.0  # an empty control (a failed library)
    df["D10_Buffer"] = np.nan
    p = tmp_path / "blood_empty_controls.tsv"
    df.to_csv(p, sep="\t", na_rep="NA")
    m = read_expression(p)
    ref = fit_reference(m, select_controls(m, "Buffer"), rule="Buffer", scale="linear")
    assert ref.n_controls == ref_clean.n_controls == 4
    assert any("2 of the 6 samples matching 'Buffer' are empty" in n for n in ref.notes)
    for gene in ("IFI27", "ISG15", "CXCL10"):
        assert ref.genes[gene].mean == pytest.approx(ref_clean.genes[gene].mean, rel=1e-6)
        assert ref.genes[gene].sd == pytest.approx(ref_clean.genes[gene].sd, rel=1e-6)
    only_empty = select_controls(m, "D9_Buffer|D10_Buffer")
    with pytest.raises(MatrixError) as e:
        fit_reference(m, only_empty, rule="D9_Buffer|D10_Buffer", scale="linear")
    assert e.value.code == "matrix.controls"
    assert "2 are empty" in e.value.message


@needs_blood
def test_a_reference_is_not_fitted_on_z_scored_data() -> None:
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    from ifnscope.errors import SignatureError

    df = pd.read_csv(BLOOD, sep="\t", index_col=0)
    a = ad.AnnData(df.T.to_numpy(dtype=np.float32))
    a.obs_names = [str(c) for c in df.columns]
    a.var_names = [str(g) for g in df.index]
    sc.pp.normalize_total(a)
    sc.pp.log1p(a)
    sc.pp.scale(a)
    m = read_expression(a)
    with pytest.raises(SignatureError) as e:
        fit_reference(m, select_controls(m, "Buffer"), rule="Buffer")
    assert e.value.code == "signature.scale"
