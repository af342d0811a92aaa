"""Offline human gene identifier resolution: symbols, previous symbols, aliases, Ensembl, Entrez.

The table (``data/genes/human_genes.tsv.gz``, 77,614 genes) comes from NCBI Gene 2022-09-12
and Ensembl 2022-06 via Bioconductor's org.Hs.eg.db, with HGNC's previous-symbol labels;
``tools/build_gene_table.py`` rebuilds it. Nothing is downloaded at run time.

Resolution order for one identifier, first hit wins:

1. an Ensembl gene ID, with or without version (``ENSG00000107201.10``);
2. an Entrez ID (digits);
3. a current approved symbol (``RIGI``);
4. a previous symbol that belongs to exactly one gene (``DDX58`` -> ``RIGI``, ``WARS`` -> ``WARS1``);
5. an alias that belongs to exactly one gene.

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
    """Indexes over the gene rows, built on first use (most inputs need only symbols or Ensembl)."""

    def __init__(self, rows: list[list[str]]) -> None:
        self._rows = rows  # entrez, symbol, type, ensembl, previous, aliases
        self.by_entrez: dict[int, int] = {int(r[0]): i for i, r in enumerate(rows)}
        self.by_symbol: dict[str, int] = {r[1]: int(r[0]) for r in rows}

    def __len__(self) -> int:
        return len(self._rows)

    def gene(self, entrez: int) -> Gene:
        r = self._rows[self.by_entrez[entrez]]
        return Gene(int(r[0]), r[1], r[2], _split(r[3]), _split(r[4]), _split(r[5]))

    @cached_property
    def by_ensembl(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self._rows:
            if r[3]:
                for e in r[3].split(","):
                    out.setdefault(e, int(r[0]))
        return out

    def _inverted(self, col: int) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for r in self._rows:
            if r[col]:
                e = int(r[0])
                for name in r[col].split(","):
                    out[name].append(e)
        return out

    @cached_property
    def by_previous(self) -> dict[str, list[int]]:
        return self._inverted(4)

    @cached_property
    def by_alias(self) -> dict[str, list[int]]:
        return self._inverted(5)

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
        for how, table in (("previous", self.by_previous), ("alias", self.by_alias)):
            hits = sorted(set(table.get(ident, ())))
            if len(hits) == 1:
                return self._match(identifier, hits[0], how)  # type: ignore[arg-type]
            if len(hits) > 1:
                names = ", ".join(self.gene(h).symbol for h in hits)
                return Unresolved(identifier, f"ambiguous: {how} symbol of {names}")
        upper = sorted(set(self.by_upper.get(ident.upper(), ())))
        if len(upper) == 1:
            return self._match(identifier, upper[0], "symbol_case")
        return Unresolved(identifier, "unknown")

    def _match(self, identifier: str, entrez: int, how: How) -> Match:
        return Match(identifier, entrez, self._rows[self.by_entrez[entrez]][1], how)


def _split(field: str) -> tuple[str, ...]:
    return tuple(field.split(",")) if field else ()


def clean_identifier(identifier: str) -> str:
    """Strip whitespace and quotes that delimited files leave around identifiers."""
    return str(identifier).strip().strip('"').strip("'").strip()


@cache
def gene_table() -> GeneTable:
    ref = resources.files("ifnscope.data").joinpath("genes/human_genes.tsv.gz")
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        text = fh.read()
    rows = [line.split("\t") for line in text.split("\n") if line and line[0].isdigit()]
    return GeneTable(rows)


def table_source() -> str:
    """The provenance line written at the top of the packaged table."""
    ref = resources.files("ifnscope.data").joinpath("genes/human_genes.tsv.gz")
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return fh.readline().lstrip("# ").strip()
