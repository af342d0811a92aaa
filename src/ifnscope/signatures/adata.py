"""In-memory AnnData (scanpy's object) as a :class:`~ifnscope.signatures.matrix.Matrix`.

Kept apart from the file readers (``readers.py``): the scverse conventions (``layer``,
``use_raw``, ``uns``) live here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ifnscope.signatures.matrix import Annotations, CsrMatrix, DenseMatrix, Matrix
from ifnscope.signatures.readers import ID_COLUMNS, order_id_columns


def from_anndata(adata: Any, *, layer: str | None = None) -> Matrix:
    """Wrap an in-memory AnnData (cells x genes) without copying a CSR matrix."""
    import scipy.sparse as sp

    X = adata.layers[layer] if layer else adata.X
    cols = {"var_names": adata.var_names.astype(str).to_numpy(dtype=object)}
    for c in ID_COLUMNS:
        if c in adata.var.columns:
            cols[c] = adata.var[c].astype(str).to_numpy(dtype=object)
    ids = order_id_columns(cols)
    samples = adata.obs_names.astype(str).to_numpy(dtype=object)
    ann = Annotations.from_frame(adata.obs, samples)
    note = f"AnnData: {adata.n_obs} x {adata.n_vars}" + (f" (layer '{layer}')" if layer else "")
    if sp.issparse(X):
        return CsrMatrix(
            source="AnnData",
            samples=samples,
            feature_ids=ids,
            kind="single_cell",
            annotations=ann,
            notes=[note],
            csr=X,
        )
    return DenseMatrix(
        source="AnnData",
        samples=samples,
        feature_ids=ids,
        kind="single_cell",
        annotations=ann,
        notes=[note],
        x=np.ascontiguousarray(np.asarray(X)),
    )
