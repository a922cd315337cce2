"""`cosell land`: copies new extract files into schema raw with lineage, rejects and a load audit.

Files are decided one by one in landing order (business date, feed, file name): seen before
(path and fingerprint recorded by a finished land in ops.inbox_files: skipped unread), already
seen (same path, same sha256), DUPLICATE, QUARANTINED, or to land. Each new file is first
copied to a snapshot outside the inbox while its sha256 is computed; everything after reads the
snapshot, by a path landing chose (never a glob of the sender's name). Files to land that share feed, format and header are read together
in batches (one DuckDB scan for many small daily files); each batch commits its rows, rejects and
audit rows in one transaction. A batch whose scan fails on bad bytes is retried file by file, so
one unreadable file is quarantined and the others still land; a failure that is not about the
bytes (memory, disk, permissions) stops the command with nothing recorded for that batch.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cosell.config import Settings
from cosell.contract import FEEDS, LINEAGE_COLUMNS, Feed
from cosell.db import connect, insert_rows
from cosell.errors import CosellError
from cosell.faults import crash_point
from cosell.landing import inbox as inbox_files
from cosell.landing.inbox import InboxFile, TransientFailure, UnreadableFile
from cosell.landing.raw_schema import (
    create_raw_schema,
    extra_column_names,
    landed_as_of,
)
from cosell.landing.row_checks import (
    csv_render,
    ident,
    literal,
    reason_expression,
    typed,
)
from cosell.orchestration import delivery, ledger

BATCH_BYTES = 256 * 2**20  # input bytes read in one scan: bounds the staging table's memory
BATCH_FILES = 2000
MAX_ROW_BYTES = 8 * 2**20  # a longer CSV row is a reject (DuckDB's reader is told, so it never drops one)
# failures that say nothing about the bytes read: memory, disk, an interrupted or failed commit
_TRANSIENT = (duckdb.OutOfMemoryException, duckdb.IOException, duckdb.InterruptException, duckdb.TransactionException,
              duckdb.FatalException)


@dataclass
class LandSummary:
    warehouse: Path
    load_id: int | None
    files: dict[str, int] = field(default_factory=lambda: {"LANDED": 0, "DUPLICATE": 0, "QUARANTINED": 0})
    rows_landed: int = 0
    rows_rejected: int = 0
    as_of_date: dt.date | None = None
    skipped_unread: int = 0  # files a finished land saw with the same fingerprint: not read again

    def describe(self) -> str:
        skipped = f"; {self.skipped_unread:,} files seen before skipped unread" if self.skipped_unread else ""
        if self.load_id is None:
            return f"nothing new to land{skipped}; as_of_date {self.as_of_date}; warehouse {self.warehouse}"
        return (
            f"load {self.load_id}: {self.files['LANDED']} files landed ({self.rows_landed} rows, "
            f"{self.rows_rejected} rejected), {self.files['DUPLICATE']} duplicates, "
            f"{self.files['QUARANTINED']} quarantined{skipped}; as_of_date {self.as_of_date}; warehouse {self.warehouse}"
        )


@dataclass
class _File:
    """A file of this load and what became of it."""

    entry: InboxFile
    sha: str | None
    snapshot: Path | None = None
    status: str | None = None  # None while it waits to be landed
    reason: str | None = None
    names: list[str] = field(default_factory=list)
    types: tuple[str, ...] = ()  # Parquet: the columns' Arrow types (files of a batch share them)
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
    scanned = inbox_files.scan(inbox.resolve())
    _require_layout(inbox, scanned)
    entries = [e for e in scanned if not delivery.after(e.business_date, until)]
    con = connect(settings)
    staging = settings.temp_dir / "landing"
    try:
        create_raw_schema(con)
        record = ledger.LoadRecord.start(con, inbox.resolve(), entries, until)
        load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM raw.load_audit").fetchone()[0]
        _clean_leftovers(con, settings, staging)
        files, skipped_unread = _triage(con, entries, staging, record.seen_before(con))
        if files:
            record.open(con, load_id)
        for batch in _batches([f for f in files if f.status is None]):
            _land_batch(con, batch, load_id)
            crash_point("land:batch-committed")
        _resolve_duplicates_of_failures(files, load_id)
        unrecorded = [f for f in files if f.status != "LANDED"]
        for f in unrecorded:
            if f.status == "QUARANTINED":
                f.quarantine_path = _quarantine(settings, f, load_id)
        crash_point("land:quarantined")
        _record(con, unrecorded, load_id)
        record.finish(con)
        summary = LandSummary(settings.warehouse, load_id if files else None)
        summary.skipped_unread = skipped_unread
        for f in files:
            summary.files[f.status] += 1
            summary.rows_landed += f.rows_landed
            summary.rows_rejected += f.rows_rejected
        summary.as_of_date = landed_as_of(con)
        return summary
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)


def _clean_leftovers(con, settings: Settings, staging: Path) -> None:
    """Snapshots, and quarantine copies no audit row names, are what an interrupted landing left."""
    shutil.rmtree(staging, ignore_errors=True)
    kept = {
        Path(p).relative_to(settings.quarantine_dir).parts[0]
        for (p,) in con.execute("SELECT quarantine_path FROM raw.load_audit WHERE quarantine_path IS NOT NULL").fetchall()
        if Path(p).is_relative_to(settings.quarantine_dir)
    }
    if settings.quarantine_dir.is_dir():
        for folder in settings.quarantine_dir.iterdir():
            if folder.name.isdigit() and folder.name not in kept and folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder)


def _require_layout(inbox: Path, entries: list[InboxFile]) -> None:
    """A folder with no extract file in the inbox layout is the wrong folder: fail before writing anything."""
    if any(entry.problem is None for entry in entries):
        return
    looks = inbox.name in FEEDS or re.fullmatch(r"\d{4}-\d{2}-\d{2}", inbox.name) is not None
    hint = f"; {inbox} looks like a feed or date folder: point --inbox at the folder above the feeds" if looks else ""
    seen = f" (found {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} such as {entries[0].relative!r})" \
        if entries else " (it is empty)"
    raise CosellError(
        f"inbox {inbox} has no extract file laid out as <inbox>/<feed>/<YYYY-MM-DD>/<file>.csv|.csv.gz|.parquet"
        f"{seen}{hint}; nothing landed"
    )


def _triage(con, entries: list[InboxFile], staging: Path, seen_before: set[str]) -> tuple[list[_File], int]:
    """Decide, in landing order, which entries are new and which of those can be landed; count the files skipped unread.

    A file in `seen_before` (its path and fingerprint recorded by a finished land, which gave it
    its audit row) is not read; every other file is read and decided by its sha256.
    """
    seen: dict[str, set] = {}
    for path, sha in con.execute("SELECT file_path, file_sha256 FROM raw.load_audit").fetchall():
        seen.setdefault(path, set()).add(sha)
    landed = {
        sha: (path, load)
        for sha, path, load in con.execute(
            "SELECT file_sha256, file_path, load_id FROM raw.load_audit WHERE status = 'LANDED'"
        ).fetchall()
    }
    earlier: dict[str, _File] = {}
    files = []
    skipped_unread = 0
    for number, entry in enumerate(entries):
        if not entry.is_regular:
            if None not in seen.get(entry.relative, ()):
                files.append(_File(entry, None, status="QUARANTINED", reason=entry.problem))
            continue
        if entry.relative in seen_before:
            skipped_unread += 1  # unchanged since a finished land triaged it: not even opened
            continue
        if entry.relative in seen and inbox_files.sha256(entry) in seen[entry.relative]:
            continue  # the same bytes at the same path: nothing to do, not even an audit row
        snap = inbox_files.snapshot(entry, staging / f"{number}{entry.format}")
        if snap.sha256 in seen.get(entry.relative, ()):
            continue
        f = _File(entry, snap.sha256, snap.path)
        files.append(f)
        if entry.problem:
            f.status, f.reason = "QUARANTINED", entry.problem
        elif f.sha in landed:
            f.status, f.reason = "DUPLICATE", f"same bytes as {landed[f.sha][0]} landed in load {landed[f.sha][1]}"
        elif f.sha in earlier:
            f.status, f.duplicate_of = "DUPLICATE", earlier[f.sha]
        else:
            earlier[f.sha] = f
            problem = snap.problem
            if problem is None:
                try:
                    f.names = inbox_files.header(snap.path, entry.format)
                    problem = _header_problem(FEEDS[entry.feed], f.names)
                    if problem is None and entry.format == ".parquet":
                        f.types = _parquet_types(snap.path)
                except UnreadableFile as error:
                    problem = str(error)
            if problem:
                f.status, f.reason = "QUARANTINED", problem
    return files, skipped_unread


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
        groups.setdefault((f.entry.feed, f.entry.format, tuple(f.names), f.types), []).append(f)
    batches = []
    for group in groups.values():
        batch, size = [], 0
        for f in group:
            file_size = f.snapshot.stat().st_size
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
        cause = " ".join(str(error).split())[:300]
        if isinstance(error, _TRANSIENT):
            what = batch[0].entry.relative + (f" and {len(batch) - 1} other files" if len(batch) > 1 else "")
            raise TransientFailure(
                f"cannot land {what} now ({type(error).__name__}: {cause}); nothing of it recorded, the next run retries it"
            ) from None
        if len(batch) > 1:
            for f in batch:
                _land_batch(con, [f], load_id)
            return
        batch[0].status, batch[0].reason = "QUARANTINED", "cannot read file: " + cause


def _record(con, files: list[_File], load_id: int) -> None:
    if not files:
        return
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    insert_rows(
        con,
        "raw.load_audit",
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


def _quarantine(settings: Settings, f: _File, load_id: int) -> str | None:
    """Keep the snapshot of a bad file outside the inbox; what is not a regular file has no bytes to keep."""
    if f.snapshot is None:
        return None
    source = f.duplicate_of.snapshot if f.duplicate_of else f.snapshot
    target = settings.quarantine_dir / str(load_id) / f.entry.relative
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as error:
        target.unlink(missing_ok=True)
        cause = " ".join(str(error).split())[:200]
        raise TransientFailure(
            f"cannot keep a quarantine copy of {f.entry.relative} ({cause}); nothing of it recorded, run again"
        ) from None
    return str(target)


def _header_problem(feed: Feed, names: list[str]) -> str | None:
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        return "duplicate column name(s): " + ", ".join(duplicated)
    if "" in names:
        return "a column has an empty name"
    missing = [c for c in feed.column_names if c not in names]
    if missing:
        return "missing required column(s): " + ", ".join(missing)
    return None


def _parquet_types(path: Path) -> tuple[str, ...]:
    return tuple(str(t) for t in pq.ParquetFile(path).schema_arrow.types)


def _name(i: int) -> str:
    """A file's i-th field inside landing's SQL: a positional name no header can reach."""
    return f"__c{i}"


def _field(i: int) -> str:
    return ident(_name(i))


def _read_text(con, batch: list[_File]) -> str:
    """The batch's rows as text: __file (index in batch), __pos (row position in its file), then __c0.. fields."""
    first = batch[0]
    fields = ", ".join(_field(i) for i in range(len(first.names)))
    if first.entry.format == ".parquet":
        con.register("__parquet_rows", _parquet_rows(batch))
        texts = ", ".join(_parquet_text(_field(i), t) + f" AS {_field(i)}" for i, t in enumerate(first.types))
        return f"SELECT __file, __pos, {texts} FROM __parquet_rows"
    paths = "[" + ", ".join(literal(str(f.snapshot)) for f in batch) + "]"
    columns = "{" + ", ".join(f"{literal(_name(i))}: 'VARCHAR'" for i in range(len(first.names))) + "}"
    scan = (
        f"SELECT row_number() OVER () AS __seq, * FROM read_csv({paths}, header = true, auto_detect = false, "
        f"columns = {columns}, delim = ',', quote = '\"', escape = '\"', encoding = 'utf-8', filename = '__path', "
        f"compression = {literal('gzip' if first.entry.format == '.csv.gz' else 'none')}, "
        f"max_line_size = {MAX_ROW_BYTES}, "
        f"store_rejects = true, ignore_errors = true, rejects_table = '__csv_errors', rejects_scan = '__csv_scans')"
    )
    return (
        f"SELECT f.__file, r.__seq - min(r.__seq) OVER (PARTITION BY r.__path) + 1 AS __pos, {fields} "
        f"FROM ({scan}) r JOIN __files f ON r.__path = f.path"
    )


