"""One source of truth per rule: what the gates no longer check is enforced where it now lives.

Landing rejects every row breaking a rule of SPEC section 1 (types, enums, ranges, required
values, row rules), so the raw gate does not check them again; dbt's data tests enforce the
marts' grains, enums and bounds, so the marts gate does not either (expectations/README.md).
These tests pin both halves: landing rejects each rule of the contract, for every feed, and
dbt declares a test for every marts rule the gate dropped.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import duckdb
import pytest
from extracts import VALID, csv_text, write

from cosell.contract import FEEDS
from cosell.gates.runner import load_suites
from cosell.landing.load import land

BAD_VALUE = {"enum": "NOT_A_VALUE", "int": "x1", "money": "-1.00", "rate": "-1", "date": "2026-13-01",
             "timestamp": "not a time", "bool": "yes", "currency": "usd"}


def _bad_rows(feed_name: str) -> list[tuple[str, dict]]:
    """(rule, row) for every required value and every typed / enumerated column of the feed."""
    feed = FEEDS[feed_name]
    rows = []
    for column in feed.columns:
        if not column.nullable:
            rows.append((f"{column.name} required", {**VALID[feed_name], column.name: ""}))
        if column.type in BAD_VALUE:
            rows.append((f"{column.name} {column.type}", {**VALID[feed_name], column.name: BAD_VALUE[column.type]}))
        if column.low is not None:
            rows.append((f"{column.name} >= {column.low}", {**VALID[feed_name], column.name: str(column.low - 1)}))
        if column.high is not None:
            rows.append((f"{column.name} <= {column.high}", {**VALID[feed_name], column.name: str(Decimal(column.high) + 1)}))
    return rows


@pytest.mark.parametrize("feed_name", list(FEEDS))
def test_landing_rejects_every_contract_rule_the_raw_gate_no_longer_checks(tmp_path, settings, feed_name):
    bad = _bad_rows(feed_name)
    inbox = tmp_path / "inbox"
    columns = list(FEEDS[feed_name].column_names)
    write(inbox, feed_name, "2026-03-01", "bad.csv", csv_text([VALID[feed_name]] + [r for _, r in bad], columns))
    summary = land(inbox, settings)
    assert summary.rows_landed == 1  # the valid row
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    rejected = {n for (n,) in con.execute("SELECT row_number FROM raw.rejects").fetchall()}
    con.close()
    missing = [rule for i, (rule, _) in enumerate(bad, start=2) if i not in rejected]
    assert not missing, f"{feed_name}: rows breaking {missing} were landed"


# Marts rules the gate dropped -> the dbt test that enforces each (its name in the manifest).
DROPPED_MARTS_RULES = {
    "coverage_rate_in_0_1": "expression_is_true_mart_cosell_coverage_coverage_rate",
    "eligible_within_deals": "expression_is_true_mart_cosell_coverage_supported_eligible",
    "coverage_grain_unique": "unique_combination_of_columns_mart_cosell_coverage",
    "acceptance_rate_in_0_1": "expression_is_true_mart_resource_deployment_pending",
    "deployment_grain_unique": "unique_combination_of_columns_mart_resource_deployment",
    "strata_grain_unique": "unique_combination_of_columns_mart_matched_cohort_strata",
    "matched_strata_hold_both_groups": "assert_matched_strata_hold_both_groups",
    "uplift_within_ci": "expression_is_true_mart_cosell_uplift_win_rate_uplift",
    "matched_treated_within_treated": "assert_uplift_matched_counts_consistent",
    "slice_type_in_enum": "accepted_values_mart_cosell_uplift_slice_type",
    "slice_grain_unique": "unique_combination_of_columns_mart_cosell_uplift",
    "amount_usd_set": "assert_every_deal_has_an_fx_rate",
    "repeat_partner_id_unique": "unique_mart_repeat_requests_partner_id",
    "satisfaction_grain_unique": "unique_combination_of_columns_mart_partner_satisfaction",
}


def test_dbt_tests_enforce_the_marts_rules_the_gate_dropped():
    from cosell.orchestration.airflow_tasks import (
        prepare_dbt_manifest,  # `dbt parse`: the tests dbt will run
    )

    manifest = json.loads(prepare_dbt_manifest().read_text(encoding="utf-8"))
    tests = [node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    for rule, name in DROPPED_MARTS_RULES.items():
        assert any(name in t for t in tests), f"{rule}: no dbt test like {name!r}"
    # ... and the gate does not check them twice
    gate = {e.name for s in load_suites("marts", {"max_reject_rate": 0.01}) for e in s.expectations}
    assert not gate & set(DROPPED_MARTS_RULES)


# The SPEC section 1 tie-break written out: an ordering over the lineage columns (SQL, or a list of them).
TIE_BREAK_COPY = re.compile(
    r"order\s+by\s[^)]{0,40}\b_business_date|_business_date\s+(?:asc|desc)\b|[\"']_business_date[\"']\s*,\s*[\"']_file_name",
    re.IGNORECASE,
)


def test_the_spec_tie_break_is_defined_once():
    """dbt/macros/tie_break.sql is the one definition: staging models call it, the gates render it (benchmarks/ keep
    the plain-DuckDB baseline's own copy on purpose: it is the yardstick, not product code)."""
    from cosell.config import PROJECT_ROOT
    from cosell.gates.queries import TIE_BREAK_MACRO, tie_break

    sources = [p for folder in ("src", "dbt/models", "dbt/macros", "dbt/tests", "expectations", "dags")
               for p in (PROJECT_ROOT / folder).rglob("*") if p.suffix in (".py", ".sql", ".yml", ".yaml")]
    copies = [str(p.relative_to(PROJECT_ROOT)) for p in sources
              if p != TIE_BREAK_MACRO and TIE_BREAK_COPY.search(p.read_text(encoding="utf-8"))]
    assert copies == [], f"a second copy of the SPEC tie-break: {copies} (use spec_tie_break / gate_queries.tie_break)"
    assert TIE_BREAK_COPY.search(TIE_BREAK_MACRO.read_text(encoding="utf-8"))  # the detector sees the definition's form
    # every model that keeps one row per key orders with the macro
    for model in ("stg_raw__deals", "stg_raw__engagements", "stg_raw__activities", "stg_raw__satisfaction_responses",
                  "stg_raw__fx_rates", "stg_raw__partner_versions", "stg_raw__partners"):
        text = next((PROJECT_ROOT / "dbt" / "models").rglob(f"{model}.sql")).read_text(encoding="utf-8")
        assert "spec_tie_break(" in text, model
    # and the gates read the same order
    assert tie_break("deals") == "updated_at desc, _business_date desc, _file_name desc, _row_number desc"
    assert tie_break("fx_rates") == "_business_date desc, _file_name desc, _row_number desc"
    assert tie_break("activities") == tie_break("satisfaction") == "_business_date asc, _file_name asc, _row_number asc"


def test_a_second_copy_of_the_tie_break_is_caught():
    assert TIE_BREAK_COPY.search("order by updated_at desc, _business_date desc, _file_name desc, _row_number desc")
    assert TIE_BREAK_COPY.search("ORDER BY _business_date, _file_name, _row_number")
    assert TIE_BREAK_COPY.search('cols += ["_business_date", "_file_name", "_row_number"]')
    assert TIE_BREAK_COPY.search("{%- set lineage = ['_business_date', '_file_name', '_row_number'] -%}")
    assert not TIE_BREAK_COPY.search("index: [feed, business_date, file_name]")  # not an ordering of lineage
    assert not TIE_BREAK_COPY.search("lineage columns (_business_date,\n _file_name, _file_sha256, _row_number)")
