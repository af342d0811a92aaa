"""Score signatures on a matrix: coverage, method, reference, threshold and call, per sample.

The result (:class:`ScoreRun`) keeps what a researcher needs to trust a number: the genes
found, aliased and missing, duplicates dropped, the scale assumed, the method and reference
used, and where the high/low cut-off comes from (the paper, the user's controls, or none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ifnscope.data import citation
from ifnscope.errors import ErrorCode, SignatureError
from ifnscope.signatures.apply import DEFAULT_MIN_COVERAGE, Coverage, coverage_of, score_extracted
from ifnscope.signatures.catalog import Signature, Threshold, expand
from ifnscope.signatures.extract import QPCR_SCALES, Extracted, Scale, extract
from ifnscope.signatures.matrix import Matrix
from ifnscope.signatures.methods import METHODS
from ifnscope.signatures.reference import FixedReference


@dataclass(frozen=True)
class Cutoff:
    value: float
    direction: Literal["above", "at_least"]
    kind: Literal["published", "reference_derived"]
    description: str
    caution: str | None = None

    @classmethod
    def published(cls, t: Threshold, caution: str | None = None) -> Cutoff:
        """The signature paper's cut-off, described with its citation."""
        return cls(t.value, t.direction, "published", f"{t.defined_as} ({citation(t.source.id)})", caution)

    def reached(self, scores: np.ndarray) -> np.ndarray:
        """Which scores are at or beyond the cut-off (False for NaN)."""
        return scores >= self.value if self.direction == "at_least" else scores > self.value


@dataclass(repr=False)
class SignatureScore:
    signature: Signature
    method: str
    scores: np.ndarray
    coverage: Coverage
    cutoff: Cutoff | None
    calls: np.ndarray | None  # "high"/"low" (or the level words of a module count)
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # a notebook cell shows this: no arrays
        called = "" if self.cutoff is None else f", {_n_high(self)} at or beyond the cut-off"
        return (
            f"<SignatureScore {self.signature.name}: {self.method}, {self.scores.size} samples, "
            f"{len(self.coverage.found)}/{self.coverage.total} genes{called}>"
        )


@dataclass(frozen=True)
class Failure:
    """A signature that could not be scored, and why (the error's stable code and message)."""

    signature: str
    code: ErrorCode
    message: str


