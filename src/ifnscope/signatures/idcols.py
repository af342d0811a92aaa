"""Which column names the genes, and are these human genes: the checks every reader shares.

Three ways an input gives wrong genes without an error, each stopped here:

- **row numbers read as Entrez IDs**: ``0..N-1`` or ``1..N`` (an R ``write.csv`` row-name
  column, anndata's default var_names) are valid Entrez IDs (1 = A1BG, 2 = A2M ...). A
  consecutive run of integers is row numbers; real Entrez columns are sparse (3434, 10561).
- **a symbol column overridden by numeric IDs**: a recognised symbol column that resolves
  outranks a column of numbers.
- **mouse data scored as human**: title-case symbols (``Ifit1``) resolve to human genes only
  case-insensitively, and ENSMUSG IDs not at all; such data are refused (``matrix.species``).

Sample names are checked here too: an empty or repeated name would merge or lose samples.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ifnscope.errors import MatrixError
from ifnscope.signatures.genes import Match, clean_identifier, gene_table, mouse_evidence

# An identifier axis must resolve at least this share to count as genes (rows of spike-ins,
# transcripts or unannotated loci lower the share; sample names resolve to ~0).
MIN_GENE_SHARE = 0.1
# Share of (sampled) identifiers that must look mouse-like, and outnumber the human ones,
# before a matrix is refused as mouse.
MOUSE_SHARE = 0.3
# Share of the *recognised* identifiers (mouse-like or resolving as human) that may look mouse
# before a table is refused as mixed: with gene-like noise (``G1``, spike-ins, unannotated
# loci) a mouse table can stay under MOUSE_SHARE of all identifiers, and a table of human and
# mouse genes side by side is no human sample either. Human tables hold essentially no
# title-case symbols that exist only in upper case (the gene table's symbols are case-exact);
# a few stray ones (hand-edited names, under this share) are read, and left unmatched with a
# note when the genes are matched (extract.map_features).
MIXED_SHARE = 0.25
# ... counted only from this many mouse-like identifiers on.
MIXED_MIN = 3

_BASE_ID_COLUMNS = (
    "gene_ids",
    "gene_id",
    "geneid",
    "gene_symbols",
    "gene_symbol",
    "gene_name",
    "gene_names",
    "feature_name",
    "feature_names",
    "feature_id",
    "features",
    "symbol",
    "symbols",
    "gene",
    "genes",
    "ensembl_id",
    "ensembl_gene_id",
    "ensembl",
    "hgnc_symbol",
    "external_gene_name",
    "entrez_id",
    "entrezid",
    "entrez",
    "gene symbol",
    "gene.symbol",
    "gene_assignment_symbol",
)


def _spellings(names: tuple[str, ...]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for n in names:
        for v in (n, n.capitalize(), n.upper(), n.title(), n.replace("_", "").replace("gene", "Gene")):
            out.setdefault(v, None)
    out.setdefault("GeneID", None)
    out.setdefault("Gene Symbol", None)
    out.setdefault("Gene.Symbol", None)
    out.setdefault("GENE_SYMBOL", None)
    return tuple(out)


# Column names that hold gene identifiers, in the spellings found in the wild (an AnnData's
# var columns are matched exactly against this tuple; readers use :func:`is_id_column`).
ID_COLUMNS = _spellings(_BASE_ID_COLUMNS)
_ID_KEYS = {re.sub(r"[\s._-]+", "", n.lower()) for n in _BASE_ID_COLUMNS}


def is_id_column(name: str) -> bool:
    """A column name that says it holds gene identifiers (case, spaces, dots, underscores ignored)."""
    return re.sub(r"[\s._-]+", "", str(name).strip().strip('"').lower()) in _ID_KEYS


def as_integers(values: np.ndarray) -> np.ndarray | None:
    """The values as int64 when every one is a whole number (as number or digit string), else None."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not (arr == np.round(arr)).all():
            return None
        return arr.astype(np.int64)
    if arr.size == 0:
        return None
    out = np.empty(arr.size, np.int64)
    for i, v in enumerate(arr.ravel()):
        s = clean_identifier(v)
        if not s.isdigit() or len(s) > 18:
            return None
        out[i] = int(s)
    return out


