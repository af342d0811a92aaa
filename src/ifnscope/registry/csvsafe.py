"""CSV that a spreadsheet opens without running anything in it (CSV or formula injection).

A cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
spreadsheets skip before reading a formula) is read as a formula by Excel, LibreOffice and
Google Sheets: a patient named ``=HYPERLINK(...)`` in an export could run or leak data on the
reader's machine. OWASP's guidance is to prefix such cells with a single quote, which the
spreadsheet shows as text. Plain numbers (``-1.5``, ``+2``) are left as they are: a number is
not a formula, and a score column must stay numeric.

Every CSV the registry writes goes through :func:`csv_writer` (or :func:`csv_cell`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet runs: text starting with ``= + - @``, a tab
    or a carriage return gets a leading ``'``; numbers and other values pass unchanged."""
    if not isinstance(value, str) or not value.startswith(_TRIGGERS):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value


class _Writer(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


class SafeCsvWriter:
    """``csv.writer`` with every cell passed through :func:`csv_cell`."""

    def __init__(self, out: Any, **kwargs: Any) -> None:
        self._w: _Writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow([csv_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: Any, **kwargs: Any) -> SafeCsvWriter:
    """A CSV writer on ``out`` (a text file or ``io.StringIO``) that escapes formula cells."""
    return SafeCsvWriter(out, **kwargs)
