"""Scoring formulas against hand-computed values, and the compiled pass against plain numpy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import rankdata

from ifnscope.signatures import kernels
from ifnscope.signatures.methods import (
    MethodInput,
    mean_z,
    median_fold_change,
    module_percent,
    singscore,
    standardized_sum,
)


def test_median_fold_change_is_the_median_of_fold_changes_vs_control_medians() -> None:
    x = np.log2(np.array([[4.0, 8.0, 1.0], [2.0, 2.0, 2.0]]))  # log2 expression
    median = np.array([2.0, 2.0, 2.0])  # the controls' median, on the linear scale
    out = median_fold_change(MethodInput(x=x, median=median))
    assert out.tolist() == pytest.approx([2.0, 1.0])  # fold changes (2, 4, 0.5) -> 2 ; (1, 1, 1) -> 1


def test_standardized_sum_and_mean_z() -> None:
    x = np.array([[3.0, 5.0], [1.0, 1.0]])
    inp = MethodInput(x=x, mean=np.array([1.0, 1.0]), sd=np.array([2.0, 4.0]))
    assert standardized_sum(inp).tolist() == pytest.approx([1.0 + 1.0, 0.0])
    assert mean_z(inp).tolist() == pytest.approx([1.0, 0.0])


def test_module_percent_follows_bloodgen3_cut_offs() -> None:
    # linear reference means 100 for every gene; values chosen around FC 1.5 and DIFF 10
    lin = np.array(
        [
            [151.0, 160.0, 150.0, 66.0, 60.0],  # up (>1.5, >10), up, not up (FC exactly 1.5), down, down
            [100.0, 100.0, 100.0, 100.0, 100.0],
        ]
    )
    x = np.log2(lin + 1)
    out = module_percent(MethodInput(x=x, linear_mean=np.full(5, 100.0)))
    # row 0: 2 up; 2 down (66: fold change -100/66 = -1.515, difference -34; 60: -1.67, -40)
    assert out.tolist() == pytest.approx([100 * (2 - 2) / 5, 0.0])
    small = module_percent(MethodInput(x=np.log2(np.array([[18.0]]) + 1), linear_mean=np.array([9.0])))
    assert small.tolist() == [0.0]  # FC 2 but difference 9 < 10: not up


def test_module_percent_handles_zero_reference_means() -> None:
    out = module_percent(
        MethodInput(x=np.log2(np.array([[50.0, 0.0]]) + 1), linear_mean=np.array([0.0, 0.0]))
    )
    assert out.tolist() == [50.0]  # 50 vs 0: up; 0 vs 0: unchanged


def test_singscore_matches_a_direct_implementation() -> None:
    rng = np.random.default_rng(3)
    X = rng.poisson(2.0, size=(6, 40)).astype(np.float64)
    genes = [1, 5, 7, 20]
    n_published = 5  # one published gene missing from the data: the bounds still use 5
    below = np.stack([[np.sum(row < row[g]) for g in genes] for row in X])
    got = singscore(MethodInput(x=X[:, genes], below=below, n_features=40, signature_size=n_published))
    ranks = np.stack([rankdata(row, method="min") for row in X])[:, genes]
    low, high = (n_published + 1) / 2, (2 * 40 - n_published + 1) / 2
    expected = (ranks.mean(axis=1) - low) / (high - low) - 0.5
    assert got == pytest.approx(expected)


def _reference_pass(X: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = X[:, cols]
    lib = X.sum(axis=1)
    below = np.stack([[np.sum(row < row[c]) for c in cols] for row in X])
    return values, lib, below


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_csr_and_dense_passes_equal_plain_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.4, size=(50, 300)).astype(np.float32) * rng.integers(1, 4, size=(50, 300))
    dense[3] = 0  # an empty row
    cols = np.array([0, 299, 17, 17, 150, 3], dtype=np.int64)  # repeats and any order
    want_v, want_lib, want_below = _reference_pass(dense.astype(np.float64), cols)

    from ifnscope.signatures.matrix import CsrMatrix, DenseMatrix

    ids = {"g": np.array([f"G{i}" for i in range(300)], dtype=object)}
    samples = np.array([f"s{i}" for i in range(50)], dtype=object)
    for m in (
        CsrMatrix(source="t", samples=samples, feature_ids=ids, kind="single_cell", csr=sp.csr_matrix(dense)),
        DenseMatrix(source="t", samples=samples, feature_ids=ids, kind="bulk", x=dense),
    ):
        res = m.run_pass(cols, want_ranks=True)
        assert np.allclose(res.values, want_v)
        assert np.allclose(res.lib, want_lib)
        assert np.array_equal(res.below, want_below)


def test_unsorted_csr_rows_are_detected_and_handled() -> None:
    dense = np.array([[0, 5, 0, 2], [1, 0, 3, 0]], dtype=np.float32)
    X = sp.csr_matrix(dense)
    # reverse the indices of row 0 by hand (still a valid, non-canonical CSR)
    X.indices[:2] = X.indices[:2][::-1]
    X.data[:2] = X.data[:2][::-1]
    X.has_sorted_indices = False
    targets = np.array([1, 3], dtype=np.int32)
    out = np.zeros((2, 2), np.float32)
    lib = np.zeros(2)
    below = np.zeros((2, 2), np.int32)
    assert kernels.csr_pass(X.indptr, X.indices, X.data, 4, targets, True, out, lib, below) == 1
    out[:] = 0
    kernels.csr_pass_checked(X.indptr, X.indices, X.data, 4, targets, True, out, lib, below)
    assert out.tolist() == [[5.0, 2.0], [0.0, 0.0]]
    assert below.tolist() == [[3, 2], [0, 0]]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_numpy_pass_equals_the_compiled_pass(seed: int) -> None:
    """The streamed no-rank path (numpy) and the compiled kernel agree, on unsorted rows too."""
    from ifnscope.signatures.matrix import csr_values_numpy

    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.5, size=(40, 200)).astype(np.float32)
    dense[5] = 0  # an empty row
    dense[-1] = 0  # an empty last row
    X = sp.csr_matrix(dense)
    targets = np.array([0, 7, 42, 199], dtype=np.int32)
    want_v = np.zeros((40, 4), np.float32)
    want_lib = np.zeros(40)
    kernels.csr_pass_checked(
        X.indptr, X.indices, X.data, 200, targets, False, want_v, want_lib, np.zeros((1, 1), np.int32)
    )
    got_v, got_lib = np.zeros_like(want_v), np.zeros_like(want_lib)
    # shuffle each row's stored order: the numpy pass does not need sorted indices
    idx, data = X.indices.copy(), X.data.copy()
    for r in range(40):
        lo, hi = X.indptr[r], X.indptr[r + 1]
        perm = rng.permutation(hi - lo)
        idx[lo:hi], data[lo:hi] = idx[lo:hi][perm], data[lo:hi][perm]
    csr_values_numpy(X.indptr, idx, data, 200, targets, got_v, got_lib)
    assert np.array_equal(got_v, want_v)
    assert np.array_equal(got_lib, want_lib)


def test_the_numpy_pass_sums_a_column_stored_twice_and_large_libraries() -> None:
    from ifnscope.signatures.matrix import csr_values_numpy

    indptr = np.array([0, 3, 4], dtype=np.int64)
    indices = np.array([2, 2, 0, 1], dtype=np.int32)  # column 2 twice in row 0
    data = np.array([1.0, 2.0, 2.0**24, 3.0], dtype=np.float32)
    v, lib = np.zeros((2, 1), np.float32), np.zeros(2)
    csr_values_numpy(indptr, indices, data, 3, np.array([2], np.int32), v, lib)
    assert v.tolist() == [[3.0], [0.0]]
    assert lib.tolist() == [2.0**24 + 3.0, 3.0]  # above 2**24 float32 would round: recomputed in float64
