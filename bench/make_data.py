"""Synthetic benchmark data: raw-count single-cell .h5ad files and a bulk TSV.

Single cells: N cells x 20,000 genes, about 1,500 non-zeros per cell, CSR float32 counts,
as anndata writes them (uncompressed). The first 141 genes carry the real symbols of the
packaged signatures and the rest other real symbols (so identifier resolution runs as on real
data); half the cells get a type I interferon response (signature genes expressed higher),
so the scores mean something.

Usage: python bench/make_data.py OUT_DIR [--cells 100000 500000 1000000] [--bulk 1000]
Files are written once and reused (skipped when present).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

G = 20_000
NNZ_PER_CELL = 1_500
CHUNK = 50_000


def _symbols() -> list[str]:
    """The signature genes first, then other real symbols (protein-coding first), 20,000 in all."""
    from ifnscope.signatures.catalog import all_gene_symbols
    from ifnscope.signatures.genes import gene_table

    sig = all_gene_symbols()
    table, taken = gene_table(), set(sig)
    by_type = sorted(
        ((table.gene(e).type != "protein-coding", s) for s, e in table.by_symbol.items() if s not in taken),
        key=lambda t: t[0],
    )
    return sig + [s for _, s in by_type[: G - len(sig)]]


def _n_signature_genes() -> int:
    from ifnscope.signatures.catalog import all_gene_symbols

    return len(all_gene_symbols())


def make_h5ad(path: Path, n_cells: int, seed: int = 0) -> None:
    import anndata as ad
    import h5py
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = _symbols()
    n_sig = _n_signature_genes()
    stimulated = rng.random(n_cells) < 0.5
    tmp = path.with_suffix(".partial")
    with h5py.File(tmp, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csr_matrix"
        g.attrs["encoding-version"] = "0.1.0"
        g.attrs["shape"] = (n_cells, G)
        data = g.create_dataset("data", shape=(0,), maxshape=(None,), dtype=np.float32, chunks=(1 << 20,))
        idx = g.create_dataset("indices", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(1 << 20,))
        indptr = np.zeros(n_cells + 1, dtype=np.int64)
        p = NNZ_PER_CELL / G
        for start in range(0, n_cells, CHUNK):
            n = min(CHUNK, n_cells - start)
            gaps = rng.geometric(p, size=(n, int(NNZ_PER_CELL * 1.25)))
            pos = np.cumsum(gaps, axis=1) - 1
            keep = pos < G
            counts = keep.sum(axis=1)
            cols = pos[keep].astype(np.int32)
            vals = (1 + rng.poisson(0.6, cols.size)).astype(np.float32)
            row = np.repeat(np.arange(n), counts)
            boost = stimulated[start + row] & (cols < n_sig)
            vals[boost] += rng.poisson(4.0, int(boost.sum())).astype(np.float32)
            old = data.shape[0]
            data.resize((old + vals.size,))
            idx.resize((old + cols.size,))
            data[old:] = vals
            idx[old:] = cols
            indptr[start + 1 : start + n + 1] = old + np.cumsum(counts)
        g.create_dataset("indptr", data=indptr)
        obs = pd.DataFrame(
            {"condition": pd.Categorical(np.where(stimulated, "ifn", "control"))},
            index=[f"cell{i}" for i in range(n_cells)],
        )
        var = pd.DataFrame(index=names)
        ad.io.write_elem(f, "obs", obs)
        ad.io.write_elem(f, "var", var)
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            ad.io.write_elem(f, key, {})
    tmp.replace(path)


def make_bulk(path: Path, n_samples: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    names = _symbols()
    n_sig = _n_signature_genes()
    base = rng.gamma(0.8, 60, size=G)
    x = rng.poisson(base[None, :] * rng.uniform(0.7, 1.3, (n_samples, 1)), size=(n_samples, G)).astype(
        np.int64
    )
    ifn = rng.random(n_samples) < 0.5
    x[np.ix_(ifn, np.arange(n_sig))] *= 4
    with path.open("w") as fh:
        fh.write("Gene\t" + "\t".join(f"S{i:04d}" for i in range(n_samples)) + "\n")
        for j in range(G):
            fh.write(names[j] + "\t" + "\t".join(map(str, x[:, j])) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--cells", type=int, nargs="*", default=[100_000])
    ap.add_argument("--bulk", type=int, default=1000)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for n in a.cells:
        p = a.out / f"cells_{n // 1000}k.h5ad"
        if not p.exists():
            t = time.time()
            make_h5ad(p, n)
            print(f"wrote {p} ({p.stat().st_size / 1e9:.2f} GB) in {time.time() - t:.0f} s")
    if a.bulk:
        p = a.out / f"bulk_{a.bulk}.tsv"
        if not p.exists():
            make_bulk(p, a.bulk)
            print(f"wrote {p} ({p.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
