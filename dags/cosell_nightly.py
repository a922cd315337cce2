"""
### cosell_nightly — land, gate, build, gate, publish one business date

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
4. `raw_gate` — `cosell check raw` (Great Expectations) on every load the run ledger has not
   seen pass it. A failed `fail` expectation fails the task at once (no retry: the data will
   not change by waiting), nothing downstream runs, and the loads stay pending.
5. `pending_work` — skips everything after it when no load waits for build, marts gate or
   publish (a rerun of a date with nothing new).
6. `dbt_build` — the dbt project through astronomer-cosmos: one `dbt build` task per model
   (the model, then its own tests; a failing test fails that task and stops its dependants);
   tests spanning several models run as their own tasks after all their parents;
   `record_build` then records the loads as built in the ledger.
7. `marts_gate` — `cosell check marts` for the built loads.
8. `publish` — atomic copy of the marts for BI; on success it emits the Asset
   `cosell_published_warehouse`, which schedules `cosell_payouts`.
9. `report` — the program report (one self-contained HTML page of charts) from the published
   copy; it reads only the published file, so it needs no warehouse slot.
10. `dbt_docs` — `dbt docs generate --static` into `<COSELL_HOME>/reports/dbt_docs/index.html`;
   `record_published` then records the loads as published in the ledger.

Every task that opens the DuckDB warehouse runs in the one-slot pool `cosell_warehouse`
(DuckDB: one writer per file); the DAG also runs one task and one run at a time. Failures are
retried twice with exponential backoff, and each final failure leaves one line in the task log
and in `<COSELL_HOME>/reports/failures/`. Rerunning a date changes nothing: landing skips
files already landed, and the build and publish are deterministic.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, CronTriggerTimetable, Param, chain, dag, task
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos.constants import (
    ExecutionMode,
    InvocationMode,
    LoadMode,
    TestBehavior,
    TestIndirectSelection,
)

from cosell.build.dbt import NIGHTLY_DBT_FLAGS
from cosell.config import DBT_PROJECT_DIR
from cosell.orchestration import airflow_tasks as tasks

PUBLISHED = Asset(name=tasks.PUBLISHED_ASSET_NAME, uri=tasks.PUBLISHED_ASSET_URI)

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": tasks.record_failure,
}

# Cosmos renders the dbt graph from dbt/target/manifest.json (`tasks.prepare_dbt_manifest()`),
# so parsing this file starts no dbt process; without a manifest it falls back to `dbt ls`.
_HAS_MANIFEST = tasks.DBT_MANIFEST.exists()


@dag(
    dag_id="cosell_nightly",
    description="Land the day's extracts, gate, dbt build, gate, publish the marts",
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

    @task(pool=tasks.WAREHOUSE_POOL)
    def raw_gate() -> str:
        return tasks.run_gate("raw")

    @task.short_circuit(pool=tasks.WAREHOUSE_POOL)
    def pending_work() -> bool:
        return tasks.has_pending_work()

    @task(pool=tasks.WAREHOUSE_POOL)
    def record_build() -> str:
        return tasks.record_step("built")

    @task(pool=tasks.WAREHOUSE_POOL)
    def record_published() -> str:
        return tasks.record_step("published")

    project_config = ProjectConfig(
        dbt_project_path=DBT_PROJECT_DIR,
        manifest_path=tasks.DBT_MANIFEST if _HAS_MANIFEST else None,
        install_dbt_deps=False,
    )
    if _HAS_MANIFEST:
        # Read the manifest as a plain local file: through ObjectStoragePath the read goes via
        # Airflow's lineage collector, which loads every plugin (about 1 s of the parse).
        project_config.manifest_path = tasks.DBT_MANIFEST

    dbt_build = DbtTaskGroup(
        group_id="dbt_build",
        project_config=project_config,
        profile_config=ProfileConfig(
            profile_name=tasks.DBT_PROFILE_NAME,
            target_name=tasks.DBT_TARGET_NAME,
            profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=tasks.dbt_executable(),
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST if _HAS_MANIFEST else LoadMode.DBT_LS,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=tasks.dbt_executable(),
            test_behavior=TestBehavior.BUILD,
            should_detach_multiple_parents_tests=True,
            emit_datasets=False,
        ),
        operator_args={
            "pool": tasks.WAREHOUSE_POOL,
            "append_env": True,
            "env": tasks.dbt_env(),
            "dbt_cmd_flags": list(NIGHTLY_DBT_FLAGS),
        },
        default_args=DEFAULT_ARGS,
    )

    @task(pool=tasks.WAREHOUSE_POOL)
    def marts_gate() -> str:
        return tasks.run_gate("marts")

    @task(pool=tasks.WAREHOUSE_POOL, outlets=[PUBLISHED])
    def publish() -> dict:
        return tasks.publish_marts()

    @task
    def report() -> str:
        return tasks.write_program_report()

    @task(pool=tasks.WAREHOUSE_POOL)
    def dbt_docs() -> str:
        return tasks.write_dbt_docs()

    chain(
        wait, land(date), raw_gate(), pending_work(), dbt_build, record_build(), marts_gate(), publish(), report(),
        dbt_docs(), record_published(),
    )


cosell_nightly()
