"""The landed raw layer as Parquet, one folder per table, partitioned by landing run, for Spark (or any engine) to read.

Layout under the export folder (what `cosell build --engine spark` reads, and what a cluster
reads the same way from object storage):

    <table>/_load_id=<N>/part-0.parquet   a table with a _load_id column: one Hive-style
                                          partition per landing run (_load_id is in the path,
                                          not in the file)
    <table>/part-0.parquet                a table without _load_id (load_audit, rejects,
                                          extra_columns), or one with no rows: a single file
                                          (with every column, so its schema is known)

Column types are the raw layer's (VARCHAR, DECIMAL(18,2), DECIMAL(24,12), DATE, naive UTC
TIMESTAMP, ...). An export replaces the previous one whole: it is written beside it and
swapped in, so a reader never sees half of one.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cosell.config import Settings
from cosell.db import connect
from cosell.landing.row_checks import ident, literal

PARTITION_COLUMN = "_load_id"


@dataclass(frozen=True)
class RawExport:
    folder: Path
    rows: dict[str, int]

    def describe(self) -> str:
        return f"exported {len(self.rows)} raw tables ({sum(self.rows.values())} rows) as Parquet to {self.folder}"


def export_raw(settings: Settings, folder: Path) -> RawExport:
    """Write every table of schema raw of the warehouse as Parquet under folder (replacing it)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    rows: dict[str, int] = {}
    con = connect(settings, read_only=True)
    try:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' ORDER BY table_name"
            ).fetchall()
        ]
        for table in tables:
            columns = {c for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw' AND table_name = ?", [table]
            ).fetchall()}
            count = con.execute(f"SELECT count(*) FROM raw.{ident(table)}").fetchone()[0]
            target = staging / table
            if PARTITION_COLUMN in columns and count:
                con.execute(
                    f"COPY raw.{ident(table)} TO {literal(str(target))} "
                    f"(FORMAT parquet, PARTITION_BY ({PARTITION_COLUMN}), FILENAME_PATTERN 'part-{{i}}')"
                )
            else:
                target.mkdir()
                con.execute(f"COPY raw.{ident(table)} TO {literal(str(target / 'part-0.parquet'))} (FORMAT parquet)")
            rows[table] = count
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        con.close()
    _swap_in(staging, folder)
    return RawExport(folder, rows)


def _swap_in(staging: Path, folder: Path) -> None:
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)
