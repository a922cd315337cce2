"""Airflow DAGs: the DAG integrity test, and the nightly and payout DAGs run end to end with dag.test().

Airflow reads AIRFLOW_HOME when it is first imported, so every Airflow step runs in a subprocess
whose AIRFLOW_HOME lies under tmp_path (cosell.orchestration.airflow_demo.airflow_environment): the tests never
touch ~/airflow, and this process never imports Airflow.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cosell.config import Settings
from cosell.orchestration.airflow_demo import (
    DAGS_DIR,
    NIGHTLY_DAG,
    PAYOUTS_DAG,
    airflow_environment,
    prepare_airflow,
    run_dag,
)
from cosell.orchestration.airflow_tasks import (
    PUBLISHED_ASSET_NAME,
    business_date_for,
    last_complete_period,
    missing_feeds,
    prepare_dbt_manifest,
)

# Tiny inbox: dbt build time is per model, not per row, so rows cost little and dates cost files.
SAMPLE = {"seed": 11, "start": dt.date(2026, 1, 1), "days": 35, "partners": 12, "deals": 90}
BUSINESS_DATE = (SAMPLE["start"] + dt.timedelta(days=SAMPLE["days"] - 1)).isoformat()  # 2026-02-04
PERIOD = "2026-01"
MAX_PARSE_SECONDS = 1.0


def _settings(home: Path) -> Settings:
    return Settings.from_env(
        {
            "COSELL_HOME": str(home),
            "COSELL_WAREHOUSE": str(home / "warehouse.duckdb"),
            "COSELL_DUCKDB_THREADS": "2",
            "COSELL_DUCKDB_MEMORY_LIMIT": "2GB",
        }
    )


# --------------------------------------------------------------------------- pure helpers


def test_business_date_param_wins_then_day_before_logical_date_then_run_after():
    two_am = dt.datetime(2026, 5, 2, 2, 0, tzinfo=dt.UTC)
    assert business_date_for("2026-04-15", two_am, None) == "2026-04-15"
    assert business_date_for(None, two_am, None) == "2026-05-01"
    assert business_date_for("", None, two_am) == "2026-05-01"
    with pytest.raises(ValueError, match="not a date"):
        business_date_for("15/04/2026", two_am, None)


def test_last_complete_period_is_relative_to_as_of_date():
    assert last_complete_period(dt.date(2026, 4, 30)) == "2026-04"
    assert last_complete_period(dt.date(2026, 4, 29)) == "2026-03"
    assert last_complete_period(dt.date(2026, 1, 5)) == "2025-12"


def test_missing_feeds_names_every_feed_without_a_file(tmp_path):
    (tmp_path / "deals" / "2026-02-01").mkdir(parents=True)
    (tmp_path / "deals" / "2026-02-01" / "d.csv").write_text("x\n")
    (tmp_path / "partners" / "2026-02-01").mkdir(parents=True)  # folder without a file
    missing = missing_feeds(tmp_path, "2026-02-01")
    assert "deals" not in missing
    assert set(missing) == {"partners", "engagements", "activities", "satisfaction", "fx_rates"}


# --------------------------------------------------------------------------- DAG integrity

INTEGRITY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    DagBag(sys.argv[1])  # warm-up: byte-compiles the imports once, as a running dag processor has
    bag = DagBag(sys.argv[1])
    report = {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "parse_seconds": {s.file: s.duration.total_seconds() for s in bag.dagbag_stats},
        "dags": {
            dag_id: {
                "tags": sorted(dag.tags),
                "retries": {t.task_id: t.retries for t in dag.tasks},
                "exponential": {t.task_id: t.retry_exponential_backoff for t in dag.tasks},
                "callbacks": {t.task_id: bool(t.on_failure_callback) for t in dag.tasks},
                "pools": {t.task_id: t.pool for t in dag.tasks},
                "operators": {t.task_id: type(t).__name__ for t in dag.tasks},
                "doc_md": bool(dag.doc_md),
                "tasks": sorted(t.task_id for t in dag.tasks),
            }
            for dag_id, dag in bag.dags.items()
        },
    }
    print("INTEGRITY " + json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def integrity(tmp_path_factory):
    home = tmp_path_factory.mktemp("integrity")
    settings = _settings(home / "cosell")
    env = airflow_environment(settings, home / "inbox", airflow_home=home / "airflow")
    prepare_dbt_manifest(env)
    process = subprocess.run(
        [sys.executable, "-c", INTEGRITY_SCRIPT, str(DAGS_DIR)], env=env, capture_output=True, text=True, check=False
    )
    lines = [line for line in process.stdout.splitlines() if line.startswith("INTEGRITY ")]
    assert lines, process.stderr[-3000:]
    return json.loads(lines[-1][len("INTEGRITY "):])


def test_dagbag_imports_without_errors(integrity):
    assert integrity["import_errors"] == {}
    assert set(integrity["dags"]) == {NIGHTLY_DAG, PAYOUTS_DAG}


def test_every_dag_has_tags_docs_retries_and_a_failure_callback(integrity):
    for dag_id, dag in integrity["dags"].items():
        assert dag["tags"], dag_id
        assert dag["doc_md"], dag_id
        for task_id, retries in dag["retries"].items():
            assert retries >= 2, f"{dag_id}.{task_id} retries {retries}"
            assert dag["exponential"][task_id], f"{dag_id}.{task_id} has no exponential backoff"
            assert dag["callbacks"][task_id], f"{dag_id}.{task_id} has no on_failure_callback"


def test_every_task_that_opens_the_warehouse_is_in_the_one_slot_pool(integrity):
    nightly = integrity["dags"][NIGHTLY_DAG]
    for task_id, pool in nightly["pools"].items():
        if task_id in ("business_date", "wait_for_extracts", "report"):  # they never open the warehouse
            continue
        if nightly["operators"][task_id] == "EmptyOperator":  # Cosmos's stand-in for an ephemeral model
            continue
        assert pool == "cosell_warehouse", task_id
    assert set(integrity["dags"][PAYOUTS_DAG]["pools"].values()) == {"cosell_warehouse"}


def test_nightly_shows_each_dbt_model_and_its_tests_as_tasks(integrity):
    tasks = integrity["dags"][NIGHTLY_DAG]["tasks"]
    for step in ("business_date", "wait_for_extracts", "land", "raw_gate", "marts_gate", "publish", "report", "dbt_docs"):
        assert step in tasks
    # TestBehavior.BUILD: one `dbt build` task per model runs the model and then its own tests;
    # tests that span several models run as their own tasks after all their parents.
    assert "dbt_build.fct_cosell_deals_model_build" in tasks
    assert "dbt_build.assert_coverage_counts_every_deal_test" in tasks


def test_dag_files_parse_in_under_a_second(integrity):
    assert set(integrity["parse_seconds"]) == {"cosell_nightly.py", "cosell_payouts.py"}
    for name, seconds in integrity["parse_seconds"].items():
        assert seconds < MAX_PARSE_SECONDS, f"{name} took {seconds:.2f}s to parse"


# --------------------------------------------------------------------------- end to end


def _snapshot(warehouse: Path) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent checksum of every table of schemas raw and marts."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in ('raw', 'marts') order by 1, 2"
        ).fetchall()
        snapshot = {}
        for schema, name in tables:
            count, checksum = con.execute(
                f'select count(*), coalesce(sum(hash(t::varchar)::hugeint), 0) from "{schema}"."{name}" t'
            ).fetchone()
            snapshot[f"{schema}.{name}"] = (count, int(checksum))
        return snapshot
    finally:
        con.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in (".csv", ".json")}


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    from cosell.synthetic.generate import generate

    root = tmp_path_factory.mktemp("e2e")
    settings = _settings(root / "cosell")
    inbox = root / "inbox"
    generate(inbox, **SAMPLE)
    env = airflow_environment(settings, inbox, airflow_home=root / "airflow")
    prepare_airflow(env)
    two_am = dt.datetime.fromisoformat(BUSINESS_DATE).replace(tzinfo=dt.UTC) + dt.timedelta(days=1, hours=2)

    progress: list[str] = []
    first = run_dag(env, NIGHTLY_DAG, logical_date=two_am, progress=progress.append)  # business date from the logical date
    after_first = _snapshot(settings.warehouse) if settings.warehouse.exists() else {}
    payouts = run_dag(env, PAYOUTS_DAG)  # no logical date, as when the Asset triggers it
    payout_files = _files(settings.home / "payouts" / PERIOD) if (settings.home / "payouts" / PERIOD).is_dir() else {}
    second = run_dag(env, NIGHTLY_DAG, business_date=BUSINESS_DATE, logical_date=two_am + dt.timedelta(minutes=5))
    after_second = _snapshot(settings.warehouse)
    payouts_again = run_dag(env, PAYOUTS_DAG, period=PERIOD)
    return {
        "root": root,
        "env": env,
        "settings": settings,
        "first": first,
        "second": second,
        "payouts": payouts,
        "payouts_again": payouts_again,
        "after_first": after_first,
        "after_second": after_second,
        "payout_files": payout_files,
        "progress": progress,
    }


@pytest.mark.slow
def test_a_person_waiting_sees_the_tasks_progress(e2e):
    lines, total = e2e["progress"], len(e2e["first"].tasks)
    assert len(lines) >= 3, lines
    assert f"] {total}/{total} tasks done" in lines[-1], lines[-1]
    assert any("running" in line for line in lines)
    done = [int(line.split("] ", 1)[1].split("/", 1)[0]) for line in lines]
    assert done == sorted(done)  # the bar only moves forward


@pytest.mark.slow
def test_nightly_dag_runs_every_task_and_builds_the_marts(e2e):
    first = e2e["first"]
    assert first.state == "success", {t: s for t, s in first.tasks.items() if s != "success"}
    assert set(first.tasks.values()) == {"success"}
    assert any(t.startswith("dbt_build.") and t.endswith("_model_build") for t in first.tasks)
    snapshot = e2e["after_first"]
    settings = e2e["settings"]
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        # fct_cosell_deals holds the live partner deals (latest state not deleted, motion not DIRECT).
        live_deals = con.execute(
            "select count(*) from (select deal_id, arg_max(is_deleted, updated_at) as deleted, "
            "arg_max(motion, updated_at) as motion from raw.deals group by deal_id) "
            "where not deleted and motion <> 'DIRECT'"
        ).fetchone()[0]
        as_of = con.execute("select as_of_date from marts.warehouse_as_of").fetchone()[0]
    finally:
        con.close()
    assert snapshot["marts.fct_cosell_deals"][0] == live_deals > 0
    assert snapshot["marts.dim_partner"][0] == SAMPLE["partners"]
    assert str(as_of) == BUSINESS_DATE
    assert settings.published.exists()
    assert _asset_events(e2e["env"], first.run_id) == 1
    published = duckdb.connect(str(settings.published), read_only=True)
    try:
        assert published.execute("select count(*) from marts.fct_cosell_deals").fetchone()[0] == live_deals
    finally:
        published.close()
    report = (settings.reports_dir / "program_report.html").read_text(encoding="utf-8")
    assert f"Data as of <strong>{BUSINESS_DATE}</strong>" in report
    assert "fct_cosell_deals" in (settings.reports_dir / "dbt_docs" / "index.html").read_text(encoding="utf-8")


PAYOUT_TOTAL_SQL = """
with p as (select timestamp '2026-01-01' as s, timestamp '2026-02-01' as e),
tier as (
    select v.partner_id,
           coalesce(max_by(v.partner_tier, v.updated_at) filter (where v.updated_at < p.e),
                    min_by(v.partner_tier, v.updated_at)) as tier
    from marts.dim_partner_versions v, p group by v.partner_id
),
deals as (select d.*, dp.partner_type, t.tier from marts.fct_cosell_deals d
          join marts.dim_partner dp using (partner_id) join tier t using (partner_id)),
