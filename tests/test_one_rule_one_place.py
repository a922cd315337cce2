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
from pathlib import Path

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


def test_supported_before_close_and_the_tier_interval_are_decided_in_dbt_only():
    """The marts are the interface: the rule's comparison is written in one model; Python and other models read it."""
    import re

    from cosell.config import DBT_PROJECT_DIR, PROJECT_ROOT

    compares_close = re.compile(r"(first_support_at|confirmed_at)\s*<\s*\w*closed_at")
    models = {p.name for p in (DBT_PROJECT_DIR / "models").rglob("*.sql") if compares_close.search(p.read_text())}
    assert models == {"int_requests_classified.sql"}
    python = [p.name for p in (PROJECT_ROOT / "src" / "cosell").rglob("*.py")
              if compares_close.search(p.read_text()) or re.search(r"updated_at\s*<", p.read_text())]
    assert python == []
# ---------------------------------------------------------------- one definition of each shared thing

ROOT = Path(__file__).parents[1]
SOURCES = sorted((ROOT / "src" / "cosell").rglob("*.py")) + sorted((ROOT / "dags").rglob("*.py"))


def _holding(text: str) -> list[str]:
    """The source files (under src/ and dags/) that contain text."""
    return [p.relative_to(ROOT / "src" if p.is_relative_to(ROOT / "src") else ROOT).as_posix()
            for p in SOURCES if text in p.read_text(encoding="utf-8")]


def test_the_payout_period_pattern_is_written_once():
    assert _holding("0[1-9]|1[0-2]") == ["cosell/payouts/rules.py"]


def test_telemetry_settings_are_listed_once_and_every_process_gets_them(tmp_path):
    from cosell import TELEMETRY_OFF
    from cosell.build.dbt import dbt_env
    from cosell.config import Settings
    from cosell.orchestration.airflow_demo import airflow_environment

    for name in TELEMETRY_OFF:
        assert _holding(f'"{name}"') == ["cosell/__init__.py"], name
    settings = Settings.from_env({"COSELL_HOME": str(tmp_path)})
    for env in (dbt_env(settings), airflow_environment(settings, tmp_path / "inbox")):
        assert {k: env[k] for k in TELEMETRY_OFF} == TELEMETRY_OFF


def test_the_contracts_enumerations_are_defined_once():
    """No module but contract.py writes one of the contract's enumerations as a literal tuple or list."""
    import ast

    from cosell import contract

    enumerations = {frozenset(v) for k, v in vars(contract).items()
                    if k.isupper() and isinstance(v, tuple) and len(v) > 1 and all(isinstance(x, str) for x in v)}
    copies = []
    for path in SOURCES:
        if path.name == "contract.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                if frozenset(e.value for e in node.elts) in enumerations:
                    copies.append(f"{path.name}:{node.lineno}")
    assert not copies


@pytest.mark.slow
def test_as_of_date_is_defined_by_the_dbt_model_and_every_step_after_the_build_reads_it(settings):
    """The rule's SQL is the dbt model's; landing (before any build) reports the value the next build
    gives; the Airflow period picker and the payout engine read the built one, so they never differ."""
    from test_dbt_marts import LOAD_1, LOAD_2, land_load

    from cosell.build.dbt import build
    from cosell.config import DBT_PROJECT_DIR
    from cosell.db import connect, warehouse_as_of
    from cosell.landing.raw_schema import landed_as_of
    from cosell.orchestration import airflow_tasks

    assert "max(case when status = 'LANDED' then business_date end)" in (
        DBT_PROJECT_DIR / "models" / "marts" / "warehouse_as_of.sql").read_text(encoding="utf-8")
    assert _holding("max(business_date)") == ["cosell/landing/raw_schema.py"]  # landed_as_of, landing's summary only
    land_load(settings, 1, LOAD_1)
    con = connect(settings, read_only=True)
    try:
        assert warehouse_as_of(con) is None  # not built yet
        landed = landed_as_of(con)
    finally:
        con.close()
    build(settings)
    land_load(settings, 2, LOAD_2)  # landed, not built yet
    con = connect(settings, read_only=True)
    try:
        built = warehouse_as_of(con)
        assert built == landed < landed_as_of(con)  # landing's figure is the one the build gave
    finally:
        con.close()
    patch = pytest.MonkeyPatch()
    patch.setenv("COSELL_HOME", str(settings.home))
    patch.setenv("COSELL_WAREHOUSE", str(settings.warehouse))
    try:
        assert airflow_tasks.warehouse_as_of() == built  # the payout engine stamps this one too
    finally:
        patch.undo()


# dbt's accepted_values lists past staging that name fewer values than the contract column, and why.
NARROWER_IN_DBT = {
    "motion": {"DIRECT"},  # the marts hold partner deals only (int_deals_enriched drops DIRECT)
}


def test_dbt_accepted_values_follow_the_contracts_enumerations():
    """YAML cannot import contract.py: every accepted_values list on a contract column names its values, no other."""
    import yaml

    from cosell.config import DBT_PROJECT_DIR
    from cosell.contract import FEEDS

    enums: dict[str, set[tuple[str, ...]]] = {}
    for feed in FEEDS.values():
        for column in feed.columns:
            if column.values:
                enums.setdefault(column.name, set()).add(column.values)
    enums["partner_tier"] = enums["tier"]  # the marts' name for the partner's tier
    seen = []
    for path in sorted(DBT_PROJECT_DIR.joinpath("models").rglob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        sources = [t for s in document.get("sources", []) for t in s.get("tables", []) if t["name"] in FEEDS]
        for node in document.get("models", []) + sources:  # source tables of the contract's feeds only
            for column in node.get("columns", []):
                name = column["name"].removeprefix("baseline_")
                for test in column.get("data_tests", column.get("tests", [])) or []:
                    if not isinstance(test, dict) or "accepted_values" not in test:
                        continue
                    spec = test["accepted_values"]
                    values = tuple(spec.get("arguments", spec)["values"])
                    if name not in enums:
                        continue  # a value the models derive (bands, statuses of their own)
                    (contract_values,) = enums[name]
                    missing = set(contract_values) - set(values)
                    assert set(values) <= set(contract_values), (path.name, node["name"], column["name"], values)
                    allowed = [set()] if "staging" in path.parts else [set(), NARROWER_IN_DBT.get(name, set())]
                    assert missing in allowed, (path.name, node["name"], column["name"], missing)
                    seen.append(name)
    assert {"partner_type", "stage", "resource_type", "motion"} <= set(seen)


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
