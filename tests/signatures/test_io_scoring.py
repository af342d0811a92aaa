"""Readers, extraction, fixed references and scoring on synthetic data in every input format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ifnscope import signatures as sig
from ifnscope.errors import MatrixError, ReferenceFileError, SignatureError
from ifnscope.signatures.extract import detect_scale, extract
from ifnscope.signatures.readers import read_path
from tests.sigdata import (
    filler_genes,
    make_counts,
    write_10x,
    write_csv_genes_in_columns,
    write_h5ad,
    write_tsv_genes_in_rows,
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    return make_counts()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, data: tuple) -> dict[str, Path]:
    counts, genes, names, ifn = data
    d = tmp_path_factory.mktemp("sig")
    out = {
        "rows": d / "rows.tsv",
        "cols": d / "cols.csv",
        "tenx": d / "tenx",
        "h5ad": d / "cells.h5ad",
        "h5ad_dense": d / "dense.h5ad",
    }
    write_tsv_genes_in_rows(out["rows"], counts, genes, names)
    write_csv_genes_in_columns(out["cols"], counts, genes, names)
    write_10x(out["tenx"], counts, genes, names)
    write_h5ad(out["h5ad"], counts, genes, names, ifn)
    write_h5ad(out["h5ad_dense"], counts, genes, names, ifn, sparse=False)
    return out


# ---------------------------------------------------------------------------- readers


def test_orientation_is_detected_and_reported(files: dict[str, Path], data: tuple) -> None:
    _counts, genes, names, _ = data
    rows = read_path(files["rows"])
    cols = read_path(files["cols"])
    for m in (rows, cols):
        assert m.samples.tolist() == names
        assert m.n_features == len(genes)
    assert "genes in rows" in rows.notes[0]
    assert "genes in columns" in cols.notes[0]
    ex_r = extract(rows, ["IFI27", "MX1"], want_ranks=False)
    ex_c = extract(cols, ["IFI27", "MX1"], want_ranks=False)
    assert np.allclose(ex_r.log2, ex_c.log2)


def test_every_format_gives_the_same_values(files: dict[str, Path]) -> None:
    targets = ["IFI27", "RSAD2", "MX1", "IRF1"]
    bulk = extract(read_path(files["rows"]), targets, want_ranks=True)
    cells = [extract(read_path(files[k]), targets, want_ranks=True) for k in ("tenx", "h5ad", "h5ad_dense")]
    for ex in cells:
        assert ex.scale.scale == "counts"
        assert ex.scale.normalization == "log2(CP10k+1)"  # single-cell inputs
        assert np.array_equal(ex.below, bulk.below)  # ranks do not depend on the normalisation
    assert np.allclose(cells[0].log2, cells[1].log2)  # 10x == streamed .h5ad
    assert np.allclose(cells[1].log2, cells[2].log2)  # streamed CSR == dense .h5ad
    assert bulk.scale.normalization == "log2(CPM+1)"
    assert np.allclose(bulk.log2, cells[0].log2 + 0) is False  # CPM and CP10k differ by design
    assert np.allclose(np.exp2(bulk.log2) - 1, 100 * (np.exp2(cells[0].log2) - 1), rtol=1e-4)


def test_h5ad_streams_in_chunks_with_the_same_result(files: dict[str, Path]) -> None:
    from ifnscope.signatures.matrix import H5adStream

    m = read_path(files["h5ad"])
    assert isinstance(m, H5adStream)
    whole = extract(m, ["IFI27", "MX1"], want_ranks=True)
    m.chunk_rows = 5  # 24 cells in 5 chunks
    chunked = extract(m, ["IFI27", "MX1"], want_ranks=True)
    assert np.array_equal(whole.log2, chunked.log2)
    assert np.array_equal(whole.below, chunked.below)
    assert m.annotations is not None
    assert set(m.annotations.column("condition")) == {"control", "ifn"}


def test_two_identifier_columns_pick_the_one_that_resolves(tmp_path: Path) -> None:
    p = tmp_path / "two.csv"
    p.write_text(
        '"",gene_symbol,s1,s2\nENSG00000165949,not_a_symbol,5,7\nENSG00000107201,also_not,1,2\n'
        "ENSG00000111331,x,3,3\n"
    )
    m = read_path(p)
    assert next(iter(m.feature_ids)) == "column 1"
    ex = extract(m, ["IFI27", "RIGI"], want_ranks=False)
    assert ex.found["RIGI"].how == "ensembl"


def test_per_sample_folder(tmp_path: Path, data: tuple) -> None:
    counts, genes, names, _ = data
    folder = tmp_path / "samples"
    folder.mkdir()
    for i, n in enumerate(names[:4]):
        (folder / f"GSM{i}_{n}.txt").write_text(
            "".join(f"{g}\t{int(v)}\n" for g, v in zip(genes, counts[i], strict=True))
        )
    m = read_path(folder)
    assert m.samples.tolist() == [f"GSM{i}_{n}" for i, n in enumerate(names[:4])]
    assert m.n_features == len(genes)


def test_aliases_and_duplicates_are_resolved_by_the_stated_rule(tmp_path: Path) -> None:
    p = tmp_path / "dups.tsv"
    lines = ["Gene\ta\tb\tc", "DDX58\t1\t1\t1", "RIGI\t50\t60\t70", "IFI27\t5\t5\t5"]
    lines += [f"{g}\t10\t10\t10" for g in filler_genes(20)]
    p.write_text("\n".join(lines) + "\n")
    ex = extract(read_path(p), ["RIGI", "IFI27"], want_ranks=False)
    assert ex.found["RIGI"].identifier == "RIGI"  # the higher-expressed duplicate is used
    assert [h.identifier for h in ex.duplicates["RIGI"]] == ["DDX58"]
    assert any("duplicate features for RIGI" in n for n in ex.notes)


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        (np.array([0, 1, 5, 300]), "counts"),
        (np.array([0.5, 12.3, 1520.7]), "linear"),
        (np.array([0.5, 7.2, 13.9]), "log2"),
        (np.array([-1.2, 3.4, 8.0]), "log2"),
    ],
)
def test_scale_detection(values: np.ndarray, scale: str) -> None:
    assert detect_scale(values.astype(float)) == scale


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("x.xlsx", "binary", "matrix.format"),
        ("empty.tsv", "Gene\n", "matrix.empty"),
        ("nogenes.tsv", "id\ta\tb\nfoo\t1\t2\nbar\t3\t4\n", "matrix.genes"),
    ],
)
def test_reader_errors(tmp_path: Path, name: str, content: str, code: str) -> None:
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(MatrixError) as ei:
        read_path(p)
    assert ei.value.code == code


def test_incomplete_10x_folder(tmp_path: Path) -> None:
    (tmp_path / "matrix.mtx").write_text("%%MatrixMarket matrix coordinate integer general\n1 1 0\n")
    with pytest.raises(MatrixError, match=r"missing features\.tsv, barcodes\.tsv"):
        read_path(tmp_path)


# ---------------------------------------------------------------------- references


def test_fixed_reference_makes_a_sample_independent_of_its_batch(files: dict[str, Path]) -> None:
    """The point of a fixed reference: a sample scored alone gets the score it gets in any batch."""
    ref = sig.fit_reference(files["rows"], controls="^ctrl")
    full = sig.score(files["rows"], ["feng5", "rice6"], reference=ref).to_frame()
    m = read_path(files["rows"])
    from ifnscope.signatures.matrix import DenseMatrix

    for keep in ([20], [0, 13], list(range(12, 24))):
        sub = DenseMatrix(
            source="sub", samples=m.samples[keep], feature_ids=m.feature_ids, kind="bulk", x=m.x[keep]
        )
        part = sig.score(sub, ["feng5", "rice6"], reference=ref).to_frame()
        merged = part.merge(full, on=["sample", "signature"], suffixes=("_part", "_full"))
        assert len(merged) == 2 * len(keep)
        assert np.allclose(merged["score_part"], merged["score_full"])


def test_reference_round_trip_and_atomic_save(tmp_path: Path, files: dict[str, Path]) -> None:
    ref = sig.fit_reference(files["rows"], controls="^ctrl")
    assert ref.n_controls == 12
    assert ref.normalization == "log2(CPM+1)"
    p = tmp_path / "ref.json"
    ref.save(p)
    assert not (tmp_path / "ref.json.tmp").exists()
    again = sig.load_reference(p)
    assert again.genes["IFI27"] == ref.genes["IFI27"]
    assert "feng5" in again.scores


def test_reference_is_refused_on_differently_prepared_data(files: dict[str, Path]) -> None:
    bulk_ref = sig.fit_reference(files["rows"], controls="^ctrl")
    with pytest.raises(ReferenceFileError) as ei:
        sig.score(files["h5ad"], "feng5", reference=bulk_ref)
    assert ei.value.code == "reference.incompatible"
    assert "log2(CPM+1)" in ei.value.message


@pytest.mark.parametrize(
    ("content", "code"),
    [("{not json", "reference.format"), ('{"format": "ifnscope-reference/1"}', "reference.format")],
)
def test_bad_reference_files(tmp_path: Path, content: str, code: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(ReferenceFileError) as ei:
        sig.load_reference(p)
    assert ei.value.code == code
    with pytest.raises(ReferenceFileError, match="no such reference"):
        sig.load_reference(tmp_path / "missing.json")


def test_control_selection(files: dict[str, Path]) -> None:
    m = read_path(files["h5ad"])
    from ifnscope.signatures.reference import select_controls

    assert select_controls(m, "condition=control").sum() == 12
    assert select_controls(m, "ctrl_[0-2]$").sum() == 3
    with pytest.raises(MatrixError, match="no sample has condition = 'healthy'"):
        select_controls(m, "condition=healthy")
    with pytest.raises(MatrixError, match="no sample annotation column 'group'"):
        select_controls(m, "group=x")
    with pytest.raises(MatrixError, match="no sample name matches"):
        select_controls(m, "^HC")


# ------------------------------------------------------------------------------ scoring


def test_published_method_needs_a_reference_and_says_so(files: dict[str, Path]) -> None:
    with pytest.raises(SignatureError) as ei:
        sig.score(files["rows"], "rice6")
    assert ei.value.code == "signature.needs-reference"
    assert "--controls" in ei.value.message
    assert "singscore" in ei.value.message


def test_rank_method_needs_no_reference_and_separates_groups(files: dict[str, Path], data: tuple) -> None:
    *_, ifn = data
    run = sig.score(files["rows"], ["rice6", "feng5"], method="singscore")
    for r in run.results:
        assert r.method == "singscore"
        assert r.scores[ifn].min() > r.scores[~ifn].max()
        assert r.calls is None  # no cut-off applies to a rank score without a reference


def test_calls_cutoffs_and_their_provenance(files: dict[str, Path], data: tuple) -> None:
    *_, ifn = data
    run = sig.score(files["rows"], ["rice6", "feng5", "chiche_count"], controls="^ctrl")
    by = {r.signature.name: r for r in run.results}
    rice = by["rice6"]
    assert rice.cutoff is not None
    assert (rice.cutoff.value, rice.cutoff.kind) == (2.466, "published")
    assert "qPCR" in (rice.cutoff.caution or "")
    assert set(rice.calls[ifn]) == {"high"}
    feng = by["feng5"]
    assert feng.cutoff is not None
    assert feng.cutoff.kind == "reference_derived"
    assert "not a published cut-off" in feng.cutoff.description
    # only type-I-restricted genes were raised: M1.2 activates, the broader modules do not
    assert set(by["chiche_m1_2"].scores[ifn] >= 15) == {True}
    assert set(by["chiche_count"].calls[ifn]) == {"mild"}
    assert set(by["chiche_count"].calls[~ifn]) == {"absent"}
    assert any("unverified" in n for n in by["chiche_count"].notes)


def test_coverage_below_the_minimum_is_refused_with_the_missing_genes(tmp_path: Path) -> None:
    p = tmp_path / "few.tsv"
    lines = ["Gene\ta\tb", "IFI27\t5\t9", "IFIT1\t3\t8"] + [f"{g}\t10\t10" for g in filler_genes(30)]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(SignatureError) as ei:
        sig.score(p, "rice6", method="singscore")
    assert ei.value.code == "signature.coverage"
    assert "only 2 of 6 genes" in ei.value.message
    assert "SIGLEC1" in ei.value.message
    run = sig.score(p, "rice6", method="singscore", min_coverage=0.3)
    assert run.results[0].coverage.found == ["IFI27", "IFIT1"]


def test_scores_written_into_anndata(files: dict[str, Path]) -> None:
    import anndata as ad

    adata = ad.read_h5ad(files["h5ad"])
    sig.score(adata, ["aybey_ifna", "rice6"], controls="condition=control")
    assert {"ifn_aybey_ifna", "ifn_aybey_ifna_call", "ifn_rice6"} <= set(adata.obs.columns)
    assert adata.uns["ifnscope"]["signatures"]["aybey_ifna"]["signature"] == "aybey_ifna"  # keyed by name
    ifn = (adata.obs["condition"] == "ifn").to_numpy()
    assert adata.obs["ifn_aybey_ifna"][ifn].min() > adata.obs["ifn_aybey_ifna"][~ifn].max()


def test_outputs_tsv_csv_parquet_and_plots(tmp_path: Path, files: dict[str, Path]) -> None:
    import pyarrow.parquet as pq

    from ifnscope.signatures.output import write_scores
    from ifnscope.signatures.plots import plot_distribution, plot_heatmap

    run = sig.score(files["rows"], ["rice6", "feng5"], controls="^ctrl")
    write_scores(run, tmp_path / "s.tsv")
    write_scores(run, tmp_path / "s.csv")
    write_scores(run, tmp_path / "s.parquet")
    tsv = (tmp_path / "s.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == [
        "sample",
        "signature",
        "method",
        "score",
        "call",
        "genes_found",
        "genes_total",
    ]
    assert len(tsv) == 1 + 2 * 24
    assert tsv[1].split("\t")[:3] == ["ctrl_0", "rice6", "median_fold_change"]
    assert (tmp_path / "s.csv").read_text().splitlines()[0].count(",") == 6
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.num_rows == 48
    assert json.loads(table.schema.metadata[b"ifnscope"])[0]["signature"] == "rice6"
    plot_distribution(run, tmp_path / "d.png")
    plot_distribution(run, tmp_path / "d.svg", groups=np.array(["a"] * 12 + ["b"] * 12, dtype=object))
    assert run.extracted is not None
    plot_heatmap(run.results[0], run.extracted, tmp_path / "h.png")
    for f in ("d.png", "d.svg", "h.png"):
        assert (tmp_path / f).stat().st_size > 5000
    with pytest.raises(MatrixError, match="unsupported output format"):
        write_scores(run, tmp_path / "s.xlsx")


_PLOT_IN_A_FRESH_PROCESS = """
import sys
import matplotlib
before = matplotlib.get_backend()
from matplotlib.figure import Figure
from ifnscope import signatures as sig
from ifnscope.signatures import plots
run = sig.score(sys.argv[1], ["rice6", "feng5"], controls="^ctrl")
figs = [
    plots.distribution_figure(run),
    plots.heatmap_figure(run.results[0], run.extracted, reference=None),
]
plots.save_figure(figs[0], sys.argv[2])
plots.plot_heatmap(run.results[1], run.extracted, sys.argv[3])
returned = all(isinstance(f, Figure) for f in figs)
print(before, matplotlib.get_backend(), returned, "matplotlib.pyplot" in sys.modules)
"""


def test_plots_return_figures_and_leave_the_backend_alone(tmp_path: Path, files: dict[str, Path]) -> None:
    """A user's backend (here svg, set before import) survives importing, plotting and saving."""
    import os
    import subprocess
    import sys

    src = str(Path(sig.__file__).resolve().parents[2])
    env = {**os.environ, "MPLBACKEND": "svg", "PYTHONPATH": os.pathsep.join([src, os.getcwd()])}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _PLOT_IN_A_FRESH_PROCESS,
            str(files["rows"]),
            tmp_path / "d.png",
            tmp_path / "h.pdf",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["svg", "svg", "True", "False"]  # backend unchanged, Figures returned, no pyplot
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "h.pdf").read_bytes()[:4] == b"%PDF"


