"""Publishing for BI: a fresh copy of the marts in its own DuckDB file and Parquet, swapped in atomically."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cosell import leftovers
from cosell.config import Settings
from cosell.db import WarehouseMissing, connect, warehouse_as_of
from cosell.errors import CosellError
from cosell.landing.row_checks import ident, literal
from cosell.publish.aggregated import publish_aggregated
from cosell.publish.grains import grains

PUBLISHED_SCHEMAS = ("marts", "payouts")

# Comments of the payout tables (the marts carry dbt's descriptions; payouts/README.md explains both tables).
TABLE_COMMENTS = {
    "payouts.lines": "Payout lines of every period, one row per line: what the period's files hold "
                     "(payouts/README.md). sum(amount_usd) of a period is what it pays out now.",
    "payouts.approvals": "One row per approved payout period: who approved it, when, and the manifest approved.",
    "payouts.adjustment_sets": "One row per adjustment set issued for an approved period, with its manifest's sha256.",
}
COLUMN_COMMENTS = {
    "payouts.lines": {
        "period": "Payout period YYYY-MM (a calendar month in UTC).",
        "status": "DRAFT (a period not yet approved) or APPROVED (an approved period's lines and every adjustment set).",
        "adjustment_set": "Null for the period's own lines; n for the rows of adjustments/<n>/adjustment_lines.csv.",
        "line_id": "<period>:<rule_id>:<partner_id>:<deal_id or ->, stable across reruns.",
        "partner_id": "Partner paid.",
        "partner_name": "Partner name (current).",
        "partner_type": "Partner type (current); decides which rules apply.",
        "partner_tier": "Tier in force at the period's end (the tier the rates used).",
        "rule_id": "COSELL_ACCELERATOR, CAP_ADJUSTMENT, PIPELINE_CONTRIBUTION or NEW_LOGO_BONUS.",
        "deal_id": "Deal the line pays for; null for CAP_ADJUSTMENT.",
        "basis_usd": "Amount the rate applies to, USD.",
        "rate": "The rate as written in the files ('0.015', '1'); null for CAP_ADJUSTMENT.",
        "amount_usd": "basis_usd x rate rounded once, half-even, to cents; for an adjustment row the difference "
                      "(negative = clawback).",
        "plan_id": "Plan that computed the line.",
    },
    "payouts.approvals": {
        "period": "Approved payout period YYYY-MM.",
        "approved_by": "Who approved it.",
        "approved_at": "When, UTC.",
        "plan_id": "Plan of the approved period.",
        "plan_sha256": "sha256 of the plan file.",
        "as_of_date": "Warehouse as_of_date of the approved files.",
        "total_usd": "Total the period pays out as approved.",
        "manifest_sha256": "sha256 of the approved manifest.json.",
        "files_dir": "Folder of the approved files.",
    },
    "payouts.adjustment_sets": {
        "period": "Approved payout period YYYY-MM.",
        "adjustment_set": "n of adjustments/<n>/ (1, 2, ...).",
        "manifest_sha256": "sha256 of the set's manifest.json: a run refuses a set whose files differ.",
        "issued_at": "When the set was issued, UTC.",
    },
}


@dataclass
class PublishSummary:
    path: Path
    parquet_dir: Path
    tables: list[str]
    as_of_date: dt.date | None
    aggregated: Path | None = None
    aggregated_tables: list[str] = field(default_factory=list)
    updated: dict[str, int] = field(default_factory=dict)  # table updated in place -> rows replaced

    def describe(self) -> str:
        text = (f"published {len(self.tables)} tables as of {self.as_of_date} to {self.path} "
                f"(Parquet in {self.parquet_dir})")
        if self.updated:
            text += "; " + ", ".join(f"{table} updated in place ({rows} rows)" for table, rows in self.updated.items())
        if self.aggregated:
            text += f"; aggregated copy ({len(self.aggregated_tables)} tables) in {self.aggregated}"
        return text


def parquet_path(parquet_dir: Path, schema: str, name: str) -> Path:
    """Marts at parquet/<mart>.parquet; the other schemas' tables at parquet/<schema>/<table>.parquet."""
    return parquet_dir / f"{name}.parquet" if schema == "marts" else parquet_dir / schema / f"{name}.parquet"


