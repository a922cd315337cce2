"""`cosell land`: copies new extract files into schema raw with lineage, rejects and a load audit."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cosell import inbox as inbox_files
from cosell.config import Settings
from cosell.contract import FEEDS, LINEAGE_COLUMNS, Feed
from cosell.db import connect
from cosell.errors import CosellError
from cosell.inbox import InboxFile, UnreadableFile
from cosell.raw_schema import as_of_date, create_raw_schema
from cosell.row_checks import csv_render, ident, literal, reason_expression, typed

LINEAGE_NAMES = {name for name, _ in LINEAGE_COLUMNS}


@dataclass
class LandSummary:
    warehouse: Path
    load_id: int | None
    files: dict[str, int] = field(default_factory=lambda: {"LANDED": 0, "DUPLICATE": 0, "QUARANTINED": 0})
    rows_landed: int = 0
    rows_rejected: int = 0
    as_of_date: dt.date | None = None

    def describe(self) -> str:
        if self.load_id is None:
            return f"nothing new to land; as_of_date {self.as_of_date}; warehouse {self.warehouse}"
        return (
            f"load {self.load_id}: {self.files['LANDED']} files landed ({self.rows_landed} rows, "
            f"{self.rows_rejected} rejected), {self.files['DUPLICATE']} duplicates, "
            f"{self.files['QUARANTINED']} quarantined; as_of_date {self.as_of_date}; warehouse {self.warehouse}"
        )


@dataclass
class _Outcome:
    status: str
    rows_landed: int = 0
    rows_rejected: int = 0
    reason: str | None = None


def land(inbox: Path, settings: Settings) -> LandSummary:
    """Land every file of the inbox not seen before; the inbox itself is never changed."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise CosellError(f"inbox {inbox} is not a folder")
    entries = inbox_files.scan(inbox.resolve())
    con = connect(settings)
    try:
        create_raw_schema(con)
        summary = LandSummary(settings.warehouse, None)
        load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM raw.load_audit").fetchone()[0]
        for entry in entries:
            sha = None if entry.is_link else inbox_files.sha256(entry.path)
            if _seen(con, entry, sha):
                continue
            outcome = _land_one(con, settings, entry, sha, load_id)
            summary.load_id = load_id
            summary.files[outcome.status] += 1
            summary.rows_landed += outcome.rows_landed
            summary.rows_rejected += outcome.rows_rejected
        summary.as_of_date = as_of_date(con)
        return summary
    finally:
        con.close()


def _seen(con: duckdb.DuckDBPyConnection, entry: InboxFile, sha: str | None) -> bool:
    """A file already recorded at the same path with the same bytes is not looked at again."""
    return bool(
        con.execute(
            "SELECT count(*) FROM raw.load_audit WHERE file_path = ? AND file_sha256 IS NOT DISTINCT FROM ?",
            [entry.relative, sha],
        ).fetchone()[0]
    )


def _land_one(con, settings: Settings, entry: InboxFile, sha: str | None, load_id: int) -> _Outcome:
    if entry.problem:
        outcome = _Outcome("QUARANTINED", reason=entry.problem)
    else:
        landed_as = con.execute(
            "SELECT file_path, load_id FROM raw.load_audit WHERE file_sha256 = ? AND status = 'LANDED' LIMIT 1",
            [sha],
        ).fetchone()
        if landed_as:
            outcome = _Outcome("DUPLICATE", reason=f"same bytes as {landed_as[0]} landed in load {landed_as[1]}")
        else:
            outcome = _copy_rows(con, entry, sha, load_id)
    quarantine_path = _quarantine(settings, entry, load_id) if outcome.status == "QUARANTINED" else None
    con.execute(
        "INSERT INTO raw.load_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            entry.feed,
            entry.business_date,
            entry.name,
            entry.relative,
            sha,
            outcome.status,
            outcome.rows_landed,
            outcome.rows_rejected,
            outcome.reason,
            quarantine_path,
            dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        ],
    )
    return outcome


def _quarantine(settings: Settings, entry: InboxFile, load_id: int) -> str | None:
    """Keep a copy of the file outside the inbox; links are never followed, so never copied."""
    if entry.is_link or not entry.path.is_file():
        return None
    target = settings.quarantine_dir / str(load_id) / entry.relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(entry.path, target, follow_symlinks=False)
    except OSError:
        return None
    return str(target)


def _copy_rows(con, entry: InboxFile, sha: str, load_id: int) -> _Outcome:
    """Land one file's rows in one transaction: all of its valid rows and rejects, or nothing."""
    feed = FEEDS[entry.feed]
    try:
        names = inbox_files.header(entry)
        problem = _header_problem(feed, names)
        if problem:
            return _Outcome("QUARANTINED", reason=problem)
        con.execute("BEGIN TRANSACTION")
        try:
            landed, rejected = _load_rows(con, feed, entry, names, sha, load_id)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    except UnreadableFile as error:
        return _Outcome("QUARANTINED", reason=str(error))
    except duckdb.Error as error:
        return _Outcome("QUARANTINED", reason="cannot read file: " + " ".join(str(error).split())[:300])
    reason = f"{rejected} rows rejected (see raw.rejects)" if rejected else None
    return _Outcome("LANDED", landed, rejected, reason)


