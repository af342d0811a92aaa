"""Read expression data: delimited text, folders of per-sample files, 10x folders, .h5ad.

Each reader returns a :class:`~ifnscope.signatures.matrix.Matrix` and notes what it
detected (orientation, identifier column), so the output can say what was assumed.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from ifnscope.errors import MatrixError
from ifnscope.signatures.genes import Match, clean_identifier, gene_table
from ifnscope.signatures.matrix import Annotations, CsrMatrix, DenseMatrix, H5adStream, Matrix

# An identifier axis must resolve at least this share to count as genes (rows of spike-ins,
# transcripts or unannotated loci lower the share; sample names resolve to ~0).
MIN_GENE_SHARE = 0.1

_TEXT_SUFFIXES = (".tsv", ".txt", ".csv", ".tab", ".tsv.gz", ".txt.gz", ".csv.gz")


def read_path(path: str | Path, *, annotations: str | Path | None = None, prefetch: bool = False) -> Matrix:
    """Read any supported input; ``annotations`` is an optional sample-annotation table.

    ``prefetch`` starts reading a streamed ``.h5ad`` in the background at once (the command
    line does, since it always scores what it opens).
    """
    p = Path(path)
    if not p.exists():
        raise MatrixError("no such file or folder", file=str(p), code="matrix.not-found")
    if p.is_dir():
        m: Matrix = read_10x(p) if _find(p, ("matrix.mtx", "matrix.mtx.gz")) else read_sample_folder(p)
    elif p.name.endswith(".h5ad"):
        m = read_h5ad(p)
        if prefetch:
            m.start_prefetch()
    elif p.name.lower().endswith(_TEXT_SUFFIXES):
        m = read_delimited(p)
    else:
        raise MatrixError(
            "unsupported input: expected a delimited text file (.tsv, .txt, .csv), an .h5ad file, "
            "a 10x folder (matrix.mtx, features.tsv, barcodes.tsv) or a folder of per-sample files",
            file=str(p),
            code="matrix.format",
        )
    if annotations is not None:
        m.annotations = read_annotations(annotations, m)
    return m


# ------------------------------------------------------------------------- identifiers


def resolvable_fraction(ids: np.ndarray, limit: int = 2000) -> float:
    """Share of (up to ``limit``) identifiers that are a current symbol, an Ensembl or Entrez ID.

    A quick probe to tell gene identifiers from sample names; previous symbols and aliases are
    not consulted here (they are, when the genes are actually matched).
    """
    table = gene_table()
    sample = ids[:: max(1, ids.size // limit)][:limit] if ids.size else ids
    if sample.size == 0:
        return 0.0
    hits = 0
    for x in sample:
        ident = clean_identifier(str(x))
        if ident in table.by_symbol or (ident.isdigit() and int(ident) in table.by_entrez):
            hits += 1
        elif ident.startswith("ENSG"):
            hits += isinstance(table.resolve(ident), Match)
    return hits / sample.size


def order_id_columns(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Identifier columns, the one that resolves best first."""
    if len(cols) == 1:
        return cols
    return dict(sorted(cols.items(), key=lambda kv: -resolvable_fraction(kv[1])))


# --------------------------------------------------------------------- delimited text


def _sniff_sep(path: Path) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        head = fh.readline()
    if path.name.lower().endswith((".csv", ".csv.gz")):
        return ","
    return "\t" if head.count("\t") >= head.count(",") else ","


