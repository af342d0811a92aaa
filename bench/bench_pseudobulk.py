"""Benchmark: pseudobulk of a cells .h5ad, ifnscope (streamed) vs scanpy's sc.get.aggregate.

Data: bench/make_data.py's cells_<N>k.h5ad (raw counts, CSR float32, 20,000 genes, ~1,500
non-zeros per cell, obs "condition"). Each run is a fresh process under /usr/bin/time (wall
time, peak RSS); the two contenders are interleaved and repeated, medians reported.

Usage: python bench/bench_pseudobulk.py DATA_DIR [--cells 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

AGGREGATE = """
import json, time
import anndata as ad, scanpy as sc
t = time.time()
a = ad.read_h5ad({path!r})
pb = sc.get.aggregate(a, by="condition", func="sum")
print(json.dumps({{"groups": int(pb.n_obs), "inner": time.time() - t}}))
"""

IFNSCOPE = """
import json, time
from ifnscope.signatures import pseudobulk
from ifnscope.signatures.readers import read_path
t = time.time()
pb = pseudobulk(read_path({path!r}), "condition")
print(json.dumps({{"groups": int(pb.n_samples), "inner": time.time() - t}}))
"""


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_signatures", HERE / "bench_signatures.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--cells", type=int, nargs="*", default=[100])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    b = _bench()
    print("| cells | contender | wall (s) | peak RSS (GB) |\n|---:|---|---:|---:|")
    for n in a.cells:
        path = str(a.data / f"cells_{n}k.h5ad")
        runs: dict[str, list[dict[str, Any]]] = {"sc.get.aggregate (sum)": [], "ifnscope pseudobulk": []}
        for _ in range(a.repeat):
            runs["sc.get.aggregate (sum)"].append(b.run(AGGREGATE.format(path=path), cap_gb=b.CAP_GB))
            runs["ifnscope pseudobulk"].append(b.run(IFNSCOPE.format(path=path)))
        for name, rs in runs.items():
            ok = [r for r in rs if r["ok"]]
            if not ok:
                print(f"| {n}k | {name} | failed: {rs[-1].get('error')} | |")
                continue
            wall = statistics.median(r["wall"] for r in ok)
            rss = statistics.median(r["rss_gb"] for r in ok)
            print(f"| {n}k | {name} | {wall:.1f} | {rss:.2f} |")


if __name__ == "__main__":
    main()
