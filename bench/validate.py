"""Validate the interferon signatures on real public data in ../shared/data; write docs/validation.md.

Run: ``.venv/bin/python bench/validate.py`` (the tests call :func:`compute` and assert on it).

What is measured (see docs/validation.md for the numbers):
1. Whole blood stimulated ex vivo (4 donor series x Buffer, IL-4, IL-10, IL-13, IFN-beta,
   IFN-gamma, IFN-lambda): every type I signature scores IFN-beta above Buffer in every donor,
   IL-4/10/13 do not raise it, type-I-restricted signatures score IFN-beta above IFN-gamma and
   the IFN-gamma signature does the reverse.
2. Kang 2018 PBMC (1,000 control and 1,000 IFN-beta cells): per-cell AUC of IFN-beta vs control.
3. Epithelial cells (SAEC, HPPT): the same type specificity outside the immune system.
4. IMR90 fibroblasts after IFN-beta: the score rises from 0 h to 6 h and 24 h.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TYPE_I = [
    "rice6",
    "ifngs4",
    "feng5",
    "aybey_ifna",
    "bloodgen3_m8_3",
    "chiche_m1_2",
    "chiche_m3_4",
    "chiche_m5_12",
]
TYPE_I_RESTRICTED = ["rice6", "ifngs4", "feng5", "aybey_ifna", "bloodgen3_m8_3", "chiche_m1_2"]
TYPE_II = ["aybey_ifng"]
ALL = TYPE_I + TYPE_II
MIN_COVERAGE = 0.6  # the blood data lack CD74 and ICAM1 (4 of 6 IFN-gamma genes); stated in the doc


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(pos, neg).statistic / (pos.size * neg.size))


def _scores(m: Any, method: str | None, ref: Any) -> dict[str, np.ndarray]:
    from ifnscope.signatures.scoring import score

    run = score(m, ALL, method=method, reference=ref, min_coverage=MIN_COVERAGE)
    return {r.signature.name: r.scores for r in run.results}


def blood() -> dict[str, Any]:
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import fit_reference, select_controls

    m = read_expression(DATA / "blood_ifn_stimulation" / "whole_blood_normalized_counts.txt")
    names = [str(s) for s in m.samples]
    donors = sorted({n.split("_")[0] for n in names})
    ref = fit_reference(m, select_controls(m, "_Buffer$"), rule="_Buffer$")
    out: dict[str, Any] = {"donors": donors, "methods": {}}
    for label, method, r in (("published", None, ref), ("singscore", "singscore", None)):
        sc = _scores(m, method, r)
        table: dict[str, dict[str, dict[str, float]]] = {}
        for sig, values in sc.items():
            table[sig] = {
                d: {n.split("_", 1)[1]: float(values[i]) for i, n in enumerate(names) if n.split("_")[0] == d}
                for d in donors
            }
        out["methods"][label] = table
    return out


def kang() -> dict[str, Any]:
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import fit_reference

    folder = DATA / "pbmc_ifnb_kang2018"
    m = read_expression(folder, annotations=folder / "cells.tsv")
    assert m.annotations is not None
    cond = m.annotations.column("condition")
    rng = np.random.default_rng(0)
    ctrl = np.flatnonzero(cond == "control")
    fit_idx = rng.choice(ctrl, ctrl.size // 2, replace=False)  # fit on half the control cells...
    mask = np.zeros(m.n_samples, bool)
    mask[fit_idx] = True
    held_out = (cond == "control") & ~mask  # ...and evaluate on the other half
    ref = fit_reference(m, mask, rule="random half of the control cells")
    out: dict[str, Any] = {"n_ifnb": int((cond == "ifnb").sum()), "n_control_held_out": int(held_out.sum())}
    for label, method, r in (("published", None, ref), ("singscore", "singscore", None)):
        sc = _scores(m, method, r)
        out[label] = {s: _auc(v[cond == "ifnb"], v[held_out]) for s, v in sc.items()}
    return out


def epithelial() -> dict[str, Any]:
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import fit_reference, select_controls

    out: dict[str, Any] = {}
    for name, controls in (("saec", "Control"), ("hppt", "untreated")):
        m = read_expression(DATA / "epithelial_ifn_stimulation" / name)
        groups = np.asarray([re.sub(r"_rep\d+$", "", str(s)).split("_")[-1] for s in m.samples])
        ref = fit_reference(m, select_controls(m, controls), rule=controls)
        res: dict[str, Any] = {}
        for label, method, r in (("published", None, ref), ("singscore", "singscore", None)):
            sc = _scores(m, method, r)
            res[label] = {
                s: {g: [float(x) for x in v[groups == g]] for g in sorted(set(groups))} for s, v in sc.items()
            }
        out[name] = res
    return out


def fibroblast() -> dict[str, Any]:
    import pandas as pd

    from ifnscope.signatures import read_expression

    folder = DATA / "fibroblast_ifnb_timecourse"
    m = read_expression(folder / "GSE74863_GeneLevel_Raw_data.csv")
    meta = pd.read_csv(folder / "GSE74863_full_metadata.csv").set_index("geo_accession")["title"]
    titles = [meta[str(s)] for s in m.samples]
    hours = np.asarray([int(re.search(r"IFN_(\d+)hrs", t).group(1)) for t in titles])  # type: ignore[union-attr]
    arm = np.asarray([t.split("_IFN")[0].lower() for t in titles])
    sc = _scores(m, "singscore", None)
    return {
        s: {
            a: {h: float(np.mean(v[(arm == a) & (hours == h)])) for h in (0, 6, 24)} for a in sorted(set(arm))
        }
        for s, v in sc.items()
    }


def compute() -> dict[str, Any]:
    return {"blood": blood(), "kang": kang(), "epithelial": epithelial(), "fibroblast": fibroblast()}


# ------------------------------------------------------------------------------ report


def blood_stats(per: dict[str, dict[str, float]], donors: list[str]) -> dict[str, float]:
    """Per signature, over donors: the worst case of each whole-blood property."""
    up = [per[x]["IFNbeta"] - per[x]["Buffer"] for x in donors]
    il = [
        (max(per[x][k] for k in ("IL4", "IL10", "IL13")) - per[x]["Buffer"])
        / (per[x]["IFNbeta"] - per[x]["Buffer"])
        for x in donors
    ]
    il_below = [max(per[x][k] for k in ("IL4", "IL10", "IL13")) < per[x]["IFNbeta"] for x in donors]
    bg = [per[x]["IFNbeta"] - per[x]["IFNgamma"] for x in donors]
    return {
        "ifnb_up": float(sum(u > 0 for u in up)),
        "ifnb_minus_buffer": min(up),
        "il_shift": max(il),
        "il_below_ifnb": float(all(il_below)),
        "ifnb_minus_ifng": min(bg),
        "ifng_minus_ifnb": -max(bg),
    }


# Below this magnitude a mean or difference of means is floating noise (-5.55e-17 for two equal
# values on one BLAS, 0 on another): written as 0 so the document does not depend on it.
NOISE = 1e-9


def _fmt(x: float) -> str:
    return "0" if abs(x) < NOISE else f"{x:.3g}"


def write_doc(res: dict[str, Any], path: Path) -> None:
    from ifnscope.signatures.catalog import get_signature

    lines = [
        "# Validation of the interferon signatures on real data",
        "",
        "Generated by `bench/validate.py` from the public data in `../shared/data` (see its README for "
        "sources and licences); `tests/signatures/test_validation_real.py` asserts the properties below "
        'on the same computation. "published" = each signature\'s own method with a fixed reference '
        'fitted on the data set\'s controls; "singscore" = the reference-free rank score. Minimum gene '
        f"coverage {MIN_COVERAGE:.0%} (the blood data lack CD74 and ICAM1, so the IFN-gamma signature "
        "has 4 of 6 genes).",
        "",
    ]
    b = res["blood"]
    for label in ("published", "singscore"):
        t = b["methods"][label]
        lines += [
            f"## Whole blood, {label} method",
            "",
            "Per donor (D1, D1R, D2, D3). *IL shift* is the largest (IL-4, IL-10 or IL-13 minus Buffer) "
            "divided by (IFN-beta minus Buffer), over donors: above 0 means a cytokine raised the score.",
            "",
            "| signature | type | method | IFN-b > Buffer (donors) | IFN-b - Buffer (min) | "
            "IL shift (max) | IFN-b - IFN-g (min) | IFN-g - IFN-b (min) |",
            "|---|---|---|---:|---:|---:|---:|---:|",
        ]
        for sig, per in t.items():
            d = get_signature(sig).definition
            st = blood_stats(per, b["donors"])
            method = d.method if label == "published" else "singscore"
            lines.append(
                f"| {sig} | {d.interferon_type} | {method} | {int(st['ifnb_up'])}/{len(b['donors'])} | "
                f"{_fmt(st['ifnb_minus_buffer'])} | {_fmt(st['il_shift'])} | "
                f"{_fmt(st['ifnb_minus_ifng'])} | {_fmt(st['ifng_minus_ifnb'])} |"
            )
        lines.append("")
    k = res["kang"]
    lines += [
        "## Kang 2018 PBMC, per-cell AUC (IFN-beta vs control)",
        "",
        f"{k['n_ifnb']} IFN-beta cells vs {k['n_control_held_out']} held-out control cells; the fixed "
        "reference was fitted on the other half of the control cells.",
        "",
        "| signature | published method | singscore |",
        "|---|---:|---:|",
    ]
    for sig in ALL:
        lines.append(f"| {sig} | {k['published'][sig]:.3f} | {k['singscore'][sig]:.3f} |")
    lines.append("")
    for name, r in res["epithelial"].items():
        lines += [
            f"## Epithelial cells ({name.upper()}), mean score per stimulus",
            "",
            "| signature | method | " + " | ".join(r["published"][ALL[0]]) + " |",
            "|---|---|" + "---:|" * len(r["published"][ALL[0]]),
        ]
        for label in ("published", "singscore"):
            for sig in ALL:
                vals = r[label][sig]
                lines.append(
                    f"| {sig} | {label} | "
                    + " | ".join(_fmt(float(np.mean(v))) for v in vals.values())
                    + " |"
                )
        lines.append("")
    f = res["fibroblast"]
    lines += [
        "## IMR90 fibroblasts after IFN-beta (singscore, mean of replicates)",
        "",
        "| signature | arm | 0 h | 6 h | 24 h |",
        "|---|---|---:|---:|---:|",
    ]
    for sig in ALL:
        for arm, hrs in f[sig].items():
            lines.append(f"| {sig} | {arm} | {_fmt(hrs[0])} | {_fmt(hrs[6])} | {_fmt(hrs[24])} |")
    lines.append("")
    lines += ["## Reading the numbers", "", *reading(res), ""]
    path.write_text("\n".join(lines))


def reading(res: dict[str, Any]) -> list[str]:
    """The conclusions, computed from the numbers (so they cannot drift from them)."""
    b = res["blood"]
    out = []
    for label in ("published", "singscore"):
        st = {s: blood_stats(b["methods"][label][s], b["donors"]) for s in ALL}
        all_up = all(st[s]["ifnb_up"] == len(b["donors"]) for s in TYPE_I)
        out.append(
            f"- Whole blood, {label}: every type I signature scores IFN-beta above Buffer in every donor: "
            f"{'yes' if all_up else 'NO'}."
        )
        worst = max(TYPE_I, key=lambda s: st[s]["il_shift"])
        out.append(
            f"- Whole blood, {label}: IL-4/10/13 never reach the IFN-beta score; the largest rise above "
            f"Buffer is {st[worst]['il_shift']:.0%} of the IFN-beta rise ({worst}). Most type I scores fall "
            "below Buffer under these cytokines."
        )
        restricted = all(st[s]["ifnb_minus_ifng"] > 0 for s in TYPE_I_RESTRICTED)
        out.append(
            f"- Whole blood, {label}: type-I-restricted signatures score IFN-beta above IFN-gamma in every "
            f"donor: {'yes' if restricted else 'NO'}; the IFN-gamma signature scores IFN-gamma above "
            f"IFN-beta in every donor: {'yes' if st['aybey_ifng']['ifng_minus_ifnb'] > 0 else 'NO'} "
            f"(smallest margin {_fmt(st['aybey_ifng']['ifng_minus_ifnb'])})."
        )
    k = res["kang"]
    low = min((k[m][s], s, m) for m in ("published", "singscore") for s in TYPE_I)
    out.append(
        f"- Kang PBMC: the lowest per-cell AUC of a type I signature is {low[0]:.3f} ({low[1]}, {low[2]}); "
        "the IFN-gamma signature reaches "
        f"{max(k['published']['aybey_ifng'], k['singscore']['aybey_ifng']):.3f}."
    )
    for name, r in res["epithelial"].items():
        ok = all(
            np.mean(r[m][s]["IFNa"]) > np.mean(r[m][s]["IFNg"])
            and np.mean(r[m][s]["IFNb"]) > np.mean(r[m][s]["IFNg"])
            for m in ("published", "singscore")
            for s in TYPE_I_RESTRICTED
        )
        rev = all(
            np.mean(r[m]["aybey_ifng"]["IFNg"])
            > max(np.mean(r[m]["aybey_ifng"]["IFNa"]), np.mean(r[m]["aybey_ifng"]["IFNb"]))
            for m in ("published", "singscore")
        )
        out.append(
            f"- {name.upper()}: type-I-restricted signatures score IFN-alpha and IFN-beta above IFN-gamma: "
            f"{'yes' if ok else 'NO'}; the IFN-gamma signature the reverse: {'yes' if rev else 'NO'}."
        )
    f = res["fibroblast"]
    rises = all(f[s][a][6] > f[s][a][0] and f[s][a][24] > f[s][a][0] for s in TYPE_I for a in f[s])
    out.append(
        f"- IMR90 fibroblasts: every type I score is higher at 6 h and 24 h than at 0 h in every arm: "
        f"{'yes' if rises else 'NO'}."
    )
    return out


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"no data at {DATA}")
    t = time.time()
    res = compute()
    write_doc(res, ROOT / "docs" / "validation.md")
    print(f"wrote docs/validation.md in {time.time() - t:.1f} s")


if __name__ == "__main__":
    main()