def _parquet_rows(batch: list[_File]) -> pa.RecordBatchReader:
    """The batch's Parquet rows, streamed, with their file index and row position and positional names."""
    first = pq.ParquetFile(batch[0].snapshot).schema_arrow
    schema = pa.schema(
        [("__file", pa.int32()), ("__pos", pa.int64())]
        + [(_name(i), first.field(i).type) for i in range(len(first.names))]
    )

    def batches():
        for index, f in enumerate(batch):
            position = 1
            for rb in pq.ParquetFile(f.snapshot).iter_batches(batch_size=65536):
                n = rb.num_rows
                yield pa.record_batch(
                    [pa.array(np.full(n, index, dtype=np.int32)), pa.array(np.arange(position, position + n, dtype=np.int64))]
                    + list(rb.columns),
                    schema=schema,
                )
                position += n

    return pa.RecordBatchReader.from_batches(schema, batches())


def _parquet_text(x: str, arrow_type: str) -> str:
    """A Parquet value as the text the contract's rules read (timestamps as ISO-8601 in UTC with Z)."""
    if arrow_type.startswith("timestamp"):
        utc = f"timezone('UTC', {x})" if "tz=" in arrow_type else x
        return f"replace(CAST({utc} AS VARCHAR), ' ', 'T') || 'Z'"
    return f"CAST({x} AS VARCHAR)"


