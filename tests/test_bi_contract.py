"""The BI contract on a real nightly run: comments and types of every published table, the contract document,
and the aggregated copy opened as a BI client would (SQLAlchemy, duckdb-engine) with every column scanned."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from sqlalchemy import create_engine, inspect, text

from cosell.config import Settings
from cosell.payouts.lifecycle import approve_period, run_period
from cosell.publish import bi_contract
from cosell.publish.copy import parquet_path, publish
from cosell.synthetic.generate import generate

SAMPLE = {"seed": 3, "start": dt.date(2026, 1, 1), "days": 40, "partners": 15, "deals": 150}
IDENTIFIER_SQL = """
    SELECT deal_id AS v FROM raw.deals UNION SELECT customer_id FROM raw.deals UNION SELECT customer_name FROM raw.deals
    UNION SELECT request_id FROM raw.engagements UNION SELECT activity_id FROM raw.activities
    UNION SELECT response_id FROM raw.satisfaction
"""


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Settings:
    from cosell.orchestration.nightly import run_nightly

    root = tmp_path_factory.mktemp("contract")
    generate(root / "inbox", **SAMPLE)
    settings = Settings.from_env({"COSELL_HOME": str(root / "home"), "COSELL_DUCKDB_THREADS": "2"})
    run_nightly(root / "inbox", settings)
    run_period("2026-01", root / "payouts", settings)
    approve_period("2026-01", root / "payouts", settings, approved_by="finance")
    publish(settings)  # again, now with the payout tables
    return settings


def identifiers(settings: Settings) -> set[str]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return {str(r[0]) for r in con.execute(IDENTIFIER_SQL).fetchall() if r[0] is not None}
    finally:
        con.close()


@pytest.mark.slow
def test_every_published_table_and_column_has_a_comment_and_parquet_types_match(published):
    con = duckdb.connect(str(published.published), read_only=True)
    try:
        tables = con.execute("SELECT schema_name, table_name, comment FROM duckdb_tables() "
                             "WHERE schema_name IN ('marts', 'payouts') ORDER BY 1, 2").fetchall()
        assert {"payouts.lines", "payouts.approvals", "marts.mart_cosell_uplift"} <= {f"{s}.{t}" for s, t, _ in tables}
        for schema, name, comment in tables:
            assert comment, f"{schema}.{name} has no comment"
            columns = con.execute("SELECT column_name, data_type, comment FROM duckdb_columns() "
                                  "WHERE schema_name = ? AND table_name = ?", [schema, name]).fetchall()
            assert all(c[2] for c in columns), [c[0] for c in columns if not c[2]]
            assert not [c for c in columns if "HUGEINT" in c[1]]
            parquet = parquet_path(published.published.parent / "parquet", schema, name)
            twin = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{parquet}')").fetchall()
            assert [(c[0], c[1]) for c in columns] == [(r[0], r[1]) for r in twin], f"{schema}.{name}"
    finally:
        con.close()


@pytest.mark.slow
def test_the_contract_document_describes_the_published_copy(published):
    expected = bi_contract.render(published.published)
    assert bi_contract.generated_part() == expected, (
        "docs/bi_contract.md is out of date: run `python -m cosell.publish.bi_contract <published.duckdb>` on a fresh publish")
    for table in ("marts.fct_cosell_deals", "marts.mart_cosell_coverage", "payouts.lines"):
        assert f"### `{table}`" in expected


@pytest.mark.slow
def test_the_aggregated_copy_holds_no_customer_deal_request_or_activity_identifier(published):
    known = identifiers(published)
    assert len(known) > 200  # deals, customers, requests, activities, responses of the sample
    engine = create_engine(f"duckdb:///{published.aggregated_copy}", connect_args={"read_only": True})
    try:
        with engine.connect() as connection:
            assert "warehouse.marts" in inspect(connection).get_schema_names()  # database.schema
            columns: dict[tuple[str, str], list[str]] = {}
            for schema, name, column in connection.execute(text(
                    "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') ORDER BY table_schema, "
                    "table_name, ordinal_position")):
                columns.setdefault((schema, name), []).append(column)
            assert ("marts", "mart_cosell_coverage") in columns and ("marts", "fct_cosell_deals") not in columns
            scanned = 0
            for (schema, name), names in columns.items():
                assert not [c for c in names if c.endswith(("_id", "_name"))], (name, names)
                for column in names:
                    values = {str(v) for (v,) in connection.execute(
                        text(f'SELECT DISTINCT "{column}" FROM "{schema}"."{name}"')) if v is not None}
                    assert not values & known, (name, column, sorted(values & known)[:5])
                    scanned += 1
        assert scanned > 40
    finally:
        engine.dispose()
    # the scan would see them: the full copy for channel management does hold them
    con = duckdb.connect(str(published.published), read_only=True)
    try:
        deal_ids = {r[0] for r in con.execute("SELECT deal_id FROM marts.fct_cosell_deals").fetchall()}
    finally:
        con.close()
    assert deal_ids and deal_ids <= known
