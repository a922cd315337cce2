"""The run ledger (schema ops): how far each load has got through the nightly run, and which inbox files landing has seen.

`ops.run_ledger` has one row per load (load_id of raw.load_audit) and one timestamp per step
of the nightly run: landed_at, raw_gate_at, built_at, marts_gate_at, published_at (null =
pending). Landing writes the row when a load starts (landed_at null until it has finished),
so a load killed half-way is still in the ledger and the raw gate still judges what it
committed. The other steps are recorded by the nightly run (`cosell run`, the DAG) after
the step succeeded, for exactly the loads the step worked on; a failed or killed step
records nothing, so its loads stay pending and the next run redoes them.

`ops.gate_releases` records every load an operator released past a failed raw gate
(`cosell release`): who, when, why; the release sets the load's raw_gate_at, so the next run
builds and publishes it.

`ops.inbox_files` remembers, per inbox file, the fingerprint (size, mtime_ns, ctime_ns, inode)
it had when a land finished. An entry whose path and fingerprint are recorded there is not read
again: `cosell run` says "nothing new" without opening the warehouse for writing, and landing
skips it unread (a finished land triaged it and recorded its audit row). ctime cannot be set by
user tools and moves on every write or metadata change, and a file replaced by rename has a new
inode, so a rewrite with size and mtime restored (rsync -t, touch -r, os.utime) is still read.
Every file landing does read, it decides by sha256.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cosell.db import insert_rows
from cosell.errors import CosellError
from cosell.landing.inbox import InboxFile

STEPS = ("landed", "raw_gate", "built", "marts_gate", "published")

LEDGER_DDL = (
    "CREATE SCHEMA IF NOT EXISTS ops",
    """
    CREATE TABLE IF NOT EXISTS ops.run_ledger (
        load_id BIGINT PRIMARY KEY,
        until DATE,
        started_at TIMESTAMP NOT NULL,
        landed_at TIMESTAMP,
        raw_gate_at TIMESTAMP,
        built_at TIMESTAMP,
        marts_gate_at TIMESTAMP,
        published_at TIMESTAMP
    )""",
    """
    CREATE TABLE IF NOT EXISTS ops.gate_releases (
        load_id BIGINT PRIMARY KEY,
        released_by VARCHAR NOT NULL,
        released_at TIMESTAMP NOT NULL,
        reason VARCHAR NOT NULL
    )""",
    """
    CREATE TABLE IF NOT EXISTS ops.inbox_files (
        inbox VARCHAR NOT NULL,
        file_path VARCHAR NOT NULL,
        size BIGINT,
        mtime_ns BIGINT,
        load_id BIGINT,
        ctime_ns BIGINT,
        inode UBIGINT,
        PRIMARY KEY (inbox, file_path)
    )""",
    # a warehouse from before the two columns: its rows have NULLs there, match no entry, and are hashed once more
    "ALTER TABLE ops.inbox_files ADD COLUMN IF NOT EXISTS ctime_ns BIGINT",
    "ALTER TABLE ops.inbox_files ADD COLUMN IF NOT EXISTS inode UBIGINT",
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def has_ledger(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ops' AND table_name = 'run_ledger' "
            "AND database_name = current_database()"
        ).fetchone()[0]
    )


# --------------------------------------------------------------------------- pending loads

def _not_passed_sql(step: str) -> str:
    """Loads `step` has not passed: every load of raw.load_audit or the ledger without <step>_at."""
    if step not in STEPS[1:]:
        raise ValueError(step)
    return (
        "SELECT load_id FROM (SELECT DISTINCT load_id FROM raw.load_audit UNION SELECT load_id FROM ops.run_ledger) "
        f"WHERE load_id NOT IN (SELECT load_id FROM ops.run_ledger WHERE {step}_at IS NOT NULL)"
    )


def pending_sql(step: str) -> str:
    """Loads waiting for `step`: the step before it is done and this one is not (raw_gate: every load not passed)."""
    if step not in STEPS[1:]:
        raise ValueError(step)
    if step == "raw_gate":
        return _not_passed_sql(step)
    before = STEPS[STEPS.index(step) - 1]
    return f"SELECT load_id FROM ops.run_ledger WHERE {before}_at IS NOT NULL AND {step}_at IS NULL"


def pending(con: duckdb.DuckDBPyConnection, step: str) -> list[int]:
    """Loads waiting for `step` (see pending_sql); none without a ledger."""
    if not has_ledger(con):
        return []
    return sorted(int(r[0]) for r in con.execute(pending_sql(step)).fetchall())


def mark(con: duckdb.DuckDBPyConnection, step: str, load_ids: list[int]) -> None:
    """Record that `step` succeeded for these loads (a load missing from the ledger gets its row)."""
    if step not in STEPS[1:]:
        raise ValueError(step)
    if not load_ids:
        return
    ensure(con)
    now = _now()
    con.executemany(
        f"INSERT INTO ops.run_ledger (load_id, started_at, {step}_at) VALUES (?, ?, ?) "
        f"ON CONFLICT (load_id) DO UPDATE SET {step}_at = excluded.{step}_at",
        [[load_id, now, now] for load_id in load_ids],
    )


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    for statement in LEDGER_DDL:
        con.execute(statement)


@dataclass
class Release:
    load_id: int
    released_by: str
    released_at: dt.datetime
    reason: str

    def describe(self) -> str:
        return (
            f"load {self.load_id} released past the raw gate by {self.released_by} at {self.released_at:%Y-%m-%d %H:%M:%S}"
            f" UTC ({self.reason}); the next `cosell run` builds and publishes it"
        )


def release(con: duckdb.DuckDBPyConnection, load_id: int, reason: str, released_by: str) -> Release:
    """Pass a load the raw gate has not passed, by an operator's decision recorded in ops.gate_releases."""
    reason = " ".join(str(reason).split())
    if not reason:
        raise CosellError("a release needs a reason (--reason \"...\"): it is recorded with the load")
    known = has_ledger(con) and con.execute(
        "SELECT count(*) FROM (SELECT load_id FROM raw.load_audit UNION SELECT load_id FROM ops.run_ledger) "
        "WHERE load_id = ?", [load_id]
    ).fetchone()[0]
    if not known:
        raise CosellError(f"load {load_id} does not exist in this warehouse (no landing recorded it)")
    passed = con.execute("SELECT raw_gate_at FROM ops.run_ledger WHERE load_id = ?", [load_id]).fetchone()
    if passed and passed[0] is not None:
        by = con.execute("SELECT released_by FROM ops.gate_releases WHERE load_id = ?", [load_id]).fetchone()
        how = f"was released by {by[0]}" if by else "passed the raw gate"
        raise CosellError(f"load {load_id} already {how} at {passed[0]:%Y-%m-%d %H:%M:%S} UTC: nothing to release")
    ensure(con)  # a ledger from before releases has no ops.gate_releases yet
    record = Release(load_id, released_by, _now(), reason)
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "INSERT INTO ops.gate_releases VALUES (?, ?, ?, ?)",
        [record.load_id, record.released_by, record.released_at, record.reason],
    )
    con.execute(
        "INSERT INTO ops.run_ledger (load_id, started_at, raw_gate_at) VALUES (?, ?, ?) "
        "ON CONFLICT (load_id) DO UPDATE SET raw_gate_at = excluded.raw_gate_at",
        [load_id, record.released_at, record.released_at],
    )
    con.execute("COMMIT")
    return record


