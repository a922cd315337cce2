"""The run ledger: a load killed mid-landing is still judged by the raw gate; a run with nothing new touches nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from extracts import csv_text, row, write

from cosell.config import Settings
from cosell.gates.runner import GateFailed, check
from cosell.landing.inbox import scan
from cosell.landing.load import land
from cosell.orchestration import ledger
from cosell.orchestration.nightly import StepFailed, advance, idle_as_of

COSELL = Path(sys.executable).with_name("cosell")


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "COSELL_HOME": str(settings.home),
            "COSELL_WAREHOUSE": str(settings.warehouse),
            "COSELL_DUCKDB_THREADS": "2",
            "COSELL_DUCKDB_MEMORY_LIMIT": "2GB",
        }
    )
    env.pop("COSELL_PUBLISHED", None)
    env.update(extra)
    return env


def _rejecting_inbox(inbox: Path) -> None:
    """deals of day 1: 3 of 10 rows break an enum (30% rejects); partners and fx of day 1 are clean."""
    deals = [row("deals", deal_id=f"D{i}") for i in range(7)]
    deals += [row("deals", deal_id=f"X{i}", motion="BOGUS") for i in range(3)]
    write(inbox, "deals", "2026-03-01", "deals.csv", csv_text(deals))
    write(inbox, "fx_rates", "2026-03-01", "fx.csv", csv_text([row("fx_rates")]))
    write(inbox, "partners", "2026-03-01", "partners.csv", csv_text([row("partners")]))


# Runs `cosell run`, but the process SIGKILLs itself right after landing's first batch committed.
_KILLED_RUN = """
import os, signal, sys
from cosell import cli
from cosell.landing import load as landing
original = landing._land_batch
def land_then_die(*args, **kwargs):
    original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
