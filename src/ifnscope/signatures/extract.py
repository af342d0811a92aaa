"""From a matrix to the few numbers a score needs: signature genes, normalised, per sample.

Steps, each reported in the output:

1. **Gene mapping.** Each feature identifier is matched to the signature genes through the
   offline gene table (current symbol, previous symbol, alias, Ensembl with or without
   version, Entrez). A previous symbol or alias is used only when it is unambiguous.
2. **Duplicates.** When several features map to one gene (``DDX58`` and ``RIGI`` rows, two
   probes), the feature with the highest mean normalised expression is used and the others
   are reported as dropped.
3. **Scale.** Declared by ``--scale``; else what the producer recorded (``Matrix.log_base``,
   from scanpy's ``uns["log1p"]``: values are log_b(x+1), b = e when scanpy's base is None);
   else detected from the values: non-negative integers are *counts*; non-negative values
   above 30 are *linear* (already normalised); anything else is *log2*. A declared scale that
   disagrees with the recorded base wins, with a note.
4. **Normalisation.** Counts: ``log2(CPM + 1)`` for bulk, ``log2(CP10k + 1)`` for single
   cells (library size = all genes of the sample); linear: ``log2(x + 1)``; log2: as given;
   log_b(x+1) (``--scale ln``, or any recorded base b): multiplied by log2(b).
   qPCR panels must be declared, because Ct values look like log2 expression but run the other
   way: ``--scale dct`` (delta-Ct against the reference genes, lower = more) is scored as
   ``-dCt`` and ranked on ``-dCt`` (a dense table only: in a sparse one an unstored value would
   mean dCt 0), and ``--scale rq`` (relative quantities, 2^-ddCt) as ``log2(RQ)`` without a
   pseudocount, so that a fold change against the controls' median is exactly Rice's
   2^-ddCt ratio.
5. **What cannot be scored.** An empty sample (no value, or all 0) gets NaN, as does a sample
   missing (NaN) a gene a score uses (``apply.py``); a missing value elsewhere is left out of
   that sample's ranks. Per-gene z-scores (``sc.pp.scale``) are flagged (``zscored``) and
   refused by every method: they hold neither expression levels nor expression ranks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ifnscope.errors import MatrixError
from ifnscope.signatures.genes import Match, clean_identifier, gene_table, mouse_evidence
from ifnscope.signatures.matrix import CsrMatrix, DenseMatrix, Matrix

Scale = Literal["counts", "linear", "log2", "ln", "log", "dct", "rq"]
QPCR_SCALES = ("dct", "rq")
LINEAR_ABOVE = 30.0  # a log2 expression value above 30 would be a 10^9-fold range
# Rows read to tell z-scores (sc.pp.scale) from expression: enough for mean and SD to +-0.01.
ZSCORE_ROWS = 20_000


@dataclass(frozen=True)
class ScaleInfo:
    scale: Scale
    detected: bool
    normalization: str
    # log_b(x+1) data: the base b and where it was recorded (scanpy's uns['log1p'])
    log_base: float | None = None
    base_source: str = ""

    def describe(self) -> str:
        if self.base_source and self.log_base is not None:
            b = _base_word(self.log_base)
            by = (
                self.base_source
                if self.base_source.startswith("detected")
                else f"declared by {self.base_source}"
            )
            return (
                f"values {by} as log_{b}(x+1); converted to log2(x+1) "
                f"(x log2({b}) = {math.log2(self.log_base):.4g}); scored on {self.normalization}"
            )
        how = "detected" if self.detected else "declared"
        return f"values {how} as {self.scale}; scored on {self.normalization}"


def _base_word(b: float) -> str:
    return "e" if math.isclose(b, math.e) else f"{b:g}"


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
    log2: np.ndarray  # samples x symbols, float32, NaN where the gene was not found (or missing)
    below: np.ndarray | None  # samples x symbols, int32: values strictly below (for ranks)
    n_features: int
    scale: ScaleInfo
    notes: list[str] = field(default_factory=list)
    # Per sample: empty (no value or all zero); such samples' rows of ``log2`` are NaN.
    empty: np.ndarray | None = None
    # Per sample: genes with a finite value (the N of a rank score; -1: unknown, no rank score),
    # when some value is NaN.
    n_finite: np.ndarray | None = None
    # The target genes look z-scored per gene (sc.pp.scale): no expression levels left.
    zscored: bool = False

    def column(self, symbol: str) -> int:
        return self.symbols.index(symbol)

    def subset(self, mask: np.ndarray) -> Extracted:
        """The same extraction for some samples only (e.g. a reference's controls)."""
        from dataclasses import replace

        return replace(
            self,
            samples=self.samples[mask],
            log2=self.log2[mask],
            below=self.below[mask] if self.below is not None else None,
            empty=self.empty[mask] if self.empty is not None else None,
            n_finite=self.n_finite[mask] if self.n_finite is not None else None,
        )

    def usable(self) -> np.ndarray:
        """Samples that can be scored at all (not empty, not every target value missing); a
        reference must fit on these only, and per gene on finite values only."""
        ok = np.ones(self.samples.size, dtype=bool)
        if self.empty is not None:
            ok &= ~self.empty
        if self.log2.shape[1]:  # a blank sample (every value missing) is as empty as a zero one
            ok &= np.isfinite(self.log2).any(axis=1)
        return ok


def detect_scale(values: np.ndarray) -> Scale:
    v = values[np.isfinite(values)]
    if v.size == 0:
        raise MatrixError("the matrix has no finite values", code="matrix.empty")
    if (v < 0).any():
        return "log2"
    if np.all(v == np.round(v)) and v.max() > 0:
        return "counts"
    return "linear" if v.max() > LINEAR_ABOVE else "log2"


def looks_zscored(values: np.ndarray) -> bool:
    """Per-gene z-scores (scanpy's ``sc.pp.scale``): negative values, and most target genes with
    mean 0 and SD 1 across samples.

    Decided on the target genes' columns across samples (what the pass read). Log2 expression
    (array or RNA-seq) has gene means of 2-15; delta-Ct means sit far from 0 or vary with SDs
    unrelated to 1; only centring *and* scaling makes both hold for most genes at once. The
    tolerances allow scanpy's ``max_value`` clipping (which shifts a rare gene's mean and SD).
    Needs at least 10 samples and 3 varying genes; fewer cannot show it.
    """
    if values.ndim != 2 or values.shape[0] < 10 or not bool((values < 0).any()):  # NaN < 0 is False
        return False
    rows = values.shape[0]  # a million cells: 20,000 of them tell mean and SD to +-0.01
    pick = np.random.default_rng(0).choice(rows, ZSCORE_ROWS, replace=False) if rows > ZSCORE_ROWS else None
    v = np.asarray(values[np.sort(pick)] if pick is not None else values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(v, axis=0)
        sd = np.nanstd(v, axis=0, ddof=1)
    varying = np.isfinite(sd) & (sd > 0)
    if varying.sum() < 3:
        return False
    fits = (np.abs(mean[varying]) < 0.1) & (sd[varying] > 0.75) & (sd[varying] < 1.1)
    return bool(fits.mean() >= 0.8)


def normalization_label(scale: Scale, kind: str, log_base: float | None = None) -> str:
    if scale == "counts":
        return "log2(CP10k+1)" if kind == "single_cell" else "log2(CPM+1)"
    if scale == "log":
        b = _base_word(log_base or math.e)
        return f"log2 (from log base {b})"
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


def _declared_scale(base: float) -> Scale:
    """The scale of log_b(x+1) values recorded with base ``base``."""
    if math.isclose(base, 2.0):
        return "log2"
    if math.isclose(base, math.e):
        return "ln"
    return "log"


def _check_recorded_base(values: np.ndarray, base: float, where: str) -> None:
    """Refuse a recorded log base that the values contradict.

    scanpy keeps ``uns["log1p"]`` when ``adata.X`` is later replaced (e.g. by
    ``layers["counts"]``): read as log_b(x+1), counts would become astronomically large values.
    Log values above 30 (a 10^13-fold range at base e) or only whole numbers are counts.
    """
    v = values[np.isfinite(values) & (values != 0)]
    if v.size == 0:
        return
    top = float(v.max())
    whole = v.size >= 100 and bool(np.all(v == np.round(v)))
    if top > LINEAR_ABOVE or whole:
        what = f"values up to {top:g}" if top > LINEAR_ABOVE else "only whole numbers"
        raise MatrixError(
            f"{where or 'the file'} records log_{_base_word(base)}(x+1) values, but the data hold {what}, "
            "which are counts or linear values (was adata.X replaced after sc.pp.log1p?); give the "
            "layer with the log values, or declare --scale counts / --scale linear",
            code="matrix.scale",
        )


def _agrees(user: Scale, base: float) -> bool:
    return user == _declared_scale(base)


# Features that may denote one gene before a matrix is refused (matrix.too-large): arrays
# carry up to a few dozen probes per gene; a million rows of one identifier is a broken or
# hostile table, whose duplicates would each have to be read to pick the highest.
MAX_FEATURES_PER_GENE = 1000


# Above this many features, distinct identifiers are found by hashing (pandas.factorize);
# below, by numpy's sort of fixed-width strings, which spares importing pandas (0.2 s) for a
# 10x folder or an .h5ad.
FACTORIZE_HASH_ABOVE = 1_000_000


def _factorize(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes (one per feature, index into the distinct identifiers) and the distinct ones."""
    arr = np.asarray(ids, dtype=object)
    if arr.size > FACTORIZE_HASH_ABOVE:
        import pandas as pd

        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)
    uniques, codes = np.unique(arr.astype(str), return_inverse=True)
    return np.asarray(codes, dtype=np.int64).ravel(), uniques.astype(object)


def map_features(
    m: Matrix, symbols: list[str], notes: list[str] | None = None
) -> dict[str, list[FeatureHit]]:
    """Which matrix features are each target gene (by current symbol); several = duplicates.

    Each distinct identifier is resolved once (:func:`_factorize`), then its
    features are found in one vectorised pass: a table of 30 million rows of one gene costs one
    resolution, not 30 million. A title-case identifier that matches a human symbol only
    case-insensitively (``Ifi27``, mouse style) is not used; ``notes`` receives why.
    """
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
    taken = np.zeros(m.n_features, dtype=bool)
    mouse_like: list[str] = []
    for ids in m.feature_ids.values():  # primary identifier column first
        codes, uniques = _factorize(ids)
        found: dict[int, tuple[str, str, str]] = {}  # code -> (symbol, how, raw)
        for code, raw in enumerate(uniques):
            ident = clean_identifier(raw)
            key = ident.split(".")[0] if ident.startswith("ENSG") else ident
            if key not in candidates and key.upper() not in candidates:
                continue
            r = table.resolve(ident)
            if isinstance(r, Match) and r.entrez in wanted:
                if r.how == "symbol_case" and mouse_evidence(ident, table):
                    mouse_like.append(f"{ident} (~{wanted[r.entrez]})")
                    continue
                found[code] = (wanted[r.entrez], r.how, str(raw))
        if not found:
            continue
        start = {sym: len(h) for sym, h in hits.items()}
        want_codes = np.fromiter(found, dtype=np.int64, count=len(found))
        rows = np.flatnonzero(np.isin(codes, want_codes) & ~taken)
        row_codes = codes[rows]
        order = np.argsort(row_codes, kind="stable")
        bounds = np.searchsorted(row_codes[order], want_codes)
        ends = np.searchsorted(row_codes[order], want_codes, side="right")
        for code, lo, hi in zip(want_codes.tolist(), bounds.tolist(), ends.tolist(), strict=True):
            sym, how, raw = found[code]
            n_more = hi - lo
            if len(hits[sym]) + n_more > MAX_FEATURES_PER_GENE:
                raise MatrixError(
                    f"{len(hits[sym]) + n_more:,} features of the matrix are {sym} ('{raw}' and "
                    f"others), over the cap of {MAX_FEATURES_PER_GENE:,} per gene: a table "
                    "repeating one identifier this often is broken (each duplicate would have to "
                    "be read to choose one); remove the duplicate rows",
                    code="matrix.too-large",
                )
            hits[sym].extend(FeatureHit(i, raw, how) for i in rows[order[lo:hi]].tolist())
        taken[rows] = True
        for sym, h in hits.items():  # this column's hits in feature order (first of equals wins)
            h[start[sym] :] = sorted(h[start[sym] :], key=lambda x: x.feature)
    if mouse_like and notes is not None:
        notes.append(
            f"{len(mouse_like)} identifier(s) written in mouse style match a human symbol only in "
            f"another case and were not used: {', '.join(mouse_like[:10])}"
            + (" ..." if len(mouse_like) > 10 else "")
        )
    return hits


def _negated(m: Matrix) -> Matrix:
    """A delta-Ct table with its values negated, so that ranks run with expression.

    Only a dense matrix: a sparse one has implicit zeros, which as delta-Ct would mean "as
    expressed as the reference genes" (a qPCR table is never sparse; refused before this).
    """
    from dataclasses import replace

    assert isinstance(m, DenseMatrix)
    return replace(m, x=np.negative(m.x))


def _mean_or_low(col: np.ndarray) -> float:
    """A feature's mean over the samples that have it (-inf when none does)."""
    v = col[np.isfinite(col)]
    return float(v.mean()) if v.size else -math.inf


def _finite_per_sample(m: Matrix, nan_rows: np.ndarray) -> np.ndarray:
    """Genes with a finite value in each sample; -1 for a sample with a missing value when the
    matrix cannot count them cheaply (an .h5ad streamed from disk): its rank score is NaN."""
    if isinstance(m, DenseMatrix):
        return np.asarray(np.isfinite(m.x).sum(axis=1), dtype=np.int64)
    if isinstance(m, CsrMatrix):
        X = m.csr
        bad = ~np.isfinite(X.data)
        row_of = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        return np.asarray(m.n_features - np.bincount(row_of[bad], minlength=X.shape[0]), dtype=np.int64)
    return np.where(nan_rows, -1, m.n_features).astype(np.int64)


def extract(m: Matrix, symbols: list[str], *, want_ranks: bool, scale: Scale | None = None) -> Extracted:
    """One pass over the matrix for the target genes; see the module docstring for the rules."""
    notes: list[str] = []
    base = m.log_base
    if scale is not None and base is not None and not _agrees(scale, base):
        notes.append(
            f"--scale {scale} overrides {m.log_base_source or 'the recorded log base'}, which declares "
            f"log_{_base_word(base)}(x+1) values; the declared scale would score differently"
        )
    if scale in QPCR_SCALES and not isinstance(m, DenseMatrix):
        raise MatrixError(
            f"--scale {scale}: qPCR values in a sparse matrix cannot be read (a value not stored "
            "would mean dCt 0, as expressed as the reference genes); give the qPCR table as a "
            "delimited text file",
            code="matrix.scale",
        )
    m.start_prefetch()  # the disk read overlaps with gene mapping and kernel loading
    hits = map_features(m, symbols, notes)
    cols = [h.feature for s in symbols for h in hits[s]]
    owner = [s for s in symbols for _ in hits[s]]
    detected = scale is None and base is None
    sample: np.ndarray | None = None
    from_base = scale is None and base is not None
    if scale is not None:
        sc = scale
    elif base is not None:
        sc = _declared_scale(base)
        _check_recorded_base(m.value_sample(), base, m.log_base_source)
    else:
        sample = m.value_sample()
        sc = detect_scale(sample)
    log_base = base if from_base else (math.e if sc == "ln" else None)
    norm = normalization_label(sc, m.kind, log_base)
    n = m.n_samples
    col_arr = np.asarray(cols, dtype=np.int64)
    ranks = want_ranks and bool(cols)
    res = m.run_pass(col_arr, ranks)
    values = res.values.astype(np.float32, copy=False)
    below_src = res.below
    if sc == "dct" and ranks:  # ranks on expression (-dCt), not on dCt: lower dCt = more RNA
        below_src = _negated(m).run_pass(col_arr, True).below
    lib = res.lib
    # Empty samples: no value at all, or all zero. They score like a sample with every gene
    # unexpressed unless refused here; a blank or failed sample has no score.
    empty = (lib == 0) & np.all(values == 0, axis=1)
    nan_rows = ~np.isfinite(lib)  # a NaN (or infinity) somewhere in the sample
    if sc == "counts":
        factor = 1e4 if m.kind == "single_cell" else 1e6
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = values * (factor / lib)[:, None].astype(np.float32)
        logv = np.log2(scaled + 1.0, dtype=np.float32)  # no library size: NaN, not 0
    elif sc == "linear":
        with np.errstate(invalid="ignore"):
            logv = np.log2(np.where(values < 0, 0.0, values) + 1.0, dtype=np.float32)
    elif sc in ("ln", "log"):
        b = log_base if log_base is not None else math.e
        logv = (values * math.log2(b)).astype(np.float32)
    elif sc == "dct":
        logv = -values
    elif sc == "rq":
        with np.errstate(divide="ignore", invalid="ignore"):
            logv = np.log2(values).astype(np.float32)
        logv[~np.isfinite(logv)] = np.nan
    else:
        logv = values
    logv = np.where(np.isfinite(logv), logv, np.float32(np.nan)).astype(np.float32, copy=False)
    logv[empty] = np.nan
    zscored = sc not in QPCR_SCALES and looks_zscored(values)
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
        best = max(js, key=lambda j: (_mean_or_low(logv[:, j]), -j)) if len(js) > 1 else js[0]
        out[:, k] = logv[:, best]
        if below is not None and below_src is not None:
            below[:, k] = below_src[:, best]
        ordered = list(hits[s])
        chosen = ordered[js.index(best)]
        found[s] = chosen
        if len(js) > 1:
            dups[s] = [h for h in ordered if h is not chosen]
    n_finite: np.ndarray | None = None
    if nan_rows.any():
        n_finite = _finite_per_sample(m, nan_rows)
        counted = bool((n_finite >= 0).all())
        notes.append(
            f"{int(nan_rows.sum())} of {n} samples have missing (NaN) or infinite values: a sample "
            "missing a signature gene gets no score for that signature"
            + (
                "; for rank scores, the other missing values are left out of the sample's ranking "
                "(N = the genes it has)"
                if counted
                else "; their rank scores are not computed (this matrix cannot count them per sample)"
            )
            + (f"; counts: no library size for {int(nan_rows.sum())} samples" if sc == "counts" else "")
        )
    if empty.any():
        names = ", ".join(str(x) for x in m.samples[empty][:5]) + (" ..." if empty.sum() > 5 else "")
        notes.append(
            f"{int(empty.sum())} of {n} samples are empty (no value, or every value 0): no score "
            f"and no call for them ({names})"
        )
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
        scale=ScaleInfo(
            sc, detected, norm, log_base, (m.log_base_source or "a recorded log base") if from_base else ""
        ),
        notes=notes,
        empty=empty,
        n_finite=n_finite,
        zscored=zscored,
    )
