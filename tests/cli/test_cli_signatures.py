"""The signature commands: signatures, score, reference fit; outputs and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.sigdata import make_counts, write_h5ad, write_tsv_genes_in_rows


def ifnscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ifnscope", *args], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    counts, genes, names, _ = make_counts()
    p = tmp_path_factory.mktemp("cli") / "bulk.tsv"
    write_tsv_genes_in_rows(p, counts, genes, names)
    return p


def test_signatures_lists_names_sources_and_exclusions() -> None:
    r = ifnscope("signatures")
    assert r.returncode == 0, r.stderr
    for name in ("rice6", "ifngs4", "feng5", "chiche_m1_2", "aybey_ifng", "bloodgen3_m8_3"):
        assert name in r.stdout
    assert "Yao/Higgs" in r.stdout
    doc = json.loads(ifnscope("signatures", "--json").stdout)
    rice = next(d for d in doc if d["name"] == "rice6")
    assert rice["threshold"]["value"] == 2.466
    assert next(g["published"] for g in rice["genes"]) == "IFI27"
    assert any("Lancet Neurol" in s for s in rice["sources"])


def test_score_prints_tsv_and_a_summary(matrix: Path) -> None:
    r = ifnscope("score", str(matrix), "-s", "rice6", "-s", "aybey_ifng", "--controls", "^ctrl")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "sample\tsignature\tmethod\tscore\tcall\tgenes_found\tgenes_total"
    assert len(lines) == 1 + 2 * 24
    row = lines[-1].split("\t")
    assert row[0:3] == ["ifn_11", "aybey_ifng", "mean_z"]
    assert row[5:] == ["6", "6"]
    assert "24 samples; values detected as counts; scored on log2(CPM+1)" in r.stderr
    assert "published" in r.stderr  # rice6's cut-off provenance
    assert "does not transfer to array or RNA-seq" in r.stderr


def test_reference_fit_then_score_a_later_sample(tmp_path: Path, matrix: Path) -> None:
    ref = tmp_path / "ref.json"
    r = ifnscope("reference", "fit", str(matrix), "--controls", "^ctrl", "-o", str(ref))
    assert r.returncode == 0, r.stderr
    assert "12 controls" in r.stderr
    one = tmp_path / "one.tsv"
    lines = matrix.read_text().splitlines()
    one.write_text("\n".join(line.split("\t")[0] + "\t" + line.split("\t")[-1] for line in lines) + "\n")
    out = tmp_path / "one.parquet"
    r = ifnscope("score", str(one), "-s", "feng5", "--reference", str(ref), "-o", str(out), "-q")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    import pyarrow.parquet as pq

    assert pq.read_table(out).column("call").to_pylist() == ["high"]


def test_plots_from_the_command_line(tmp_path: Path) -> None:
    counts, genes, names, ifn = make_counts()
    h5 = tmp_path / "cells.h5ad"
    write_h5ad(h5, counts, genes, names, ifn)
    r = ifnscope(
        "score",
        str(h5),
        "-s",
        "aybey_ifna",
        "--method",
        "singscore",
        "--plot",
        str(tmp_path / "p.svg"),
        "--group-by",
        "condition",
        "--heatmap",
        str(tmp_path / "h.png"),
        "-o",
        str(tmp_path / "s.csv"),
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.svg").read_text().startswith("<?xml")
    assert (tmp_path / "h.png").stat().st_size > 5000


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["-s", "rice"], "did you mean 'rice6'", "signature.unknown"),
        (["-s", "rice6"], "needs", "signature.needs-reference"),
        (["-s", "rice6", "--controls", "^HC"], "no sample name matches", "matrix.controls"),
        (["-s", "rice6", "--method", "gsva"], "unknown method", "signature.unknown"),
        (["-s", "rice6", "--reference", "/no/ref.json"], "no such reference file", "reference.not-found"),
        (["-s", "rice6", "--scale", "log10"], "expected counts, linear, log2, ln, dct or rq", "matrix.scale"),
    ],
)
def test_score_errors_exit_2_with_a_clear_message(
    matrix: Path, args: list[str], message: str, code: str
) -> None:
    r = ifnscope("score", str(matrix), *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert f"[{code}]" in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_missing_matrix(tmp_path: Path) -> None:
    r = ifnscope("score", str(tmp_path / "none.tsv"), "-s", "rice6")
    assert r.returncode == 2
    assert "no such file or folder" in r.stderr


def test_failed_run_leaves_no_partial_output(tmp_path: Path, matrix: Path) -> None:
    out = tmp_path / "scores.tsv"
    out.write_text("previous results\n")
    r = ifnscope("score", str(matrix), "-s", "rice6", "-o", str(out))  # fails: needs a reference
    assert r.returncode == 2
    assert out.read_text() == "previous results\n"
    assert not list(tmp_path.glob("*.partial"))


def test_an_error_after_the_background_read_started_exits_promptly(tmp_path: Path) -> None:
    """A streamed .h5ad starts reading ahead before the signature is checked; an early error must
    stop the reader so the process exits (it used to wait forever on a full read-ahead queue)."""
    counts, genes, _, ifn = make_counts(n_samples=30_000 // 100)
    big = np.repeat(counts, 100, axis=0)  # 30,000 cells: more chunks than the read-ahead holds
    cells = [f"c{i}" for i in range(big.shape[0])]
    path = tmp_path / "cells.h5ad"
    write_h5ad(path, big, genes, cells, np.repeat(ifn, 100))
    r = subprocess.run(
        [sys.executable, "-m", "ifnscope", "score", str(path), "-s", "rice6", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert "signature.needs-reference" in r.stderr


@pytest.mark.parametrize(
    ("option", "name", "code"),
    [
        ("-o", "missing-folder/scores.tsv", "output.write"),
        ("-o", "scores.xlsx", "output.format"),
        ("--summary", "missing-folder/summary.tsv", "output.write"),
        ("--plot", "scores.jpg", "output.format"),
        ("--heatmap", "missing-folder/genes.png", "output.write"),
        ("--save-reference", "ref.txt", "output.format"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
    tmp_path: Path, matrix: Path, option: str, name: str, code: str
) -> None:
    """Exit 2 at once, naming the option; nothing on stdout (no scores were written)."""
    r = ifnscope("score", str(matrix), "-s", "rice6", "--controls", "^ctrl", option, str(tmp_path / name))
    assert r.returncode == 2, r.stderr
    assert f"[{code}]" in r.stderr
    assert option in r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_annotation_table_with_a_repeated_sample_is_refused(tmp_path: Path, matrix: Path) -> None:
    ann = tmp_path / "annotations.tsv"
    ann.write_text("sample\tdonor\nifn_0\ta\nifn_0\tb\nctrl_0\tc\n", encoding="utf-8")
    r = ifnscope("score", str(matrix), "-s", "rice6", "--method", "singscore", "--annotations", str(ann))
    assert r.returncode == 2, r.stderr
    assert "[matrix.samples]" in r.stderr
    assert "'ifn_0'" in r.stderr
