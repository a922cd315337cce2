"""`cosell build` failures: a user sees one line naming the failing dbt tests, never a stack trace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_dbt_marts import LOAD_1, deal, fixture_settings, land_load, partner

from cosell.build.dbt import (
    BuildSummary,
    DataTestsFailed,
    _dbt_lock,
    _failure_message,
    build,
    dbt_env,
    dbt_paths,
    model_lines,
)
from cosell.config import Settings
from cosell.errors import CosellError


def test_missing_warehouse_is_a_one_line_error(tmp_path):
    settings = fixture_settings(tmp_path / "home")
    with pytest.raises(CosellError, match="does not exist: run `cosell land` first"):
        build(settings)


def test_a_second_dbt_on_the_warehouse_fails_at_once_while_one_holds_the_lock(tmp_path):
    settings = fixture_settings(tmp_path / "home")
    settings.warehouse.parent.mkdir(parents=True)
    settings.warehouse.touch()
    with _dbt_lock(settings):
        with pytest.raises(CosellError, match=rf"still running on the warehouse \(pid {os.getpid()} since .*not starting a second"):
            build(settings)
    assert not (settings.home / "dbt" / "logs" / "dbt.log").exists()  # no dbt was started


def test_failure_message_names_failing_tests_and_models():
    results = [
        {"unique_id": "model.cosell.fct_cosell_deals", "status": "success"},
        {"unique_id": "test.cosell.assert_every_deal_has_an_fx_rate", "status": "fail", "failures": 2},
        {"unique_id": "unit_test.cosell.int_deals_enriched.test_eligibility", "status": "fail"},
        {"unique_id": "model.cosell.mart_x", "status": "error", "message": "Runtime Error\n  boom"},
        {"unique_id": "model.cosell.mart_y", "status": "skipped"},
    ]
    message = _failure_message(results)
    assert message == (
        "test assert_every_deal_has_an_fx_rate failed (2 rows); unit test int_deals_enriched.test_eligibility failed; "
        "model mart_x error: Runtime Error: boom"
    )


def test_model_lines_give_each_model_its_status_and_its_tests(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {
        "test.cosell.not_null_fct_x_id.1": {"attached_node": "model.cosell.fct_x"},
        "test.cosell.relationships_fct_x_partner_id.2": {"attached_node": "model.cosell.fct_x"},
        "test.cosell.assert_y_covers_x.3": {"depends_on": {"nodes": ["model.cosell.mart_y", "model.cosell.fct_x"]}},
    }}))
    results = [
        {"unique_id": "model.cosell.fct_x", "status": "success", "execution_time": 1.234},
        {"unique_id": "test.cosell.not_null_fct_x_id.1", "status": "pass"},
        {"unique_id": "test.cosell.relationships_fct_x_partner_id.2", "status": "fail", "failures": 1},
        {"unique_id": "model.cosell.mart_y", "status": "skipped"},
        {"unique_id": "test.cosell.assert_y_covers_x.3", "status": "skipped"},
    ]
    assert model_lines(results, manifest) == [
        "model fct_x: success in 1.2s; tests 1 fail, 1 pass (relationships_fct_x_partner_id.2)",
        "model mart_y: skipped in 0.0s; tests 1 skipped",
    ]
    assert model_lines(results[:1], tmp_path / "missing.json") == ["model fct_x: success in 1.2s"]


def test_summary_describe():
    summary = BuildSummary(models=31, tests_passed=100, unit_tests_passed=9, warnings=("x (1 rows)",), seconds=12.34)
    assert summary.describe() == (
        "dbt build: 31 models built, 100 data tests and 9 unit tests passed in 12.3s; 1 warning(s): x (1 rows)"
    )
    nightly = BuildSummary(models=31, tests_passed=100, unit_tests_passed=0, seconds=2.0, full_refresh=True)
    assert nightly.describe() == "dbt build --full-refresh: 31 models built, 100 data tests passed in 2.0s"


@pytest.mark.slow
def test_referential_break_and_missing_fx_fail_as_named_tests(tmp_path):
    settings = fixture_settings(tmp_path / "home")
    partners = [f for f in LOAD_1 if f[0] == "partners"]
    broken = [
        ("deals", "2026-03-01", "deals_a.csv", [
            deal("G1", "P_GHOST", "1000.00", "2026-02-01 08:00:00"),  # partner never landed
            deal("G2", "P_SI", "1000.00", "2026-02-01 08:00:00", currency="GBP"),  # no GBP rate at all
            deal("G3", "P_SI", "1000.00", "2026-02-01 08:00:00"),
            # Baseline version in CHF (no CHF rate), current version in USD: only the baseline fails.
            deal("G4", "P_SI", "1000.00", "2026-02-01 08:00:00", currency="CHF"),
            deal("G4", "P_SI", "1000.00", "2026-02-01 08:00:00", updated_at="2026-02-02 08:00:00"),
        ]),
        ("partners", "2026-03-01", "partners_b.csv", [partner("P_X", "X", "SI", "GOLD", 1, "2026-01-01 00:00:00")]),
    ]
    land_load(settings, 1, partners + broken)
    with pytest.raises(CosellError) as caught:
        build(settings)
    message = str(caught.value)
    assert isinstance(caught.value, DataTestsFailed)  # the data is at fault: the DAG does not retry it
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("dbt build failed: ")
    # Each failing test is named with the first rows its query returns.
    assert "test assert_every_deal_has_an_fx_rate failed (1 rows: deal_id=G2, currency=GBP" in message
    assert "relationships_fct_cosell_deals_partner_id" in message and "(1 rows: from_field=P_GHOST)" in message
    # The failing rows are kept by name in dbt's run results for whoever investigates.
    results = json.loads((settings.home / "dbt" / "target" / "run_results.json").read_text())["results"]
    failed = {r["unique_id"].split(".")[2] for r in results if r["status"] == "fail"}
    assert "assert_every_deal_has_an_fx_rate" in failed
    # SPEC section 8.1: a baseline without an fx row fails like amount_usd (G2 and G4).
    assert "test assert_every_deal_has_a_baseline_fx_rate failed (2 rows" in message
    assert "assert_every_deal_has_a_baseline_fx_rate" in failed
    # dbt.log at the default level (info) says which test failed, without every statement dbt ran
    log = (settings.home / "dbt" / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert "Failure in test assert_every_deal_has_an_fx_rate" in log
    assert "[debug]" not in log and "On model.cosell." not in log
    # COSELL_DBT_LOG_LEVEL=debug logs every statement (a person investigating reruns with it)
    debug = Settings.from_env({"COSELL_HOME": str(settings.home), "COSELL_WAREHOUSE": str(settings.warehouse),
                               "COSELL_DUCKDB_THREADS": "2", "COSELL_DBT_LOG_LEVEL": "DEBUG"})
    with pytest.raises(DataTestsFailed):
        build(debug)
    log = (settings.home / "dbt" / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert "[debug]" in log and "On model.cosell.fct_cosell_deals: " in log


def test_an_unknown_dbt_log_level_is_a_one_line_error():
    with pytest.raises(CosellError, match=r"^COSELL_DBT_LOG_LEVEL='loud': expected one of debug, info, warn, error, none$"):
        Settings.from_env({"COSELL_DBT_LOG_LEVEL": "loud"})


def _wait_for_the_lock(settings: Settings, seconds: float, failure: str) -> None:
    """Until the warehouse's dbt lock can be taken (the dbt holding it has ended)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with _dbt_lock(settings):
                return
        except CosellError:
            time.sleep(0.5)
    raise AssertionError(failure)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


