"""DuckDB connections configured the one way the pipeline uses them (UTC, threads, memory, spill)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cosell.config import Settings
from cosell.errors import CosellError


def warehouse_as_of(con: duckdb.DuckDBPyConnection, database: str = ""):
    """The warehouse as_of_date the marts were built with (dbt model warehouse_as_of, its one definition,
    SPEC section 2), or None before the first build. Every step after the build reads it here."""
    prefix = f"{database}." if database else ""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = coalesce(nullif(?, ''), current_database()) "
        "AND schema_name = 'marts' AND table_name = 'warehouse_as_of'",
        [database],
    ).fetchone()[0]
    if not found:
        return None
    return con.execute(f"SELECT max(as_of_date) FROM {prefix}marts.warehouse_as_of").fetchone()[0]


class WarehouseMissing(CosellError):
    """The warehouse file a read-only step needs does not exist."""


def connect(settings: Settings, path: Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    path = Path(path or settings.warehouse)
    if read_only and not path.exists():
        raise WarehouseMissing(f"warehouse {path} does not exist: run `cosell land` or `cosell run` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(
            str(path),
            read_only=read_only,
            config={
                "threads": settings.duckdb_threads,
                "memory_limit": settings.duckdb_memory_limit,
                "temp_directory": str(settings.temp_dir),
            },
        )
    except duckdb.Error as error:
        if "lock" in str(error).lower():
            raise CosellError(f"warehouse {path} is in use by another process; try again when it has finished") from None
        raise CosellError(f"cannot open warehouse {path}: {' '.join(str(error).split())[:200]}") from None
    con.execute("SET TimeZone = 'UTC'")
    return con


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[list], verb: str = "INSERT") -> None:
    """Insert Python rows (in the table's column order) in one statement through Arrow.

    DuckDB's executemany runs one statement per row: thousands of audit or fingerprint rows a
    night cost seconds that way.
    """
    if not rows:
        return
    import pyarrow as pa

    columns = list(zip(*rows))
    batch = pa.table({f"c{i}": pa.array(values) for i, values in enumerate(columns)})
    con.register("__insert_rows", batch)
    try:
        con.execute(f"{verb} INTO {table} SELECT * FROM __insert_rows")
    finally:
        con.unregister("__insert_rows")
