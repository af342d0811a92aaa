"""Offline human gene identifier resolution: symbols, previous symbols, aliases, Ensembl, Entrez.

The table (``data/genes/human_genes.tsv.gz``, 77,614 genes) comes from NCBI Gene 2022-09-12
and Ensembl 2022-06 via Bioconductor's org.Hs.eg.db, with HGNC's previous-symbol labels;
``tools/build_gene_table.py`` rebuilds it. Nothing is downloaded at run time.

Resolution order for one identifier, first hit wins:

1. an Ensembl gene ID, with or without version (``ENSG00000107201.10``);
2. an Entrez ID (digits);
3. a current approved symbol (``RIGI``);
4. a previous symbol that belongs to exactly one gene (``DDX58`` -> ``RIGI``, ``WARS`` -> ``WARS1``);
5. an alias that belongs to exactly one gene;
6. a case-insensitive match to exactly one current symbol (``ifi27``: lower-cased human data).

Step 6 would also read mouse symbols (``Ifit1``) as their human orthologues: the readers
refuse data that are predominantly mouse-style (:func:`mouse_evidence`, ``idcols``) before any
gene is matched.

A previous symbol or alias shared by several genes is *ambiguous* and never used; an
identifier that is the current symbol of one gene is never read as another gene's alias.
"""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Literal

from ifnscope.errors import DataError

How = Literal["symbol", "ensembl", "entrez", "previous", "alias", "symbol_case"]

_ENSG = re.compile(r"^(ENSG\d{11})(\.\d+)?(_PAR_Y)?$")


@dataclass(frozen=True)
class Gene:
    entrez: int
    symbol: str
    type: str
    ensembl: tuple[str, ...]
    previous: tuple[str, ...]
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    """How an input identifier resolved: to which gene, and by which rule."""

    identifier: str
    entrez: int
    symbol: str
    how: How


@dataclass(frozen=True)
class Unresolved:
    identifier: str
    reason: str  # "unknown" or "ambiguous: SYMBOL1, SYMBOL2"


