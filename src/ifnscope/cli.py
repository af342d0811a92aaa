"""The ``ifnscope`` command line.

Heavy modules are imported inside the commands so that start-up stays fast. Every
:class:`IfnscopeError` is shown as a short message with its location and exits with code 2;
anything else is an internal error (exit 1), shown with a traceback only when
``IFNSCOPE_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from ifnscope import __version__
from ifnscope.errors import IfnscopeError

app = typer.Typer(
    name="ifnscope",
    help="Decision support for cutaneous lupus and dermatomyositis: classification criteria "
    "with their evidence, and type I interferon signatures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

CASE_SUFFIXES = (".yaml", ".yml", ".json")


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _stdout() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _print_error(err: IfnscopeError) -> None:
    from rich.text import Text

    con = _stderr()
    con.print(Text("error: ", style="bold red") + Text(f"{err.headline()} [{err.code}]"))
    for issue in err.issues:
        con.print(Text("  • ") + Text(issue.describe(err.file) + f" [{issue.code}]"))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ifnscope {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """ifnscope command line."""


def _case_files(paths: list[Path]) -> tuple[list[Path], list[IfnscopeError]]:
    from ifnscope.errors import CaseNotFoundError

    files: list[Path] = []
    errors: list[IfnscopeError] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in CASE_SUFFIXES and f.is_file())
            if not found:
                errors.append(
                    CaseNotFoundError("no case files (.yaml, .yml, .json) in this folder", file=str(p))
                )
            files += found
        else:
            files.append(p)
    return files, errors


@app.command()
def assess(
    paths: Annotated[list[Path], typer.Argument(help="Case files (YAML or JSON) or folders of them.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the assessment as JSON.")] = False,
) -> None:
    """Apply the classification criteria to a case and say what they say, and why."""
    from ifnscope.assessment import assess as run
    from ifnscope.case.reader import load_case

    files, failed = _case_files(paths)
    for err in failed:
        _print_error(err)
    single = len(paths) == 1 and not paths[0].is_dir()
    results: list[dict[str, Any]] = []
    con = None if as_json else _stdout()
    ok = 0
    for f in files:
        try:
            a = run(load_case(f))
        except IfnscopeError as err:
            failed.append(err)
            _print_error(err)
            continue
        ok += 1
        if as_json:
            results.append(a.to_json_dict())
        else:
            from ifnscope.report.terminal import render

            if len(files) > 1:
                con.rule(str(f))  # type: ignore[union-attr]
            render(a, con)
    if as_json:
        if single:
            doc: Any = results[0] if results else {"error": failed[0].to_dict()}
        else:
            doc = {"assessments": results, "errors": [e.to_dict() for e in failed]}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    if not single:
        summary = f"{ok} of {len(files)} case files assessed"
        if failed:
            summary += "; could not load: " + ", ".join(e.file or "?" for e in failed)
        _stderr().print(summary)
    if failed:
        raise typer.Exit(2)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Print the JSON Schema of the case format (ifnscope-case/1)."""
    from ifnscope.case.schema import case_json_schema

    text = json.dumps(case_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        _stderr().print(f"wrote {output}")


@app.command()
def criteria() -> None:
    """List the criteria sets ifnscope applies, with their sources."""
    from rich.table import Table

    from ifnscope.criteria import CRITERIA_SETS
    from ifnscope.data import citation

    t = Table(title="Classification criteria", show_lines=True)
    t.add_column("key")
    t.add_column("criteria")
    t.add_column("sources")
    for key, cs in CRITERIA_SETS.items():
        t.add_row(key, cs.title, "\n".join(citation(s) for s in cs.references()))
    _stdout().print(t)


@app.command()
def vocabulary() -> None:
    """List the findings a case can record, by group, with their definitions."""
    from rich.table import Table

    from ifnscope.case.vocabulary import vocabulary as voc

    t = Table(title="Findings (present / absent / unknown; not written = unknown)")
    t.add_column("group")
    t.add_column("finding")
    t.add_column("definition")
    for name, info in voc().findings.items():
        t.add_row(info.group, name, info.description)
    _stdout().print(t)


def _load_and_assess(case_path: Path) -> tuple[Any, Any]:
    from ifnscope.assessment import assess as run
    from ifnscope.case.reader import load_case

    case = load_case(case_path)
    return case, run(case)


@app.command()
def report(
    case_path: Annotated[Path, typer.Argument(metavar="CASE", help="A case file (YAML or JSON).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write (default: <case>.report.html or .pdf here)."),
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Write a PDF (WeasyPrint) instead of HTML.")] = False,
    letter: Annotated[
        str | None,
        typer.Option("--letter", help="Add a draft letter of medical necessity for this agent (e.g. ivig)."),
    ] = None,
) -> None:
    """Write the clinician's report: classification with evidence, activity, differential, flags,
    screening, therapy and, on request, a draft letter of medical necessity."""
    from ifnscope.report.html import write_report

    try:
        written = write_report(case_path, output, pdf=pdf, letter_agent=letter)
    except IfnscopeError as err:
        if not err.file:
            err.file = str(case_path)
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    _stderr().print(f"wrote {written}")


@app.command("letter")
def letter_cmd(
    case_path: Annotated[Path, typer.Argument(metavar="CASE", help="A case file (YAML or JSON).")],
    agent: Annotated[
        str, typer.Option("--agent", "-a", help="The agent requested (e.g. ivig, anifrolumab).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the letter as JSON.")] = False,
) -> None:
    """Draft a letter of medical necessity from the case, for the clinician to review and sign."""
    from ifnscope.clinical.letter import build_letter

    try:
        case, a = _load_and_assess(case_path)
        doc = build_letter(case, a, agent)
    except IfnscopeError as err:
        if not err.file:
            err.file = str(case_path)
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    if as_json:
        sys.stdout.write(json.dumps(doc.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(doc.text.rstrip() + "\n")
    if doc.gaps:
        _stderr().print("to complete before sending: " + "; ".join(doc.gaps), markup=False)


@app.command()
def compare(
    baseline: Annotated[Path, typer.Argument(help="The earlier visit's case file.")],
    followup: Annotated[Path, typer.Argument(help="The later visit's case file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Change in CDASI and CLASI between two visits (MCID, 4-point/20% and CLASI-50 rules)."""
    from ifnscope.activity import Scores
    from ifnscope.activity import compare as compare_scores
    from ifnscope.activity import evaluate as activity_of
    from ifnscope.case.reader import load_case

    def scores(path: Path) -> Any:
        res = activity_of(load_case(path))
        if res is None:
            from ifnscope.errors import CaseValidationError

            raise CaseValidationError(
                "the case has no activity section (CDASI or CLASI items) to compare", file=str(path)
            )
        return Scores(
            cdasi_activity=res.cdasi.activity_range if res.cdasi else None,
            cdasi_damage=res.cdasi.damage_range if res.cdasi else None,
            clasi_activity=res.clasi.activity_range if res.clasi else None,
            clasi_damage=res.clasi.damage_range if res.clasi else None,
        )

    try:
        change = compare_scores(scores(baseline), scores(followup))
    except IfnscopeError as err:
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    if as_json:
        sys.stdout.write(json.dumps(change.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
        return
    from rich.text import Text

    con = _stdout()
    for idx in (change.cdasi, change.clasi):
        if idx is None:
            continue
        con.print(Text(idx.summary, style="bold"))
        for v in idx.verdicts:
            con.print(f"  • {v.label}: {v.outcome.replace('_', ' ')} — {v.why}")
    con.print(Text(f"Total Improvement Score: not computed — {change.tis.why}", style="dim"))


@app.command()
def drugs(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The drugs that can induce lupus or dermatomyositis: evidence, latency and the names recognised."""
    from ifnscope.clinical.drugs import all_drugs, label_of_class, members
    from ifnscope.clinical.triggers import drug_rules
    from ifnscope.provenance import Reference

    rows = []
    for a in drug_rules().associations:
        names = [a.agent.drug] if a.agent.drug else members(a.agent.class_ or "")
        brands = sorted({b for n in names for b in all_drugs()[n].brands})
        window = a.window
        rows.append(
            {
                "id": a.id,
                "agent": a.agent.drug or label_of_class(a.agent.class_ or ""),
                "generics": names,
                "brands": brands,
                "disease": a.disease,
                "presentation": a.presentation,
                "evidence": a.evidence,
                "latency": a.latency,
                "window_months": None
                if window is None
                else ("any" if window.any_duration else window.max_months),
                "source": Reference.of(a.source).citation,
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    t = Table(title="Drug-induced lupus and dermatomyositis (medication names resolve by generic or brand)")
    for col in ("agent", "disease", "evidence", "latency", "counted if started within", "names"):
        t.add_column(col)
    for r in rows:
        w = r["window_months"]
        within = (
            "not judged (latency unverified)"
            if w is None
            else ("any time before onset" if w == "any" else f"{w:g} months")
        )
        t.add_row(
            r["agent"],
            r["presentation"],
            r["evidence"],
            r["latency"],
            within,
            ", ".join(r["generics"] + r["brands"]),
        )
    _stdout().print(t)


@app.command()
def therapies(
    as_json: Annotated[bool, typer.Option("--json", help="Print the knowledge base as JSON.")] = False,
) -> None:
    """The therapy knowledge base: target, place in the type I IFN pathway, approvals, trials."""
    from ifnscope.clinical.therapy import knowledge_base

    kb = knowledge_base()
    if as_json:
        sys.stdout.write(json.dumps(kb.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    t = Table(title="Treatments of cutaneous lupus and dermatomyositis", show_lines=True)
    for col in ("agent", "target", "IFN pathway", "approval", "key trials"):
        t.add_column(col)
    for key, ag in kb.agents.items():
        approvals = "; ".join(
            f"{x.regulator}: {x.indication}" + (f" ({x.date})" if x.date else "") for x in ag.approval
        )
        trials = "; ".join(f"{x.name}: {x.result}" for x in ag.trials[:2])
        t.add_row(
            f"{ag.label}\n[{key}]",
            ag.target,
            ag.pathway.level.replace("_", " "),
            approvals or "-",
            trials or "-",
        )
    _stdout().print(t)


# ----------------------------------------------------------------- interferon signatures


@app.command("signatures")
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

    con = _stdout()
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
    str | None, typer.Option("--scale", help="counts, linear, log2 or ln (default: detect).")
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


def _scale(value: str | None) -> Any:
    if value is None or value == "auto":
        return None
    if value not in ("counts", "linear", "log2", "ln", "dct", "rq"):
        from ifnscope.errors import MatrixError

        raise MatrixError(
            f"--scale {value!r}: expected counts, linear, log2, ln, dct or rq", code="matrix.scale"
        )
    return value


@app.command("score")
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
) -> None:
    """Score published interferon signatures per sample or cell, with coverage and cut-off provenance."""
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.catalog import all_gene_symbols
    from ifnscope.signatures.extract import extract
    from ifnscope.signatures.output import summary_text, write_scores
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
        if not err.file:
            err.file = str(matrix)
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    except BrokenPipeError:  # `ifnscope score ... | head`
        raise typer.Exit(0) from None
    if not quiet:
        _stderr().print(summary_text(run), end="", markup=False)


reference_app = typer.Typer(
    help="Fixed references of control samples for reference-based scores.", no_args_is_help=True
)
app.add_typer(reference_app, name="reference")


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
        if not err.file:
            err.file = str(matrix)
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    _stderr().print(
        f"wrote {output}: {ref.n_controls} controls ({controls}), {len(ref.genes)} genes, "
        f"{ref.normalization}",
        markup=False,
    )


# ------------------------------------------------------------------ server and registry

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Registry database, e.g. postgresql+psycopg://user@host/db "
        "(default: IFNSCOPE_DATABASE_URL, else a SQLite file in the user data folder).",
    ),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    database_url: DatabaseOpt = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="On first start, create demo users and patients (default: IFNSCOPE_DEMO, else off).",
        ),
    ] = None,
) -> None:
    """Run the registry web app and API (migrates the database first)."""
    from ifnscope.registry.db import describe_url
    from ifnscope.web.app import create_app
    from ifnscope.web.logs import LOGGING_CONFIG
    from ifnscope.web.settings import Settings

    try:
        settings = Settings.from_env(database_url=database_url, demo=demo)
        web = create_app(settings)
    except IfnscopeError as err:
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    con = _stderr()
    shown = f"[{host}]" if ":" in host else host
    con.print(
        f"ifnscope {__version__}: http://{shown}:{port}/  (API docs: http://{shown}:{port}/docs)",
        markup=False,
    )
    con.print(f"database: {describe_url(settings.database_url)}", markup=False)
    if web.state.demo is not None:
        con.print(web.state.demo.describe(), markup=False)
    elif settings.demo:
        con.print("demo mode: users exist already, no demo data created", markup=False)
    elif not _has_users(web.state.registry):
        url_opt = f" --database-url '{describe_url(settings.database_url)}'" if database_url else ""
        con.print(
            "no users yet: create the first one (in another terminal) with\n"
            f"  ifnscope admin create-user NAME --role admin{url_opt}\n"
            "or start with --demo for demo users and patients",
            markup=False,
        )
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.cookie_secure:
        con.print(
            "warning: listening beyond this machine without IFNSCOPE_COOKIE_SECURE=1; serve it behind "
            "HTTPS (a reverse proxy) before real patient data goes over the network",
            markup=False,
        )
    import uvicorn

    uvicorn.run(web, host=host, port=port, log_config=LOGGING_CONFIG, access_log=False, server_header=False)


def _has_users(registry: Any) -> bool:
    from sqlalchemy import func, select

    from ifnscope.registry.models import User

    with registry.transaction() as s:
        return bool(s.scalar(select(func.count()).select_from(User)))


admin_app = typer.Typer(help="Registry administration: users, API tokens, migrations.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


def _registry(database_url: str | None) -> Any:
    """The registry at ``database_url``, migrated to the newest schema (as `serve` does)."""
    from ifnscope.registry.db import Registry
    from ifnscope.registry.migrate import upgrade

    engine = _engine(database_url)
    upgrade(engine)
    return Registry(engine)


def _engine(database_url: str | None) -> Any:
    from ifnscope.registry.db import default_url, make_engine
    from ifnscope.web.settings import check_database_url

    return make_engine(check_database_url(database_url or default_url()))


def _cli_actor() -> Any:
    from ifnscope.registry.auth import Actor

    return Actor(None, f"cli:{os.environ.get('USER', 'unknown')}"[:80], "admin", "cli")


@admin_app.command("create-user")
def admin_create_user(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="clinician, researcher or admin.")],
    password: Annotated[
        str | None,
        typer.Option("--password", help="The password (at least 10 characters); prompted when left out."),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create a user (the password is asked twice, hidden, unless given)."""
    from ifnscope.registry.auth import ROLES, create_user
    from ifnscope.registry.services.audit import write_audit as audit

    try:
        if role not in ROLES:
            from ifnscope.errors import RegistryError

            raise RegistryError(f"unknown role {role!r}; roles: {', '.join(ROLES)}", code="registry.invalid")
        if password is None:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        registry = _registry(database_url)
        with registry.transaction() as s:
            user = create_user(s, username, password, role)  # type: ignore[arg-type]
            audit(s, _cli_actor(), "create_user", None, f"user {user.id}")
            uid = user.id
        registry.engine.dispose()
    except IfnscopeError as err:
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    _stderr().print(f"created user {username} ({role}), id {uid}", markup=False)


@admin_app.command("create-token")
def admin_create_token(
    username: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. 'lab pipeline'.")],
    database_url: DatabaseOpt = None,
) -> None:
    """Create an API token (printed once on stdout; only its hash is stored)."""
    from sqlalchemy import select

    from ifnscope.errors import RegistryError
    from ifnscope.registry.auth import create_token
    from ifnscope.registry.models import User
    from ifnscope.registry.services.audit import write_audit as audit

    try:
        registry = _registry(database_url)
        with registry.transaction() as s:
            user = s.scalar(select(User).where(User.username == username.strip()))
            if user is None or not user.active:
                raise RegistryError(f"no active user {username!r}", code="registry.not-found")
            token = create_token(s, user, name)
            audit(s, _cli_actor(), "create_token", None, f"for user {user.id}")
        registry.engine.dispose()
    except IfnscopeError as err:
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    sys.stdout.write(token + "\n")
    _stderr().print(
        f"API token '{name}' for {username}: shown once; send it as 'Authorization: Bearer <token>'",
        markup=False,
    )


@admin_app.command("migrate")
def admin_migrate(database_url: DatabaseOpt = None) -> None:
    """Bring the registry database to the newest schema (one transaction; nothing changes on failure)."""
    from ifnscope.registry.db import describe_url
    from ifnscope.registry.migrate import current, head, upgrade

    try:
        engine = _engine(database_url)
        before = current(engine)
        upgrade(engine)
        after = current(engine)
        url = describe_url(engine.url.render_as_string(hide_password=False))
        engine.dispose()
    except IfnscopeError as err:
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    if before == after:
        _stderr().print(f"{url}: already at revision {after} (newest: {head()})", markup=False)
    else:
        _stderr().print(f"{url}: migrated from {before or 'an empty database'} to {after}", markup=False)


@admin_app.command("users")
def admin_users(
    database_url: DatabaseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the registry's users."""
    from rich.table import Table
    from sqlalchemy import select

    from ifnscope.registry.models import User

    try:
        registry = _registry(database_url)
        with registry.transaction() as s:
            rows = [
                {
                    "id": u.id,
                    "username": u.username,
                    "role": u.role,
                    "active": u.active,
                    "created_at": u.created_at.isoformat(),
                }
                for u in s.scalars(select(User).order_by(User.id))
            ]
        registry.engine.dispose()
    except IfnscopeError as err:
        _print_error(err)
        raise typer.Exit(err.exit_code) from None
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    t = Table(title=f"Users ({len(rows)})")
    for col in ("id", "username", "role", "active", "created"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            str(r["id"]), r["username"], r["role"], "yes" if r["active"] else "no", r["created_at"][:19]
        )
    _stdout().print(t)


def run() -> None:
    """Entry point: turn errors into messages and exit codes, never a traceback."""
    code: int = 0
    try:
        app()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except IfnscopeError as err:  # pragma: no cover - commands handle their own
        _print_error(err)
        code = err.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception:  # internal error: a bug in ifnscope
        if os.environ.get("IFNSCOPE_DEBUG") == "1":
            traceback.print_exc()
        else:
            _stderr().print(
                "internal error in ifnscope (a bug, not your input); "
                "run again with IFNSCOPE_DEBUG=1 for details"
            )
        code = 1
    _exit(code)


def _exit(code: int) -> None:
    """Exit without the interpreter's teardown.

    Every output is written and closed by now; what remains is freeing module state (the gene
    table, arrays), which costs 0.4-0.6 s on a scoring run for nothing. Background readers are
    stopped first so no file is left mid-read. ``IFNSCOPE_NO_FAST_EXIT=1`` restores the normal exit
    (for tools that need atexit handlers, e.g. coverage).
    """
    if os.environ.get("IFNSCOPE_NO_FAST_EXIT") == "1":
        sys.exit(code)
    matrix = sys.modules.get("ifnscope.signatures.matrix")  # only if this run read a matrix
    if matrix is not None:
        matrix.close_live_prefetches()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code)