# --------------------------------------------------------------------------- landing's entries


Fingerprint = tuple[int, int, int, int]


def fingerprint(entry: InboxFile) -> Fingerprint | None:
    """(size, mtime_ns, ctime_ns, inode) of the entry itself (a link is not followed); None when it cannot be stat'ed."""
    try:
        stat = os.stat(entry.path, follow_symlinks=False)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


def _known(con: duckdb.DuckDBPyConnection, inbox: str) -> set[tuple]:
    """(file_path, *fingerprint) of every inbox file a finished land saw (none before the fingerprint had ctime and inode)."""
    columns = {
        name for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'ops' AND table_name = 'inbox_files' "
            "AND database_name = current_database()"
        ).fetchall()
    }
    if not {"ctime_ns", "inode"} <= columns:
        return set()  # read-only and not yet upgraded: every entry is unseen, and the next land upgrades the table
    return set(
        con.execute(
            "SELECT file_path, size, mtime_ns, ctime_ns, inode FROM ops.inbox_files WHERE inbox = ?", [inbox]
        ).fetchall()
    )


def _recorded(known: set[tuple], relative: str, fp: Fingerprint | None) -> bool:
    """The one test of "seen before": this path with this fingerprint was recorded (an entry without one never was)."""
    return fp is not None and (relative, *fp) in known


@dataclass
class LoadRecord:
    """What landing tells the ledger about one `land()` call: opened before the first batch, finished after the last."""

    inbox: str
    until: dt.date | None
    fingerprints: dict[str, Fingerprint | None] = field(default_factory=dict)
    load_id: int | None = None

    @classmethod
    def start(cls, con, inbox: Path, entries: list[InboxFile], until: dt.date | None) -> "LoadRecord":
        """Note the entries' fingerprints as landing first sees them (a file changed later is seen anew)."""
        ensure(con)
        record = cls(str(inbox), until)
        record.fingerprints = {e.relative: fingerprint(e) for e in entries}
        return record

    def seen_before(self, con) -> set[str]:
        """Paths whose fingerprint, as this land first saw it, a finished land recorded: landing need not read them."""
        known = _known(con, self.inbox)
        return {rel for rel, fp in self.fingerprints.items() if _recorded(known, rel, fp)}

    def open(self, con, load_id: int) -> None:
        """The load has new files: its ledger row exists before anything of it is committed."""
        self.load_id = load_id
        con.execute(
            "INSERT INTO ops.run_ledger (load_id, until, started_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [load_id, self.until, _now()],
        )

    def finish(self, con) -> None:
        """Every entry was triaged: the load is landed and the entries are known to the fast check."""
        con.execute("BEGIN TRANSACTION")
        if self.load_id is not None:
            con.execute("UPDATE ops.run_ledger SET landed_at = ? WHERE load_id = ?", [_now(), self.load_id])
        known = _known(con, self.inbox)
        changed = []
        for rel, fp in self.fingerprints.items():
            if not _recorded(known, rel, fp):  # a night writes its new files only
                size, mtime_ns, ctime_ns, inode = fp or (None, None, None, None)
                changed.append([self.inbox, rel, size, mtime_ns, self.load_id, ctime_ns, inode])
        insert_rows(con, "ops.inbox_files", changed, verb="INSERT OR REPLACE")
        con.execute("COMMIT")


def unseen(con: duckdb.DuckDBPyConnection, inbox: Path, entries: list[InboxFile]) -> list[InboxFile]:
    """Entries whose path and fingerprint no finished land recorded (all of them without a ledger)."""
    if not has_ledger(con):
        return list(entries)
    known = _known(con, str(inbox))
    return [e for e in entries if not _recorded(known, e.relative, fingerprint(e))]
