"""
### cosell_payouts — the DRAFT payout files of the last complete month

The scheduled form of `cosell payouts run` (SPEC section 6). Runs when `cosell_nightly`
publishes (the Asset `cosell_published_warehouse`) and, as a fallback, at 06:00 UTC on the
1st of every month.

1. `payout_period` — the DAG param `period` (YYYY-MM) when given; otherwise the latest
   calendar month that ended on or before the warehouse **as_of_date** (the latest business
   date landed), never the wall clock, so a rerun on the same data picks the same month.
2. `draft_payouts` — `cosell.payouts.lifecycle.run_period` into `<COSELL_HOME>/payouts/<YYYY-MM>/`:
   DRAFT files, byte-identical on a rerun with unchanged data. If finance has approved the
   period, the approved files stay frozen and an adjustment set is written instead.

Approval stays a human step: `cosell payouts approve --period YYYY-MM --out <COSELL_HOME>/payouts`.
Both tasks open the warehouse and run in the one-slot pool `cosell_warehouse`. Failures are
retried twice with exponential backoff; each final failure leaves one line in the task log and
in `<COSELL_HOME>/reports/failures/`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    task,
)

from cosell.orchestration import airflow_tasks as tasks

PUBLISHED = Asset(name=tasks.PUBLISHED_ASSET_NAME, uri=tasks.PUBLISHED_ASSET_URI)

DEFAULT_ARGS = {
    "owner": "finance-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": tasks.record_failure,
}


@dag(
    dag_id="cosell_payouts",
    description="DRAFT payout files of the last complete month by the warehouse as_of_date",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 1 * *", timezone="UTC"),
        assets=PUBLISHED,
    ),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    default_args=DEFAULT_ARGS,
    params={
        "period": Param(
            None,
            type=["null", "string"],
            description="Payout month (YYYY-MM); empty = the last complete month by the warehouse as_of_date",
        )
    },
    tags=["cosell", "payouts", "finance"],
    doc_md=__doc__,
)
def cosell_payouts():
    @task(pool=tasks.WAREHOUSE_POOL)
    def payout_period(**context) -> str:
        return tasks.payout_period(context["params"].get("period"))

    @task(pool=tasks.WAREHOUSE_POOL)
    def draft_payouts(period: str) -> dict:
        return tasks.run_payouts(period)

    draft_payouts(payout_period())


cosell_payouts()
