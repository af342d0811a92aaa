"""The log base of log(x+1) values that carry no record of it, where the values show it.

scanpy's ``sc.pp.normalize_total`` makes every cell sum to one target (1e4, or the median
library size); ``sc.pp.log1p`` then stores log_b(1 + x). For such data ``b**v - 1`` summed
over a cell's genes is the same for every cell with the true base b and differs between cells
for any other base (float32 rounding leaves ~1e-6 of spread). When exactly one of e, 2 and 10
gives one sum (to 1e-3) over enough cells, the base is known from the values. Anything else
(genes subset after normalising, no normalize_total, bulk tables, counts) gives no answer and
the scale is detected as before.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BASES = (math.e, 2.0, 10.0)
# Relative spread ((max - min) / median) of the per-cell sums that still counts as one sum.
SPREAD = 1e-3
# Cells needed (non-empty), and read at most (the first ones).
MIN_ROWS = 10
MAX_ROWS = 2000
LOG_MAX = 30.0  # above, the values are not log(x+1) (as extract.LINEAR_ABOVE)


def row_sums_by_base(data: np.ndarray, row_of: np.ndarray, n_rows: int) -> dict[float, np.ndarray]:
    """Per row, the sum of ``b**v - 1`` over its (stored) values, for each candidate base."""
    v = data.astype(np.float64)
    return {b: np.bincount(row_of, weights=np.expm1(v * math.log(b)), minlength=n_rows) for b in BASES}


def detect(rows: Any) -> tuple[float, float] | None:
    """(base, per-cell sum) of normalize_total + log1p values in ``rows`` (first cells; dense or
    sparse), or None when the values do not show one base."""
    import scipy.sparse as sp

    if sp.issparse(rows):
        csr = sp.csr_matrix(rows)
        data = np.asarray(csr.data)
        row_of = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        n = csr.shape[0]
    else:
        arr = np.asarray(rows)
        if arr.ndim != 2:
            return None
        n = arr.shape[0]
        data = arr.ravel()
        row_of = np.repeat(np.arange(n), arr.shape[1])
    return _detect(data, row_of, n)


def detect_rows(data: np.ndarray, indptr: np.ndarray) -> tuple[float, float] | None:
    """:func:`detect` on the first rows of a CSR given by its stored values and indptr (the
    column indices are not needed: unstored values add 0 to every sum)."""
    n = indptr.size - 1
    row_of = np.repeat(np.arange(n), np.diff(indptr))
    return _detect(np.asarray(data), row_of, n)


def _detect(data: np.ndarray, row_of: np.ndarray, n: int) -> tuple[float, float] | None:
    if data.size == 0 or not np.isfinite(data).all():
        return None
    if float(data.min()) < 0 or float(data.max()) > LOG_MAX or bool(np.all(data == np.round(data))):
        return None
    sums = row_sums_by_base(data, row_of, n)
    lin = np.bincount(row_of, weights=data.astype(np.float64), minlength=n)
    keep = lin > 0
    if int(keep.sum()) < MIN_ROWS:
        return None
    fits = []
    for b, s in sums.items():
        s = s[keep]
        mid = float(np.median(s))
        if mid > 0 and float(s.max() - s.min()) / mid < SPREAD:
            fits.append((b, mid))
    return fits[0] if len(fits) == 1 else None


def base_word(b: float) -> str:
    return "e" if math.isclose(b, math.e) else f"{b:g}"


def source_and_note(base: float, total: float, where: str) -> tuple[str, str]:
    """``Matrix.log_base_source`` and the note for a base found by :func:`detect`."""
    b = base_word(base)
    source = f"detected (each observation's {b}^x - 1 sums to {total:.6g}: normalize_total + log1p)"
    note = (
        f"{where} records no log base (no uns['log1p']), but its values are log_{b}(x+1) of "
        f"normalised counts: in every observation read, {b}^x - 1 sums to {total:.6g} (and "
        "for no other base of e, 2, 10); read with that base"
    )
    return source, note
