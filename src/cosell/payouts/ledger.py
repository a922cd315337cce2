"""payouts.lines: the payout lines of every period as a warehouse table for BI, kept in step with the files.

The engine stays read-only; lifecycle.py calls these functions on its own read-write connection, inside the
transaction that also covers the file step. Rows come from the same line records the CSV files are written from
(or from the approved payout_lines.csv itself), so the table never says something the files do not.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Iterable, Mapping

import duckdb

from cosell.errors import CosellError

LINES_TABLE = "payouts.lines"

LINES_DDL = """
create schema if not exists payouts;
create table if not exists payouts.lines (
    period varchar not null,
    status varchar not null,
    adjustment_set integer,
    line_id varchar not null,
    partner_id varchar not null,
    partner_name varchar,
    partner_type varchar,
    partner_tier varchar,
    rule_id varchar not null,
    deal_id varchar,
    basis_usd decimal(18,2),
    rate varchar,
    amount_usd decimal(18,2) not null,
    plan_id varchar
)
"""

COLUMNS = ("period", "status", "adjustment_set", "line_id", "partner_id", "partner_name", "partner_type",
           "partner_tier", "rule_id", "deal_id", "basis_usd", "rate", "amount_usd", "plan_id")

LINE_ID = COLUMNS.index("line_id")  # a row's position of its line_id

DRAFT = "DRAFT"
APPROVED = "APPROVED"

Row = tuple


def _text(value: str | None) -> str | None:
    return value if value not in (None, "") else None


def _money(value: str | None) -> Decimal | None:
    return Decimal(value) if value not in (None, "") else None


def line_rows(records: Iterable[Mapping[str, str]], status: str, plan_id: str | None,
              adjustment_set: int | None = None) -> list[Row]:
    """Table rows from CSV line records (payout_lines.csv or adjustment_lines.csv fields), in file order."""
    rows = []
    for record in records:
        try:
            rows.append((
                record["period"], status, adjustment_set, record["line_id"], record["partner_id"],
                _text(record["partner_name"]), _text(record["partner_type"]), _text(record["partner_tier"]),
                record["rule_id"], _text(record["deal_id"]), _money(record["basis_usd"]), _text(record["rate"]),
                Decimal(record["amount_usd"]), plan_id,
            ))
        except (KeyError, InvalidOperation, TypeError) as error:
            raise CosellError(f"payout line {record.get('line_id')!r} cannot be recorded in {LINES_TABLE} "
                              f"({type(error).__name__}: {error}); the line files were altered") from None
    return rows


def _arrow(rows: list[Row]):
    """The rows as an Arrow table with the table's column names and types (Decimals go over exactly)."""
    import pyarrow as pa

    money = pa.decimal128(18, 2)
    types = {"adjustment_set": pa.int32(), "basis_usd": money, "amount_usd": money}
    columns = list(zip(*rows)) if rows else [()] * len(COLUMNS)
    try:
        return pa.table({name: pa.array(values, type=types.get(name, pa.string()))
                         for name, values in zip(COLUMNS, columns)})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise CosellError(f"payout lines cannot be recorded in {LINES_TABLE}: {error}") from None


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LINES_DDL)


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'payouts' and table_name = 'lines'"
    ).fetchall()[0][0])


def period_rows(con: duckdb.DuckDBPyConnection, period: str, adjustment_set: int | None = None) -> list[Row] | None:
    """The stored rows of a period's own lines (or of one adjustment set), in line order; None without the table."""
    if not _has_table(con):
        return None
    return con.execute(
        f"select {', '.join(COLUMNS)} from {LINES_TABLE} where period = ? and adjustment_set is not distinct from ? "
        "order by line_id",
        [period, adjustment_set],
    ).fetchall()


NEW_ROWS = "__ledger_new_rows"  # the rows to store, an Arrow table registered on the connection
_SAME_ROW = " and ".join(f"n.{column} is not distinct from l.{column}" for column in COLUMNS)
_OF_SET = "period = $period and adjustment_set is not distinct from $set"


def replace_rows(con: duckdb.DuckDBPyConnection, period: str, rows: list[Row], adjustment_set: int | None = None) -> bool:
    """Make the period's own rows (or one adjustment set's) exactly `rows`; False when they already were.

    Runs inside the caller's transaction. Only the difference is written: stored rows that no new row equals go,
    new rows that no stored row equals come in, and nothing at all when both sides hold the same rows, so a rerun
    on unchanged data leaves the table (and the warehouse file) as it was. The comparison runs in DuckDB: at 10M
    deals a month holds 400k lines.
    """
    seen: set[str] = set()
    for row in rows:
        if row[LINE_ID] in seen:
            raise CosellError(f"payout line {row[LINE_ID]!r} appears twice in period {period}: nothing recorded")
        seen.add(row[LINE_ID])
    if not _has_table(con):
        ensure_table(con)
    con.register(NEW_ROWS, _arrow(rows))
    try:
        params = {"period": period, "set": adjustment_set}
        gone = con.execute(
            f"delete from {LINES_TABLE} l where {_OF_SET} "
            f"and not exists (select 1 from {NEW_ROWS} n where {_SAME_ROW})",
            params,
        ).fetchall()[0][0]
        come = con.execute(
            f"insert into {LINES_TABLE} select * from {NEW_ROWS} n "
            f"where not exists (select 1 from {LINES_TABLE} l where {_OF_SET} and {_SAME_ROW})",
            params,
        ).fetchall()[0][0]
    finally:
        con.unregister(NEW_ROWS)
    return bool(gone or come)
