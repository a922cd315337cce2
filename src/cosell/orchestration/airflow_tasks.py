"""What the Airflow DAGs call: the business date, the inbox sensor, failure records and thin task bodies.

The DAG files (dags/) only declare; every task body here calls the same package function as
the command line (`cosell land`, `cosell check`, `cosell publish` via the nightly run, `cosell
payouts run`), so a scheduled run and a run by hand cannot drift apart. This module is imported
when Airflow parses the DAG files: it imports nothing heavy at module level (no duckdb, dbt,
Great Expectations or pandas) and reads nothing but environment variables.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import cosell  # noqa: F401  (telemetry off before anything else is imported)
from cosell.config import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)

# Every task that opens the warehouse (landing, gates, each dbt node, publish, payouts) runs in
# this one-slot pool: DuckDB allows one writer per file and a second process cannot even open
# the file read-only while the writer holds it. `airflow_demo` and `ensure_pool` create it.
WAREHOUSE_POOL = "cosell_warehouse"
WAREHOUSE_POOL_DESCRIPTION = "one task at a time opens the DuckDB warehouse (one writer per file)"

# The Asset the nightly DAG emits when publish succeeds and the payout DAG is scheduled on.
PUBLISHED_ASSET_NAME = "cosell_published_warehouse"
PUBLISHED_ASSET_URI = "x-cosell://warehouse/published"  # x- scheme: a private, unnormalised URI

# Cosmos renders the dbt graph from this manifest (LoadMode.DBT_MANIFEST: no dbt process at
# parse time). `prepare_dbt_manifest()` writes it with `dbt parse`, keeping only the sections
# Cosmos reads (macros and docs are half the file, and json.loads of the whole took 0.4 s of
# the parse); deployments run it after every change to dbt/ (the demo and the tests do).
DBT_MANIFEST = DBT_PROJECT_DIR / "target" / "cosmos_manifest.json"
_COSMOS_MANIFEST_KEYS = ("metadata", "nodes", "sources", "exposures", "selectors")
DBT_PROFILE_NAME = "cosell"
DBT_TARGET_NAME = "warehouse"

# Telemetry off in the environment every task and every dbt process sees.
TELEMETRY_OFF = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "DBT_VERSION_CHECK": "False",
    "DO_NOT_TRACK": "1",
    "SCARF_ANALYTICS": "false",
    "GX_ANALYTICS_ENABLED": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


# --------------------------------------------------------------------------- configuration


def settings() -> Settings:
    """The settings a task runs with: read from the worker's environment when the task runs."""
    return Settings.from_env()


def inbox_dir(current: Settings | None = None, env: dict[str, str] | None = None) -> Path:
    """The inbox the nightly DAG lands from: COSELL_INBOX, else <COSELL_HOME>/inbox."""
    env = os.environ if env is None else env
    current = current or settings()
    return Path(env.get("COSELL_INBOX") or current.home / "inbox").resolve()


def dbt_executable() -> Path:
    """The dbt of the interpreter Airflow runs in (a venv's bin/ is often not on PATH)."""
    return Path(sys.executable).with_name("dbt")


def dbt_env() -> dict[str, str]:
    """Variables every dbt process of a Cosmos task gets on top of the worker's environment."""
    return dict(TELEMETRY_OFF)


# --------------------------------------------------------------------------- dates


def business_date_for(param: Any, logical_date: dt.datetime | None, run_after: dt.datetime | None) -> str:
    """The business date a nightly run works on (YYYY-MM-DD).

    The DAG param `business_date` wins when set. Otherwise the day before the run's logical date
    (a cron run at 02:00 UTC on the 2nd loads the extracts of the 1st); asset-triggered and some
    manual runs have no logical date, so the day before run_after is used.
    """
    if param not in (None, ""):
        text = str(param).strip()
        if not _DATE.fullmatch(text):
            raise ValueError(f"business_date {text!r} is not a date YYYY-MM-DD")
        return dt.date.fromisoformat(text).isoformat()
    moment = logical_date or run_after
    if moment is None:
        raise ValueError("run has neither a business_date param, a logical date nor run_after")
    return (moment.astimezone(dt.UTC).date() - dt.timedelta(days=1)).isoformat()


def last_complete_period(as_of: dt.date) -> str:
    """The latest calendar month (YYYY-MM) whose last day is on or before as_of.

    as_of is the warehouse as_of_date (data as of the end of that day), never the wall clock,
    so a rerun on the same data picks the same period.
    """
    if (as_of + dt.timedelta(days=1)).day == 1:
        return f"{as_of:%Y-%m}"
    previous = as_of.replace(day=1) - dt.timedelta(days=1)
    return f"{previous:%Y-%m}"


# --------------------------------------------------------------------------- inbox sensor


def feed_names() -> list[str]:
    from cosell.contract import FEEDS

    return list(FEEDS)


