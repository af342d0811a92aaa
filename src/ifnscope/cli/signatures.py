"""The interferon signature commands: signatures, score, reference fit."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ifnscope.cli._common import check_output, fail, need_extra, stderr_console, stdout_console
from ifnscope.errors import IfnscopeError, SignatureError

if TYPE_CHECKING:
    import numpy as np

    from ifnscope.signatures.extract import Scale
    from ifnscope.signatures.matrix import Matrix


def list_signatures_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the interferon signatures with their genes, method, cut-off and sources."""
    from ifnscope.data import citation
    from ifnscope.signatures import list_signatures
    from ifnscope.signatures.catalog import TYPE_WORDS

    sigs = list_signatures()
    if as_json:
        doc = [
            {
                "name": s.name,
                "title": s.definition.title,
                "interferon_type": s.definition.interferon_type,
                "genes": [{"published": g.published, "symbol": g.symbol, "how": g.how} for g in s.genes],
                "components": s.definition.components,
                "method": s.definition.method,
                "threshold": s.definition.threshold.model_dump() if s.definition.threshold else None,
                "threshold_note": s.definition.threshold_note,
                "sources": sorted(
                    {
                        citation(r.id)
                        for r in [
                            s.definition.genes_source,
                            s.definition.method_source,
                            *s.definition.references,
                        ]
                    }
                ),
            }
            for s in sigs
        ]
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    from rich.text import Text

    con = stdout_console()
    con.print(Text("Interferon gene signatures (ifnscope score --signature NAME)\n", style="bold"))
    for s in sigs:
        d = s.definition
        head = Text(s.name, style="bold cyan")
        head.append(f"  {d.title}  ", style="bold")
        head.append(f"[{TYPE_WORDS[d.interferon_type]}]", style="dim")
        con.print(head)
        if d.components:
            con.print(f"  modules: {', '.join(d.components)}")
        else:
            genes = ", ".join(
                g.published if g.symbol == g.published else f"{g.published} (now {g.symbol or '?'})"
                for g in s.genes
            )
            con.print(f"  genes ({s.size}): {genes}", soft_wrap=False)
        score_line = f"  score: {d.method.replace('_', ' ')}"
        if d.threshold:
            t = d.threshold
            score_line += f"; cut-off {'>' if t.direction == 'above' else '≥'} {t.value:g} ({t.defined_as}"
            score_line += f"; {t.assay_description})"
        else:
            score_line += "; no published cut-off"
        con.print(score_line)
        con.print(Text(f"  source: {citation(d.genes_source.id)}", style="dim"))
        con.print()
    con.print(
        "Not included, because their gene lists or formulas could not be verified in a source: "
        "the Yao/Higgs 21-gene signature, Kirou's IFN-alpha score, Kennedy's 15-gene interferon "
        "signature metric and the Schoggins ISG list; Reactome's interferon alpha/beta signalling "
        "pathway is a pathway, not a response signature (docs/signatures.md)."
    )


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")  # what matplotlib writes without extra packages

ScaleOpt = Annotated[
    str | None,
    typer.Option(
        "--scale",
        help="counts, linear, log2, ln (natural log), dct (qPCR delta-Ct) or rq (qPCR relative "
        "quantities); default: what the file records (scanpy's uns['log1p']), else detected from "
        "the values (qPCR scales are never detected).",
    ),
]
LayerOpt = Annotated[
    str | None,
    typer.Option("--layer", help="For .h5ad/.zarr: score this layer (adata.layers[NAME]) instead of X."),
]
UseRawOpt = Annotated[
    bool, typer.Option("--use-raw", help="For .h5ad/.zarr: score .raw (raw/X with raw/var) instead of X.")
]
ProbeMapOpt = Annotated[
    Path | None,
    typer.Option(
        "--probe-map",
        help="For a GEO series matrix: the platform's (GPL) table mapping probe IDs to gene symbols "
        "(columns ID and Gene Symbol).",
    ),
]
ControlsOpt = Annotated[
    str | None,
    typer.Option(
        "--controls", help="Control samples: a pattern on sample names (e.g. Buffer) or COLUMN=VALUE."
    ),
]
AnnotOpt = Annotated[
    Path | None, typer.Option("--annotations", help="Sample annotation table (first column = sample names).")
]


_SCALES: tuple[Scale, ...] = ("counts", "linear", "log2", "ln", "dct", "rq")


