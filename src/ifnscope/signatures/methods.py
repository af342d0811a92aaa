"""Scoring methods, as a registry with metadata (in the manner of decoupler's method list).

Every method turns the normalised log2 values of one signature's genes into one number per
sample. Methods that compare with healthy controls take their parameters from a *fixed
reference* (``reference.py``), so a sample's score never depends on the other samples in
the batch: the flaw of GSVA/ssGSEA that these published scores avoid.

=====================  ===========  ===========================================================
method                 reference?   formula (x = log2 value, ref = the fixed reference)
=====================  ===========  ===========================================================
median_fold_change     yes          median over genes of 2^x / median_ref(2^x)       (Rice)
standardized_sum       yes          sum over genes of (x - mean_ref) / sd_ref        (Feng/Braunstein)
mean_z                 yes          mean over genes of (x - mean_ref) / sd_ref       (Aybey)
module_percent         yes          100 x (genes up - genes down) / genes present;   (BloodGen3)
                                    up: fold change > 1.5 and difference > 10 vs the
                                    reference mean, on the linear scale 2^x - 1
singscore              no           (mean rank - (n+1)/2) / ((2N-n+1)/2 - (n+1)/2) - 0.5,
                                    ranks ascending with ties at the minimum, n = genes in
                                    the signature as published, N = genes in the matrix
                                    (of the sample, when some of its values are missing)
=====================  ===========  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ifnscope.provenance import SourceRef

# BloodGen3 individual-comparison defaults (R/Individualcomparison.R): FC 1.5, DIFF 10.
BLOODGEN3_FC = 1.5
BLOODGEN3_DIFF = 10.0


@dataclass(frozen=True)
class MethodInput:
    """What a method sees: one signature's found genes for every sample."""

    x: np.ndarray  # samples x genes, log2 values
    mean: np.ndarray | None = None  # reference per gene (log2)
    sd: np.ndarray | None = None
    median: np.ndarray | None = None  # reference median of 2^x (the linear domain, as Rice takes it)
    linear_mean: np.ndarray | None = None  # reference mean of 2^x - 1
    below: np.ndarray | None = None  # samples x genes: values strictly below (ranks)
    n_features: int = 0  # genes in the matrix (N)
    # per sample, genes with a finite value (N of that sample; -1: unknown), when some are NaN
    n_finite: np.ndarray | None = None
    signature_size: int = 0  # genes in the signature as published (n)


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    needs_reference: bool
    source: SourceRef
    fn: Callable[[MethodInput], np.ndarray]


# numpy's stubs type most array arithmetic as Any; each method returns np.asarray(...) of its
# result (the same array, no copy) so that mypy checks what the registry's callers receive.
def _z(inp: MethodInput) -> np.ndarray:
    assert inp.mean is not None
    assert inp.sd is not None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((inp.x - inp.mean) / inp.sd)


def median_fold_change(inp: MethodInput) -> np.ndarray:
    assert inp.median is not None
    return np.asarray(np.median(np.exp2(inp.x) / inp.median, axis=1))


def standardized_sum(inp: MethodInput) -> np.ndarray:
    return np.asarray(np.sum(_z(inp), axis=1))


def mean_z(inp: MethodInput) -> np.ndarray:
    return np.asarray(np.mean(_z(inp), axis=1))


def module_percent(inp: MethodInput) -> np.ndarray:
    assert inp.linear_mean is not None
    lin = np.exp2(inp.x.astype(np.float64)) - 1.0
    mu = inp.linear_mean.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # gtools::foldchange: num/denom if num >= denom else -denom/num
        fc = np.where(lin >= mu, lin / mu, -mu / lin)
    fc = np.where((lin == 0) & (mu == 0), 1.0, fc)
    diff = lin - mu
    up = (fc > BLOODGEN3_FC) & (diff > BLOODGEN3_DIFF)
    down = (fc < -BLOODGEN3_FC) & (diff < -BLOODGEN3_DIFF)
    return np.asarray(100.0 * (up.sum(axis=1) - down.sum(axis=1)) / inp.x.shape[1])


def singscore(inp: MethodInput) -> np.ndarray:
    assert inp.below is not None
    ranks = 1.0 + inp.below.astype(np.float64)  # ties take the minimum rank
    n = inp.signature_size
    # N per sample: a sample's missing values are left out of its ranking (kernels.py)
    big_n = (
        np.asarray(inp.n_finite, dtype=np.float64)
        if inp.n_finite is not None
        else np.full(ranks.shape[0], float(inp.n_features))
    )
    low, high = (n + 1) / 2, (2 * big_n - n + 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (ranks.mean(axis=1) - low) / (high - low) - 0.5
    out[big_n < 0] = np.nan  # missing values that could not be counted
    return np.asarray(out)


def _source(id_: str, where: str, confidence: str = "A") -> SourceRef:
    return SourceRef(id=id_, where=where, confidence=confidence)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "median_fold_change",
            "Median fold change against the healthy-control median",
            True,
            _source("rice2013", "abstract"),
            median_fold_change,
        ),
        Method(
            "standardized_sum",
            "Sum of per-gene z-scores against healthy controls",
            True,
            _source("braunstein2012", "standardised to healthy controls and summed", "B"),
            standardized_sum,
        ),
        Method(
            "mean_z",
            "Mean of per-gene z-scores against a fixed reference",
            True,
            _source("aybey2025", "mean of per-gene z-scores (their benchmark z-scored the cohort)"),
            mean_z,
        ),
        Method(
            "module_percent",
            "Percentage of module genes up minus down against the reference",
            True,
            _source("rinchai2021", "R/Individualcomparison.R"),
            module_percent,
        ),
        Method(
            "singscore",
            "Rank-based single-sample score (no reference needed)",
            False,
            _source("foroutan2018", "R/CoreFuns.R"),
            singscore,
        ),
    )
}
