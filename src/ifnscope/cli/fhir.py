"""``ifnscope fhir import``: a FHIR R4 record as an ``ifnscope-case/1`` case, with the report of
what was read and what was not."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ifnscope.cli._common import check_output, fail, stderr_console
from ifnscope.errors import IfnscopeError

if TYPE_CHECKING:
    from rich.console import Console

    from ifnscope.fhir import FhirImport

fhir_app = typer.Typer(help="FHIR R4 records: import a patient's record as a case.", no_args_is_help=True)


def print_report(imported: FhirImport, con: Console, *, everything: bool = False) -> None:
    """The import report: what became a case field, what was not read and why."""
    from rich.markup import escape
    from rich.table import Table

    c = imported.counts()
    t = Table(title="Read from the FHIR record", show_lines=False)
    t.add_column("resource")
    t.add_column("status")
    t.add_column("what")
    t.add_column("case field")
    quiet = 0
    for line in imported.lines:
        if not everything and line.status == "not_mapped" and "no criterion reads" in line.what:
            quiet += 1
            continue
        t.add_row(escape(line.resource), line.status.replace("_", " "), escape(line.what), line.field or "")
    con.print(t)
    tail = f"{c['mapped']} mapped, {c['not_mapped']} not mapped, {c['skipped']} skipped"
    if quiet:
        tail += f" ({quiet} results and diagnoses no criterion reads not listed: --all lists them)"
    if imported.not_read:
        tail += "; not read: " + ", ".join(f"{k} ×{v}" for k, v in imported.not_read.items())
    con.print(escape(tail))
    if nothing_to_classify(imported):
        con.print(
            "[bold]Nothing to classify:[/] no item of any criteria set is met by what the record "
            "holds; what it does not say stays unknown."
        )


def nothing_to_classify(imported: FhirImport) -> bool:
    """No criteria item counts on the imported case (a record of another disease, or none)."""
    from ifnscope import fhir
    from ifnscope.assessment import assess

    a = assess(fhir.to_case(imported))
    return not any(
        getattr(r, "met", False) or any(i.counted for i in getattr(r, "items", []))
        for r in a.criteria.values()
    )


@fhir_app.command("import")
def import_cmd(
    record: Annotated[
        Path, typer.Argument(help="A FHIR R4 Bundle or resource (.json), NDJSON, or a folder.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the case here (.yaml or .json).")
    ] = None,
    patient: Annotated[
        str | None, typer.Option("--patient", help="The Patient id, when there are several.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the case and the report as one JSON document.")
    ] = False,
    everything: Annotated[bool, typer.Option("--all", help="List every resource in the report.")] = False,
) -> None:
    """Read a patient's FHIR record into an ifnscope-case/1 case; what the record does not say
    stays unknown, and every resource read is in the report."""
    from ifnscope import fhir

    check_output(output, "--output", (".yaml", ".yml", ".json"))
    try:
        imported = fhir.read_record(record, patient=patient)
        fhir.to_case(imported)  # the case must be valid before it is written anywhere
    except IfnscopeError as err:
        fail(err, record)
    if as_json:
        sys.stdout.write(json.dumps(imported.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        text = _case_text(imported.case, output)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
        print_report(imported, stderr_console(), everything=everything)
        if output is not None:
            stderr_console().print(f"wrote {output}")


def _case_text(case: dict[str, object], output: Path | None) -> str:
    if output is not None and output.suffix.lower() == ".json":
        return json.dumps(case, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return str(yaml.safe_dump(case, sort_keys=False, allow_unicode=True))


@fhir_app.command("export")
def export_cmd(
    case_file: Annotated[Path, typer.Argument(help="A case file (YAML/JSON) or a FHIR record to assess.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the Bundle here (.json).")
    ] = None,
) -> None:
    """Assess a case and write the case and its assessment as a FHIR R4 Bundle: an Observation
    per criteria set, a DiagnosticReport with the report, a Device and a Provenance."""
    from ifnscope import fhir
    from ifnscope.cli.case import _load

    check_output(output, "--output", (".json",))
    try:
        case, _ = _load(case_file)
    except IfnscopeError as err:
        fail(err, case_file)
    text = json.dumps(fhir.assessment_to_bundle(case), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        stderr_console().print(f"wrote {output}")
