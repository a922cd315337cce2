"""`cosell land`: copies new extract files into schema raw with lineage, rejects and a load audit.

Files are decided one by one in landing order (business date, feed, file name): already seen,
DUPLICATE, QUARANTINED, or to land. Files to land that share feed, format and header are read
together in batches (one DuckDB scan for many small daily files); each batch commits its rows,
rejects and audit rows in one transaction. A batch whose scan fails is retried file by file, so
one unreadable file is quarantined and the others still land.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cosell import delivery, ledger
from cosell import inbox as inbox_files
from cosell.config import Settings
from cosell.contract import FEEDS, LINEAGE_COLUMNS, Feed
from cosell.db import connect
from cosell.errors import CosellError
from cosell.inbox import InboxFile, UnreadableFile
from cosell.raw_schema import as_of_date, create_raw_schema
from cosell.row_checks import csv_render, ident, literal, reason_expression, typed

LINEAGE_NAMES = {name for name, _ in LINEAGE_COLUMNS}
BATCH_BYTES = 256 * 2**20  # input bytes read in one scan: bounds the staging table's memory
BATCH_FILES = 2000


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
class _File:
    """A file of this load and what became of it."""

    entry: InboxFile
    sha: str | None
    status: str | None = None  # None while it waits to be landed
    reason: str | None = None
    names: list[str] = field(default_factory=list)
    rows_landed: int = 0
    rows_rejected: int = 0
    quarantine_path: str | None = None
    duplicate_of: "_File | None" = None


def land(inbox: Path, settings: Settings, until: dt.date | None = None) -> LandSummary:
    """Land every file of the inbox not seen before; the inbox itself is never changed.

    `until` bounds the business dates: entries of later dates are not even looked at (a run
    for business date D lands D and what came before it, never a later day).
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise CosellError(f"inbox {inbox} is not a folder")
    entries = [e for e in inbox_files.scan(inbox.resolve()) if not delivery.after(e.business_date, until)]
    con = connect(settings)
    try:
        create_raw_schema(con)
        record = ledger.LoadRecord.start(con, inbox.resolve(), entries, until)
        load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM raw.load_audit").fetchone()[0]
        files = _triage(con, entries)
        if files:
            record.open(con, load_id)
        for batch in _batches([f for f in files if f.status is None]):
            _land_batch(con, batch, load_id)
        _resolve_duplicates_of_failures(files, load_id)
        unrecorded = [f for f in files if f.status != "LANDED"]
        for f in unrecorded:
            if f.status == "QUARANTINED":
                f.quarantine_path = _quarantine(settings, f.entry, load_id)
        _record(con, unrecorded, load_id)
        record.finish(con)
        summary = LandSummary(settings.warehouse, load_id if files else None)
        for f in files:
            summary.files[f.status] += 1
            summary.rows_landed += f.rows_landed
            summary.rows_rejected += f.rows_rejected
        summary.as_of_date = as_of_date(con)
        return summary
    finally:
        con.close()


def _triage(con, entries: list[InboxFile]) -> list[_File]:
    """Decide, in landing order, which entries are new and which of those can be landed."""
    seen = set(con.execute("SELECT file_path, file_sha256 FROM raw.load_audit").fetchall())
    landed = {
        sha: (path, load)
        for sha, path, load in con.execute(
            "SELECT file_sha256, file_path, load_id FROM raw.load_audit WHERE status = 'LANDED'"
        ).fetchall()
    }
    earlier: dict[str, _File] = {}
    files = []
    for entry in entries:
        sha = None if entry.is_link else inbox_files.sha256(entry.path)
        if (entry.relative, sha) in seen:
            continue
        f = _File(entry, sha)
        files.append(f)
        if entry.problem:
            f.status, f.reason = "QUARANTINED", entry.problem
        elif sha in landed:
            f.status, f.reason = "DUPLICATE", f"same bytes as {landed[sha][0]} landed in load {landed[sha][1]}"
        elif sha in earlier:
            f.status, f.duplicate_of = "DUPLICATE", earlier[sha]
        else:
            earlier[sha] = f
            try:
                f.names = inbox_files.header(entry)
                problem = _header_problem(FEEDS[entry.feed], f.names)
            except UnreadableFile as error:
                problem = str(error)
            if problem:
                f.status, f.reason = "QUARANTINED", problem
    return files


