"""10x Genomics outputs: Matrix Market folders (also GEO-prefixed) and Cell Ranger ``.h5`` files.

Both store features x barcodes; ifnscope reads them as cells x genes CSR. Only features of type
"Gene Expression" are kept (antibody capture, CRISPR guides and multiplexing tags are not
genes). The declared sizes are checked against the feature and barcode lists and against the
memory cap before the values are read.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from ifnscope.errors import MatrixError
from ifnscope.signatures.idcols import check_samples, choose_id_columns
from ifnscope.signatures.matrix import CsrMatrix
from ifnscope.signatures.safety import (
    check_axis,
    check_budget,
    check_compressed,
    open_binary,
    open_text,
    read_errors,
)

GENE_EXPRESSION = "Gene Expression"
_PARTS = {"matrix": ("matrix.mtx",), "features": ("features.tsv", "genes.tsv"), "barcodes": ("barcodes.tsv",)}
_PART_RX = re.compile(r"^(?P<prefix>.*?)(?P<part>matrix\.mtx|features\.tsv|genes\.tsv|barcodes\.tsv)(\.gz)?$")


# ------------------------------------------------------------------ Matrix Market folders


def mtx_sets(folder: Path) -> dict[str, dict[str, Path]]:
    """The 10x file sets in a folder by prefix ('' for plain names, 'GSM123_' for GEO's)."""
    sets: dict[str, dict[str, Path]] = {}
    for f in sorted(folder.iterdir()):
        m = _PART_RX.match(f.name)
        if m and f.is_file():
            part = "features" if m["part"] in ("features.tsv", "genes.tsv") else m["part"].split(".")[0]
            sets.setdefault(m["prefix"], {}).setdefault(part, f)
    return {p: s for p, s in sets.items() if "matrix" in s}


def find_mtx(path: Path) -> tuple[Path, str] | None:
    """(folder, prefix) when ``path`` is a 10x folder or a ``folder/PREFIX`` of one, else None.

    A folder holding several prefixed sets is refused, listing them: which sample to score is
    the user's choice.
    """
    if path.is_dir():
        sets = mtx_sets(path)
        if not sets:
            return None
        if len(sets) > 1:
            names = ", ".join(str(path / p) for p in sets)
            prefixes = ", ".join(p or "(no prefix)" for p in sets)
            raise MatrixError(
                f"this folder holds {len(sets)} 10x matrices ({prefixes}); pass one of: {names}",
                file=str(path),
                code="matrix.format",
            )
        return path, next(iter(sets))
    if path.parent.is_dir() and not path.exists():
        sets = mtx_sets(path.parent)
        if path.name in sets:
            return path.parent, path.name
        near = [p for p in sets if p.startswith(path.name) and path.name]
        if len(near) == 1:  # folder/GSM123 for GSM123_matrix.mtx.gz
            return path.parent, near[0]
    return None


def read_mtx_folder(folder: Path, prefix: str = "") -> CsrMatrix:
    """A 10x Matrix Market folder (features x barcodes), read as cells x genes CSR."""
    files = mtx_sets(folder).get(prefix, {})
    missing = [f"{prefix}{_PARTS[k][0]}" for k in ("matrix", "features", "barcodes") if k not in files]
    if missing:
        raise MatrixError(
            f"10x folder is missing {', '.join(missing)}", file=str(folder), code="matrix.format"
        )
    rows = _tsv_rows(files["features"])
    barcodes = np.asarray([r[0] for r in _tsv_rows(files["barcodes"])], dtype=object)
    csr = _read_mtx(files["matrix"], n_features=len(rows), n_barcodes=barcodes.size)
    label = f"10x folder{f' (prefix {prefix})' if prefix else ''}"
    return _assemble(str(folder / prefix) if prefix else str(folder), label, csr, rows, barcodes)


def _tsv_rows(path: Path) -> list[list[str]]:
    with open_text(path) as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if r and any(x.strip() for x in r)]
    check_axis(len(rows), f"lines in {path.name}", str(path))
    return rows