# Types a Parquet file cannot hold the same way (DuckDB writes HUGEINT, e.g. a sum of counts, as DOUBLE):
# published as BIGINT, so the DuckDB copy and its Parquet twin say the same thing.
PUBLISHED_TYPES = {"HUGEINT": "BIGINT", "UHUGEINT": "BIGINT"}

# The stamp of the keyed facts' rows (the last load the raw layer held when a row was computed): a table with it
# and a one-column grain is updated in place by the rows stamped after the published copy's last stamp.
WATERMARK = "_load_id_watermark"
# ... unless more than this share of its rows changed: then copying it whole is the cheaper way (and leaves no
# deleted rows behind; DuckDB rewrites a row group with deletes when the rest fit in fewer groups).
CHANGED_SHARE = 0.25


def _warehouse_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[tuple[str, str, str | None]]:
    """(column, type, comment) of a warehouse table or view, in order."""
    return con.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE database_name = 'wh' "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, name],
    ).fetchall()


def _select(columns: list[tuple[str, str, str | None]], schema: str, name: str) -> str:
    """The query of the warehouse's rows in their published types."""
    listed = ", ".join(f"CAST({ident(column)} AS {PUBLISHED_TYPES[kind]}) AS {ident(column)}" if kind in PUBLISHED_TYPES
                       else ident(column) for column, kind, _ in columns)
    return f"SELECT {listed} FROM wh.{ident(schema)}.{ident(name)}"


def _comment(con: duckdb.DuckDBPyConnection, schema: str, name: str, columns: list[tuple[str, str, str | None]]) -> None:
    """dbt's descriptions (or ours, for the payout tables) as the comments of the published table."""
    target = f"{ident(schema)}.{ident(name)}"
    comment = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = ? AND table_name = ? "
        "UNION ALL SELECT comment FROM duckdb_views() WHERE database_name = 'wh' AND schema_name = ? AND view_name = ?",
        [schema, name, schema, name],
    ).fetchone()
    comment = (comment[0] if comment else None) or TABLE_COMMENTS.get(f"{schema}.{name}")
    # NULL where there is none: a table kept from the previous copy loses a comment the warehouse dropped
    con.execute(f"COMMENT ON TABLE {target} IS {literal(comment) if comment else 'NULL'}")
    for column, _, text in columns:
        text = text or COLUMN_COMMENTS.get(f"{schema}.{name}", {}).get(column)
        con.execute(f"COMMENT ON COLUMN {target}.{ident(column)} IS {literal(text) if text else 'NULL'}")


def _copy_table(con: duckdb.DuckDBPyConnection, schema: str, name: str, columns: list[tuple[str, str, str | None]]) -> None:
    """One table or view of the warehouse as a table of the new file: portable types."""
    try:
        con.execute(f"CREATE TABLE {ident(schema)}.{ident(name)} AS {_select(columns, schema, name)}")
    except duckdb.ConversionException as error:
        raise CosellError(f"{schema}.{name} cannot be published: {' '.join(str(error).split())[:200]}") from None


# Types whose values hash() can equate (NULL, [] and [NULL]; -0.0 and 0.0; '30 days' and '1 month'): the
# checksum hashes their text too.
_HASHED_AS_TEXT = re.compile(r"\[|^(DOUBLE|FLOAT|REAL|INTERVAL|STRUCT|MAP|UNION)\b")


def _checksum(con: duckdb.DuckDBPyConnection, relation: str, columns: list[tuple[str, str, str | None]]) -> tuple[int, int]:
    """(rows, sum of the rows' hashes): equal for two relations holding the same rows, in any order."""
    texts = "".join(f", CAST(r.{ident(column)} AS VARCHAR)" for column, kind, _ in columns
                    if _HASHED_AS_TEXT.search(kind))
    count, total = con.execute(f"SELECT count(*), sum(hash(r{texts})::HUGEINT) FROM ({relation}) r").fetchone()
    return int(count), int(total or 0)


