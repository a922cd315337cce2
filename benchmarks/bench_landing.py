"""Benchmark: `cosell generate` and `cosell land` at given scales, against DuckDB's bare read of the same files.

Usage: .venv/bin/python benchmarks/bench_landing.py [--deals 100000 1000000] [--out benchmarks/out]
The bare read (read_csv with every column as text, counted; Parquet counted) is the floor that
landing is compared to. Each step runs in its own interpreter so peak RSS is its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure  # noqa: E402

BARE_READ = """
import duckdb, glob, gzip
con = duckdb.connect()
groups = {{}}
for path in sorted(glob.glob({inbox!r} + "/*/*/*")):
    if path.endswith(".parquet"):
        key = ("parquet",)
    else:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as handle:
            key = ("csv", path.endswith(".gz"), handle.readline())
    groups.setdefault(key, []).append(path)
rows = 0
for key, files in groups.items():
    if key[0] == "parquet":
        rows += con.execute(f"SELECT count(*) FROM read_parquet({{files!r}})").fetchone()[0]
    else:
        # files sharing a header are read in one scan, as landing reads them
        rows += con.execute(f"SELECT count(*) FROM read_csv({{files!r}}, all_varchar = true, header = true)").fetchone()[0]
result = rows
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(f"{'deals':>10} {'step':<10} {'seconds':>8} {'rows':>11} {'rows/s':>10} {'peak MB':>8}")
    for deals in args.deals:
        root = args.out / f"deals_{deals}"
        shutil.rmtree(root, ignore_errors=True)
        inbox, home = root / "inbox", root / "home"
        partners = max(50, deals // 500)
        gen = measure(
            f"""
            from pathlib import Path
            from cosell.synthetic.generate import generate
            summary = generate(Path({str(inbox)!r}), seed=7, partners={partners}, deals={deals}, days=180)
            result = summary.describe()
            """
        )
        size_mb = sum(p.stat().st_size for p in inbox.rglob("*") if p.is_file()) / 2**20
        bare = measure(BARE_READ.format(inbox=str(inbox)))
        env = dict(os.environ, COSELL_HOME=str(home))
        landing = measure(
            f"""
            from pathlib import Path
            from cosell.config import Settings
            from cosell.landing.load import land
            s = land(Path({str(inbox)!r}), Settings.from_env())
            result = s.rows_landed + s.rows_rejected
            """,
            env=env,
        )
        rows = bare["result"]
        for step, m in (("generate", gen), ("bare read", bare), ("land", landing)):
            print(f"{deals:>10} {step:<10} {m['seconds']:>8.1f} {rows:>11} {rows / m['seconds']:>10.0f} {m['peak_rss_mb']:>8.0f}")
        print(
            f"{deals:>10} files {size_mb:.0f} MB; landed+rejected {landing['result']} of {rows} rows read; "
            f"land / bare read = {landing['seconds'] / bare['seconds']:.2f}x"
        )


if __name__ == "__main__":
    main()
