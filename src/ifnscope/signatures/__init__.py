"""Published type I interferon gene signatures, scored on bulk or single-cell expression data.

Python API (the command line ``ifnscope score`` does the same)::

    from ifnscope import signatures as sig
    ref = sig.fit_reference("blood.tsv", controls="Buffer")          # once, then ref.save(...)
    run = sig.score("blood.tsv", ["rice6", "aybey_ifng"], reference=ref)
    run.to_frame()          # sample, signature, method, score, call, genes_found, genes_total
    sig.score(adata, "aybey_ifna", method="singscore")               # writes adata.obs["ifn_aybey_ifna"]

Every result says which genes were found, matched by another name or missing, which scale was
assumed, and where a high/low cut-off comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ifnscope.signatures.apply import DEFAULT_MIN_COVERAGE
from ifnscope.signatures.catalog import Signature, get_signature
from ifnscope.signatures.extract import Scale
from ifnscope.signatures.matrix import Matrix
from ifnscope.signatures.reference import FixedReference, load_reference, select_controls
from ifnscope.signatures.scoring import ScoreRun

__all__ = [
    "DEFAULT_MIN_COVERAGE",
    "FixedReference",
    "ScoreRun",
    "Signature",
    "fit_reference",
    "get_signature",
    "list_signatures",
    "load_reference",
    "read_expression",
    "score",
]


def list_signatures() -> list[Signature]:
    from ifnscope.signatures.catalog import signatures

    return list(signatures().values())


def read_expression(
    data: Any, *, annotations: str | Path | None = None, layer: str | None = None, prefetch: bool = False
) -> Matrix:
    """A path (text, folder, 10x, .h5ad), an AnnData object, or an already-read Matrix."""
    from ifnscope.signatures.adata import from_anndata
    from ifnscope.signatures.readers import read_path

    if isinstance(data, Matrix):
        return data
    if isinstance(data, (str, Path)):
        return read_path(data, annotations=annotations, prefetch=prefetch)
    if hasattr(data, "obs_names") and hasattr(data, "var_names"):
        return from_anndata(data, layer=layer)
    raise TypeError(f"cannot read expression data from {type(data).__name__}")


def fit_reference(
    data: Any,
    *,
    controls: str,
    annotations: str | Path | None = None,
    scale: Scale | None = None,
    layer: str | None = None,
) -> FixedReference:
    """Fit a fixed reference on the control samples (``controls``: a name pattern or COLUMN=VALUE)."""
    from ifnscope.signatures.reference import fit_reference as fit

    m = read_expression(data, annotations=annotations, layer=layer)
    return fit(m, select_controls(m, controls), rule=controls, scale=scale)


def score(
    data: Any,
    names: str | list[str],
    *,
    reference: FixedReference | str | Path | None = None,
    controls: str | None = None,
    annotations: str | Path | None = None,
    method: str | None = None,
    scale: Scale | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    layer: str | None = None,
    inplace: bool = True,
) -> ScoreRun:
    """Score signatures. With ``controls`` and no ``reference``, a reference is fitted on those samples.

    For an AnnData input, scores are also written to ``adata.obs`` (``ifn_<name>``) and the
    provenance to ``adata.uns['ifnscope']`` unless ``inplace=False``.
    """
    from ifnscope.signatures.catalog import all_gene_symbols
    from ifnscope.signatures.extract import extract
    from ifnscope.signatures.output import write_obs
    from ifnscope.signatures.reference import fit_reference as fit
    from ifnscope.signatures.scoring import score as run_score

    m = read_expression(data, annotations=annotations, layer=layer)
    ref = load_reference(reference) if isinstance(reference, (str, Path)) else reference
    ex = None
    if ref is None and controls is not None:  # one read of the data serves the fit and the scores
        ex = extract(m, all_gene_symbols(), want_ranks=method == "singscore", scale=scale)
        ref = fit(m, select_controls(m, controls), rule=controls, scale=scale, extracted=ex)
    run = run_score(
        m,
        [names] if isinstance(names, str) else list(names),
        method=method,
        reference=ref,
        scale=scale,
        min_coverage=min_coverage,
        extracted=ex,
    )
    if inplace and hasattr(data, "obs") and hasattr(data, "uns"):
        write_obs(run, data)
    return run
