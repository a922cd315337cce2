"""What `cosell demo` leaves in Airflow for a new user opening the UI: honest runs, DAGs paused, a note on each run.

The demo runs on a small sample (the DAGs' work is per model and per file, not per row); the
Airflow metadata database it leaves (SQLite under <COSELL_HOME>/airflow) is then read as the UI
reads it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from cosell.config import Settings
from cosell.orchestration.airflow_demo import NIGHTLY_DAG, PAYOUTS_DAG, airflow_demo

SAMPLE = {"seed": 11, "start": dt.date(2026, 1, 1), "days": 35, "partners": 12, "deals": 90}
BUSINESS_DATE = "2026-02-04"  # the sample's last date


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@pytest.mark.slow
def test_the_demo_leaves_runs_with_their_real_start_and_duration_and_the_dags_paused(tmp_path):
    home = tmp_path / "cosell"
    settings = Settings.from_env({"COSELL_HOME": str(home), "COSELL_DUCKDB_THREADS": "2",
                                  "COSELL_DUCKDB_MEMORY_LIMIT": "2GB"})
    before = dt.datetime.now(dt.UTC)
    summary = airflow_demo(settings, sample=SAMPLE, progress=lambda line: None)
    after = dt.datetime.now(dt.UTC)
    assert [run.state for run in summary.runs] == ["success", "success"]

    con = sqlite3.connect(f"file:{Path(summary.airflow_home) / 'airflow.db'}?mode=ro", uri=True)
    try:
        paused = dict(con.execute("select dag_id, is_paused from dag"))
        runs = con.execute(
            "select r.dag_id, r.logical_date, r.start_date, r.end_date, r.conf, n.content from dag_run r "
            "left join dag_run_note n on n.dag_run_id = r.id order by r.id").fetchall()
    finally:
        con.close()

    assert paused == {NIGHTLY_DAG: 1, PAYOUTS_DAG: 1}  # docs/decisions.md: the sample's dates are in the past
    assert [r[0] for r in runs] == [NIGHTLY_DAG, PAYOUTS_DAG]
    for dag_id, logical, started, ended, _conf, note in runs:
        started, ended = _moment(started), _moment(ended)
        assert before <= started <= ended <= after, (dag_id, started, ended)  # the UI's duration is end - start
        assert logical is None, (dag_id, logical)  # no past logical date posing as the run's start
        assert note and "cosell demo" in note and "paused" in note, note
    assert BUSINESS_DATE in runs[0][5] and BUSINESS_DATE in str(runs[0][4])  # the nightly run says which date
    seconds = {r.dag_id: r.seconds for r in summary.runs}
    nightly_start, nightly_end = _moment(runs[0][2]), _moment(runs[0][3])
    assert (nightly_end - nightly_start).total_seconds() <= seconds[NIGHTLY_DAG] + 1
