"""Regressions for the reader bugs a reviewer reproduced (issue 10 review, /tmp/review).

Mouse AnnData padded with non-gene names scored as human; a corrupt .zarr as an internal
error; a truncated GEO series matrix read silently; a table of 30 million duplicate rows
resolved one by one; an empty, wrong probe-map message. Inputs are built in tmp_path with
scanpy/anndata as users write them.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ifnscope import signatures as sig
from ifnscope.errors import MatrixError
from ifnscope.signatures import extract as extract_mod
from ifnscope.signatures.adata import from_anndata
from ifnscope.signatures.extract import extract, map_features
from ifnscope.signatures.readers import read_path
from tests.helpers import SHARED
from tests.sigdata import filler_genes
from tests.signatures.kang import kang_counts, needs_kang

IFN = ["IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "SIGLEC1", "MX1", "OAS1", "ACTB", "GAPDH"]
# the reviewer's shape: 10 real genes and 30 names that are no gene (G0..G29)
PADDED = IFN + [f"G{i}" for i in range(30)]


def refused(code: str, fn: Any, *args: Any, **kwargs: Any) -> MatrixError:
    with pytest.raises(MatrixError) as ei:
        fn(*args, **kwargs)
    assert ei.value.code == code, ei.value.message
    return ei.value


def _adata(var_names: list[str], n: int = 30) -> Any:
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    counts = np.random.default_rng(0).poisson(5, (n, len(var_names))).astype(np.float32)
    return ad.AnnData(
        sp.csr_matrix(counts),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame(index=var_names),
    )


# ------------------------------------------------------------------------------- species


def test_mouse_anndata_padded_with_non_genes_is_refused_everywhere(tmp_path: Path) -> None:
    import scanpy as sc

    mouse = [g.capitalize() for g in PADDED]  # 25% mouse-like, 0% human: under the old 30%
    a = _adata(mouse)
    a.write_h5ad(tmp_path / "m.h5ad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a.write_zarr(tmp_path / "m.zarr")
    assert "Ifi27" in refused("matrix.species", read_path, tmp_path / "m.h5ad").message
    refused("matrix.species", read_path, tmp_path / "m.zarr")
    refused("matrix.species", from_anndata, a)
    # .raw's var is what is checked when .raw is read: human X, mouse .raw
    h = _adata(PADDED)
    h.raw = a.copy()
    sc.pp.normalize_total(h)
    sc.pp.log1p(h)
    refused("matrix.species", from_anndata, h, use_raw=True)
    from_anndata(h, use_raw=False)  # X itself is human


def _table(path: Path, symbols: list[str]) -> Path:
    rng = np.random.default_rng(0)
    rows = [f"{g}\t" + "\t".join(str(v) for v in rng.poisson(20, 3)) for g in symbols]
    path.write_text("gene\ts1\ts2\ts3\n" + "\n".join(rows) + "\n")
    return path


def test_a_table_of_human_and_mouse_genes_side_by_side_is_refused(tmp_path: Path) -> None:
    mixed = [g if i % 2 else g.capitalize() for i, g in enumerate(PADDED)]  # Ifi27 beside IFI44L
    err = refused("matrix.species", read_path, _table(tmp_path / "mixed.tsv", mixed))
    assert "mixed" in err.message


def test_a_few_stray_title_case_names_are_read_but_never_used_as_the_human_gene(tmp_path: Path) -> None:
    genes = ["IFI27", "IFIT1", "ISG15", "MX1", "RSAD2", "IFI44L", *filler_genes(200)]
    stray = ["Ifi27" if g == "IFI27" else g for g in genes]  # one hand-edited name
    m = read_path(_table(tmp_path / "stray.tsv", stray))
    ex = extract(m, ["IFI27", "MX1"], want_ranks=False)
    assert "IFI27" not in ex.found
    assert ex.found["MX1"].how == "symbol"
    assert any("Ifi27 (~IFI27)" in n and "not used" in n for n in ex.notes)
    # lower-cased human data are still matched case-insensitively
    lower = extract(
        read_path(_table(tmp_path / "l.tsv", [g.lower() for g in genes])), ["IFI27"], want_ranks=False
    )
    assert lower.found["IFI27"].how == "symbol_case"


# ---------------------------------------------------------------------------------- zarr


def _zarr(tmp_path: Path) -> Path:
    a = _adata(PADDED)
    p = tmp_path / "d.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a.write_zarr(p)
    return p


def test_a_zarr_with_junk_chunks_is_corrupt_not_an_internal_error(tmp_path: Path) -> None:
    p = _zarr(tmp_path)
    chunks = [f for f in (p / "X").rglob("*") if f.is_file() and not f.name.startswith((".z", "zarr"))]
    assert chunks
    for f in chunks:
        f.write_bytes(b"\x02\x01junk" * 40)
    err = refused("matrix.corrupt", read_path, p)
    assert "damaged" in err.message


def test_a_folder_named_zarr_without_zarr_metadata_is_corrupt(tmp_path: Path) -> None:
    plain = tmp_path / "plain.zarr"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello\n")
    assert "no zarr group metadata" in refused("matrix.corrupt", read_path, plain).message
    p = _zarr(tmp_path)
    for meta in (".zgroup", ".zattrs", "zarr.json"):
        (p / meta).unlink(missing_ok=True)
    refused("matrix.corrupt", read_path, p)


# ----------------------------------------------------------------------------------- GEO


def _series(path: Path, rows: list[str], end: bool = True) -> Path:
    head = (
        '!Series_title\t"x"\n!Sample_geo_accession\t"GSM1"\t"GSM2"\t"GSM3"\n'
        '!series_matrix_table_begin\n"ID_REF"\t"GSM1"\t"GSM2"\t"GSM3"\n'
    )
    path.write_text(head + "".join(rows) + ("!series_matrix_table_end\n" if end else ""))
    return path


def _rows(genes: list[str]) -> list[str]:
    rng = np.random.default_rng(2)
    return [f'"{g}"\t' + "\t".join(f"{v:.3f}" for v in rng.normal(8, 1, 3)) + "\n" for g in genes]


def test_a_truncated_series_matrix_is_refused(tmp_path: Path) -> None:
    genes = IFN + filler_genes(30)
    ok = read_path(_series(tmp_path / "GSE0_series_matrix.txt", _rows(genes)))
    assert ok.n_features == len(genes)
    whole = _series(tmp_path / "GSE1_series_matrix.txt", _rows(genes), end=False).read_text()
    cut = tmp_path / "GSE2_series_matrix.txt"
    cut.write_text(whole[:-3])  # no end marker, the last number cut
    assert "truncated" in refused("matrix.corrupt", read_path, cut).message
    rows = _rows(genes)
    rows[4] = rows[4].rstrip("\n") + "\t5.0\n"
    err = refused("matrix.corrupt", read_path, _series(tmp_path / "GSE3_series_matrix.txt", rows))
    assert "5 fields" in err.message


def test_a_probe_map_naming_several_genes_per_probe_says_so(tmp_path: Path) -> None:
    probes = [f"{1000 + i}_at" for i in range(40)]
    sm = _series(tmp_path / "GSE1_series_matrix.txt", _rows(probes))
    gpl = tmp_path / "GPL.txt"
    gpl.write_text(
        "ID\tGene Symbol\n"
        + "".join(
            f"{p}\t{g} /// {PADDED[(i + 1) % 40]}\n"
            for i, (p, g) in enumerate(zip(probes, PADDED, strict=True))
        )
    )
    err = refused("matrix.genes", read_path, sm, probe_map=gpl)
    assert "several genes" in err.message
    assert "1000_at -> IFI27 /// IFI44L" in err.message
    assert "(e.g. , , )" not in err.message


# ---------------------------------------------------------------------------- duplicates


def test_each_distinct_identifier_is_resolved_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    genes = [*IFN, "IFI27", "ENSG00000165949", *filler_genes(30), "IFI27"]  # IFI27 x3 (one by Ensembl)
    m = read_path(_table(tmp_path / "d.tsv", genes))
    calls: list[str] = []
    table = extract_mod.gene_table()
    real = type(table).resolve

    def counting(self: Any, ident: str) -> Any:
        calls.append(ident)
        return real(self, ident)

    monkeypatch.setattr(type(table), "resolve", counting)
    hits = map_features(m, ["IFI27", "MX1"])
    assert [h.feature for h in hits["IFI27"]] == [0, 10, 11, len(genes) - 1]
    assert calls.count("IFI27") == 1
    monkeypatch.setattr(extract_mod, "FACTORIZE_HASH_ABOVE", 0)  # the hashing path agrees
    assert map_features(m, ["IFI27", "MX1"]) == hits


def test_a_table_repeating_one_gene_is_refused_by_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extract_mod, "MAX_FEATURES_PER_GENE", 50)
    p = tmp_path / "dup.tsv.gz"
    import gzip

    with gzip.open(p, "wt") as fh:
        fh.write("gene\ta\tb\n" + "".join(f"{g}\t3\t4\n" for g in IFN + filler_genes(20)))
        fh.write("IFI27\t1\t2\n" * 200)
    err = refused("matrix.too-large", sig.score, read_path(p), "rice6", method="singscore", min_coverage=0)
    assert "IFI27" in err.message
    assert "201" in err.message


# ------------------------------------------------------------------- log base from values


def _lognorm(a: Any, base: float | None, normalise: bool = True) -> Any:
    import scanpy as sc

    x = a.copy()
    if normalise:
        sc.pp.normalize_total(x)
    sc.pp.log1p(x, base=base)
    del x.uns["log1p"]  # what a pipeline that drops uns (or another tool) leaves
    return x


@pytest.mark.parametrize(("base", "expected"), [(None, math.e), (2, 2.0), (10, 10.0)])
def test_an_unrecorded_log_base_is_read_from_normalised_values(
    tmp_path: Path, base: float | None, expected: float
) -> None:
    x = _lognorm(_adata(filler_genes(300), n=40), base)
    x.write_h5ad(tmp_path / "x.h5ad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x.write_zarr(tmp_path / "x.zarr")
    for m in (read_path(tmp_path / "x.h5ad"), read_path(tmp_path / "x.zarr"), from_anndata(x)):
        assert m.log_base == pytest.approx(expected)
        assert m.log_base_source.startswith("detected")
        assert any("records no log base" in n for n in m.notes)
    ex = extract(read_path(tmp_path / "x.h5ad"), ["GAPDH"], want_ranks=False)
    assert ex.scale.describe().startswith("values detected")


def test_log_values_without_normalize_total_keep_the_detected_scale(tmp_path: Path) -> None:
    x = _lognorm(_adata(filler_genes(300), n=40), None, normalise=False)
    x.write_h5ad(tmp_path / "x.h5ad")
    for m in (read_path(tmp_path / "x.h5ad"), from_anndata(x)):
        assert m.log_base is None
    assert extract(read_path(tmp_path / "x.h5ad"), ["GAPDH"], want_ranks=False).scale.scale == "log2"


@needs_kang
def test_the_log_base_detection_on_kang_cells() -> None:
    from ifnscope.signatures import logbase

    k = kang_counts(100)
    for base, expected in ((None, math.e), (2, 2.0), (10, 10.0)):
        found = logbase.detect(_lognorm(k, base).X)
        assert found is not None
        assert found[0] == pytest.approx(expected)
    assert logbase.detect(_lognorm(k, None, normalise=False).X) is None
    assert logbase.detect(k.X) is None  # counts


BLOOD = SHARED / "data" / "blood_ifn_stimulation" / "whole_blood_normalized_counts.txt"


@pytest.mark.skipif(not BLOOD.is_file(), reason=f"SKIPPED: the shared whole blood data are not at {BLOOD}")
def test_the_log_base_detection_on_whole_blood() -> None:
    import anndata as ad
    import pandas as pd

    from ifnscope.signatures import logbase

    df = pd.read_csv(BLOOD, sep="\t", index_col=0)
    blood = ad.AnnData(df.T.to_numpy(np.float32))  # 28 samples x 12,194 genes
    for base, expected in ((None, math.e), (2, 2.0), (10, 10.0)):
        found = logbase.detect(_lognorm(blood, base).X)
        assert found is not None
        assert found[0] == pytest.approx(expected)
    # the shared values are normalised already, but not to one total: no answer
    assert logbase.detect(_lognorm(blood, None, normalise=False).X) is None


def test_a_table_too_long_to_parse_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short rows inflate most when parsed (a name becomes a Python string, a value a float64):
    the rows are counted, streamed, and the parse refused when it would not fit."""
    import gzip

    import ifnscope.signatures.readers as readers

    rows = b"".join(b"%s\t1\t2\n" % g.encode() for g in IFN) * 200_000  # 2 million rows, 24 MB
    p = tmp_path / "long.tsv.gz"
    p.write_bytes(gzip.compress(b"Gene\tA\tB\n" + rows, compresslevel=1))
    monkeypatch.setenv("IFNSCOPE_MAX_MATRIX_BYTES", str(64 << 20))
    parsed: list[Path] = []
    monkeypatch.setattr(readers, "_read_body", lambda path, *a: parsed.append(path))
    err = refused("matrix.too-large", read_path, p)
    assert "2,000,001 rows x 3 columns" in err.message
    assert parsed == []  # refused from the count, never handed to the parser
    monkeypatch.undo()
    small = tmp_path / "small.tsv.gz"
    small.write_bytes(gzip.compress(b"Gene\tA\tB\n" + rows[: 20 * 1000]))
    assert read_path(small).n_samples == 2  # a table that fits is read as before
