"""Publishing for BI: a fresh copy of the marts in its own DuckDB file and Parquet, swapped in atomically."""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cosell import leftovers
from cosell.config import Settings
from cosell.db import WarehouseMissing, connect
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


def _unlink_database(path: Path) -> None:
    path.unlink(missing_ok=True)
    Path(f"{path}.wal").unlink(missing_ok=True)


def publish(settings: Settings) -> PublishSummary:
    """Copy the marts (and payout tables) into a new file, then rename it onto the published path.

    Readers that hold the old file keep a consistent snapshot; the working warehouse is never
    opened by readers. Parquet files are written beside it under temporary names and renamed
    onto their final names once the new database is in place; Parquet files of marts that no
    longer exist are removed. On any failure the published file and Parquet folder are left as
    they were and nothing temporary is left behind.
    """
    source = settings.warehouse
    if not source.exists():
        raise WarehouseMissing(f"warehouse {source} does not exist: run `cosell run` (or land and build) first")
    target = settings.published
    target.parent.mkdir(parents=True, exist_ok=True)
    # pid and thread: two publishes of one process (or of two processes) never share a staging file.
    tag = f"{os.getpid()}.{threading.get_ident()}"
    staging = target.with_name(f".{target.name}.{tag}.tmp")
    parquet_dir = target.parent / "parquet"
    partials: list[tuple[Path, Path]] = []
    leftovers.remove_dead([target.parent, parquet_dir])
    _unlink_database(staging)
    con = connect(settings, staging)
    try:
        try:
            con.execute(f"ATTACH {literal(str(source))} AS wh (READ_ONLY)")
        except duckdb.Error as error:
            detail = " ".join(str(error).split())[:200]
            if "lock" in detail.lower():
                raise CosellError(f"warehouse {source} is being written by another process; publish when it has finished") from None
            raise CosellError(f"cannot read warehouse {source}: {detail}") from None
        schemas = ", ".join(literal(s) for s in PUBLISHED_SCHEMAS)
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'wh' "
            f"AND schema_name IN ({schemas}) "
            "UNION ALL SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = 'wh' "
            f"AND schema_name IN ({schemas}) AND NOT internal ORDER BY 1, 2"
        ).fetchall()
        if not any(schema == "marts" for schema, _ in tables):
            raise CosellError(f"warehouse {source} has no marts: run `cosell build` first")
        for schema in sorted({s for s, _ in tables}):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
        for schema, name in tables:
            con.execute(f"CREATE TABLE {ident(schema)}.{ident(name)} AS SELECT * FROM wh.{ident(schema)}.{ident(name)}")
        has_audit = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = 'raw' "
            "AND table_name = 'load_audit'"
        ).fetchone()[0]
        as_of = as_of_date(con, "wh") if has_audit else None
        con.execute("CREATE SCHEMA meta")
        con.execute(
            "CREATE TABLE meta.publication AS SELECT ?::DATE AS as_of_date, ?::TIMESTAMP AS published_at",
            [as_of, dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)],
        )
        con.execute("DETACH wh")
        parquet_dir.mkdir(exist_ok=True)
        for schema, name in tables:
            if schema != "marts":
                continue
            partial = parquet_dir / f".{name}.parquet.{tag}.tmp"
            partials.append((partial, parquet_dir / f"{name}.parquet"))
            con.execute(f"COPY marts.{ident(name)} TO {literal(str(partial))} (FORMAT parquet)")
        con.execute("CHECKPOINT")
        con.close()
        os.replace(staging, target)
    except BaseException:
        con.close()
        _unlink_database(staging)
        for partial, _ in partials:
            partial.unlink(missing_ok=True)
        raise
    for partial, final in partials:
        os.replace(partial, final)
    current = {final.name for _, final in partials}
    for stale in parquet_dir.glob("*.parquet"):
        if stale.name not in current:
            stale.unlink(missing_ok=True)
    return PublishSummary(target, parquet_dir, [f"{s}.{n}" for s, n in tables], as_of)
