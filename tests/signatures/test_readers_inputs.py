"""The input boundary (issue 10): the data shapes users have, read right or refused with a code.

Identifiers (row numbers are not Entrez IDs, mouse is not human), sample names, corrupt sparse
structures, hostile files (bombs, truncation, encodings, absurd declared sizes) and the formats
(10x .h5, GEO-prefixed folders, GEO series matrices, .zarr, .h5ad layers/raw). Real data from
../shared/data are re-shaped here (in tmp_path) and must score as in their original format.
"""

from __future__ import annotations

import gzip
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from ifnscope import signatures as sig
from ifnscope.errors import MatrixError
from ifnscope.signatures.extract import extract
from ifnscope.signatures.matrix import CsrMatrix
from ifnscope.signatures.readers import read_h5ad, read_path
from tests.helpers import SHARED
from tests.sigdata import filler_genes, make_counts, write_h5ad, write_tsv_genes_in_rows

DATA = SHARED / "data"
KANG = DATA / "pbmc_ifnb_kang2018"
BLOOD = DATA / "blood_ifn_stimulation" / "whole_blood_normalized_counts.txt"
FIBRO = DATA / "fibroblast_ifnb_timecourse" / "GSE74863_GeneLevel_Raw_data.csv"
needs_kang = pytest.mark.skipif(not KANG.is_dir(), reason=f"SKIPPED: the Kang PBMC data are not at {KANG}")
needs_blood = pytest.mark.skipif(
    not BLOOD.is_file(), reason=f"SKIPPED: the whole-blood data are not at {BLOOD}"
)
needs_fibro = pytest.mark.skipif(
    not FIBRO.is_file(), reason=f"SKIPPED: the fibroblast data are not at {FIBRO}"
)