def _update_in_place(con: duckdb.DuckDBPyConnection, schema: str, name: str,
                     columns: list[tuple[str, str, str | None]], key: str) -> int | None:
    """Bring the previous copy's table in line with the warehouse by key and watermark: rows replaced, or None.

    The rows the warehouse stamped after the copy's last stamp replace those of their keys; keys the warehouse
    no longer holds go. The result must hold exactly the warehouse's rows (count and checksum), else None: the
    caller copies the table whole, as it does when the columns differ or more than CHANGED_SHARE of its rows changed.
    """
    target = f"{ident(schema)}.{ident(name)}"
    have = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, name]).fetchall()
    if have != [(column, PUBLISHED_TYPES.get(kind, kind)) for column, kind, _ in columns]:
        return None
    stamp, live = con.execute(f"SELECT max({WATERMARK}), count(*) FROM {target}").fetchone()
    if stamp is None:
        return None
    source = _select(columns, schema, name)
    changed = con.execute(f"SELECT count(*) FROM wh.{target} WHERE {WATERMARK} > ?", [stamp]).fetchone()[0]
    if changed > CHANGED_SHARE * live:
        return None
    k = ident(key)
    con.execute(f"DELETE FROM {target} WHERE {k} IN (SELECT {k} FROM wh.{target} WHERE {WATERMARK} > $stamp) "
                f"OR {k} NOT IN (SELECT {k} FROM wh.{target})", {"stamp": stamp})
    con.execute(f"INSERT INTO {target} {source} WHERE {WATERMARK} > $stamp", {"stamp": stamp})
    if _checksum(con, f"SELECT * FROM {target}", columns) != _checksum(con, source, columns):
        return None
    return int(changed)


def _open_staging(settings: Settings, target: Path, staging: Path) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """The staging file opened, and whether it is a copy of the published file (when that can be reused) or new.

    Not reused: no published file yet, a .wal beside it (a writer has it open), or one that cannot be copied,
    opened or read, or holds anything else (_holds_only_a_publication).
    """
    if target.exists() and not Path(f"{target}.wal").exists():
        con = None
        try:
            shutil.copyfile(target, staging)
            con = connect(settings, staging)
            if _holds_only_a_publication(con):
                return con, True
        except (OSError, duckdb.Error, CosellError):
            pass
        if con is not None:
            con.close()
        _unlink_database(staging)
    return connect(settings, staging), False