def _read_mtx(path: Path, *, n_features: int, n_barcodes: int) -> Any:
    """A coordinate Matrix Market file, its declared size checked before its body is read."""
    import scipy.sparse as sp

    header_lines = 0
    with open_text(path) as fh:
        banner = fh.readline()
        header_lines += 1
        line = fh.readline()
        header_lines += 1
        while line.startswith("%"):
            line = fh.readline()
            header_lines += 1
    fields = banner.lower().split()
    if len(fields) < 5 or fields[0] != "%%matrixmarket" or fields[2] != "coordinate":
        raise MatrixError(
            f"not a coordinate Matrix Market file (first line {banner.strip()[:80]!r})",
            file=str(path),
            code="matrix.format",
        )
    if fields[4] != "general":
        raise MatrixError(
            f"Matrix Market symmetry {fields[4]!r} is not supported", file=str(path), code="matrix.format"
        )
    try:
        n_rows, n_cols, nnz = (int(x) for x in line.split()[:3])
    except ValueError:
        raise MatrixError(
            f"bad Matrix Market size line {line.strip()[:80]!r}", file=str(path), code="matrix.corrupt"
        ) from None
    if (n_rows, n_cols) != (n_features, n_barcodes):
        raise MatrixError(
            f"the matrix declares {n_rows} x {n_cols} but there are {n_features} features and "
            f"{n_barcodes} barcodes",
            file=str(path),
            code="matrix.corrupt",
        )
    if nnz < 0 or nnz > n_rows * n_cols:
        raise MatrixError(
            f"the matrix declares {nnz} values for {n_rows} x {n_cols}", file=str(path), code="matrix.corrupt"
        )
    check_budget(nnz * 24.0, f"{nnz:,} stored values", str(path))
    from scipy.io import mmread

    # the declared size is now known to fit: scipy's reader (which allocates what the header
    # declares) reads the body through the capped stream, and checks every entry's position
    with read_errors(path, what="Matrix Market body: "), open_binary(path) as raw:
        coo = mmread(io.BufferedReader(raw, 1024 * 1024))
    if not sp.issparse(coo) or coo.shape != (n_rows, n_cols):
        raise MatrixError(
            "the Matrix Market body does not match its header", file=str(path), code="matrix.corrupt"
        )
    # features x barcodes -> barcodes x features; duplicate entries are summed (as scipy does)
    return sp.csr_matrix(coo.T, dtype=np.float32)


def _assemble(source: str, label: str, csr: Any, rows: list[list[str]], barcodes: np.ndarray) -> CsrMatrix:
    """Keep gene-expression features, choose the identifier column, check the barcodes."""
    check_samples(barcodes, file=source, what="barcode")
    width = min(len(r) for r in rows) if rows else 0
    cols = {"id": np.asarray([r[0] for r in rows], dtype=object)}
    if width > 1:
        cols["name"] = np.asarray([r[1] for r in rows], dtype=object)
    types = np.asarray([r[2] for r in rows], dtype=object) if width > 2 else None
    return _finish(source, label, csr, cols, types, barcodes)


def _finish(
    source: str,
    label: str,
    csr: Any,
    cols: dict[str, np.ndarray],
    types: np.ndarray | None,
    barcodes: np.ndarray,
) -> CsrMatrix:
    notes: list[str] = []
    if types is not None and (types != GENE_EXPRESSION).any():
        keep = np.flatnonzero(types == GENE_EXPRESSION)
        other = sorted({str(t) for t in types[types != GENE_EXPRESSION]})
        if keep.size == 0:
            raise MatrixError(
                f"no '{GENE_EXPRESSION}' features (feature types: {', '.join(other)}); interferon "
                "signatures need gene expression",
                file=source,
                code="matrix.genes",
            )
        notes.append(
            f"{types.size - keep.size} features of type {', '.join(other)} set aside; "
            f"{keep.size} '{GENE_EXPRESSION}' features used"
        )
        csr = csr[:, keep]
        cols = {k: v[keep] for k, v in cols.items()}
    ids, id_notes = choose_id_columns(cols, file=source)
    csr.data = csr.data.astype(np.float32, copy=False)
    head = f"{label}: {csr.shape[0]} cells x {csr.shape[1]} features (identifiers from '{next(iter(ids))}')"
    return CsrMatrix(
        source=source,
        samples=barcodes,
        feature_ids=ids,
        kind="single_cell",
        notes=[head, *notes, *id_notes],
        csr=csr,
    )


