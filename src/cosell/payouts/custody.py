"""Custody of approved periods: proof that frozen files are what was approved, and repair after a crash.

The warehouse is the record of what was approved and issued: payouts.approvals holds the sha256
of each approved manifest, payouts.adjustment_sets the sha256 of each adjustment set's manifest,
and every manifest holds the sha256 of its files. Before anything is booked against an approved
period, the whole chain is checked; a file that differs stops the command with one line naming
it. An approval is recorded in the warehouse first and the manifest follows, so a crash leaves
either the DRAFT (nothing recorded) or a recorded approval whose manifest the next command
writes; an adjustment set written but never recorded is removed and computed again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cosell.config import Settings
from cosell.db import connect
from cosell.errors import CosellError
from cosell.faults import crash_point
from cosell.payouts import files as F

DDL = """
create schema if not exists payouts;
create table if not exists payouts.approvals (
    period varchar not null,
    approved_by varchar not null,
    approved_at timestamp not null,
    plan_id varchar,
    plan_sha256 varchar,
    as_of_date date,
    total_usd decimal(18,2),
    manifest_sha256 varchar not null,
    files_dir varchar not null
);
create table if not exists payouts.adjustment_sets (
    period varchar not null,
    adjustment_set integer not null,
    manifest_sha256 varchar not null,
    issued_at timestamp not null
);
"""


@dataclass(frozen=True)
class Approval:
    approved_by: str
    approved_at: dt.datetime
    manifest_sha256: str
    files_dir: str
    sets: dict[int, str | None]  # adjustment set -> manifest sha256 recorded (sets written before this record: None)

    @property
    def approved_at_text(self) -> str:
        return instant_text(self.approved_at)


def instant_text(at: dt.datetime) -> str:
    """How manifests write an approval instant (UTC, seconds): `2026-04-02T09:30:00Z`."""
    return at.isoformat() + "Z"


def approved_files(period_dir: Path, draft: dict[str, Any], approved_by: str, approved_at_text: str) -> dict[str, bytes]:
    """Every file approval writes, name -> bytes, manifest last: the documents with APPROVED (who, when) on them,
    rendered from the verified CSVs, and the APPROVED manifest. One rendering, so a recorded approval can be
    written again to the same bytes."""
    approved = dict(draft, status="APPROVED", approved_by=approved_by, approved_at=approved_at_text)
    documents = F.render_documents(F.read_records(period_dir), approved)
    approved["files"] = dict(draft.get("files", {}),
                             **{name: F.file_entry(content, rows) for name, (content, rows) in documents.items()})
    return {**{name: content for name, (content, _) in documents.items()}, F.MANIFEST: F.render_json(approved)}


def approval(settings: Settings, period: str) -> Approval | None:
    """What the warehouse records of a period's approval and adjustment sets (read-only), or None."""
    con = connect(settings, read_only=True)  # a missing or locked warehouse is a one-line CosellError
    try:
        tables = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'payouts'").fetchall()}
        if "approvals" not in tables:
            return None
        row = con.execute(
            "select approved_by, approved_at, manifest_sha256, files_dir from payouts.approvals "
            "where period = ? order by approved_at limit 1", [period]).fetchone()
        if row is None:
            return None
        sets: dict[int, str | None] = {}
        if "lines" in tables:
            for (n,) in con.execute("select distinct adjustment_set from payouts.lines "
                                    "where period = ? and adjustment_set is not null", [period]).fetchall():
                sets[n] = None
        if "adjustment_sets" in tables:
            sets.update(con.execute("select adjustment_set, manifest_sha256 from payouts.adjustment_sets "
                                    "where period = ?", [period]).fetchall())
        return Approval(*row, sets=sets)
    finally:
        con.close()


def record_set(con: duckdb.DuckDBPyConnection, period: str, n: int, manifest: bytes) -> None:
    con.execute(DDL)
    con.execute("insert into payouts.adjustment_sets values (?, ?, ?, ?)",
                [period, n, F.sha256(manifest), dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)])


_LEFTOVER = re.compile(r"\.(?P<stem>.+)\.(?P<kind>tmp|old)-[0-9a-f]{12}")