TARGETS = ["IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "MX1", "IRF1", "GBP1"]


def refused(code: str, fn: Any, *args: Any, **kwargs: Any) -> MatrixError:
    with pytest.raises(MatrixError) as ei:
        fn(*args, **kwargs)
    assert ei.value.code == code, ei.value.message
    return ei.value


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    return make_counts()


def _same(a: Any, b: Any, targets: list[str] = TARGETS) -> None:
    ea = extract(a, targets, want_ranks=True)
    eb = extract(b, targets, want_ranks=True)
    assert ea.found.keys() == eb.found.keys()
    assert np.allclose(ea.log2, eb.log2, equal_nan=True, atol=1e-5)
    assert ea.below is not None
    assert eb.below is not None
    assert np.array_equal(ea.below, eb.below)


# --------------------------------------------------------------------------- identifiers


def test_numeric_var_names_are_row_numbers_not_entrez(tmp_path: Path, data: tuple) -> None:
    """anndata's default var_names 0..N-1 resolve as Entrez (1 = A1BG): they must not be used."""
    import anndata as ad
    import pandas as pd

    counts, genes, names, _ = data
    var = pd.DataFrame({"gene_symbols": genes}, index=[str(i) for i in range(len(genes))])
    adata = ad.AnnData(sp.csr_matrix(counts.astype(np.float32)), obs=pd.DataFrame(index=names), var=var)
    adata.write_h5ad(tmp_path / "rownum.h5ad")
    m = read_path(tmp_path / "rownum.h5ad")
    assert next(iter(m.feature_ids)) == "gene_symbols"
    assert "var_names" not in m.feature_ids
    assert any("row numbers, not Entrez IDs" in n for n in m.notes)
    ex = extract(m, ["IFI27", "A1BG"], want_ranks=False)
    assert ex.found["IFI27"].how == "symbol"
    # A1BG (Entrez 1) is not "found" at var_name "1" (which is another gene)
    assert "A1BG" not in ex.found or ex.found["A1BG"].identifier == "A1BG"

    # row numbers with gaps (genes filtered after the default index was made) are row numbers too
    kept = [i for i in range(len(genes)) if i % 3]
    sub = adata[:, kept].copy()
    assert sub.var_names[:3].tolist() == ["1", "2", "4"]
    sub.write_h5ad(tmp_path / "filtered.h5ad")
    assert list(read_path(tmp_path / "filtered.h5ad").feature_ids) == ["gene_symbols"]
    from ifnscope.signatures.idcols import is_row_numbers

    entrez = [3434, 10561, 4599, 9636, 6772, 4600, 91543, 24138, 10964, 5359, 4938, 4939]
    assert not is_row_numbers(np.array([str(x) for x in entrez]))  # real Entrez IDs
    assert not is_row_numbers(np.array([str(x) for x in sorted(entrez * 2)]))

    # with the row numbers alone: refused, never read as A1BG, A2M ...
    bare = ad.AnnData(sp.csr_matrix(counts.astype(np.float32)), obs=pd.DataFrame(index=names))
    bare.var_names = [str(i + 1) for i in range(len(genes))]
    bare.write_h5ad(tmp_path / "bare.h5ad")
    assert "row numbers" in refused("matrix.genes", read_path, tmp_path / "bare.h5ad").message
    from ifnscope.signatures.adata import from_anndata

    refused("matrix.genes", from_anndata, bare)


def test_sparse_entrez_ids_are_accepted_and_a_symbol_column_wins(tmp_path: Path) -> None:
    from ifnscope.signatures.genes import gene_table

    t = gene_table()
    genes = ["IFI27", "IFIT1", "MX1", "ISG15", *filler_genes(30)]
    entrez = [t.by_symbol[g] for g in genes]
    lines = ["GeneID\ta\tb\tc"] + [f"{e}\t{i}\t{i + 1}\t{i + 2}" for i, e in enumerate(entrez)]
    (tmp_path / "entrez.tsv").write_text("\n".join(lines) + "\n")
    m = read_path(tmp_path / "entrez.tsv")
    assert m.samples.tolist() == ["a", "b", "c"]  # GeneID is an identifier, not a sample
    ex = extract(m, ["IFI27", "MX1"], want_ranks=False)
    assert ex.found["IFI27"].how == "entrez"
    # symbols beside Entrez IDs: the symbol column is primary (numbers never override it)
    lines = ["entrez\tgene_symbol\ta\tb"] + [
        f"{e}\t{g}\t{i}\t{i + 1}" for i, (e, g) in enumerate(zip(entrez, genes, strict=True))
    ]
    (tmp_path / "both.tsv").write_text("\n".join(lines) + "\n")
    m = read_path(tmp_path / "both.tsv")
    assert next(iter(m.feature_ids)) == "gene_symbol"


def test_r_write_csv_row_numbers_are_the_index_not_a_sample(tmp_path: Path, data: tuple) -> None:
    counts, genes, names, _ = data
    rows = tmp_path / "rows.tsv"
    write_tsv_genes_in_rows(rows, counts, genes, names)
    # R: write.csv(data.frame(gene=..., counts)) -> "","gene","ctrl_0",... with "1","2"... row names
    p = tmp_path / "r.csv"
    with p.open("w") as fh:
        fh.write('"","gene",' + ",".join(f'"{n}"' for n in names) + "\n")
        for j, g in enumerate(genes):
            fh.write(f'"{j + 1}","{g}",' + ",".join(f"{v:g}" for v in counts[:, j]) + "\n")
    m = read_path(p)
    assert m.samples.tolist() == names  # no sample named ''
    assert any("row numbers" in n for n in m.notes)
    _same(m, read_path(rows))
    # R write.table: the header has no cell for the row names
    q = tmp_path / "r_table.txt"
    with q.open("w") as fh:
        fh.write("\t".join(names) + "\n")
        for j, g in enumerate(genes):
            fh.write(g + "\t" + "\t".join(f"{v:g}" for v in counts[:, j]) + "\n")
    m = read_path(q)
    assert m.samples.tolist() == names
    _same(m, read_path(rows))
    # genes in columns, samples as R row names (header cell empty)
    c = tmp_path / "cols.csv"
    with c.open("w") as fh:
        fh.write('""' + "".join(f',"{g}"' for g in genes) + "\n")
        for i, n in enumerate(names):
            fh.write(f'"{n}",' + ",".join(f"{v:g}" for v in counts[i]) + "\n")
    m = read_path(c)
    assert m.samples.tolist() == names
    _same(m, read_path(rows))


def test_per_sample_files_written_by_r_write_csv(tmp_path: Path, data: tuple) -> None:
    counts, genes, names, _ = data
    plain, r = tmp_path / "plain", tmp_path / "r"
    plain.mkdir()
    r.mkdir()
    for i, n in enumerate(names[:3]):
        (plain / f"{n}.tsv").write_text(
            "".join(f"{g}\t{int(v)}\n" for g, v in zip(genes, counts[i], strict=True))
        )
        (r / f"{n}.csv").write_text(
            '"","gene","count"\n'
            + "".join(
                f'"{j + 1}","{g}",{int(v)}\n' for j, (g, v) in enumerate(zip(genes, counts[i], strict=True))
            )
        )
    m = read_path(r)
    assert m.samples.tolist() == names[:3]
    assert any("R row-name column" in n for n in m.notes)
    _same(m, read_path(plain))


def test_a_sample_column_with_text_in_it_is_refused_not_dropped(tmp_path: Path) -> None:
    genes = ["IFI27", "IFIT1", "MX1", *filler_genes(20)]
    p = tmp_path / "t.tsv"
    rows = [f"{g}\t{i}\t{'1,5' if i == 4 else i + 1}\t3" for i, g in enumerate(genes)]
    p.write_text("gene\ts1\ts2\ts3\n" + "\n".join(rows) + "\n")
    err = refused("matrix.format", read_path, p)
    assert "'s2'" in err.message
    assert "'1,5'" in err.message
    # an Entrez column with a gap reads as floats in pandas; still Entrez IDs
    from ifnscope.signatures.genes import gene_table

    t = gene_table()
    q = tmp_path / "e.tsv"
    q.write_text(
        "entrez\tsymbol\ts1\n"
        + "".join(f"{'' if i == 3 else t.by_symbol[g]}\t{g}\t{i}\n" for i, g in enumerate(genes))
    )
    m = read_path(q)
    assert m.samples.tolist() == ["s1"]
    assert "3434" in m.feature_ids["entrez"].tolist()


def _mouse_table(path: Path, symbols: list[str]) -> None:
    rng = np.random.default_rng(0)
    lines = ["gene\ts1\ts2\ts3"] + [f"{g}\t" + "\t".join(str(v) for v in rng.poisson(20, 3)) for g in symbols]
    path.write_text("\n".join(lines) + "\n")


def test_mouse_symbols_are_refused_not_matched_case_insensitively(tmp_path: Path) -> None:
    human = ["IFI27", "IFIT1", "ISG15", "MX1", "RSAD2", "IFI44L", *filler_genes(200)]
    mouse = [g.capitalize() for g in human]  # Ifit1, Isg15 ...
    _mouse_table(tmp_path / "mouse.tsv", mouse)
    err = refused("matrix.species", read_path, tmp_path / "mouse.tsv")
    assert "mouse" in err.message
    assert "human" in err.message
    # 10x: ENSMUSG ids + title-case names
    from tests.sigdata import write_10x

    counts = np.random.default_rng(1).poisson(3, size=(5, len(mouse))).astype(float)
    write_10x(tmp_path / "tenx", counts, mouse, [f"c{i}" for i in range(5)])
    with gzip.open(tmp_path / "tenx" / "features.tsv.gz", "wt") as fh:
        fh.writelines(f"ENSMUSG{i:011d}\t{g}\tGene Expression\n" for i, g in enumerate(mouse))
    refused("matrix.species", read_path, tmp_path / "tenx")
    # in-memory AnnData goes through the same identifier choice
    import anndata as ad
    import pandas as pd

    from ifnscope.signatures.adata import from_anndata

    a = ad.AnnData(sp.csr_matrix(counts.astype(np.float32)), var=pd.DataFrame(index=mouse))
    refused("matrix.species", from_anndata, a)


def test_human_data_with_lower_case_oddities_are_still_human(tmp_path: Path) -> None:
    genes = ["IFI27", "IFIT1", "ISG15", "MX1", "RSAD2", "IFI44L", *filler_genes(200)]
    # a pipeline that lower-cased every symbol: not title case, so not mouse
    _mouse_table(tmp_path / "lower.tsv", [g.lower() for g in genes])
    ex = extract(read_path(tmp_path / "lower.tsv"), ["IFI27", "MX1"], want_ranks=False)
    assert ex.found["IFI27"].how == "symbol_case"
    # a few title-case names among human symbols (C1orf112-style and stray ones)
    mixed = [g.capitalize() if i % 10 == 0 else g for i, g in enumerate(genes)] + ["C1orf112", "C9orf72"]
    _mouse_table(tmp_path / "mixed.tsv", mixed)
    m = read_path(tmp_path / "mixed.tsv")
    assert m.n_features == len(mixed)


# --------------------------------------------------------------------------- sample names


@pytest.mark.parametrize(
    ("header", "needle"),
    [("gene\ts1\ts2\ts1", "'s1' x2"), ("gene\ts1\t\ts3", "empty")],
)
def test_empty_and_duplicate_sample_names_are_refused(tmp_path: Path, header: str, needle: str) -> None:
    genes = ["IFI27", "IFIT1", "MX1", *filler_genes(20)]
    p = tmp_path / "s.tsv"
    p.write_text(header + "\n" + "".join(f"{g}\t1\t2\t3\n" for g in genes))
    assert needle in refused("matrix.samples", read_path, p).message


def test_duplicate_barcodes_obs_names_and_sample_files_are_refused(tmp_path: Path, data: tuple) -> None:
    from tests.sigdata import write_10x

    counts, genes, names, ifn = data
    dup = [*names[:-1], names[0]]
    write_10x(tmp_path / "tenx", counts, genes, dup)
    assert "ctrl_0" in refused("matrix.samples", read_path, tmp_path / "tenx").message
    with pytest.warns(UserWarning, match="not unique"):  # anndata warns and writes them anyway
        write_h5ad(tmp_path / "dup.h5ad", counts, genes, dup, ifn)
    refused("matrix.samples", read_path, tmp_path / "dup.h5ad")
    folder = tmp_path / "per_sample"
    folder.mkdir()
    (folder / "a.tsv").write_text("IFI27\t1\nMX1\t2\n")
    with gzip.open(folder / "a.tsv.gz", "wt") as fh:
        fh.write("IFI27\t1\nMX1\t2\n")
    refused("matrix.samples", read_path, folder)


# ----------------------------------------------------------------------------- corrupt CSR


def _csr_matrix(counts: np.ndarray, genes: list[str], names: list[str], mutate: Any) -> None:
    X = sp.csr_matrix(counts.astype(np.float32))
    mutate(X)
    CsrMatrix(
        source="mem",
        samples=np.asarray(names, dtype=object),
        feature_ids={"g": np.asarray(genes, dtype=object)},
        kind="single_cell",
        csr=X,
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda X: X.indices.__setitem__(3, -1),
        lambda X: X.indices.__setitem__(3, 10**6),
        lambda X: X.indptr.__setitem__(2, X.indptr[3] + 1),
        lambda X: X.indptr.__setitem__(-1, X.indptr[-1] - 1),
    ],
    ids=["negative-index", "index-past-the-end", "indptr-decreases", "indptr-end"],
)
def test_corrupt_in_memory_csr_is_refused(data: tuple, mutate: Any) -> None:
    counts, genes, names, _ = data
    refused("matrix.corrupt", _csr_matrix, counts, genes, names, mutate)


