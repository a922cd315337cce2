"""The raw layer exported as Parquet for Spark: one Hive partition per landing run, every row once."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from cosell.build.dbt import build
from cosell.build.raw_export import export_raw
from cosell.db import connect
from cosell.errors import CosellError
from cosell.landing.load import land
from cosell.landing.row_checks import literal
from cosell.synthetic.generate import generate


@pytest.fixture
def landed_twice(settings):
    inbox = settings.home / "inbox"
    generate(inbox, seed=7, start=dt.date(2026, 1, 1), days=6, partners=5, deals=30)
    land(inbox, settings, until=dt.date(2026, 1, 3))
    land(inbox, settings)
    return settings


def test_each_landing_run_is_its_own_partition_and_every_row_is_exported_once(landed_twice):
    folder = landed_twice.home / "raw_export"
    summary = export_raw(landed_twice, folder)
    assert (folder / "load_audit" / "part-0.parquet").exists()
    con = duckdb.connect()
    exported = con.execute(
        f"SELECT _load_id, count(*) FROM read_parquet({literal(str(folder / 'deals' / '**' / '*.parquet'))}, "
        "hive_partitioning = true) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    warehouse = connect(landed_twice, read_only=True)
    try:
        landed = warehouse.execute("SELECT _load_id, count(*) FROM raw.deals GROUP BY ALL ORDER BY 1").fetchall()
        audit_rows = warehouse.execute("SELECT count(*) FROM raw.load_audit").fetchone()[0]
    finally:
        warehouse.close()
    assert [load_id for load_id, _ in exported] == [1, 2]
    assert exported == landed
    assert summary.rows["deals"] == sum(n for _, n in landed)
    assert summary.rows["load_audit"] == audit_rows


def test_an_export_replaces_the_previous_one_whole(landed_twice):
    folder = landed_twice.home / "raw_export"
    export_raw(landed_twice, folder)
    (folder / "deals" / "_load_id=99").mkdir()
    export_raw(landed_twice, folder)
    assert not (folder / "deals" / "_load_id=99").exists()
    assert not list(folder.parent.glob(".raw_export.*.tmp"))


def test_an_unknown_engine_is_refused(landed_twice):
    with pytest.raises(CosellError, match="unknown engine 'postgres'"):
        build(landed_twice, engine="postgres")