accelerator as (
    select partner_id, least(sum(round_even(amount_usd * case tier when 'PLATINUM' then 0.08 when 'GOLD' then 0.06
                                  when 'SILVER' then 0.05 else 0.04 end * 0.25, 2)), 25000) as usd
    from deals, p
    where partner_type in ('VAR', 'SI', 'MSP', 'DISTRIBUTOR') and is_won and closed_at >= p.s and closed_at < p.e
      and is_cosell_supported and first_support_at < closed_at
    group by partner_id
),
pipeline as (
    select least(round_even(amount_usd * 0.01, 2), 5000) as usd from deals, p
    where partner_type in ('ISV', 'REFERRAL') and sourced_by = 'PARTNER'
      and technical_validation_at >= p.s and technical_validation_at < p.e
),
new_logo as (
    select 2500.00 as usd from deals, p
    where partner_type in ('ISV', 'REFERRAL') and sourced_by = 'PARTNER' and is_won and is_new_logo
      and closed_at >= p.s and closed_at < p.e
)
select (select coalesce(sum(usd), 0) from accelerator) + (select coalesce(sum(usd), 0) from pipeline)
       + (select coalesce(sum(usd), 0) from new_logo)
"""


@pytest.mark.slow
def test_payout_dag_drafts_the_last_complete_month_with_the_total_of_the_marts(e2e):
    assert e2e["payouts"].state == "success", e2e["payouts"].tasks
    folder = e2e["settings"].home / "payouts" / PERIOD
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "DRAFT"
    assert manifest["as_of_date"] == BUSINESS_DATE
    with (folder / "partner_summary.csv").open(newline="") as handle:
        file_total = sum((Decimal(row["total_usd"]) for row in csv.DictReader(handle)), Decimal("0"))
    con = duckdb.connect(str(e2e["settings"].warehouse), read_only=True)
    try:
        sql_total = Decimal(str(con.execute(PAYOUT_TOTAL_SQL).fetchone()[0])).quantize(Decimal("0.01"))
    finally:
        con.close()
    assert file_total == sql_total
    assert Decimal(manifest["total_usd"]) == file_total


@pytest.mark.slow
def test_rerunning_a_date_changes_no_table_and_no_payout_file(e2e):
    assert e2e["second"].state == "success", {t: s for t, s in e2e["second"].tasks.items() if s != "success"}
    assert e2e["after_second"] == e2e["after_first"]
    assert e2e["payouts_again"].state == "success"
    folder = e2e["settings"].home / "payouts" / PERIOD
    assert _files(folder) == e2e["payout_files"]


@pytest.mark.slow
def test_a_failing_gate_stops_before_publish_and_payouts(e2e, tmp_path):
    from cosell.contract import FEEDS
    from cosell.synthetic.generate import generate

    settings = _settings(tmp_path / "cosell")
    inbox = tmp_path / "inbox"
    generate(inbox, **{**SAMPLE, "days": 5})
    date = (SAMPLE["start"] + dt.timedelta(days=4)).isoformat()
    # A deals file without the required column `amount`: quarantined, so the raw gate fails.
    columns = [c for c in FEEDS["deals"].column_names if c != "amount"]
    (inbox / "deals" / date / "broken.csv").write_text(",".join(columns) + "\n", encoding="utf-8")
    env = airflow_environment(settings, inbox, airflow_home=e2e["root"] / "airflow")  # metadata DB already migrated

    run = run_dag(env, NIGHTLY_DAG, business_date=date, logical_date=dt.datetime(2026, 3, 1, 2, tzinfo=dt.UTC))

    assert run.state == "failed"
    assert run.tasks["land"] == "success"
    assert run.tasks["raw_gate"] == "failed"
    assert run.tasks["publish"] in ("upstream_failed", "skipped")
    assert not any(s == "success" for t, s in run.tasks.items() if t.startswith("dbt_build."))
    assert not settings.published.exists()
    records = list((settings.reports_dir / "failures").glob("*cosell_nightly__raw_gate.txt"))
    assert len(records) == 1
    record = records[0].read_text().strip()
    assert "\n" not in record and "raw_gate" in record and "no_quarantined_file" in record
    # No asset event, so the payout DAG is not triggered by this run.
    assert _asset_events(env, run.run_id) == 0


def _asset_events(env: dict[str, str], run_id: str) -> int:
    """Events of the published-warehouse Asset emitted by one run (read from the Airflow metadata DB)."""
    import sqlite3

    db = sqlite3.connect(str(Path(env["AIRFLOW_HOME"]) / "airflow.db"))
    try:
        return db.execute(
            "select count(*) from asset_event e join asset a on a.id = e.asset_id where a.name = ? and e.source_run_id = ?",
            (PUBLISHED_ASSET_NAME, run_id),
        ).fetchone()[0]
    finally:
        db.close()


@pytest.mark.slow
def test_the_sensor_times_out_naming_the_missing_feeds(tmp_path):
    from cosell.synthetic.generate import generate

    settings = _settings(tmp_path / "cosell")
    inbox = tmp_path / "inbox"
    generate(inbox, **{**SAMPLE, "days": 6})
    date = (SAMPLE["start"] + dt.timedelta(days=5)).isoformat()  # every feed delivers on every date...
    for feed in ("partners", "fx_rates"):  # ...but two feeds' files for this date have not arrived
        for extract in (inbox / feed / date).iterdir():
            extract.unlink()
    env = airflow_environment(settings, inbox, airflow_home=tmp_path / "airflow")
    env.update({"COSELL_INBOX_TIMEOUT": "2", "COSELL_INBOX_POKE_INTERVAL": "1"})
    prepare_airflow(env)

    run = run_dag(env, NIGHTLY_DAG, business_date=date, logical_date=dt.datetime(2026, 3, 2, 2, tzinfo=dt.UTC))

    assert run.state == "failed"
    assert run.tasks["wait_for_extracts"] == "failed"
    assert run.tasks["land"] == "upstream_failed"
    assert not settings.warehouse.exists()
    records = list((settings.reports_dir / "failures").glob("*wait_for_extracts.txt"))
    assert len(records) == 1
    record = records[0].read_text()
    assert "AirflowSensorTimeout" in record and "partners, fx_rates" in record and date in record