@pytest.mark.parametrize("what", ["indptr-decreases", "indptr-end", "index-past-the-end", "shape"])
def test_corrupt_h5ad_is_refused_before_or_while_streaming(tmp_path: Path, data: tuple, what: str) -> None:
    import h5py

    counts, genes, names, ifn = data
    p = tmp_path / "c.h5ad"
    write_h5ad(p, counts, genes, names, ifn)
    with h5py.File(p, "r+") as f:
        X = f["X"]
        if what == "indptr-decreases":
            X["indptr"][5] = X["indptr"][7] + 3
        elif what == "indptr-end":
            X["indptr"][-1] = X["indptr"][-1] - 2
        elif what == "index-past-the-end":
            X["indices"][X["indices"].shape[0] - 1] = len(genes) + 5
        else:
            X.attrs["shape"] = np.array([10**9, 10**9])

    def read_and_extract() -> None:
        extract(read_path(p), TARGETS, want_ranks=False)

    refused("matrix.corrupt", read_and_extract)


def test_corrupt_matrix_market_and_10x_h5(tmp_path: Path, data: tuple) -> None:
    from tests.sigdata import write_10x

    counts, genes, names, _ = data
    write_10x(tmp_path / "tenx", counts, genes, names)
    mtx = tmp_path / "tenx" / "matrix.mtx"
    lines = mtx.read_text().splitlines()
    size = next(i for i, ln in enumerate(lines) if not ln.startswith("%"))
    bad = lines.copy()
    bad[size + 1] = f"{len(genes) + 7} 1 5"  # a gene past the last feature
    mtx.write_text("\n".join(bad) + "\n")
    refused("matrix.corrupt", read_path, tmp_path / "tenx")
    bad = lines.copy()
    bad[size] = f"{len(genes)} {len(names) + 1} {bad[size].split()[2]}"
    mtx.write_text("\n".join(bad) + "\n")
    assert "barcodes" in refused("matrix.corrupt", read_path, tmp_path / "tenx").message
    h5 = tmp_path / "x.h5"
    _write_10x_h5(h5, sp.csr_matrix(counts), genes, genes, names)
    import h5py

    with h5py.File(h5, "r+") as f:
        f["matrix/indices"][0] = len(genes) + 1
    refused("matrix.corrupt", read_path, h5)


