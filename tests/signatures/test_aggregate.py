"""Per-group summaries and pseudobulk scoring, on the Kang PBMC cells (control vs IFN-beta)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ifnscope import signatures as sig
from ifnscope.errors import MatrixError, SignatureError
from ifnscope.signatures.matrix import DenseMatrix, H5adStream
from ifnscope.signatures.readers import read_path
from tests.signatures.kang import TYPE_I, kang_counts, kang_scanpy, needs_kang

pytestmark = [needs_kang, pytest.mark.filterwarnings("ignore:zero-centering a sparse array")]


@pytest.fixture(scope="module")
def tutorial() -> Any:
    return kang_scanpy(150)


# -------------------------------------------------------------------------- summarize


def test_summary_per_group_matches_the_scores(tutorial: Any) -> None:
    adata = tutorial.copy()
    run = sig.score(adata, ["aybey_ifna", "rice6"], method="singscore")
    table = sig.summarize(adata, "condition")
    assert list(table.columns) == [
        "group",
        "signature",
        "n",
        "median",
        "mean",
        "q25",
        "q75",
        "iqr",
        "share_high",
    ]
    assert table.groupby("signature")["n"].sum().tolist() == [adata.n_obs, adata.n_obs]
    for _, row in table.iterrows():
        v = adata.obs.loc[adata.obs["condition"] == row["group"], f"ifn_{row['signature']}"].to_numpy()
        assert row["median"] == pytest.approx(np.median(v))
        assert row["mean"] == pytest.approx(v.mean())
        assert row["iqr"] == pytest.approx(np.quantile(v, 0.75) - np.quantile(v, 0.25))
    assert table["share_high"].isna().all()  # singscore without a reference: no cut-off
    med = table.set_index(["signature", "group"])["median"]
    assert med["aybey_ifna", "ifnb"] > med["aybey_ifna", "control"]
    # the same table from the run and one label per cell
    from_run = sig.summarize(run, adata.obs["condition"].to_numpy())
    pd.testing.assert_frame_equal(from_run, table)


def test_share_high_is_the_share_called_high(tutorial: Any) -> None:
    adata = tutorial.copy()
    sig.score(adata, "aybey_ifna", controls="condition=control")
    table = sig.summarize(adata, "condition").set_index("group")
    for g in ("control", "ifnb"):
        calls = adata.obs.loc[adata.obs["condition"] == g, "ifn_aybey_ifna_call"]
        assert table.loc[g, "share_high"] == pytest.approx((calls == "high").mean())
    assert table.loc["ifnb", "share_high"] > 0.8 > 0.1 > table.loc["control", "share_high"]


def test_summary_errors_name_what_exists(tutorial: Any) -> None:
    adata = tutorial.copy()
    with pytest.raises(SignatureError) as e:
        sig.summarize(adata, "condition")
    assert "score(adata" in e.value.message
    sig.score(adata, "rice6", method="singscore")
    with pytest.raises(MatrixError) as e2:
        sig.summarize(adata, "conditon")
    assert "did you mean 'condition'" in e2.value.message
    with pytest.raises(SignatureError) as e:
        sig.summarize(adata, "condition", signatures=["rice"])
    assert "did you mean 'rice6'" in e.value.message


# ------------------------------------------------------------------------- pseudobulk


def test_pseudobulk_sums_counts_as_scanpy_aggregate_does(tutorial: Any) -> None:
    import scanpy as sc

    pb = sig.pseudobulk(tutorial, "donor", layer="counts")
    assert isinstance(pb, DenseMatrix)
    assert pb.kind == "bulk"
    agg = sc.get.aggregate(tutorial, by="donor", func="sum", layer="counts")
    assert pb.samples.tolist() == agg.obs_names.tolist()
    assert np.allclose(pb.x, agg.layers["sum"], rtol=1e-6)
    # the columns constant within each donor stay, so controls can be chosen by condition
    assert pb.annotations is not None
    assert pb.annotations.column("condition").tolist() == [s.split("_")[0] for s in pb.samples]
    n_cells = tutorial.obs["donor"].value_counts()
    assert [int(x) for x in pb.annotations.column("n_cells")] == [n_cells[s] for s in pb.samples]
    assert any("cells" in n and "pseudobulk" in n for n in pb.notes)


def test_pseudobulk_refuses_log_values_and_says_where_the_counts_are(tutorial: Any) -> None:
    with pytest.raises(MatrixError) as e:
        sig.pseudobulk(tutorial, "donor")  # .raw: log-normalised
    assert e.value.code == "matrix.scale"
    assert "counts" in e.value.message
    assert "layers: counts" in e.value.message
    normalised = kang_counts(20)
    normalised.X = normalised.X.multiply(1.0 / normalised.X.sum(axis=1)).tocsr()
    with pytest.raises(MatrixError) as e:
        sig.pseudobulk(normalised, "donor")
    assert "not counts" in e.value.message


def test_small_groups_are_warned_about() -> None:
    adata = kang_counts(20)
    adata.obs["tiny"] = ["a"] * 3 + ["b"] * (adata.n_obs - 3)
    with pytest.warns(UserWarning, match="fewer than 10 cells"):
        pb = sig.pseudobulk(adata, "tiny")
    assert any("a (3)" in n for n in pb.notes)


def test_pseudobulk_ifn_beta_above_control() -> None:
    """The Kang IFN-beta pseudobulk samples score above the controls on every type I signature."""
    adata = kang_counts(300)
    run = sig.score(adata, TYPE_I, method="singscore", pseudobulk="donor")
    is_ifnb = np.asarray([s.startswith("ifnb") for s in run.samples])
    assert is_ifnb.sum() == 3
    for r in run.results:
        assert r.scores[is_ifnb].min() > r.scores[~is_ifnb].max(), r.signature.name
    # every cell carries its donor's score, aligned by obs_names
    per_donor = dict(zip(run.samples, run.results[0].scores, strict=True))
    expected = [per_donor[d] for d in adata.obs["donor"]]
    assert np.allclose(adata.obs["ifn_pseudobulk_aybey_ifna"], expected)
    assert adata.uns["ifn_pseudobulk"]["signatures"]["aybey_ifna"]["level"] == "pseudobulk by donor"
    # the published method, with the control donors as the reference
    ref_run = sig.score(
        adata, ["aybey_ifna"], pseudobulk="donor", controls="condition=control", inplace=False
    )
    r = ref_run.results[0]
    assert r.calls is not None
    assert r.calls[is_ifnb].tolist() == ["high"] * 3


def test_pseudobulk_of_a_streamed_file_equals_in_memory(tmp_path: Path) -> None:
    adata = kang_counts(100)
    path = tmp_path / "counts.h5ad"
    adata.write_h5ad(path)
    m = read_path(path)
    assert isinstance(m, H5adStream)
    m.chunk_rows = 37  # several chunks
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no group below the minimum here
        from_file = sig.pseudobulk(m, "donor")
    in_memory = sig.pseudobulk(adata, "donor")
    assert from_file.samples.tolist() == in_memory.samples.tolist()
    assert np.array_equal(from_file.x, in_memory.x)


def test_cli_pseudobulk_and_groupby_summary(tmp_path: Path) -> None:
    adata = kang_counts(100)
    path = tmp_path / "counts.h5ad"
    adata.write_h5ad(path)
    out, summary = tmp_path / "scores.tsv", tmp_path / "summary.csv"
    args = ["score", str(path), "-s", "aybey_ifna", "--method", "singscore", "-o", str(out)]
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", *args, "--pseudobulk", "donor", "--groupby", "condition"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(out, sep="\t")["sample"].tolist() == sorted(adata.obs["donor"].unique())
    assert "per condition:" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", *args, "--groupby", "condition", "--summary", str(summary)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(summary)
    assert table["group"].tolist() == ["control", "ifnb"]
    assert table["n"].tolist() == [100, 100]
    assert "per condition:" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", *args, "--pseudobulk", "donr"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 2
    assert "did you mean 'donor'" in r.stderr
