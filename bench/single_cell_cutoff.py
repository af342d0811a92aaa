"""What a bulk/qPCR cut-off means on single cells (issue 10), on Kang 2018 PBMCs.

Run: ``.venv/bin/python bench/single_cell_cutoff.py`` (prints the numbers docs/validation.md
quotes). Reference: a random half of the control cells (seed 0); shares and AUCs are on the
other half of the controls and all IFN-beta cells, as in ``bench/validate.py``.

Measured: the share of control and IFN-beta cells called high by rice6's published cut-off
(2.466, set on qPCR of whole blood), and the per-cell AUC (IFN-beta vs control) of rice6 with
its published median fold change and with singscore.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KANG = ROOT.parent / "shared" / "data" / "pbmc_ifnb_kang2018"


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(pos, neg).statistic / (pos.size * neg.size))


def measure() -> dict[str, Any]:
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import fit_reference
    from ifnscope.signatures.scoring import score

    m = read_expression(KANG, annotations=KANG / "cells.tsv")
    assert m.annotations is not None
    cond = m.annotations.column("condition")
    ctrl = np.flatnonzero(cond == "control")
    fit = np.zeros(m.n_samples, bool)
    fit[np.random.default_rng(0).choice(ctrl, ctrl.size // 2, replace=False)] = True
    held = (cond == "control") & ~fit
    ifnb = cond == "ifnb"
    ref = fit_reference(m, fit, rule="random half of the control cells")
    mfc = score(m, ["rice6"], reference=ref).results[0]
    ss = score(m, ["rice6"], method="singscore").results[0]
    assert mfc.calls is not None
    v = mfc.scores
    return {
        "cutoff": mfc.cutoff.value if mfc.cutoff else None,
        "caution": mfc.cutoff.caution if mfc.cutoff else None,
        "high_control": float(np.mean(mfc.calls[held] == "high")),
        "high_ifnb": float(np.mean(mfc.calls[ifnb] == "high")),
        "auc_median_fold_change": _auc(v[ifnb], v[held]),
        "auc_singscore": _auc(ss.scores[ifnb], ss.scores[held]),
        "distinct_mfc_values": int(np.unique(v[np.isfinite(v)]).size),
        "n_cells": int(m.n_samples),
        "notes": mfc.notes,
    }


if __name__ == "__main__":
    for k, val in measure().items():
        print(f"{k}: {val}")