def _scale(value: str | None) -> Scale | None:
    if value is None or value == "auto":
        return None
    if value not in _SCALES:
        from ifnscope.errors import MatrixError

        raise MatrixError(
            f"--scale {value!r}: expected counts, linear, log2, ln, dct or rq (ln = natural log, "
            "e.g. scanpy log1p; dct = qPCR delta-Ct; rq = qPCR relative quantities), or leave it "
            "out to detect",
            code="matrix.scale",
        )
    return value


def score_cmd(
    matrix: Annotated[
        Path,
        typer.Argument(
            help="Expression data: .tsv/.csv, .h5ad, .zarr, a 10x .h5 or folder (also GEO-prefixed: "
            "folder/GSM123_), a GEO series matrix, or a folder of per-sample files."
        ),
    ],
    signature: Annotated[
        list[str],
        typer.Option("--signature", "-s", help="Signature name (repeatable); see `ifnscope signatures`."),
    ],
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="Override the published method: "
            "singscore, mean_z, median_fold_change, standardized_sum, "
            "module_percent.",
        ),
    ] = None,
    reference: Annotated[
        Path | None, typer.Option("--reference", help="A fixed reference file (ifnscope reference fit).")
    ] = None,
    controls: ControlsOpt = None,
    annotations: AnnotOpt = None,
    scale: ScaleOpt = None,
    layer: LayerOpt = None,
    use_raw: UseRawOpt = False,
    probe_map: ProbeMapOpt = None,
    min_coverage: Annotated[
        float,
        typer.Option(
            "--min-coverage", min=0.0, max=1.0, help="Refuse to score below this share of genes found."
        ),
    ] = 0.8,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write .tsv, .csv or .parquet (default: TSV on stdout)."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Score distribution plot (.png, .svg or .pdf).")
    ] = None,
    heatmap: Annotated[
        Path | None,
        typer.Option(
            "--heatmap", help="Gene-by-sample heatmap of the first signature scored (.png, .svg or .pdf)."
        ),
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--groupby",
            "--group-by",
            help="Annotation column (--annotations or .h5ad obs): split the plot by it and "
            "summarise the scores per group (n, median, mean, IQR, share high) on stderr or in --summary.",
        ),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help="Write the per-group summary (.tsv or .csv) here instead of stderr "
            "(without --groupby: one row per signature over all samples).",
        ),
    ] = None,
    pseudobulk: Annotated[
        str | None,
        typer.Option(
            "--pseudobulk",
            help="Annotation column (e.g. donor): sum each group's raw counts into one bulk sample "
            "and score those (counts only).",
        ),
    ] = None,
    save_reference: Annotated[
        Path | None, typer.Option("--save-reference", help="With --controls: also save the fitted reference.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 2 and write nothing when any signature cannot be scored (default: score the "
            "others, report the failures on stderr, exit 0).",
        ),
    ] = False,
) -> None:
    """Score published interferon signatures per sample or cell, with coverage and cut-off provenance.

    A signature that cannot be scored (too few genes, no reference for its method, a scale it
    cannot use) is reported on stderr and the others are scored; exit 2 only when none is."""
    check_output(output, "--output", (".tsv", ".txt", ".tab", ".csv", ".parquet"))
    check_output(summary, "--summary", (".tsv", ".txt", ".csv"))
    check_output(plot, "--plot", FIGURE_SUFFIXES)
    check_output(heatmap, "--heatmap", FIGURE_SUFFIXES)
    check_output(save_reference, "--save-reference", (".json",))
    if output is not None and output.suffix.lower() == ".parquet":
        need_extra("parquet", "pyarrow")
    from ifnscope.signatures.catalog import all_gene_symbols
    from ifnscope.signatures.extract import extract
    from ifnscope.signatures.output import failure_lines, summary_text, write_scores
    from ifnscope.signatures.readers import read_path
    from ifnscope.signatures.reference import fit_reference, load_reference, select_controls
    from ifnscope.signatures.scoring import score

    try:
        m = read_path(
            matrix,
            annotations=annotations,
            prefetch=pseudobulk is None,
            layer=layer,
            use_raw=use_raw,
            probe_map=probe_map,
        )
        if pseudobulk is not None:
            from ifnscope.signatures.aggregate import pseudobulk as make_pseudobulk

            m = make_pseudobulk(m, pseudobulk)
        groups = _groups(m, group_by) if group_by else None
        sc = _scale(scale)
        ref = load_reference(reference, warn=False) if reference else None
        if ref is not None and not quiet:  # versions that changed since the fit (docs/signatures.md)
            for note in ref.notes:
                stderr_console().print(f"note: reference {reference}: {note}", markup=False)
        ex = None
        if ref is None and controls:  # one read of the matrix serves the fit and the scores
            ex = extract(m, all_gene_symbols(), want_ranks=method == "singscore", scale=sc)
            ref = fit_reference(m, select_controls(m, controls), rule=controls, scale=sc, extracted=ex)
            if save_reference:
                ref.save(save_reference)
        run = score(
            m, signature, method=method, reference=ref, scale=sc, min_coverage=min_coverage, extracted=ex
        )
        if strict and run.failed:
            raise SignatureError(
                f"--strict: {len(run.failed)} of {len(run.failed) + len(run.results)} signatures could "
                "not be scored, so nothing was written: "
                + "; ".join(f"{f.message} [{f.code}]" for f in run.failed),
                code=run.failed[0].code,
            )
        write_scores(run, output)
        table = None
        if groups is not None or summary is not None:
            import numpy as np

            from ifnscope.signatures.aggregate import summarize

            table = summarize(run, groups if groups is not None else np.full(run.samples.size, "all"))
            if summary is not None:
                table.to_csv(summary, sep="," if summary.suffix.lower() == ".csv" else "\t", index=False)
        if plot:
            from ifnscope.signatures.plots import plot_distribution

            if groups is None and ref is not None and controls:
                groups = select_controls(m, controls).astype(object)
                groups[:] = ["control" if g else "other" for g in groups]
            plot_distribution(run, plot, groups=groups)
        if heatmap and run.extracted is not None:
            from ifnscope.signatures.plots import plot_heatmap

            wanted = [r for r in run.results if r.signature.name in signature]  # not a module of one
            plot_heatmap((wanted or run.results)[0], run.extracted, heatmap, reference=ref)
    except IfnscopeError as err:
        fail(err, matrix)
    except BrokenPipeError:  # `ifnscope score ... | head`
        raise typer.Exit(0) from None
    if not quiet:
        stderr_console().print(summary_text(run), end="", markup=False)
    else:  # even with --quiet: the output lacks these signatures
        for line in failure_lines(run):
            stderr_console().print(line, markup=False)
    if not quiet and table is not None and summary is None:
        stderr_console().print(
            f"per {group_by}:\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
            markup=False,
            soft_wrap=True,
        )


