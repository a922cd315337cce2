"""The Airflow demo: sample extracts, then the nightly DAG and the payout DAG run end to end with dag.test().

Everything Airflow needs lives under <COSELL_HOME>/airflow (SQLite metadata, logs, Cosmos cache);
the DAGs are the project's dags/ folder. Airflow reads AIRFLOW_HOME when it is first imported, so
every Airflow step runs in a subprocess started with the environment of `airflow_environment`;
this module itself never imports Airflow outside `_run_dag` (the subprocess entry point).

    cosell demo                                         # the demo on the embedded default
    python -m cosell.orchestration.airflow_demo run-dag DAG_ID [--business-date D] [--period P] [--logical-date ISO]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cosell  # noqa: F401  (telemetry off)
from cosell.config import PROJECT_ROOT, Settings
from cosell.errors import CosellError
from cosell.orchestration.airflow_tasks import (
    TELEMETRY_OFF,
    WAREHOUSE_POOL,
    WAREHOUSE_POOL_DESCRIPTION,
    last_complete_period,
    payouts_dir,
    prepare_dbt_manifest,
)

DAGS_DIR = PROJECT_ROOT / "dags"
NIGHTLY_DAG = "cosell_nightly"
PAYOUTS_DAG = "cosell_payouts"
SAMPLE = {"seed": 7, "start": dt.date(2025, 9, 1), "days": 240, "partners": 150, "deals": 3000}  # 240 days: repeat windows (180 days) close
RESULT_MARK = "COSELL_DAG_RESULT "


# --------------------------------------------------------------------------- environment


def airflow_environment(settings: Settings, inbox: Path, airflow_home: Path | None = None) -> dict[str, str]:
    """The environment of every Airflow process of the demo: its own AIRFLOW_HOME, SQLite, no examples."""
    home = Path(airflow_home or settings.home / "airflow").resolve()
    env = dict(os.environ)
    env.update(TELEMETRY_OFF)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos_cache"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "COSELL_HOME": str(settings.home),
            "COSELL_WAREHOUSE": str(settings.warehouse),
            "COSELL_PUBLISHED": str(settings.published),
            "COSELL_DUCKDB_THREADS": str(settings.duckdb_threads),
            "COSELL_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
            "COSELL_MAX_REJECT_RATE": str(settings.max_reject_rate),
            "COSELL_INBOX": str(Path(inbox).resolve()),
            # The demo's extracts are all there: poke once, give up fast if a feed is missing.
            "COSELL_INBOX_POKE_INTERVAL": os.environ.get("COSELL_INBOX_POKE_INTERVAL", "5"),
            "COSELL_INBOX_TIMEOUT": os.environ.get("COSELL_INBOX_TIMEOUT", "30"),
        }
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(home / "pycache"))
    return env


def _airflow(env: dict[str, str], *args: str) -> str:
    process = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, check=False
    )
    if process.returncode != 0:
        lines = [line for line in (process.stderr + process.stdout).splitlines() if line.strip()]
        raise CosellError(f"`airflow {' '.join(args)}` failed: {lines[-1] if lines else 'no output'}")
    return process.stdout


def prepare_airflow(env: dict[str, str]) -> None:
    """`airflow db migrate` (SQLite under AIRFLOW_HOME), the warehouse pool, and the dbt manifest Cosmos renders."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    prepare_dbt_manifest(env)
    _airflow(env, "db", "migrate")
    _airflow(env, "pools", "set", WAREHOUSE_POOL, "1", WAREHOUSE_POOL_DESCRIPTION)


# --------------------------------------------------------------------------- runs


@dataclass
class DagRunResult:
    dag_id: str
    run_id: str
    state: str
    tasks: dict[str, str]
    seconds: float
    conf: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        counts: dict[str, int] = {}
        for state in self.tasks.values():
            counts[state] = counts.get(state, 0) + 1
        shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"{self.dag_id} {self.conf or ''} {self.state} in {self.seconds:.0f}s ({len(self.tasks)} tasks: {shown})"


def task_states(env: dict[str, str], dag_id: str) -> dict[str, str]:
    """task_id -> state of the latest run of dag_id, read from the SQLite metadata database (read-only)."""
    import sqlite3

    database = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").removeprefix("sqlite:///")
    if not database or not Path(database).exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)
        try:
            rows = con.execute(
                "SELECT ti.task_id, coalesce(ti.state, 'waiting') FROM task_instance ti JOIN dag_run dr "
                "ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id WHERE dr.id = "
                "(SELECT max(id) FROM dag_run WHERE dag_id = ?)", [dag_id]).fetchall()
        finally:
            con.close()
    except sqlite3.Error:  # the run is writing; try again at the next poll
        return {}
    return dict(rows)


DONE = ("success", "failed", "upstream_failed", "skipped")


