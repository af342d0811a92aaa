"""GEO series-matrix files (``GSE..._series_matrix.txt[.gz]``) and GPL probe-to-gene tables.

A series matrix holds one value per probe (``ID_REF`` rows) and sample (GSM columns) between
``!series_matrix_table_begin`` and ``!series_matrix_table_end``; the ``!Sample_`` lines above
describe the samples and become annotation columns (``title``, ``geo_accession``,
``characteristics: disease state`` ...), so ``--controls 'characteristics: disease state=healthy'``
selects controls. Array probe IDs are not genes: a GPL annotation table (``--probe-map``,
columns ``ID`` and ``Gene Symbol``/``GENE_SYMBOL``/``Symbol``) maps them; a probe mapped to
several genes (``A /// B``) is not used.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from ifnscope.errors import MatrixError
from ifnscope.signatures.idcols import MIN_GENE_SHARE, check_samples, choose_id_columns, resolvable_fraction
from ifnscope.signatures.matrix import Annotations, DenseMatrix
from ifnscope.signatures.safety import (
    check_axis,
    check_budget,
    open_binary,
    open_text,
    read_errors,
    too_large,
)

BEGIN = "!series_matrix_table_begin"
END = "!series_matrix_table_end"
_SYMBOL_COLUMNS = ("gene symbol", "gene_symbol", "symbol", "gene.symbol", "genesymbol", "gene_name")


def is_series_matrix(path: Path) -> bool:
    """By name (``_series_matrix``) or by content (a first line starting ``!Series_``)."""
    if "series_matrix" in path.name.lower():
        return True
    try:
        with open_text(path) as fh:
            return fh.read(8) == "!Series_"
    except MatrixError:
        return False


def _unquote(x: str) -> str:
    x = x.strip()
    return x[1:-1] if len(x) >= 2 and x[0] == x[-1] == '"' else x


def read_series_matrix(path: Path, *, probe_map: str | Path | None = None) -> DenseMatrix:
    """A GEO series matrix; ``probe_map`` maps its probe IDs to gene symbols."""
    import pandas as pd

    src = str(path)
    meta: dict[str, list[list[str]]] = {}
    skip = 0
    with open_text(path) as fh:
        for line in fh:
            skip += 1
            if line.startswith(BEGIN):
                break
            if line.startswith("!Sample_"):
                key, _, rest = line.rstrip("\r\n").partition("\t")
                meta.setdefault(key[len("!Sample_") :], []).append([_unquote(v) for v in rest.split("\t")])
        else:
            raise MatrixError(
                f"a GEO series matrix without {BEGIN!r}: no expression table", file=src, code="matrix.format"
            )
        _check_table(fh, src)
    raw = open_binary(path)
    try:
        with read_errors(path, what="cannot read the series matrix table: "):
            buf = io.BufferedReader(raw, 1024 * 1024)
            for _ in range(skip):
                buf.readline()
            df = pd.read_csv(
                buf, sep="\t", comment="!", dtype={0: str}, low_memory=False, na_values=["null", "NULL", ""]
            )
    except MatrixError:
        if raw.exceeded:
            raise too_large(raw.cap, src) from None
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MatrixError(
            f"cannot read the series matrix table: {exc}", file=src, code="matrix.format"
        ) from None
    finally:
        raw.close()
    if df.shape[0] == 0 or df.shape[1] < 2:
        raise MatrixError("the series matrix table is empty", file=src, code="matrix.empty")
    probes = df.iloc[:, 0].astype(str).str.strip('"').to_numpy(dtype=object)
    check_axis(probes.size, "probes", src)
    samples = np.asarray([_unquote(str(c)) for c in df.columns[1:]], dtype=object)
    check_samples(samples, file=src)
    values = df.iloc[:, 1:].apply(pd.to_numeric, errors="coerce")
    check_budget(4.0 * values.size, "the series matrix values", src)
    x = values.to_numpy(dtype=np.float32).T
    notes = [f"GEO series matrix: {probes.size} probes x {samples.size} samples"]
    if probe_map is not None:
        symbols, map_notes, multi = map_probes(probes, Path(probe_map))
        # the probe IDs themselves are not offered as identifiers: numeric probe IDs (Affymetrix
        # transcript clusters, Agilent row numbers) would otherwise resolve as Entrez IDs
        cols = {"symbol (probe map)": symbols}
        notes += map_notes
        if resolvable_fraction(symbols) < MIN_GENE_SHARE:
            raise MatrixError(
                _unmapped_message(probes, symbols, multi), file=str(probe_map), code="matrix.genes"
            )
    else:
        cols = {"ID_REF": probes}
    ids, id_notes = choose_id_columns(cols, file=src)
    numeric_probes = all(str(p).strip().isdigit() for p in probes[:200])
    if (
        not ids
        or resolvable_fraction(next(iter(ids.values()))) < MIN_GENE_SHARE
        or (probe_map is None and numeric_probes)
    ):
        raise MatrixError(
            f"the probe IDs ({', '.join(str(p) for p in probes[:3])} ...) are not gene identifiers; "
            "give the platform's annotation table with --probe-map FILE (GEO: the GPL page, "
            "'Download full table'; columns ID and Gene Symbol)",
            file=src,
            code="matrix.genes",
        )
    notes += id_notes
    if not np.isfinite(x).all():
        n_bad = int((~np.isfinite(x)).sum())
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        notes.append(f"{n_bad} missing or non-finite values read as 0")
    return DenseMatrix(
        source=src,
        samples=samples,
        feature_ids=ids,
        kind="bulk",
        annotations=sample_annotations(meta, samples),
        notes=notes,
        x=np.ascontiguousarray(x),
    )


def _check_table(fh: Any, src: str) -> None:
    """The table is whole: every row has the header's number of fields, and the end marker
    is there. A download cut short ends mid-row without ``!series_matrix_table_end``; pandas
    would read it silently, the last value cut (``8.12`` of ``8.123``) and the rest missing."""
    header = fh.readline()
    n_fields = header.count("\t") + 1
    row = 0
    for line in fh:
        if line.startswith(END):
            return
        row += 1
        if not line.strip() or line.startswith("!"):
            continue
        n = line.count("\t") + 1
        if n != n_fields:
            raise MatrixError(
                f"row {row} of the series matrix table ({line.split(chr(9), 1)[0][:40]}) has {n} "
                f"fields, the header {n_fields}; the table is damaged"
                + ("" if n > n_fields else " or the file is truncated"),
                file=src,
                code="matrix.corrupt",
            )
    raise MatrixError(
        f"the series matrix table has no end marker ({END!r}) after {row} rows: the file looks "
        "truncated (an interrupted download); download it again",
        file=src,
        code="matrix.corrupt",
    )


def sample_annotations(meta: dict[str, list[list[str]]], samples: np.ndarray) -> Annotations:
    """``!Sample_`` lines as columns: one per field; ``characteristics_ch1`` by its keys."""
    n = samples.size
    cols: dict[str, list[str]] = {}
    for key, lines in meta.items():
        for vals in lines:
            if len(vals) != n:
                continue
            if key.startswith("characteristics"):
                for i, v in enumerate(vals):
                    k, sep, value = v.partition(":")
                    name = f"characteristics: {k.strip()}" if sep else f"{key}"
                    cols.setdefault(name, [""] * n)[i] = value.strip() if sep else v.strip()
            elif key not in cols:
                cols[key] = [v.strip() for v in vals]
    # a table aligned with the table's own GSM columns when the accessions are given
    order = np.arange(n)
    if "geo_accession" in cols:
        pos = {acc: i for i, acc in enumerate(cols["geo_accession"])}
        if all(str(s) in pos for s in samples):
            order = np.asarray([pos[str(s)] for s in samples])
    aligned = {k: np.asarray(v, dtype=object)[order] for k, v in cols.items()}
    return Annotations(list(aligned), lambda name: aligned[name])


def _symbol_column(header: list[str]) -> int | None:
    low = [h.strip().lower() for h in header]
    for want in _SYMBOL_COLUMNS:
        if want in low:
            return low.index(want)
    return None


def _unmapped_message(probes: np.ndarray, symbols: np.ndarray, multi: dict[str, str]) -> str:
    """Why the probe map gave (almost) no usable gene: the examples say which case it is."""
    mapped = [str(s) for s in symbols if s]
    several = [f"{p} -> {multi[str(p)]}" for p in probes if str(p) in multi]
    if not mapped and several:
        return (
            f"no probe of the series matrix maps to a single gene: {len(several)} of {probes.size} "
            f"map to several genes each in the probe map (e.g. {'; '.join(several[:3])})"
            + ("" if len(several) == probes.size else ", the rest to none")
            + "; a probe naming several genes ('A /// B') is not used: give a map with one gene "
            "symbol per probe"
        )
    if not mapped and not several:
        return (
            f"none of the series matrix's probe IDs (e.g. {', '.join(str(p) for p in probes[:3])}) "
            "is in the probe map's ID column with a gene symbol: is it the table of this platform "
            "(the series' !Series_platform_id)?"
        )
    parts = []
    if mapped:
        parts.append(f"{len(mapped)} map to one symbol, few of which resolve (e.g. {', '.join(mapped[:3])})")
    if several:
        parts.append(f"{len(several)} to several genes (e.g. {'; '.join(several[:2])}), not used")
    return (
        f"the probe map gives too few human genes: of {probes.size} probes, {', '.join(parts)}; "
        "expected HGNC symbols in its Gene Symbol column"
    )


def map_probes(probes: np.ndarray, path: Path) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Each probe's gene symbol from a GPL table ('' when unmapped or mapped to several genes),
    notes, and the probes mapped to several genes (probe -> what the map says)."""
    if not path.exists():
        raise MatrixError("no such probe map file", file=str(path), code="matrix.not-found")
    table: dict[str, str] = {}
    several: dict[str, str] = {}
    with open_text(path) as fh:
        lines = (ln for ln in fh if ln.strip() and ln[0] not in "#!^")
        reader: Any = csv.reader(lines, delimiter="\t")
        header: list[str] = next(reader, [])
        id_col = next(
            (i for i, h in enumerate(header) if h.strip().upper() in ("ID", "ID_REF", "PROBE_ID")), None
        )
        sym_col = _symbol_column(header)
        if id_col is None or sym_col is None:
            raise MatrixError(
                "a probe map needs an ID column and a gene symbol column (Gene Symbol, GENE_SYMBOL "
                f"or Symbol); found: {', '.join(header[:12])}",
                file=str(path),
                code="matrix.format",
            )
        for row in reader:
            if len(row) <= max(id_col, sym_col):
                continue
            sym = row[sym_col].strip()
            if "///" in sym or "//" in sym or ";" in sym or "," in sym:
                several[row[id_col].strip()] = sym
                sym = ""
            table[row[id_col].strip()] = sym
    symbols = np.asarray([table.get(str(p), "") for p in probes], dtype=object)
    mapped = int(sum(1 for s in symbols if s))
    notes = [f"probe map {path.name}: {mapped} of {probes.size} probes mapped to a single gene symbol"]
    multi = {str(p): several[str(p)] for p in probes if str(p) in several}
    if several:
        notes.append(
            f"{len(several)} probes of the map ({len(multi)} in the matrix) name several genes "
            "('A /// B') and are not used"
        )
    return symbols, notes, multi
