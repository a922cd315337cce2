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


EXTRA_COLUMNS_DDL = """
CREATE TABLE IF NOT EXISTS raw.extra_columns (
    feed VARCHAR NOT NULL,
    header VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    load_id BIGINT NOT NULL
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
    con.execute(EXTRA_COLUMNS_DDL)


def extra_column_names(con: duckdb.DuckDBPyConnection, feed: str, headers: list[str], load_id: int) -> dict[str, str]:
    """The raw column each extra header is kept in, adding columns for headers not seen before.

    A header is kept under its own name unless that name is taken in the table (DuckDB compares
    column names without case: a contract column, a lineage column, or another spelling of an
    extra); then under `<header>__extra`, `<header>__extra2`, ... raw.extra_columns records the
    choice, so the same header always lands in the same column.
    """
    known = dict(
        con.execute("SELECT header, column_name FROM raw.extra_columns WHERE feed = ?", [feed]).fetchall()
    )
    columns = [r[0] for r in con.execute(f"DESCRIBE raw.{feed}").fetchall()]
    reserved = {c.name for c in FEEDS[feed].columns} | {name for name, _ in LINEAGE_COLUMNS}
    taken = {c.lower() for c in columns}
    for header in headers:
        if header in known:
            continue
        if header in columns and header not in reserved and header not in known.values():
            name = header  # kept under its own name before the registry existed
        else:
            name, n = header, 1
            while name.lower() in taken:
                name, n = f"{header}__extra{n if n > 1 else ''}", n + 1
            con.execute(f'ALTER TABLE raw.{feed} ADD COLUMN "{name.replace(chr(34), chr(34) * 2)}" VARCHAR')
            taken.add(name.lower())
        con.execute("INSERT INTO raw.extra_columns VALUES (?, ?, ?, ?)", [feed, header, name, load_id])
        known[header] = name
    return {h: known[h] for h in headers}


def as_of_date(con: duckdb.DuckDBPyConnection, database: str = ""):
    """The warehouse as_of_date: the latest business date landed (SPEC section 2), or None."""
    prefix = f"{database}." if database else ""
    return con.execute(
        f"SELECT max(business_date) FROM {prefix}raw.load_audit WHERE status = 'LANDED'"
    ).fetchone()[0]