@dataclass(repr=False)
class ScoreRun:
    samples: np.ndarray
    results: list[SignatureScore]
    scale: str
    matrix_notes: list[str]
    reference: dict[str, Any] | None
    extracted: Extracted  # the values scored (the heatmap draws them)
    # Signatures refused (coverage, method, scale...): one does not stop the others.
    failed: list[Failure] = field(default_factory=list)

    def __repr__(self) -> str:  # a notebook cell shows this, not every score
        failed = f"; not scored: {', '.join(f.signature for f in self.failed)}" if self.failed else ""
        names = ", ".join(r.signature.name for r in self.results)
        return f"<ScoreRun {self.samples.size} samples; {names}{failed}>"

    def to_frame(self) -> Any:
        """Long format: one row per sample and signature (what ``ifnscope score`` prints)."""
        import pandas as pd

        frames = []
        for r in self.results:
            frames.append(
                pd.DataFrame(
                    {
                        "sample": self.samples,
                        "signature": r.signature.name,
                        "method": r.method,
                        "score": r.scores,
                        "call": r.calls if r.calls is not None else "",
                        "genes_found": len(r.coverage.found),
                        "genes_total": r.coverage.total,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def to_wide(self, prefix: str = "ifn") -> Any:
        """Samples x signatures (``<prefix>_<signature>``, ``<prefix>_<signature>_call``).

        Calls are pandas Categoricals with ordered levels (``low`` < ``high``, or a module
        count's level words in count order) and NaN where no call was made, so that scanpy
        colours and groups them in that order and ``write_h5ad`` stores them.
        """
        import pandas as pd

        cols: dict[str, Any] = {}
        for r in self.results:
            cols[f"{prefix}_{r.signature.name}"] = np.asarray(r.scores, dtype=np.float64)
            if r.calls is not None:
                levels = r.signature.definition.levels
                cats = (
                    [levels[k] for k in sorted(levels, key=int)]
                    if r.method == "module_count" and levels
                    else ["low", "high"]
                )
                calls = [c if c in cats else None for c in r.calls.astype(str)]
                cols[f"{prefix}_{r.signature.name}_call"] = pd.Categorical(
                    calls, categories=cats, ordered=True
                )
        return pd.DataFrame(cols, index=pd.Index([str(s) for s in self.samples], name="sample"))

    def summary(self) -> list[dict[str, Any]]:
        """Per signature: method, coverage, cut-off provenance (JSON-friendly)."""
        out = []
        for r in self.results:
            d = r.signature.definition
            out.append(
                {
                    "signature": d.name,
                    "title": d.title,
                    "interferon_type": d.interferon_type,
                    "method": r.method,
                    "genes_found": len(r.coverage.found),
                    "genes_total": r.coverage.total,
                    "genes_aliased": r.coverage.aliased,
                    "genes_missing": r.coverage.missing,
                    "duplicates": r.coverage.duplicates,
                    "cutoff": None
                    if r.cutoff is None
                    else {
                        "value": r.cutoff.value,
                        "direction": r.cutoff.direction,
                        "kind": r.cutoff.kind,
                        "source": r.cutoff.description,
                        "caution": r.cutoff.caution,
                    },
                    "n_high": _n_high(r),
                    "source": citation(d.genes_source.id),
                    "notes": r.notes,
                }
            )
        return out


def _n_high(r: SignatureScore) -> int | None:
    """How many samples are at or beyond the cut-off (works for level words as well)."""
    if r.cutoff is None:
        return None
    return int(np.sum(r.cutoff.reached(r.scores) & np.isfinite(r.scores)))


SINGLE_CELL_CAUTION = (
    "this cut-off was set on {assay} ({what}); single cells are not such samples: a cell's "
    "values are sparse (many genes read 0 by chance), so the share of cells called high measures "
    "both signal and sampling depth; compare groups of cells, or pseudobulk before applying it"
)


def _cutoff(
    sig: Signature, method: str, ref: FixedReference | None, scale: str = "", kind: str = "bulk"
) -> Cutoff | None:
    d = sig.definition
    if d.threshold is not None and method == d.method:
        t = d.threshold
        caution = None
        if kind == "single_cell" and t.assay in ("qpcr", "array", "rnaseq"):
            return Cutoff.published(
                t, SINGLE_CELL_CAUTION.format(assay=t.assay_description, what="bulk samples")
            )
        if t.assay == "qpcr" and scale in QPCR_SCALES:
            caution = (
                f"the cut-off {t.value:g} was set on {t.assay_description}; it holds for this qPCR "
                "input only if the panel, the normalisation and the control calibration match"
            )
        elif t.assay == "qpcr":
            caution = (
                f"the cut-off {t.value:g} was set on {t.assay_description}; it does not transfer "
                "to array or RNA-seq data without recalibration against local controls"
            )
        return Cutoff.published(t, caution)
    stats = ref.scores.get(sig.name, {}).get(method) if ref is not None else None
    if stats is not None and stats.sd > 0:
        return Cutoff(
            stats.mean + 2 * stats.sd,
            "above",
            "reference_derived",
            f"mean + 2 SD of the {stats.n} reference controls' own scores (not a published cut-off)",
        )
    return None


# Measured on Kang 2018 PBMCs (docs/validation.md, bench/single_cell_cutoff.py): per-cell AUC
# of control vs IFN-beta cells.
COARSE_ON_SPARSE = (
    "{method} takes the median of {n} per-gene fold changes; in sparse single-cell data many of "
    "them are 0 in a given cell, so many cells tie and the score is coarse (Kang 2018 PBMCs, "
    "control vs IFN-beta: AUC 0.87 for rice6 median fold change vs 0.985 for singscore); "
    "consider --method singscore for per-cell scores"
)


def _calls(scores: np.ndarray, cut: Cutoff | None) -> np.ndarray | None:
    if cut is None:
        return None
    out = np.where(cut.reached(scores), "high", "low").astype(object)
    out[~np.isfinite(scores)] = ""
    return out


def choose_method(sig: Signature, method: str | None, ref: FixedReference | None) -> str:
    if method is not None:
        if method not in METHODS:
            raise SignatureError(
                f"unknown method {method!r}; known: {', '.join(METHODS)}", code="signature.unknown"
            )
        if METHODS[method].needs_reference and ref is None:
            raise SignatureError(
                f"method {method} compares with healthy controls and needs a fixed reference: give "
                "--reference FILE (from `ifnscope reference fit`) or --controls PATTERN",
                code="signature.needs-reference",
            )
        return method
    default = sig.definition.method
    if (default == "module_count" or METHODS[default].needs_reference) and ref is None:
        raise SignatureError(
            f"{sig.name}'s published score ({default.replace('_', ' ')}) compares each sample with "
            "healthy controls: give --reference FILE (fit once with `ifnscope reference fit`) or "
            "--controls PATTERN to use control samples in this matrix; or choose --method singscore "
            "for a rank score that needs no reference",
            code="signature.needs-reference",
        )
    return default


def score(
    m: Matrix,
    names: list[str],
    *,
    method: str | None = None,
    reference: FixedReference | None = None,
    scale: Scale | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    extracted: Extracted | None = None,
) -> ScoreRun:
    """Score the named signatures on matrix ``m`` (see ``ifnscope score``).

    ``extracted`` may hold values already read for these genes (with ranks when a rank method
    is used), e.g. by the reference fit of the same run; otherwise the matrix is read here.
    """
    sigs = expand(names)
    composite = [s.name for s in sigs if s.is_composite]
    if composite and method not in (None, "module_percent"):
        raise SignatureError(
            f"{', '.join(composite)} counts active modules from module_percent scores; it cannot be "
            f"computed with --method {method} (score its modules separately instead)",
            code="signature.method",
        )
    failed: list[Failure] = []
    plan: list[tuple[Signature, str]] = []
    for s in sigs:
        try:
            if s.is_composite:
                if reference is None:
                    raise SignatureError(
                        f"{s.name}: the module count compares each module with healthy controls: give "
                        "--reference or --controls",
                        code="signature.needs-reference",
                    )
                plan.append((s, "module_count"))
            else:
                plan.append((s, choose_method(s, method, reference)))
        except SignatureError as err:
            failed.append(_failure(s.name, err))
    if not plan:
        raise _none_scored(failed)
    symbols = sorted({g for s, _ in plan for g in s.symbols})
    want_ranks = any(mth == "singscore" for _, mth in plan)
    if (
        extracted is not None
        and set(symbols) <= set(extracted.symbols)
        and (extracted.below is not None or not want_ranks)
    ):
        ex = extracted
    else:
        ex = extract(m, symbols, want_ranks=want_ranks, scale=scale)
    if reference is not None:
        reference.check_compatible(ex, m.kind)
    results: list[SignatureScore] = []
    by_name: dict[str, SignatureScore] = {}
    for sig, mth in plan:
        try:
            r = (
                _module_count(sig, by_name, ex)
                if sig.is_composite
                else _score_one(sig, mth, ex, reference, m.kind, min_coverage)
            )
        except SignatureError as err:
            failed.append(_failure(sig.name, err))
            continue
        results.append(r)
        by_name[sig.name] = r
    if not results:
        raise _none_scored(failed)
    return ScoreRun(
        samples=ex.samples,
        results=results,
        scale=ex.scale.describe(),
        matrix_notes=[*m.notes, *ex.notes],
        reference=reference.describe() if reference is not None else None,
        extracted=ex,
        failed=failed,
    )


def _failure(name: str, err: SignatureError) -> Failure:
    return Failure(name, err.code, err.message)


def _none_scored(failed: list[Failure]) -> SignatureError:
    """No signature could be scored: one error that lists each and why."""
    if len(failed) == 1:
        return SignatureError(failed[0].message, code=failed[0].code)
    codes = {f.code for f in failed}
    code: ErrorCode = codes.pop() if len(codes) == 1 else "signature.error"
    return SignatureError(
        "no signature could be scored: " + "; ".join(f"{f.message} [{f.code}]" for f in failed),
        code=code,
    )


def _score_one(
    sig: Signature,
    mth: str,
    ex: Extracted,
    reference: FixedReference | None,
    kind: str,
    min_coverage: float,
) -> SignatureScore:
    cov = coverage_of(sig, ex)
    genes = reference.genes if reference is not None else None
    scores, left_out = score_extracted(ex, sig, mth, genes, min_coverage=min_coverage)
    cut = _cutoff(sig, mth, reference, ex.scale.scale, kind)
    notes = [f"left out of the score: {x}" for x in left_out]
    if mth != sig.definition.method:
        notes.append(f"scored with {mth}, not the published {sig.definition.method}")
    if cut is None and sig.definition.threshold_note:
        notes.append(" ".join(sig.definition.threshold_note.split()))
    if kind == "single_cell" and mth == "median_fold_change":
        notes.append(COARSE_ON_SPARSE.format(method=mth.replace("_", " "), n=len(cov.found)))
    unscored = ~np.isfinite(scores)
    if unscored.any():
        empty = ex.empty if ex.empty is not None else np.zeros(scores.size, dtype=bool)
        n_empty = int((unscored & empty).sum())
        n_missing = int((unscored & ~empty).sum())
        why = []
        if n_empty:
            why.append(f"{n_empty} empty")
        if n_missing:
            why.append(f"{n_missing} with a missing (NaN) value in the signature's genes")
        notes.append(
            f"{int(unscored.sum())} of {scores.size} samples have no score and no call ({'; '.join(why)})"
        )
    return SignatureScore(sig, mth, scores, cov, cut, _calls(scores, cut), notes)


def _module_count(sig: Signature, done: dict[str, SignatureScore], ex: Extracted) -> SignatureScore:
    d = sig.definition
    missing = [c for c in d.components if c not in done]
    if missing:
        raise SignatureError(
            f"{sig.name}: the module count needs every module scored; not scored: {', '.join(missing)}",
            code="signature.coverage",
        )
    parts = [done[c] for c in d.components]
    if any(p.method != "module_percent" for p in parts):
        raise SignatureError(
            "the module count needs each module scored with module_percent", code="signature.needs-reference"
        )
    active = np.stack([p.scores >= (d.active_at or 0) for p in parts], axis=1)
    count = active.sum(axis=1).astype(np.float64)
    count[~np.all(np.stack([np.isfinite(p.scores) for p in parts], axis=1), axis=1)] = np.nan
    levels = d.levels or {}
    calls = np.asarray([levels.get(str(int(c)), "") if c == c else "" for c in count], dtype=object)
    t = d.threshold
    cut = Cutoff.published(t) if t else None
    found = [g for p in parts for g in p.coverage.found]
    total = sum(p.coverage.total for p in parts)
    cov = Coverage(
        total,
        found,
        [a for p in parts for a in p.coverage.aliased],
        [m for p in parts for m in p.coverage.missing],
        [],
    )
    note = (
        "a module is counted active at a module score of at least "
        f"{d.active_at:g}: unverified for Chiche 2014 (the 15% cut-off of the same modular framework)"
    )
    return SignatureScore(sig, "module_count", count, cov, cut, calls, [note])
