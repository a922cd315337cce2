"""Airflow DAGs: the DAG integrity test, and the nightly and payout DAGs run end to end with dag.test().

The end-to-end runs are `cosell demo`'s own (the sample, the nightly DAG, the payout DAG), then the
nightly DAG again for the same date, then failing runs on the same metadata database.

Airflow reads AIRFLOW_HOME when it is first imported, so every Airflow step runs in a subprocess
whose AIRFLOW_HOME lies under tmp_path (cosell.orchestration.airflow_demo.airflow_environment): the tests never
touch ~/airflow, and this process never imports Airflow.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import sqlite3
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
    airflow_demo,
    airflow_environment,
    run_dag,
)
from cosell.orchestration.airflow_tasks import (
    PUBLISHED_ASSET_NAME,
    business_date_for,
    missing_feeds,
)
from cosell.orchestration.nightly import last_complete_period, parts

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
                "downstream": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
                "outlets": {t.task_id: [a.name for a in t.outlets] for t in dag.tasks},
                "timetable": type(dag.timetable).__name__,
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
        assert pool == "cosell_warehouse", task_id
    assert set(integrity["dags"][PAYOUTS_DAG]["pools"].values()) == {"cosell_warehouse"}


def _runs_in_order(downstream: dict[str, list[str]], order: list[str]) -> bool:
    """Whether the DAG's tasks are exactly `order` and each is directly upstream of the next (one order only)."""
    return sorted(downstream) == sorted(order) and all(b in downstream[a] for a, b in zip(order, order[1:]))


def test_the_nightly_chain_is_the_steps_cosell_run_runs(integrity):
    nightly = integrity["dags"][NIGHTLY_DAG]
    # cosell.orchestration.nightly.STEPS declares the parts once: a part added to it, or a task added to the
    # DAG by hand, breaks this equality.
    declared = [part.task_id for _step, _number, part in parts()]
    order = ["business_date", "wait_for_extracts", "land", "pending_work", *declared]
    assert _runs_in_order(nightly["downstream"], order), nightly["downstream"]
    assert declared.index("draft_payouts") < declared.index("publish") < declared.index("report")
    assert nightly["outlets"]["publish"] == [PUBLISHED_ASSET_NAME]


def test_nightly_builds_the_marts_in_one_dbt_task(integrity):
    nightly = integrity["dags"][NIGHTLY_DAG]
    assert [t for t in nightly["tasks"] if "dbt" in t] == ["dbt_build", "dbt_docs"]
    assert nightly["pools"]["dbt_build"] == "cosell_warehouse"
    assert not any("Dbt" in operator for operator in nightly["operators"].values())  # no Cosmos task left


