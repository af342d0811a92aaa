"""One signature, one method, on extracted values: the coverage check and the method's input.

Both the scorer (``scoring.py``) and the reference fit (``reference.py``, which scores the
controls to derive a cut-off) need this step, so it sits below them both: it reads the
reference's per-gene statistics through :class:`GeneStatsLike` and imports neither module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ifnscope.errors import SignatureError
from ifnscope.signatures.catalog import Signature
from ifnscope.signatures.extract import Extracted
from ifnscope.signatures.methods import METHODS, MethodInput

DEFAULT_MIN_COVERAGE = 0.8  # ifnscope's default: score only when 80% of a signature's genes are found


class GeneStatsLike(Protocol):
    """The controls' statistics of one gene that a method reads (``reference.GeneStats``)."""

    @property
    def mean(self) -> float: ...
    @property
    def sd(self) -> float: ...
    @property
    def median(self) -> float: ...
    @property
    def linear_mean(self) -> float: ...


# How a data identifier was matched to a gene, in words (genes.Match.how).
_HOW = {
    "previous": "a previous symbol",
    "alias": "an alias",
    "ensembl": "Ensembl ID",
    "entrez": "Entrez ID",
    "symbol_case": "symbol in other case",
}


@dataclass(frozen=True)
class Coverage:
    total: int
    found: list[str]  # current symbols found
    aliased: list[str]  # "published -> identifier in the data (how)"
    missing: list[str]  # published identifiers not found
    duplicates: list[str]

    @property
    def fraction(self) -> float:
        return len(self.found) / self.total if self.total else 1.0


def coverage_of(sig: Signature, ex: Extracted) -> Coverage:
    found: list[str] = []
    aliased: list[str] = []
    missing: list[str] = []
    dups: list[str] = []
    for g in sig.genes:
        hit = ex.found.get(g.symbol) if g.symbol else None
        if g.symbol is None or hit is None:
            missing.append(g.published + (f" ({g.how})" if g.how.startswith("unresolved") else ""))
            continue
        found.append(g.symbol)
        if hit.identifier != g.published or g.how != "symbol":
            now = f" (now {g.symbol})" if g.symbol != g.published else ""
            how = "" if hit.how == "symbol" else f" ({_HOW.get(hit.how, hit.how)})"
            aliased.append(f"{g.published}{now} -> {hit.identifier} in the data{how}")
        if g.symbol in ex.duplicates:
            dups.append(f"{g.symbol}: dropped {', '.join(h.identifier for h in ex.duplicates[g.symbol])}")
    return Coverage(sig.size, found, aliased, missing, dups)


def method_input(
    sig: Signature,
    ex: Extracted,
    cov: Coverage,
    genes: Mapping[str, GeneStatsLike] | None,
    method: str,
) -> tuple[MethodInput, list[str]]:
    """The method's input, and the genes left out (with why) so the output can say so.

    ``genes`` holds the reference's statistics per gene (None: no reference).
    """
    used = list(cov.found)
    left_out: list[str] = []
    if genes is not None:
        no_stats = [g for g in used if g not in genes]
        if no_stats:
            left_out.append(f"{', '.join(no_stats)}: not in the reference")
            used = [g for g in used if g in genes]
        if method in ("mean_z", "standardized_sum"):
            flat = [g for g in used if genes[g].sd <= 0]
            if flat:
                left_out.append(
                    f"{', '.join(flat)}: did not vary among the reference controls, so a z-score is undefined"
                )
                used = [g for g in used if g not in flat]
    if not used:
        raise SignatureError(
            f"{sig.name}: no gene is usable ({'; '.join(left_out)})", code="signature.coverage"
        )
    cols = [ex.column(g) for g in used]
    x = ex.log2[:, cols].astype(np.float64)
    below = ex.below[:, cols] if ex.below is not None else None
    if genes is None:
        inp0 = MethodInput(
            x=x, below=below, n_features=ex.n_features, signature_size=sig.size, n_finite=ex.n_finite
        )
        return inp0, left_out
    stats = [genes[g] for g in used]

    def arr(attr: str) -> np.ndarray:
        return np.asarray([getattr(st, attr) for st in stats], dtype=np.float64)

    inp = MethodInput(
        x=x,
        mean=arr("mean"),
        sd=arr("sd"),
        median=arr("median"),
        linear_mean=arr("linear_mean"),
        below=below,
        n_features=ex.n_features,
        signature_size=sig.size,
        n_finite=ex.n_finite,
    )
    return inp, left_out


def score_extracted(
    ex: Extracted,
    sig: Signature,
    method: str,
    genes: Mapping[str, GeneStatsLike] | None,
    *,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> tuple[np.ndarray, list[str]]:
    """Scores of one (non-composite) signature with one method, and the genes left out.

    ``genes``: the fixed reference's statistics per gene, or None without a reference.
    """
    m = METHODS[method]
    cov = coverage_of(sig, ex)
    if not cov.found or cov.fraction < min_coverage:
        raise SignatureError(
            f"{sig.name}: only {len(cov.found)} of {cov.total} genes found "
            f"(minimum {min_coverage:.0%}); missing: {', '.join(cov.missing) or 'none'}",
            code="signature.coverage",
        )
    if method == "singscore" and ex.n_features <= sig.size:
        raise SignatureError(
            f"{sig.name}: a rank score ranks the signature's genes among all genes of a sample, but this "
            f"matrix has only {ex.n_features} genes (a targeted panel); use a reference-based method",
            code="signature.method",
        )
    if m.needs_reference and genes is None:
        raise SignatureError(
            f"{sig.name}: method {method} needs a fixed reference", code="signature.needs-reference"
        )
    if ex.zscored:
        raise SignatureError(zscored_message(sig.name, method), code="signature.scale")
    inp, left_out = method_input(sig, ex, cov, genes, method)
    scores = np.array(m.fn(inp), dtype=np.float64)
    # A sample missing a value of a gene used (or empty) has no score: the methods would read
    # a NaN as "not up" (module_percent) or rank it nowhere.
    scores[~np.isfinite(inp.x).all(axis=1)] = np.nan
    return scores, left_out


def zscored_message(name: str, method: str) -> str:
    """Why a z-scored matrix (``sc.pp.scale``) is refused, and what to give instead."""
    what = (
        "ranks a cell's genes by expression, but ranks of per-gene z-scores order genes by how far "
        "each deviates from its own mean across cells, which is not expression"
        if method == "singscore"
        else "compares expression levels with healthy controls, which z-scores no longer hold"
    )
    return (
        f"{name}: the values look z-scored per gene (mean 0, SD 1 across samples, negative values; "
        f"e.g. after sc.pp.scale); {method} {what}. Score the log-normalised data instead: "
        "use_raw=True (--use-raw) when adata.raw holds them, or a layer with log-normalised values "
        "(layer=... / --layer)"
    )
