"""What every command shares: the consoles, the error message format, and the exits.

Nothing heavy is imported here at module level: every command module imports this one, and
``ifnscope --help`` must stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from ifnscope.errors import IfnscopeError, MissingExtraError, require_extra

if TYPE_CHECKING:
    from rich.console import Console


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def print_error(err: IfnscopeError) -> None:
    """``error: <where>: <message> [code]``, then one line per issue, on stderr."""
    from rich.text import Text

    con = stderr_console()
    con.print(Text("error: ", style="bold red") + Text(f"{err.headline()} [{err.code}]"))
    for issue in err.issues:
        con.print(Text("  • ") + Text(issue.describe(err.file) + f" [{issue.code}]"))


def fail(err: IfnscopeError, file: Path | None = None) -> NoReturn:
    """Print ``err`` (naming ``file`` when the error names none) and exit with its code."""
    if file is not None and not err.file:
        err.file = str(file)
    print_error(err)
    raise typer.Exit(err.exit_code) from None


def need_extra(extra: str, *modules: str) -> None:
    """Exit 2 naming ``ifnscope[extra]`` unless every module of that optional part imports.

    Called at a command's start, before any work, so that a core-only install says what to
    install instead of failing half-way with an ImportError.
    """
    try:
        for module in modules:
            require_extra(extra, module)
    except MissingExtraError as err:
        fail(err)


def check_output(path: Path | None, option: str, suffixes: tuple[str, ...]) -> None:
    """Refuse an output path before any work: a type not written, or a folder not there.

    A run that scores a million cells must not fail at its last step because ``-o`` named a
    folder that does not exist (or write a JPEG when the help promised PNG or SVG).
    """
    import os

    from ifnscope.errors import OutputError

    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        fail(
            OutputError(
                f"{option} {path}: write one of {', '.join(suffixes)} (the type follows the suffix)",
                code="output.format",
            )
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        fail(OutputError(f"{option} {path}: the folder {folder} does not exist", code="output.write"))
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(OutputError(f"{option} {path}: the folder {folder} cannot be written", code="output.write"))
    if path.is_dir():
        fail(OutputError(f"{option} {path}: is a folder, not a file", code="output.write"))
