"""Offline gene identifiers and the signature registry."""

from __future__ import annotations

import pytest

from ifnscope.errors import SignatureError
from ifnscope.signatures.catalog import expand, get_signature, signatures
from ifnscope.signatures.genes import Match, Unresolved, gene_table


@pytest.mark.parametrize(
    ("identifier", "symbol", "how"),
    [
        ("RIGI", "RIGI", "symbol"),
        ("DDX58", "RIGI", "previous"),  # renamed by HGNC
        ("WARS", "WARS1", "previous"),
        ("SEPT4", "SEPTIN4", "previous"),
        ("HRASLS2", "PLAAT2", "previous"),
        ("ENSG00000107201", "RIGI", "ensembl"),
        ("ENSG00000107201.10", "RIGI", "ensembl"),  # version stripped
        ("ENSG00000165949", "IFI27", "ensembl"),
        ("3429", "IFI27", "entrez"),
        ("ISG12", "IFI27", "alias"),
        ("ifi27", "IFI27", "symbol_case"),
        (' "IFI44L" ', "IFI44L", "symbol"),  # quotes and spaces left by a delimited file
        ("COP1", "COP1", "symbol"),  # a current symbol is never read as another gene's alias
    ],
)
def test_identifier_resolution(identifier: str, symbol: str, how: str) -> None:
    r = gene_table().resolve(identifier)
    assert isinstance(r, Match), r
    assert (r.symbol, r.how) == (symbol, how)


def test_ambiguous_and_unknown_identifiers_are_not_guessed() -> None:
    table = gene_table()
    shared = next(
        a for a, genes in table.by_alias.items() if len(set(genes)) > 1 and a not in table.by_symbol
    )
    r = table.resolve(shared)
    assert isinstance(r, Unresolved)
    assert r.reason.startswith("ambiguous")
    assert isinstance(table.resolve("NOT_A_GENE_XYZ"), Unresolved)
    assert isinstance(table.resolve("ENSG99999999999"), Unresolved)


def test_gene_table_is_the_2022_ncbi_snapshot() -> None:
    table = gene_table()
    assert len(table) == 77614
    g = table.gene(23586)
    assert g.symbol == "RIGI"
    assert "DDX58" in g.previous