def clean_leftovers(period_dir: Path) -> None:
    """Remove what an interrupted run or approval of this period left; finish a folder swap cut between its renames."""
    for folder, only in ((period_dir.parent, period_dir.name), (period_dir / "adjustments", None)):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            match = _LEFTOVER.fullmatch(entry.name)
            if not match or (only is not None and match["stem"] != only):
                continue
            target = folder / match["stem"]
            if match["kind"] == "old" and not target.exists():
                entry.rename(target)  # the old folder was moved aside and the new one never arrived
            else:
                shutil.rmtree(entry, ignore_errors=True)
    if period_dir.is_dir():
        for temp in period_dir.rglob(".*.tmp-*"):
            temp.unlink(missing_ok=True)


def verify(period_dir: Path, manifest_bytes: bytes, record: Approval) -> list[int]:
    """Check the approved files and every adjustment set against their manifests and the warehouse; the sets, in order.

    A set folder the warehouse never recorded is the leftover of a run killed before it committed:
    it is removed, since nothing of it was booked.
    """
    manifest_path = period_dir / F.MANIFEST
    if F.sha256(manifest_bytes) != record.manifest_sha256:
        raise CosellError(f"{manifest_path} differs from the approval recorded in the warehouse "
                          "(payouts.approvals): restore the approved files; nothing was booked")
    manifest = json.loads(manifest_bytes)
    verify_files(period_dir, manifest, "approved")
    on_disk = sorted(int(p.name) for p in (period_dir / "adjustments").glob("*") if p.is_dir() and p.name.isdigit())
    for n in on_disk:
        if n not in record.sets:
            shutil.rmtree(period_dir / "adjustments" / str(n))
    for n, sha in sorted(record.sets.items()):
        folder = period_dir / "adjustments" / str(n)
        path = folder / F.MANIFEST
        if not path.is_file():
            raise CosellError(f"adjustment set {n} of {manifest['period']} is recorded in the warehouse but {path} "
                              "is missing: restore it; nothing was booked")
        content = path.read_bytes()
        if sha is not None and F.sha256(content) != sha:
            raise CosellError(f"{path} differs from the adjustment set recorded in the warehouse: restore it; nothing was booked")
        set_manifest = json.loads(content)
        if set_manifest.get("approved_manifest_sha256") != record.manifest_sha256:
            raise CosellError(f"{path} belongs to another approval of {manifest['period']}: restore it; nothing was booked")
        verify_files(folder, set_manifest, f"adjustment set {n}")
    return sorted(record.sets)


def verify_files(folder: Path, manifest: dict[str, Any], what: str) -> None:
    for name, entry in sorted(manifest.get("files", {}).items()):
        path = folder / name
        if not path.is_file() or F.sha256(path.read_bytes()) != entry.get("sha256"):
            raise CosellError(f"{path} differs from its manifest ({what} files must not change): "
                              "restore it; nothing was booked")


def complete(period_dir: Path, draft: dict[str, Any], record: Approval) -> None:
    """Write the approved files of an approval the warehouse recorded but the files do not show yet (or only some)."""
    sources = {name: entry for name, entry in draft.get("files", {}).items() if name in F.SOURCE_CSVS}
    verify_files(period_dir, dict(draft, files=sources), "approved")
    contents = approved_files(period_dir, draft, record.approved_by, record.approved_at_text)
    if F.sha256(contents[F.MANIFEST]) != record.manifest_sha256:
        raise CosellError(f"{period_dir / F.MANIFEST} does not match the approval recorded in the warehouse "
                          f"by {record.approved_by} at {record.approved_at_text}: restore the approved files")
    write_files(period_dir, contents)
    freeze(period_dir, sorted(json.loads(contents[F.MANIFEST])["files"]) + [F.MANIFEST])


def write_files(folder: Path, contents: dict[str, bytes]) -> None:
    """Replace each file through a temp file beside it (none is ever half written), in order: the manifest last."""
    for index, (name, content) in enumerate(contents.items()):
        path = folder / name
        temp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
        try:
            if path.exists():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
            temp.write_bytes(content)
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        if index == 0:
            crash_point("approve:first-file-written")


def freeze(folder: Path, names: list[str]) -> None:
    for name in names:
        path = folder / name
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
