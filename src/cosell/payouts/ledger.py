"""payouts.lines: the payout lines of every period as a warehouse table for BI, kept in step with the files.

The engine stays read-only; lifecycle.py calls these functions on its own read-write connection, inside the
transaction that also covers the file step. Rows come from the same line records the CSV files are written from
(or from the approved payout_lines.csv itself), so the table never says something the files do not.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Iterable, Mapping

import duckdb

from cosell.db import insert_rows
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


def _text_value(value):
    return str(value) if isinstance(value, Decimal) else value


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LINES_DDL)


def period_rows(con: duckdb.DuckDBPyConnection, period: str, adjustment_set: int | None = None) -> list[Row] | None:
    """The stored rows of a period's own lines (or of one adjustment set), in line order; None without the table."""
    present = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'payouts' and table_name = 'lines'"
    ).fetchone()[0]
    if not present:
        return None
    return con.execute(
        f"select {', '.join(COLUMNS)} from {LINES_TABLE} where period = ? and adjustment_set is not distinct from ? "
        "order by line_id",
        [period, adjustment_set],
    ).fetchall()


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: row[3])


def replace_rows(con: duckdb.DuckDBPyConnection, period: str, rows: list[Row], adjustment_set: int | None = None) -> bool:
    """Make the period's own rows (or one adjustment set's) exactly `rows`; False when they already were.

    Runs inside the caller's transaction; writes nothing when the stored rows equal the new ones, so a rerun on
    unchanged data leaves the table (and the warehouse file) as it was.
    """
    if period_rows(con, period, adjustment_set) == _sorted(rows):
        return False
    ensure_table(con)
    con.execute(f"delete from {LINES_TABLE} where period = ? and adjustment_set is not distinct from ?",
                [period, adjustment_set])
    # money goes over as exact text; the insert casts it to the table's DECIMAL
    insert_rows(con, LINES_TABLE, [[_text_value(value) for value in row] for row in rows])
    return True
