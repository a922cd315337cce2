"""Publish from the previous published copy: the keyed, stamped facts updated in place must equal a fresh copy.

The warehouses here are real DuckDB files with the facts' real names, keys and watermark column; publish is the
product's. Every case compares the published copy with what a publish into an empty place makes of the same
warehouse: tables, columns, types, comments and rows (and, in the first, the Parquet twins).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cosell.config import Settings
from cosell.landing.raw_schema import create_raw_schema
from cosell.publish.copy import publish

DEALS = 2_000


def build(warehouse: Path, sql: str = "") -> None:
    """A warehouse with the two keyed facts (stamped by load) and a small mart; `sql` then changes it."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        create_raw_schema(con)
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute("CREATE TABLE IF NOT EXISTS marts.warehouse_as_of AS SELECT DATE '2026-03-01' AS as_of_date")
        con.execute(
            "CREATE TABLE IF NOT EXISTS marts.fct_cosell_deals AS SELECT 'D' || lpad(i::VARCHAR, 6, '0') AS deal_id, "
            "'P' || (i % 7)::VARCHAR AS partner_id, (i * 10.25)::DECIMAL(18,2) AS amount_usd, "
            "i::HUGEINT AS requests_total, 1::BIGINT AS _load_id_watermark FROM range(?) t(i)", [DEALS])
        con.execute(
            "CREATE TABLE IF NOT EXISTS marts.fct_cosell_engagements AS SELECT 'R' || i::VARCHAR AS request_id, "
            "1::BIGINT AS _load_id_watermark FROM range(300) t(i)")
        con.execute("COMMENT ON TABLE marts.fct_cosell_deals IS 'The deal fact.'")
        con.execute("COMMENT ON COLUMN marts.fct_cosell_deals.amount_usd IS 'Amount in USD.'")
        if sql:
            con.execute(sql)
        con.execute("CREATE OR REPLACE TABLE marts.mart_partner_totals AS SELECT partner_id, sum(amount_usd) AS "
                    "amount_usd FROM marts.fct_cosell_deals GROUP BY 1")
    finally:
        con.close()


# The night's change: 40 deals recomputed (stamped 2), 5 gone, 10 new.
NIGHT = """
UPDATE marts.fct_cosell_deals SET amount_usd = amount_usd + 1, _load_id_watermark = 2
 WHERE deal_id IN (SELECT deal_id FROM marts.fct_cosell_deals ORDER BY deal_id LIMIT 40 OFFSET 100);
DELETE FROM marts.fct_cosell_deals WHERE deal_id IN ('D000003', 'D000500', 'D000501', 'D001200', 'D001999');
INSERT INTO marts.fct_cosell_deals SELECT 'N' || i::VARCHAR, 'P1', 5.00, 0, 2 FROM range(10) t(i);
"""


