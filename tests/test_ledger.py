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
