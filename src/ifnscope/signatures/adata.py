"""AnnData (scanpy's object) as a :class:`~ifnscope.signatures.matrix.Matrix`.

Kept apart from the file readers (``readers.py``): the scverse conventions live here, with
scanpy's semantics so that a scanpy user gets what ``sc.tl.score_genes`` would read:

- ``use_raw=None`` reads ``adata.raw`` when it is set and no ``layer`` is given (scanpy's
  ``_check_use_raw``); ``use_raw=True`` without ``.raw``, or together with a ``layer``, is an
  error, as is a layer that does not exist (the message names the nearest one);
- with ``.raw``, the gene names come from ``adata.raw.var_names`` (and its symbol columns);
- ``uns['log1p']`` (written by ``sc.pp.log1p``) says the values are log_b(x + 1): it becomes
  :attr:`Matrix.log_base` (``base: None`` means e);
- a backed AnnData (``read_h5ad(path, backed="r")``) is streamed from its file by the
  ``.h5ad`` reader instead of being loaded.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any

import numpy as np

from ifnscope.errors import MatrixError
from ifnscope.signatures import logbase
from ifnscope.signatures.matrix import Annotations, CsrMatrix, DenseMatrix, Matrix
from ifnscope.signatures.readers import ID_COLUMNS, order_id_columns, read_h5ad

LOG1P_SOURCE = "uns['log1p']"


def is_anndata(data: Any) -> bool:
    """Duck-typed, so that anndata is imported only by those who use it."""
    return hasattr(data, "obs_names") and hasattr(data, "var_names") and hasattr(data, "uns")


def nearest(name: str, options: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest option, or nothing."""
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def resolve_use_raw(adata: Any, use_raw: bool | None, layer: str | None) -> bool:
    """scanpy's rule (``sc._utils._check_use_raw``), with the contradictions refused."""
    has_raw = getattr(adata, "raw", None) is not None
    if use_raw and layer is not None:
        raise MatrixError(
            f"layer={layer!r} and use_raw=True both name the values to score: give one "
            "(a layer is never read from .raw)",
            code="matrix.layer",
        )
    if use_raw and not has_raw:
        raise MatrixError(
            "use_raw=True but this AnnData has no .raw (set it with `adata.raw = adata` after "
            "sc.pp.log1p, or leave use_raw unset to read .X)",
            code="matrix.layer",
        )
    if layer is not None:
        layers = [str(k) for k in adata.layers]
        if layer not in layers:
            have = ", ".join(repr(k) for k in layers) if layers else "none"
            raise MatrixError(
                f"no layer {layer!r} in this AnnData (layers: {have}){nearest(layer, layers)}",
                code="matrix.layer",
            )
        return False
    return has_raw if use_raw is None else bool(use_raw)


def log1p_base(adata: Any) -> float | None:
    """The base scanpy's ``sc.pp.log1p`` recorded, or None when it recorded nothing."""
    rec = adata.uns.get("log1p") if hasattr(adata.uns, "get") else None
    if rec is None:
        return None
    base = rec.get("base") if hasattr(rec, "get") else None
    if base is None:  # scanpy: base None is the natural log (also when the key is absent)
        return math.e
    try:
        b = float(np.asarray(base).ravel()[0])
    except (TypeError, ValueError, IndexError):
        raise MatrixError(
            f"uns['log1p']['base'] is {base!r}: expected a number or None (scanpy's sc.pp.log1p "
            "writes one of these)",
            code="matrix.scale",
        ) from None
    if not (b > 0 and b != 1 and math.isfinite(b)):
        raise MatrixError(f"uns['log1p']['base'] is {b!r}: not a valid logarithm base", code="matrix.scale")
    return b


