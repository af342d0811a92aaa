"""The reference file: its JSON Schema, the versions it records, and what loading does with them."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from ifnscope import signatures as sig
from ifnscope.errors import ReferenceFileError
from ifnscope.signatures.catalog import get_signature, signature_set_sha256, signatures
from ifnscope.signatures.genes import table_version
from ifnscope.signatures.reference import (
    FORMAT_V1,
    REFERENCE_FORMAT,
    ReferenceVersionWarning,
    load_reference,
    reference_from_content,
    reference_json_schema,
)
from tests.sigdata import make_counts, write_tsv_genes_in_rows

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "reference.schema.json"
REGENERATE = (
    "regenerate it: PYTHONPATH=src python -c 'from ifnscope.signatures.reference import "
    "write_json_schema; write_json_schema()'"
)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    counts, genes, names, _ = make_counts()
    p = tmp_path_factory.mktemp("ref") / "bulk.tsv"
    write_tsv_genes_in_rows(p, counts, genes, names)
    return p


@pytest.fixture(scope="module")
def fitted(matrix: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A reference fitted now, as the JSON the file holds."""
    p = tmp_path_factory.mktemp("reffile") / "ref.json"
    sig.fit_reference(matrix, controls="^ctrl").save(p)
    content: dict[str, Any] = json.loads(p.read_text())
    return content


def _write(tmp_path: Path, content: dict[str, Any]) -> Path:
    p = tmp_path / "ref.json"
    p.write_text(json.dumps(content))
    return p


