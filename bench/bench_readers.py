"""Benchmark: the input boundary on hostile and wide inputs (issue 10).

Measures, each in a fresh process under /usr/bin/time (wall time, peak RSS):

- a genes-in-columns table with 10^5 and 10^6 columns x 3 samples (the former parser compared
  every column against a list of the others: quadratic; 10^4 and 3x10^4 columns are timed with
  that comparison for contrast);
- a gzip bomb (~1 MB on disk, 1 GiB inflated) against a 64 MiB cap: how soon it stops;
- an .h5ad declaring 10^9 x 10^9 (a few kB on disk): how soon it is refused.

Usage: python bench/bench_readers.py WORK_DIR [--max-columns 1000000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PY = sys.executable


def run(code: str, env: dict[str, str] | None = None, timeout: int = 3600) -> dict:
    cmd = ["/usr/bin/time", "-f", "TIME %e %M", PY, "-c", textwrap.dedent(code)]
    p = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False
    )
    line = next(ln for ln in p.stderr.splitlines() if ln.startswith("TIME "))
    wall, rss = line.split()[1:]
    out = p.stdout.strip().splitlines()
    return {"wall_s": float(wall), "peak_mb": int(rss) / 1024, "out": out[-1] if out else p.stderr[-300:]}


def wide(path: Path, n: int) -> None:
    from ifnscope.signatures.catalog import all_gene_symbols

    genes = all_gene_symbols()
    with path.open("w") as fh:
        fh.write("sample," + ",".join(genes[i % len(genes)] for i in range(n)) + "\n")
        for r in range(3):
            fh.write(f"s{r}," + ",".join(["1"] * n) + "\n")


READ = """
import json, time
t = time.perf_counter()
from ifnscope.signatures.readers import read_path
try:
    m = read_path({p!r}); out = f"{{m.n_samples}} x {{m.n_features}}"
except Exception as e:
    out = f"{{type(e).__name__}}: {{getattr(e, 'code', '')}}"
print(json.dumps({{"read_s": round(time.perf_counter() - t, 3), "result": out}}))
"""

QUADRATIC = """
import json, time
n = {n}
cols = list(range(n)); numeric = list(range(0, n, 2))
t = time.perf_counter(); text = [c for c in cols if c not in numeric]
print(json.dumps({{"old_step_s": round(time.perf_counter() - t, 3)}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("--max-columns", type=int, default=1_000_000)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for n in (10_000, 30_000):
        results[f"former list-membership step, {n} columns"] = run(QUADRATIC.format(n=n))
    for n in (100_000, 1_000_000):
        if n > args.max_columns:
            continue
        p = args.work / f"wide_{n}.csv"
        if not p.exists():
            wide(p, n)
        results[f"wide table, {n} columns"] = run(READ.format(p=str(p)))
    bomb = args.work / "bomb.tsv.gz"
    if not bomb.exists():
        with gzip.open(bomb, "wb", compresslevel=9) as fh:
            fh.write(b"gene\ts1\n")
            block = b"IFI27\t0\n" * (1 << 17)
            for _ in range(1024):  # 1 GiB inflated
                fh.write(block)
    results[f"gzip bomb ({bomb.stat().st_size / 1e6:.1f} MB, 1 GiB inflated), 64 MiB cap"] = run(
        READ.format(p=str(bomb)), env={"IFNSCOPE_MAX_DECOMPRESSED_BYTES": str(64 * 1024**2)}
    )
    huge = args.work / "huge.h5ad"
    if not huge.exists():
        import h5py

        with h5py.File(huge, "w") as f:
            for name in ("obs", "var"):
                g = f.create_group(name)
                g.attrs["_index"] = "_index"
                g.create_dataset("_index", shape=(10**9,), dtype=h5py.string_dtype(), chunks=(1024,))
            f.create_dataset("X", shape=(10**9, 10**9), dtype="f4", chunks=(64, 64))
    results["h5ad declaring 10^9 x 10^9"] = run(READ.format(p=str(huge)))
    for k, v in results.items():
        print(f"{k}: {json.dumps(v)}")


if __name__ == "__main__":
    main()