landing._land_batch = land_then_die
sys.exit(cli.main(["run", "--inbox", sys.argv[1]]))
"""


def _ledger(settings: Settings) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT load_id, landed_at IS NOT NULL, raw_gate_at IS NOT NULL, built_at IS NOT NULL "
            "FROM ops.run_ledger ORDER BY load_id"
        ).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_a_load_killed_during_landing_is_still_judged_by_the_raw_gate(tmp_path, settings):
    inbox = tmp_path / "inbox"
    _rejecting_inbox(inbox)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(inbox)], env=_env(settings), capture_output=True, text=True
    )
    assert killed.returncode == -9, killed.stderr
    # load 1 committed the deals batch (with its rejects), then the process died before finishing
    assert _ledger(settings) == [(1, False, False, False)]

    rerun = subprocess.run(
        [str(COSELL), "run", "--inbox", str(inbox)], env=_env(settings), capture_output=True, text=True
    )
    assert rerun.returncode == 1
    error = rerun.stderr.strip().splitlines()[-1]  # lines before it: the gate's logged warnings
    assert error.startswith("cosell: error: nightly run stopped at raw gate (nothing published):")
    assert "raw_batch.reject_rate_under_limit" in error and "load_id=1,2" in error
    assert _ledger(settings) == [(1, False, False, False), (2, True, False, False)]
    assert not settings.published.exists()

    # the same verdict a third time: a failed gate leaves its loads pending
    again = subprocess.run([str(COSELL), "run", "--inbox", str(inbox)], env=_env(settings), capture_output=True, text=True)
    assert again.returncode == 1 and "reject_rate_under_limit" in again.stderr

    # accepting the batch (docs/scheduling.md): a higher limit for one run passes both loads
    lenient = Settings.from_env({**_env(settings), "COSELL_MAX_REJECT_RATE": "0.5"})
    assert advance("raw_gate", lenient)[0].startswith("raw gate passed")
    assert _ledger(settings) == [(1, False, True, False), (2, True, True, False)]


@pytest.mark.slow
def test_an_undisturbed_run_rejects_the_same_batch(tmp_path, settings):
    inbox = tmp_path / "inbox"
    _rejecting_inbox(inbox)
    run = subprocess.run([str(COSELL), "run", "--inbox", str(inbox)], env=_env(settings), capture_output=True, text=True)
    assert run.returncode == 1 and "raw_batch.reject_rate_under_limit" in run.stderr and "load_id=1" in run.stderr


def test_the_raw_gate_judges_every_load_not_yet_passed(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "partners", "2026-03-01", "p.csv", csv_text([row("partners")]))
    land(inbox, settings)
    write(inbox, "partners", "2026-03-02", "p.csv", csv_text([row("partners", partner_id="P2")]))
    land(inbox, settings)
    suites = ["raw_batch", "raw_partners"]
    assert check("raw", settings, suites=suites).batch_load_ids == [1, 2]
    con = duckdb.connect(str(settings.warehouse))
    ledger.mark(con, "raw_gate", [1])
    con.close()
    assert check("raw", settings, suites=suites).batch_load_ids == [2]
    con = duckdb.connect(str(settings.warehouse))
    ledger.mark(con, "raw_gate", [2])
    con.close()
    # nothing pending: `cosell check raw` by hand judges the latest load again
    assert check("raw", settings, suites=suites).batch_load_ids == [2]


def test_steps_run_only_for_pending_loads_and_a_failure_records_nothing(tmp_path, settings):
    inbox = tmp_path / "inbox"
    _rejecting_inbox(inbox)
    land(inbox, settings)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    assert ledger.pending(con, "raw_gate") == [1] and ledger.pending(con, "built") == []
    con.close()
    assert advance("built", settings) == []  # nothing raw-gated yet: no build
    with pytest.raises(StepFailed, match="raw_batch.reject_rate_under_limit") as failed:
        advance("raw_gate", settings)
    assert isinstance(failed.value.error, GateFailed) and failed.value.part == "raw gate"
    assert _ledger(settings) == [(1, True, False, False)]


def _files(root: Path) -> dict[str, tuple]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_a_run_with_nothing_new_changes_no_table_no_file_and_runs_no_gate(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "partners", "2026-03-01", "p.csv", csv_text([row("partners")]))
    write(inbox, "deals", "2026-03-01", "d.csv", csv_text([row("deals")]))
    write(inbox, "fx_rates", "2026-03-01", "fx.csv", csv_text([row("fx_rates")]))
    first = subprocess.run([str(COSELL), "run", "--inbox", str(inbox)], env=_env(settings), capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert _ledger(settings) == [(1, True, True, True)]
    before = _files(settings.home)
    assert any("data_docs/raw" in name for name in before)

    second = subprocess.run([str(COSELL), "run", "--inbox", str(inbox)], env=_env(settings), capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "nothing new; published as of 2026-03-01"
    assert _files(settings.home) == before  # no table (the warehouse file), no report, no gate result

    # a new file is new again: the fast check does not hide it
    write(inbox, "partners", "2026-03-02", "p.csv", csv_text([row("partners", partner_id="P2")]))
    assert idle_as_of(inbox, settings) == (False, None)


def _release(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(COSELL), "release", *args], env=_env(settings), capture_output=True, text=True)


def test_a_load_that_failed_the_raw_gate_is_released_with_who_when_and_why(tmp_path, settings):
    inbox = tmp_path / "inbox"
    _rejecting_inbox(inbox)
    land(inbox, settings)
    with pytest.raises(StepFailed, match="reject_rate_under_limit"):
        advance("raw_gate", settings)

    done = _release(settings, "--load", "1", "--reason", "3 bogus motions, confirmed with the partner", "--by", "ops-anna")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("load 1 released past the raw gate by ops-anna at ")
    assert "the next `cosell run` builds and publishes it" in done.stdout
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        released = con.execute("SELECT load_id, released_by, reason, released_at FROM ops.gate_releases").fetchall()
        gated = con.execute("SELECT raw_gate_at FROM ops.run_ledger WHERE load_id = 1").fetchone()[0]
        assert [r[:3] for r in released] == [(1, "ops-anna", "3 bogus motions, confirmed with the partner")]
        assert gated == released[0][3]
        # the next run finds nothing for the raw gate and builds, gates and publishes load 1
        assert ledger.pending(con, "raw_gate") == [] and ledger.pending(con, "built") == [1]
    finally:
        con.close()
    assert advance("raw_gate", settings) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (("--load", "7", "--reason", "x"), "load 7 does not exist in this warehouse"),
        (("--load", "1", "--reason", "  "), "a release needs a reason"),
    ],
)
def test_release_refuses_an_unknown_load_or_no_reason_in_one_line(tmp_path, settings, args, message):
    inbox = tmp_path / "inbox"
    _rejecting_inbox(inbox)
    land(inbox, settings)
    done = _release(settings, *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and message in lines[0], done.stderr
    assert _ledger(settings) == [(1, True, False, False)]  # nothing recorded


def test_release_refuses_a_load_that_already_passed_or_was_released(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "partners", "2026-03-01", "p.csv", csv_text([row("partners")]))
    land(inbox, settings)
    _rejecting_inbox(inbox / "more")  # a second inbox: load 2 fails the gate
    land(inbox / "more", settings)
    con = duckdb.connect(str(settings.warehouse))
    ledger.mark(con, "raw_gate", [1])
    con.close()
    passed = _release(settings, "--load", "1", "--reason", "x")
    assert passed.returncode == 1 and "load 1 already passed the raw gate at " in passed.stderr
    assert len(passed.stderr.strip().splitlines()) == 1
    assert _release(settings, "--load", "2", "--reason", "accepted", "--by", "ops").returncode == 0
    again = _release(settings, "--load", "2", "--reason", "twice")
    assert again.returncode == 1 and "load 2 already was released by ops at " in again.stderr


@pytest.mark.slow
def test_the_run_after_a_release_builds_and_publishes_the_load(tmp_path, settings):
    inbox = tmp_path / "inbox"
    _rejecting_inbox(inbox)
    first = subprocess.run([str(COSELL), "run", "--inbox", str(inbox)], env=_env(settings), capture_output=True, text=True)
    assert first.returncode == 1 and "reject_rate_under_limit" in first.stderr
    assert _release(settings, "--load", "1", "--reason", "accepted").returncode == 0
    second = subprocess.run([str(COSELL), "run", "--inbox", str(inbox)], env=_env(settings), capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "raw gate" not in second.stdout and "build" in second.stdout
    assert _ledger(settings) == [(1, True, True, True)]
    assert settings.published.exists()


# --------------------------------------------------------------------------- files seen before are not read again


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The inbox files landing opens (the real sha256 and snapshot, noted as they are called)."""
    from cosell.landing import inbox as inbox_files

    opened: list[str] = []
    for name in ("sha256", "snapshot"):
        real = getattr(inbox_files, name)

        def noting(entry, *args, _real=real):
            opened.append(entry.relative)
            return _real(entry, *args)

        monkeypatch.setattr(inbox_files, name, noting)
    return opened


