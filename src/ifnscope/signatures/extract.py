"""From a matrix to the few numbers a score needs: signature genes, normalised, per sample.

Steps, each reported in the output:

1. **Gene mapping.** Each feature identifier is matched to the signature genes through the
   offline gene table (current symbol, previous symbol, alias, Ensembl with or without
   version, Entrez). A previous symbol or alias is used only when it is unambiguous.
2. **Duplicates.** When several features map to one gene (``DDX58`` and ``RIGI`` rows, two
   probes), the feature with the highest mean normalised expression is used and the others
   are reported as dropped.
3. **Scale.** Detected from the values unless declared: non-negative integers are *counts*;
   non-negative values above 30 are *linear* (already normalised); anything else is *log2*.
4. **Normalisation.** Counts: ``log2(CPM + 1)`` for bulk, ``log2(CP10k + 1)`` for single
   cells (library size = all genes of the sample); linear: ``log2(x + 1)``; log2: as given;
   natural log (``--scale ln``, e.g. scanpy's ``log1p``): divided by ln 2.
   qPCR panels must be declared, because Ct values look like log2 expression but run the other
   way: ``--scale dct`` (delta-Ct against the reference genes, lower = more) is scored as
   ``-dCt``, and ``--scale rq`` (relative quantities, 2^-ddCt) as ``log2(RQ)`` without a
   pseudocount, so that a fold change against the controls' median is exactly Rice's
   2^-ddCt ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ifnscope.errors import MatrixError
from ifnscope.signatures.genes import Match, clean_identifier, gene_table
from ifnscope.signatures.matrix import Matrix

Scale = Literal["counts", "linear", "log2", "ln", "dct", "rq"]
QPCR_SCALES = ("dct", "rq")
LINEAR_ABOVE = 30.0  # a log2 expression value above 30 would be a 10^9-fold range


@dataclass(frozen=True)
class ScaleInfo:
    scale: Scale
    detected: bool
    normalization: str

    def describe(self) -> str:
        how = "detected" if self.detected else "declared"
        return f"values {how} as {self.scale}; scored on {self.normalization}"


@dataclass(frozen=True)
class FeatureHit:
    feature: int
    identifier: str
    how: str  # symbol, previous, alias, ensembl, entrez, symbol_case


@dataclass
class Extracted:
    """Normalised log2 values (and ranks) of the target genes for every sample."""

    samples: np.ndarray
    symbols: list[str]
    found: dict[str, FeatureHit]
    duplicates: dict[str, list[FeatureHit]]
    log2: np.ndarray  # samples x symbols, float32, NaN where the gene was not found
    below: np.ndarray | None  # samples x symbols, int32: values strictly below (for ranks)
    n_features: int
    scale: ScaleInfo
    notes: list[str] = field(default_factory=list)

    def column(self, symbol: str) -> int:
        return self.symbols.index(symbol)


def detect_scale(values: np.ndarray) -> Scale:
    v = values[np.isfinite(values)]
    if v.size == 0:
        raise MatrixError("the matrix has no finite values", code="matrix.empty")
    if (v < 0).any():
        return "log2"
    if np.all(v == np.round(v)) and v.max() > 0:
        return "counts"
    return "linear" if v.max() > LINEAR_ABOVE else "log2"


def normalization_label(scale: Scale, kind: str) -> str:
    if scale == "counts":
        return "log2(CP10k+1)" if kind == "single_cell" else "log2(CPM+1)"
    return {
        "linear": "log2(x+1)",
        "log2": "log2 (as given)",
        "ln": "log2 (from natural log)",
        "dct": "-dCt (qPCR)",
        "rq": "log2(RQ) (qPCR)",
    }[scale]


def looks_like_ct(values: np.ndarray, n_features: int) -> bool:
    """A small panel of values between 10 and 45 with no zeros: probably Ct, not log2 expression."""
    v = values[np.isfinite(values)]
    return n_features <= 200 and v.size > 0 and bool((v >= 10).all() and (v <= 45).all())


def map_features(m: Matrix, symbols: list[str]) -> dict[str, list[FeatureHit]]:
    """Which matrix features are each target gene (by current symbol); several = duplicates."""
    table = gene_table()
    wanted = {table.by_symbol[s]: s for s in symbols if s in table.by_symbol}
    # identifiers that could denote a wanted gene, to avoid resolving every feature
    candidates: dict[str, int] = {}
    for entrez, sym in wanted.items():
        g = table.gene(entrez)
        for ident in (sym, str(entrez), *g.ensembl, *g.previous, *g.aliases):
            candidates.setdefault(ident, entrez)
            candidates.setdefault(ident.upper(), entrez)
    hits: dict[str, list[FeatureHit]] = {s: [] for s in symbols}
    taken: set[int] = set()
    for ids in m.feature_ids.values():  # primary identifier column first
        for i, raw in enumerate(ids):
            if i in taken:
                continue
            ident = clean_identifier(raw)
            key = ident.split(".")[0] if ident.startswith("ENSG") else ident
            if key not in candidates and key.upper() not in candidates:
                continue
            r = table.resolve(ident)
            if isinstance(r, Match) and r.entrez in wanted:
                hits[wanted[r.entrez]].append(FeatureHit(i, str(raw), r.how))
                taken.add(i)
    return hits


def extract(m: Matrix, symbols: list[str], *, want_ranks: bool, scale: Scale | None = None) -> Extracted:
    """One pass over the matrix for the target genes; see the module docstring for the rules."""
    m.start_prefetch()  # the disk read overlaps with gene mapping and kernel loading
    hits = map_features(m, symbols)
    cols = [h.feature for s in symbols for h in hits[s]]
    owner = [s for s in symbols for _ in hits[s]]
    detected = scale is None
    sample: np.ndarray | None = None
    if scale is None:
        sample = m.value_sample()
        sc = detect_scale(sample)
    else:
        sc = scale
    norm = normalization_label(sc, m.kind)
    n = m.n_samples
    res = m.run_pass(np.asarray(cols, dtype=np.int64), want_ranks and bool(cols))
    values = res.values.astype(np.float32, copy=False)
    if sc == "counts":
        factor = 1e4 if m.kind == "single_cell" else 1e6
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = values * (factor / res.lib)[:, None].astype(np.float32)
        scaled[~np.isfinite(scaled)] = 0.0
        logv = np.log2(scaled + 1.0, dtype=np.float32)
    elif sc == "linear":
        logv = np.log2(np.maximum(values, 0.0) + 1.0, dtype=np.float32)
    elif sc == "ln":
        logv = (values / math.log(2)).astype(np.float32)
    elif sc == "dct":
        logv = -values
    elif sc == "rq":
        with np.errstate(divide="ignore", invalid="ignore"):
            logv = np.log2(values).astype(np.float32)
        logv[~np.isfinite(logv)] = np.nan
    else:
        logv = values
    out = np.full((n, len(symbols)), np.nan, dtype=np.float32)
    below = np.zeros((n, len(symbols)), dtype=np.int32) if want_ranks else None
    found: dict[str, FeatureHit] = {}
    dups: dict[str, list[FeatureHit]] = {}
    col_of: dict[str, list[int]] = {}
    for j, (s, _) in enumerate(zip(owner, cols, strict=True)):
        col_of.setdefault(s, []).append(j)
    for k, s in enumerate(symbols):
        js = col_of.get(s, [])
        if not js:
            continue
        best = max(js, key=lambda j: (float(np.mean(logv[:, j])), -j)) if len(js) > 1 else js[0]
        out[:, k] = logv[:, best]
        if below is not None and res.below is not None:
            below[:, k] = res.below[:, best]
        ordered = list(hits[s])
        chosen = ordered[js.index(best)]
        found[s] = chosen
        if len(js) > 1:
            dups[s] = [h for h in ordered if h is not chosen]
    notes = []
    if sample is not None and sc in ("log2", "linear") and looks_like_ct(sample, m.n_features):
        notes.append(
            "the values look like qPCR Ct values (a small panel, all between 10 and 45); Ct runs the "
            "other way from expression: declare --scale dct (delta-Ct) or --scale rq (relative "
            "quantities) if so"
        )
    if dups:
        notes.append(
            "duplicate features for "
            + ", ".join(
                f"{s} (used {found[s].identifier}, dropped {', '.join(h.identifier for h in d)})"
                for s, d in dups.items()
            )
            + ": the feature with the highest mean expression is used"
        )
    return Extracted(
        samples=m.samples,
        symbols=list(symbols),
        found=found,
        duplicates=dups,
        log2=out,
        below=below,
        n_features=m.n_features,
        scale=ScaleInfo(sc, detected, norm),
        notes=notes,
    )
