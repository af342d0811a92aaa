"""The ``ifnscope`` command line.

The commands live by domain: :mod:`.case` (assess, report, letter, compare, schema, criteria,
vocabulary), :mod:`.clinical` (drugs, therapies), :mod:`.signatures` (signatures, score,
reference fit) and :mod:`.registry` (serve, admin); this module assembles them into one
``app`` in the order ``--help`` lists them, and :func:`run` is the entry point.

Heavy modules are imported inside the commands so that start-up stays fast. Every
:class:`IfnscopeError` is shown as a short message with its location and exits with code 2
(a missing optional part too: it names the extra to install); anything else is an internal
error (exit 1), shown with a traceback only when ``IFNSCOPE_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from typing import Annotated

import typer

from ifnscope import __version__
from ifnscope.cli import case, clinical, fhir, registry, signatures
from ifnscope.cli._common import print_error, stderr_console
from ifnscope.errors import IfnscopeError

__all__ = ["app", "run"]

app = typer.Typer(
    name="ifnscope",
    help="Decision support for cutaneous lupus and dermatomyositis: classification criteria "
    "with their evidence, and type I interferon signatures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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


# The order here is the order of `ifnscope --help`.
app.command()(case.assess)
app.command()(case.schema)
app.command()(case.criteria)
app.command()(case.vocabulary)
app.command()(case.report)
app.command("letter")(case.letter_cmd)
app.command()(case.compare)
app.command()(clinical.drugs)
app.command()(clinical.therapies)
app.command("signatures")(signatures.list_signatures_cmd)
app.command("score")(signatures.score_cmd)
app.add_typer(signatures.reference_app, name="reference")
app.add_typer(fhir.fhir_app, name="fhir")
app.command()(registry.serve)
app.add_typer(registry.admin_app, name="admin")


def run() -> None:
    """Entry point: turn errors into messages and exit codes, never a traceback."""
    code: int = 0
    try:
        app()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except IfnscopeError as err:  # pragma: no cover - commands handle their own
        print_error(err)
        code = err.exit_code
    except KeyboardInterrupt:
        code = 130
    except Exception:  # internal error: a bug in ifnscope
        if os.environ.get("IFNSCOPE_DEBUG") == "1":
            traceback.print_exc()
        else:
            stderr_console().print(
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
