"""The dbt project on Spark (dbt-spark, local SparkSession) gives the same marts as on DuckDB.

A small generated inbox is landed once; the project is built with its unit tests on DuckDB and
on Spark (`cosell build --engine spark`), and every mart Spark wrote as Parquet must equal the
DuckDB mart row for row (EXCEPT ALL both ways), after normalising only representation: each
Spark column is cast to the DuckDB column's type (integer widths; DECIMAL and timestamp types
already agree). A
landed file with a load status outside the contract then fails a source test on both engines,
and each engine's one-line error names the failing row.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cosell.build.dbt import BuildSummary, build, spark_paths
from cosell.config import Settings
from cosell.db import connect
from cosell.errors import CosellError
from cosell.landing.load import land
from cosell.landing.row_checks import ident, literal
from cosell.synthetic.generate import generate

pytestmark = pytest.mark.slow

_INTEGERS = {"INTEGER", "BIGINT", "HUGEINT"}


def _settings(home: Path) -> Settings:
    return Settings.from_env(
        {
            "COSELL_HOME": str(home),
            "COSELL_WAREHOUSE": str(home / "warehouse.duckdb"),
            "COSELL_DUCKDB_THREADS": "2",
            "COSELL_DUCKDB_MEMORY_LIMIT": "2GB",
        }
    )


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("spark") / "home"
    settings = _settings(home)
    # 220 days: deals close and repeat windows (180 days) close, so every mart has rows.
    generate(home / "inbox", seed=7, start=dt.date(2026, 1, 1), days=220, partners=30, deals=200)
    land(home / "inbox", settings)
    return settings


@pytest.fixture(scope="module")
def built(landed: Settings) -> Iterator[tuple[Settings, BuildSummary, BuildSummary]]:
    # Many tiny queries: more dbt threads than cores hide Spark's per-query latency.
    patch = pytest.MonkeyPatch()
    patch.setenv("COSELL_SPARK_THREADS", "4")
    patch.setenv("COSELL_SPARK_SHUFFLE_PARTITIONS", "2")
    on_duckdb = build(landed, unit_tests=True)
    on_spark = build(landed, unit_tests=True, engine="spark")
    yield landed, on_duckdb, on_spark
    patch.undo()


def test_spark_builds_every_model_and_runs_the_unit_tests(built):
    _, on_duckdb, on_spark = built
    assert on_spark.models == on_duckdb.models > 30
    assert on_spark.tests_passed == on_duckdb.tests_passed > 100
    # One unit test checks the DuckDB-only incremental branch (on Spark the model is a table).
    assert on_spark.unit_tests_passed == on_duckdb.unit_tests_passed - 1 >= 9
    assert "on Spark" in on_spark.describe() and str(spark_paths(built[0]).marts) in on_spark.describe()


def test_every_mart_built_on_spark_equals_the_duckdb_mart(built):
    settings, _, _ = built
    folder = spark_paths(settings).marts
    con = connect(settings, read_only=True)
    try:
        marts = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' ORDER BY 1"
            ).fetchall()
        ]
        assert sorted(p.stem for p in folder.glob("*.parquet")) == marts
        empty = []
        for mart in marts:
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'marts' "
                "AND table_name = ? ORDER BY column_index",
                [mart],
            ).fetchall()
            spark_columns = con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({literal(str(folder / (mart + '.parquet')))})"
            ).fetchall()
            assert [c[0] for c in spark_columns] == [name for name, _ in columns], mart
            # Same shape as the published copy: types differ at most in integer width (DuckDB
            # sums BIGINTs to HUGEINT, Spark's datediff is INTEGER); timestamps are naive UTC.
            for (name, duck_type), (_, spark_type, *_) in zip(columns, spark_columns):
                assert spark_type == duck_type or {spark_type, duck_type} <= _INTEGERS, (mart, name, spark_type)
            normalised = ", ".join(f"CAST({ident(name)} AS {type_}) AS {ident(name)}" for name, type_ in columns)
            spark = f"SELECT {normalised} FROM read_parquet({literal(str(folder / (mart + '.parquet')))})"
            duck = f"SELECT * FROM marts.{ident(mart)}"
            only_spark = con.execute(f"{spark} EXCEPT ALL {duck}").fetchall()
            only_duckdb = con.execute(f"{duck} EXCEPT ALL {spark}").fetchall()
            assert only_spark == [] and only_duckdb == [], f"{mart}: Spark only {only_spark[:3]}, DuckDB only {only_duckdb[:3]}"
            if not con.execute(f"SELECT count(*) FROM marts.{ident(mart)}").fetchone()[0]:
                empty.append(mart)
    finally:
        con.close()
    assert empty == []


def test_a_failing_test_names_its_rows_on_both_engines(built, tmp_path):
    landed_settings, _, _ = built
    home = tmp_path / "broken"
    home.mkdir()
    shutil.copyfile(landed_settings.warehouse, home / "warehouse.duckdb")
    settings = _settings(home)
    con = connect(settings)
    con.execute(
        "INSERT INTO raw.load_audit (load_id, feed, business_date, file_name, file_path, status, rows_landed, "
        "rows_rejected, loaded_at) VALUES (99, 'deals', DATE '2026-01-21', 'deals_broken.csv', '/x', 'MISFILED', 0, 0, "
        "TIMESTAMP '2026-01-21 00:00:00')"
    )
    con.close()
    for engine in ("duckdb", "spark"):
        with pytest.raises(CosellError) as failure:
            build(settings, engine=engine)
        message = str(failure.value)
        assert "\n" not in message
        assert "test source_accepted_values_raw_load_audit_status" in message, (engine, message)
        assert "value_field=MISFILED" in message, (engine, message)


def test_an_unknown_engine_is_refused(landed):
    with pytest.raises(CosellError, match="unknown engine 'postgres'"):
        build(landed, engine="postgres")


def test_the_raw_export_is_partitioned_by_landing_run(landed):
    from cosell.build.raw_export import export_raw

    folder = landed.home / "raw_export_check"
    summary = export_raw(landed, folder)
    assert (folder / "deals" / "_load_id=1" / "part-0.parquet").exists()
    assert (folder / "load_audit" / "part-0.parquet").exists()
    con = duckdb.connect()
    deals = con.execute(
        f"SELECT count(*), min(_load_id) FROM read_parquet({literal(str(folder / 'deals' / '**' / '*.parquet'))}, "
        "hive_partitioning = true)"
    ).fetchone()
    assert deals == (summary.rows["deals"], 1) and deals[0] > 0