class GeneTable:
    """Indexes over the gene table, built on first use (most inputs need only symbols or Ensembl).

    The table is held as six columns of strings, parsed with one split of the whole text: the
    row-by-row parse this replaced cost a quarter of a second per process.
    """

    def __init__(self, columns: list[list[str]]) -> None:
        self._entrez, self._symbol, self._type, self._ensembl, self._previous, self._aliases = columns
        self.entrez_ids = [int(e) for e in self._entrez]
        self.by_entrez: dict[int, int] = {e: i for i, e in enumerate(self.entrez_ids)}
        self.by_symbol: dict[str, int] = dict(zip(self._symbol, self.entrez_ids, strict=True))

    def __len__(self) -> int:
        return len(self._entrez)

    def gene(self, entrez: int) -> Gene:
        i = self.by_entrez[entrez]
        return Gene(
            entrez,
            self._symbol[i],
            self._type[i],
            _split(self._ensembl[i]),
            _split(self._previous[i]),
            _split(self._aliases[i]),
        )

    @cached_property
    def by_ensembl(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e, field in zip(self.entrez_ids, self._ensembl, strict=True):
            if field:
                for ens in field.split(","):
                    out.setdefault(ens, e)
        return out

    @staticmethod
    def _inverted(ids: list[int], column: list[str]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for e, field in zip(ids, column, strict=True):
            if field:
                for name in field.split(","):
                    out[name].append(e)
        return out

    @cached_property
    def by_previous(self) -> dict[str, list[int]]:
        return self._inverted(self.entrez_ids, self._previous)

    @cached_property
    def by_alias(self) -> dict[str, list[int]]:
        return self._inverted(self.entrez_ids, self._aliases)

    @cached_property
    def by_upper(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for sym, e in self.by_symbol.items():
            out[sym.upper()].append(e)
        return out

    def resolve(self, identifier: str) -> Match | Unresolved:
        ident = clean_identifier(identifier)
        m = _ENSG.match(ident)
        if m:
            e = self.by_ensembl.get(m.group(1))
            return self._match(identifier, e, "ensembl") if e else Unresolved(identifier, "unknown")
        if ident.isdigit():
            e = int(ident)
            return (
                self._match(identifier, e, "entrez")
                if e in self.by_entrez
                else Unresolved(identifier, "unknown")
            )
        if ident in self.by_symbol:
            return self._match(identifier, self.by_symbol[ident], "symbol")
        for how in ("previous", "alias"):  # the alias index is built only when needed
            table = self.by_previous if how == "previous" else self.by_alias
            hits = sorted(set(table.get(ident, ())))
            if len(hits) == 1:
                return self._match(identifier, hits[0], how)
            if len(hits) > 1:
                names = ", ".join(self.gene(h).symbol for h in hits)
                return Unresolved(identifier, f"ambiguous: {how} symbol of {names}")
        upper = sorted(set(self.by_upper.get(ident.upper(), ())))
        if len(upper) == 1:
            return self._match(identifier, upper[0], "symbol_case")
        return Unresolved(identifier, "unknown")

    def _match(self, identifier: str, entrez: int, how: How) -> Match:
        return Match(identifier, entrez, self._symbol[self.by_entrez[entrez]], how)


def _split(field: str) -> tuple[str, ...]:
    return tuple(field.split(",")) if field else ()


def clean_identifier(identifier: str) -> str:
    """Strip whitespace and quotes that delimited files leave around identifiers."""
    return str(identifier).strip().strip('"').strip("'").strip()


N_COLUMNS = 6  # entrez, symbol, type, ensembl, previous, aliases


@cache
def gene_table() -> GeneTable:
    ref = resources.files("ifnscope.data").joinpath("genes/human_genes.tsv.gz")
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        text = fh.read()
    # Skip the provenance and header lines, then split every field of every row at once.
    first_row = re.search(r"^\d", text, re.MULTILINE)
    if first_row is None:
        raise DataError("genes/human_genes.tsv.gz: no gene rows")
    body = text[first_row.start() :].rstrip("\n")
    fields = body.replace("\n", "\t").split("\t")
    if len(fields) % N_COLUMNS or body.count("\n") + 1 != len(fields) // N_COLUMNS:
        raise DataError("genes/human_genes.tsv.gz: every row must have 6 tab-separated fields")
    return GeneTable([fields[i::N_COLUMNS] for i in range(N_COLUMNS)])


def table_source() -> str:
    """The provenance line written at the top of the packaged table."""
    ref = resources.files("ifnscope.data").joinpath("genes/human_genes.tsv.gz")
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return fh.readline().lstrip("# ").strip()


@dataclass(frozen=True)
class TableVersion:
    """What identifies the packaged gene table: its source release and a hash of its content."""

    release: str  # the provenance line at the top of the table
    sha256: str  # of the decompressed table text, so re-compressing the file does not change it


@cache
def table_version() -> TableVersion:
    """The packaged table's version, recorded in a fixed reference: a reference fitted with
    another table may name genes differently (symbols renamed since)."""
    import hashlib

    ref = resources.files("ifnscope.data").joinpath("genes/human_genes.tsv.gz")
    with ref.open("rb") as raw, gzip.open(raw, "rb") as fh:
        data = fh.read()
    return TableVersion(release=table_source(), sha256=hashlib.sha256(data).hexdigest())


# Mouse gene symbols are title case ("Ifit1", "Isg15"); their human orthologues are upper
# case, so a case-insensitive match would read a mouse matrix as human. A title-case symbol
# that resolves only case-insensitively is evidence of mouse data, not a human gene.
_TITLE = re.compile(r"^[A-Z][a-z][a-z0-9]*(?:-[a-z0-9]+)*$|^[A-Z][a-z0-9]*[a-z][a-z0-9]*$")
_ENSMUSG = re.compile(r"^ENSMUS[GT]\d{11}(\.\d+)?$")


def mouse_evidence(identifier: str, table: GeneTable) -> bool:
    """True for an ENSMUSG/ENSMUST ID or a title-case symbol known to humans only in upper case."""
    ident = clean_identifier(identifier)
    if _ENSMUSG.match(ident):
        return True
    if not _TITLE.match(ident) or ident in table.by_symbol:
        return False
    return ident.upper() in table.by_upper or ident.upper() in table.by_symbol