def read_delimited(path: Path) -> DenseMatrix:
    """A table with genes in rows or in columns (detected), one or more identifier columns."""
    import pandas as pd

    sep = _sniff_sep(path)
    try:
        try:
            df = pd.read_csv(path, sep=sep, engine="pyarrow")
        except Exception:  # pyarrow is stricter (e.g. ragged rows): fall back to the C parser
            df = pd.read_csv(path, sep=sep, low_memory=False)
    except Exception as exc:
        raise MatrixError(
            f"cannot read as a delimited table: {exc}", file=str(path), code="matrix.format"
        ) from None
    if df.shape[0] == 0 or df.shape[1] < 2:
        raise MatrixError("the table is empty or has a single column", file=str(path), code="matrix.empty")
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    text = [c for c in df.columns if c not in numeric]
    notes: list[str] = []
    header_frac = resolvable_fraction(np.asarray([str(c) for c in numeric], dtype=object))
    row_cols = {
        str(c) if str(c) and not str(c).startswith("Unnamed") else f"column {i + 1}": df[c]
        .astype(str)
        .to_numpy(dtype=object)
        for i, c in enumerate(df.columns)
        if c in text
    }
    row_frac = max((resolvable_fraction(v) for v in row_cols.values()), default=0.0)
    if row_frac >= header_frac and row_frac >= MIN_GENE_SHARE:
        ids = order_id_columns(row_cols)
        x = df[numeric].to_numpy(dtype=np.float32).T  # samples x genes
        samples = np.asarray([str(c) for c in numeric], dtype=object)
        notes.append(
            f"genes in rows (identifier column '{next(iter(ids))}', "
            f"{row_frac:.0%} of identifiers resolve); {len(numeric)} samples in columns"
        )
    elif header_frac >= MIN_GENE_SHARE:
        if not text:
            raise MatrixError(
                "genes are in the header but no column names the samples",
                file=str(path),
                code="matrix.format",
            )
        samples = df[text[0]].astype(str).to_numpy(dtype=object)
        ids = {"header": np.asarray([str(c) for c in numeric], dtype=object)}
        x = df[numeric].to_numpy(dtype=np.float32)
        notes.append(
            f"genes in columns ({header_frac:.0%} of column names resolve); "
            f"{len(samples)} samples in rows (names from '{text[0]}')"
        )
    else:
        examples = ", ".join(str(v) for v in (next(iter(row_cols.values()))[:3] if row_cols else numeric[:3]))
        raise MatrixError(
            "could not find human gene identifiers in either the first column(s) or the header "
            f"(examples: {examples}); expected HGNC symbols, Ensembl gene IDs or Entrez IDs",
            file=str(path),
            code="matrix.genes",
        )
    if not np.isfinite(x).all():
        # Kept missing: a 0 would be read as "not expressed" (or, as delta-Ct, as expressed as
        # the reference genes). The scorer gives a sample missing a signature gene no score.
        bad = ~np.isfinite(x)
        x = np.where(bad, np.nan, x)
        notes.append(
            f"{int(bad.sum())} missing or non-finite values in {int(bad.any(axis=1).sum())} samples "
            "kept as missing (NaN), not read as 0"
        )
    return DenseMatrix(
        source=str(path),
        samples=samples,
        feature_ids=ids,
        kind="bulk",
        notes=notes,
        x=np.ascontiguousarray(x),
    )


