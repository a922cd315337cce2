"""Shared fixtures: every test works on its own warehouse and home folder under tmp_path, or reads the session's."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

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


def pytest_collection_modifyitems(config, items):
    for item in items:
        if END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
