"""The case commands: assess, report, letter, compare, and the case format's references
(schema, criteria, vocabulary)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ifnscope.cli._common import fail, need_extra, print_error, stderr_console, stdout_console
from ifnscope.errors import IfnscopeError

if TYPE_CHECKING:
    from ifnscope.assessment import Assessment
    from ifnscope.case.model import Case
    from ifnscope.fhir import FhirImport

CASE_SUFFIXES = (".yaml", ".yml", ".json", ".ndjson")


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


def assess(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Case files (YAML or JSON), FHIR R4 records (.json, .ndjson), or folders of them."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the assessment as JSON.")] = False,
) -> None:
    """Apply the classification criteria to a case and say what they say, and why."""
    from ifnscope.assessment import assess as run

    files, failed = _case_files(paths)
    for err in failed:
        print_error(err)
    single = len(paths) == 1 and not paths[0].is_dir()
    results: list[dict[str, Any]] = []
    con = None if as_json else stdout_console()
    ok = 0
    for f in files:
        try:
            case, imported = _load(f)
            a = run(case)
        except IfnscopeError as err:
            failed.append(err)
            print_error(err)
            continue
        ok += 1
        if con is None:  # --json
            one = a.to_json_dict()
            if imported is not None:
                one["fhir_import"] = {k: v for k, v in imported.to_dict().items() if k != "case"}
            results.append(one)
        else:
            from ifnscope.report.terminal import render

            if len(files) > 1:
                con.rule(str(f))
            render(a, con)
            if imported is not None:
                from ifnscope.cli.fhir import print_report

                print_report(imported, con)
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
        stderr_console().print(summary)
    if failed:
        raise typer.Exit(2)


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
        stderr_console().print(f"wrote {output}")


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
    stdout_console().print(t)


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
    stdout_console().print(t)


def _load(path: Path) -> tuple[Case, FhirImport | None]:
    """A case file, or a FHIR record read into a case (with its import report)."""
    from ifnscope.case.reader import load_case
    from ifnscope.fhir import looks_like_fhir

    if not looks_like_fhir(path):
        return load_case(path), None
    from ifnscope import fhir

    imported = fhir.read_record(path)
    return fhir.to_case(imported), imported


def _load_and_assess(case_path: Path) -> tuple[Case, Assessment]:
    from ifnscope.assessment import assess as run
    from ifnscope.case.reader import load_case

    case = load_case(case_path)
    return case, run(case)


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
    if pdf or (output is not None and output.suffix.lower() == ".pdf"):
        need_extra("pdf", "weasyprint")
    from ifnscope.report.html import write_report

    try:
        written = write_report(case_path, output, pdf=pdf, letter_agent=letter)
    except IfnscopeError as err:
        fail(err, case_path)
    stderr_console().print(f"wrote {written}")


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
        fail(err, case_path)
    if as_json:
        sys.stdout.write(json.dumps(doc.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(doc.text.rstrip() + "\n")
    if doc.gaps:
        stderr_console().print("to complete before sending: " + "; ".join(doc.gaps), markup=False)


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

    def scores(path: Path) -> Scores:
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
        fail(err)
    if as_json:
        sys.stdout.write(json.dumps(change.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
        return
    from rich.text import Text

    con = stdout_console()
    for idx in (change.cdasi, change.clasi):
        if idx is None:
            continue
        con.print(Text(idx.summary, style="bold"))
        for v in idx.verdicts:
            con.print(f"  • {v.label}: {v.outcome.replace('_', ' ')} — {v.why}")
    con.print(Text(f"Total Improvement Score: not computed — {change.tis.why}", style="dim"))
