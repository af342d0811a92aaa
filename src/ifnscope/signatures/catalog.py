"""The signature registry: published interferon gene signatures as data, with provenance.

One YAML file per signature in ``data/signatures/`` gives the gene list as published, how the
score is formed, the reference population, the threshold and the assay it holds for, each
with its source and confidence tag. Genes are resolved to current symbols through the offline
gene table (``DDX58`` is scored as ``RIGI``); a published identifier that no longer resolves
is kept and reported, never silently dropped.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Literal

from pydantic import Field

from ifnscope.data import load_table
from ifnscope.errors import DataError, SignatureError
from ifnscope.provenance import RuleModel, SourceRef
from ifnscope.signatures.genes import Match, gene_table

InterferonType = Literal["type_I", "type_I_broad", "type_II"]
MethodName = Literal[
    "median_fold_change", "standardized_sum", "mean_z", "module_percent", "singscore", "module_count"
]
TYPE_WORDS = {
    "type_I": "type I (IFN-alpha/beta)",
    "type_I_broad": "type I and broader (also IFN-beta/gamma driven)",
    "type_II": "type II (IFN-gamma)",
}


class Threshold(RuleModel):
    value: float
    direction: Literal["above", "at_least"]
    defined_as: str
    assay: Literal["qpcr", "array", "rnaseq", "any"]
    assay_description: str
    source: SourceRef


class SignatureDef(RuleModel):
    name: str
    title: str
    interferon_type: InterferonType
    tissue: str
    genes: list[str]
    genes_source: SourceRef
    method: MethodName
    method_source: SourceRef
    reference_population: str
    threshold: Threshold | None = None
    threshold_note: str | None = None
    references: list[SourceRef] = Field(default_factory=list)
    module: str | None = None
    note: str | None = None
    components: list[str] = Field(default_factory=list)
    active_at: float | None = None
    active_source: SourceRef | None = None
    levels: dict[str, str] | None = None
    levels_source: SourceRef | None = None


@dataclass(frozen=True)
class SignatureGene:
    """A gene as published and what it resolves to today."""

    published: str
    symbol: str | None  # current symbol, None when the identifier no longer resolves
    entrez: int | None
    how: str  # symbol, previous, alias, entrez, ... or 'unresolved: <reason>'


@dataclass(frozen=True)
class Signature:
    """A packaged signature. Its genes are resolved against the gene table on first use, so a
    run that scores one signature resolves only that signature's genes."""

    definition: SignatureDef

    @cached_property
    def genes(self) -> tuple[SignatureGene, ...]:
        return tuple(_resolve(g) for g in self.definition.genes)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def size(self) -> int:
        """Genes as published (the denominator of coverage)."""
        return len(self.genes)

    @property
    def symbols(self) -> list[str]:
        return [g.symbol for g in self.genes if g.symbol]

    @property
    def is_composite(self) -> bool:
        return bool(self.definition.components)

    @cached_property
    def genes_sha256(self) -> str:
        """A hash of the gene list as published (sorted: the order does not change a score), or
        of a composite's components. A fixed reference records it per signature, so that a
        reference stays valid for every signature whose genes did not change."""
        d = self.definition
        items = [f"component:{c}" for c in d.components] if d.components else list(d.genes)
        return hashlib.sha256("\n".join(sorted(items)).encode("utf-8")).hexdigest()


def _resolve(published: str) -> SignatureGene:
    r = gene_table().resolve(published)
    if isinstance(r, Match):
        return SignatureGene(published, r.symbol, r.entrez, r.how)
    reason = "discontinued or unknown identifier" if r.reason == "unknown" else r.reason
    return SignatureGene(published, None, None, f"unresolved: {reason}")


@cache
def signatures() -> dict[str, Signature]:
    """Every packaged signature by name (validated once per process)."""
    out: dict[str, Signature] = {}
    folder = resources.files("ifnscope.data").joinpath("signatures")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        d = load_table(f"signatures/{entry.name}", SignatureDef)
        if d.name != entry.name.removesuffix(".yaml"):
            raise DataError(f"signatures/{entry.name}: name {d.name!r} does not match the file name")
        out[d.name] = Signature(d)
    for s in out.values():
        for c in s.definition.components:
            if c not in out:
                raise DataError(f"signatures/{s.name}.yaml: unknown component {c!r}")
    return out


def get_signature(name: str) -> Signature:
    """A signature by its command-line name; an unknown name suggests the nearest one."""
    table = signatures()
    key = name.strip().lower().replace("-", "_").replace(".", "_")
    if key in table:
        return table[key]
    near = difflib.get_close_matches(key, table, n=1, cutoff=0.5)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    raise SignatureError(
        f"unknown signature {name!r}{hint} Known: {', '.join(table)}", code="signature.unknown"
    )


def expand(names: list[str]) -> list[Signature]:
    """Signatures to score, with composites' components added before them (deduplicated)."""
    out: dict[str, Signature] = {}
    for n in names:
        s = get_signature(n)
        for c in s.definition.components:
            out.setdefault(c, get_signature(c))
        out.setdefault(s.name, s)
    return list(out.values())


@cache
def signature_set_sha256() -> str:
    """A SHA-256 over every packaged signature file (names and contents): which signature set
    a reference was fitted with, as a whole."""
    digest = hashlib.sha256()
    folder = resources.files("ifnscope.data").joinpath("signatures")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            digest.update(entry.name.encode("utf-8") + b"\0" + entry.read_bytes() + b"\0")
    return digest.hexdigest()


def all_gene_symbols() -> list[str]:
    """Current symbols of every gene of every packaged signature (a reference stores these)."""
    return sorted({g for s in signatures().values() for g in s.symbols})
