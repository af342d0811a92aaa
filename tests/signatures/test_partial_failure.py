"""One signature that cannot be scored does not stop the others (issue 10); single-cell cautions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ifnscope.errors import SignatureError
from ifnscope.signatures import read_expression
from ifnscope.signatures.output import summary_text
from ifnscope.signatures.reference import fit_reference, select_controls
from ifnscope.signatures.scoring import score
from tests.helpers import SHARED

BLOOD = SHARED / "data" / "blood_ifn_stimulation" / "whole_blood_normalized_counts.txt"
KANG = SHARED / "data" / "pbmc_ifnb_kang2018"
needs_blood = pytest.mark.skipif(
    not BLOOD.is_file(), reason=f"SKIPPED: the shared whole-blood data are not at {BLOOD}"
)
needs_kang = pytest.mark.skipif(
    not KANG.is_dir(), reason=f"SKIPPED: the shared Kang 2018 PBMC data are not at {KANG}"
)


def ifnscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ifnscope", *args], capture_output=True, text=True, timeout=300, check=False
    )


@needs_blood
def test_score_keeps_what_passes_and_lists_what_failed() -> None:
    m = read_expression(BLOOD)
    ref = fit_reference(m, select_controls(m, "Buffer"), rule="Buffer")
    run = score(m, ["rice6", "aybey_ifng"], reference=ref)  # the blood data lack CD74 and ICAM1
    assert [r.signature.name for r in run.results] == ["rice6"]
    assert [(f.signature, f.code) for f in run.failed] == [("aybey_ifng", "signature.coverage")]
    assert "CD74" in run.failed[0].message
    assert "not scored: aybey_ifng: only 4 of 6 genes found" in summary_text(run)
    # none scorable: one error naming each
    with pytest.raises(SignatureError) as e:
        score(m, ["rice6", "aybey_ifng"])
    assert e.value.code == "signature.needs-reference"
    assert "rice6" in e.value.message
    assert "aybey_ifng" in e.value.message


@needs_blood
def test_the_readme_example_scores_rice6_and_reports_aybey_ifng(tmp_path: Path) -> None:
    ref = tmp_path / "ref.json"
    r = ifnscope("reference", "fit", str(BLOOD), "--controls", "Buffer", "-o", str(ref))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "scores.tsv"
    r = ifnscope(
        "score", str(BLOOD), "-s", "rice6", "-s", "aybey_ifng", "--reference", str(ref), "-o", str(out)
    )
    assert r.returncode == 0, r.stderr
    rows = out.read_text().splitlines()
    assert len(rows) == 1 + 28
    assert all("\trice6\t" in x for x in rows[1:])
    assert "not scored: aybey_ifng" in r.stderr
    assert "[signature.coverage]" in r.stderr
    # --quiet still says what is missing from the output
    r = ifnscope("score", str(BLOOD), "-s", "rice6", "-s", "aybey_ifng", "--reference", str(ref), "-q")
    assert r.returncode == 0
    assert "not scored: aybey_ifng" in r.stderr
    # --strict: any failure is an error, and nothing is written
    strict = tmp_path / "strict.tsv"
    r = ifnscope(
        "score",
        str(BLOOD),
        "-s",
        "rice6",
        "-s",
        "aybey_ifng",
        "--reference",
        str(ref),
        "--strict",
        "-o",
        str(strict),
    )
    assert r.returncode == 2
    assert not strict.exists()
    assert "--strict" in r.stderr


@needs_blood
def test_without_a_reference_nothing_scores_and_both_reasons_are_given(tmp_path: Path) -> None:
    out = tmp_path / "scores.tsv"
    r = ifnscope("score", str(BLOOD), "-s", "rice6", "-s", "aybey_ifng", "-o", str(out))
    assert r.returncode == 2
    assert not out.exists()
    assert "rice6" in r.stderr
    assert "aybey_ifng" in r.stderr
    assert "--method singscore" in r.stderr
    assert "Traceback" not in r.stderr


@needs_kang
def test_bulk_cut_offs_on_single_cells_carry_a_caution() -> None:
    m = read_expression(KANG, annotations=KANG / "cells.tsv")
    assert m.annotations is not None
    cond = m.annotations.column("condition")
    ctrl = np.flatnonzero(cond == "control")
    fit = np.zeros(m.n_samples, bool)
    fit[np.random.default_rng(0).choice(ctrl, ctrl.size // 2, replace=False)] = True
    run = score(m, ["rice6"], reference=fit_reference(m, fit, rule="half of the control cells"))
    r = run.results[0]
    assert r.cutoff is not None
    assert r.cutoff.caution is not None
    assert "single cells" in r.cutoff.caution
    assert "caution: this cut-off was set on" in summary_text(run)
    assert any("singscore" in n and "coarse" in n for n in r.notes)
    assert r.calls is not None
    held = (cond == "control") & ~fit
    # measured (docs/validation.md): 0.8% of control and 74% of IFN-beta cells called high
    assert np.mean(r.calls[held] == "high") < 0.05
    assert 0.6 < np.mean(r.calls[cond == "ifnb"] == "high") < 0.9


def test_a_run_prints_briefly_in_a_notebook() -> None:
    """The repr a notebook cell shows names signatures and counts, never whole score arrays."""
    import numpy as np

    from ifnscope.signatures.matrix import DenseMatrix
    from ifnscope.signatures.scoring import score

    genes = ["IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "SIGLEC1", *[f"X{i}" for i in range(40)]]
    x = np.random.default_rng(0).random((500, len(genes))).astype(np.float32) * 50
    m = DenseMatrix(
        source="t",
        samples=np.asarray([f"s{i}" for i in range(500)], dtype=object),
        feature_ids={"gene": np.asarray(genes, dtype=object)},
        kind="bulk",
        x=x,
    )
    run = score(m, ["rice6", "aybey_ifng"], method="singscore")
    text = repr(run)
    assert text == "<ScoreRun 500 samples; rice6; not scored: aybey_ifng>"
    assert repr(run.results[0]) == "<SignatureScore rice6: singscore, 500 samples, 6/6 genes>"
