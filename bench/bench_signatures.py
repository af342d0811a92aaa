"""Benchmark: ifnscope vs scanpy and decoupler on the same synthetic data, in one run.

Data (bench/make_data.py): 1,000 bulk samples; 100,000 / 500,000 / 1,000,000 cells x 20,000
genes, ~1,500 non-zeros per cell, raw counts in .h5ad. Gene set: the 20 genes of aybey_ifna.

Every contender runs in its own process under /usr/bin/time (wall time, peak RSS); scanpy and
decoupler runs get a 20 GiB address-space cap so that a run that would exhaust this 24 GiB
machine fails cleanly instead. Runs that read the same file are interleaved and repeated
(I/O on this machine is noisy); medians are reported.

Usage: python bench/bench_signatures.py DATA_DIR [--cells 100 500 1000] [--repeat 3] [--skip-third-party]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

PY = sys.executable
CAP_GB = 20
GENES = None  # filled from the registry


def run(code: str, *, cap_gb: float | None = None, timeout: int = 3600) -> dict:
    """Run Python code in a fresh process; return its wall time, peak RSS and printed JSON."""
    prelude = ""
    if cap_gb:
        prelude = (
            f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({int(cap_gb * 2**30)}, "
            f"{int(cap_gb * 2**30)}))\n"
        )
    cmd = ["/usr/bin/time", "-f", "TIME %e %M", PY, "-c", prelude + textwrap.dedent(code)]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONWARNINGS": "ignore"}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    last = [line for line in p.stderr.splitlines() if line.startswith("TIME ")]
    wall, rss_kb = (float(x) for x in last[-1].split()[1:]) if last else (float("nan"), float("nan"))
    out: dict = {"wall": wall, "rss_gb": rss_kb / 2**20, "ok": p.returncode == 0}
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            out.update(json.loads(line))
    if p.returncode != 0:
        err = [line for line in p.stderr.splitlines() if not line.startswith("TIME ")]
        out["error"] = (err[-1] if err else f"exit {p.returncode}")[:160]
    return out


def cli(args: list[str]) -> dict:
    cmd = ["/usr/bin/time", "-f", "TIME %e %M", PY, "-m", "ifnscope", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    last = [line for line in p.stderr.splitlines() if line.startswith("TIME ")][-1].split()
    return {
        "wall": float(last[1]),
        "rss_gb": float(last[2]) / 2**20,
        "ok": p.returncode == 0,
        "error": None if p.returncode == 0 else p.stderr[-300:],
    }


FLOOR = """
import time, h5py, json
t = time.time()
with h5py.File({path!r}) as f:
    d = f["X/data"][:]; i = f["X/indices"][:]; p = f["X/indptr"][:]
print(json.dumps({{"read": time.time() - t, "nbytes": d.nbytes + i.nbytes + p.nbytes}}))
"""

SCANPY = """
import time, json
import scanpy as sc
t0 = time.time()
a = sc.read_h5ad({path!r})
sc.pp.normalize_total(a, target_sum=1e4); sc.pp.log1p(a)
t1 = time.time()
sc.tl.score_genes(a, {genes!r}, score_name="s", random_state=0)
t2 = time.time()
print(json.dumps({{"prep": t1 - t0, "call": t2 - t1}}))
"""

DECOUPLER = """
import time, json
import pandas as pd, scanpy as sc, decoupler as dc
a = sc.read_h5ad({path!r})
sc.pp.normalize_total(a, target_sum=1e4); sc.pp.log1p(a)
net = pd.DataFrame({{"source": "ifn", "target": {genes!r}, "weight": 1.0}})
t = time.time()
dc.mt.{method}(a, net, tmin=5, bsize={bsize})
print(json.dumps({{"call": time.time() - t}}))
"""

INMEM = """
import time, json
import scanpy as sc
from ifnscope import signatures as sig
a = sc.read_h5ad({path!r})
sc.pp.normalize_total(a, target_sum=1e4); sc.pp.log1p(a)          # what a scanpy user has in memory
ref = sig.fit_reference(a, controls="condition=control", scale="ln")  # once, not timed
out = {{}}
for label, kw in (("singscore", dict(method="singscore")), ("mean_z", dict(reference=ref))):
    for attempt in ("first", "warm"):
        t = time.time()
        sig.score(a, "aybey_ifna", scale="ln", inplace=False, **kw)
        out[f"{{label}}_{{attempt}}"] = time.time() - t