def _progress_line(states: dict[str, str], started: float) -> str:
    done = sorted(t for t, s in states.items() if s in DONE)
    running = sorted(t for t, s in states.items() if s == "running")
    width = 30
    filled = round(width * len(done) / len(states)) if states else 0
    now = f"; running {', '.join(running)}" if running else ""
    return f"      [{'#' * filled}{'.' * (width - filled)}] {len(done)}/{len(states)} tasks done " \
           f"({time.monotonic() - started:.0f}s){now}"


def run_dag(
    env: dict[str, str],
    dag_id: str,
    business_date: str | None = None,
    period: str | None = None,
    logical_date: dt.datetime | None = None,
    progress=None,
    poll_seconds: float = 5.0,
) -> DagRunResult:
    """One dag.test() run in a subprocess with `env`; returns the run state and every task's state.

    With `progress`, a line (a bar of tasks done, and the tasks running) is reported whenever a task changes state.
    """
    command = [sys.executable, "-m", "cosell.orchestration.airflow_demo", "run-dag", dag_id]
    if business_date:
        command += ["--business-date", business_date]
    if period:
        command += ["--period", period]
    if logical_date:
        command += ["--logical-date", logical_date.isoformat()]
    log_file = Path(env["AIRFLOW_HOME"]) / "logs" / f"dag_test_{dag_id}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    err_file = log_file.with_suffix(".stderr.log")
    started = time.monotonic()
    with open(log_file, "w", encoding="utf-8") as out, open(err_file, "w", encoding="utf-8") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        shown: tuple = ()
        while process.poll() is None:
            try:
                process.wait(timeout=poll_seconds)
            except subprocess.TimeoutExpired:
                pass
            if progress is not None:
                states = task_states(env, dag_id)
                key = (sum(s in DONE for s in states.values()), sorted(t for t, s in states.items() if s == "running"))
                if states and key != shown:
                    progress(_progress_line(states, started))
                    shown = key
    seconds = time.monotonic() - started
    stdout = log_file.read_text(encoding="utf-8")
    stderr = err_file.read_text(encoding="utf-8")
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            data = json.loads(line[len(RESULT_MARK):])
            return DagRunResult(dag_id, data["run_id"], data["state"], data["tasks"], seconds, data["conf"])
    lines = [line for line in stderr.splitlines() if line.strip()]
    raise CosellError(f"dag.test of {dag_id} did not finish (log {log_file}): {lines[-1] if lines else 'no output'}")


def _run_dag(dag_id: str, business_date: str | None, period: str | None, logical_date: str | None) -> None:
    """Subprocess side of run_dag: AIRFLOW_HOME is already set, so Airflow may be imported now."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS_DIR))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags[dag_id]
    conf: dict[str, Any] = {}
    if business_date:
        conf["business_date"] = business_date
    if period:
        conf["period"] = period
    when = dt.datetime.fromisoformat(logical_date) if logical_date else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    run = dag.test(logical_date=when, run_conf=conf or None)
    tasks = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    state = str(getattr(run.state, "value", run.state))
    print(RESULT_MARK + json.dumps({"run_id": run.run_id, "state": state, "tasks": tasks, "conf": conf}), flush=True)


# --------------------------------------------------------------------------- demo


@dataclass
class AirflowDemoSummary:
    lines: list[str]
    inbox: Path
    warehouse: Path
    published: Path
    payouts: Path
    reports: Path
    airflow_home: Path
    runs: list[DagRunResult]

    def describe(self) -> str:
        return "\n".join(
            self.lines
            + [
                f"sample extracts:   {self.inbox}",
                f"warehouse:         {self.warehouse}",
                f"published for BI:  {self.published}",
                f"payout files:      {self.payouts}",
                f"reports:           {self.reports}",
                f"airflow home:      {self.airflow_home} (logs in logs/, metadata in airflow.db)",
            ]
        )


def _say(line: str) -> None:
    print(line, flush=True)


def gate_figures(settings: Settings, stage: str) -> str:
    """`raw gate: 25 expectations, 0 failed, 2 warnings` from the gate's gate_result.json."""
    from cosell.gates.runner import docs_dir

    path = docs_dir(settings, stage) / "gate_result.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{stage} gate: no result"
    return (f"{stage} gate: {data.get('expectations', '?')} expectations, {len(data.get('failures', []))} failed, "
            f"{len(data.get('warnings', []))} warnings")


def nightly_figures(settings: Settings) -> list[str]:
    """What a nightly run left: the gates' counts, the published copy, the reports."""
    import duckdb

    lines = [gate_figures(settings, "raw"), gate_figures(settings, "marts")]
    try:
        con = duckdb.connect(str(settings.published), read_only=True)
        try:
            tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name IN ('marts', 'payouts')"
                                 ).fetchone()[0]
            as_of = con.execute("SELECT max(as_of_date) FROM meta.publication").fetchone()[0]
        finally:
            con.close()
        lines.append(f"published {tables} tables as of {as_of} to {settings.published}")
    except duckdb.Error:
        lines.append(f"nothing published at {settings.published}")
    lines.append(f"program report {settings.reports_dir / 'program_report.html'}, dbt docs "
                 f"{settings.reports_dir / 'dbt_docs' / 'index.html'}")
    return lines