def _header_problem(feed: Feed, names: list[str]) -> str | None:
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        return "duplicate column name(s): " + ", ".join(duplicated)
    if "" in names:
        return "a column has an empty name"
    clashing = sorted(LINEAGE_NAMES.intersection(names))
    if clashing:
        return "column name(s) reserved for lineage: " + ", ".join(clashing)
    missing = [c for c in feed.column_names if c not in names]
    if missing:
        return "missing required column(s): " + ", ".join(missing)
    return None


def _read_text(entry: InboxFile, names: list[str]) -> str:
    """A relation of the file's fields as text, with __pos = the row's position among rows read."""
    path = literal(str(entry.path))
    if entry.format == ".parquet":
        cols = ", ".join(f"CAST({ident(n)} AS VARCHAR) AS {ident(n)}" for n in names)
        return f"SELECT file_row_number + 1 AS __pos, {cols} FROM read_parquet({path}, file_row_number = true)"
    columns = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in names) + "}"
    return (
        f"SELECT row_number() OVER () AS __pos, * FROM read_csv({path}, header = true, auto_detect = false, "
        f"columns = {columns}, delim = ',', quote = '\"', escape = '\"', encoding = 'utf-8', "
        f"compression = {literal('gzip' if entry.format == '.csv.gz' else 'none')}, "
        f"store_rejects = true, ignore_errors = true, rejects_table = '__csv_errors', rejects_scan = '__csv_scans')"
    )


def _load_rows(con, feed: Feed, entry: InboxFile, names: list[str], sha: str, load_id: int) -> tuple[int, int]:
    extras = [n for n in names if n not in feed.column_names]
    for name in extras:
        con.execute(f"ALTER TABLE raw.{feed.name} ADD COLUMN IF NOT EXISTS {ident(name)} VARCHAR")
    con.execute("DROP TABLE IF EXISTS __csv_errors")
    con.execute("DROP TABLE IF EXISTS __csv_scans")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __checked AS SELECT *, {reason_expression(feed)} AS __reason, "
        f"{csv_render(names)} AS __line FROM ({_read_text(entry, names)})"
    )
    broken = _structural_rejects(con, entry)
    if broken:
        _renumber_around(con, broken)
    lineage = (
        f"{literal(entry.business_date.isoformat())}::DATE, {literal(entry.name)}, {literal(sha)}, __pos, {load_id}"
    )
    target_cols = list(feed.column_names) + [n for n, _ in LINEAGE_COLUMNS] + extras
    values = [typed(c) for c in feed.columns] + [lineage] + [ident(n) for n in extras]
    con.execute(
        f"INSERT INTO raw.{feed.name} ({', '.join(ident(c) for c in target_cols)}) "
        f"SELECT {', '.join(values)} FROM __checked WHERE __reason IS NULL ORDER BY __pos"
    )
    reject_prefix = f"{literal(feed.name)}, {literal(entry.business_date.isoformat())}::DATE, {literal(entry.name)}, {literal(sha)}"
    con.execute(
        f"INSERT INTO raw.rejects SELECT {reject_prefix}, __pos, __line, __reason, {load_id} "
        f"FROM __checked WHERE __reason IS NOT NULL ORDER BY __pos"
    )
    if broken:
        con.execute(
            f"INSERT INTO raw.rejects SELECT {reject_prefix}, row_number, raw_line, reason, {load_id} "
            "FROM __broken ORDER BY row_number"
        )
    landed, rejected = con.execute(
        "SELECT count(*) FILTER (WHERE __reason IS NULL), count(*) FILTER (WHERE __reason IS NOT NULL) FROM __checked"
    ).fetchone()
    return landed, rejected + broken


def _structural_rejects(con, entry: InboxFile) -> int:
    """Rows the CSV reader could not split (column count, quoting, encoding) -> temp table __broken."""
    if entry.format == ".parquet":
        return 0
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE __broken AS
        SELECT line - 1 AS row_number,
               any_value(csv_line) AS raw_line,
               CASE
                   WHEN bool_or(error_type = 'INVALID ENCODING') THEN 'row is not valid UTF-8 (bad bytes shown as ?)'
                   WHEN bool_or(error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS')) THEN
                       'wrong column count: expected '
                       || any_value(regexp_extract(error_message, 'Expected Number of Columns: ([0-9]+)', 1))
                       || ', found '
                       || CASE WHEN bool_or(error_type = 'TOO MANY COLUMNS')
                               THEN max(TRY_CAST(regexp_extract(error_message, 'Found: ([0-9]+)', 1) AS INTEGER))
                               ELSE min(TRY_CAST(regexp_extract(error_message, 'Found: ([0-9]+)', 1) AS INTEGER)) END
                   ELSE string_agg(DISTINCT lower(error_type) || ': ' || error_message, '; ')
               END AS reason
        FROM __csv_errors GROUP BY line
        """
    )
    return con.execute("SELECT count(*) FROM __broken").fetchone()[0]


def _renumber_around(con, broken: int) -> None:
    """Give rows read their position in the file, counting the rows the reader skipped."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE __positions AS
        SELECT row_number() OVER (ORDER BY n) AS k, n
        FROM range(1, (SELECT count(*) FROM __checked) + {broken} + 1) t(n)
        WHERE n NOT IN (SELECT row_number FROM __broken)
        """
    )
    con.execute("UPDATE __checked SET __pos = p.n FROM __positions p WHERE __checked.__pos = p.k")
