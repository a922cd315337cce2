"""Publishing for BI: a fresh copy of the marts in its own DuckDB file and Parquet, swapped in atomically."""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cosell import leftovers
from cosell.config import Settings
from cosell.db import WarehouseMissing, connect
from cosell.errors import CosellError
from cosell.landing.raw_schema import as_of_date
from cosell.landing.row_checks import ident, literal
from cosell.publish.aggregated import publish_aggregated

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

    def describe(self) -> str:
        text = (f"published {len(self.tables)} tables as of {self.as_of_date} to {self.path} "
                f"(Parquet in {self.parquet_dir})")
        if self.aggregated:
            text += f"; aggregated copy ({len(self.aggregated_tables)} tables) in {self.aggregated}"
        return text


def parquet_path(parquet_dir: Path, schema: str, name: str) -> Path:
    """Marts at parquet/<mart>.parquet; the other schemas' tables at parquet/<schema>/<table>.parquet."""
    return parquet_dir / f"{name}.parquet" if schema == "marts" else parquet_dir / schema / f"{name}.parquet"


# Types a Parquet file cannot hold the same way (DuckDB writes HUGEINT, e.g. a sum of counts, as DOUBLE):
# published as BIGINT, so the DuckDB copy and its Parquet twin say the same thing.
PUBLISHED_TYPES = {"HUGEINT": "BIGINT", "UHUGEINT": "BIGINT"}


def _copy_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    """One table or view of the warehouse as a table of the new file: portable types, dbt's comments kept."""
    columns = con.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE database_name = 'wh' "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, name],
    ).fetchall()
    select = ", ".join(
        f"CAST({ident(column)} AS {PUBLISHED_TYPES[kind]}) AS {ident(column)}" if kind in PUBLISHED_TYPES
        else ident(column)
        for column, kind, _ in columns
    )
    target = f"{ident(schema)}.{ident(name)}"
    try:
        con.execute(f"CREATE TABLE {target} AS SELECT {select} FROM wh.{target}")
    except duckdb.ConversionException as error:
        raise CosellError(f"{schema}.{name} cannot be published: {' '.join(str(error).split())[:200]}") from None
    comment = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = ? AND table_name = ? "
        "UNION ALL SELECT comment FROM duckdb_views() WHERE database_name = 'wh' AND schema_name = ? AND view_name = ?",
        [schema, name, schema, name],
    ).fetchone()
    comment = (comment[0] if comment else None) or TABLE_COMMENTS.get(f"{schema}.{name}")
    if comment:
        con.execute(f"COMMENT ON TABLE {target} IS {literal(comment)}")
    for column, _, text in columns:
        text = text or COLUMN_COMMENTS.get(f"{schema}.{name}", {}).get(column)
        if text:
            con.execute(f"COMMENT ON COLUMN {target}.{ident(column)} IS {literal(text)}")


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
            _copy_table(con, schema, name)
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
    return PublishSummary(target, parquet_dir, published, as_of, aggregated, aggregated_tables)