# -------------------------------------------------------------------- Cell Ranger .h5


def _strings(ds: Any) -> np.ndarray:
    check_budget(float(ds.size or 0) * max(ds.dtype.itemsize, 8), f"names in {ds.name}", ds.file.filename)
    arr = ds[:]
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8").astype(object)
    if arr.dtype.kind == "O":
        return np.asarray([x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr], dtype=object)
    out: np.ndarray = arr.astype(str).astype(object)
    return out


def read_10x_h5(path: Path) -> CsrMatrix:
    """A Cell Ranger HDF5 matrix: v3 (``/matrix`` with ``features/``) or v2 (``/<genome>``)."""
    import h5py
    import scipy.sparse as sp

    with read_errors(path), h5py.File(path, "r") as f:
        if "matrix" in f:
            g = f["matrix"]
            version = "v3"
        else:
            groups = [k for k in f if isinstance(f[k], h5py.Group) and "indptr" in f[k]]
            if len(groups) != 1:
                raise MatrixError(
                    "not a 10x Cell Ranger .h5 file (no /matrix group"
                    + (f"; several genomes: {', '.join(groups)}" if groups else "")
                    + ")",
                    file=str(path),
                    code="matrix.format",
                )
            g = f[groups[0]]
            version = f"v2 (genome {groups[0]})"
        for key in ("data", "indices", "indptr", "shape", "barcodes"):
            if key not in g:
                raise MatrixError(
                    f"10x .h5 file without {g.name}/{key}", file=str(path), code="matrix.format"
                )
        shape = [int(x) for x in g["shape"][:]]
        if len(shape) != 2:
            raise MatrixError(
                f"10x .h5 shape {shape} is not two numbers", file=str(path), code="matrix.corrupt"
            )
        n_feat, n_bc = shape
        check_axis(n_feat, "features", str(path))
        check_axis(n_bc, "barcodes", str(path))
        nnz = int(g["data"].shape[0])
        check_budget(nnz * 8.0 + n_bc * 8.0, f"{nnz:,} stored values", str(path))
        if g["barcodes"].shape[0] != n_bc:
            raise MatrixError(
                f"the shape declares {n_bc} barcodes but {g['barcodes'].shape[0]} are listed",
                file=str(path),
                code="matrix.corrupt",
            )
        if "features" in g:
            fg = g["features"]
            cols = {"id": _strings(fg["id"]), "name": _strings(fg["name"])}
            types = _strings(fg["feature_type"]) if "feature_type" in fg else None
        elif "genes" in g:
            cols = {"id": _strings(g["genes"])}
            if "gene_names" in g:
                cols["name"] = _strings(g["gene_names"])
            types = None
        else:
            raise MatrixError("10x .h5 file lists no features or genes", file=str(path), code="matrix.format")
        if any(v.size != n_feat for v in cols.values()):
            raise MatrixError(
                f"the shape declares {n_feat} features but {next(iter(cols.values())).size} are listed",
                file=str(path),
                code="matrix.corrupt",
            )
        indptr = np.asarray(g["indptr"][:], dtype=np.int64)
        indices = np.asarray(g["indices"][:])
        # CSC of features x barcodes == CSR of barcodes x features: no conversion needed
        check_compressed(indptr, indices, nnz, n_bc, n_feat, file=str(path), what="10x CSC")
        data = np.asarray(g["data"][:], dtype=np.float32)
        barcodes = _strings(g["barcodes"])
    csr = sp.csr_matrix((data, indices, indptr), shape=(n_bc, n_feat))
    check_samples(barcodes, file=str(path), what="barcode")
    return _finish(str(path), f"10x .h5 ({version})", csr, cols, types, barcodes)