def _groups(m: Matrix, column: str) -> np.ndarray:
    """The --groupby column of the (possibly pseudobulk) samples, or an error naming the columns."""
    import numpy as np

    from ifnscope.errors import MatrixError
    from ifnscope.signatures.adata import nearest

    have = m.annotations.columns if m.annotations is not None else []
    if m.annotations is None or column not in have:
        why = (
            " (after --pseudobulk, only columns constant within each group remain)"
            if "pseudobulk" in m.source
            else ""
        )
        raise MatrixError(
            f"--groupby {column!r}: no such annotation column (columns: {', '.join(have) or 'none'})"
            f"{nearest(column, list(have))}{why}; give --annotations FILE",
            code="matrix.controls",
        )
    return np.asarray(m.annotations.column(column), dtype=object)


reference_app = typer.Typer(
    help="Fixed references of control samples for reference-based scores.", no_args_is_help=True
)


@reference_app.command("fit")
def reference_fit_cmd(
    matrix: Annotated[Path, typer.Argument(help="Expression data with the control samples.")],
    controls: Annotated[
        str, typer.Option("--controls", help="Control samples: a pattern on sample names or COLUMN=VALUE.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Reference file to write (.json).")],
    annotations: AnnotOpt = None,
    scale: ScaleOpt = None,
    layer: LayerOpt = None,
    use_raw: UseRawOpt = False,
    probe_map: ProbeMapOpt = None,
) -> None:
    """Fit a fixed reference on control samples once; apply it to any later sample alone."""
    check_output(output, "--output", (".json",))
    from ifnscope.signatures.readers import read_path
    from ifnscope.signatures.reference import fit_reference, select_controls

    try:
        m = read_path(matrix, annotations=annotations, layer=layer, use_raw=use_raw, probe_map=probe_map)
        ref = fit_reference(m, select_controls(m, controls), rule=controls, scale=_scale(scale))
        ref.save(output)
    except IfnscopeError as err:
        fail(err, matrix)
    stderr_console().print(
        f"wrote {output}: {ref.n_controls} controls ({controls}), {len(ref.genes)} genes, "
        f"{ref.normalization}",
        markup=False,
    )