def contents(path: Path) -> dict[str, list]:
    """Every marts table's columns with types and comments, and its rows sorted."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' ORDER BY 1").fetchall()]
        found = {}
        for name in names:
            columns = con.execute("SELECT column_name, data_type, comment FROM duckdb_columns() "
                                  "WHERE schema_name = 'marts' AND table_name = ? ORDER BY column_index", [name]).fetchall()
            rows = sorted(con.execute(f'SELECT * FROM marts."{name}"').fetchall())
            found[name] = [columns, rows]
        return found


def parquet_rows(settings: Settings) -> dict[str, list]:
    with duckdb.connect() as con:
        return {p.stem: sorted(con.execute("SELECT * FROM read_parquet(?)", [str(p)]).fetchall())
                for p in sorted((settings.published.parent / "parquet").glob("*.parquet"))}


def fresh(settings: Settings, tmp_path: Path) -> dict[str, list]:
    """What a publish into an empty place makes of the same warehouse."""
    other = Settings.from_env({"COSELL_HOME": str(settings.home), "COSELL_WAREHOUSE": str(settings.warehouse),
                               "COSELL_PUBLISHED": str(tmp_path / "fresh" / "warehouse.duckdb"),
                               "COSELL_AGGREGATED": str(tmp_path / "fresh-aggregated.duckdb")})
    assert publish(other).updated == {}
    return contents(other.published)


def night_after_a_reader(settings: Settings, sql: str):
    """Publish, let a reader with write access run `sql` on the published copy, then publish the night."""
    build(settings.warehouse)
    publish(settings)
    with duckdb.connect(str(settings.published)) as con:
        con.execute(sql)
    build(settings.warehouse, NIGHT)
    return publish(settings)


def test_the_facts_are_updated_in_place_and_equal_a_fresh_copy(settings: Settings, tmp_path: Path) -> None:
    build(settings.warehouse)
    first = publish(settings)
    assert first.updated == {}  # nothing published before: every table copied
    build(settings.warehouse, NIGHT)
    summary = publish(settings)
    assert summary.updated == {"marts.fct_cosell_deals": 50, "marts.fct_cosell_engagements": 0}
    assert "marts.fct_cosell_deals updated in place (50 rows)" in summary.describe()
    published = contents(settings.published)
    assert published == fresh(settings, tmp_path)
    deals = published["fct_cosell_deals"]
    assert len(deals[1]) == DEALS - 5 + 10 and ("D000003",) not in {r[:1] for r in deals[1]}
    assert [c[:2] for c in deals[0] if c[0] == "requests_total"] == [("requests_total", "BIGINT")]  # portable type
    assert ("amount_usd", "DECIMAL(18,2)", "Amount in USD.") in deals[0]
    assert parquet_rows(settings) == {name: rows for name, (_, rows) in published.items()}
    # a night with nothing new for the facts replaces no row and still equals the warehouse
    again = publish(settings)
    assert again.updated == {"marts.fct_cosell_deals": 0, "marts.fct_cosell_engagements": 0}
    assert contents(settings.published) == published


@pytest.mark.parametrize("tamper", [
    # a reader with write access edits a published row: the checksum differs
    "UPDATE marts.fct_cosell_deals SET amount_usd = 0 WHERE deal_id = 'D000007'",
    # a row deleted from the published copy (one of an old stamp: the night does not bring it again)
    "DELETE FROM marts.fct_cosell_deals WHERE deal_id = 'D000007'",
])
def test_a_published_fact_that_differs_from_what_was_published_is_copied_whole(settings: Settings, tmp_path: Path,
                                                                               tamper: str) -> None:
    summary = night_after_a_reader(settings, tamper)
    assert "marts.fct_cosell_deals" not in summary.updated
    assert contents(settings.published) == fresh(settings, tmp_path)


def test_a_warehouse_replaced_by_one_with_older_stamps_is_published_exactly(settings: Settings, tmp_path: Path) -> None:
    """A restored or rebuilt warehouse whose stamps are not newer than the published copy's: nothing is stale."""
    build(settings.warehouse, "UPDATE marts.fct_cosell_deals SET _load_id_watermark = 9")
    publish(settings)
    settings.warehouse.unlink()
    build(settings.warehouse, "UPDATE marts.fct_cosell_deals SET amount_usd = amount_usd * 2 WHERE deal_id < 'D000100'")
    summary = publish(settings)
    assert "marts.fct_cosell_deals" not in summary.updated
    assert contents(settings.published) == fresh(settings, tmp_path)


@pytest.mark.parametrize("change, reason", [
    ("ALTER TABLE marts.fct_cosell_deals ADD COLUMN stage VARCHAR DEFAULT 'PROSPECT'", "a column added"),
    ("UPDATE marts.fct_cosell_deals SET _load_id_watermark = 2 WHERE deal_id < 'D000600'", "more than a quarter changed"),
])
def test_a_fact_whose_columns_changed_or_that_changed_widely_is_copied_whole(settings: Settings, tmp_path: Path,
                                                                            change: str, reason: str) -> None:
    build(settings.warehouse)
    publish(settings)
    build(settings.warehouse, change)
    summary = publish(settings)
    assert "marts.fct_cosell_deals" not in summary.updated, reason
    assert summary.updated == {"marts.fct_cosell_engagements": 0}
    assert contents(settings.published) == fresh(settings, tmp_path)


