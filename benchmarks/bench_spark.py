"""Full build on Spark (local SparkSession) beside the DuckDB build, on one generated and landed warehouse.

Usage: .venv/bin/python benchmarks/bench_spark.py [--deals 1000000] [--master local[2]] [--out benchmarks/out]

Peak RSS is the largest sum of RSS over the build's process tree (cosell, dbt and, on Spark,
the JVM that pyspark starts), sampled every 0.2 s: the JVM is not a waited-for child of dbt,
so getrusage cannot see it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree_rss_kb(pid: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        child = int(entry.name)
        children.setdefault(int(fields["PPid"].strip()), []).append(child)
        rss[child] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; returns (seconds, peak tree RSS in MB, last output line)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss_kb(process.pid))
        time.sleep(0.2)
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return time.perf_counter() - started, peak / 1024, output.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()
    home = args.out / f"spark_{args.deals}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = dict(
        os.environ,
        COSELL_HOME=str(home),
        COSELL_SPARK_MASTER=args.master,
        COSELL_SPARK_DRIVER_MEMORY=args.driver_memory,
    )
    cosell = [sys.executable, "-m", "cosell.cli"]
    print(f"machine: {os.cpu_count()} cores; {args.deals} deals over {args.days} business dates; Spark {args.master}")
    start = dt.date(2026, 1, 1).isoformat()
    partners = str(max(50, args.deals // 500))
    steps = [
        ("generate", ["generate", "--out", str(home / "inbox"), "--start", start, "--days", str(args.days),
                      "--partners", partners, "--deals", str(args.deals)]),
        ("land", ["land", "--inbox", str(home / "inbox")]),
        ("build on DuckDB, full", ["build", "--full-refresh"]),
        ("build on Spark, full (raw export, dbt build, marts as Parquet)", ["build", "--engine", "spark"]),
    ]
    for label, step in steps:
        seconds, peak_mb, line = measured(cosell + step, env)
        print(f"| {label} | {args.deals} deals | {seconds:.1f} s | {peak_mb:.0f} MB | {line[:160]}")


if __name__ == "__main__":
    main()