print(json.dumps(out))
"""


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def bench_cells(path: Path, ref: Path, repeat: int, third_party: bool, size_k: int) -> dict:
    res: dict = {"floor": [], "ifnscope": [], "ifnscope_rss": [], "matrix_gb": None}
    out_tsv = path.with_suffix(".scores.tsv")
    for _ in range(repeat):  # interleaved
        f = run(FLOOR.format(path=str(path)))
        res["floor"].append(f["wall"])
        res["matrix_gb"] = f.get("nbytes", 0) / 2**30
        c = cli(["score", str(path), "-s", "aybey_ifna", "--reference", str(ref), "-o", str(out_tsv), "-q"])
        assert c["ok"], c["error"]
        res["ifnscope"].append(c["wall"])
        res["ifnscope_rss"].append(c["rss_gb"])
    if third_party:
        res["scanpy"] = run(SCANPY.format(path=str(path), genes=GENES), cap_gb=CAP_GB)
        if size_k <= 100:
            res["inmem"] = run(INMEM.format(path=str(path)), cap_gb=None)
            res["ulm_unbatched"] = run(
                DECOUPLER.format(path=str(path), genes=GENES, method="ulm", bsize=250000), cap_gb=CAP_GB
            )
            res["ulm_batched"] = run(
                DECOUPLER.format(path=str(path), genes=GENES, method="ulm", bsize=10000), cap_gb=CAP_GB
            )
        res["aucell"] = run(
            DECOUPLER.format(path=str(path), genes=GENES, method="aucell", bsize=250000), cap_gb=CAP_GB
        )
    return res


def main() -> None:
    global GENES
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--cells", type=int, nargs="*", default=[100, 500, 1000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-third-party", action="store_true")
    a = ap.parse_args()
    from ifnscope.signatures.catalog import get_signature

    GENES = get_signature("aybey_ifna").symbols
    results: dict = {}
    for k in a.cells:
        path = a.data / f"cells_{k}k.h5ad"
        ref = a.data / f"ref_{k}k.json"
        if not ref.exists():
            c = cli(["reference", "fit", str(path), "--controls", "condition=control", "-o", str(ref)])
            assert c["ok"], c["error"]
        third = not a.skip_third_party and k <= 500
        results[k] = bench_cells(path, ref, a.repeat if k <= 100 else max(1, a.repeat - 1), third, k)
        print(f"{k}k cells:", json.dumps(results[k], default=str), flush=True)
    bulk = a.data / "bulk_1000.tsv"
    if bulk.exists():
        bref = a.data / "ref_bulk.json"
        c = cli(["reference", "fit", str(bulk), "--controls", "S00[0-4][0-9]$", "-o", str(bref)])
        assert c["ok"], c["error"]
        results["bulk"] = [
            cli(
                [
                    "score",
                    str(bulk),
                    "-s",
                    "aybey_ifna",
                    "--reference",
                    str(bref),
                    "-o",
                    str(a.data / "bulk.scores.tsv"),
                    "-q",
                ]
            )
            for _ in range(a.repeat)
        ]
        print("bulk:", json.dumps(results["bulk"]))
    (a.data / "bench_results.json").write_text(json.dumps(results, indent=1, default=str))
    report(results)


def report(r: dict) -> None:
    print(
        "\n| cells | matrix (GB) | h5py read floor (s) | ifnscope score (s) | ratio | ifnscope peak (GB) | "
        "peak / matrix |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for k, v in r.items():
        if k == "bulk":
            continue
        fl, ifs = median(v["floor"]), median(v["ifnscope"])
        peak = max(v["ifnscope_rss"])
        cells = f"{int(k) * 1000:,}"
        print(
            f"| {cells} | {v['matrix_gb']:.2f} | {fl:.2f} | {ifs:.2f} | {ifs / fl:.2f} | {peak:.2f} | "
            f"{peak / v['matrix_gb']:.2f} |"
        )
    for k, v in r.items():
        if k == "bulk" or "scanpy" not in v:
            continue
        print(f"\n{int(k) * 1000:,} cells, third-party (one run each):")
        s = v["scanpy"]
        failed = "" if s["ok"] else f" (FAILED: {s.get('error', '')})"
        print(
            f"- scanpy read+normalize_total+log1p+score_genes: {s['wall']:.1f} s, peak {s['rss_gb']:.1f} GB; "
            f"score_genes call {s.get('call', float('nan')):.2f} s{failed}"
        )
        for key in ("ulm_unbatched", "ulm_batched", "aucell"):
            if key in v:
                d = v[key]
                status = f"call {d['call']:.1f} s" if d["ok"] else f"FAILED ({d.get('error', '')})"
                print(f"- decoupler {key}: {status}; process {d['wall']:.1f} s, peak {d['rss_gb']:.1f} GB")
        if "inmem" in v:
            print(f"- ifnscope in-memory call: {json.dumps(v['inmem'])}")
    if "bulk" in r:
        print(
            f"\nbulk 1,000 x 20,000: ifnscope score {median([x['wall'] for x in r['bulk']]):.2f} s, "
            f"peak {max(x['rss_gb'] for x in r['bulk']):.2f} GB"
        )


if __name__ == "__main__":
    main()