@pytest.mark.parametrize("addition, reused", [
    ("CREATE VIEW main.mine AS SELECT 1 AS x", False),
    ("CREATE TABLE main.mine AS SELECT 1 AS x", False),
    ("CREATE MACRO twice(x) AS x * 2", False),
    ("CREATE SEQUENCE mine", False),
    # constraints and defaults do not show as objects, and a NOT NULL would fail a later night's insert
    ("ALTER TABLE marts.fct_cosell_deals ALTER COLUMN amount_usd SET NOT NULL", False),
    ("ALTER TABLE marts.fct_cosell_deals ALTER COLUMN partner_id SET DEFAULT 'reader'", False),
    ("ALTER TABLE marts.fct_cosell_deals ADD PRIMARY KEY (deal_id)", False),
    ("CREATE TABLE marts.mine AS SELECT 1 AS x", True),  # a table where the marts are: dropped like a mart gone
    # more free space than used (a big table made and dropped): a new file, compact again
    ("CREATE TABLE main.big AS SELECT range AS x, md5(range::VARCHAR) AS y FROM range(300000); DROP TABLE main.big; "
     "CHECKPOINT", False),
])
def test_a_published_file_holding_anything_else_is_not_reused(settings: Settings, tmp_path: Path, addition: str,
                                                              reused: bool) -> None:
    summary = night_after_a_reader(settings, addition)
    assert bool(summary.updated) == reused
    with duckdb.connect(str(settings.published), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'mine'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'mine'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'twice'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM duckdb_sequences()").fetchone()[0] == 0
    assert contents(settings.published) == fresh(settings, tmp_path)


@pytest.mark.parametrize("damage", [
    lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 3]),  # cut short
    lambda path: path.write_bytes(b"not a database" * 1000),
])
def test_a_damaged_published_file_is_replaced_by_a_new_one(settings: Settings, tmp_path: Path, damage) -> None:
    build(settings.warehouse)
    publish(settings)
    damage(settings.published)
    build(settings.warehouse, NIGHT)
    summary = publish(settings)
    assert summary.updated == {}
    assert contents(settings.published) == fresh(settings, tmp_path)
    assert [p.name for p in settings.published.parent.iterdir() if p.name.startswith(".")] == []


def test_comments_the_warehouse_dropped_or_a_reader_added_do_not_survive(settings: Settings, tmp_path: Path) -> None:
    build(settings.warehouse)
    publish(settings)
    with duckdb.connect(str(settings.published)) as con:
        con.execute("COMMENT ON COLUMN marts.fct_cosell_deals.partner_id IS 'reader note'")
    build(settings.warehouse, NIGHT + "COMMENT ON TABLE marts.fct_cosell_deals IS NULL; "
                                     "COMMENT ON COLUMN marts.fct_cosell_deals.amount_usd IS NULL;")
    assert "marts.fct_cosell_deals" in publish(settings).updated
    with duckdb.connect(str(settings.published), read_only=True) as con:
        assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'fct_cosell_deals'").fetchone() == (None,)
        assert con.execute("SELECT count(comment) FROM duckdb_columns() WHERE table_name = 'fct_cosell_deals'"
                           ).fetchone() == (0,)
    assert contents(settings.published) == fresh(settings, tmp_path)


def test_values_hash_equates_are_told_apart(settings: Settings) -> None:
    """A warehouse rebuilt with the same stamps where only -0.0, an empty list or an interval's form changed."""
    with_columns = ("ALTER TABLE marts.fct_cosell_deals ADD COLUMN hours DOUBLE DEFAULT 0.0; "
                    "ALTER TABLE marts.fct_cosell_deals ADD COLUMN kinds VARCHAR[]; "
                    "ALTER TABLE marts.fct_cosell_deals ADD COLUMN wait INTERVAL DEFAULT INTERVAL 30 DAYS; "
                    "ALTER TABLE marts.fct_cosell_deals ALTER COLUMN hours DROP DEFAULT; "
                    "ALTER TABLE marts.fct_cosell_deals ALTER COLUMN wait DROP DEFAULT;")
    build(settings.warehouse, with_columns)
    publish(settings)
    settings.warehouse.unlink()
    build(settings.warehouse, with_columns + "UPDATE marts.fct_cosell_deals SET hours = '-0.0'::DOUBLE, kinds = [], "
                                             "wait = INTERVAL 1 MONTH WHERE deal_id = 'D000042'")
    summary = publish(settings)
    assert "marts.fct_cosell_deals" not in summary.updated
    with duckdb.connect(str(settings.published), read_only=True) as con:
        assert con.execute("SELECT hours::VARCHAR, kinds::VARCHAR, wait::VARCHAR FROM marts.fct_cosell_deals "
                           "WHERE deal_id = 'D000042'").fetchone() == ("-0.0", "[]", "1 month")