def _load_rows(con, batch: list[_File], load_id: int) -> None:
    feed = FEEDS[batch[0].entry.feed]
    names = batch[0].names
    position = {name: i for i, name in enumerate(names)}
    cols = {c: _field(position[c]) for c in feed.column_names}
    extras = [n for n in names if n not in feed.column_names]
    stored = extra_column_names(con, feed.name, extras, load_id)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __files AS SELECT * FROM (VALUES "
        + ", ".join(
            f"({i}, {literal(str(f.snapshot))}, {literal(f.entry.business_date.isoformat())}::DATE, "
            f"{literal(f.entry.name)}, {literal(f.sha)})"
            for i, f in enumerate(batch)
        )
        + ") t(__file, path, business_date, file_name, sha)"
    )
    con.execute("DROP TABLE IF EXISTS __csv_errors")
    con.execute("DROP TABLE IF EXISTS __csv_scans")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __checked AS SELECT r.*, {reason_expression(feed, cols)} AS __reason "
            f"FROM ({_read_text(con, batch)}) r"
        )
    finally:
        if batch[0].entry.format == ".parquet":
            con.unregister("__parquet_rows")
    broken = _structural_rejects(con, batch)
    if broken:
        _renumber_around(con)
    target_cols = list(feed.column_names) + [n for n, _ in LINEAGE_COLUMNS] + [stored[n] for n in extras]
    values = (
        [typed(c, cols[c.name]) for c in feed.columns]
        + ["f.business_date", "f.file_name", "f.sha", "c.__pos", str(load_id)]
        + [_field(position[n]) for n in extras]
    )
    con.execute(
        f"INSERT INTO raw.{feed.name} ({', '.join(ident(c) for c in target_cols)}) "
        f"SELECT {', '.join(values)} FROM __checked c JOIN __files f USING (__file) "
        "WHERE __reason IS NULL ORDER BY c.__file, c.__pos"
    )
    con.execute(
        f"INSERT INTO raw.rejects SELECT {literal(feed.name)}, f.business_date, f.file_name, f.sha, c.__pos, "
        f"{csv_render([_field(i) for i in range(len(names))])}, __reason, {load_id} "
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
    """Rows the CSV reader could not split (column count, quoting, encoding, length) -> temp table __broken."""
    if batch[0].entry.format == ".parquet":
        return 0
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE __broken AS
        SELECT f.__file,
               e.line - 1 AS row_number,
               any_value(e.csv_line) AS raw_line,
               CASE
                   WHEN bool_or(e.error_type = 'LINE SIZE OVER MAXIMUM') THEN 'row longer than {MAX_ROW_BYTES} bytes'
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
