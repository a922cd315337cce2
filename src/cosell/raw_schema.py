"""DDL of the landing layer (schema `raw`): one table per feed, rejects and the load audit."""

from __future__ import annotations

import duckdb

from cosell.contract import FEEDS, LINEAGE_COLUMNS

REJECTS_DDL = """
CREATE TABLE IF NOT EXISTS raw.rejects (
    feed VARCHAR NOT NULL,
    business_date DATE NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    raw_line VARCHAR,
    reason VARCHAR NOT NULL,
    load_id BIGINT NOT NULL
)"""

LOAD_AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS raw.load_audit (
    load_id BIGINT NOT NULL,
    feed VARCHAR,
    business_date DATE,
    file_name VARCHAR NOT NULL,
    file_path VARCHAR NOT NULL,
    file_sha256 VARCHAR,
    status VARCHAR NOT NULL,
    rows_landed BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    reason VARCHAR,
    quarantine_path VARCHAR,
    loaded_at TIMESTAMP NOT NULL
)"""


def feed_table_ddl(feed_name: str) -> str:
    feed = FEEDS[feed_name]
    cols = [f'"{c.name}" {c.duckdb_type}' for c in feed.columns]
    cols += [f'"{name}" {type_} NOT NULL' for name, type_ in LINEAGE_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS raw.{feed.name} (\n    " + ",\n    ".join(cols) + "\n)"


def create_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema raw and every landing table if missing (idempotent)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for name in FEEDS:
        con.execute(feed_table_ddl(name))
    con.execute(REJECTS_DDL)
    con.execute(LOAD_AUDIT_DDL)


def as_of_date(con: duckdb.DuckDBPyConnection, database: str = ""):
    """The warehouse as_of_date: the latest business date landed (SPEC section 2), or None."""
    prefix = f"{database}." if database else ""
    return con.execute(
        f"SELECT max(business_date) FROM {prefix}raw.load_audit WHERE status = 'LANDED'"
    ).fetchone()[0]
