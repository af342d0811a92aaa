"""Fixed references: fit on control samples once, save as a file, apply to any later sample.

A reference stores, for every gene of every packaged signature, the controls' mean, SD,
median (log2) and linear mean, and for every signature the distribution of the controls' own
scores (for a reference-derived cut-off at the control mean + 2 SD). It also records how the
data were normalised; applying it to data normalised differently is refused, because the
numbers would not mean the same thing.

Format ``ifnscope-reference/2`` also records the gene table and a hash of every signature's
gene list, because a reference outlives the ifnscope that fitted it: on load, a signature whose
genes changed since loses its reference-derived cut-off (its per-gene statistics still hold),
another gene table is a warning, and a format-1 file loads with a note that its versions are
unknown. ``docs/reference.schema.json`` is the file's JSON Schema.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from ifnscope import __version__
from ifnscope.errors import MatrixError, ReferenceFileError, SignatureError
from ifnscope.signatures.apply import score_extracted
from ifnscope.signatures.catalog import all_gene_symbols, signature_set_sha256, signatures
from ifnscope.signatures.extract import Extracted, Scale, extract
from ifnscope.signatures.genes import table_version
from ifnscope.signatures.matrix import Kind, Matrix

REFERENCE_FORMAT: Final = "ifnscope-reference/2"
FORMAT_V1: Final = "ifnscope-reference/1"  # before versions were recorded; still read
KNOWN_FORMATS: Final = (FORMAT_V1, REFERENCE_FORMAT)
MAX_NAMES = 200  # control names kept in the file (the count is always kept)
SCHEMA_PATH: Final = "docs/reference.schema.json"  # the committed JSON Schema of the file


class _Strict(BaseModel):
    """An unknown key is an error: a reference file is ifnscope's own output, so a key it
    does not know means a damaged file or another program's, never something to skip."""

    # NaN or infinity in a statistic would score every sample NaN (or divide by 0): a damaged file
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class GeneStats(_Strict):
    """Controls' statistics of one gene; x = normalised log2 expression."""

    n: int = Field(ge=1, description="Control samples with a finite value for this gene.")
    mean: float = Field(description="Mean of x over the controls (x = normalised log2 expression).")
    sd: float = Field(ge=0, description="Sample standard deviation (n - 1) of x over the controls.")
    median: float = Field(
        gt=0,
        description="Median of 2^x over the controls: the linear-scale median that a median fold "
        "change divides by (an RQ for qPCR input).",
    )
    linear_mean: float = Field(
        gt=-1,
        description="Mean of 2^x - 1 over the controls: the linear-scale reference mean of the "
        "BloodGen3 module score.",
    )


class ScoreStats(_Strict):
    """The controls' own scores of one signature with one method (a reference-derived cut-off)."""

    n: int = Field(ge=1, description="Controls with a finite score.")
    mean: float = Field(description="Mean of the controls' scores.")
    sd: float = Field(ge=0, description="Sample standard deviation (n - 1) of the controls' scores.")


Sha256 = Annotated[str, StringConstraints(pattern="^[0-9a-f]{64}$")]


class GeneTableRecord(_Strict):
    """Which gene table resolved the identifiers when the reference was fitted."""

    release: str = Field(description="The table's source release (its provenance line).")
    sha256: Sha256 = Field(description="SHA-256 of the decompressed table (genes/human_genes.tsv.gz).")