def missing_feeds(inbox: Path, business_date: str, feeds: list[str] | None = None) -> list[str]:
    """Feeds whose folder <inbox>/<feed>/<business_date>/ is absent or holds no file yet."""
    missing = []
    for feed in feeds or feed_names():
        folder = Path(inbox) / feed / business_date
        has_file = folder.is_dir() and any(
            entry.is_file() and not entry.name.startswith(".") for entry in folder.iterdir()
        )
        if not has_file:
            missing.append(feed)
    return missing


def _sensor_base():
    from airflow.sdk import BaseSensorOperator

    return BaseSensorOperator


def expected_feeds(business_date: str, missing_ok: Any = None, current: Settings | None = None) -> list[str]:
    """Feeds the delivery calendar (COSELL_DELIVERY_CALENDAR) expects on the date, less those forced as missing."""
    from cosell.orchestration.delivery import expected_feeds as expected
    from cosell.orchestration.delivery import load_calendar

    current = current or settings()
    if isinstance(missing_ok, str):
        missing_ok = [part.strip() for part in missing_ok.split(",") if part.strip()]
    calendar = load_calendar(current.delivery_calendar)
    return expected(dt.date.fromisoformat(str(business_date)), calendar, list(missing_ok or []))


class InboxSensor(_sensor_base()):
    """Waits until each feed the delivery calendar expects on the business date has a file in <inbox>/<feed>/<business_date>/.

    `missing_ok` (a list of feeds, or ["*"]) forces a run with those feeds missing. Use
    mode="reschedule" (the slot is released between pokes). On timeout it fails with a
    one-line message naming the feeds still missing.
    """

    template_fields = ("business_date", "missing_ok")
    ui_color = "#e8f4f8"

    def __init__(self, *, business_date: Any, inbox: str | None = None, missing_ok: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.business_date = business_date
        self.inbox = inbox
        self.missing_ok = missing_ok
        self._missing: list[str] = []

    def _inbox(self) -> Path:
        return Path(self.inbox).resolve() if self.inbox else inbox_dir()

    def poke(self, context: Any) -> bool:
        inbox = self._inbox()
        feeds = expected_feeds(str(self.business_date), self.missing_ok)
        self._missing = missing_feeds(inbox, str(self.business_date), feeds) if feeds else []
        if self._missing:
            self.log.info("inbox %s: waiting for %s of %s", inbox, ", ".join(self._missing), self.business_date)
            return False
        self.log.info("inbox %s: every feed expected on %s has files (%s)", inbox, self.business_date, ", ".join(feeds))
        return True

    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowSensorTimeout

        try:
            return super().execute(context)
        except AirflowSensorTimeout:
            raise AirflowSensorTimeout(
                f"extracts for {self.business_date} still missing after {int(self.timeout)}s: "
                f"feeds {', '.join(self._missing)} have no file in {self._inbox()}/<feed>/{self.business_date}/ "
                f"(to run without them, trigger with params missing_ok: [{', '.join(self._missing)}])"
            ) from None


# --------------------------------------------------------------------------- failures


def _one_line(text: Any, width: int = 500) -> str:
    return " ".join(str(text).split())[:width]


def failure_message(context: dict[str, Any]) -> str:
    """One line: which task of which run failed, for which business date or period, and why."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", None) or context.get("run_id", "?")
    params = context.get("params") or {}
    scope = ""
    for key in ("business_date", "period"):
        if params.get(key):
            scope = f" {key} {params[key]}"
    error = context.get("exception")
    reason = _one_line(error) if error else "no exception recorded"
    kind = type(error).__name__ if error else ""
    return f"{dag_id}.{task_id} failed (run {run_id}{scope}, try {getattr(ti, 'try_number', '?')}): {kind}: {reason}"


def record_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: log the one-line message and keep it under <COSELL_HOME>/reports/failures/."""
    message = failure_message(context)
    log.error("%s", message)
    try:
        ti = context.get("ti") or context.get("task_instance")
        folder = settings().reports_dir / "failures"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{stamp}__{getattr(ti, 'dag_id', 'dag')}__{getattr(ti, 'task_id', 'task')}"
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".txt"
        (folder / name).write_text(message + "\n", encoding="utf-8")
    except OSError as error:  # a callback must never hide the task's own failure
        log.error("could not write the failure record: %s", error)


# --------------------------------------------------------------------------- task bodies


def _fail(error: Exception) -> Exception:
    """A deterministic failure (a gate, bad input): fail now, no retries."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(_one_line(error))


def land_extracts(business_date: str) -> dict[str, Any]:
    """`cosell land --until business_date` on the inbox: new files of that date and earlier (idempotent by sha256)."""
    from cosell.landing.load import land

    current = settings()
    summary = land(inbox_dir(current), current, until=dt.date.fromisoformat(business_date))
    log.info("business date %s: %s", business_date, summary.describe())
    return {
        "business_date": business_date,
        "load_id": summary.load_id,
        "as_of_date": summary.as_of_date.isoformat() if summary.as_of_date else None,
        "summary": summary.describe(),
    }


def has_pending_work() -> bool:
    """Whether any load waits for a step after landing (the run ledger); False: the night is idle."""
    from cosell.orchestration.nightly import STEPS, pending

    current = settings()
    waiting = {step: pending(current, step) for step in STEPS}
    log.info("pending loads per step: %s", waiting)
    return any(waiting.values())


def run_gate(stage: str) -> str:
    """The raw or marts gate for the loads pending it, recorded in the run ledger; a failed fail-severity expectation fails the task without retry."""
    from cosell.gates.runner import GateFailed
    from cosell.orchestration.nightly import StepFailed, advance

    try:
        lines = advance("raw_gate" if stage == "raw" else "marts_gate", settings())
    except StepFailed as error:
        if isinstance(error.error, GateFailed):
            raise _fail(error.error) from None
        raise error.error from None
    text = lines[0] if lines else f"{stage} gate: no load pending"
    log.info("%s", text)
    return text


def record_step(step: str) -> str:
    """Record in the run ledger that the DAG's tasks of `step` succeeded for the loads pending it."""
    from cosell.orchestration.nightly import pending, record

    current = settings()
    loads = pending(current, step)
    record(current, step, loads)
    text = f"ledger: {step} recorded for loads {loads}" if loads else f"ledger: no load pending {step}"
    log.info("%s", text)
    return text


def publish_marts() -> dict[str, Any]:
    """Atomic copy of the marts for BI (what `cosell run` does last)."""
    from cosell.publish.copy import publish

    summary = publish(settings())
    log.info("%s", summary.describe())
    return {
        "path": str(summary.path),
        "as_of_date": summary.as_of_date.isoformat() if summary.as_of_date else None,
        "summary": summary.describe(),
    }


def write_program_report() -> str:
    """The program report (one self-contained HTML page) from the published copy, never the working file."""
    from cosell.publish.report import write_report

    text = write_report(settings()).describe()
    log.info("%s", text)
    return text


def write_dbt_docs() -> str:
    """dbt's documentation site as one static page under reports/dbt_docs (models, columns, tests, lineage)."""
    from cosell.build.dbt import docs

    text = docs(settings()).describe()
    log.info("%s", text)
    return text


def warehouse_as_of() -> dt.date:
    """The warehouse as_of_date (latest business date landed), read-only."""
    from cosell.db import connect
    from cosell.errors import CosellError
    from cosell.landing.raw_schema import as_of_date

    con = connect(settings(), read_only=True)
    try:
        value = as_of_date(con)
    finally:
        con.close()
    if value is None:
        raise CosellError(f"warehouse {settings().warehouse} has no landed data: run the nightly DAG first")
    return value


def payout_period(param: Any) -> str:
    """The period to compute: the DAG param `period` when set, else the last complete month by as_of_date."""
    if param not in (None, ""):
        text = str(param).strip()
        if not _PERIOD.fullmatch(text):
            raise _fail(ValueError(f"period {text!r} is not a month YYYY-MM"))
        return text
    from cosell.errors import CosellError

    try:
        as_of = warehouse_as_of()
    except CosellError as error:
        raise _fail(error) from None
    period = last_complete_period(as_of)
    log.info("warehouse as_of_date %s: last complete month %s", as_of, period)
    return period


def payouts_dir(current: Settings | None = None) -> Path:
    return (current or settings()).home / "payouts"


def run_payouts(period: str) -> dict[str, Any]:
    """`cosell payouts run --period P --out <COSELL_HOME>/payouts`: DRAFT files (approval is a human step)."""
    from cosell.payouts.lifecycle import run_period

    current = settings()
    summary = run_period(period, payouts_dir(current), current)
    log.info("%s", summary.describe())
    for warning in summary.warnings:
        log.warning("%s", warning)
    return {
        "period": summary.period,
        "status": summary.status,
        "folder": str(summary.folder),
        "lines": summary.lines,
        "total_usd": str(summary.total_usd),
        "summary": summary.describe(),
        "warnings": list(summary.warnings),
    }


# --------------------------------------------------------------------------- deployment helpers


def prepare_dbt_manifest(env: dict[str, str] | None = None) -> Path:
    """`dbt parse` the project so Cosmos can render the DAG from target/manifest.json without dbt."""
    run_env = dict(os.environ if env is None else env)
    run_env.update(TELEMETRY_OFF)
    process = subprocess.run(
        [str(dbt_executable()), "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
         str(DBT_PROJECT_DIR), "--no-use-colors"],
        cwd=str(DBT_PROJECT_DIR),
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
    )
    full = DBT_PROJECT_DIR / "target" / "manifest.json"
    if process.returncode != 0 or not full.exists():
        from cosell.errors import CosellError

        lines = [line for line in (process.stdout + process.stderr).splitlines() if line.strip()]
        raise CosellError(f"dbt parse failed: {lines[-1] if lines else 'no output'}")
    import json

    manifest = json.loads(full.read_text(encoding="utf-8"))
    slim = {key: manifest[key] for key in _COSMOS_MANIFEST_KEYS if key in manifest}
    partial = DBT_MANIFEST.with_name(f".{DBT_MANIFEST.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(slim, separators=(",", ":")), encoding="utf-8")
    os.replace(partial, DBT_MANIFEST)  # a DAG parse never sees half a file
    return DBT_MANIFEST
