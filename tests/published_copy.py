"""Reading the session's published copy, and copies of it with a few rows changed for an edge the data lacks."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb


def copy_of(published: Path, target: Path, *statements: str) -> Path:
    """A copy of the published file with these statements run on it (UPDATE/INSERT/DROP on the real tables)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(published, target)
    con = duckdb.connect(str(target))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
    return target


def query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def as_of(path: Path) -> dt.date:
    return query(path, "SELECT as_of_date FROM marts.warehouse_as_of")[0][0]


def draft_of_next_period(period: str, next_period: str) -> str:
    """SQL that drafts next_period with the lines of period again (a period computed but not yet approved)."""
    return (f"INSERT INTO payouts.lines SELECT * REPLACE ('{next_period}' AS period, 'DRAFT' AS status, "
            f"replace(line_id, '{period}:', '{next_period}:') AS line_id) FROM payouts.lines "
            f"WHERE period = '{period}' AND adjustment_set IS NULL")