def _resolve_duplicates_of_failures(files: list[_File], load_id: int) -> None:
    """A copy of a file landed in this load is a DUPLICATE of it; a copy of a quarantined one is quarantined too."""
    for f in files:
        original = f.duplicate_of
        if original is None:
            continue
        if original.status == "LANDED":
            f.reason = f"same bytes as {original.entry.relative} landed in load {load_id}"
        else:
            f.status, f.reason = "QUARANTINED", original.reason


def _batches(files: list[_File]) -> list[list[_File]]:
    """Files that can be read in one scan: same feed, format and header; bounded in bytes and count."""
    groups: dict[tuple, list[_File]] = {}
    for f in files:
        groups.setdefault((f.entry.feed, f.entry.format, tuple(f.names)), []).append(f)
    batches = []
    for group in groups.values():
        batch, size = [], 0
        for f in group:
            file_size = f.entry.path.stat().st_size
            if batch and (size + file_size > BATCH_BYTES or len(batch) >= BATCH_FILES):
                batches.append(batch)
                batch, size = [], 0
            batch.append(f)
            size += file_size
        batches.append(batch)
    return batches


def _land_batch(con, batch: list[_File], load_id: int) -> None:
    """Rows, rejects and audit rows of the batch in one transaction; on a read failure, file by file."""
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            _load_rows(con, batch, load_id)
            _record(con, batch, load_id)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    except duckdb.Error as error:
        for f in batch:
            f.status, f.rows_landed, f.rows_rejected = None, 0, 0
        if len(batch) > 1:
            for f in batch:
                _land_batch(con, [f], load_id)
            return
        f = batch[0]
        f.status, f.reason = "QUARANTINED", "cannot read file: " + " ".join(str(error).split())[:300]


def _record(con, files: list[_File], load_id: int) -> None:
    if not files:
        return
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    con.executemany(
        "INSERT INTO raw.load_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                load_id,
                f.entry.feed,
                f.entry.business_date,
                f.entry.name,
                f.entry.relative,
                f.sha,
                f.status,
                f.rows_landed,
                f.rows_rejected,
                f.reason,
                f.quarantine_path,
                now,
            ]
            for f in files
        ],
    )


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


def _read_text(batch: list[_File]) -> str:
    """The batch's rows as text, with __path (the file) and __pos (the row's position in its file)."""
    first = batch[0]
    names = first.names
    paths = "[" + ", ".join(literal(str(f.entry.path)) for f in batch) + "]"
    if first.entry.format == ".parquet":
        cols = ", ".join(f"CAST({ident(n)} AS VARCHAR) AS {ident(n)}" for n in names)
        return (
            f"SELECT filename AS __path, file_row_number + 1 AS __pos, {cols} "
            f"FROM read_parquet({paths}, filename = true, file_row_number = true)"
        )
    columns = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in names) + "}"
    scan = (
        f"SELECT row_number() OVER () AS __seq, * FROM read_csv({paths}, header = true, auto_detect = false, "
        f"columns = {columns}, delim = ',', quote = '\"', escape = '\"', encoding = 'utf-8', filename = true, "
        f"compression = {literal('gzip' if first.entry.format == '.csv.gz' else 'none')}, "
        f"store_rejects = true, ignore_errors = true, rejects_table = '__csv_errors', rejects_scan = '__csv_scans')"
    )
    cols = ", ".join(ident(n) for n in names)
    return (
        f"SELECT filename AS __path, __seq - min(__seq) OVER (PARTITION BY filename) + 1 AS __pos, {cols} FROM ({scan})"
    )