@pytest.mark.slow
def test_a_build_never_starts_while_the_dbt_of_a_killed_build_still_runs(tmp_path):
    """An Airflow try killed (kill -9) while its dbt runs on: the retry must not start a second dbt."""
    settings = fixture_settings(tmp_path / "home")
    land_load(settings, 1, LOAD_1)
    env = {**dbt_env(settings), "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen(
        [sys.executable, "-c", "from cosell.build.dbt import build; from cosell.config import Settings; build(Settings.from_env())"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    orphan = None
    try:
        deadline = time.monotonic() + 120
        while orphan is None and time.monotonic() < deadline and first.poll() is None:
            children = _children(first.pid)
            orphan = children[0] if children else None
            time.sleep(0.05)
        assert orphan is not None, "the first build started no dbt process"
        os.kill(orphan, signal.SIGSTOP)  # hold its dbt still, so it outlives its parent for sure
        os.kill(first.pid, signal.SIGKILL)  # the task process dies; its dbt does not
        first.wait()
        results = dbt_paths(settings)[0] / "run_results.json"
        results.write_text('{"results": []}')  # what the running build will own: not to be touched

        with pytest.raises(CosellError, match=rf"a dbt process is still running on the warehouse \(pid {first.pid} "):
            build(settings)
        assert results.read_text() == '{"results": []}'
        assert _children(os.getpid()) == []  # no dbt was started
    finally:
        if orphan is not None:
            os.kill(orphan, signal.SIGCONT)
        if first.poll() is None:
            first.kill()
    # once that dbt has ended (here: on its closed output), the lock is free for the next try
    _wait_for_the_lock(settings, 180, "the dbt of the killed build never released the lock")


def _reached_its_wait(settings: Settings, deadline: float = 180) -> None:
    """Until the held dbt has parsed the project and is about to open the warehouse (its log says the threads)."""
    log = dbt_paths(settings)[1] / "dbt.log"
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if log.exists() and "Concurrency: " in log.read_text(encoding="utf-8", errors="replace"):
            time.sleep(1.0)  # past the parse: dbt's next step is opening the warehouse
            return
        time.sleep(0.1)
    raise AssertionError("the early dbt never finished parsing")


def _fingerprint(path: Path) -> tuple[int, float, bytes]:
    return path.stat().st_size, path.stat().st_mtime, path.read_bytes()


@pytest.mark.slow
def test_a_dbt_started_early_opens_the_warehouse_only_after_its_go(tmp_path):
    """`cosell run` starts dbt while the raw gate runs: dbt must not open the warehouse before the gate is done."""
    import duckdb

    from cosell.build.dbt import EarlyBuild

    settings = fixture_settings(tmp_path / "home")
    land_load(settings, 1, LOAD_1)
    early = EarlyBuild(settings)
    try:
        with pytest.raises(CosellError, match="a dbt process is still running"):
            build(settings)  # the lock is held from the start
        # the gate's own read-write connection: a DuckDB file has one writer, so a dbt that opened the
        # warehouse now would fail
        gate = duckdb.connect(str(settings.warehouse))
        try:
            _reached_its_wait(settings)
            assert gate.execute("select count(*) from raw.deals").fetchone()[0] > 0
            assert not gate.execute("select count(*) from duckdb_tables() where schema_name = 'marts'").fetchone()[0]
        finally:
            gate.close()
        summary = early.build(settings)
    finally:
        early.stop()
    assert summary.models > 20 and summary.tests_passed > 50
    with _dbt_lock(settings):  # dbt ended and let the lock go
        pass


@pytest.mark.slow
def test_a_dbt_started_early_and_stopped_leaves_the_warehouse_untouched(tmp_path):
    """The raw gate failed: the held dbt ends without opening the warehouse and the lock is free at once."""
    from cosell.build.dbt import EarlyBuild

    settings = fixture_settings(tmp_path / "home")
    land_load(settings, 1, LOAD_1)
    before = _fingerprint(settings.warehouse)
    early = EarlyBuild(settings)
    _reached_its_wait(settings)
    early.stop()
    assert early._process.process.returncode not in (None, 0)
    assert _fingerprint(settings.warehouse) == before
    with _dbt_lock(settings):
        pass
    early.stop()  # twice is harmless


@pytest.mark.slow
def test_a_held_dbt_whose_caller_died_holds_no_lock_and_leaves_untouched(tmp_path):
    """kill -9 of `cosell run` during the raw gate: the next run can start at once; the orphan dbt leaves untouched."""
    settings = fixture_settings(tmp_path / "home")
    land_load(settings, 1, LOAD_1)
    before = _fingerprint(settings.warehouse)
    env = {**dbt_env(settings), "PYTHONPATH": os.pathsep.join(sys.path)}
    caller = subprocess.run(
        [sys.executable, "-c", "import os; from cosell.build.dbt import EarlyBuild; from cosell.config import Settings\n"
         "early = EarlyBuild(Settings.from_env()); print(early._process.process.pid, flush=True); os._exit(9)"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    orphan = int(caller.stdout.split()[0])
    with _dbt_lock(settings):  # free although the orphan dbt may still be starting
        pass
    _reached_its_wait(settings)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{orphan}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break  # gone
        if state == "Z":
            break  # ended, not yet reaped by init
        time.sleep(0.2)
    else:
        raise AssertionError("the orphan dbt never ended")
    assert _fingerprint(settings.warehouse) == before


@pytest.mark.slow
def test_a_dbt_told_to_go_holds_the_lock_once_its_caller_died(tmp_path):
    """kill -9 of `cosell run` right after the raw gate passed: its dbt runs on, so no second dbt may start."""
    settings = fixture_settings(tmp_path / "home")
    land_load(settings, 1, LOAD_1)
    env = {**dbt_env(settings), "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run(
        [sys.executable, "-c", "import os; from cosell.build.dbt import EarlyBuild; from cosell.config import Settings\n"
         "early = EarlyBuild(Settings.from_env()); early._process.go(); os._exit(9)"],
        env=env, timeout=120, check=False,
    )
    with pytest.raises(CosellError, match="a dbt process is still running on the warehouse"):
        build(settings)  # the lock travels with the go, held until that dbt ends
    _wait_for_the_lock(settings, 300, "the dbt told to go never released the lock")
    results = json.loads((dbt_paths(settings)[0] / "run_results.json").read_text())["results"]
    assert results and all(r["status"] in ("success", "pass") for r in results if r["unique_id"].startswith("model."))


def test_dbt_runs_duckdb_with_the_configured_memory_limit_threads_and_utc(tmp_path):
    """COSELL_DUCKDB_MEMORY_LIMIT and COSELL_DUCKDB_THREADS bound dbt's DuckDB as they bound ours (dbt/profiles.yml)."""
    from cosell.build.dbt import _run_dbt

    settings = Settings.from_env({"COSELL_HOME": str(tmp_path / "home"), "COSELL_DUCKDB_MEMORY_LIMIT": "3GB",
                                  "COSELL_DUCKDB_THREADS": "1"})
    process, *_ = _run_dbt(settings, "show", "--inline", "select current_setting('memory_limit') as limit_, "
                           "current_setting('threads') as threads_, current_setting('TimeZone') as zone_")
    assert process.returncode == 0, process.stdout[-500:]
    row = [line for line in process.stdout.splitlines() if "GiB" in line]
    assert row and [cell.strip() for cell in row[0].strip("|").split("|")] == ["2.7 GiB", "1", "UTC"], process.stdout[-500:]
