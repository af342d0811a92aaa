"""Write scores: TSV/CSV (without pandas, so a million rows stay fast), Parquet, AnnData .obs."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ifnscope.errors import MatrixError, require_extra
from ifnscope.signatures.scoring import ScoreRun

COLUMNS = ("sample", "signature", "method", "score", "call", "genes_found", "genes_total")


def _fmt(scores: np.ndarray) -> np.ndarray:
    out = np.char.mod("%.6g", np.nan_to_num(scores, nan=0.0)).astype(object)
    out[~np.isfinite(scores)] = "NA"
    return out


def _clean(values: np.ndarray, sep: str) -> np.ndarray:
    """Sample names as written: a separator or quote in a name is quoted (CSV) or replaced (TSV)."""
    s = values.astype(str)
    if sep == "\t":
        return np.char.replace(np.char.replace(s, "\t", " "), "\n", " ")
    bad = np.char.find(s, ",") >= 0
    bad |= np.char.find(s, '"') >= 0
    if bad.any():
        s = s.astype(object)
        s[bad] = ['"' + x.replace('"', '""') + '"' for x in s[bad]]
    return s


def write_delimited(run: ScoreRun, out: TextIO, sep: str = "\t") -> None:
    """Long format, one line per sample and signature."""
    out.write(sep.join(COLUMNS) + "\n")
    names = _clean(run.samples, sep).tolist()
    for r in run.results:
        scores = _fmt(r.scores).tolist()
        calls = r.calls.astype(str).tolist() if r.calls is not None else [""] * len(names)
        mid = f"{sep}{r.signature.name}{sep}{r.method}{sep}"
        tail = f"{sep}{len(r.coverage.found)}{sep}{r.coverage.total}\n"
        out.write(
            "".join([f"{n}{mid}{sc}{sep}{c}{tail}" for n, sc, c in zip(names, scores, calls, strict=True)])
        )


def write_scores(run: ScoreRun, path: str | Path | None) -> None:
    """Write to ``path`` by its extension (.tsv/.txt, .csv, .parquet), or TSV to stdout.

    Files are written to a temporary name and renamed, so an interrupted run never leaves a
    half-written output where a complete one stood.
    """
    if path is None:
        write_delimited(run, sys.stdout)
        return
    p = Path(path)
    tmp = p.with_name(p.name + ".partial")
    suffix = p.suffix.lower()
    if suffix in (".tsv", ".txt", ".tab", ".csv"):
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            write_delimited(run, fh, "," if suffix == ".csv" else "\t")
    elif suffix == ".parquet":
        require_extra("parquet", "pyarrow")  # an install without the parquet extra: say which to add
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for r in run.results:
            n = run.samples.size
            tables.append(
                pa.table(
                    {
                        "sample": pa.array(run.samples.astype(str)),
                        "signature": pa.array([r.signature.name] * n),
                        "method": pa.array([r.method] * n),
                        "score": pa.array(r.scores.astype(np.float64)),
                        "call": pa.array(r.calls.astype(str) if r.calls is not None else [""] * n),
                        "genes_found": pa.array(np.full(n, len(r.coverage.found), np.int32)),
                        "genes_total": pa.array(np.full(n, r.coverage.total, np.int32)),
                    }
                )
            )
        table = pa.concat_tables(tables)
        table = table.replace_schema_metadata({b"ifnscope": json.dumps(run.summary()).encode()})
        pq.write_table(table, tmp)
    else:
        raise MatrixError(
            f"unsupported output format {suffix!r}: use .tsv, .csv or .parquet",
            file=str(p),
            code="matrix.format",
        )
    tmp.replace(p)


DEFAULT_PREFIX = "ifn"
DEFAULT_UNS_KEY = "ifnscope"


def storable(value: Any) -> Any:
    """``value`` in a form ``AnnData.write_h5ad`` can store in ``.uns`` (None where nothing is).

    anndata writes str, numbers, bools, numpy arrays and dicts of those; it cannot write None
    (dropped here), lists of dicts (become dicts keyed "0", "1", ...) or lists mixing types
    (become arrays of strings). Lists become numpy arrays, which is what reading back gives.
    """
    if value is None:
        return None
    if isinstance(value, dict):
        out = {str(k): storable(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(value, (str, bool, np.bool_)):
        return value if isinstance(value, str) else bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [x for x in (value.tolist() if isinstance(value, np.ndarray) else value) if x is not None]
        if items and all(isinstance(x, dict) for x in items):
            return {str(i): storable(x) for i, x in enumerate(items)}
        if items and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in items):
            return np.asarray(
                items, dtype=np.float64 if any(isinstance(x, float) for x in items) else np.int64
            )
        return np.asarray([str(x) for x in items], dtype=object)
    return str(value)


def write_obs(
    run: ScoreRun,
    adata: Any,
    *,
    key_added: str | None = None,
    by: str | None = None,
    level: str = "cells",
) -> None:
    """Scores into ``adata.obs``, provenance into ``adata.uns``, aligned by ``obs_names``.

    Columns are ``<key_added>_<signature>`` and ``<key_added>_<signature>_call`` (default
    prefix ``ifn``); the provenance goes to ``adata.uns[key_added]["signatures"][<signature>]``
    (default key ``ifnscope``), where successive calls accumulate; signatures a call could not
    score are in ``adata.uns[key_added]["not_scored"]`` (code and message). A run whose samples are
    groups of cells (a pseudobulk) is written with ``by``: each cell gets its group's score.
    """
    import pandas as pd

    prefix = key_added or DEFAULT_PREFIX
    uns_key = key_added or DEFAULT_UNS_KEY
    wide = run.to_wide(prefix)
    obs_names = adata.obs_names.astype(str)
    if by is None:
        keys = pd.Index(obs_names)
        if not wide.index.isin(keys).any():
            raise MatrixError(
                f"none of the scored samples (e.g. {wide.index[0]!r}) is an observation of this "
                f"AnnData (e.g. {obs_names[0]!r}): scores of groups of cells are written with by=COLUMN",
                code="matrix.samples",
            )
    else:
        col = adata.obs[by]
        keys = pd.Index(col.astype(str).where(col.notna(), "\x00missing"))
    aligned = wide.reindex(keys).set_axis(adata.obs.index)
    for c in aligned.columns:
        adata.obs[c] = aligned[c]
    entry = adata.uns.get(uns_key)
    before = entry.get("signatures") if isinstance(entry, dict) else None
    # an older layout (a list of summaries) is replaced, not mixed in
    ok = isinstance(before, dict) and all(isinstance(v, dict) for v in before.values())
    sigs: dict[str, Any] = dict(before) if ok and isinstance(before, dict) else {}
    for r, s in zip(run.results, run.summary(), strict=True):
        name = r.signature.name
        sigs[name] = storable(
            {
                **s,
                "obs_key": f"{prefix}_{name}",
                "level": level,
                "n_scored": int(np.isfinite(r.scores).sum()),
                "scale": run.scale,
                "reference": run.reference,
                "matrix_notes": run.matrix_notes,
            }
        )
    # the last call's refusals (a signature scored since is no longer "not scored")
    before_failed = entry.get("not_scored") if isinstance(entry, dict) else None
    failed: dict[str, Any] = dict(before_failed) if isinstance(before_failed, dict) else {}
    for name in sigs:
        failed.pop(name, None)
    for f in run.failed:
        failed[f.signature] = {"code": f.code, "message": f.message}
    adata.uns[uns_key] = {"signatures": sigs, **({"not_scored": failed} if failed else {})}


def summary_text(run: ScoreRun) -> str:
    """What a researcher should read next to the numbers: coverage, scale, cut-off provenance."""
    buf = io.StringIO()
    buf.write(f"{run.samples.size} samples; {run.scale}\n")
    for note in run.matrix_notes:
        buf.write(f"  note: {note}\n")
    if run.reference:
        ref = run.reference
        buf.write(
            f"reference: {ref['controls']} controls ({ref['rule']}) from {ref['source']}, "
            f"{ref['normalization']}\n"
        )
    for s in run.summary():
        buf.write(f"{s['signature']}: {s['method']}; {s['genes_found']}/{s['genes_total']} genes")
        if s["genes_missing"]:
            buf.write(f"; missing {', '.join(s['genes_missing'])}")
        buf.write("\n")
        if s["genes_aliased"]:
            buf.write(f"  matched by another name: {'; '.join(s['genes_aliased'])}\n")
        if s["duplicates"]:
            buf.write(f"  duplicates: {'; '.join(s['duplicates'])}\n")
        cut = s["cutoff"]
        if cut:
            buf.write(
                f"  high/low cut-off {cut['value']:.4g} ({cut['kind'].replace('_', ' ')}): {cut['source']}; "
                f"{s['n_high']} at or beyond it\n"
            )
            if cut["caution"]:
                buf.write(f"  caution: {cut['caution']}\n")
        else:
            buf.write("  no high/low call: no cut-off applies to this score\n")
        for n in s["notes"]:
            buf.write(f"  note: {n}\n")
    for line in failure_lines(run):
        buf.write(line + "\n")
    return buf.getvalue()


def failure_lines(run: ScoreRun) -> list[str]:
    """One line per signature that could not be scored (absent from the output), with why."""
    return [
        f"not scored: {f.message if f.message.startswith(f.signature) else f'{f.signature}: {f.message}'}"
        f" [{f.code}]"
        for f in run.failed
    ]