def _load_rows(con, batch: list[_File], load_id: int) -> None:
    feed = FEEDS[batch[0].entry.feed]
    names = batch[0].names
    extras = [n for n in names if n not in feed.column_names]
    for name in extras:
        con.execute(f"ALTER TABLE raw.{feed.name} ADD COLUMN IF NOT EXISTS {ident(name)} VARCHAR")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __files AS SELECT * FROM (VALUES "
        + ", ".join(
            f"({i}, {literal(str(f.entry.path))}, {literal(f.entry.business_date.isoformat())}::DATE, "
            f"{literal(f.entry.name)}, {literal(f.sha)})"
            for i, f in enumerate(batch)
        )
        + ") t(__file, path, business_date, file_name, sha)"
    )
    con.execute("DROP TABLE IF EXISTS __csv_errors")
    con.execute("DROP TABLE IF EXISTS __csv_scans")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __checked AS SELECT f.__file, r.* EXCLUDE (__path), "
        f"{reason_expression(feed)} AS __reason "
        f"FROM ({_read_text(batch)}) r JOIN __files f ON r.__path = f.path"
    )
    broken = _structural_rejects(con, batch)
    if broken:
        _renumber_around(con)
    target_cols = list(feed.column_names) + [n for n, _ in LINEAGE_COLUMNS] + extras
    values = (
        [typed(c) for c in feed.columns]
        + ["f.business_date", "f.file_name", "f.sha", "c.__pos", str(load_id)]
        + [ident(n) for n in extras]
    )
    con.execute(
        f"INSERT INTO raw.{feed.name} ({', '.join(ident(c) for c in target_cols)}) "
        f"SELECT {', '.join(values)} FROM __checked c JOIN __files f USING (__file) "
        "WHERE __reason IS NULL ORDER BY c.__file, c.__pos"
    )
    con.execute(
        f"INSERT INTO raw.rejects SELECT {literal(feed.name)}, f.business_date, f.file_name, f.sha, c.__pos, "
        f"{csv_render(names)}, __reason, {load_id} "
        "FROM __checked c JOIN __files f USING (__file) WHERE __reason IS NOT NULL ORDER BY c.__file, c.__pos"
    )
    if broken:
        con.execute(
            f"INSERT INTO raw.rejects SELECT {literal(feed.name)}, f.business_date, f.file_name, f.sha, "
            f"b.row_number, b.raw_line, b.reason, {load_id} "
            "FROM __broken b JOIN __files f USING (__file) ORDER BY b.__file, b.row_number"
        )
    counts = {
        i: (landed, rejected)
        for i, landed, rejected in con.execute(
            "SELECT __file, count(*) FILTER (WHERE __reason IS NULL), count(*) FILTER (WHERE __reason IS NOT NULL) "
            "FROM __checked GROUP BY __file"
        ).fetchall()
    }
    broken_counts = dict(
        con.execute("SELECT __file, count(*) FROM __broken GROUP BY __file").fetchall() if broken else []
    )
    for i, f in enumerate(batch):
        landed, rejected = counts.get(i, (0, 0))
        f.status, f.rows_landed, f.rows_rejected = "LANDED", landed, rejected + broken_counts.get(i, 0)
        f.reason = f"{f.rows_rejected} rows rejected (see raw.rejects)" if f.rows_rejected else None


def _structural_rejects(con, batch: list[_File]) -> int:
    """Rows the CSV reader could not split (column count, quoting, encoding) -> temp table __broken."""
    if batch[0].entry.format == ".parquet":
        return 0
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE __broken AS
        SELECT f.__file,
               e.line - 1 AS row_number,
               any_value(e.csv_line) AS raw_line,
               CASE
                   WHEN bool_or(e.error_type = 'INVALID ENCODING') THEN 'row is not valid UTF-8 (bad bytes shown as ?)'
                   WHEN bool_or(e.error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS')) THEN
                       'wrong column count: expected '
                       || any_value(regexp_extract(e.error_message, 'Expected Number of Columns: ([0-9]+)', 1))
                       || ', found '
                       || CASE WHEN bool_or(e.error_type = 'TOO MANY COLUMNS')
                               THEN max(TRY_CAST(regexp_extract(e.error_message, 'Found: ([0-9]+)', 1) AS INTEGER))
                               ELSE min(TRY_CAST(regexp_extract(e.error_message, 'Found: ([0-9]+)', 1) AS INTEGER)) END
                   ELSE string_agg(DISTINCT lower(e.error_type) || ': ' || e.error_message, '; ')
               END AS reason
        FROM __csv_errors e JOIN __csv_scans s USING (scan_id, file_id) JOIN __files f ON f.path = s.file_path
        GROUP BY f.__file, e.line
        """
    )
    return con.execute("SELECT count(*) FROM __broken").fetchone()[0]


def _renumber_around(con) -> None:
    """Give rows read their position in their file, counting the rows the reader skipped."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE __positions AS
        WITH sizes AS (
            SELECT __file, count(*) AS n FROM (
                SELECT __file FROM __checked UNION ALL SELECT __file FROM __broken
            ) GROUP BY __file
        ),
        slots AS (SELECT __file, unnest(range(1, n + 1)) AS n FROM sizes)
        SELECT s.__file, row_number() OVER (PARTITION BY s.__file ORDER BY s.n) AS k, s.n
        FROM slots s ANTI JOIN __broken b ON b.__file = s.__file AND b.row_number = s.n
        """
    )
    con.execute(
        "UPDATE __checked SET __pos = p.n FROM __positions p WHERE __checked.__file = p.__file AND __checked.__pos = p.k"
    )
