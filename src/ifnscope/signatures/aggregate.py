"""Scores per group of cells: summaries by group, and pseudobulk samples scored as bulk.

Two ways to go from cells to donors or conditions, which answer different questions:

- :func:`summarize` scores every cell and describes each group's distribution (n, median,
  mean, quartiles, the share at or beyond the cut-off);
- :func:`pseudobulk` sums each group's raw counts into one bulk sample (as
  ``sc.get.aggregate(adata, by, func="sum")`` does), which is then scored like any bulk
  sample: the published scores were defined on bulk blood, so this is the comparable number.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ifnscope.errors import MatrixError, SignatureError
from ifnscope.signatures.adata import from_anndata, is_anndata, nearest, resolve_use_raw, slot_name
from ifnscope.signatures.matrix import (
    CsrMatrix,
    DenseMatrix,
    H5adStream,
    Matrix,
    _Prefetch,
)
from ifnscope.signatures.scoring import Cutoff, ScoreRun

# Fewer cells than this make a noisy pseudobulk sample (decoupler's get_pseudobulk default).
MIN_CELLS = 10

SUMMARY_COLUMNS = ("group", "signature", "n", "median", "mean", "q25", "q75", "iqr", "share_high")


# --------------------------------------------------------------------------- summaries


def group_labels(values: Any, n: int, what: str) -> tuple[np.ndarray, list[str]]:
    """Group labels as strings ("" = no group) and the groups in display order.

    A pandas Categorical keeps its category order (as scanpy plots it); otherwise sorted.
    """
    import pandas as pd

    s = pd.Series(values) if not isinstance(values, pd.Series) else values.reset_index(drop=True)
    if len(s) != n:
        raise MatrixError(f"{what} has {len(s)} labels for {n} samples", code="matrix.samples")
    labels = s.astype(str).where(s.notna(), "").to_numpy(dtype=object)
    if isinstance(s.dtype, pd.CategoricalDtype):
        order = [str(c) for c in s.cat.categories if (labels == str(c)).any()]
    else:
        order = sorted({str(x) for x in labels if x != ""})
    return labels, order


def obs_column(adata: Any, column: str) -> Any:
    if column not in adata.obs.columns:
        cols = [str(c) for c in adata.obs.columns]
        raise MatrixError(
            f"no column {column!r} in adata.obs (columns: {', '.join(cols[:20]) or 'none'})"
            f"{nearest(column, cols)}",
            code="matrix.layer",
        )
    return adata.obs[column]


@dataclass(frozen=True)
class ScorePanel:
    """One signature's scores with what a plot or a summary shows beside them."""

    name: str
    title: str
    scores: np.ndarray
    cutoff: Cutoff | None


def panels_of_run(run: ScoreRun, signatures: list[str] | None = None) -> list[ScorePanel]:
    out = [
        ScorePanel(
            r.signature.name,
            f"{r.signature.definition.title} — {r.method} ({len(r.coverage.found)}/{r.coverage.total} genes)",
            np.asarray(r.scores, np.float64),
            r.cutoff,
        )
        for r in run.results
    ]
    return _pick(out, signatures, "this run")


def _pick(panels: list[ScorePanel], signatures: list[str] | None, where: str) -> list[ScorePanel]:
    if signatures is None:
        return panels
    have = [p.name for p in panels]
    missing = [s for s in signatures if s not in have]
    if missing:
        raise SignatureError(
            f"no scores of {', '.join(missing)} in {where} (scored: {', '.join(have) or 'none'})"
            f"{nearest(missing[0], have)}",
            code="signature.unknown",
        )
    return [p for s in signatures for p in panels if p.name == s]


def scores_in_obs(
    adata: Any, *, key_added: str | None = None, signatures: list[str] | None = None
) -> list[ScorePanel]:
    """The scores :func:`ifnscope.signatures.score` wrote to ``adata`` (obs + uns), per signature."""
    prefix, uns_key = key_added or "ifn", key_added or "ifnscope"
    entry = adata.uns.get(uns_key)
    recorded = entry.get("signatures", {}) if isinstance(entry, dict) else {}
    out = []
    for name, info in recorded.items():
        if not isinstance(info, dict):
            continue
        col = str(info.get("obs_key", f"{prefix}_{name}"))
        if col not in adata.obs.columns:
            continue
        cut = info.get("cutoff")
        cutoff = (
            Cutoff(
                float(cut["value"]),
                "at_least" if cut.get("direction") == "at_least" else "above",
                "published" if cut.get("kind") == "published" else "reference_derived",
                str(cut.get("source", "")),
            )
            if isinstance(cut, dict) and "value" in cut
            else None
        )
        title = (
            f"{info.get('title', name)} — {info.get('method', '')} "
            f"({info.get('genes_found', '?')}/{info.get('genes_total', '?')} genes)"
        )
        out.append(ScorePanel(str(name), title, adata.obs[col].to_numpy(dtype=np.float64), cutoff))
    if not out:
        raise SignatureError(
            f"no ifnscope scores in this AnnData (adata.uns[{uns_key!r}] names none whose obs column "
            "exists): run ifnscope.signatures.score(adata, ...) first, or give the key_added it used",
            code="signature.unknown",
        )
    return _pick(out, signatures, "this AnnData")


