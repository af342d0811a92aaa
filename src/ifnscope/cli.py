"""The ``ifnscope`` command line.

Heavy modules are imported inside the commands so that start-up stays fast. Every
:class:`IfnscopeError` is shown as a short message with its location and exits with code 2;
anything else is an internal error (exit 1), shown with a traceback only when
``IFNSCOPE_DEBUG=1``.
"""

from __future__ import annotations

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

    from ifnscope.criteria import REGISTRY
    from ifnscope.data import citation

    t = Table(title="Classification criteria", show_lines=True)
    t.add_column("key")
    t.add_column("criteria")
    t.add_column("sources")
    for key, cs in REGISTRY.items():
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


def run() -> None:
    """Entry point: turn errors into messages and exit codes, never a traceback."""
    try:
        app()
    except IfnscopeError as err:  # pragma: no cover - commands handle their own
        _print_error(err)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # internal error: a bug in ifnscope
        if os.environ.get("IFNSCOPE_DEBUG") == "1":
            traceback.print_exc()
        else:
            _stderr().print(
                "internal error in ifnscope (a bug, not your input); "
                "run again with IFNSCOPE_DEBUG=1 for details"
            )
        sys.exit(1)
