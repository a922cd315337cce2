"""Shared fixtures: every test works on its own warehouse and home folder under tmp_path, or reads the session's."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# A pytest-xdist worker runs under execnet, whose __main__ has neither __spec__ nor __file__:
# pyspark.sql.connect (imported by Great Expectations) takes such a process for a doctest run and
# calls sys.exit(0) (pyspark/sql/connect/__init__.py, check_dependencies). Name the worker's main.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"

from cosell.config import Settings  # noqa: E402

pytest_plugins = ["fast_tier"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    return Settings.from_env(
        {
            "COSELL_HOME": str(home),
            "COSELL_WAREHOUSE": str(home / "warehouse.duckdb"),
            "COSELL_DUCKDB_THREADS": "2",
            "COSELL_DUCKDB_MEMORY_LIMIT": "2GB",
        }
    )


# 200 business dates: the 180-day repeat windows of the first cohorts close
NIGHTLY_SAMPLE = {"seed": 3, "start": dt.date(2025, 7, 1), "days": 200, "partners": 15, "deals": 150}
NIGHTLY_PERIOD = "2025-12"


@pytest.fixture(scope="session")
def nightly_warehouse(tmp_path_factory) -> Settings:
    """The session's warehouse: generated extracts through the real nightly run (land, gates, dbt build, publish,
    report), one payout period approved, then published again with the payout tables. Tests only read it (the
    published copy read-only); a test that changes data copies it or builds its own."""
    from cosell.orchestration.nightly import run_nightly
    from cosell.payouts.lifecycle import approve_period, run_period
    from cosell.publish.copy import publish
    from cosell.synthetic.generate import generate

    root = tmp_path_factory.mktemp("nightly")
    generate(root / "inbox", **NIGHTLY_SAMPLE)
    settings = Settings.from_env({"COSELL_HOME": str(root / "home"), "COSELL_DUCKDB_THREADS": "2"})
    run_nightly(root / "inbox", settings)
    run_period(NIGHTLY_PERIOD, root / "payouts", settings)
    approve_period(NIGHTLY_PERIOD, root / "payouts", settings, approved_by="finance")
    publish(settings)  # again, now with the payout tables
    return settings


# Fixtures that run the real pipeline end to end: a test using one belongs to the slow tier.
END_TO_END_FIXTURES = {"nightly_warehouse"}

# `./dev test` runs one pytest-xdist worker per CPU, each taking whole test files (a file's module
# fixtures are built once; the session's nightly warehouse once per worker that needs it). The
# longest files start first so the workers finish together (from the suite's --durations, README
# "Tests"); the others follow in name order. Only the start order depends on this list.
# (Not --dist loadgroup: under pytest 9.2 a node id no longer reads the `_nodeid` that pytest-xdist
# 3.8 rewrites to carry the group, so every test would be sent on its own.)
LONGEST_FIRST = [
    "test_dags.py", "test_spark.py", "test_scheduling.py", "test_nightly_faults.py", "test_dbt_incremental.py",
    "test_airflow_postgres.py", "test_payouts_custody.py", "test_ledger.py", "test_offline_html.py",
    "test_dbt_marts.py", "test_dbt_end_to_end.py", "test_gates.py", "test_demo_progress.py", "test_payouts_ledger.py",
    "test_payouts_lifecycle.py", "test_payouts_documents.py", "test_readme_airflow.py",
    "test_bi_contract.py", "test_landing_hostile.py", "test_cli.py",
]


def pytest_collection_modifyitems(config, items):
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    for item in items:
        if END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order