# A strictly increasing integer column at least this long that covers more than half of
# 0..max is row numbers with gaps (an AnnData's default var_names after genes were filtered);
# a real Entrez column of 20+ genes spans thousands to millions.
FILTERED_ROWS_MIN = 20


def is_row_numbers(values: np.ndarray) -> bool:
    """Row numbers, never Entrez IDs: a consecutive run of distinct integers (in any order), or
    a strictly increasing run of 20+ that covers more than half of ``0..max`` (filtered rows)."""
    if np.asarray(values).size < 2:
        return False
    ints = as_integers(values)
    if ints is None:
        return False
    lo, hi = int(ints.min()), int(ints.max())
    if hi - lo + 1 == ints.size and np.unique(ints).size == ints.size:
        return True
    return bool(ints.size >= FILTERED_ROWS_MIN and (np.diff(ints) > 0).all() and hi < 2 * ints.size)


def resolvable_fraction(ids: np.ndarray, limit: int = 2000) -> float:
    """Share of (up to ``limit``) identifiers that are a current symbol, an Ensembl or Entrez ID.

    A quick probe to tell gene identifiers from sample names; previous symbols and aliases are
    not consulted here (they are, when the genes are actually matched). Row numbers resolve to
    nothing.
    """
    if is_row_numbers(ids):
        return 0.0
    table = gene_table()
    sample = ids[:: max(1, ids.size // limit)][:limit] if ids.size else ids
    if sample.size == 0:
        return 0.0
    hits = 0
    for x in sample:
        ident = clean_identifier(str(x))
        if ident in table.by_symbol or (ident.isdigit() and int(ident) in table.by_entrez):
            hits += 1
        elif ident.startswith("ENSG"):
            hits += isinstance(table.resolve(ident), Match)
        elif ident.upper() in table.by_upper and not mouse_evidence(ident, table):
            hits += 1  # a lower-cased human symbol ("ifi27"); title case ("Ifit1") is mouse
    return hits / sample.size


def _is_numeric_ids(values: np.ndarray, limit: int = 200) -> bool:
    sample = values[:: max(1, values.size // limit)][:limit]
    return sample.size > 0 and all(clean_identifier(v).isdigit() for v in sample)


def mouse_fraction(ids: np.ndarray, limit: int = 2000) -> float:
    """Share of (up to ``limit``) identifiers that look like mouse genes (see genes.mouse_evidence)."""
    return _species_counts(ids, limit)[0] / max(_sample(ids, limit).size, 1)


def _sample(ids: np.ndarray, limit: int) -> np.ndarray:
    return ids[:: max(1, ids.size // limit)][:limit] if ids.size else ids


def _species_counts(ids: np.ndarray, limit: int = 2000) -> tuple[int, int]:
    """(mouse-like, resolving as human) among (up to ``limit``) sampled identifiers."""
    table = gene_table()
    sample = _sample(ids, limit)
    mouse = sum(mouse_evidence(str(x), table) for x in sample)
    human = round(resolvable_fraction(ids, limit) * sample.size) if sample.size else 0
    return int(mouse), int(human)


def check_species(cols: dict[str, np.ndarray], file: str | None = None) -> None:
    """Refuse mouse-looking identifiers that do not resolve as human (``matrix.species``).

    Refused: mouse-like identifiers that are MOUSE_SHARE of a column and outnumber the human
    ones (a mouse table), or MIXED_SHARE of the recognised identifiers (a mouse table padded
    with unrecognised names, or human and mouse genes mixed). Called for the identifier
    columns a reader actually uses (an AnnData's var or .raw.var, a table's rows or header).
    """
    if not cols:
        return
    human = max(resolvable_fraction(v) for v in cols.values())
    for name, values in cols.items():
        n = _sample(values, 2000).size
        if n == 0:
            continue
        n_mouse, n_human = _species_counts(values)
        share = n_mouse / n
        recognised = n_mouse / max(n_mouse + n_human, 1)
        mixed = n_mouse >= MIXED_MIN and recognised >= MIXED_SHARE
        if (share >= MOUSE_SHARE and share > human) or mixed:
            table = gene_table()
            mice = [str(x) for x in _sample(values, 2000) if mouse_evidence(str(x), table)]
            examples = ", ".join(mice[:5])
            what = (
                "these look like mouse gene identifiers"
                if n_mouse > n_human
                else "human and mouse gene identifiers are mixed"
            )
            raise MatrixError(
                f"{what} (column '{name}': {n_mouse} of {n} identifiers checked are title-case "
                f"symbols such as 'Ifit1' or ENSMUSG IDs, e.g. {examples}; {n_human} resolve as "
                "human); ifnscope's signatures are human: map the genes to human orthologues "
                "first",
                file=file,
                code="matrix.species",
            )


def choose_id_columns(
    cols: dict[str, np.ndarray], *, file: str | None = None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Identifier columns, the best first, and notes on what was set aside.

    Row-number columns are dropped; a column named like a symbol column (``gene_symbol``,
    ``Gene Symbol``...) or any non-numeric column that resolves outranks numeric IDs; mouse
    identifiers are refused.
    """
    notes: list[str] = []
    kept: dict[str, np.ndarray] = {}
    for name, values in cols.items():
        if is_row_numbers(values):
            notes.append(
                f"identifier column '{name}' holds consecutive integers "
                f"({clean_identifier(values[0])}, {clean_identifier(values[1])}, ...): row numbers, "
                "not Entrez IDs; not used"
            )
        else:
            kept[name] = values
    if cols and not kept:
        raise MatrixError(
            f"the only identifier column(s) ({', '.join(cols)}) hold consecutive integers "
            "(row numbers), not gene identifiers; expected HGNC symbols, Ensembl gene IDs or "
            "(sparse) Entrez IDs, e.g. a var column gene_symbols or gene_ids",
            file=file,
            code="matrix.genes",
        )
    check_species(kept, file)
    if len(kept) <= 1:
        return kept, notes
    frac = {k: resolvable_fraction(v) for k, v in kept.items()}
    numeric = {k: _is_numeric_ids(v) for k, v in kept.items()}
    good_text = any(frac[k] >= MIN_GENE_SHARE and not numeric[k] for k in kept)

    def rank(k: str) -> tuple[int, float]:
        # a symbol column that resolves is never overridden by a column of numbers
        return int(numeric[k] and good_text), -frac[k]

    ordered = dict(sorted(kept.items(), key=lambda kv: rank(kv[0])))
    return ordered, notes


def order_id_columns(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Identifier columns, the one that resolves best first (row numbers dropped, mouse refused).

    Only row numbers: refused (``matrix.genes``), never read as Entrez IDs.
    """
    ordered, _ = choose_id_columns(cols)
    return ordered


def check_samples(
    samples: np.ndarray, *, file: str | None = None, what: str = "sample", hint: str = ""
) -> None:
    """Refuse empty and repeated sample names (``matrix.samples``), naming them."""
    names = np.asarray(samples, dtype=object)
    stripped = [str(s).strip() for s in names]
    empty = [i for i, s in enumerate(stripped) if not s or s.lower() == "nan"]
    if empty:
        where = ", ".join(str(i + 1) for i in empty[:5]) + (" ..." if len(empty) > 5 else "")
        raise MatrixError(
            f"{len(empty)} {what} name(s) are empty (position {where}); every {what} needs a name",
            file=file,
            code="matrix.samples",
        )
    if len(set(stripped)) != len(stripped):
        counts = Counter(stripped)
        dups = [f"{s!r} x{n}" for s, n in counts.items() if n > 1]
        raise MatrixError(
            f"{len(dups)} {what} name(s) occur more than once: {', '.join(dups[:10])}"
            + (" ..." if len(dups) > 10 else "")
            + f"; every {what} needs its own name (nothing was merged){hint}",
            file=file,
            code="matrix.samples",
        )