def _integer_valued(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return bool(v.size) and bool(np.all(v == np.round(v)))


def slot_name(layer: str | None, raw: bool) -> str:
    """Where the values were read, for messages: layer 'x', .raw or .X."""
    return f"layer '{layer}'" if layer else (".raw" if raw else ".X")


def _attach_log_base(m: Matrix, adata: Any, layer: str | None, raw: bool) -> None:
    """Record scanpy's log base on ``m`` where it describes the values read.

    ``sc.pp.log1p`` records the base for ``.X``. A layer (typically raw counts) is not what it
    describes, so the scale of a layer is detected. ``.raw`` holds log values in scanpy's
    tutorials (``adata.raw = adata`` after ``log1p``) but counts for others, so the record is
    applied to ``.raw`` only when its values are not integers.
    """
    base = log1p_base(adata)
    if base is None:
        return
    where = slot_name(layer, raw)
    if layer is not None:
        m.notes.append(f"{LOG1P_SOURCE} describes .X, not {where}: the scale of {where} is detected")
        return
    if raw and _integer_valued(m.value_sample(100_000)):
        m.notes.append(
            f"{LOG1P_SOURCE} is recorded, but .raw holds integer values (counts): the record is "
            "taken to describe .X only"
        )
        return
    m.log_base = base
    m.log_base_source = LOG1P_SOURCE
    m.notes.append(
        f"{where} values are log(x+1) with base {'e' if base == math.e else f'{base:g}'} "
        f"({LOG1P_SOURCE}, as written by sc.pp.log1p)"
    )


def _backed(adata: Any, layer: str | None, raw: bool) -> Matrix:
    """A backed AnnData: its file is streamed by the .h5ad reader, never loaded whole."""
    path = Path(str(adata.filename))
    m = read_h5ad(path, layer=layer, use_raw=raw)
    # obs is in memory in backed mode and may hold columns added since the file was written
    m.annotations = Annotations.from_frame(adata.obs, m.samples)
    m.notes.append("backed AnnData: read from its file in row chunks")
    return m


def from_anndata(adata: Any, *, layer: str | None = None, use_raw: bool | None = None) -> Matrix:
    """Wrap an AnnData (cells x genes); an in-memory CSR matrix is not copied.

    ``layer`` and ``use_raw`` follow scanpy (see the module docstring).
    """
    import scipy.sparse as sp

    raw = resolve_use_raw(adata, use_raw, layer)
    if getattr(adata, "isbacked", False):
        bm = _backed(adata, layer, raw)
        if bm.log_base is None:  # the reader may already have read uns['log1p'] from the file
            _attach_log_base(bm, adata, layer, raw)
        return bm
    if raw:
        X, var = adata.raw.X, adata.raw.var
        var_names = adata.raw.var_names
    else:
        X = adata.layers[layer] if layer is not None else adata.X
        var, var_names = adata.var, adata.var_names
    cols = {"var_names": var_names.astype(str).to_numpy(dtype=object)}
    for c in ID_COLUMNS:
        if c in var.columns:
            cols[c] = var[c].astype(str).to_numpy(dtype=object)
    ids = order_id_columns(cols)
    samples = adata.obs_names.astype(str).to_numpy(dtype=object)
    ann = Annotations.from_frame(adata.obs, samples)
    note = f"AnnData: {adata.n_obs} x {len(var_names)} ({slot_name(layer, raw)})"
    m: Matrix
    if sp.issparse(X):
        m = CsrMatrix(
            source="AnnData",
            samples=samples,
            feature_ids=ids,
            kind="single_cell",
            annotations=ann,
            notes=[note],
            csr=X,
        )
    else:
        m = DenseMatrix(
            source="AnnData",
            samples=samples,
            feature_ids=ids,
            kind="single_cell",
            annotations=ann,
            notes=[note],
            x=np.ascontiguousarray(np.asarray(X)),
        )
    _attach_log_base(m, adata, layer, raw)
    if m.log_base is None and (layer is not None or log1p_base(adata) is None):
        # nothing recorded for these values: their per-cell sums may still show the base
        found = logbase.detect(X[: logbase.MAX_ROWS])
        if found is not None:
            m.log_base = found[0]
            m.log_base_source, note = logbase.source_and_note(*found, slot_name(layer, raw))
            m.notes.append(note)
    return m
