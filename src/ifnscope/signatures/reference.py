"""Fixed references: fit on control samples once, save as a file, apply to any later sample.

A reference stores, for every gene of every packaged signature, the controls' mean, SD,
median (log2) and linear mean, and for every signature the distribution of the controls' own
scores (for a reference-derived cut-off at the control mean + 2 SD). It also records how the
data were normalised; applying it to data normalised differently is refused, because the
numbers would not mean the same thing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from ifnscope import __version__
from ifnscope.errors import MatrixError, ReferenceFileError, SignatureError
from ifnscope.signatures.apply import score_extracted
from ifnscope.signatures.catalog import all_gene_symbols, signatures
from ifnscope.signatures.extract import Extracted, Scale, extract
from ifnscope.signatures.matrix import Kind, Matrix

REFERENCE_FORMAT: Final = "ifnscope-reference/1"
MAX_NAMES = 200  # control names kept in the file (the count is always kept)


class GeneStats(BaseModel):
    """Controls' statistics of one gene; x = normalised log2 expression."""

    n: int
    mean: float  # of x
    sd: float  # of x
    median: float  # of 2^x: the controls' median on the linear scale (an RQ for qPCR input)
    linear_mean: float  # of 2^x - 1


class ScoreStats(BaseModel):
    n: int
    mean: float
    sd: float


class FixedReference(BaseModel):
    """Healthy controls' statistics that every later sample is scored against, alone.

    Not a literature citation (that is :class:`ifnscope.provenance.Reference`): this is the
    file ``ifnscope reference fit`` writes.
    """

    format: Literal["ifnscope-reference/1"] = REFERENCE_FORMAT
    ifnscope_version: str = __version__
    created: str
    source: str
    kind: Kind
    scale: str
    normalization: str
    controls_rule: str
    n_controls: int
    controls: list[str]
    genes: dict[str, GeneStats]
    scores: dict[str, dict[str, ScoreStats]] = Field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        """Write atomically: a half-written reference must never replace a good one."""
        p = Path(path)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(indent=1), encoding="utf-8")
        tmp.replace(p)

    def check_compatible(self, ex: Extracted, kind: str) -> None:
        if ex.scale.normalization != self.normalization or kind != self.kind:
            raise ReferenceFileError(
                f"the reference was fitted on {self.kind} data scored on {self.normalization}, but this "
                f"input is {kind} data scored on {ex.scale.normalization}; fit a reference on data "
                "prepared the same way (or declare the scale with --scale)",
                code="reference.incompatible",
            )

    def describe(self) -> dict[str, Any]:
        """Where the reference comes from, as a score run reports it."""
        return {
            "source": self.source,
            "controls": self.n_controls,
            "rule": self.controls_rule,
            "normalization": self.normalization,
            "created": self.created,
        }


def load_reference(path: str | Path) -> FixedReference:
    p = Path(path)
    if not p.exists():
        raise ReferenceFileError("no such reference file", file=str(p), code="reference.not-found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReferenceFileError(
            f"not a JSON reference file ({exc})", file=str(p), code="reference.format"
        ) from None
    try:
        return FixedReference.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ReferenceFileError(
            f"not an {REFERENCE_FORMAT} file ({where}: {first['msg']})", file=str(p), code="reference.format"
        ) from None


def select_controls(m: Matrix, spec: str) -> np.ndarray:
    """A boolean mask of control samples: ``COLUMN=VALUE`` on annotations, else a regex on names."""
    if "=" in spec:
        column, value = (x.strip() for x in spec.split("=", 1))
        ann = m.annotations
        if ann is None or column not in ann.columns:
            have = ", ".join(ann.columns) if ann is not None and ann.columns else "none"
            raise MatrixError(
                f"no sample annotation column {column!r} (annotation columns: {have}); "
                "give --annotations FILE or use a pattern on sample names",
                code="matrix.controls",
            )
        col = ann.column(column)
        mask = col == value
        if not mask.any():
            values = ", ".join(sorted({str(v) for v in col})[:10])
            raise MatrixError(
                f"no sample has {column} = {value!r} (values: {values})", code="matrix.controls"
            )
        return np.asarray(mask, dtype=bool)
    try:
        rx = re.compile(spec, re.IGNORECASE)
    except re.error as exc:
        raise MatrixError(
            f"--controls {spec!r} is not a valid pattern: {exc}", code="matrix.controls"
        ) from None
    mask = np.fromiter((bool(rx.search(str(s))) for s in m.samples), dtype=bool, count=m.n_samples)
    if not mask.any():
        examples = ", ".join(str(s) for s in m.samples[:5])
        raise MatrixError(
            f"no sample name matches {spec!r} (names look like: {examples})", code="matrix.controls"
        )
    return mask


def fit_reference(
    m: Matrix,
    controls: np.ndarray,
    *,
    rule: str,
    scale: Scale | None = None,
    extracted: Extracted | None = None,
) -> FixedReference:
    """Fit a reference on the control samples of ``m`` (a boolean mask).

    ``extracted`` (every packaged signature gene, from ``extract``) lets a caller that will also
    score the same matrix read it once for both.
    """
    n_ctrl = int(controls.sum())
    if n_ctrl < 2:
        raise MatrixError(
            f"a reference needs at least 2 control samples; {n_ctrl} matched {rule!r}", code="matrix.controls"
        )
    symbols = all_gene_symbols()
    ex = extracted if extracted is not None else extract(m, symbols, want_ranks=False, scale=scale)
    if ex.symbols != symbols:
        raise ValueError("fit_reference: `extracted` must hold every packaged signature gene")
    genes: dict[str, GeneStats] = {}
    xc = ex.log2[controls].astype(np.float64)
    for k, s in enumerate(symbols):
        col = xc[:, k]
        if np.isnan(col).all():
            continue
        genes[s] = GeneStats(
            n=n_ctrl,
            mean=float(col.mean()),
            sd=float(col.std(ddof=1)),
            median=float(np.median(np.exp2(col))),
            linear_mean=float((np.exp2(col) - 1).mean()),
        )
    ref = FixedReference(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=Path(m.source).name,
        kind=m.kind,
        scale=ex.scale.scale,
        normalization=ex.scale.normalization,
        controls_rule=rule,
        n_controls=n_ctrl,
        controls=[str(s) for s in m.samples[controls][:MAX_NAMES]],
        genes=genes,
    )
    # the controls' own score distribution, for reference-derived cut-offs
    ctrl_ex = _subset(ex, controls)
    for sig in signatures().values():
        if sig.is_composite:
            continue
        stats: dict[str, ScoreStats] = {}
        for method in ("median_fold_change", "standardized_sum", "mean_z", "module_percent"):
            try:
                scores, _ = score_extracted(ctrl_ex, sig, method, ref.genes, min_coverage=0.0)
            except SignatureError:  # a signature with no gene in this data simply has no stats
                continue
            v = scores[np.isfinite(scores)]
            if v.size >= 2:
                stats[method] = ScoreStats(n=int(v.size), mean=float(v.mean()), sd=float(v.std(ddof=1)))
        if stats:
            ref.scores[sig.name] = stats
    return ref


def _subset(ex: Extracted, mask: np.ndarray) -> Extracted:
    return ex.subset(mask)