# Gene lists as published, transcribed independently of the data files.
PUBLISHED = {
    "rice6": ["IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "SIGLEC1"],
    "ifngs4": ["IFI27", "IFI44", "IFI44L", "RSAD2"],
    "feng5": ["LY6E", "OAS1", "OASL", "MX1", "ISG15"],
    "aybey_ifng": ["IDO1", "CXCL9", "GBP2", "IRF1", "CD74", "ICAM1"],
    "bloodgen3_m8_3": [
        "EPSTI1",
        "HERC5",
        "HES4",
        "IFI44",
        "IFI44L",
        "IFI6",
        "IFIT1",
        "IFIT3",
        "ISG15",
        "LY6E",
        "MX1",
        "OAS1",
        "OAS2",
        "OAS3",
        "OASL",
        "RSAD2",
        "XAF1",
    ],
    "aybey_ifna": [
        "IFIT3",
        "ISG15",
        "OAS2",
        "IFI6",
        "IFI27",
        "OAS1",
        "CMPK2",
        "USP18",
        "IFIT1",
        "MX1",
        "DDX58",
        "OASL",
        "GMPR",
        "LAMP3",
        "HRASLS2",
        "RSAD2",
        "MX2",
        "HSH2D",
        "HERC5",
        "HERC6",
    ],
}
SIZES = {"chiche_m1_2": 24, "chiche_m3_4": 52, "chiche_m5_12": 57}


def test_command_line_names_and_sizes() -> None:
    names = set(signatures())
    assert {
        "rice6",
        "ifngs4",
        "feng5",
        "chiche_m1_2",
        "chiche_m3_4",
        "chiche_m5_12",
        "aybey_ifna",
        "aybey_ifng",
        "bloodgen3_m8_3",
        "chiche_count",
    } <= names
    for name, genes in PUBLISHED.items():
        assert [g.published for g in get_signature(name).genes] == genes
    for name, n in SIZES.items():
        assert get_signature(name).size == n


def test_published_identifiers_resolve_to_current_symbols() -> None:
    ifna = {g.published: g.symbol for g in get_signature("aybey_ifna").genes}
    assert ifna["DDX58"] == "RIGI"
    assert ifna["HRASLS2"] == "PLAAT2"
    m12 = get_signature("chiche_m1_2")
    assert all(g.how == "entrez" and g.symbol for g in m12.genes)  # published as Entrez IDs
    assert {"OASL", "ISG15", "IFI44L", "IFI44"} <= set(m12.symbols)


def test_discontinued_identifiers_are_kept_and_reported() -> None:
    m34 = get_signature("chiche_m3_4")
    gone = [g for g in m34.genes if g.symbol is None]
    assert [g.published for g in gone] == ["117852"]
    assert gone[0].how.startswith("unresolved")


def test_every_signature_cites_its_sources_and_types() -> None:
    for s in signatures().values():
        d = s.definition
        assert d.interferon_type in ("type_I", "type_I_broad", "type_II")
        assert d.genes_source.id
        assert d.method_source.id
        if d.threshold is not None:
            assert d.threshold.source.id
    assert get_signature("aybey_ifng").definition.interferon_type == "type_II"
    assert get_signature("chiche_m1_2").definition.interferon_type == "type_I"
    rice = get_signature("rice6").definition.threshold
    assert rice is not None
    assert (rice.value, rice.assay) == (2.466, "qpcr")


def test_unknown_signature_names_suggest_the_nearest() -> None:
    with pytest.raises(SignatureError, match="did you mean 'rice6'") as ei:
        get_signature("rice")
    assert ei.value.code == "signature.unknown"
    assert get_signature("Chiche-M1.2").name == "chiche_m1_2"


def test_composites_bring_their_components() -> None:
    assert [s.name for s in expand(["chiche_count"])] == [
        "chiche_m1_2",
        "chiche_m3_4",
        "chiche_m5_12",
        "chiche_count",
    ]


# MSigDB Hallmark v7.5.1 (h.all.v7.5.1.symbols.gmt): sizes, first genes as listed there, and the
# genes that tell this release from v7.0 (whose file had clone names AC004551.1 and AC124319.1
# where OAS1 and RNF213 stand, and WARS and MARCH1 before their renaming).
HALLMARK = {
    "hallmark_ifna": (97, ["MX1", "ISG15", "OAS1", "IFIT3", "IFI44"], {"OAS1", "WARS1", "TENT5A", "CMTR1"}),
    "hallmark_ifng": (
        200,
        ["STAT1", "ISG15", "IFIT1", "MX1", "IFIT3"],
        {"RNF213", "MARCHF1", "WARS1", "CIITA"},
    ),
}


@pytest.mark.parametrize("name", sorted(HALLMARK))
def test_hallmark_sets_as_released(name: str) -> None:
    size, first, members = HALLMARK[name]
    s = get_signature(name)
    published = [g.published for g in s.genes]
    assert s.size == len(set(published)) == size
    assert published[:5] == first
    assert members <= set(published)
    assert not any(g.startswith("AC0") for g in published)
    assert all(g.symbol for g in s.genes), [g.published for g in s.genes if not g.symbol]  # all resolve
    d = s.definition
    assert (d.method, d.threshold) == ("singscore", None)
    assert d.threshold_note
    assert "No cut-off is published" in d.threshold_note
    assert d.genes_source.id == "msigdb_hallmark"
    assert "v7.5.1" in d.genes_source.where
    assert d.method_source.id == "liberzon2015"
    assert "no per-sample score formula" in d.method_source.where
    assert d.interferon_type == ("type_I_broad" if name == "hallmark_ifna" else "type_II")


def test_hallmark_sources_cite_the_paper_and_the_licence() -> None:
    from ifnscope.data import citation, sources

    assert "10.1016/j.cels.2015.12.004" in citation("liberzon2015")
    assert "Cell Syst 2015;1(6):417-425" in citation("liberzon2015")
    assert "Creative Commons Attribution 4.0" in sources()["msigdb_hallmark"]["citation"]
    ifna = set(get_signature("hallmark_ifna").symbols)
    ifng = set(get_signature("hallmark_ifng").symbols)
    assert len(ifna & ifng) == 73  # the overlap the signature notes state
    assert {g.published: g.symbol for g in get_signature("hallmark_ifng").genes}["DDX58"] == "RIGI"
