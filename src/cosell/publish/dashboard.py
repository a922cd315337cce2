"""The BI dashboard (Streamlit) over the published copy: coverage, uplift with its CI beside the naive figure, payouts.

Started by `cosell dashboard` (on 127.0.0.1, usage statistics off); it opens the published DuckDB file read-only
($COSELL_PUBLISHED, or the file given as COSELL_DASHBOARD_SOURCE, e.g. the aggregated copy) and never writes.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

import duckdb
import pandas as pd

from cosell.config import Settings
from cosell.publish.report import slice_label, words

SOURCE_VARIABLE = "COSELL_DASHBOARD_SOURCE"


def source() -> Path:
    return Path(os.environ.get(SOURCE_VARIABLE) or Settings.from_env().published)


def _has(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                            [schema, table]).fetchone()[0])


def as_of(con: duckdb.DuckDBPyConnection) -> str:
    for schema, table in (("marts", "warehouse_as_of"), ("meta", "publication")):
        if _has(con, schema, table):
            value = con.execute(f"SELECT max(as_of_date) FROM {schema}.{table}").fetchone()[0]
            if value is not None:
                return value.isoformat()
    return "unknown"


def coverage(con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """Coverage by registered month: eligible deals, supported eligible deals, rate."""
    if not _has(con, "marts", "mart_cosell_coverage"):
        return None
    return con.execute("""
        SELECT strftime(registered_month, '%Y-%m') AS month, sum(eligible_deals)::BIGINT AS eligible_deals,
               sum(supported_eligible_deals)::BIGINT AS supported_eligible_deals,
               round(sum(supported_eligible_deals) / nullif(sum(eligible_deals), 0), 4) AS coverage_rate
        FROM marts.mart_cosell_coverage WHERE registered_month IS NOT NULL GROUP BY ALL ORDER BY 1""").df()


def uplift(con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """Every slice: the naive uplift beside the matched one and its 95% CI, with how many treated deals matched."""
    if not _has(con, "marts", "mart_cosell_uplift"):
        return None
    rows = con.execute("""
        SELECT slice_type, slice_value, naive_win_rate_uplift, win_rate_uplift, uplift_ci_low, uplift_ci_high,
               matched_treated_deals, treated_deals
        FROM marts.mart_cosell_uplift ORDER BY slice_type <> 'OVERALL', slice_type, slice_value""").fetchall()
    return pd.DataFrame(
        [{"slice": slice_label(t, v), "naive uplift": naive, "matched uplift": matched, "95% CI low": low,
          "95% CI high": high, "matched treated deals": f"{m} of {n}"}
         for t, v, naive, matched, low, high, m, n in rows])


def payouts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """Payout amounts by period and rule (DRAFT and APPROVED lines, adjustment sets included), exact to the cent."""
    if not _has(con, "payouts", "lines"):
        return None
    rows = con.execute("""
        SELECT period, rule_id, bool_or(status = 'DRAFT') AS draft, count(*)::BIGINT AS lines,
               sum(amount_usd)::DECIMAL(18,2) AS amount_usd
        FROM payouts.lines GROUP BY ALL ORDER BY period, rule_id""").fetchall()
    return pd.DataFrame(
        [{"period": period + (" (draft)" if draft else ""), "rule": words(rule), "lines": lines,
          "amount USD": f"{Decimal(amount):,.2f}"} for period, rule, draft, lines, amount in rows])


def serve(port: int, source_file: Path | None = None) -> NoReturn:
    """Become `streamlit run` of this file on 127.0.0.1:port (no browser opened, usage statistics off).

    The process is replaced (exec), so stopping it (Ctrl-C, SIGTERM) stops the server itself.
    """
    import sys

    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    if source_file is not None:
        env[SOURCE_VARIABLE] = str(Path(source_file).resolve())
    command = [sys.executable, "-m", "streamlit", "run", __file__, "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--global.developmentMode", "false"]
    print(f"dashboard on http://127.0.0.1:{port} (Ctrl-C stops it)", flush=True)
    os.execve(sys.executable, command, env)


def _percent(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:+.1%}"


def main() -> None:
    import streamlit as st

    st.set_page_config(page_title="Co-sell program", layout="wide")
    path = source()
    if not path.exists():
        st.error(f"no published copy at {path}: run `cosell run` first (or set COSELL_PUBLISHED)")
        return
    con = duckdb.connect(str(path), read_only=True)
    try:
        st.title("Co-sell program")
        st.caption(f"Published copy {path.name}, data as of {as_of(con)}")

        st.header("Coverage")
        table = coverage(con)
        if table is None or table.empty:
            st.info("no coverage mart in this copy")
        else:
            eligible, supported = int(table["eligible_deals"].sum()), int(table["supported_eligible_deals"].sum())
            st.metric("Coverage of eligible deals", f"{supported / eligible:.1%}" if eligible else "n/a",
                      help=f"{supported} of {eligible} eligible deals had supported co-sell help")
            st.line_chart(table.set_index("month")["coverage_rate"])
            st.dataframe(table, hide_index=True)

        st.header("Win-rate uplift of co-sell support")
        table = uplift(con)
        if table is None or table.empty:
            st.info("no uplift mart in this copy")
        else:
            overall = table.iloc[0]
            left, right = st.columns(2)
            left.metric("Matched uplift (CEM)", _percent(overall["matched uplift"]),
                        help=f"95% CI {_percent(overall['95% CI low'])} to {_percent(overall['95% CI high'])}")
            right.metric("Naive uplift (all treated vs all controls)", _percent(overall["naive uplift"]))
            st.caption(f"{overall['slice']}: matched {_percent(overall['matched uplift'])} "
                       f"(95% CI {_percent(overall['95% CI low'])} to {_percent(overall['95% CI high'])}) "
                       f"beside naive {_percent(overall['naive uplift'])}")
            st.dataframe(table, hide_index=True)

        st.header("Partner payouts by rule")
        table = payouts(con)
        if table is None or table.empty:
            st.info("no payout period computed yet")
        else:
            st.dataframe(table, hide_index=True)
    finally:
        con.close()


if __name__ == "__main__":
    main()