# -------------------------------------------------------------------------- hostile files


def test_gzip_bomb_stops_at_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "bomb.tsv.gz"
    with gzip.open(p, "wb", compresslevel=9) as fh:
        fh.write(b"gene\ts1\n")
        block = b"IFI27\t0\n" * 100_000
        for _ in range(40):  # 32 MB inflated, ~100 kB on disk
            fh.write(block)
    assert p.stat().st_size < 1_000_000
    monkeypatch.setenv("IFNSCOPE_MAX_DECOMPRESSED_BYTES", str(4 * 1024 * 1024))
    err = refused("matrix.too-large", read_path, p)
    assert "IFNSCOPE_MAX_DECOMPRESSED_BYTES" in err.message
    from ifnscope.signatures import safety

    monkeypatch.delenv("IFNSCOPE_MAX_DECOMPRESSED_BYTES")
    assert safety.max_decompressed_bytes() == safety.MAX_DECOMPRESSED_BYTES == 2 * 1024**3


def test_truncated_gzip_and_non_utf8_text(tmp_path: Path, data: tuple) -> None:
    counts, genes, names, _ = data
    rows = tmp_path / "rows.tsv"
    write_tsv_genes_in_rows(rows, counts, genes, names)
    gz = tmp_path / "cut.tsv.gz"
    whole = gzip.compress(rows.read_bytes())
    gz.write_bytes(whole[: len(whole) // 2])
    assert "truncated" in refused("matrix.corrupt", read_path, gz).message
    latin = tmp_path / "latin1.tsv"
    latin.write_bytes(rows.read_bytes().replace(b"ctrl_0", "ctrl_é".encode("latin-1")))
    assert "UTF-8" in refused("matrix.format", read_path, latin).message
    from tests.sigdata import write_10x

    write_10x(tmp_path / "tenx", counts, genes, names)
    feats = tmp_path / "tenx" / "features.tsv.gz"
    feats.write_bytes(gzip.compress(gzip.decompress(feats.read_bytes()).replace(b"MX1\t", b"MX\xe91\t", 1)))
    assert "UTF-8" in refused("matrix.format", read_path, tmp_path / "tenx").message
    bcs = tmp_path / "tenx" / "barcodes.tsv.gz"
    feats.write_bytes(gzip.compress("".join(f"{g}\t{g}\tGene Expression\n" for g in genes).encode()))
    bcs.write_bytes(gzip.compress(b"".join(f"{n}\n".encode() for n in names))[:-12])
    refused("matrix.corrupt", read_path, tmp_path / "tenx")


def test_truncated_hdf5(tmp_path: Path, data: tuple) -> None:
    counts, genes, names, ifn = data
    p = tmp_path / "whole.h5ad"
    write_h5ad(p, counts, genes, names, ifn)
    cut = tmp_path / "cut.h5ad"
    cut.write_bytes(p.read_bytes()[: p.stat().st_size // 2])

    def read_and_extract() -> None:
        extract(read_path(cut), TARGETS, want_ranks=False)

    with pytest.raises(MatrixError) as ei:
        read_and_extract()
    assert ei.value.code in ("matrix.format", "matrix.corrupt")
    h5 = tmp_path / "whole.h5"
    _write_10x_h5(h5, sp.csr_matrix(counts), genes, genes, names)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(h5.read_bytes()[: h5.stat().st_size // 2])
    with pytest.raises(MatrixError):
        read_path(cut)


def test_absurd_declared_sizes_are_refused_before_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An .h5ad can declare 10^9 x 10^9 in a few kB (chunked, never written); nothing is allocated."""
    import h5py

    p = tmp_path / "huge.h5ad"
    with h5py.File(p, "w") as f:
        for name, n in (("obs", 10**9), ("var", 10**9)):
            g = f.create_group(name)
            g.attrs["_index"] = "_index"
            g.attrs["encoding-type"] = "dataframe"
            g.attrs["column-order"] = np.array([], dtype="S")
            g.create_dataset("_index", shape=(n,), dtype=h5py.string_dtype(), chunks=(1024,))
        f.create_dataset("X", shape=(10**9, 10**9), dtype="f4", chunks=(64, 64))
    assert p.stat().st_size < 1_000_000
    assert "over the cap" in refused("matrix.too-large", read_path, p).message
    # a dense X within the axis caps but over the memory cap
    q = tmp_path / "dense.h5ad"
    n = 100_000
    with h5py.File(q, "w") as f:
        for name in ("obs", "var"):
            g = f.create_group(name)
            g.attrs["_index"] = "_index"
            g.create_dataset(
                "_index", data=np.array([f"x{i}" for i in range(n)], dtype="S"), compression="gzip"
            )
        f.create_dataset("X", shape=(n, n), dtype="f4", chunks=(256, 256))
    monkeypatch.setenv("IFNSCOPE_MAX_MATRIX_BYTES", str(2 * 1024**3))
    assert "IFNSCOPE_MAX_MATRIX_BYTES" in refused("matrix.too-large", read_path, q).message
    # names of a fixed width of 1 MB (compressed to nothing) and a CSR declaring 10^11 values
    names = tmp_path / "names.h5ad"
    with h5py.File(names, "w") as f:
        g = f.create_group("obs")
        g.attrs["_index"] = "_index"
        g.create_dataset("_index", shape=(100_000,), dtype="S1000000", chunks=(1,), compression="gzip")
        v = f.create_group("var")
        v.attrs["_index"] = "_index"
        v["_index"] = np.array([b"IFI27", b"MX1"])
        f.create_dataset("X", shape=(100_000, 2), dtype="f4")
    refused("matrix.too-large", read_path, names)
    csr = tmp_path / "csr.h5ad"
    with h5py.File(csr, "w") as f:
        for name, idx in (("obs", [b"c1", b"c2"]), ("var", [b"IFI27", b"MX1"])):
            g = f.create_group(name)
            g.attrs["_index"] = "_index"
            g["_index"] = np.array(idx)
        X = f.create_group("X")
        X.attrs["encoding-type"] = "csr_matrix"
        X.attrs["shape"] = np.array([2, 2])
        X.create_dataset("data", shape=(10**11,), dtype="f4", chunks=(1 << 20,), compression="gzip")
        X.create_dataset("indices", shape=(10**11,), dtype="i4", chunks=(1 << 20,), compression="gzip")
        X["indptr"] = np.array([0, 10**11 - 1, 10**11], dtype=np.int64)
    assert csr.stat().st_size < 1_000_000

    def stream() -> None:
        extract(read_path(csr), ["IFI27"], want_ranks=False)

    refused("matrix.too-large", stream)
    # a Matrix Market header declaring more values than it holds, then over a tiny cap
    folder = tmp_path / "tenx"
    folder.mkdir()
    (folder / "matrix.mtx").write_text("%%MatrixMarket matrix coordinate integer general\n2 2 4\n1 1 1\n")
    (folder / "features.tsv").write_text("IFI27\tIFI27\tGene Expression\nMX1\tMX1\tGene Expression\n")
    (folder / "barcodes.tsv").write_text("a\nb\n")
    refused("matrix.corrupt", read_path, folder)  # 4 declared, 1 present
    monkeypatch.setenv("IFNSCOPE_MAX_MATRIX_BYTES", "16")
    refused("matrix.too-large", read_path, folder)


@pytest.mark.filterwarnings("ignore:Writing zarr v2 data")
def test_zarr_sizes_are_checked_before_anndata_loads_it(
    tmp_path: Path, data: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anndata as ad
    import pandas as pd

    counts, genes, names, _ = data
    a = ad.AnnData(sp.csr_matrix(counts.astype(np.float32)), obs=pd.DataFrame(index=names))
    a.var_names = genes
    a.write_zarr(tmp_path / "a.zarr")
    assert read_path(tmp_path / "a.zarr").n_samples == len(names)
    monkeypatch.setenv("IFNSCOPE_MAX_MATRIX_BYTES", "1000")
    refused("matrix.too-large", read_path, tmp_path / "a.zarr")


def _run_guarded(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """In a child process, so that a hang is a failed test (a hang guard, not a timing test)."""
    src = str(Path(sig.__file__).resolve().parents[2])
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env={"PYTHONPATH": src}
    )


def test_a_very_wide_header_is_read_in_linear_time(tmp_path: Path) -> None:
    """200,000 columns: the former parser compared every column with a list of the others."""
    genes = filler_genes(2000)
    n = 200_000
    p = tmp_path / "wide.csv"
    header = ["sample", *[genes[i % len(genes)] for i in range(n)]]
    with p.open("w") as fh:
        fh.write(",".join(header) + "\n")
        for r in range(3):
            fh.write(f"s{r}," + ",".join(["1"] * n) + "\n")
    out = _run_guarded(
        "from ifnscope.signatures.readers import read_path\n"
        f"m = read_path({str(p)!r})\nprint(m.n_samples, m.n_features)"
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["3", str(n)]


def test_cli_exits_2_on_hostile_input(tmp_path: Path) -> None:
    p = tmp_path / "cut.tsv.gz"
    rng = np.random.default_rng(0)
    body = "".join(f"{g}\t{v}\n" for g, v in zip(filler_genes(300), rng.integers(0, 10**6, 300), strict=True))
    whole = gzip.compress(("gene\ta\n" + body).encode())
    p.write_bytes(whole[: len(whole) // 2])
    src = str(Path(sig.__file__).resolve().parents[2])
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", "score", str(p), "-s", "rice6"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": src},
    )
    assert r.returncode == 2, r.stderr
    assert "[matrix.corrupt]" in r.stderr
    assert "Traceback" not in r.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    src = str(Path(sig.__file__).resolve().parents[2])
    return subprocess.run(
        [sys.executable, "-m", "ifnscope", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": src, "COLUMNS": "200"},
    )


def test_cli_layer_use_raw_and_every_scale(tmp_path: Path, data: tuple) -> None:
    import anndata as ad
    import pandas as pd

    counts, genes, names, _ = data
    a = ad.AnnData(
        np.log1p(counts).astype(np.float32), obs=pd.DataFrame(index=names), var=pd.DataFrame(index=genes)
    )
    a.layers["counts"] = sp.csr_matrix(counts.astype(np.float32))
    p = tmp_path / "a.h5ad"
    a.write_h5ad(p)
    r = _cli("score", str(p), "-s", "aybey_ifna", "--method", "singscore", "--layer", "counts")
    assert r.returncode == 0, r.stderr
    assert "layer 'counts'" in r.stderr or len(r.stdout.splitlines()) == 1 + len(names)
    r = _cli("score", str(p), "-s", "aybey_ifna", "--layer", "count")
    assert r.returncode == 2
    assert "[matrix.layer]" in r.stderr
    assert "counts" in r.stderr
    r = _cli("score", str(p), "-s", "aybey_ifna", "--use-raw")
    assert r.returncode == 2
    assert "no .raw" in r.stderr
    r = _cli("score", "--help")
    for word in ("counts", "linear", "log2", "ln", "dct", "rq", "--layer", "--use-raw", "--probe-map"):
        assert word in r.stdout, word
    r = _cli("score", str(p), "-s", "aybey_ifna", "--scale", "log10")
    assert r.returncode == 2
    assert "counts, linear, log2, ln, dct or rq" in r.stderr


def test_api_accepts_10x_h5_uploads() -> None:
    from ifnscope.web.api.signatures import _suffix

    assert _suffix("sample_filtered_feature_bc_matrix.h5") == ".h5"
    assert _suffix("x.h5ad") == ".h5ad"
    with pytest.raises(MatrixError, match="cannot be uploaded"):
        _suffix("matrix.mtx")


# ------------------------------------------------------------------------------- formats


def _write_10x_h5(
    path: Path,
    csr: Any,
    ids: list[str],
    names: list[str],
    barcodes: list[str],
    *,
    types: list[str] | None = None,
    v2: bool = False,
) -> None:
    """Cell Ranger's layout: CSC features x barcodes == CSR barcodes x features."""
    import h5py

    csr = sp.csr_matrix(csr)
    with h5py.File(path, "w") as f:
        g = f.create_group("GRCh38" if v2 else "matrix")
        g["data"] = csr.data.astype(np.int32)
        g["indices"] = csr.indices.astype(np.int64)
        g["indptr"] = csr.indptr.astype(np.int64)
        g["shape"] = np.array([csr.shape[1], csr.shape[0]], dtype=np.int32)
        g["barcodes"] = np.array(barcodes, dtype="S")
        if v2:
            g["genes"] = np.array(ids, dtype="S")
            g["gene_names"] = np.array(names, dtype="S")
        else:
            fg = g.create_group("features")
            fg["id"] = np.array(ids, dtype="S")
            fg["name"] = np.array(names, dtype="S")
            fg["feature_type"] = np.array(types or ["Gene Expression"] * len(ids), dtype="S")
            fg["genome"] = np.array(["GRCh38"] * len(ids), dtype="S")


@pytest.fixture(scope="module")
def kang() -> CsrMatrix:
    if not KANG.is_dir():
        pytest.skip(f"SKIPPED: the Kang PBMC data are not at {KANG}")
    m = read_path(KANG)
    assert isinstance(m, CsrMatrix)
    return m


@needs_kang
def test_kang_as_cell_ranger_h5_v3_and_v2(tmp_path: Path, kang: CsrMatrix) -> None:
    ids, names = kang.feature_ids["id"].tolist(), kang.feature_ids["name"].tolist()
    barcodes = kang.samples.tolist()
    # v3 with two antibody-capture features appended: set aside with a note
    extra = sp.random(kang.n_samples, 2, density=0.5, format="csr", random_state=0) * 100
    X = sp.hstack([kang.csr, extra.astype(np.float32)], format="csr")
    types = ["Gene Expression"] * len(ids) + ["Antibody Capture"] * 2
    _write_10x_h5(
        tmp_path / "v3.h5",
        X,
        [*ids, "CD3_TotalSeqB", "CD4_TotalSeqB"],
        [*names, "CD3", "CD4"],
        barcodes,
        types=types,
    )
    v3 = read_path(tmp_path / "v3.h5")
    assert v3.n_features == kang.n_features
    assert any("Antibody Capture set aside" in n for n in v3.notes)
    _write_10x_h5(tmp_path / "v2.h5", kang.csr, ids, names, barcodes, v2=True)
    v2 = read_path(tmp_path / "v2.h5")
    for m in (v3, v2):
        assert m.samples.tolist() == barcodes
        _same(m, kang)
    a = sig.score(kang, "aybey_ifna", method="singscore").results[0].scores
    b = sig.score(v3, "aybey_ifna", method="singscore").results[0].scores
    assert np.allclose(a, b, atol=1e-6)


@needs_kang
def test_geo_prefixed_matrix_market_folder(tmp_path: Path, kang: CsrMatrix) -> None:
    folder = tmp_path / "GSE96583_RAW"
    folder.mkdir()
    for prefix in ("GSM2560248_", "GSM2560249_"):
        shutil.copy(KANG / "matrix.mtx.gz", folder / f"{prefix}matrix.mtx.gz")
        shutil.copy(KANG / "features.tsv.gz", folder / f"{prefix}genes.tsv.gz")
        shutil.copy(KANG / "barcodes.tsv.gz", folder / f"{prefix}barcodes.tsv.gz")
    err = refused("matrix.format", read_path, folder)
    assert "pass one of" in err.message
    assert "GSM2560249_" in err.message
    m = read_path(folder / "GSM2560248_")
    _same(m, kang)
    (folder / "GSM2560249_matrix.mtx.gz").unlink()
    _same(read_path(folder), kang)  # one complete set left: read it


@needs_kang
@pytest.mark.filterwarnings("ignore:Writing zarr v2 data")
def test_kang_as_zarr_and_h5ad_layers_raw_and_log1p(tmp_path: Path, kang: CsrMatrix) -> None:
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    adata = ad.AnnData(
        kang.csr.copy(),
        obs=pd.DataFrame(index=kang.samples.astype(str)),
        var=pd.DataFrame({"gene_ids": kang.feature_ids["id"]}, index=kang.feature_ids["name"].astype(str)),
    )
    adata.layers["counts"] = adata.X.copy()
    adata.raw = adata.copy()  # raw = counts, with its own var
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    adata = adata[:, : adata.n_vars - 5].copy()  # X has fewer genes than raw: raw/var is its own
    adata.write_h5ad(tmp_path / "k.h5ad")
    adata.write_zarr(tmp_path / "k.zarr")
    for p in (tmp_path / "k.h5ad", tmp_path / "k.zarr"):
        x = read_path(p)
        assert x.log_base == pytest.approx(math.e)
        assert x.log_base_source == "uns['log1p']"
        raw = read_path(p, use_raw=True)
        assert raw.n_features == kang.n_features  # raw/var, not var
        assert raw.log_base is None
        _same(raw, kang)
        sliced = CsrMatrix(
            source="sliced",
            samples=kang.samples,
            feature_ids={k: v[:-5] for k, v in kang.feature_ids.items()},
            kind="single_cell",
            csr=kang.csr[:, :-5],
        )
        _same(read_path(p, layer="counts"), sliced)
        assert "counts" in refused("matrix.layer", read_path, p, layer="count").message
        refused("matrix.layer", read_path, p, layer="counts", use_raw=True)
    refused("matrix.layer", read_path, BLOOD if BLOOD.is_file() else tmp_path / "k.h5ad.tsv", layer="x")
    # the signature other helpers rely on for backed AnnData
    m = read_h5ad(tmp_path / "k.h5ad", layer="counts", use_raw=False)
    assert m.n_samples == kang.n_samples
    adata.raw = None
    adata.write_h5ad(tmp_path / "noraw.h5ad")
    assert "no .raw" in refused("matrix.layer", read_path, tmp_path / "noraw.h5ad", use_raw=True).message


def test_log1p_base_is_read_from_uns(tmp_path: Path, data: tuple) -> None:
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    counts, genes, names, _ = data
    a = ad.AnnData(sp.csr_matrix(counts.astype(np.float32)), obs=pd.DataFrame(index=names))
    a.var_names = genes
    a.layers["counts"] = a.X.copy()
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a, base=2)
    a.write_h5ad(tmp_path / "b2.h5ad")
    m = read_path(tmp_path / "b2.h5ad")
    assert m.log_base == 2.0
    assert any("base 2" in n for n in m.notes)
    layer = read_path(tmp_path / "b2.h5ad", layer="counts")
    assert layer.log_base is None  # uns['log1p'] describes X, not the layer
    assert any("not assumed" in n for n in layer.notes)


def test_dense_and_csc_layers_are_read_without_anndata_loading_everything(
    tmp_path: Path, data: tuple
) -> None:
    import anndata as ad
    import pandas as pd

    counts, genes, names, _ = data
    a = ad.AnnData(counts.astype(np.float32), obs=pd.DataFrame(index=names), var=pd.DataFrame(index=genes))
    a.layers["csc"] = sp.csc_matrix(counts.astype(np.float32))
    a.write_h5ad(tmp_path / "d.h5ad")
    _same(read_path(tmp_path / "d.h5ad"), read_path(tmp_path / "d.h5ad", layer="csc"))


def _series_matrix(
    path: Path, probes: list[str], samples: list[str], x: np.ndarray, chars: list[str]
) -> None:
    gsm = [f"GSM{1000 + i}" for i in range(len(samples))]
    lines = [
        '!Series_title\t"Whole blood stimulated ex vivo"',
        '!Series_geo_accession\t"GSE0"',
        "",
        "!Sample_title\t" + "\t".join(f'"{s}"' for s in samples),
        "!Sample_geo_accession\t" + "\t".join(f'"{g}"' for g in gsm),
        "!Sample_characteristics_ch1\t" + "\t".join(f'"donor: {s.split("_")[0]}"' for s in samples),
        "!Sample_characteristics_ch1\t" + "\t".join(f'"{c}"' for c in chars),
        "!series_matrix_table_begin",
        '"ID_REF"\t' + "\t".join(f'"{g}"' for g in gsm),
    ]
    lines += [f'"{p}"\t' + "\t".join(f"{v:.6g}" for v in x[:, j]) for j, p in enumerate(probes)]
    lines.append("!series_matrix_table_end")
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


@needs_blood
def test_blood_as_a_geo_series_matrix_with_a_probe_map(tmp_path: Path) -> None:
    tsv = read_path(BLOOD)
    genes = tsv.feature_ids[next(iter(tsv.feature_ids))].tolist()
    samples = tsv.samples.tolist()
    probes = [f"{7892501 + 3 * j}" for j in range(len(genes))]  # Affymetrix-like numeric probe IDs
    chars = [f"stimulus: {s.split('_')[1]}" for s in samples]
    sm = tmp_path / "GSE0_series_matrix.txt.gz"
    _series_matrix(sm, probes, samples, tsv.x, chars)
    gpl = tmp_path / "GPL0.annot"
    multi = {genes.index("IRF1")}  # one probe maps to two genes: not used
    with gpl.open("w") as fh:
        fh.write("#ID = probe\n#Gene Symbol = symbol\nID\tGene Symbol\tENTREZ_GENE_ID\n")
        for j, (p, g) in enumerate(zip(probes, genes, strict=True)):
            fh.write(f"{p}\t{g + ' /// GBP1' if j in multi else g}\t\n")
    # numeric probe IDs are not Entrez IDs: without the map, refuse and say what is needed
    assert "--probe-map" in refused("matrix.genes", read_path, sm).message
    m = read_path(sm, probe_map=gpl)
    assert m.samples.tolist() == [f"GSM{1000 + i}" for i in range(len(samples))]
    assert any("several genes" in n for n in m.notes)
    assert m.annotations is not None
    assert m.annotations.column("title").tolist() == samples
    assert "characteristics: stimulus" in m.annotations.columns
    from ifnscope.signatures.reference import select_controls

    controls = select_controls(m, "characteristics: stimulus=Buffer")
    assert controls.sum() == sum(s.endswith("_Buffer") for s in samples)
    ex = extract(m, ["IRF1", "IFI27"], want_ranks=False)
    assert "IRF1" not in ex.found
    targets = ["IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "MX1"]
    _same(m, tsv, targets)
    a = sig.score(tsv, "rice6", controls="Buffer").results[0].scores
    b = sig.score(m, "rice6", controls="characteristics: stimulus=Buffer").results[0].scores
    assert np.allclose(a, b, rtol=1e-5)


@needs_blood
def test_blood_re_shaped_as_r_write_csv_and_genes_in_columns(tmp_path: Path) -> None:
    import pandas as pd

    df = pd.read_csv(BLOOD, sep="\t")
    r = tmp_path / "r.csv"
    df.to_csv(r, index=True, index_label="")  # R write.csv: "" header cell, row numbers 0..N-1
    t = tmp_path / "t.csv"
    df.set_index("Gene").T.to_csv(t, index_label="")
    orig = read_path(BLOOD)
    for p in (r, t):
        m = read_path(p)
        assert m.samples.tolist() == orig.samples.tolist()
        _same(m, orig, TARGETS)


@needs_fibro
def test_fibroblast_csv_with_r_row_numbers(tmp_path: Path) -> None:
    """The shared CSV's first column is Ensembl under an empty header; add R's row numbers."""
    import pandas as pd

    orig = read_path(FIBRO)
    assert next(iter(orig.feature_ids)) in ("column 1", "gene_symbol")
    df = pd.read_csv(FIBRO)
    p = tmp_path / "rn.csv"
    df.rename(columns={df.columns[0]: "ensembl_id"}).to_csv(p, index=True, index_label="")
    m = read_path(p)
    assert m.samples.tolist() == orig.samples.tolist()
    assert "" not in m.samples.tolist()
    _same(m, orig)
    a = sig.score(orig, "aybey_ifna", method="singscore").results[0].scores
    b = sig.score(m, "aybey_ifna", method="singscore").results[0].scores
    assert np.allclose(a, b, atol=1e-6)
