"""Benchmark: how long one case assessment takes, in-process and through the CLI.

Run: ``make bench`` (or ``.venv/bin/python bench/bench_assess.py``). Prints a Markdown table;
results are recorded in docs/benchmarks.md. Timings are medians over repeated runs.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_CASES = ROOT.parent / "shared" / "cases"


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def cli_ms(args: list[str], repeat: int = 10) -> float:
    cmd = [sys.executable, "-m", "ifnscope", *args]
    return median_ms(lambda: subprocess.run(cmd, capture_output=True, check=True), repeat)


def main() -> None:
    t = time.perf_counter()
    from ifnscope.assessment import assess
    from ifnscope.case.reader import load_case

    import_ms = (time.perf_counter() - t) * 1e3
    cases = sorted(SHARED_CASES.glob("*.yaml")) if SHARED_CASES.is_dir() else []
    cases = cases or [ROOT / "examples" / "seed-cadm.yaml"]

    t = time.perf_counter()
    first = assess(load_case(cases[0]))  # first call: loads and validates the rule tables
    first_ms = (time.perf_counter() - t) * 1e3
    assert first.case_id

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"import ifnscope (reader + engines): {import_ms:.0f} ms; first assessment incl. rule tables: "
        f"{first_ms:.1f} ms\n"
    )
    print("| case | load + validate (ms) | assess (ms) | total (ms) |")
    print("|---|---:|---:|---:|")
    totals = []
    for path in cases:
        case = load_case(path)
        load = median_ms(lambda p=path: load_case(p), 200)
        run = median_ms(lambda c=case: assess(c), 200)
        totals.append(load + run)
        print(f"| {path.stem} | {load:.2f} | {run:.2f} | {load + run:.2f} |")
    print(f"\nworst case, load + assess after start-up: {max(totals):.1f} ms")

    n = 1000
    case = load_case(cases[0])
    t = time.perf_counter()
    for _ in range(n):
        assess(case).to_json_dict()
    per_s = n / (time.perf_counter() - t)
    print(f"throughput, assess + JSON, one process: {per_s:.0f} cases/s\n")

    floor = median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 10)
    seed = str(cases[0])
    print("| command (median of 10) | wall time (ms) |")
    print("|---|---:|")
    print(f"| `python -c pass` (interpreter floor) | {floor:.0f} |")
    print(f"| `ifnscope --version` (start-up) | {cli_ms(['--version']):.0f} |")
    print(f"| `ifnscope assess {Path(seed).name} --json` | {cli_ms(['assess', seed, '--json']):.0f} |")
    print(f"| `ifnscope assess {Path(seed).name}` (terminal report) | {cli_ms(['assess', seed]):.0f} |")
    if SHARED_CASES.is_dir():
        print(
            f"| `ifnscope assess cases/ --json` ({len(cases)} cases) | "
            f"{cli_ms(['assess', str(SHARED_CASES), '--json']):.0f} |"
        )


if __name__ == "__main__":
    main()