def read_sample_folder(path: Path) -> DenseMatrix:
    """A folder with one two-column file (gene, value) per sample; sample = file name stem."""
    import pandas as pd

    files = sorted(f for f in path.iterdir() if f.is_file() and f.name.lower().endswith(_TEXT_SUFFIXES))
    if not files:
        raise MatrixError(
            "no expression files in this folder (expected .tsv/.txt/.csv per sample, or a 10x folder)",
            file=str(path),
            code="matrix.empty",
        )
    columns: dict[str, Any] = {}
    for f in files:
        try:
            s = pd.read_csv(f, sep=_sniff_sep(f), header=None, comment="#")
        except Exception as exc:
            raise MatrixError(f"cannot read: {exc}", file=str(f), code="matrix.format") from None
        if s.shape[1] != 2 or not pd.api.types.is_numeric_dtype(s[1]):
            if s.shape[1] == 2 and not pd.api.types.is_numeric_dtype(s[1]):
                s = s.iloc[1:]  # a header line
                s[1] = pd.to_numeric(s[1], errors="coerce")
            else:
                raise MatrixError(
                    f"expected two columns (gene, value), found {s.shape[1]}",
                    file=str(f),
                    code="matrix.format",
                )
        stem = f.name
        for suf in _TEXT_SUFFIXES:
            stem = stem.removesuffix(suf)
        columns[stem] = s.groupby(0)[1].sum()
    table = pd.DataFrame(columns).fillna(0.0)
    ids = {"gene": table.index.astype(str).to_numpy(dtype=object)}
    if resolvable_fraction(ids["gene"]) < MIN_GENE_SHARE:
        raise MatrixError(
            "the first column of the per-sample files does not look like gene identifiers",
            file=str(path),
            code="matrix.genes",
        )
    notes = [f"{len(files)} per-sample files; {table.shape[0]} genes (union; a gene absent from a file is 0)"]
    return DenseMatrix(
        source=str(path),
        samples=np.asarray(list(columns), dtype=object),
        feature_ids=ids,
        kind="bulk",
        notes=notes,
        x=np.ascontiguousarray(table.to_numpy(dtype=np.float32).T),
    )


# ----------------------------------------------------------------------------- 10x


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        if (folder / n).exists():
            return folder / n
    return None


