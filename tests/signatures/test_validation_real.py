"""Validation on real public data (../shared/data): the properties docs/validation.md reports.

The numbers are computed once by bench/validate.py's ``compute`` (the same code that writes
the document), so the document and these assertions cannot disagree.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import SHARED

DATA = SHARED / "data"
pytestmark = pytest.mark.skipif(
    not (DATA / "blood_ifn_stimulation").is_dir(),
    reason=f"SKIPPED: the real validation data are not at {DATA} (clone ../shared beside the repo)",
)


def _validate_module() -> Any:
    path = Path(__file__).resolve().parents[2] / "bench" / "validate.py"
    spec = importlib.util.spec_from_file_location("ifnscope_bench_validate", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def v() -> Any:
    return _validate_module()


@pytest.fixture(scope="module")
def res(v: Any) -> dict[str, Any]:
    return v.compute()


@pytest.mark.parametrize("method", ["published", "singscore"])
def test_whole_blood_type_i_scores_rise_with_ifn_beta_in_every_donor(v: Any, res: dict, method: str) -> None:
    b = res["blood"]
    for sig in v.TYPE_I:
        st = v.blood_stats(b["methods"][method][sig], b["donors"])
        assert st["ifnb_up"] == 4, sig
        # IL-4/10/13 give no interferon signal: never near the IFN-beta score
        assert st["il_below_ifnb"] == 1.0, sig
        assert st["il_shift"] < 0.25, sig


@pytest.mark.parametrize("method", ["published", "singscore"])
def test_whole_blood_type_specificity(v: Any, res: dict, method: str) -> None:
    b = res["blood"]
    for sig in v.TYPE_I_RESTRICTED:
        assert v.blood_stats(b["methods"][method][sig], b["donors"])["ifnb_minus_ifng"] > 0, sig
    assert v.blood_stats(b["methods"][method]["aybey_ifng"], b["donors"])["ifng_minus_ifnb"] > 0


def test_kang_pbmc_cells_separate_ifn_beta_from_control(v: Any, res: dict) -> None:
    k = res["kang"]
    for method in ("published", "singscore"):
        for sig in v.TYPE_I:
            assert k[method][sig] >= 0.85, (method, sig, k[method][sig])
        assert k[method]["aybey_ifng"] < min(k[method][s] for s in v.TYPE_I)
    assert k["singscore"]["aybey_ifna"] > 0.98


@pytest.mark.parametrize("dataset", ["saec", "hppt"])
def test_epithelial_cells_show_the_same_type_specificity(v: Any, res: dict, dataset: str) -> None:
    r = res["epithelial"][dataset]
    for method in ("published", "singscore"):
        for sig in v.TYPE_I_RESTRICTED:
            m = {g: np.mean(x) for g, x in r[method][sig].items()}
            assert m["IFNa"] > m["IFNg"], (method, sig)
            assert m["IFNb"] > m["IFNg"], (method, sig)
        g = {k: np.mean(x) for k, x in r[method]["aybey_ifng"].items()}
        assert g["IFNg"] > max(g["IFNa"], g["IFNb"]), method


def test_fibroblast_scores_rise_after_ifn_beta(v: Any, res: dict) -> None:
    f = res["fibroblast"]
    for sig in v.TYPE_I:
        for arm, hours in f[sig].items():
            assert hours[6] > hours[0], (sig, arm)
            assert hours[24] > hours[0], (sig, arm)


def test_the_document_is_current(v: Any, res: dict, tmp_path: Path) -> None:
    """docs/validation.md must be what bench/validate.py writes today."""
    out = tmp_path / "validation.md"
    v.write_doc(res, out)
    committed = (Path(__file__).resolve().parents[2] / "docs" / "validation.md").read_text()
    hint = "run `.venv/bin/python bench/validate.py` and commit docs/validation.md"
    new_text, new_nums = _split_numbers(out.read_text())
    old_text, old_nums = _split_numbers(committed)
    assert new_text == old_text, hint
    assert len(new_nums) == len(old_nums), hint
    for (a, unit_a), (b, unit_b) in zip(new_nums, old_nums, strict=True):
        # Numbers are written to 3 significant figures: another BLAS or numpy may flip the
        # last digit written, never more.
        assert math.isclose(a, b, abs_tol=max(unit_a, unit_b) * 1.001), (a, b, hint)


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.(\d+))?(?:e([+-]?\d+))?(?![\w.])")


def _split_numbers(text: str) -> tuple[str, list[tuple[float, float]]]:
    """The text with every number replaced by ``#``, and each number with its last digit's unit."""
    nums: list[tuple[float, float]] = []

    def take(m: re.Match[str]) -> str:
        decimals = len(m.group(1) or "")
        exponent = int(m.group(2) or 0)
        nums.append((float(m.group(0)), 10.0 ** (exponent - decimals)))
        return "#"

    return _NUMBER.sub(take, text), nums


def test_number_splitting_reads_the_precision_written() -> None:
    text, nums = _split_numbers("| a1 | 0.124 | -5.55e-17 | 12 | 1.5e-05 |")
    assert text == "| a1 | # | # | # | # |"
    assert [n for n, _ in nums] == [0.124, -5.55e-17, 12.0, 1.5e-05]
    assert [u for _, u in nums] == pytest.approx([1e-3, 1e-19, 1.0, 1e-6])
