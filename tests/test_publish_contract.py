"""The published copy as a contract: the same types in DuckDB and Parquet, comments, payout Parquet, the aggregated copy."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cosell.config import AGGREGATED_CONFIG, Settings
from cosell.errors import CosellError
from cosell.payouts.ledger import LINES_DDL
from cosell.publish.aggregated import load_config
from cosell.publish.copy import parquet_path, publish


def build(settings: Settings, extra_sql: str = "") -> None:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("CREATE SCHEMA raw")  # the raw columns the aggregated copy checks against
        con.execute("CREATE TABLE raw.deals AS SELECT 'D-1' AS deal_id, 'C-1' AS customer_id, 'Acme Corp' AS customer_name")
        con.execute("CREATE SCHEMA marts")
        # sum() of counts is HUGEINT in DuckDB: Parquet cannot hold it (it would become a double)
        con.execute("""
            CREATE TABLE marts.mart_counts AS
            SELECT segment, sum(n) AS deals, CAST(sum(amount) AS DECIMAL(18,2)) AS pipeline_usd, avg(n) AS mean_deals
            FROM (VALUES ('SMB', 2::BIGINT, 10.50::DECIMAL(18,2)), ('SMB', 3, 1.25), ('ENTERPRISE', 1, 99.99))
                 t(segment, n, amount)
            GROUP BY segment""")
        con.execute("COMMENT ON TABLE marts.mart_counts IS 'Deals by segment.'")
        con.execute("COMMENT ON COLUMN marts.mart_counts.deals IS 'Deals in the segment.'")
        con.execute("CREATE TABLE marts.fct_deals AS SELECT 'D-1' AS deal_id, 'C-1' AS customer_id, 'SMB' AS segment")
        con.execute(LINES_DDL)
        con.execute("INSERT INTO payouts.lines VALUES ('2026-03', 'DRAFT', NULL, 'L1', 'P1', 'One', 'VAR', 'GOLD', "
                    "'COSELL_ACCELERATOR', 'D-1', 1000.00, '0.015', 15.00, 'default-v1')")
        if extra_sql:
            con.execute(extra_sql)
    finally:
        con.close()


def types(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]


def test_duckdb_copy_and_parquet_have_the_same_types(settings: Settings):
    build(settings)
    summary = publish(settings)
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        for qualified in summary.tables:
            schema, name = qualified.split(".")
            parquet = parquet_path(summary.parquet_dir, schema, name)
            assert types(con, qualified) == types(con, f"read_parquet('{parquet}')"), qualified
        assert dict(types(con, "marts.mart_counts")) == {
            "segment": "VARCHAR", "deals": "BIGINT", "pipeline_usd": "DECIMAL(18,2)", "mean_deals": "DOUBLE"}
        assert con.execute("SELECT sum(deals) FROM marts.mart_counts").fetchone()[0] == 6
    finally:
        con.close()
    assert (summary.parquet_dir / "payouts" / "lines.parquet").exists()  # the payout tables as Parquet too


def test_a_count_beyond_bigint_is_a_one_line_error(settings: Settings):
    build(settings, "CREATE TABLE marts.mart_huge AS SELECT sum(9223372036854775807::BIGINT) AS deals "
                    "FROM range(2)")
    with pytest.raises(CosellError, match="mart_huge cannot be published"):
        publish(settings)
    assert not settings.published.exists()


def test_comments_are_published(settings: Settings):
    build(settings)
    publish(settings)
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        tables = dict(con.execute("SELECT schema_name || '.' || table_name, comment FROM duckdb_tables()").fetchall())
        assert tables["marts.mart_counts"] == "Deals by segment."
        assert tables["payouts.lines"].startswith("Payout lines of every period")
        columns = dict(con.execute("SELECT table_name || '.' || column_name, comment FROM duckdb_columns() "
                                   "WHERE schema_name IN ('marts', 'payouts')").fetchall())
        assert columns["mart_counts.deals"] == "Deals in the segment."
        assert all(columns[f"lines.{c}"] for c in ("period", "status", "amount_usd", "rate"))
    finally:
        con.close()


# ---------------------------------------------------------------- the aggregated copy


def test_default_configuration_is_aggregated_marts_only():
    config = load_config(AGGREGATED_CONFIG)
    assert config and all(m.startswith("mart_") or m == "warehouse_as_of" for m in config)
    assert not {"fct_cosell_deals", "fct_cosell_engagements", "mart_roe_violations", "mart_repeat_requests"} & set(config)


def test_aggregated_copy_holds_only_the_configured_columns(settings: Settings, tmp_path: Path, monkeypatch):
    build(settings)
    config = tmp_path / "aggregated.yml"
    config.write_text("marts:\n  mart_counts: [segment, deals]\n  mart_not_built: [x]\n")
    monkeypatch.setattr("cosell.publish.copy.publish_aggregated.__defaults__", (config,))
    summary = publish(settings)
    assert summary.aggregated == settings.aggregated_copy and summary.aggregated_tables == ["marts.mart_counts"]
    con = duckdb.connect(str(settings.aggregated_copy), read_only=True)
    try:
        assert con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() ORDER BY 1").fetchall() == [
            ("marts.mart_counts",), ("meta.publication",)]
        assert [c for c, _ in types(con, "marts.mart_counts")] == ["segment", "deals"]
        assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'mart_counts'").fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("body, message", [
    ("marts:\n  fct_deals: [segment, deal_id]\n", "identifier and name columns are never part"),
    ("marts:\n  fct_deals: [customer_name]\n", "identifier and name columns are never part"),
    ("marts: [fct_deals]\n", "expected `marts:` mapping"),
    ("marts:\n  mart_counts: [segment, nope]\n", "mart_counts.nope, which the published copy lacks"),
])
def test_aggregated_configuration_errors(settings: Settings, tmp_path: Path, body, message):
    build(settings)
    config = tmp_path / "aggregated.yml"
    config.write_text(body)
    from cosell.publish.aggregated import publish_aggregated

    publish(settings)
    before = settings.aggregated_copy.read_bytes()
    with pytest.raises(CosellError, match=message):
        publish_aggregated(settings, config)
    assert settings.aggregated_copy.read_bytes() == before  # the previous copy stays


def test_a_text_column_holding_identifiers_is_refused(settings: Settings, tmp_path: Path):
    build(settings)
    from cosell.publish.aggregated import publish_aggregated

    publish(settings)
    config = tmp_path / "aggregated.yml"
    config.write_text("marts:\n  fct_deals: [segment]\n  mart_sneaky: [segment, label]\n")
    con = duckdb.connect(str(settings.published))
    con.execute("CREATE TABLE marts.mart_sneaky AS SELECT 'SMB' AS segment, 'Acme Corp' AS label")  # a customer name
    con.close()
    with pytest.raises(CosellError, match=r"mart_sneaky\.label holds the identifier 'Acme Corp'"):
        publish_aggregated(settings, config)
    assert sorted(p.name for p in settings.aggregated_copy.parent.iterdir()) == ["warehouse.duckdb"]