def _holds_only_a_publication(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a previous published file holds only what publish writes, with at most as much free space as used.

    Anything else (a reader's table, view, macro, sequence, index, constraint or column default; a file half
    free) and publish starts a new file.
    """
    here = "database_name = current_database()"
    foreign = con.execute(
        f"SELECT (SELECT count(*) FROM duckdb_schemas() WHERE {here} AND NOT internal "
        f"AND schema_name NOT IN ('main', 'marts', 'payouts', 'meta'))"
        f" + (SELECT count(*) FROM duckdb_tables() WHERE {here} AND NOT (schema_name IN ('marts', 'payouts') "
        f"OR (schema_name = 'meta' AND table_name = 'publication')))"
        f" + (SELECT count(*) FROM duckdb_views() WHERE {here} AND NOT internal)"
        f" + (SELECT count(*) FROM duckdb_sequences() WHERE {here})"
        f" + (SELECT count(*) FROM duckdb_indexes() WHERE {here})"
        f" + (SELECT count(*) FROM duckdb_functions() WHERE {here} AND NOT internal)"
        f" + (SELECT count(*) FROM duckdb_types() WHERE {here} AND NOT internal)"
        f" + (SELECT count(*) FROM duckdb_constraints() WHERE {here})"
        f" + (SELECT count(*) FROM duckdb_columns() WHERE {here} AND column_default IS NOT NULL)"
    ).fetchone()[0]
    free, used = con.execute("SELECT free_blocks, used_blocks FROM pragma_database_size() "
                             "WHERE database_name = current_database()").fetchone()
    return foreign == 0 and free <= used


def _unlink_database(path: Path) -> None:
    path.unlink(missing_ok=True)
    Path(f"{path}.wal").unlink(missing_ok=True)


def _fill(con: duckdb.DuckDBPyConnection, source: Path) -> tuple[list[tuple[str, str]], dt.date | None, dict[str, int]]:
    """Attach the warehouse and bring the staging file's tables and meta.publication in line with it.

    Returns the published (schema, table) pairs, the as_of_date and the tables updated in place (rows replaced).
    """
    updated: dict[str, int] = {}
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
    for schema in PUBLISHED_SCHEMAS:  # a schema without tables is not published (a previous copy's goes)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}" if any(s == schema for s, _ in tables)
                    else f"DROP SCHEMA IF EXISTS {ident(schema)} CASCADE")
    previous = set(con.execute(
        f"SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
        f"AND schema_name IN ({schemas})").fetchall())
    keys = {f"marts.{mart}": columns[0] for mart, columns in grains().items() if len(columns) == 1}
    for schema, name in tables:
        columns = _warehouse_columns(con, schema, name)
        key = keys.get(f"{schema}.{name}")
        if (schema, name) in previous:
            changed = (_update_in_place(con, schema, name, columns, key)
                       if key and any(column == WATERMARK for column, _, _ in columns) else None)
            if changed is not None:
                updated[f"{schema}.{name}"] = changed
            else:
                con.execute(f"DROP TABLE {ident(schema)}.{ident(name)}")
                _copy_table(con, schema, name, columns)
        else:
            _copy_table(con, schema, name, columns)
        _comment(con, schema, name, columns)
    for schema, name in sorted(previous - set(tables)):
        con.execute(f"DROP TABLE {ident(schema)}.{ident(name)}")
    as_of = warehouse_as_of(con, "wh")
    con.execute("DROP SCHEMA IF EXISTS meta CASCADE")
    con.execute("CREATE SCHEMA meta")
    con.execute(
        "CREATE TABLE meta.publication AS SELECT ?::DATE AS as_of_date, ?::TIMESTAMP AS published_at",
        [as_of, dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)],
    )
    return tables, as_of, updated


def publish(settings: Settings) -> PublishSummary:
    """Write the marts (and payout tables) into a new file, then rename it onto the published path.

    The new file starts as a copy of the published one when that holds only what a publish writes
    (_holds_only_a_publication): the keyed, stamped facts are then updated in place by the rows the
    warehouse stamped since (_update_in_place), every other table is copied again; otherwise every
    table is copied into an empty file (also when the copy proves unreadable half-way). Readers that
    hold the old file keep a consistent snapshot;
    the working warehouse is never opened by readers. Parquet files are written beside it under
    temporary names and renamed onto their final names once the new database is in place; Parquet
    files of marts that no longer exist are removed. On any failure the published file and Parquet
    folder are left as they were and nothing temporary is left behind.
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
    con, reused = _open_staging(settings, target, staging)
    try:
        try:
            tables, as_of, updated = _fill(con, source)
        except duckdb.Error:
            if not reused:
                raise
            # the previous copy could not be read through (damaged on disk): publish into a new, empty file
            con.close()
            _unlink_database(staging)
            con = connect(settings, staging)
            tables, as_of, updated = _fill(con, source)
        con.execute("DETACH wh")
        # A twin's rows in any order (the BI contract promises none): DuckDB then encodes its row groups on
        # every thread, a third faster for the 10M-deal fact (benchmarks/README.md, run Q10).
        con.execute("SET preserve_insertion_order = false")
        for schema, name in tables:
            final = parquet_path(parquet_dir, schema, name)
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = final.with_name(f".{final.name}.{tag}.tmp")
            partials.append((partial, final))
            con.execute(f"COPY {ident(schema)}.{ident(name)} TO {literal(str(partial))} (FORMAT parquet)")
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
    current = {final for _, final in partials}
    for stale in [*parquet_dir.glob("*.parquet"), *parquet_dir.glob("*/*.parquet")]:
        if stale not in current:
            stale.unlink(missing_ok=True)
    published = [f"{s}.{n}" for s, n in tables]
    try:
        aggregated, aggregated_tables = publish_aggregated(settings)
    except CosellError as error:
        raise CosellError(f"published {len(published)} tables to {target}, but {error}") from None
    return PublishSummary(target, parquet_dir, published, as_of, aggregated, aggregated_tables, updated)
