"""Benchmark (by hand): how often the OVERALL uplift interval covers the planted effect, old vs new.

Usage: .venv/bin/python benchmarks/bench_uplift_coverage.py [--seeds 100] [--deals 2000] [--partners 40]
       [--out benchmarks/out/uplift_coverage.json]

For each generator seed: generate, land and build a warehouse (the real pipeline), then read
its OVERALL slice. At the default size (2,000 deals, 180 days) most strata hold one to a few
deals, where the interval of SPEC section 5 as first written undercovers. Per seed:

- new: mart_cosell_uplift's win_rate_uplift and interval (SPEC section 8.3; baseline strata);
- old interval: the same estimate with section 5's variance, sum w_s^2 (p_T(1-p_T)/n_T +
  p_C(1-p_C)/n_C), computed from marts.mart_matched_cohort_strata (the OVERALL strata);
- old strata: the CEM estimate over the final (current) attributes, section 5 as first
  written, computed from marts.fct_cosell_deals, with its own section 5 interval.

Prints one line per seed and a summary: the share of intervals containing
generate.PLANTED_UPLIFT, the mean bias (estimate - planted) and the mean interval width.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from cosell.build.dbt import build
from cosell.config import Settings
from cosell.db import connect
from cosell.landing.load import land
from cosell.synthetic.generate import PLANTED_UPLIFT, generate

Z = 1.96

STRATA = {
    "baseline": "SELECT treated_deals, treated_wins, control_deals, control_wins FROM marts.mart_matched_cohort_strata "
                "WHERE is_matched",
    "final": """
        SELECT count(*) FILTER (WHERE cohort_group = 'TREATED'), count(*) FILTER (WHERE cohort_group = 'TREATED' AND is_won),
               count(*) FILTER (WHERE cohort_group = 'CONTROL'), count(*) FILTER (WHERE cohort_group = 'CONTROL' AND is_won)
        FROM marts.fct_cosell_deals WHERE cohort_group IN ('TREATED', 'CONTROL')
        GROUP BY amount_band, complexity_band, competitive_situation, product_category, customer_segment
        HAVING count(*) FILTER (WHERE cohort_group = 'TREATED') > 0 AND count(*) FILTER (WHERE cohort_group = 'CONTROL') > 0
    """,
}


def section5_estimate(strata: list[tuple[int, int, int, int]]) -> tuple[float, float, float]:
    """(uplift, low, high) with ATT weights and section 5's plug-in variance p(1-p)/n."""
    total = sum(s[0] for s in strata)
    uplift = variance = 0.0
    for n_t, w_t, n_c, w_c in strata:
        weight = n_t / total
        p_t, p_c = w_t / n_t, w_c / n_c
        uplift += weight * (p_t - p_c)
        variance += weight**2 * (p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    half = Z * math.sqrt(variance)
    return uplift, uplift - half, uplift + half


def one_seed(seed: int, args, work: Path) -> dict:
    home = work / f"seed{seed}"
    settings = Settings.from_env({
        "COSELL_HOME": str(home), "COSELL_WAREHOUSE": str(home / "warehouse.duckdb"),
        "COSELL_DUCKDB_THREADS": str(args.threads), "COSELL_DUCKDB_MEMORY_LIMIT": "2GB",
    })
    generate(home / "inbox", seed=seed, start=dt.date(2026, 1, 1), days=args.days, partners=args.partners,
             deals=args.deals)
    land(home / "inbox", settings)
    build(settings)
    con = connect(settings, read_only=True)
    try:
        uplift, low, high = con.execute(
            "SELECT win_rate_uplift, uplift_ci_low, uplift_ci_high FROM marts.mart_cosell_uplift "
            "WHERE slice_type = 'OVERALL'").fetchone()
        baseline = con.execute(STRATA["baseline"]).fetchall()
        final = con.execute(STRATA["final"]).fetchall()
    finally:
        con.close()
    shutil.rmtree(home)
    old_uplift, old_low, old_high = section5_estimate(baseline)
    assert abs(old_uplift - uplift) < 1e-8, (old_uplift, uplift)  # same point estimate, other variance
    final_uplift, final_low, final_high = section5_estimate(final)
    one_deal = sum(1 for s in baseline if s[0] == 1 or s[2] == 1)
    return {
        "seed": seed, "uplift": uplift, "new": [low, high], "old_interval": [old_low, old_high],
        "old_strata": final_uplift, "old_strata_interval": [final_low, final_high],
        "matched_strata": len(baseline), "strata_with_a_one_deal_group": one_deal,
    }


def summarise(rows: list[dict]) -> dict:
    def stats(estimate: str, interval: str) -> dict:
        covered = [r[interval][0] <= PLANTED_UPLIFT <= r[interval][1] for r in rows]
        return {
            "coverage": sum(covered) / len(rows),
            "mean_bias": sum(r[estimate] - PLANTED_UPLIFT for r in rows) / len(rows),
            "mean_width": sum(r[interval][1] - r[interval][0] for r in rows) / len(rows),
        }
    return {
        "seeds": len(rows), "planted": PLANTED_UPLIFT,
        "new_interval": stats("uplift", "new"),
        "old_interval": stats("uplift", "old_interval"),
        "old_strata_old_interval": stats("old_strata", "old_strata_interval"),
        "mean_matched_strata": sum(r["matched_strata"] for r in rows) / len(rows),
        "mean_share_of_strata_with_a_one_deal_group": sum(
            r["strata_with_a_one_deal_group"] / r["matched_strata"] for r in rows) / len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--deals", type=int, default=2000)
    parser.add_argument("--partners", type=int, default=40)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/uplift_coverage.json"))
    args = parser.parse_args()
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="uplift_coverage_") as work:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            row = one_seed(seed, args, Path(work))
            rows.append(row)
            print(f"seed {seed:>4}: uplift {row['uplift']:+.3f} new [{row['new'][0]:+.3f}, {row['new'][1]:+.3f}] "
                  f"old [{row['old_interval'][0]:+.3f}, {row['old_interval'][1]:+.3f}] "
                  f"final-attribute strata {row['old_strata']:+.3f} ({time.perf_counter() - started:.0f} s)", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"summary": summarise(rows), "args": {
                k: v for k, v in vars(args).items() if k != "out"}, "seeds": rows}, indent=1))
    summary = summarise(rows)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
