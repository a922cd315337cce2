"""Publishing for BI: a fresh copy of the marts in its own DuckDB file and Parquet, swapped in atomically."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cosell.config import Settings
from cosell.db import connect
from cosell.errors import CosellError
from cosell.raw_schema import as_of_date
from cosell.row_checks import ident, literal

PUBLISHED_SCHEMAS = ("marts", "payouts")


@dataclass
class PublishSummary:
    path: Path
    parquet_dir: Path
    tables: list[str]
    as_of_date: dt.date | None

    def describe(self) -> str:
        return (
            f"published {len(self.tables)} tables as of {self.as_of_date} to {self.path} "
            f"(Parquet in {self.parquet_dir})"
        )


def publish(settings: Settings) -> PublishSummary:
    """Copy the marts (and payout tables) into a new file, then rename it onto the published path.

    Readers that hold the old file keep a consistent snapshot; the working warehouse is never
    opened by readers. Parquet files are written beside it and replaced one by one with rename.
    """
    target = settings.published
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    con = connect(settings, staging)
    try:
        con.execute(f"ATTACH {literal(str(settings.warehouse))} AS wh (READ_ONLY)")
        tables = con.execute(
            "SELECT table_schema, table_name FROM duckdb_tables() WHERE database_name = 'wh' "
            f"AND table_schema IN ({', '.join(literal(s) for s in PUBLISHED_SCHEMAS)}) "
            "UNION ALL SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = 'wh' "
            f"AND schema_name IN ({', '.join(literal(s) for s in PUBLISHED_SCHEMAS)}) ORDER BY 1, 2"
        ).fetchall()
        if not any(schema == "marts" for schema, _ in tables):
            raise CosellError(f"warehouse {settings.warehouse} has no marts: run `cosell build` first")
        for schema in sorted({s for s, _ in tables}):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
        for schema, name in tables:
            con.execute(f"CREATE TABLE {ident(schema)}.{ident(name)} AS SELECT * FROM wh.{ident(schema)}.{ident(name)}")
        as_of = as_of_date(con, "wh")
        con.execute("CREATE SCHEMA meta")
        con.execute(
            "CREATE TABLE meta.publication AS SELECT ?::DATE AS as_of_date, ?::TIMESTAMP AS published_at",
            [as_of, dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)],
        )
        con.execute("DETACH wh")
        parquet_dir = target.parent / "parquet"
        parquet_dir.mkdir(exist_ok=True)
        for schema, name in tables:
            if schema != "marts":
                continue
            final = parquet_dir / f"{name}.parquet"
            partial = parquet_dir / f".{name}.parquet.{os.getpid()}.tmp"
            con.execute(f"COPY marts.{ident(name)} TO {literal(str(partial))} (FORMAT parquet)")
            os.replace(partial, final)
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        staging.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(staging, target)
    return PublishSummary(target, parquet_dir, [f"{s}.{n}" for s, n in tables], as_of)
