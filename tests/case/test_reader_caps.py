"""The reader's caps: a small file cannot make it build a billion values or read a huge document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ifnscope.case import reader
from ifnscope.case.reader import parse_case, read_document
from ifnscope.errors import CaseParseError

HEAD = "format: ifnscope-case/1\nid: t\n"


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs" document: each level lists the previous one ``width`` times."""
    lines = [HEAD.rstrip("\n"), 'a0: &a0 ["lol"]']
    for n in range(1, levels + 1):
        refs = ", ".join(f"*a{n - 1}" for _ in range(width))
        lines.append(f"a{n}: &a{n} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [4, 9, 30])
def test_billion_laughs_is_refused_not_expanded(levels: int) -> None:
    text = laughs(levels)
    assert len(text.encode()) < 2000  # the attack is small
    with pytest.raises(CaseParseError) as ei:
        parse_case(text, file="laughs.yaml")
    # Even four levels (6,561 values, under the value cap) need more than 1,000 alias uses.
    assert ei.value.code in ("case.aliases", "case.too-large")
    assert ei.value.file == "laughs.yaml"
    assert "alias" in ei.value.message or "values" in ei.value.message


def test_many_alias_uses_are_refused_with_their_own_code() -> None:
    uses = ", ".join("*x" for _ in range(reader.MAX_ALIASES + 1))
    text = f"{HEAD}x: &x {{a: 1}}\ny: [{uses}]\n"
    with pytest.raises(CaseParseError) as ei:
        read_document(text)
    assert ei.value.code == "case.aliases"


def test_a_few_aliases_still_read() -> None:
    """Anchors are valid YAML; a document using a few is read as written (the reader decides
    about keys afterwards, not the cap)."""
    doc = read_document("x: &x {a: 1}\ny: [*x, *x]\nz: &s text\nw: *s\n")
    assert doc == {"x": {"a": 1}, "y": [{"a": 1}, {"a": 1}], "z": "text", "w": "text"}


def test_many_plain_values_are_capped() -> None:
    text = "x: [" + ", ".join("1" for _ in range(reader.MAX_NODES + 1)) + "]\n"
    with pytest.raises(CaseParseError) as ei:
        read_document(text)
    assert ei.value.code == "case.too-large"


def test_a_self_referring_alias_is_refused() -> None:
    with pytest.raises(CaseParseError) as ei:
        read_document("x: &x [*x]\n")
    assert ei.value.code == "case.aliases"


def test_deep_nesting_is_refused() -> None:
    text = "x: " + "[" * (reader.MAX_DEPTH + 5) + "]" * (reader.MAX_DEPTH + 5) + "\n"
    with pytest.raises(CaseParseError) as ei:
        read_document(text)
    assert ei.value.code == "case.too-large"


@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_an_oversized_document_is_refused_before_parsing(kind: str) -> None:
    # Invalid syntax after the cap: a parse error would mean the text was parsed.
    text = "#" * (reader.MAX_DOCUMENT_BYTES + 1) + "\n: : ["
    with pytest.raises(CaseParseError) as ei:
        parse_case(text, kind=kind)  # type: ignore[arg-type]
    assert ei.value.code == "case.too-large"


def test_multibyte_text_is_measured_in_bytes() -> None:
    text = "# " + "é" * (reader.MAX_DOCUMENT_BYTES // 2) + "\n" + HEAD  # ~1 MB of characters x2 bytes
    assert len(text) < reader.MAX_DOCUMENT_BYTES < len(text.encode())
    with pytest.raises(CaseParseError) as ei:
        parse_case(text)
    assert ei.value.code == "case.too-large"


def test_cli_refuses_billion_laughs_with_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "laughs.yaml"
    f.write_text(laughs(9), encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", "assess", str(f)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2, r.stderr
    assert "case.aliases" in r.stderr or "case.too-large" in r.stderr


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_text_no_database_can_store_is_refused_with_its_place(text: str) -> None:
    from ifnscope.case.reader import validate_case

    with pytest.raises(CaseParseError) as ei:
        validate_case({"format": "ifnscope-case/1", "id": "t", "lesions": [{"site": text}]})
    assert ei.value.code == "case.parse"
    assert ei.value.loc == ("lesions", 0, "site")
    assert text not in ei.value.message
    with pytest.raises(CaseParseError):
        parse_case('{"format": "ifnscope-case/1", "id": "\\u0000"}', kind="json")