def _three_days(inbox: Path) -> None:
    for day in (1, 2, 3):
        write(inbox, "deals", f"2026-03-0{day}", "d.csv", csv_text([row("deals", deal_id=f"D{day}")]))
    write(inbox, "partners", "2026-03-01", "p.csv", csv_text([row("partners")]))


def _audit(settings: Settings) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT load_id, file_path, file_sha256, status, rows_landed FROM raw.load_audit ORDER BY load_id, file_path"
        ).fetchall()
    finally:
        con.close()


def test_a_land_skips_unread_the_files_a_finished_land_saw_and_lands_the_new_one(tmp_path, settings, reads):
    inbox = tmp_path / "inbox"
    _three_days(inbox)
    first = land(inbox, settings)
    assert first.files["LANDED"] == 4 and first.skipped_unread == 0 and "skipped unread" not in first.describe()
    write(inbox, "deals", "2026-03-04", "d.csv", csv_text([row("deals", deal_id="D4")]))
    reads.clear()
    second = land(inbox, settings)
    assert reads == ["deals/2026-03-04/d.csv"]  # snapshotted (and hashed while copied): only the new file
    assert (second.load_id, second.files["LANDED"], second.skipped_unread) == (2, 1, 4)
    assert "; 4 files seen before skipped unread;" in second.describe()
    assert [r[1] for r in _audit(settings) if r[0] == 2] == ["deals/2026-03-04/d.csv"]
    reads.clear()
    third = land(inbox, settings)
    assert reads == [] and third.load_id is None
    assert third.describe().startswith("nothing new to land; 5 files seen before skipped unread; as_of_date 2026-03-04")


