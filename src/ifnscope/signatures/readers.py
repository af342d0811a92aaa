"""Read expression data: delimited text, per-sample folders, 10x, .h5ad, .zarr, GEO series matrices.

Each reader returns a :class:`~ifnscope.signatures.matrix.Matrix` and notes what it
detected (orientation, identifier column, what was set aside), so the output can say what was
assumed. What cannot be interpreted is refused with a :class:`~ifnscope.errors.MatrixError`:
row numbers are never read as Entrez IDs (``idcols``), mouse data are not scored as human,
empty or repeated sample names are refused, and damaged or oversized files stop before they
are inflated or allocated (``safety``).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from ifnscope.errors import MatrixError
from ifnscope.signatures import logbase
from ifnscope.signatures.geo import is_series_matrix, read_series_matrix
from ifnscope.signatures.idcols import (
    ID_COLUMNS,
    MIN_GENE_SHARE,
    as_integers,
    check_samples,
    check_species,
    choose_id_columns,
    is_id_column,
    is_row_numbers,
    order_id_columns,
    resolvable_fraction,
)
from ifnscope.signatures.matrix import Annotations, CsrMatrix, DenseMatrix, H5adStream, Matrix
from ifnscope.signatures.safety import (
    check_axis,
    check_budget,
    check_compressed,
    check_indptr,
    is_gzip,
    max_matrix_bytes,
    open_binary,
    open_text,
    read_errors,
    too_large,
)
from ifnscope.signatures.tenx import find_mtx, read_10x_h5, read_mtx_folder

__all__ = [
    "ID_COLUMNS",
    "MIN_GENE_SHARE",
    "order_id_columns",
    "read_10x",
    "read_10x_h5",
    "read_annotations",
    "read_delimited",
    "read_h5ad",
    "read_path",
    "read_sample_folder",
    "read_series_matrix",
    "read_zarr",
    "resolvable_fraction",
]

_TEXT_SUFFIXES = (".tsv", ".txt", ".csv", ".tab", ".tsv.gz", ".txt.gz", ".csv.gz", ".tab.gz")
# What one identifier costs once read: a Python str of a gene name (~50-60 bytes) and its
# pointer, plus the parser's own copy while pandas builds the frame. Measured: 30 million rows
# of one name and two values peaked at 3.3 GB, ~110 bytes a row of which 8 are the values.
NAME_BYTES = 100.0
# Parsing turns text into at most this many bytes of memory per byte of text, and a plain file
# smaller than the memory cap divided by it cannot exceed the cap: such files skip the line count
# of ``_check_parse_budget``. Worst case: a row "A\t1\n" is 2 bytes of name (NAME_BYTES once
# read) and 2 bytes of value (8 as float64).
PARSE_EXPANSION = 60
# Tables wider than this are parsed by pandas' C engine: pyarrow needs a whole row per block
# and slows to ~40 us per column (37 s for 10^6 columns against 9 s; docs/benchmarks.md).
WIDE_COLUMNS = 2000


def read_path(
    path: str | Path,
    *,
    annotations: str | Path | None = None,
    prefetch: bool = False,
    layer: str | None = None,
    use_raw: bool = False,
    probe_map: str | Path | None = None,
) -> Matrix:
    """Read any supported input; ``annotations`` is an optional sample-annotation table.

    ``layer``/``use_raw`` choose what an ``.h5ad`` or ``.zarr`` holds besides ``X``;
    ``probe_map`` is a GPL annotation table (probe ID -> gene symbol) for a GEO series matrix.
    ``prefetch`` starts reading a streamed ``.h5ad`` in the background at once (the command
    line does, since it always scores what it opens).
    """
    p = Path(path)
    name = p.name.lower()
    is_anndata = (
        name.endswith((".h5ad", ".zarr")) or _is_zarr(p) or (name.endswith(".h5") and _h5_is_anndata(p))
    )
    if (layer is not None or use_raw) and not is_anndata:
        raise MatrixError(
            "--layer and --use-raw apply to AnnData inputs (.h5ad, .zarr) only",
            file=str(p),
            code="matrix.layer",
        )
    if probe_map is not None and p.exists() and not (p.is_file() and is_series_matrix(p)):
        raise MatrixError(
            "--probe-map applies to a GEO series matrix (GSE..._series_matrix.txt[.gz]) only",
            file=str(p),
            code="matrix.format",
        )
    if not p.exists():
        tenx = find_mtx(p)  # folder/GSM123_ names one prefixed set of a GEO folder
        if tenx is None:
            raise MatrixError("no such file or folder", file=str(p), code="matrix.not-found")
        m: Matrix = read_mtx_folder(*tenx)
    elif is_anndata and _is_zarr(p):
        m = read_zarr(p, layer=layer, use_raw=use_raw)
    elif p.is_dir():
        tenx = find_mtx(p)
        m = read_mtx_folder(*tenx) if tenx else read_sample_folder(p)
    elif name.endswith(".h5ad") or (name.endswith(".h5") and _h5_is_anndata(p)):
        m = read_h5ad(p, layer=layer, use_raw=use_raw)
        if prefetch:
            m.start_prefetch()
    elif name.endswith(".h5"):
        m = read_10x_h5(p)
    elif is_series_matrix(p):
        m = read_series_matrix(p, probe_map=probe_map)
    elif name.endswith(_TEXT_SUFFIXES):
        m = read_delimited(p)
    else:
        raise MatrixError(
            "unsupported input: expected a delimited text file (.tsv, .txt, .csv), an .h5ad or .zarr "
            "AnnData, a 10x .h5 or Matrix Market folder (matrix.mtx, features.tsv, barcodes.tsv), "
            "a GEO series matrix or a folder of per-sample files",
            file=str(p),
            code="matrix.format",
        )
    if annotations is not None:
        m.annotations = read_annotations(annotations, m)
    return m


def read_10x(path: Path) -> CsrMatrix:
    """A 10x Matrix Market folder (kept for callers of the former name)."""
    found = find_mtx(path)
    return read_mtx_folder(*(found or (path, "")))


# --------------------------------------------------------------------- delimited text


_INDEX_HEADERS = {"", "index", "rownames", "row.names", "row_names", "unnamed: 0"}


def _header(path: Path) -> tuple[str, list[str], int, int]:
    """Separator, header fields, lines before the body (comments + header), fields of the first row."""
    with open_text(path) as fh:
        skipped = 0
        line = fh.readline()
        while line.startswith("#"):
            skipped += 1
            line = fh.readline()
        first = fh.readline()
    if path.name.lower().endswith((".csv", ".csv.gz")):
        sep = ","
    else:
        sep = "\t" if line.count("\t") >= line.count(",") else ","
    try:
        csv.field_size_limit(1 << 24)
        header = next(csv.reader([line.rstrip("\r\n")], delimiter=sep), [])
        n_first = len(next(csv.reader([first.rstrip("\r\n")], delimiter=sep), [])) if first.strip() else 0
    except csv.Error as exc:
        raise MatrixError(f"cannot read the header: {exc}", file=str(path), code="matrix.format") from None
    return sep, [h.strip() for h in header], skipped + 1, n_first


def _read_body(path: Path, sep: str, skip: int, n_cols: int) -> Any:
    """The table below the header, columns by position; capped, errors made MatrixErrors."""
    import pandas as pd

    def attempt(engine: str) -> Any:
        raw = open_binary(path)
        try:
            buf = io.BufferedReader(raw, 1024 * 1024)
            for _ in range(skip):
                buf.readline()
            if engine == "pyarrow":
                return pd.read_csv(buf, sep=sep, header=None, engine="pyarrow")
            return pd.read_csv(buf, sep=sep, header=None, engine="c", low_memory=False)
        except Exception:
            if raw.exceeded:
                raise too_large(raw.cap, str(path)) from None
            raise
        finally:
            raw.close()

    with read_errors(path, what="cannot read as a delimited table: "):
        if n_cols <= WIDE_COLUMNS:
            try:
                return attempt("pyarrow")
            except MatrixError:
                raise
            except Exception:  # pyarrow is stricter (ragged rows, mixed types): the C parser decides
                pass
        try:
            return attempt("c")
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
        except pd.errors.ParserError as exc:
            raise MatrixError(
                f"cannot read as a delimited table: {exc}", file=str(path), code="matrix.format"
            ) from None


def _check_parse_budget(path: Path, n_cols: int) -> None:
    """Refuse a table whose parse would not fit in memory, before parsing it.

    The parsers hold the whole table as a frame (float64 values, a Python string per name), so
    a 2 GiB text of short rows would need tens of GB before any later check ran. The lines are
    counted first, streamed through the decompressed-size cap, unless the file is a plain one
    too small to matter.
    """
    cap = max_matrix_bytes()
    if not is_gzip(path) and path.stat().st_size * PARSE_EXPANSION < cap:
        return
    n_lines = 0
    raw = open_binary(path)
    try:
        with read_errors(path, what="cannot read the table: "):
            while chunk := raw.read(1 << 23):
                n_lines += chunk.count(b"\n")
    finally:
        raw.close()
    check_axis(n_lines, "rows", str(path))
    check_budget(
        n_lines * (8.0 * n_cols + NAME_BYTES),
        f"parsing {n_lines:,} rows x {n_cols:,} columns",
        str(path),
    )


def read_delimited(path: Path) -> DenseMatrix:
    """A table with genes in rows or in columns (detected), one or more identifier columns.

    Every step is linear in the number of columns (a 10^6-column header is read in seconds).
    """
    import pandas as pd

    sep, header, skip, n_first = _header(path)
    if not header or not any(header):
        raise MatrixError("the table has no header line", file=str(path), code="matrix.empty")
    notes: list[str] = []
    if n_first == len(header) + 1:  # R write.table: no header cell above the row names
        header = ["", *header]
        notes.append("the header has one name fewer than the rows (R write.table): column 1 is row names")
    check_axis(len(header), "columns", str(path))
    _check_parse_budget(path, len(header))
    df = _read_body(path, sep, skip, len(header))
    if df.shape[0] == 0 or df.shape[1] < 2:
        raise MatrixError("the table is empty or has a single column", file=str(path), code="matrix.empty")
    if df.shape[1] != len(header):
        raise MatrixError(
            f"the header names {len(header)} columns but the rows hold {df.shape[1]} values",
            file=str(path),
            code="matrix.format",
        )
    kinds = np.fromiter((d.kind for d in df.dtypes), dtype="<U1", count=df.shape[1])
    numeric = np.isin(kinds, ["i", "u", "f"])

    def values(i: int) -> np.ndarray:
        col = df.iloc[:, i]
        if kinds[i] == "f":  # an integer ID column with a gap reads as floats: 3434.0 -> "3434"
            v = col.to_numpy()
            ok = np.isfinite(v)
            if (v[ok] == np.round(v[ok])).all():
                out = np.full(v.size, "", dtype=object)
                out[ok] = [str(int(x)) for x in v[ok]]
                return out
        v = col.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(v, skipna=False) == "string":
            return np.asarray(v)  # already text: astype(str) would copy every name (30M rows: 1.6 GB)
        return np.asarray(col.astype(str).to_numpy(dtype=object))

    def label(i: int) -> str:
        return header[i] if header[i] and not header[i].lower().startswith("unnamed") else f"column {i + 1}"

    # Columns that are not samples: text columns, a first column with an empty header cell (R
    # write.csv row names), and numeric columns named like identifiers (GeneID, entrez).
    id_pos: list[int] = [int(i) for i in np.flatnonzero(~numeric)]
    row_names: int | None = None
    if header[0].lower() in _INDEX_HEADERS:
        row_names = 0
        if numeric[0]:
            id_pos.insert(0, 0)
    id_pos += [
        int(i)
        for i in np.flatnonzero(numeric)
        if i != row_names
        and is_id_column(header[i])
        and as_integers(df.iloc[:, i].dropna().to_numpy()) is not None
    ]
    _refuse_mixed_columns(df, header, [i for i in id_pos if i > 0 and not numeric[i]], path)
    id_set = set(id_pos)
    sample_pos = [int(i) for i in np.flatnonzero(numeric) if int(i) not in id_set]
    row_cols = {label(i): values(i) for i in id_pos}
    dropped_rows = {k for k, v in row_cols.items() if is_row_numbers(v)}
    row_frac = max((resolvable_fraction(v) for v in row_cols.values()), default=0.0)
    sample_names = np.asarray([header[i] for i in sample_pos], dtype=object)
    header_frac = resolvable_fraction(sample_names)
    if row_frac >= header_frac and row_frac >= MIN_GENE_SHARE:
        ids, id_notes = choose_id_columns(row_cols, file=str(path))
        if not sample_pos:
            raise MatrixError(
                f"genes are in rows but no column holds numbers only (columns: "
                f"{', '.join(label(i) for i in range(min(df.shape[1], 8)))}); a sample column with "
                "text in it is not read",
                file=str(path),
                code="matrix.empty",
            )
        samples = sample_names
        check_samples(samples, file=str(path))
        check_budget(
            4.0 * df.shape[0] * len(sample_pos) + NAME_BYTES * df.shape[0] * len(row_cols),
            f"the table's values and {df.shape[0]:,} x {len(row_cols)} identifiers",
            str(path),
        )
        x = df.iloc[:, sample_pos].to_numpy(dtype=np.float32).T  # samples x genes
        notes.append(
            f"genes in rows (identifier column '{next(iter(ids))}', "
            f"{row_frac:.0%} of identifiers resolve); {len(sample_pos)} samples in columns"
        )
        notes += id_notes
    elif header_frac >= MIN_GENE_SHARE:
        check_species({"header": sample_names}, str(path))
        name_pos = next((i for i in id_pos if not numeric[i]), None)
        if name_pos is None and row_names is not None:
            name_pos = row_names
        if name_pos is None:
            raise MatrixError(
                "genes are in the header but no column names the samples",
                file=str(path),
                code="matrix.format",
            )
        samples = values(name_pos)
        check_samples(samples, file=str(path))
        ids = {"header": sample_names}
        check_budget(4.0 * df.shape[0] * len(sample_pos), "the table's values", str(path))
        x = df.iloc[:, sample_pos].to_numpy(dtype=np.float32)
        notes.append(
            f"genes in columns ({header_frac:.0%} of column names resolve); "
            f"{len(samples)} samples in rows (names from '{label(name_pos)}')"
        )
        if label(name_pos) in dropped_rows:
            notes.append(f"the sample names are row numbers ('{label(name_pos)}': 1, 2, ...)")
    else:
        check_species(row_cols, str(path))
        check_species({"header": sample_names}, str(path))
        shown = next(iter(row_cols.values()))[:3] if row_cols else sample_names[:3]
        examples = ", ".join(str(v) for v in shown)
        row_note = (
            f"; column(s) {', '.join(sorted(dropped_rows))} hold row numbers, not Entrez IDs"
            if dropped_rows
            else ""
        )
        raise MatrixError(
            "could not find human gene identifiers in either the first column(s) or the header "
            f"(examples: {examples}); expected HGNC symbols, Ensembl gene IDs or Entrez IDs{row_note}",
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


def _refuse_mixed_columns(df: Any, header: list[str], positions: list[int], path: Path) -> None:
    """A column of numbers with some text in it is a broken sample (or gene) column.

    pandas reads it as text, and it would silently stop being a sample: refuse, naming the
    first value that is not a number. Columns named like identifiers are exempt.
    """
    import pandas as pd

    for i in positions:
        if is_id_column(header[i]):
            continue
        col = df.iloc[:, i]
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna()
        if num.notna().mean() >= 0.5 and bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise MatrixError(
                f"column '{header[i] or i + 1}' holds numbers and text (data row {row + 1}: "
                f"{str(col.iloc[row])[:40]!r}); a sample column must hold numbers only (a missing "
                "value may be empty or NA)",
                file=str(path),
                code="matrix.format",
            )


def _stem(name: str) -> str:
    for suf in sorted(_TEXT_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name


def read_sample_folder(path: Path) -> DenseMatrix:
    """A folder with one two-column file (gene, value) per sample; sample = file name stem."""
    import pandas as pd

    files = sorted(f for f in path.iterdir() if f.is_file() and f.name.lower().endswith(_TEXT_SUFFIXES))
    if not files:
        raise MatrixError(
            "no expression files in this folder (expected .tsv/.txt/.csv per sample, a 10x folder "
            "or an AnnData .zarr)",
            file=str(path),
            code="matrix.empty",
        )
    check_samples(np.asarray([_stem(f.name) for f in files], dtype=object), file=str(path))
    columns: dict[str, Any] = {}
    r_rows = 0
    for f in files:
        sep, _, _, _ = _header(f)
        raw = open_binary(f)
        try:
            with read_errors(f, what="cannot read: "):
                s = pd.read_csv(io.BufferedReader(raw), sep=sep, header=None, comment="#")
        except MatrixError:
            if raw.exceeded:
                raise too_large(raw.cap, str(f)) from None
            raise
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise MatrixError(f"cannot read: {exc}", file=str(f), code="matrix.format") from None
        finally:
            raw.close()
        if s.shape[1] == 3 and (
            is_row_numbers(s[0].iloc[1:].to_numpy()) or str(s.iloc[0, 0]).strip() in ("", "nan")
        ):  # R write.csv: a row-name column before (gene, value)
            s = s.iloc[:, 1:].set_axis([0, 1], axis=1)
            r_rows += 1
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
        columns[_stem(f.name)] = s.groupby(0)[1].sum()
    table = pd.DataFrame(columns).fillna(0.0)
    ids = {"gene": table.index.astype(str).to_numpy(dtype=object)}
    if resolvable_fraction(ids["gene"]) < MIN_GENE_SHARE:
        check_species(ids, str(path))
        raise MatrixError(
            "the first column of the per-sample files does not look like gene identifiers",
            file=str(path),
            code="matrix.genes",
        )
    ids, id_notes = choose_id_columns(ids, file=str(path))
    notes = [f"{len(files)} per-sample files; {table.shape[0]} genes (union; a gene absent from a file is 0)"]
    if r_rows:
        notes.append(f"{r_rows} file(s) start with an R row-name column (not used)")
    return DenseMatrix(
        source=str(path),
        samples=np.asarray(list(columns), dtype=object),
        feature_ids=ids,
        kind="bulk",
        notes=notes + id_notes,
        x=np.ascontiguousarray(table.to_numpy(dtype=np.float32).T),
    )


# --------------------------------------------------------------------------- h5ad


_UNIQUE_HINT = "; in scanpy: adata.obs_names_make_unique(), then save again"


def _h5_is_anndata(p: Path) -> bool:
    """An AnnData saved with an .h5 suffix (obs and var at the top), not a Cell Ranger file."""
    import h5py

    try:
        with h5py.File(p, "r") as f:
            return "obs" in f and "var" in f
    except (OSError, ValueError):
        return False


def _h5_strings(ds: Any) -> np.ndarray:
    """An anndata string or categorical column as a numpy object array (h5py only)."""
    import h5py

    for part in (ds["categories"], ds["codes"]) if isinstance(ds, h5py.Group) else (ds,):
        # fixed-width strings compress to nothing on disk: 10^6 names of 1 MB are a bomb
        check_budget(
            float(part.size or 0) * max(part.dtype.itemsize, 8), f"names in {part.name}", ds.file.filename
        )
    if isinstance(ds, h5py.Group):  # categorical: categories + codes
        cats = np.asarray(
            ds["categories"].asstr()[:] if ds["categories"].dtype.kind in "OS" else ds["categories"][:]
        ).astype(str)
        codes = np.asarray(ds["codes"][:])
        if codes.size and (codes.max(initial=-1) >= cats.size):
            raise MatrixError("a categorical column's codes exceed its categories", code="matrix.corrupt")
        out = np.where(codes >= 0, cats[np.clip(codes, 0, max(cats.size - 1, 0))] if cats.size else "", "")
        return out.astype(object)
    if ds.dtype.kind in "OS":
        return np.asarray(ds.asstr()[:], dtype=object)
    return np.asarray(ds[:]).astype(str).astype(object)


def _h5_len(g: Any) -> int:
    """Length of an anndata dataframe's index, from metadata only (nothing read)."""
    import h5py

    idx = g[g.attrs.get("_index", "_index")]
    return int((idx["codes"] if isinstance(idx, h5py.Group) else idx).shape[0])