class FixedReference(_Strict):
    """Healthy controls' statistics that every later sample is scored against, alone.

    Not a literature citation (that is :class:`ifnscope.provenance.Reference`): this is the
    file ``ifnscope reference fit`` writes. ``docs/reference.schema.json`` is its JSON Schema,
    generated from this model (a test keeps them equal).
    """

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        title="ifnscope fixed reference",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "description": "A fixed reference written by `ifnscope reference fit`: healthy controls' "
            "per-gene statistics and score distributions, against which any later sample is scored "
            "alone. Format ifnscope-reference/2 records the gene table and each signature's gene "
            "list; files in format ifnscope-reference/1 have neither and are still read.",
            "if": {"properties": {"format": {"const": "ifnscope-reference/2"}}},
            "then": {
                "required": ["gene_table", "signature_genes", "signature_set"],
                "properties": {
                    "gene_table": {"type": "object"},
                    "signature_genes": {"type": "object"},
                    "signature_set": {"type": "string"},
                },
            },
        },
    )

    format: Literal["ifnscope-reference/1", "ifnscope-reference/2"] = Field(
        description="File format. ifnscope writes ifnscope-reference/2 and reads /1 as well "
        "(versions unknown); a later format is refused."
    )
    ifnscope_version: str = Field(
        default_factory=lambda: __version__, description="The ifnscope version that fitted it."
    )
    created: str = Field(description="When it was fitted (ISO 8601, UTC).")
    source: str = Field(description="File name of the matrix the controls came from.")
    kind: Kind = Field(description="bulk or single_cell: how counts were normalised.")
    scale: Scale = Field(
        description="The input scale (counts, linear, log2, ln, log = another recorded log base, dct, rq)."
    )
    normalization: str = Field(
        description="What the values were scored on, e.g. log2(CPM+1); data normalised otherwise are refused."
    )
    controls_rule: str = Field(description="How the controls were chosen (--controls).")
    n_controls: int = Field(ge=2, description="Number of control samples.")
    controls: list[str] = Field(description=f"Control sample names (at most the first {MAX_NAMES}).")
    genes: dict[str, GeneStats] = Field(
        description="Per gene (current HGNC symbol): the controls' statistics. Genes absent from "
        "the matrix are absent here."
    )
    scores: dict[str, dict[str, ScoreStats]] = Field(
        default_factory=dict,
        description="Per signature, per method: the distribution of the controls' own scores "
        "(a reference-derived cut-off at mean + 2 SD).",
    )
    gene_table: GeneTableRecord | None = Field(
        default=None,
        description="The gene table the reference was fitted with (null only in ifnscope-reference/1 "
        "files). Another table on load: a warning, as symbols may have been renamed.",
    )
    signature_genes: dict[str, Sha256] | None = Field(
        default=None,
        description="Per packaged signature: SHA-256 of its gene list as published (sorted). A "
        "signature whose list has changed since loses its reference-derived cut-off on load; "
        "per-gene statistics stay valid. Null only in ifnscope-reference/1 files.",
    )
    signature_set: Sha256 | None = Field(
        default=None,
        description="SHA-256 over every packaged signature file when the reference was fitted "
        "(informational; the per-signature hashes decide). Null only in ifnscope-reference/1 files.",
    )
    _notes: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _versions_in_v2(self) -> FixedReference:
        if self.format == REFERENCE_FORMAT:
            if self.gene_table is None or self.signature_genes is None or self.signature_set is None:
                raise ValueError(
                    f"an {REFERENCE_FORMAT} file records gene_table, signature_genes and signature_set"
                )
            unversioned = sorted(set(self.scores) - set(self.signature_genes))
            if unversioned:
                raise ValueError(f"score statistics without a signature version: {', '.join(unversioned)}")
        return self

    @property
    def notes(self) -> list[str]:
        """What loading found out about versions (shown with every score run that uses it)."""
        return list(self._notes)

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
            "format": self.format,
            "notes": self.notes,
        }


def reference_json_schema() -> dict[str, Any]:
    """The JSON Schema of the reference file (committed as docs/reference.schema.json)."""
    return FixedReference.model_json_schema()


def write_json_schema(path: str | Path = SCHEMA_PATH) -> None:
    """Regenerate the committed schema after changing the model."""
    Path(path).write_text(json.dumps(reference_json_schema(), indent=2) + "\n", encoding="utf-8")


def load_reference(path: str | Path, *, warn: bool = True) -> FixedReference:
    """Read a reference file and reconcile it with this ifnscope's gene table and signatures.

    ``warn``: also issue each note as a :class:`ReferenceVersionWarning` (the command line
    prints the notes itself).
    """
    p = Path(path)
    if not p.exists():
        raise ReferenceFileError("no such reference file", file=str(p), code="reference.not-found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ReferenceFileError(
            f"not a JSON reference file ({why})", file=str(p), code="reference.format"
        ) from None
    return reference_from_content(data, file=str(p), warn=warn)


class ReferenceVersionWarning(UserWarning):
    """A reference fitted with another gene table or other signature gene lists (see notes)."""


_FORMAT_RX = re.compile(r"^ifnscope-reference/(\d+)$")


def reference_from_content(data: Any, *, file: str | None = None, warn: bool = False) -> FixedReference:
    """Validate a reference's parsed JSON and reconcile its versions: the one path by which the
    command line, the Python API and the web API (saving and scoring) accept a reference.

    Refused (:class:`ReferenceFileError`): not an object or not this model (``reference.format``);
    a format newer than this ifnscope knows (``reference.version``). Accepted with notes: a
    format-1 file (versions unknown); another gene table; signatures whose gene lists changed
    (their reference-derived cut-offs are dropped), were removed, or were added since.
    """
    if not isinstance(data, dict):
        raise ReferenceFileError(
            "a reference file is a JSON object (write one with `ifnscope reference fit`)",
            file=file,
            code="reference.format",
        )
    fmt = data.get("format")
    m = _FORMAT_RX.match(fmt) if isinstance(fmt, str) else None
    if m and fmt not in KNOWN_FORMATS and int(m.group(1)) > 2:
        raise ReferenceFileError(
            f"the reference file is in format {fmt}, written by a newer ifnscope; this ifnscope "
            f"({__version__}) reads {' and '.join(KNOWN_FORMATS)}: upgrade ifnscope or refit the reference",
            file=file,
            code="reference.version",
        )
    try:
        ref = FixedReference.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "file"
        raise ReferenceFileError(
            f"not an {REFERENCE_FORMAT} file ({where}: {first['msg']}); expected the JSON that "
            f"`ifnscope reference fit` writes (schema: {SCHEMA_PATH})",
            file=file,
            code="reference.format",
        ) from None
    ref._notes = _reconcile(ref)
    if warn:
        for note in ref._notes:
            warnings.warn(note, ReferenceVersionWarning, stacklevel=3)
    return ref