def test_a_rewrite_of_the_same_size_with_its_mtime_restored_is_read_and_landed_as_a_changed_file(
    tmp_path, settings, reads
):
    inbox = tmp_path / "inbox"
    _three_days(inbox)
    land(inbox, settings)
    path = inbox / "deals" / "2026-03-02" / "d.csv"
    before = path.stat()
    old_bytes = path.read_bytes()
    new_bytes = old_bytes.replace(b"D2,", b"D9,")
    assert new_bytes != old_bytes and len(new_bytes) == len(old_bytes)
    with open(path, "r+b") as f:  # in place: same inode
        f.write(new_bytes)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    # what size and mtime alone would take for the file seen before; only ctime tells the write
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert after.st_ctime_ns != before.st_ctime_ns

    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        assert [e.relative for e in ledger.unseen(con, inbox.resolve(), scan(inbox.resolve()))] == ["deals/2026-03-02/d.csv"]
    finally:
        con.close()
    reads.clear()
    summary = land(inbox, settings)
    assert set(reads) == {"deals/2026-03-02/d.csv"}
    assert (summary.load_id, summary.files["LANDED"], summary.rows_landed, summary.skipped_unread) == (2, 1, 1, 3)
    assert [r for r in _audit(settings) if r[1] == "deals/2026-03-02/d.csv"] == [
        (1, "deals/2026-03-02/d.csv", hashlib.sha256(old_bytes).hexdigest(), "LANDED", 1),
        (2, "deals/2026-03-02/d.csv", hashlib.sha256(new_bytes).hexdigest(), "LANDED", 1),
    ]
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        assert con.execute("SELECT deal_id FROM raw.deals WHERE _load_id = 2").fetchall() == [("D9",)]
    finally:
        con.close()


def test_a_file_replaced_by_rename_with_the_same_bytes_is_read_again_and_lands_nothing(tmp_path, settings, reads):
    inbox = tmp_path / "inbox"
    _three_days(inbox)
    land(inbox, settings)
    audit = _audit(settings)
    path = inbox / "deals" / "2026-03-02" / "d.csv"
    before = path.stat()
    spare = tmp_path / "spare.csv"
    spare.write_bytes(path.read_bytes())
    os.replace(spare, path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_ino != before.st_ino

    reads.clear()
    summary = land(inbox, settings)
    assert set(reads) == {"deals/2026-03-02/d.csv"}  # new inode: read, found to be the same bytes at the same path
    assert summary.load_id is None and summary.skipped_unread == 3
    assert _audit(settings) == audit  # no duplicate audit row
    reads.clear()
    assert land(inbox, settings).skipped_unread == 4 and reads == []  # its new fingerprint is recorded


_OLD_INBOX_FILES = """
CREATE TABLE ops.inbox_files (
    inbox VARCHAR NOT NULL,
    file_path VARCHAR NOT NULL,
    size BIGINT,
    mtime_ns BIGINT,
    load_id BIGINT,
    PRIMARY KEY (inbox, file_path)
)"""


def test_a_warehouse_from_before_ctime_and_inode_is_upgraded_by_the_next_land_and_hashes_once(tmp_path, settings, reads):
    inbox = tmp_path / "inbox"
    _three_days(inbox)
    land(inbox, settings)
    con = duckdb.connect(str(settings.warehouse))
    try:  # ops.inbox_files as the old DDL made it, with the rows the old land wrote
        con.execute("CREATE TABLE ops.old_files AS SELECT inbox, file_path, size, mtime_ns, load_id FROM ops.inbox_files")
        con.execute("DROP TABLE ops.inbox_files")
        con.execute(_OLD_INBOX_FILES)
        con.execute("INSERT INTO ops.inbox_files SELECT * FROM ops.old_files")
        con.execute("DROP TABLE ops.old_files")
    finally:
        con.close()
    audit = _audit(settings)

    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:  # the fast check on the old table: every file unseen (and no error)
        assert len(ledger.unseen(con, inbox.resolve(), scan(inbox.resolve()))) == 4
    finally:
        con.close()
    reads.clear()
    upgraded = land(inbox, settings)
    assert sorted(set(reads)) == sorted(r[1] for r in audit) and len(reads) == 4  # each hashed once, none snapshotted
    assert upgraded.load_id is None and upgraded.skipped_unread == 0 and _audit(settings) == audit
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM ops.inbox_files WHERE ctime_ns IS NULL OR inode IS NULL").fetchone() == (0,)
        assert ledger.unseen(con, inbox.resolve(), scan(inbox.resolve())) == []
    finally:
        con.close()
    reads.clear()
    assert land(inbox, settings).skipped_unread == 4 and reads == []