def _lines(path: Path) -> list[list[str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if line.strip()]


def read_10x(path: Path) -> CsrMatrix:
    """A 10x Matrix Market folder (features x barcodes), read as cells x genes CSR."""
    from scipy.io import mmread

    mtx = _find(path, ("matrix.mtx", "matrix.mtx.gz"))
    feats = _find(path, ("features.tsv", "features.tsv.gz", "genes.tsv", "genes.tsv.gz"))
    bcs = _find(path, ("barcodes.tsv", "barcodes.tsv.gz"))
    if not (mtx and feats and bcs):
        missing = [
            n for n, f in (("matrix.mtx", mtx), ("features.tsv", feats), ("barcodes.tsv", bcs)) if not f
        ]
        raise MatrixError(f"10x folder is missing {', '.join(missing)}", file=str(path), code="matrix.format")
    import scipy.sparse as sp

    try:
        m = sp.csr_matrix(mmread(str(mtx)).T)
    except Exception as exc:
        raise MatrixError(
            f"cannot read the Matrix Market file: {exc}", file=str(mtx), code="matrix.format"
        ) from None
    rows = _lines(feats)
    barcodes = np.asarray([r[0] for r in _lines(bcs)], dtype=object)
    if m.shape != (barcodes.size, len(rows)):
        raise MatrixError(
            f"matrix is {m.shape[1]} x {m.shape[0]} but there are {len(rows)} features and "
            f"{barcodes.size} barcodes",
            file=str(path),
            code="matrix.format",
        )
    cols = {"id": np.asarray([r[0] for r in rows], dtype=object)}
    if rows and len(rows[0]) > 1:
        cols["name"] = np.asarray([r[1] for r in rows], dtype=object)
    ids = order_id_columns(cols)
    m.data = m.data.astype(np.float32, copy=False)
    return CsrMatrix(
        source=str(path),
        samples=barcodes,
        feature_ids=ids,
        kind="single_cell",
        notes=[
            f"10x folder: {m.shape[0]} cells x {m.shape[1]} features (identifiers from '{next(iter(ids))}')"
        ],
        csr=m,
    )


# --------------------------------------------------------------------------- h5ad


def _h5_strings(ds: Any) -> np.ndarray:
    """An anndata string or categorical column as a numpy object array (h5py only)."""
    import h5py

    if isinstance(ds, h5py.Group):  # categorical: categories + codes
        cats = np.asarray(
            ds["categories"].asstr()[:] if ds["categories"].dtype.kind in "OS" else ds["categories"][:]
        ).astype(str)
        codes = np.asarray(ds["codes"][:])
        out = np.where(codes >= 0, cats[np.clip(codes, 0, None)], "")
        return out.astype(object)
    if ds.dtype.kind in "OS":
        return np.asarray(ds.asstr()[:], dtype=object)
    return np.asarray(ds[:]).astype(str).astype(object)


def _h5_frame(g: Any) -> tuple[np.ndarray, list[str]]:
    """The index and the column names of an anndata dataframe group."""
    index_name = g.attrs.get("_index", "_index")
    index = _h5_strings(g[index_name])
    order = g.attrs.get("column-order", [])
    return index, [str(c) for c in np.atleast_1d(order) if str(c) in g]


ID_COLUMNS = ("gene_ids", "gene_id", "gene_symbols", "gene_symbol", "feature_name", "symbol", "ensembl_id")


def read_h5ad(path: Path, *, stream: bool | None = None) -> Matrix:
    """An AnnData file. A CSR ``X`` is streamed from disk in row chunks; others are loaded.

    The obs and var tables are read with h5py (anndata's own reader is only needed, and only
    imported, for a dense or CSC ``X``).
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise MatrixError(f"not an HDF5/.h5ad file: {exc}", file=str(path), code="matrix.format") from None
    with f:
        if "X" not in f or "obs" not in f or "var" not in f:
            raise MatrixError(
                "not an AnnData file (X, obs or var missing)", file=str(path), code="matrix.format"
            )
        X = f["X"]
        enc = X.attrs.get("encoding-type", "array") if isinstance(X, h5py.Group) else "array"
        samples, obs_cols = _h5_frame(f["obs"])
        var_index, var_cols = _h5_frame(f["var"])
        cols = {"var_names": var_index}
        for c in ID_COLUMNS:
            if c in var_cols:
                cols[c] = _h5_strings(f["var"][c])
        shape = tuple(X.attrs["shape"]) if isinstance(X, h5py.Group) else X.shape

    def obs_column(name: str) -> np.ndarray:
        with h5py.File(path, "r") as fh:
            return _h5_strings(fh["obs"][name])

    ids = order_id_columns(cols)
    ann = Annotations(obs_cols, obs_column)
    note = f".h5ad: {shape[0]} observations x {shape[1]} variables (identifiers from '{next(iter(ids))}')"
    if enc == "csr_matrix" and stream is not False:
        return H5adStream(
            source=str(path),
            samples=samples,
            feature_ids=ids,
            kind="single_cell",
            annotations=ann,
            notes=[note + "; X streamed from disk in row chunks"],
            path=str(path),
            n_cols=int(shape[1]),
        )
    import anndata as ad
    import scipy.sparse as sp

    adata = ad.read_h5ad(path)
    X = adata.X
    if sp.issparse(X):
        return CsrMatrix(
            source=str(path),
            samples=samples,
            feature_ids=ids,
            kind="single_cell",
            annotations=ann,
            notes=[note],
            csr=sp.csr_matrix(X, dtype=np.float32),
        )
    return DenseMatrix(
        source=str(path),
        samples=samples,
        feature_ids=ids,
        kind="single_cell",
        annotations=ann,
        notes=[note],
        x=np.ascontiguousarray(np.asarray(X, dtype=np.float32)),
    )


# ----------------------------------------------------------------------- annotations


def read_annotations(path: str | Path, m: Matrix) -> Annotations:
    """A sample annotation table: its first column holds sample names matching the matrix."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise MatrixError("no such annotation file", file=str(p), code="matrix.not-found")
    df = pd.read_csv(p, sep=_sniff_sep(p), dtype=str)
    df = df.set_index(df.columns[0])
    known = set(m.samples.tolist())
    if not any(s in known for s in df.index):
        raise MatrixError(
            f"none of the annotation table's first-column names match the matrix's samples "
            f"(e.g. {df.index[0]!r} vs {m.samples[0]!r})",
            file=str(p),
            code="matrix.controls",
        )
    return Annotations.from_frame(df, m.samples)
