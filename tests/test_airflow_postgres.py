"""The nightly DAG run once by a real Airflow scheduler with LocalExecutor on PostgreSQL (not dag.test()).

The production-like set-up of Airflow's docs: PostgreSQL as the metadata database (Debian's
server, started in a temporary folder on 127.0.0.1 and stopped by the test), LocalExecutor in the
scheduler, the dag processor parsing dags/, and the API server, whose execution API the task
processes report to (Airflow 3). Scheduler and API server share the JWT secret the execution
API's tokens are signed with. SQLite stays the embedded default of `cosell demo`.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import sys
import time

import duckdb
import psycopg2
import pytest
from processes import (
    airflow_side_ports,
    free_port,
    kill_marked,
    marked,
    new_marker,
    postgres,
    start,
    stop,
    wait_for_http,
    wait_until,
)

from cosell.config import PROJECT_ROOT, Settings
from cosell.orchestration.airflow_demo import (
    NIGHTLY_DAG,
    airflow_environment,
    prepare_airflow,
)

SAMPLE = {"seed": 11, "start": dt.date(2026, 1, 1), "days": 5, "partners": 12, "deals": 90}
BUSINESS_DATE = "2026-01-05"  # the sample's last date
RUN_TIMEOUT = 1200  # one task at a time, each a fresh task process; a dbt process per model


def _latest_two_am(now: dt.datetime) -> dt.datetime:
    """The nightly schedule's latest tick (02:00 UTC) at or before now."""
    tick = now.replace(hour=2, minute=0, second=0, microsecond=0)
    return tick if tick <= now else tick - dt.timedelta(days=1)


def _query(url: str, sql: str, *args) -> list[tuple]:
    con = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with con.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        con.close()


def _airflow(env: dict[str, str], *args: str) -> str:
    process = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                             check=False)
    assert process.returncode == 0, f"airflow {' '.join(args)}: {(process.stderr or process.stdout)[-2000:]}"
    return process.stdout


@pytest.mark.slow
def test_nightly_dag_run_by_the_scheduler_with_local_executor_on_postgresql(tmp_path):
    from cosell.synthetic.generate import generate

    settings = Settings.from_env({"COSELL_HOME": str(tmp_path / "cosell"), "COSELL_DUCKDB_THREADS": "2",
                                  "COSELL_DUCKDB_MEMORY_LIMIT": "2GB"})
    inbox = tmp_path / "inbox"
    generate(inbox, **SAMPLE)
    marker, pg_marker = new_marker(), new_marker()  # Airflow's processes, PostgreSQL's
    started_at = time.monotonic()
    with postgres(pg_marker) as url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = airflow_environment(settings, inbox, airflow_home=tmp_path / "airflow")
        env.update({
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",  # the DAG runs one task at a time; fewer idle worker processes
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            **airflow_side_ports(),  # another test's Airflow may run beside this one
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            "COSELL_INBOX_POKE_INTERVAL": "1",
            "COSELL_INBOX_TIMEOUT": "60",
        })
        prepare_airflow(env)  # dbt manifest, `airflow db migrate` (on PostgreSQL here), the warehouse pool
        components = []
        try:
            for name in ("api-server", "scheduler", "dag-processor"):
                components.append(start(name, [sys.executable, "-m", "airflow", name], env=env, cwd=PROJECT_ROOT,
                                        logs=tmp_path / "logs", marker=marker))
            logs = lambda: "\n\n".join(f"--- {c.name}\n{c.tail(25)}" for c in components)  # noqa: E731
            all_alive = lambda: all(c.alive() for c in components)  # noqa: E731
            wait_until("the dag processor has parsed cosell_nightly",
                       lambda: _query(url, "select 1 from dag where dag_id = %s", NIGHTLY_DAG), 180, all_alive, logs)
            # Keyed on the schedule's latest tick: unpausing would otherwise make the scheduler start that
            # tick's run too (catchup off), for yesterday's business date, which this inbox does not have.
            logical = _latest_two_am(dt.datetime.now(dt.UTC)).isoformat()
            _airflow(env, "dags", "trigger", NIGHTLY_DAG, "--logical-date", logical,
                     "--conf", json.dumps({"business_date": BUSINESS_DATE}))
            _airflow(env, "dags", "unpause", NIGHTLY_DAG)
            wait_for_http(f"{base}/api/v2/monitor/health", 120, all_alive, logs)

            def finished():
                rows = _query(url, "select state from dag_run where dag_id = %s", NIGHTLY_DAG)
                return rows if rows and all(r[0] in ("success", "failed") for r in rows) else None

            runs = wait_until("the nightly run finished", finished, RUN_TIMEOUT, all_alive, logs, every=2)
            tasks = dict(_query(url, "select ti.task_id, ti.state from task_instance ti join dag_run r "
                                     "on r.dag_id = ti.dag_id and r.run_id = ti.run_id where r.dag_id = %s",
                                NIGHTLY_DAG))
            run_seconds = time.monotonic() - started_at
        finally:
            ends = [stop(c) for c in components]
            left = kill_marked(marker)
        assert left == [], f"Airflow processes left running after the stop: {left}"
    assert marked(pg_marker) == []  # PostgreSQL stopped with the `with`

    assert [r[0] for r in runs] == ["success"], (runs, {t: s for t, s in tasks.items() if s != "success"})
    assert tasks and set(tasks.values()) == {"success"}, {t: s for t, s in tasks.items() if s != "success"}
    assert settings.published.exists()
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        loads, built, published = con.execute(
            "select count(*), count(built_at), count(published_at) from ops.run_ledger").fetchone()
    finally:
        con.close()
    assert loads > 0 and built == published == loads  # the run ledger: every load built and published
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        assert str(con.execute("select max(as_of_date) from meta.publication").fetchone()[0]) == BUSINESS_DATE
    finally:
        con.close()
    print(f"postgres + migrate + components + the nightly run by the scheduler: {run_seconds:.0f}s "
          f"({len(tasks)} tasks); stopped by {sorted(set(ends))}")
