"""The Kang 2018 PBMC data (control vs IFN-beta cells) as scanpy users hold it, subsampled.

Read with scanpy itself (``sc.read_10x_mtx``) from the shared data; tests that use it skip
loudly when the shared folder is absent.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pytest

from tests.helpers import SHARED

KANG = SHARED / "data" / "pbmc_ifnb_kang2018"

needs_kang = pytest.mark.skipif(
    not (KANG / "matrix.mtx.gz").is_file(),
    reason=f"SKIPPED: the Kang 2018 PBMC data are not at {KANG} (clone ../shared beside the repo)",
)

TYPE_I = ["aybey_ifna", "rice6", "feng5", "ifngs4"]


@lru_cache(maxsize=1)
def _counts() -> Any:
    import pandas as pd
    import scanpy as sc
    import scipy.sparse as sp

    adata = sc.read_10x_mtx(KANG)
    adata.X = sp.csr_matrix(adata.X)  # scanpy reads this file as CSC; pipelines write CSR
    cells = pd.read_csv(KANG / "cells.tsv", sep="\t", index_col=0)
    adata.obs["condition"] = pd.Categorical(cells.loc[adata.obs_names, "condition"])
    return adata


def kang_counts(n_per_condition: int = 300, seed: int = 0) -> Any:
    """Raw counts of ``n_per_condition`` cells of each condition, with three pseudo-donors each."""
    import pandas as pd

    full = _counts()
    rng = np.random.default_rng(seed)
    picked = np.concatenate(
        [
            rng.choice(np.flatnonzero(full.obs["condition"].to_numpy() == c), n_per_condition, replace=False)
            for c in ("control", "ifnb")
        ]
    )
    adata = full[np.sort(picked)].copy()
    donor = rng.integers(0, 3, adata.n_obs)
    adata.obs["donor"] = pd.Categorical(
        [f"{c}_{d}" for c, d in zip(adata.obs["condition"], donor, strict=True)]
    )
    return adata


def kang_scanpy(n_per_condition: int = 300) -> Any:
    """The scanpy tutorial's shape: counts in a layer, log-normalised .raw, scaled .X."""
    import scanpy as sc

    adata = kang_counts(n_per_condition)
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    adata.raw = adata
    sc.pp.scale(adata, max_value=10)
    return adata