def _load_quietly(p: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a note that should not be there fails the test
        return load_reference(p)


# ------------------------------------------------------------------------------- schema


def test_the_committed_schema_is_the_models() -> None:
    committed = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert committed == reference_json_schema(), f"{SCHEMA} and FixedReference differ; {REGENERATE}"


def test_every_field_of_the_schema_is_described() -> None:
    schema = reference_json_schema()
    for obj in [schema, *schema["$defs"].values()]:
        assert obj.get("description"), obj.get("title")
        for name, prop in obj["properties"].items():
            assert prop.get("description"), name


def test_a_freshly_fitted_reference_validates_against_the_schema(fitted: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(fitted)
    assert fitted["format"] == REFERENCE_FORMAT == "ifnscope-reference/2"
    # what the schema refuses, the loader refuses too
    for broken in (
        {k: v for k, v in fitted.items() if k != "signature_genes"},  # format 2 without versions
        {**fitted, "genes": {"IFI27": {**fitted["genes"]["IFI27"], "sd": -1}}},
        {**fitted, "surprise": 1},
        {**fitted, "gene_table": {"release": "x", "sha256": "not-a-hash"}},
    ):
        assert not validator.is_valid(broken)
        with pytest.raises(ReferenceFileError) as ei:
            reference_from_content(broken)
        assert ei.value.code == "reference.format"


# ----------------------------------------------------------------------------- versions


def test_the_file_records_the_gene_table_and_each_signatures_gene_list(fitted: dict[str, Any]) -> None:
    table = table_version()
    assert fitted["gene_table"] == {"release": table.release, "sha256": table.sha256}
    assert table.release.startswith("source: NCBI Gene 2022")
    assert fitted["signature_set"] == signature_set_sha256()
    assert set(fitted["signature_genes"]) == set(signatures())
    assert fitted["signature_genes"]["feng5"] == get_signature("feng5").genes_sha256
    # the hash is of the gene list itself: equal lists, equal hashes, whatever the rest of the file
    assert len({fitted["signature_genes"][n] for n in ("rice6", "feng5", "ifngs4")}) == 3


def test_a_current_reference_loads_without_notes(tmp_path: Path, fitted: dict[str, Any]) -> None:
    ref = _load_quietly(_write(tmp_path, fitted))
    assert ref.notes == []
    assert ref.describe()["notes"] == []


def test_a_signature_whose_genes_changed_loses_its_cut_off_but_not_its_gene_stats(
    tmp_path: Path, matrix: Path, fitted: dict[str, Any]
) -> None:
    current = load_reference(_write(tmp_path, fitted))
    old = copy.deepcopy(fitted)
    old["signature_genes"]["feng5"] = "0" * 64  # feng5's list was different at fit time
    p = _write(tmp_path, old)
    with pytest.warns(ReferenceVersionWarning, match="feng5: the gene list changed"):
        ref = load_reference(p)
    assert "feng5" not in ref.scores
    assert "rice6" in ref.scores  # the other signatures keep theirs
    assert any("per-gene statistics remain valid" in n for n in ref.describe()["notes"])
    run = sig.score(matrix, ["feng5", "rice6"], method="mean_z", reference=ref)
    before = sig.score(matrix, ["feng5", "rice6"], method="mean_z", reference=current)
    feng, rice = run.results
    assert feng.cutoff is None  # no reference-derived cut-off any more...
    assert np.allclose(feng.scores, before.results[0].scores)  # ...but the same per-gene z-scores
    assert rice.cutoff is not None
    assert rice.cutoff.kind == "reference_derived"


def test_another_gene_table_is_a_warning(tmp_path: Path, fitted: dict[str, Any]) -> None:
    old = copy.deepcopy(fitted)
    old["gene_table"] = {"release": "source: NCBI Gene 2019", "sha256": "1" * 64}
    with pytest.warns(ReferenceVersionWarning, match="another gene table"):
        ref = load_reference(_write(tmp_path, old))
    assert ref.scores.keys() == fitted["scores"].keys()  # nothing dropped: a warning only
    assert "NCBI Gene 2019" in ref.notes[0]


def test_signatures_added_or_removed_since_the_fit_are_named(tmp_path: Path, fitted: dict[str, Any]) -> None:
    old = copy.deepcopy(fitted)
    del old["signature_genes"]["hallmark_ifng"]
    old["scores"].pop("hallmark_ifng", None)
    old["signature_genes"]["retired_set"] = "2" * 64
    old["scores"]["retired_set"] = {"mean_z": {"n": 12, "mean": 0.0, "sd": 1.0}}
    with pytest.warns(ReferenceVersionWarning):
        ref = load_reference(_write(tmp_path, old))
    assert "retired_set" not in ref.scores
    text = " ".join(ref.notes)
    assert "retired_set: in the reference but no longer packaged" in text
    assert "hallmark_ifng: packaged after the reference was fitted" in text


def test_format_1_files_still_load_with_a_visible_note(tmp_path: Path, fitted: dict[str, Any]) -> None:
    v1 = {k: v for k, v in fitted.items() if k not in ("gene_table", "signature_genes", "signature_set")}
    v1["format"] = FORMAT_V1
    jsonschema.Draft202012Validator(reference_json_schema()).validate(v1)
    with pytest.warns(ReferenceVersionWarning, match="older format ifnscope-reference/1"):
        ref = load_reference(_write(tmp_path, v1))
    assert ref.format == FORMAT_V1
    assert "unknown" in ref.notes[0]
    assert ref.scores.keys() == fitted["scores"].keys()  # used as they are


def test_a_newer_format_is_refused(tmp_path: Path, fitted: dict[str, Any]) -> None:
    p = _write(tmp_path, {**fitted, "format": "ifnscope-reference/3"})
    with pytest.raises(ReferenceFileError) as ei:
        load_reference(p)
    assert ei.value.code == "reference.version"
    assert "newer ifnscope" in ei.value.message
    assert ei.value.file == str(p)
    with pytest.raises(ReferenceFileError) as ei:
        reference_from_content({**fitted, "format": "something else"})
    assert ei.value.code == "reference.format"


def test_scores_of_a_signature_without_a_version_are_refused(fitted: dict[str, Any]) -> None:
    bad = copy.deepcopy(fitted)
    del bad["signature_genes"]["feng5"]
    with pytest.raises(ReferenceFileError, match="without a signature version: feng5") as ei:
        reference_from_content(bad)
    assert ei.value.code == "reference.format"


def test_the_command_line_prints_the_notes(tmp_path: Path, matrix: Path, fitted: dict[str, Any]) -> None:
    old = copy.deepcopy(fitted)
    old["signature_genes"]["feng5"] = "0" * 64
    ref = _write(tmp_path, old)
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", "score", str(matrix), "-s", "feng5", "--reference", str(ref)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert f"note: reference {ref}: feng5: the gene list changed" in r.stderr
    assert "Warning" not in r.stderr  # said once, as a note, not as a Python warning


# ------------------------------------------------------------------------- damaged files


def _tampered(fitted: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    content = copy.deepcopy(fitted)
    node = content
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return content


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["genes", "IFI27", "median"], 0),  # a fold change would divide by zero
        (["genes", "IFI27", "median"], -5),  # a median of 2^x is positive
        (["genes", "IFI27", "mean"], "NaN"),  # every z-score would be NaN
        (["genes", "IFI27", "sd"], float("inf")),
        (["genes", "IFI27", "linear_mean"], -2),  # 2^x - 1 is above -1
        (["scale"], "banana"),
    ],
)
def test_a_tampered_reference_is_refused(
    tmp_path: Path, fitted: dict[str, Any], path: list[str], value: Any
) -> None:
    """A value that no fit writes is a damaged file: refused, never scored with."""
    p = tmp_path / "ref.json"
    p.write_text(json.dumps(_tampered(fitted, path, value)))  # json writes inf as Infinity
    with pytest.raises(ReferenceFileError) as e:
        load_reference(p)
    assert e.value.code == "reference.format"
    assert path[-1] in e.value.message


def test_a_deeply_nested_file_is_a_format_error(tmp_path: Path) -> None:
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ReferenceFileError) as e:
        load_reference(p)
    assert e.value.code == "reference.format"
