"""The interferon signature commands: signatures, score, reference fit."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ifnscope.cli._common import fail, need_extra, stderr_console, stdout_console
from ifnscope.errors import IfnscopeError, SignatureError

if TYPE_CHECKING:
    from ifnscope.signatures.extract import Scale


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
        "the Yao/Higgs 21-gene signature and Kirou's IFN-alpha score (docs/signatures.md)."
    )


ScaleOpt = Annotated[
    str | None,
    typer.Option(
        "--scale",
        help="counts, linear, log2, ln, dct (qPCR delta-Ct) or rq (qPCR relative quantity); "
        "default: what the file records (scanpy's uns['log1p']), else detected from the values.",
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
            f"--scale {value!r}: expected counts, linear, log2, ln, dct or rq", code="matrix.scale"
        )
    return value


def score_cmd(
    matrix: Annotated[
        Path,
        typer.Argument(
            help="Expression data: .tsv/.csv, .h5ad, a 10x folder, or a folder of per-sample files."
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
        Path | None, typer.Option("--plot", help="Score distribution plot (.png or .svg).")
    ] = None,
    heatmap: Annotated[
        Path | None,
        typer.Option("--heatmap", help="Gene-by-sample heatmap of the first signature (.png or .svg)."),
    ] = None,
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="Annotation column to split the plot by.")
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
    if output is not None and output.suffix.lower() == ".parquet":
        need_extra("parquet", "pyarrow")
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.catalog import all_gene_symbols
    from ifnscope.signatures.extract import extract
    from ifnscope.signatures.output import failure_lines, summary_text, write_scores
    from ifnscope.signatures.reference import fit_reference, load_reference, select_controls
    from ifnscope.signatures.scoring import score

    try:
        m = read_expression(matrix, annotations=annotations, prefetch=True)
        sc = _scale(scale)
        ref = load_reference(reference) if reference else None
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
        if plot:
            from ifnscope.signatures.plots import plot_distribution

            groups = m.annotations.column(group_by) if (group_by and m.annotations) else None
            if groups is None and ref is not None and controls:
                groups = select_controls(m, controls).astype(object)
                groups[:] = ["control" if g else "other" for g in groups]
            plot_distribution(run, plot, groups=groups)
        if heatmap and run.extracted is not None:
            from ifnscope.signatures.plots import plot_heatmap

            plot_heatmap(run.results[-1], run.extracted, heatmap, reference=ref)
    except IfnscopeError as err:
        fail(err, matrix)
    except BrokenPipeError:  # `ifnscope score ... | head`
        raise typer.Exit(0) from None
    if not quiet:
        stderr_console().print(summary_text(run), end="", markup=False)
    else:  # even with --quiet: the output lacks these signatures
        for line in failure_lines(run):
            stderr_console().print(line, markup=False)


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
) -> None:
    """Fit a fixed reference on control samples once; apply it to any later sample alone."""
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import fit_reference, select_controls

    try:
        m = read_expression(matrix, annotations=annotations)
        ref = fit_reference(m, select_controls(m, controls), rule=controls, scale=_scale(scale))
        ref.save(output)
    except IfnscopeError as err:
        fail(err, matrix)
    stderr_console().print(
        f"wrote {output}: {ref.n_controls} controls ({controls}), {len(ref.genes)} genes, "
        f"{ref.normalization}",
        markup=False,
    )