def summarize(
    data: Any,
    groupby: Any,
    *,
    key_added: str | None = None,
    signatures: list[str] | None = None,
) -> Any:
    """Per group and signature: n, median, mean, quartiles, IQR and the share called high.

    ``data`` is a :class:`ScoreRun` (``groupby``: one label per sample) or an AnnData scored
    by :func:`ifnscope.signatures.score` (``groupby``: an obs column, or one label per cell).
    ``share_high`` is the share of scored samples at or beyond the cut-off, NaN when no
    cut-off applies. ``n`` counts the samples with a score (not NaN).
    """
    import pandas as pd

    if isinstance(data, ScoreRun):
        panels = panels_of_run(data, signatures)
        n = data.samples.size
    elif is_anndata(data):
        panels = scores_in_obs(data, key_added=key_added, signatures=signatures)
        n = data.n_obs
        if isinstance(groupby, str):
            groupby = obs_column(data, groupby)
    else:
        raise TypeError(f"summarize() takes a ScoreRun or an AnnData, not {type(data).__name__}")
    if isinstance(groupby, str):
        raise TypeError("with a ScoreRun, groupby is one label per sample (a column name needs an AnnData)")
    labels, order = group_labels(groupby, n, "groupby")
    rows = []
    for g in order:
        mask = labels == g
        for p in panels:
            name, cut = p.name, p.cutoff
            v = p.scores[mask]
            v = v[np.isfinite(v)]
            q25, med, q75 = np.quantile(v, [0.25, 0.5, 0.75]) if v.size else (np.nan,) * 3
            rows.append(
                {
                    "group": g,
                    "signature": name,
                    "n": int(v.size),
                    "median": float(med),
                    "mean": float(v.mean()) if v.size else np.nan,
                    "q25": float(q25),
                    "q75": float(q75),
                    "iqr": float(q75 - q25),
                    "share_high": float(cut.reached(v).mean()) if cut is not None and v.size else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


# -------------------------------------------------------------------------- pseudobulk


def _check_counts(data: np.ndarray, where: str, hint: str, block: int = 1 << 24) -> None:
    """Refuse values that are not raw counts: a sum of log or normalised values means nothing.

    Checked in blocks, so that the check of a large matrix costs no matrix-sized temporary.
    """
    for lo in range(0, data.size, block):
        part = data[lo : lo + block]
        bad = (part < 0) | (part != np.round(part))
        if bad.any():
            example = float(part[np.flatnonzero(bad)[0]])
            raise MatrixError(
                f"pseudobulk sums the raw counts of each group's cells, but {where} holds values that "
                f"are not counts (e.g. {example:.4g}): a sum of log or normalised values is not a "
                f"bulk sample{hint}",
                code="matrix.scale",
            )


def _group_index(labels: np.ndarray, groups: list[str]) -> np.ndarray:
    """Each sample's group position (-1: no group)."""
    import pandas as pd

    return np.asarray(pd.Index(groups).get_indexer(labels.astype(str)), dtype=np.int64)


def _indicator(rows: np.ndarray, n_groups: int) -> Any:
    """Groups x samples 0/1 matrix (a sparse product sums each group's rows)."""
    import scipy.sparse as sp

    keep = rows >= 0
    return sp.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], np.flatnonzero(keep))), shape=(n_groups, rows.size)
    )


def _sum_stream(m: H5adStream, G: Any, where: str, hint: str) -> np.ndarray:
    """Group sums of a streamed .h5ad, chunk by chunk (the file is never loaded whole)."""
    import scipy.sparse as sp

    out = np.zeros((G.shape[0], m.n_features), np.float64)
    # the same group (X, a layer or raw/X) as the stream reads, with its checked indptr
    pre = _Prefetch(m.path, m.n_samples, m.chunk_rows, m.group, m.n_cols, m.indptr)
    try:
        while True:
            item = pre.queue.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            start, stop, data, idx = item
            assert pre.indptr is not None
            _check_counts(data, where, hint)
            local = pre.indptr[start : stop + 1] - pre.indptr[start]
            chunk = sp.csr_matrix((data, idx, local), shape=(stop - start, m.n_features))
            out += np.asarray((G[:, start:stop] @ chunk).todense())
    finally:
        pre.close()
    return out


