"""
### cosell_nightly — land, gate, build, gate, payouts, publish one business date

The scheduled form of `cosell run` (SPEC section 2), one run per **business date**:

1. `business_date` — the date the run works on: the DAG param `business_date` (YYYY-MM-DD)
   when given, else the day before the run's logical date (the 02:00 UTC run of the 2nd
   loads the extracts of the 1st), else the day before `run_after` (asset-triggered and some
   manual runs have no logical date). Trigger a rerun or a backfill of a day with
   `{"business_date": "2026-04-30"}`.
2. `wait_for_extracts` — a sensor in reschedule mode that waits until each feed the delivery
   calendar expects on the business date (default: fx_rates Monday to Friday, every other
   feed every day; `COSELL_DELIVERY_CALENDAR` names a YAML file that changes it) has a file
   in `<inbox>/<feed>/<business_date>/`; it times out with a message naming the missing
   feeds. To run a date with a feed missing, trigger it with the param `missing_ok`
   (`["fx_rates"]`, or `["*"]` for all). Inbox: `COSELL_INBOX`, default
   `<COSELL_HOME>/inbox`. Poke interval and timeout (seconds): `COSELL_INBOX_POKE_INTERVAL`
   (300), `COSELL_INBOX_TIMEOUT` (21600).
3. `land` — `cosell land --until <business_date>`: new files of that date and earlier only
   (idempotent by sha256; a backfill of an old date never lands a later one); the inbox is
   never changed.
4. `pending_work` — skips everything after it when no load waits for a step after landing
   (a rerun of a date with nothing new).

Then one task per part of the nightly steps that `cosell run` runs, in the same order (the
chain is built from `cosell.orchestration.nightly.STEPS`; each runs for the loads the run ledger has
pending, and the last part of a step records it):

5. `raw_gate` — `cosell check raw` (Great Expectations) on every load the run ledger has not
   seen pass it. A failed `fail` expectation fails the task at once (no retry: the data will
   not change by waiting), nothing downstream runs, and the loads stay pending.
6. `dbt_build` — one `dbt build` process, the same as `cosell build` (unit tests left out).
   Its log shows each model and test as dbt starts and finishes it, then a line per model;
   failing tests fail the task at once with a message naming them and their first rows.
   A retry never starts a second dbt while one still runs on the warehouse (docs/scheduling.md).
7. `marts_gate` — `cosell check marts` for the built loads.
8. `draft_payouts` — the DRAFT payout files of the last complete month by the warehouse
   as_of_date into `<COSELL_HOME>/payouts/<YYYY-MM>/` (an adjustment set if finance approved
   it), and the lines into `payouts.lines`, before publish.
9. `publish` — atomic copy of the marts and the payout tables for BI; on success it emits the
   Asset `cosell_published_warehouse`.
10. `report` — the program report (one self-contained HTML page of charts) from the published
   copy, the night's payout lines included; it reads only the published file, so it needs no
   warehouse slot.
11. `dbt_docs` — `dbt docs generate --static` into `<COSELL_HOME>/reports/dbt_docs/index.html`;
   the loads are then recorded as published in the ledger.

Every task that opens the DuckDB warehouse runs in the one-slot pool `cosell_warehouse`
(DuckDB: one writer per file); the DAG also runs one task and one run at a time. Failures are
retried twice with exponential backoff, and each final failure leaves one line in the task log
and in `<COSELL_HOME>/reports/failures/`. Rerunning a date changes nothing: landing skips
files already landed, and the build, payouts and publish are deterministic.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, CronTriggerTimetable, Param, chain, dag, task

from cosell.orchestration import airflow_tasks as tasks
from cosell.orchestration.nightly import parts

PUBLISHED = Asset(name=tasks.PUBLISHED_ASSET_NAME, uri=tasks.PUBLISHED_ASSET_URI)

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": tasks.record_failure,
}


@dag(
    dag_id="cosell_nightly",
    description="Land the day's extracts, gate, dbt build, gate, draft payouts, publish the marts",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    default_args=DEFAULT_ARGS,
    params={
        "business_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Business date to load (YYYY-MM-DD); empty = the day before the logical date",
        ),
        "missing_ok": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Feeds the sensor does not wait for on this run (e.g. [\"fx_rates\"]; [\"*\"] = all): force a run with a feed missing",
        ),
    },
    tags=["cosell", "nightly", "dbt"],
    doc_md=__doc__,
)
def cosell_nightly():
    @task
    def business_date(**context) -> str:
        dag_run = context.get("dag_run")
        return tasks.business_date_for(
            context["params"].get("business_date"),
            context.get("logical_date"),
            getattr(dag_run, "run_after", None),
        )

    date = business_date()

    wait = tasks.InboxSensor(
        task_id="wait_for_extracts",
        business_date=date,
        missing_ok="{{ params.missing_ok | join(',') }}",
        mode="reschedule",
        poke_interval=float(os.environ.get("COSELL_INBOX_POKE_INTERVAL", "300")),
        timeout=float(os.environ.get("COSELL_INBOX_TIMEOUT", str(6 * 3600))),
    )

    @task(pool=tasks.WAREHOUSE_POOL)
    def land(business_date: str) -> dict:
        return tasks.land_extracts(business_date)

    @task.short_circuit(pool=tasks.WAREHOUSE_POOL)
    def pending_work() -> bool:
        return tasks.has_pending_work()

    steps = []
    for _step, _number, part in parts():
        options = {"pool": tasks.WAREHOUSE_POOL} if part.warehouse else {}
        if part.task_id == "publish":
            options["outlets"] = [PUBLISHED]
        steps.append(task(task_id=part.task_id, **options)(tasks.run_part)(part.task_id))

    chain(wait, land(date), pending_work(), *steps)


cosell_nightly()