def test_the_payout_dag_runs_by_hand_only(integrity):
    # the nightly drafts the last complete month before it publishes (cosell.orchestration.nightly.STEPS)
    assert integrity["dags"][PAYOUTS_DAG]["timetable"] == "NullTimetable"


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


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _demo_metadata(airflow_home: Path) -> dict:
    """What the UI shows after the demo: each DAG's paused flag and every run with its dates, conf and note."""
    con = sqlite3.connect(f"file:{airflow_home / 'airflow.db'}?mode=ro", uri=True)
    try:
        return {
            "paused": dict(con.execute("select dag_id, is_paused from dag")),
            "runs": con.execute(
                "select r.dag_id, r.logical_date, r.start_date, r.end_date, r.conf, n.content from dag_run r "
                "left join dag_run_note n on n.dag_run_id = r.id order by r.id").fetchall(),
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """`cosell demo` on the sample (the nightly DAG for its last date, then the payout DAG), then the date again.

    The demo's nightly run takes its business date from the run's conf; the rerun has only a logical date,
    2 a.m. the day after, and must take the same business date from it.
    """
    root = tmp_path_factory.mktemp("e2e")
    settings = _settings(root / "cosell")
    folder = settings.home / "payouts" / PERIOD
    progress: list[str] = []
    between: dict = {}

    def on_progress(line: str) -> None:
        progress.append(line)
        if line.startswith(f"[4/4] {PAYOUTS_DAG}") and line.endswith("..."):  # the nightly is done, payouts next
            between["payout_files"] = _files(folder) if folder.is_dir() else {}  # drafted by the nightly
            between["after_first"] = _snapshot(settings.warehouse) if settings.warehouse.exists() else {}

    before = dt.datetime.now(dt.UTC)
    demo = airflow_demo(settings, sample=SAMPLE, progress=on_progress)
    after = dt.datetime.now(dt.UTC)
    airflow_home = Path(demo.airflow_home)
    metadata = _demo_metadata(airflow_home)
    first, payouts = demo.runs
    first_log = (airflow_home / "logs" / f"dag_test_{NIGHTLY_DAG}.log").read_text(encoding="utf-8")
    start = next(i for i, line in enumerate(progress) if line.startswith(f"[3/4] {NIGHTLY_DAG}"))
    end = next(i for i in range(start + 1, len(progress)) if progress[i].startswith("[3/4]"))
    payout_files_again = _files(folder) if folder.is_dir() else {}
    env = airflow_environment(settings, demo.inbox, airflow_home=airflow_home)
    two_am = dt.datetime.fromisoformat(BUSINESS_DATE).replace(tzinfo=dt.UTC) + dt.timedelta(days=1, hours=2)
    second = run_dag(env, NIGHTLY_DAG, logical_date=two_am)  # business date from the logical date
    after_second = _snapshot(settings.warehouse)
    return {
        "airflow_home": airflow_home,
        "env": env,
        "settings": settings,
        "demo": demo,
        "demo_window": (before, after),
        "metadata": metadata,
        "first": first,
        "first_log": first_log,
        "second": second,
        "payouts": payouts,
        "after_first": between.get("after_first", {}),
        "after_second": after_second,
        "payout_files": between.get("payout_files", {}),
        "payout_files_again": payout_files_again,
        "progress": progress[start + 1:end],  # the nightly run's progress bar lines
    }


@pytest.mark.slow
def test_the_demo_leaves_runs_with_their_real_start_and_duration_and_the_dags_paused(e2e):
    """What `cosell demo` leaves in Airflow for a new user opening the UI: honest runs, DAGs paused, a note on each."""
    demo, (before, after), metadata = e2e["demo"], e2e["demo_window"], e2e["metadata"]
    assert [run.state for run in demo.runs] == ["success", "success"]
    assert metadata["paused"] == {NIGHTLY_DAG: 1, PAYOUTS_DAG: 1}  # docs/decisions.md: the sample's dates are past
    runs = metadata["runs"]
    assert [r[0] for r in runs] == [NIGHTLY_DAG, PAYOUTS_DAG]
    for dag_id, logical, started, ended, _conf, note in runs:
        started, ended = _moment(started), _moment(ended)
        assert before <= started <= ended <= after, (dag_id, started, ended)  # the UI's duration is end - start
        assert logical is None, (dag_id, logical)  # no past logical date posing as the run's start
        assert note and "cosell demo" in note and "paused" in note, note
    assert BUSINESS_DATE in runs[0][5] and BUSINESS_DATE in str(runs[0][4])  # the nightly run says which date
    seconds = {r.dag_id: r.seconds for r in demo.runs}
    nightly_start, nightly_end = _moment(runs[0][2]), _moment(runs[0][3])
    assert (nightly_end - nightly_start).total_seconds() <= seconds[NIGHTLY_DAG] + 1


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
    # one dbt process; its log names each model as dbt builds it, then a line per model with its tests
    assert re.search(r"START sql \w+ model marts\.fct_cosell_deals", e2e["first_log"])
    assert re.search(r"OK created sql \w+ model marts\.fct_cosell_deals", e2e["first_log"])
    assert "model fct_cosell_deals: success in" in e2e["first_log"]
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


@pytest.mark.slow
def test_the_report_the_nightly_writes_shows_that_nights_payout_lines(e2e):
    settings = e2e["settings"]
    manifest = json.loads((settings.home / "payouts" / PERIOD / "manifest.json").read_text())
    assert manifest["as_of_date"] == BUSINESS_DATE  # drafted by the first nightly run, before its publish
    published = duckdb.connect(str(settings.published), read_only=True)
    try:
        lines, total = published.execute(
            "select count(*), sum(amount_usd) from payouts.lines where period = ?", [PERIOD]).fetchone()
    finally:
        published.close()
    assert lines == manifest["files"]["payout_lines.csv"]["rows"] > 0
    assert Decimal(str(total)) == Decimal(manifest["total_usd"])
    report = (settings.reports_dir / "program_report.html").read_text(encoding="utf-8")
    assert "no payout period computed yet" not in report
    assert f"{PERIOD} (draft)" in report


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
    # the payout DAG by hand on the same data rewrites the nightly's draft byte for byte
    assert e2e["payout_files"] and e2e["payout_files_again"] == e2e["payout_files"]


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
    env = airflow_environment(settings, inbox, airflow_home=e2e["airflow_home"])  # metadata DB already migrated

    run = run_dag(env, NIGHTLY_DAG, business_date=date, logical_date=dt.datetime(2026, 3, 1, 2, tzinfo=dt.UTC))

    assert run.state == "failed"
    assert run.tasks["land"] == "success"
    assert run.tasks["raw_gate"] == "failed"
    assert run.tasks["publish"] in ("upstream_failed", "skipped")
    assert run.tasks["dbt_build"] in ("upstream_failed", "skipped")
    assert not settings.published.exists()
    records = list((settings.reports_dir / "failures").glob("*cosell_nightly__raw_gate.txt"))
    assert len(records) == 1
    record = records[0].read_text().strip()
    assert "\n" not in record and "raw_gate" in record and "no_quarantined_file" in record
    # No asset event, so the payout DAG is not triggered by this run.
    assert _asset_events(env, run.run_id) == 0


@pytest.mark.slow
def test_a_failing_dbt_test_fails_the_build_task_naming_the_test_and_its_rows(e2e, tmp_path):
    from extracts import csv_text, row, write

    from cosell.landing.load import land
    from cosell.orchestration.nightly import record
    from cosell.synthetic.generate import generate

    settings = _settings(tmp_path / "cosell")
    inbox = tmp_path / "inbox"
    generate(inbox, **{**SAMPLE, "days": 5})
    date = (SAMPLE["start"] + dt.timedelta(days=4)).isoformat()
    # A deal of a partner that was never delivered: it lands (each row is valid) and the batch
    # is accepted by hand (docs/scheduling.md), so dbt's relationships test is what stops it.
    stamp = f"{date}T10:00:00Z"
    write(inbox, "deals", date, "ghost.csv", csv_text([row(
        "deals", deal_id="D_GHOST", partner_id="P_GHOST", registered_at=stamp, updated_at=stamp)]))
    load_id = land(inbox, settings).load_id
    record(settings, "raw_gate", [load_id])
    env = airflow_environment(settings, inbox, airflow_home=e2e["airflow_home"])  # metadata DB already migrated

    run = run_dag(env, NIGHTLY_DAG, business_date=date, logical_date=dt.datetime(2026, 3, 3, 2, tzinfo=dt.UTC))

    assert run.state == "failed"
    assert run.tasks["raw_gate"] == "success"  # nothing pending it
    assert run.tasks["dbt_build"] == "failed"
    assert run.tasks["marts_gate"] == "upstream_failed" and run.tasks["publish"] == "upstream_failed"
    records = list((settings.reports_dir / "failures").glob("*cosell_nightly__dbt_build.txt"))
    assert len(records) == 1  # failed at once: a failing test is not retried
    record_text = records[0].read_text().strip()
    assert "try 1" in record_text and "AirflowFailException" in record_text
    assert "dbt build failed: test relationships_fct_cosell_deals_partner_id" in record_text
    assert "from_field=P_GHOST" in record_text
    assert not settings.published.exists()
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
def test_the_sensor_times_out_naming_the_missing_feeds(e2e, tmp_path):
    from cosell.synthetic.generate import generate

    settings = _settings(tmp_path / "cosell")
    inbox = tmp_path / "inbox"
    generate(inbox, **{**SAMPLE, "days": 6})
    date = (SAMPLE["start"] + dt.timedelta(days=5)).isoformat()  # every feed delivers on every date...
    for feed in ("partners", "fx_rates"):  # ...but two feeds' files for this date have not arrived
        for extract in (inbox / feed / date).iterdir():
            extract.unlink()
    env = airflow_environment(settings, inbox, airflow_home=e2e["airflow_home"])  # metadata DB already migrated
    env.update({"COSELL_INBOX_TIMEOUT": "2", "COSELL_INBOX_POKE_INTERVAL": "1"})

    run = run_dag(env, NIGHTLY_DAG, business_date=date, logical_date=dt.datetime(2026, 3, 2, 2, tzinfo=dt.UTC))

    assert run.state == "failed"
    assert run.tasks["wait_for_extracts"] == "failed"
    assert run.tasks["land"] == "upstream_failed"
    assert not settings.warehouse.exists()
    records = list((settings.reports_dir / "failures").glob("*wait_for_extracts.txt"))
    assert len(records) == 1
    record = records[0].read_text()
    assert "AirflowSensorTimeout" in record and "partners, fx_rates" in record and date in record
