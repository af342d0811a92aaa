"""Published type I interferon gene signatures, scored on bulk or single-cell expression data.

Python API (the command line ``ifnscope score`` does the same)::

    from ifnscope import signatures as sig
    ref = sig.fit_reference("blood.tsv", controls="Buffer")          # once, then ref.save(...)
    run = sig.score("blood.tsv", ["rice6", "aybey_ifng"], reference=ref)
    run.to_frame()          # sample, signature, method, score, call, genes_found, genes_total
    sig.score(adata, "aybey_ifna", method="singscore")               # writes adata.obs["ifn_aybey_ifna"]
    sig.summarize(adata, "condition")                                # per group: n, median, IQR, ...
    sig.score(adata, "aybey_ifna", method="singscore", layer="counts", pseudobulk="donor")

AnnData follows scanpy's conventions (``use_raw``, ``layer``, ``key_added``, ``copy``); plots
are in :mod:`ifnscope.pl`.

Every result says which genes were found, matched by another name or missing, which scale was
assumed, and where a high/low cut-off comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

from ifnscope.signatures.aggregate import pseudobulk, summarize
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
    "pseudobulk",
    "read_expression",
    "score",
    "summarize",
]


def list_signatures() -> list[Signature]:
    from ifnscope.signatures.catalog import signatures

    return list(signatures().values())


def read_expression(
    data: Any,
    *,
    annotations: str | Path | None = None,
    layer: str | None = None,
    use_raw: bool | None = None,
    prefetch: bool = False,
    probe_map: str | Path | None = None,
) -> Matrix:
    """A path (text, folder, 10x, .h5ad, .zarr, GEO series matrix), an AnnData object, or an
    already-read Matrix.

    ``layer`` and ``use_raw`` follow scanpy for an AnnData object (``use_raw=None``: ``.raw``
    when it is set); for a file they select ``layers/NAME`` or ``raw/X`` and the default is X,
    as on the command line. ``probe_map`` maps a series matrix's probe IDs to gene symbols.
    """
    from ifnscope.signatures.adata import from_anndata, is_anndata
    from ifnscope.signatures.readers import read_path

    if isinstance(data, Matrix):
        return data
    if isinstance(data, (str, Path)):
        return read_path(
            data,
            annotations=annotations,
            prefetch=prefetch,
            layer=layer,
            use_raw=bool(use_raw),
            probe_map=probe_map,
        )
    if is_anndata(data):
        return from_anndata(data, layer=layer, use_raw=use_raw)
    raise TypeError(f"cannot read expression data from {type(data).__name__}")


def fit_reference(
    data: Any,
    *,
    controls: str,
    annotations: str | Path | None = None,
    scale: Scale | None = None,
    layer: str | None = None,
    use_raw: bool | None = None,
) -> FixedReference:
    """Fit a fixed reference on the control samples (``controls``: a name pattern or COLUMN=VALUE)."""
    from ifnscope.signatures.reference import fit_reference as fit

    m = read_expression(data, annotations=annotations, layer=layer, use_raw=use_raw)
    return fit(m, select_controls(m, controls), rule=controls, scale=scale)


PSEUDOBULK_KEY = "ifn_pseudobulk"


@overload
def score(
    data: Any,
    names: str | list[str],
    *,
    reference: FixedReference | str | Path | None = ...,
    controls: str | None = ...,
    annotations: str | Path | None = ...,
    method: str | None = ...,
    scale: Scale | None = ...,
    min_coverage: float = ...,
    layer: str | None = ...,
    use_raw: bool | None = ...,
    key_added: str | None = ...,
    pseudobulk: str | None = ...,
    inplace: bool = ...,
    copy: Literal[False] = ...,
) -> ScoreRun: ...


@overload
def score(
    data: Any,
    names: str | list[str],
    *,
    reference: FixedReference | str | Path | None = ...,
    controls: str | None = ...,
    annotations: str | Path | None = ...,
    method: str | None = ...,
    scale: Scale | None = ...,
    min_coverage: float = ...,
    layer: str | None = ...,
    use_raw: bool | None = ...,
    key_added: str | None = ...,
    pseudobulk: str | None = ...,
    inplace: bool = ...,
    copy: Literal[True],
) -> Any: ...


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
    use_raw: bool | None = None,
    key_added: str | None = None,
    pseudobulk: str | None = None,
    inplace: bool = True,
    copy: bool = False,
) -> ScoreRun | Any:
    """Score signatures. With ``controls`` and no ``reference``, a reference is fitted on those samples.

    An AnnData is read with scanpy's conventions: ``use_raw=None`` reads ``.raw`` when it is
    set and no ``layer`` is given; ``uns['log1p']`` gives the log base. Scores are written to
    ``adata.obs[f"{key_added}_{name}"]`` (calls in ``..._call``; default prefix ``ifn``) and
    the provenance to ``adata.uns[key_added]["signatures"][name]`` (default key ``ifnscope``),
    accumulating over calls.

    Returns the :class:`ScoreRun` (coverage, cut-offs and notes that obs cannot hold), also
    when the AnnData was written in place (scanpy returns None there). ``copy=True`` leaves
    ``data`` untouched and returns a new AnnData with the results, as in scanpy;
    ``inplace=False`` writes nothing and returns the run (the two cannot be combined).

    ``pseudobulk=COLUMN`` sums the raw counts of each group of cells (:func:`pseudobulk`) and
    scores the groups as bulk samples; each cell then gets its group's score, under the
    default prefix and key ``ifn_pseudobulk``.
    """
    from ifnscope.signatures.adata import is_anndata
    from ifnscope.signatures.aggregate import pseudobulk as make_pseudobulk
    from ifnscope.signatures.catalog import all_gene_symbols
    from ifnscope.signatures.extract import extract
    from ifnscope.signatures.output import write_obs
    from ifnscope.signatures.reference import fit_reference as fit
    from ifnscope.signatures.scoring import score as run_score

    anndata_in = is_anndata(data)
    if copy and not inplace:
        raise ValueError("copy=True cannot be used with inplace=False (as in scanpy)")
    if copy and not anndata_in:
        raise TypeError(f"copy=True returns a new AnnData; {type(data).__name__} is not one")
    if pseudobulk is not None:
        src = (
            data
            if anndata_in
            else read_expression(data, annotations=annotations, layer=layer, use_raw=use_raw)
        )
        m: Matrix = make_pseudobulk(src, pseudobulk, layer=layer, use_raw=use_raw)
    else:
        m = read_expression(data, annotations=annotations, layer=layer, use_raw=use_raw)
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
    if not (anndata_in and inplace):
        return run
    # a backed AnnData cannot be copied without a file name: the copy is loaded in memory
    target = (data.to_memory() if getattr(data, "isbacked", False) else data.copy()) if copy else data
    if pseudobulk is not None:
        write_obs(
            run,
            target,
            key_added=key_added or PSEUDOBULK_KEY,
            by=pseudobulk,
            level=f"pseudobulk by {pseudobulk}",
        )
    else:
        write_obs(run, target, key_added=key_added)
    return target if copy else run
