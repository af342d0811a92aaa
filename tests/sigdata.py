"""A small synthetic expression data set with a known interferon response, in every input format."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ifnscope.signatures.catalog import all_gene_symbols

N_FILLER = 400


def filler_genes(n: int) -> list[str]:
    """Real protein-coding symbols that belong to no packaged signature."""
    from ifnscope.signatures.genes import gene_table

    table = gene_table()
    taken = set(all_gene_symbols())
    out = []
    for sym, entrez in table.by_symbol.items():
        if sym not in taken and table.gene(entrez).type == "protein-coding" and sym.isalnum():
            out.append(sym)
            if len(out) == n:
                return out
    return out


def make_counts(n_samples: int = 24, seed: int = 0) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    """Counts (samples x genes), gene symbols, sample names, and which samples are 'IFN'.

    Every packaged signature gene is present (plus filler genes); IFN samples express the
    type I genes 6x higher. Sample names: ctrl_0.., ifn_0...
    """
    rng = np.random.default_rng(seed)
    genes = all_gene_symbols() + filler_genes(N_FILLER)
    base = rng.gamma(2.0, 20.0, size=len(genes))
    ifn = np.arange(n_samples) >= n_samples // 2
    mu = np.tile(base, (n_samples, 1))
    type_i = [
        i
        for i, g in enumerate(genes)
        if g
        in {
            "IFI27",
            "IFI44L",
            "IFIT1",
            "ISG15",
            "RSAD2",
            "SIGLEC1",
            "IFI44",
            "LY6E",
            "OAS1",
            "OASL",
            "MX1",
            "IFI6",
            "IFIT3",
        }
    ]
    mu[np.ix_(ifn, type_i)] *= 6
    counts = rng.poisson(mu).astype(np.float64)
    names = [f"ctrl_{i}" for i in range(n_samples // 2)] + [
        f"ifn_{i}" for i in range(n_samples - n_samples // 2)
    ]
    return counts, genes, names, ifn


def write_tsv_genes_in_rows(path: Path, counts: np.ndarray, genes: list[str], names: list[str]) -> None:
    with path.open("w") as fh:
        fh.write("Gene\t" + "\t".join(names) + "\n")
        for j, g in enumerate(genes):
            fh.write(g + "\t" + "\t".join(f"{v:g}" for v in counts[:, j]) + "\n")


def write_csv_genes_in_columns(path: Path, counts: np.ndarray, genes: list[str], names: list[str]) -> None:
    with path.open("w") as fh:
        fh.write("sample," + ",".join(genes) + "\n")
        for i, n in enumerate(names):
            fh.write(n + "," + ",".join(f"{v:g}" for v in counts[i]) + "\n")


def write_10x(folder: Path, counts: np.ndarray, genes: list[str], names: list[str]) -> None:
    from scipy.io import mmwrite

    folder.mkdir(parents=True, exist_ok=True)
    mmwrite(str(folder / "matrix.mtx"), sp.coo_matrix(counts.T), field="integer")
    with gzip.open(folder / "features.tsv.gz", "wt") as fh:
        fh.writelines(f"{g}\t{g}\tGene Expression\n" for g in genes)
    with gzip.open(folder / "barcodes.tsv.gz", "wt") as fh:
        fh.writelines(f"{n}\n" for n in names)


def write_h5ad(
    path: Path,
    counts: np.ndarray,
    genes: list[str],
    names: list[str],
    ifn: np.ndarray,
    *,
    sparse: bool = True,
) -> None:
    import anndata as ad
    import pandas as pd

    X = sp.csr_matrix(counts.astype(np.float32)) if sparse else counts.astype(np.float32)
    obs = pd.DataFrame({"condition": pd.Categorical(np.where(ifn, "ifn", "control"))}, index=names)
    ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes)).write_h5ad(path)