def pseudobulk(
    data: Any,
    by: str,
    *,
    layer: str | None = None,
    use_raw: bool | None = None,
    min_cells: int = MIN_CELLS,
) -> DenseMatrix:
    """Sum the raw counts of each group of cells (``by``: an obs or annotation column).

    ``data`` is an AnnData (``layer``/``use_raw`` as in scanpy: the counts are often in
    ``layers["counts"]``) or a single-cell :class:`Matrix` with annotations. The result is a
    bulk matrix, one sample per group, whose annotations keep every column that is constant
    within each group (so ``controls="condition=control"`` still works). Groups of fewer than
    ``min_cells`` cells are kept but warned about; cells without a group are left out.
    """
    where = "the values"
    hint = ""
    if is_anndata(data):
        obs_column(data, by)
        m = from_anndata(data, layer=layer, use_raw=use_raw)
        layers = [str(k) for k in data.layers]
        where = slot_name(layer, resolve_use_raw(data, use_raw, layer))
        hint = (
            f": give the counts (layers: {', '.join(layers)})"
            if layers
            else ": give an AnnData whose .X (or a layer) holds the counts"
        )
    elif isinstance(data, Matrix):
        m = data
    else:
        raise TypeError(f"pseudobulk() takes an AnnData or a Matrix, not {type(data).__name__}")
    if m.log_base is not None:
        raise MatrixError(
            f"pseudobulk sums raw counts, but {where} are log values ({m.log_base_source}): a sum "
            f"of log values is not a bulk sample{hint}",
            code="matrix.scale",
        )
    ann = m.annotations
    if ann is None or by not in ann.columns:
        have = ann.columns if ann is not None else []
        raise MatrixError(
            f"no annotation column {by!r} to group the cells by (columns: {', '.join(have) or 'none'})"
            f"{nearest(by, list(have))}; give --annotations FILE or an AnnData obs column",
            code="matrix.controls",
        )
    labels = np.asarray(ann.column(by), dtype=object)
    _, groups = group_labels(labels, m.n_samples, by)
    groups = [g for g in groups if g != ""]
    if not groups:
        raise MatrixError(f"no cell has a value in {by!r}", code="matrix.controls")
    rows = _group_index(labels, groups)
    G = _indicator(rows, len(groups))
    if isinstance(m, CsrMatrix):
        _check_counts(np.asarray(m.csr.data), where, hint)
        sums = np.asarray((G @ m.csr).todense(), dtype=np.float64)
    elif isinstance(m, DenseMatrix):
        _check_counts(m.x.reshape(-1), where, hint)
        sums = np.asarray(G @ m.x, dtype=np.float64)
    elif isinstance(m, H5adStream):
        sums = _sum_stream(m, G, where, hint)
    else:
        raise MatrixError(f"pseudobulk cannot read a {type(m).__name__}", code="matrix.format")
    n_cells = np.asarray(G.sum(axis=1)).ravel().astype(int)
    notes = [
        f"pseudobulk: the raw counts of each {by!r} group summed into one bulk sample ("
        + ", ".join(f"{g}: {c} cells" for g, c in zip(groups, n_cells, strict=True))
        + ")"
    ]
    left_out = int((labels == "").sum())
    if left_out:
        notes.append(f"{left_out} cells without a {by!r} value left out of the pseudobulk")
    small = [f"{g} ({c})" for g, c in zip(groups, n_cells, strict=True) if c < min_cells]
    if small:
        msg = f"pseudobulk groups with fewer than {min_cells} cells give noisy scores: {', '.join(small)}"
        notes.append(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    return DenseMatrix(
        source=f"{m.source} (pseudobulk by {by})",
        samples=np.asarray(groups, dtype=object),
        feature_ids=dict(m.feature_ids),
        kind="bulk",
        annotations=_group_annotations(ann, rows, groups, by, n_cells),
        notes=[*m.notes, *notes],
        x=np.ascontiguousarray(sums.astype(np.float32)),
    )


def _group_annotations(ann: Any, rows: np.ndarray, groups: list[str], by: str, n_cells: np.ndarray) -> Any:
    """Annotations of the groups: the columns constant within every group, and n_cells.

    One factorisation per column (linear in the cells), so a million cells stay cheap.
    """
    import pandas as pd

    from ifnscope.signatures.matrix import Annotations

    keep = rows >= 0
    _, first = np.unique(rows[keep], return_index=True)
    first_cell = np.flatnonzero(keep)[first]
    kept: dict[str, np.ndarray] = {by: np.asarray(groups, dtype=object)}
    for c in ann.columns:
        if c == by:
            continue
        col = np.asarray(ann.column(c), dtype=object)
        codes, uniques = pd.factorize(col)
        pairs = np.unique(rows[keep] * (len(uniques) + 1) + codes[keep])
        if pairs.size == len(groups):  # one value per group
            kept[c] = np.asarray([str(v) for v in col[first_cell]], dtype=object)
    kept["n_cells"] = np.asarray([str(c) for c in n_cells], dtype=object)
    return Annotations(list(kept), lambda name: kept[name])
