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

from cosell import TELEMETRY_OFF  # telemetry off before anything else is imported
from cosell.config import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)

# Every task that opens the warehouse (landing, gates, the dbt build, publish, payouts) runs in
# this one-slot pool: DuckDB allows one writer per file and a second process cannot even open
# the file read-only while the writer holds it. `airflow_demo` and `ensure_pool` create it.
WAREHOUSE_POOL = "cosell_warehouse"
WAREHOUSE_POOL_DESCRIPTION = "one task at a time opens the DuckDB warehouse (one writer per file)"

# The Asset the nightly DAG emits when publish succeeds and the payout DAG is scheduled on.
PUBLISHED_ASSET_NAME = "cosell_published_warehouse"
PUBLISHED_ASSET_URI = "x-cosell://warehouse/published"  # x- scheme: a private, unnormalised URI

# The dbt graph as a file, without a dbt process for whoever reads it (the rule tests):
# `prepare_dbt_manifest()` writes it with `dbt parse`, keeping only the sections that describe
# the nodes (macros and docs are half the file).
DBT_MANIFEST = DBT_PROJECT_DIR / "target" / "nodes_manifest.json"
_MANIFEST_KEYS = ("metadata", "nodes", "sources", "exposures", "selectors")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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


def run_part(task_id: str) -> str:
    """The nightly DAG's task `task_id`: that part of a nightly step (cosell.orchestration.nightly.STEPS), as `cosell run` runs it.

    It runs for the loads the run ledger has pending; the step's last part records them. A
    failed gate or failing dbt tests fail the task without retry (the data will not change by
    waiting); any other failure is retried.
    """
    from cosell.orchestration.nightly import StepFailed, parts
    from cosell.orchestration.nightly import run_part as run

    step, number, part = next(found for found in parts() if found[2].task_id == task_id)
    try:
        text = run(step, number, settings())
    except StepFailed as error:
        from cosell.build.dbt import DataTestsFailed
        from cosell.gates.runner import (
            GateFailed,  # imported on failure only: Great Expectations is slow to import
        )

        if isinstance(error.error, (GateFailed, DataTestsFailed)):
            raise _fail(error.error) from None
        raise error.error from None
    text = text or f"{part.name}: no load pending {step}"
    log.info("%s", text)
    return text


def warehouse_as_of() -> dt.date:
    """The warehouse as_of_date the marts were built with (the one the payout engine stamps), read-only."""
    from cosell.db import connect
    from cosell.db import warehouse_as_of as built_as_of
    from cosell.errors import CosellError

    con = connect(settings(), read_only=True)
    try:
        value = built_as_of(con)
    finally:
        con.close()
    if value is None:
        raise CosellError(f"warehouse {settings().warehouse} has no as_of_date (nothing landed and built): run the nightly DAG first")
    return value


def payout_period(param: Any) -> str:
    """The period to compute: the DAG param `period` when set, else the last complete month by as_of_date."""
    if param not in (None, ""):
        from cosell.errors import CosellError
        from cosell.payouts.rules import parse_period

        text = str(param).strip()
        try:
            return parse_period(text).label
        except CosellError as error:
            raise _fail(ValueError(str(error))) from None
    from cosell.errors import CosellError

    try:
        as_of = warehouse_as_of()
    except CosellError as error:
        raise _fail(error) from None
    from cosell.orchestration.nightly import last_complete_period

    period = last_complete_period(as_of)
    log.info("warehouse as_of_date %s: last complete month %s", as_of, period)
    return period


def run_payouts(period: str) -> dict[str, Any]:
    """`cosell payouts run --period P --out <COSELL_HOME>/payouts`: DRAFT files (approval is a human step)."""
    from cosell.orchestration.nightly import payouts_dir
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
    """`dbt parse` the project; returns DBT_MANIFEST, the graph's nodes as JSON."""
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
    slim = {key: manifest[key] for key in _MANIFEST_KEYS if key in manifest}
    partial = DBT_MANIFEST.with_name(f".{DBT_MANIFEST.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(slim, separators=(",", ":")), encoding="utf-8")
    os.replace(partial, DBT_MANIFEST)  # a DAG parse never sees half a file
    return DBT_MANIFEST