def _h5_frame(g: Any) -> tuple[np.ndarray, list[str]]:
    """The index and the column names of an anndata dataframe group."""
    index_name = g.attrs.get("_index", "_index")
    index = _h5_strings(g[index_name])
    order = g.attrs.get("column-order", [])
    return index, [str(c) for c in np.atleast_1d(order) if str(c) in g]


def _var_ids(index: np.ndarray, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    cols = {"var_names": index}
    for c, v in columns.items():
        if is_id_column(c):
            cols[c] = v
    return cols


def _log_base(uns_log1p: Any) -> float | None:
    """scanpy's ``uns['log1p']['base']``: None (a null) means e."""
    import h5py

    if not isinstance(uns_log1p, h5py.Group):
        return None
    if "base" not in uns_log1p:
        return math.e
    ds = uns_log1p["base"]
    if ds.shape is None or ds.attrs.get("encoding-type", "") == "null":
        return math.e
    base = float(np.asarray(ds[()]).ravel()[0])
    if not math.isfinite(base) or base <= 1.0:
        raise MatrixError(f"uns['log1p']['base'] is {base}, not a logarithm base", code="matrix.scale")
    return base


def _h5ad_target(f: Any, layer: str | None, use_raw: bool, path: Path) -> tuple[str, str]:
    """The group holding the chosen matrix and the var table that describes its columns."""
    if layer is not None and use_raw:
        raise MatrixError("give either a layer or use_raw, not both", file=str(path), code="matrix.layer")
    if use_raw:
        if "raw" not in f or "X" not in f["raw"]:
            raise MatrixError("this AnnData file has no .raw (use_raw)", file=str(path), code="matrix.layer")
        return "raw/X", "raw/var"
    if layer is not None:
        layers = sorted(f["layers"].keys()) if "layers" in f else []
        if layer not in layers:
            import difflib

            near = difflib.get_close_matches(layer, layers, n=1)
            raise MatrixError(
                f"no layer {layer!r} (layers: {', '.join(layers) or 'none'})"
                + (f"; did you mean {near[0]!r}?" if near else ""),
                file=str(path),
                code="matrix.layer",
            )
        return f"layers/{layer}", "var"
    if "X" not in f:
        raise MatrixError(
            "this AnnData file has no X; choose a layer (--layer) or .raw (--use-raw)",
            file=str(path),
            code="matrix.layer",
        )
    return "X", "var"


def read_h5ad(
    path: Path, *, layer: str | None = None, use_raw: bool = False, stream: bool | None = None
) -> Matrix:
    """An AnnData file's X, a layer or raw/X. A CSR matrix is streamed from disk in row chunks.

    Read with h5py alone: the declared shape is checked against the obs/var lengths and the
    stored arrays, and against the memory cap, before anything is loaded; a CSR's indptr is
    checked up front and its indices chunk by chunk. ``uns['log1p']`` sets the log base of X.
    """
    import h5py
    import scipy.sparse as sp

    path = Path(path)
    src = str(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise MatrixError(f"not an HDF5/.h5ad file: {exc}", file=src, code="matrix.format") from None
    with read_errors(path), f:
        if "obs" not in f or "var" not in f or not ({"X", "layers", "raw"} & set(f.keys())):
            raise MatrixError("not an AnnData file (X, obs or var missing)", file=src, code="matrix.format")
        group, var_group = _h5ad_target(f, layer, use_raw, path)
        X = f[group]
        is_group = isinstance(X, h5py.Group)
        enc = str(X.attrs.get("encoding-type", "array")) if is_group else "array"
        if is_group and enc not in ("csr_matrix", "csc_matrix"):
            raise MatrixError(f"{group} is stored as {enc!r}, not a matrix", file=src, code="matrix.format")
        shape = tuple(int(s) for s in (X.attrs["shape"] if is_group else X.shape))
        n_obs, n_var = _h5_len(f["obs"]), _h5_len(f[var_group])
        if len(shape) != 2 or shape != (n_obs, n_var):
            raise MatrixError(
                f"{group} declares shape {shape} but obs has {n_obs} and {var_group} {n_var} entries",
                file=src,
                code="matrix.corrupt",
            )
        check_axis(n_obs, "observations", src)
        check_axis(n_var, "variables", src)
        samples, obs_cols = _h5_frame(f["obs"])
        var_index, var_cols = _h5_frame(f[var_group])
        cols = _var_ids(var_index, {c: _h5_strings(f[var_group][c]) for c in var_cols if is_id_column(c)})
        log_base = (
            _log_base(f["uns"]["log1p"]) if group == "X" and "uns" in f and "log1p" in f["uns"] else None
        )
        has_log1p = "uns" in f and "log1p" in f["uns"]
        indptr = None
        if enc in ("csr_matrix", "csc_matrix"):
            n_data, n_idx = int(X["data"].shape[0]), int(X["indices"].shape[0])
            n_major = n_obs if enc == "csr_matrix" else n_var
            if int(X["indptr"].shape[0]) != n_major + 1:
                raise MatrixError(
                    f"corrupt {group}: indptr has {X['indptr'].shape[0]} entries, expected {n_major + 1}",
                    file=src,
                    code="matrix.corrupt",
                )
            indptr = np.asarray(X["indptr"][:], dtype=np.int64)
            check_indptr(indptr, n_data, n_idx, n_major, file=src, what=f"{group} ({enc})")
        loaded: Any = None
        if enc == "csc_matrix" or (enc == "csr_matrix" and stream is False):
            assert indptr is not None
            n_data = int(X["data"].shape[0])
            check_budget(n_data * 16.0, f"{group} ({n_data:,} stored values)", src)
            indices = np.asarray(X["indices"][:])
            minor = n_obs if enc == "csc_matrix" else n_var
            check_compressed(indptr, indices, n_data, indptr.size - 1, minor, file=src, what=group)
            data = np.asarray(X["data"][:], dtype=np.float32)
            cls = sp.csc_matrix if enc == "csc_matrix" else sp.csr_matrix
            loaded = sp.csr_matrix(cls((data, indices, indptr), shape=shape))
        elif enc == "array":
            itemsize = 4 + (X.dtype.itemsize if X.dtype.itemsize > 4 else 0)  # float32 + a wider source
            check_budget(float(n_obs) * n_var * itemsize, f"a dense {group} of {n_obs:,} x {n_var:,}", src)
            loaded = np.asarray(X[()], dtype=np.float32)
        found_base = None
        if log_base is None and not (has_log1p and group == "X"):
            if loaded is not None:
                found_base = logbase.detect(loaded[: logbase.MAX_ROWS])
            elif indptr is not None:  # a streamed CSR: its first rows only
                k = min(logbase.MAX_ROWS, indptr.size - 1)
                head = np.asarray(X["data"][int(indptr[0]) : int(indptr[k])])
                found_base = logbase.detect_rows(head, indptr[: k + 1] - indptr[0])

    def obs_column(name: str) -> np.ndarray:
        with read_errors(path), h5py.File(path, "r") as fh:
            return _h5_strings(fh["obs"][name])

    check_samples(samples, file=src, what="observation", hint=_UNIQUE_HINT)
    ids, id_notes = choose_id_columns(cols, file=src)
    ann = Annotations(obs_cols, obs_column)
    what = {"X": "X", "raw/X": ".raw (raw/X, with raw/var)"}.get(group, f"layer '{layer}'")
    notes = [
        f".h5ad {what}: {shape[0]} observations x {shape[1]} variables "
        f"(identifiers from '{next(iter(ids))}')",
        *id_notes,
    ]
    base_source = "uns['log1p']" if log_base is not None else ""
    if log_base is not None:
        notes.append(f"uns['log1p'] records log1p with base {'e' if log_base == math.e else f'{log_base:g}'}")
    elif has_log1p and group != "X":
        notes.append(f"uns['log1p'] describes X; its base is not assumed for {what}")
    if found_base is not None:
        log_base = found_base[0]
        base_source, base_note = logbase.source_and_note(*found_base, what)
        notes.append(base_note)
    common: dict[str, Any] = {
        "source": src,
        "samples": samples,
        "feature_ids": ids,
        "kind": "single_cell",
        "annotations": ann,
        "log_base": log_base,
        "log_base_source": base_source,
    }
    if loaded is None:
        return H5adStream(
            **common,
            notes=[notes[0] + "; streamed from disk in row chunks", *notes[1:]],
            path=src,
            n_cols=int(shape[1]),
            group=group,
            indptr=indptr,
        )
    if sp.issparse(loaded):
        return CsrMatrix(**common, notes=notes, csr=loaded)
    return DenseMatrix(**common, notes=notes, x=np.ascontiguousarray(loaded))


# --------------------------------------------------------------------------- zarr


def _is_zarr(p: Path) -> bool:
    return p.is_dir() and (
        p.name.lower().endswith(".zarr") or (p / ".zgroup").exists() or (p / "zarr.json").exists()
    )


def _zarr_precheck(path: Path) -> None:
    """Declared sizes from the metadata, checked before anndata loads the whole store."""
    import zarr

    g: Any = zarr.open_group(str(path), mode="r")
    for name in ("obs", "var"):
        if name in g:
            frame: Any = g[name]
            idx: Any = frame[str(frame.attrs.get("_index", "_index"))]
            if isinstance(idx, zarr.Group):
                idx = idx["codes"]
            check_axis(int(idx.shape[0]), "observations" if name == "obs" else "variables", str(path))
    nodes: list[Any] = [g["X"]] if "X" in g else []
    if "raw" in g and "X" in g["raw"]:
        nodes.append(g["raw"]["X"])
    if "layers" in g:
        nodes += [g["layers"][k] for k in g["layers"]]
    total = 0.0
    for node in nodes:
        if isinstance(node, zarr.Group):
            data: Any = node.get("data", None)
            total += float(data.shape[0]) * 12 if data is not None else 0.0
        else:
            total += float(np.prod(node.shape)) * 4
    check_budget(total, "the .zarr AnnData (X, layers and raw are all loaded)", str(path))


def _zarr_errors() -> tuple[type[BaseException], ...]:
    """What zarr, numcodecs and anndata raise on a damaged store beyond ``safety.READ_ERRORS``
    (zarr's own errors are ValueErrors, already there)."""
    errors: list[type[BaseException]] = [RuntimeError]
    try:
        from anndata._io.specs.registry import IORegistryError

        errors.append(IORegistryError)
    except ImportError:  # a private path; without it such errors surface as a bug
        pass
    return tuple(errors)


def read_zarr(path: Path, *, layer: str | None = None, use_raw: bool = False) -> Matrix:
    """An AnnData stored as ``.zarr`` (a folder), read with anndata (loaded whole)."""
    import anndata as ad
    import scipy.sparse as sp

    src = str(path)
    try:
        with read_errors(path, what="cannot read the .zarr AnnData: "):
            _zarr_precheck(path)
            adata = ad.read_zarr(path)
    except MatrixError as exc:
        if "No group found" in str(exc):  # zarr's GroupNotFoundError: no .zgroup / zarr.json
            raise MatrixError(
                "not a zarr AnnData store: the folder has no zarr group metadata at its top "
                "(.zgroup/.zattrs for zarr v2, zarr.json for v3); expected a folder written by "
                "adata.write_zarr",
                file=src,
                code="matrix.corrupt",
            ) from None
        raise
    except _zarr_errors() as exc:
        # a chunk overwritten or cut short: numcodecs' blosc raises RuntimeError, anndata an
        # IORegistryError for an unknown encoding; the store is damaged, not our bug
        raise MatrixError(
            f"cannot read the .zarr AnnData: the store is damaged ({type(exc).__name__}: "
            f"{str(exc)[:200]}); write it again with adata.write_zarr",
            file=src,
            code="matrix.corrupt",
        ) from None
    if layer is not None and use_raw:
        raise MatrixError("give either a layer or use_raw, not both", file=src, code="matrix.layer")
    if use_raw:
        if adata.raw is None:
            raise MatrixError("this AnnData has no .raw (use_raw)", file=src, code="matrix.layer")
        X, var, what = adata.raw.X, adata.raw.var, ".raw"
    elif layer is not None:
        if layer not in adata.layers:
            raise MatrixError(
                f"no layer {layer!r} (layers: {', '.join(sorted(adata.layers)) or 'none'})",
                file=src,
                code="matrix.layer",
            )
        X, var, what = adata.layers[layer], adata.var, f"layer '{layer}'"
    else:
        if adata.X is None:
            raise MatrixError("this AnnData has no X; choose a layer or .raw", file=src, code="matrix.layer")
        X, var, what = adata.X, adata.var, "X"
    samples = adata.obs_names.astype(str).to_numpy(dtype=object)
    check_samples(samples, file=src, what="observation", hint=_UNIQUE_HINT)
    cols = _var_ids(
        var.index.astype(str).to_numpy(dtype=object),
        {str(c): var[c].astype(str).to_numpy(dtype=object) for c in var.columns if is_id_column(str(c))},
    )
    ids, id_notes = choose_id_columns(cols, file=src)
    log_base = None
    if what == "X" and "log1p" in adata.uns:
        b = adata.uns["log1p"].get("base") if isinstance(adata.uns["log1p"], dict) else None
        log_base = math.e if b is None else float(b)
    notes = [f".zarr {what}: {adata.n_obs} x {X.shape[1]} (identifiers from '{next(iter(ids))}')", *id_notes]
    base_source = "uns['log1p']" if log_base is not None else ""
    found_base = (
        logbase.detect(X[: logbase.MAX_ROWS]) if log_base is None and "log1p" not in adata.uns else None
    )
    if found_base is not None:
        log_base = found_base[0]
        base_source, base_note = logbase.source_and_note(*found_base, what)
        notes.append(base_note)
    common: dict[str, Any] = {
        "source": src,
        "samples": samples,
        "feature_ids": ids,
        "kind": "single_cell",
        "annotations": Annotations.from_frame(adata.obs, samples),
        "notes": notes,
        "log_base": log_base,
        "log_base_source": base_source,
    }
    if sp.issparse(X):
        return CsrMatrix(**common, csr=sp.csr_matrix(X, dtype=np.float32))
    return DenseMatrix(**common, x=np.ascontiguousarray(np.asarray(X, dtype=np.float32)))


# ----------------------------------------------------------------------- annotations


def read_annotations(path: str | Path, m: Matrix) -> Annotations:
    """A sample annotation table: its first column holds sample names matching the matrix."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise MatrixError("no such annotation file", file=str(p), code="matrix.not-found")
    sep, _, _, _ = _header(p)
    raw = open_binary(p)
    try:
        with read_errors(p, what="cannot read the annotation table: "):
            df = pd.read_csv(io.BufferedReader(raw), sep=sep, dtype=str)
    except pd.errors.ParserError as exc:
        raise MatrixError(
            f"cannot read the annotation table: {exc}", file=str(p), code="matrix.format"
        ) from None
    finally:
        raw.close()
    if df.shape[1] < 2:
        raise MatrixError(
            "an annotation table needs a sample column and one more", file=str(p), code="matrix.format"
        )
    df = df.set_index(df.columns[0])
    repeated = df.index[df.index.duplicated()].unique()
    if len(repeated):  # two rows for one sample: which annotation holds is unknowable
        shown = ", ".join(repr(str(x)) for x in repeated[:5]) + (" ..." if len(repeated) > 5 else "")
        raise MatrixError(
            f"the annotation table has more than one row for {len(repeated)} sample(s): {shown}; "
            "expected one row per sample",
            file=str(p),
            code="matrix.samples",
        )
    known = set(m.samples.tolist())
    if not any(s in known for s in df.index):
        raise MatrixError(
            f"none of the annotation table's first-column names match the matrix's samples "
            f"(e.g. {df.index[0]!r} vs {m.samples[0]!r})",
            file=str(p),
            code="matrix.controls",
        )
    return Annotations.from_frame(df, m.samples)