def _reconcile(ref: FixedReference) -> list[str]:
    """Compare the reference's recorded versions with this ifnscope's; drop what no longer holds."""
    if ref.format == FORMAT_V1:
        return [
            f"the reference is in the older format {FORMAT_V1} (ifnscope {ref.ifnscope_version}), which "
            "did not record the gene table or the signatures' gene lists: whether they changed since "
            "is unknown; refit it to record them"
        ]
    assert ref.gene_table is not None  # the validator checked both
    assert ref.signature_genes is not None
    notes: list[str] = []
    table = table_version()
    if ref.gene_table.sha256 != table.sha256:
        notes.append(
            f"the reference was fitted with another gene table ({ref.gene_table.release}; this ifnscope "
            f"has {table.release}): symbols renamed since may be missing from it, and such genes are left "
            "out of the scores and named; refit the reference to be sure"
        )
    current = {name: sig.genes_sha256 for name, sig in signatures().items()}
    changed = sorted(n for n, h in ref.signature_genes.items() if n in current and current[n] != h)
    removed = sorted(n for n in ref.signature_genes if n not in current)
    added = sorted(n for n in current if n not in ref.signature_genes)
    for name in (*changed, *removed):
        ref.scores.pop(name, None)
    if changed:
        notes.append(
            f"{', '.join(changed)}: the gene list changed since the reference was fitted, so the controls' "
            "own scores no longer apply and no reference-derived cut-off is given; the per-gene "
            "statistics remain valid (genes added since are left out and named)"
        )
    if removed:
        notes.append(f"{', '.join(removed)}: in the reference but no longer packaged (ignored)")
    if added:
        notes.append(
            f"{', '.join(added)}: packaged after the reference was fitted: no reference-derived "
            "cut-off; genes the reference lacks are left out and named"
        )
    return notes


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
    symbols = all_gene_symbols()
    ex = extracted if extracted is not None else extract(m, symbols, want_ranks=False, scale=scale)
    if ex.symbols != symbols:
        raise ValueError("fit_reference: `extracted` must hold every packaged signature gene")
    if ex.zscored:  # per-gene z-scores have no expression level to describe healthy controls by
        raise SignatureError(
            "the data look z-scored per gene (sc.pp.scale: every gene centred at 0 with SD 1), so "
            "the controls' expression levels cannot be fitted; fit on log-normalised or count "
            "data (use_raw=True / --use-raw, or a layer)",
            code="signature.scale",
        )
    matched = int(controls.sum())
    controls = controls & ex.usable()  # an empty control sample says nothing about health
    n_ctrl = int(controls.sum())
    if n_ctrl < 2:
        raise MatrixError(
            f"a reference needs at least 2 control samples with values; {matched} matched {rule!r}"
            + (f", of which {matched - n_ctrl} are empty" if matched > n_ctrl else ""),
            code="matrix.controls",
        )
    genes: dict[str, GeneStats] = {}
    xc = ex.log2[controls].astype(np.float64)
    for k, s in enumerate(symbols):
        col = xc[:, k]
        col = col[np.isfinite(col)]  # a qPCR RQ of 0 (undetected) has no log; never write NaN
        if col.size < 2:  # a gene missing (NaN) in all but one control has no statistics
            continue
        genes[s] = GeneStats(
            n=int(col.size),
            mean=float(col.mean()),
            sd=float(col.std(ddof=1)),
            median=float(np.median(np.exp2(col))),
            linear_mean=float((np.exp2(col) - 1).mean()),
        )
    table = table_version()
    ref = FixedReference(
        format=REFERENCE_FORMAT,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=Path(m.source).name,
        kind=m.kind,
        scale=ex.scale.scale,
        normalization=ex.scale.normalization,
        controls_rule=rule,
        n_controls=n_ctrl,
        controls=[str(s) for s in m.samples[controls][:MAX_NAMES]],
        genes=genes,
        gene_table=GeneTableRecord(release=table.release, sha256=table.sha256),
        signature_genes={name: sig.genes_sha256 for name, sig in signatures().items()},
        signature_set=signature_set_sha256(),
    )
    if matched > n_ctrl:
        ref._notes.append(
            f"{matched - n_ctrl} of the {matched} samples matching {rule!r} are empty (no values) "
            "and were left out of the fit"
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