def test_module_count_cannot_be_computed_with_another_method(files: dict[str, Path]) -> None:
    with pytest.raises(SignatureError) as ei:
        sig.score(files["rows"], "chiche_count", method="singscore")
    assert ei.value.code == "signature.method"
    assert "module_percent" in ei.value.message


def _qpcr_panel(tmp_path: Path, values: np.ndarray, name: str) -> Path:
    genes = ["IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "SIGLEC1"]
    samples = [f"HC{i}" for i in range(10)] + [f"P{i}" for i in range(5)]
    p = tmp_path / name
    p.write_text(
        "gene\t"
        + "\t".join(samples)
        + "\n"
        + "".join(g + "\t" + "\t".join(f"{v:.10g}" for v in values[:, j]) + "\n" for j, g in enumerate(genes))
    )
    return p


def test_qpcr_panel_reproduces_rices_ratio_from_delta_ct_and_from_rq(tmp_path: Path) -> None:
    """Rice: per gene RQ relative to the controls' median, then the median over the six genes."""
    rng = np.random.default_rng(7)
    dct = rng.normal(8.0, 0.5, size=(15, 6))
    dct[10:] -= rng.uniform(1.0, 4.0, size=(5, 6))  # patients: more expression = lower delta-Ct
    rq = np.exp2(-dct)
    expected = np.median(rq / np.median(rq[:10], axis=0), axis=1)
    for scale, values, name in (("dct", dct, "dct.tsv"), ("rq", rq, "rq.tsv")):
        run = sig.score(_qpcr_panel(tmp_path, values, name), "rice6", controls="^HC", scale=scale)
        r = run.results[0]
        assert np.allclose(r.scores, expected, rtol=1e-5), scale
        assert r.cutoff is not None
        assert "holds for this qPCR input only if" in (r.cutoff.caution or "")
        assert set(r.calls[10:]) == {"high"}


def test_ct_looking_values_are_flagged_when_not_declared(tmp_path: Path) -> None:
    ct = np.random.default_rng(1).uniform(18, 34, size=(15, 6))
    panel = _qpcr_panel(tmp_path, ct, "ct.tsv")
    run = sig.score(panel, "rice6", controls="^HC")
    assert any("look like qPCR Ct values" in n for n in run.matrix_notes)
    with pytest.raises(SignatureError) as ei:  # ranks within a six-gene panel are meaningless
        sig.score(panel, "rice6", method="singscore")
    assert ei.value.code == "signature.method"
