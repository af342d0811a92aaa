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


def write_obs(run: ScoreRun, adata: Any, *, key_added: str = "ifnscope") -> None:
    """Scores into ``adata.obs`` (``ifn_<signature>``, ``ifn_<signature>_call``), provenance into ``uns``."""
    wide = run.to_wide()
    obs_names = adata.obs_names.astype(str)
    wide = wide.reindex(obs_names)
    for col in wide.columns:
        adata.obs[col] = wide[col].to_numpy()
    adata.uns[key_added] = {
        "scale": run.scale,
        "reference": run.reference or {},
        "signatures": json.loads(json.dumps(run.summary(), default=str)),
    }


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