def payout_figures(folder: Path) -> str:
    """`2026-03 DRAFT: 120 lines for 40 partners, total 1,234.56 USD` from the period's manifest."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"no payout files in {folder}"
    files = manifest.get("files", {})
    lines = files.get("payout_lines.csv", {}).get("rows", "?")
    partners = sum(1 for name in files if name.startswith("statements/"))
    total = manifest.get("total_usd", "?")
    shown = f"{float(total):,.2f}" if total not in (None, "?") else "?"
    return (f"payouts {manifest.get('period')} {manifest.get('status')}: {lines} lines for {partners} partners, "
            f"total {shown} USD, files in {folder}")


def airflow_demo(settings: Settings, sample: dict[str, Any] | None = None,
                 progress=_say) -> AirflowDemoSummary:
    """Sample extracts, then cosell_nightly for the sample's last date, then cosell_payouts.

    Each step reports as it ends (`progress`, a line with its figures and time), so a person waiting sees where
    the demo is; the summary at the end repeats the paths.
    """
    from cosell.synthetic.generate import generate

    sample = dict(SAMPLE if sample is None else sample)
    inbox = settings.home / "sample_inbox"
    started = time.monotonic()
    progress("[1/4] sample extracts ...")
    if inbox.is_dir():
        generated = f"reusing the sample extracts in {inbox} (the generator is deterministic)"
    else:
        partial = inbox.with_name(inbox.name + ".partial")  # a crash never leaves a half-written sample
        shutil.rmtree(partial, ignore_errors=True)
        generated = generate(partial, **sample).describe().replace(str(partial), str(inbox))
        partial.rename(inbox)
    progress(f"[1/4] {generated} ({time.monotonic() - started:.0f}s)")
    business_date = (sample["start"] + dt.timedelta(days=sample["days"] - 1)).isoformat()
    env = airflow_environment(settings, inbox)
    started = time.monotonic()
    progress("[2/4] Airflow metadata database, warehouse pool and the dbt manifest Cosmos renders ...")
    prepare_airflow(env)
    progress(f"[2/4] Airflow ready in {env['AIRFLOW_HOME']} ({time.monotonic() - started:.0f}s)")

    logical = dt.datetime.fromisoformat(business_date).replace(tzinfo=dt.UTC) + dt.timedelta(days=1, hours=2)
    progress(f"[3/4] {NIGHTLY_DAG} for business date {business_date}: land, gate, dbt build (a task per model), "
             f"gate, publish, reports (a few minutes) ...")
    nightly = run_dag(env, NIGHTLY_DAG, business_date=business_date, logical_date=logical, progress=progress)
    progress(f"[3/4] {nightly.describe()}")
    for line in nightly_figures(settings):
        progress(f"      {line}")
    if nightly.state != "success":
        failed = sorted(t for t, s in nightly.tasks.items() if s in ("failed", "upstream_failed"))
        raise CosellError(
            f"{NIGHTLY_DAG} {business_date} ended {nightly.state} (failed: {', '.join(failed)}); "
            f"see {settings.reports_dir / 'failures'} and {Path(env['AIRFLOW_HOME']) / 'logs'}"
        )
    progress(f"[4/4] {PAYOUTS_DAG}: the last complete month as a DRAFT ...")
    payouts = run_dag(env, PAYOUTS_DAG, progress=progress)
    if payouts.state != "success":
        raise CosellError(f"{PAYOUTS_DAG} ended {payouts.state}; see {settings.reports_dir / 'failures'}")
    period = last_complete_period(dt.date.fromisoformat(business_date))
    progress(f"[4/4] {payouts.describe()}")
    progress(f"      {payout_figures(payouts_dir(settings) / period)}")
    lines = [generated, nightly.describe(), payouts.describe()]
    return AirflowDemoSummary(
        lines,
        inbox,
        settings.warehouse,
        settings.published,
        payouts_dir(settings) / period,
        settings.reports_dir,
        Path(env["AIRFLOW_HOME"]),
        [nightly, payouts],
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the subprocess that run_dag starts (`cosell demo` is the demo's entry point)."""
    parser = argparse.ArgumentParser(prog="python -m cosell.orchestration.airflow_demo")
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run-dag", help="dag.test() one DAG (AIRFLOW_HOME must be set)")
    one.add_argument("dag_id")
    one.add_argument("--business-date")
    one.add_argument("--period")
    one.add_argument("--logical-date")
    args = parser.parse_args(argv)
    _run_dag(args.dag_id, args.business_date, args.period, args.logical_date)
    return 0


if __name__ == "__main__":
    sys.exit(main())
