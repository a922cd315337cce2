"""The quality gates on real DuckDB files and real Great Expectations.

A small hand-written raw layer, and the marts the real dbt build makes from it, pass both gates;
each corruption below (of the raw rows, or SQL on the built marts) breaks exactly the
expectation it names, and the report (exception message and JSON) names it with the
offending rows. Warn-severity failures are reported but do not fail the gate.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cosell.build.dbt import build
from cosell.config import Settings
from cosell.contract import FEEDS
from cosell.errors import CosellError
from cosell.gates.runner import GateFailed, check, load_suites
from cosell.landing.raw_schema import create_raw_schema

T = dt.datetime
D = dt.date


def _settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    return Settings.from_env(
        {
            "COSELL_HOME": str(home),
            "COSELL_WAREHOUSE": str(home / "warehouse.duckdb"),
            "COSELL_DUCKDB_THREADS": "2",
            "COSELL_DUCKDB_MEMORY_LIMIT": "1GB",
            "COSELL_MAX_REJECT_RATE": "0.2",
        }
    )


# --------------------------------------------------------------------------- clean fixture

PARTNER = dict(
    partner_name="Acme", partner_type="VAR", tier="GOLD", region="EMEA", country="DE", certified_specialists=4,
    parent_partner_id=None, onboarded_on=D(2025, 1, 1), is_active=True, updated_at=T(2026, 1, 1),
)
DEAL = dict(
    customer_id="C1", customer_name="Cust", customer_segment="ENTERPRISE", industry="Retail", country="DE",
    product_category="CLOUD", motion="PARTNER_LED", marketplace=None, sourced_by="PARTNER", is_new_logo=True,
    competitive_situation="COMPETITIVE_EVAL", complexity=3, stakeholder_level="VP", stage="PROSPECT",
    amount=Decimal("100000.00"), currency="USD", registered_at=T(2026, 1, 5), expected_close_on=None,
    closed_at=None, updated_at=T(2026, 1, 5), is_deleted=False,
)


def raw_rows() -> dict[str, list[dict]]:
    """Valid raw rows of every feed (lineage added by insert_raw)."""
    return {
        "partners": [
            {**PARTNER, "partner_id": "P1"},
            {**PARTNER, "partner_id": "P2", "partner_type": "SI", "tier": "PLATINUM", "parent_partner_id": "P1"},
        ],
        "deals": [
            # D1: won in EUR, supported before close (TREATED)
            {**DEAL, "deal_id": "D1", "partner_id": "P1", "stage": "CLOSED_WON", "currency": "EUR",
             "amount": Decimal("10000.05"), "closed_at": T(2026, 2, 10), "updated_at": T(2026, 2, 10)},
            # D2: open partner deal with a pending request
            {**DEAL, "deal_id": "D2", "partner_id": "P2"},
            # D3: direct deal, lost
            {**DEAL, "deal_id": "D3", "partner_id": None, "motion": "DIRECT", "stage": "CLOSED_LOST",
             "closed_at": T(2026, 2, 1), "updated_at": T(2026, 2, 1)},
            # D4: marketplace deal, won, no request (CONTROL)
            {**DEAL, "deal_id": "D4", "partner_id": "P1", "motion": "MARKETPLACE", "marketplace": "AWS",
             "stage": "CLOSED_WON", "amount": Decimal("20000.00"), "closed_at": T(2026, 2, 20),
             "updated_at": T(2026, 2, 20)},
            # D5: an old open deal whose request R3 gave P1 its first support in 2025 (its repeat window has
            # closed by the as_of date: a row of mart_repeat_request_rate)
            {**DEAL, "deal_id": "D5", "partner_id": "P1", "amount": Decimal("5000.00"), "registered_at": T(2025, 5, 1),
             "updated_at": T(2025, 5, 1)},
        ],
        "engagements": [
            {"request_id": "R1", "deal_id": "D1", "partner_id": "P1", "resource_type": "PRESALES_ENGINEERING",
             "status": "ACCEPTED", "requested_at": T(2026, 1, 10), "stage_at_request": "QUALIFIED",
             "confirmed_at": T(2026, 1, 11), "completed_at": None, "vendor_resource_id": "V1",
             "updated_at": T(2026, 1, 11)},
            {"request_id": "R2", "deal_id": "D2", "partner_id": "P2", "resource_type": "PRODUCT_SPECIALIST",
             "status": "REQUESTED", "requested_at": T(2026, 1, 12), "stage_at_request": "PROSPECT",
             "confirmed_at": None, "completed_at": None, "vendor_resource_id": None, "updated_at": T(2026, 1, 12)},
            {"request_id": "R3", "deal_id": "D5", "partner_id": "P1", "resource_type": "PRODUCT_SPECIALIST",
             "status": "COMPLETED", "requested_at": T(2025, 5, 2), "stage_at_request": "PROSPECT",
             "confirmed_at": T(2025, 5, 3), "completed_at": T(2025, 5, 20), "vendor_resource_id": "V2",
             "updated_at": T(2025, 5, 20)},
        ],
        "activities": [
            {"activity_id": "A1", "request_id": "R1", "deal_id": "D1", "occurred_at": T(2026, 1, 15),
             "activity_type": "DEMO", "vendor_role": "TECHNICAL", "partner_briefed": True, "partner_present": True,
             "in_engagement_plan": True, "commercial_discussion": False},
        ],
        "satisfaction": [
            {"response_id": "S1", "partner_id": "P1", "request_id": "R1", "survey_type": "COSELL_ENGAGEMENT",
             "score": 4, "submitted_at": T(2026, 1, 20), "comment": None},
            {"response_id": "S2", "partner_id": "P2", "request_id": None, "survey_type": "PROGRAM_NPS",
             "score": 9, "submitted_at": T(2026, 1, 21), "comment": "good"},
        ],
        "fx_rates": [
            {"rate_date": D(2026, 1, 1), "currency": "EUR", "usd_per_unit": Decimal("1.100000000000")},
            {"rate_date": D(2026, 2, 1), "currency": "EUR", "usd_per_unit": Decimal("1.050000000000")},
        ],
    }


# D1: 10000.05 EUR x 1.05 (rate of 2026-02-01 <= closed 2026-02-10) = 10500.0525 -> 10500.05
D1_USD = Decimal("10500.05")


def insert_raw(con: duckdb.DuckDBPyConnection, rows: dict[str, list[dict]], load_id: int = 1) -> None:
    for feed_name, feed_rows in rows.items():
        feed = FEEDS[feed_name]
        cols = list(feed.column_names) + ["_business_date", "_file_name", "_file_sha256", "_row_number", "_load_id"]
        sha = f"sha-{feed_name}-{load_id}"
        for i, row in enumerate(feed_rows, start=1):
            values = [row.get(c) for c in feed.column_names]
            values += [
                row.get("_business_date", D(2026, 3, 1)), row.get("_file_name", f"{feed_name}.csv"),
                row.get("_file_sha256", sha), row.get("_row_number", i), row.get("_load_id", load_id),
            ]
            con.execute(
                f"INSERT INTO raw.{feed_name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values
            )
        if feed_rows:
            con.execute(
                "INSERT INTO raw.load_audit VALUES (?, ?, ?, ?, ?, ?, 'LANDED', ?, 0, NULL, NULL, ?)",
                [load_id, feed_name, D(2026, 3, 1), f"{feed_name}.csv", f"/inbox/{feed_name}/2026-03-01/{feed_name}.csv",
                 sha, len(feed_rows), T(2026, 3, 2)],
            )


_BUILT: dict[str, Path] = {}  # repr(raw rows) -> a warehouse the real dbt build made from them, once per session
_CACHE = Path(tempfile.mkdtemp(prefix="cosell_gate_marts_"))
atexit.register(shutil.rmtree, _CACHE, True)


def _built_marts(rows: dict[str, list[dict]]) -> Path:
    """The warehouse `dbt build` (cosell build) gives from these raw rows; built once, then copied."""
    key = repr(sorted(rows.items()))
    if key not in _BUILT:
        folder = _CACHE / str(len(_BUILT))
        settings = _settings(folder)
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(settings.warehouse))
        try:
            con.execute("SET TimeZone = 'UTC'")
            create_raw_schema(con)
            insert_raw(con, rows)
        finally:
            con.close()
        build(settings)
        _BUILT[key] = settings.warehouse
    return _BUILT[key]


def build_warehouse(settings: Settings, rows: dict | None = None, marts: bool = True, sql: list[str] = ()) -> None:
    """The raw layer of these rows, with the marts the real dbt project builds from them (marts=True), then `sql`."""
    rows = raw_rows() if rows is None else rows
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    if marts:
        shutil.copyfile(_built_marts(rows), settings.warehouse)
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not marts:
            create_raw_schema(con)
            insert_raw(con, rows)
        for statement in sql:
            con.execute(statement)
    finally:
        con.close()


@pytest.fixture
def gate_settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path)


# --------------------------------------------------------------------------- clean runs


def test_suites_load_and_every_expectation_has_a_severity():
    for stage in ("raw", "marts"):
        suites = load_suites(stage, {"max_reject_rate": 0.01})
        assert suites
        for suite in suites:
            for spec in suite.expectations:
                assert spec.severity in ("fail", "warn")


def test_clean_fixture_passes_both_gates(gate_settings):
    build_warehouse(gate_settings)
    raw = check("raw", gate_settings)
    assert raw.ok, raw.describe()
    assert raw.failures == [] and raw.warnings == []
    assert raw.batch_load_ids == [1]
    marts = check("marts", gate_settings)
    assert marts.ok, marts.describe()
    assert marts.failures == [] and marts.warnings == []
    for result in (raw, marts):
        assert result.docs_path.name == "index.html" and result.docs_path.exists()
        assert "passed" in result.describe()
        data = json.loads(result.json_path.read_text())
        assert data["ok"] is True and data["expectations"] == result.expectations > 10
        assert len(data["results"]) == result.expectations and all(r["success"] for r in data["results"])
    html = list((gate_settings.reports_dir / "data_docs" / "raw").rglob("*.html"))
    assert len(html) > 5  # index, suites and validation pages


# --------------------------------------------------------------------------- corruptions


def _first(rows: dict, feed: str) -> dict:
    return {k: v for k, v in rows[feed][0].items() if not k.startswith("_")}


def add(feed: str, **changes):
    """A corruption appending a copy of the feed's first row with `changes` (lineage keys allowed)."""

    def corrupt(rows: dict) -> None:
        rows[feed].append({**_first(rows, feed), **changes})

    return corrupt


def sql(*statements: str):
    return list(statements)


def _apply(gate_settings: Settings, corruption) -> None:
    if callable(corruption):
        rows = raw_rows()
        corruption(rows)
        build_warehouse(gate_settings, rows, marts=False)  # raw corruptions: the raw gate reads the raw layer only
    else:
        build_warehouse(gate_settings, sql=corruption)


def _finding(result_or_error, name: str):
    result = result_or_error.result if isinstance(result_or_error, GateFailed) else result_or_error
    for finding in result.failures + result.warnings:
        if finding.expectation == name:
            return finding
    return None


RAW_CASES = [
    # partners
    ("raw_partners.partner_id_unique_in_latest_state", "fail", add("partners", partner_id="P1", _row_number=1), "partner_id=P1"),
    ("raw_partners.parent_partner_landed", "warn", add("partners", partner_id="P9", parent_partner_id="PX"), "partner_id=P9"),
    # deals
    ("raw_deals.deal_id_unique_in_latest_state", "fail", add("deals", deal_id="D1", _row_number=1), "deal_id=D1"),
    ("raw_deals.marketplace_set_on_marketplace_deals", "fail",
     add("deals", deal_id="D9", motion="MARKETPLACE", marketplace=None), "deal_id=D9"),
    ("raw_deals.closed_at_not_before_registered_at", "warn",
     add("deals", deal_id="D9", stage="CLOSED_LOST", closed_at=T(2026, 1, 1), currency="USD"), "deal_id=D9"),
    ("raw_deals.partner_landed", "fail", add("deals", deal_id="D9", partner_id="PX"), "deal_id=D9"),
    # engagements
    ("raw_engagements.request_id_unique_in_latest_state", "fail",
     add("engagements", request_id="R1", _row_number=1), "request_id=R1"),
    ("raw_engagements.confirmed_not_before_requested", "fail",
     add("engagements", request_id="R9", confirmed_at=T(2026, 1, 9)), "request_id=R9"),
    ("raw_engagements.deal_landed", "warn", add("engagements", request_id="R9", deal_id="DX"), "request_id=R9"),
    ("raw_engagements.partner_landed", "warn", add("engagements", request_id="R9", partner_id="PX"), "request_id=R9"),
    # activities
    ("raw_activities.activity_id_unique_after_dedup", "fail",
     add("activities", activity_id="A1", _row_number=1), "activity_id=A1"),
    ("raw_activities.deal_landed", "warn", add("activities", activity_id="A9", deal_id="DX"), "activity_id=A9"),
    ("raw_activities.request_landed", "warn", add("activities", activity_id="A9", request_id="RX"), "activity_id=A9"),
    # satisfaction
    ("raw_satisfaction.response_id_unique_after_dedup", "fail",
     add("satisfaction", response_id="S1", _row_number=1), "response_id=S1"),
    ("raw_satisfaction.partner_landed", "warn", add("satisfaction", response_id="S9", partner_id="PX"), "response_id=S9"),
    ("raw_satisfaction.request_landed", "warn", add("satisfaction", response_id="S9", request_id="RX"), "response_id=S9"),
    # fx
    ("raw_fx_rates.rate_key_unique_in_latest_state", "fail", add("fx_rates", _row_number=1), "currency=EUR"),
    ("raw_fx_rates.usd_per_unit_positive", "warn", add("fx_rates", currency="CHF", usd_per_unit=Decimal("0")), "currency=CHF"),
    ("raw_fx_rates.rate_for_every_deal_currency", "fail", add("deals", deal_id="D9", currency="GBP"), "deal_id=D9"),
    # an EUR deal registered before the first EUR rate (2026-01-01)
    ("raw_fx_rates.rate_for_every_deal_currency", "fail",
     add("deals", deal_id="D8", currency="EUR", stage="QUALIFIED", closed_at=None, registered_at=T(2025, 12, 31)),
     "deal_id=D8"),
    # batch
    ("raw_batch.batch_has_files", "fail", lambda rows: rows.clear(), "observed 0"),
    ("raw_batch.no_quarantined_file", "fail",
     sql("INSERT INTO raw.load_audit VALUES (1, 'deals', '2026-03-01', 'broken.csv', '/inbox/deals/2026-03-01/broken.csv',"
         " 'sha-broken', 'QUARANTINED', 0, 0, 'missing column amount', '/q/broken.csv', '2026-03-02')"),
     "file_name=broken.csv"),
    ("raw_batch.status_in_enum", "fail",
     sql("UPDATE raw.load_audit SET status = 'SKIPPED' WHERE feed = 'activities'"), "file_name=activities.csv"),
    ("raw_batch.reject_rate_under_limit", "fail",
     sql("UPDATE raw.load_audit SET rows_rejected = 4 WHERE feed = 'deals'",
         "INSERT INTO raw.rejects SELECT 'deals', '2026-03-01', 'deals.csv', 'sha-deals-1', 10 + i, 'x', 'bad', 1"
         " FROM range(4) t(i)"),
     "load_id=1"),
    ("raw_batch.file_reject_rate_under_limit", "warn",
     sql("UPDATE raw.load_audit SET rows_rejected = 1 WHERE feed = 'activities'",
         "INSERT INTO raw.rejects VALUES ('activities', '2026-03-01', 'activities.csv', 'sha-activities-1', 2, 'x',"
         " 'bad', 1)"),
     "file_name=activities.csv"),
    ("raw_batch.audit_matches_rows", "fail",
     sql("UPDATE raw.load_audit SET rows_landed = 99 WHERE feed = 'engagements'"), "file_name=engagements.csv"),
]

MARTS_CASES = [
    ("marts_coverage.coverage_rate_is_supported_over_eligible", "fail",
     sql("UPDATE marts.mart_cosell_coverage SET coverage_rate = 0.5 WHERE partner_type = 'SI'"), "partner_type=SI"),
    ("marts_coverage.p90_not_below_median", "warn",
     sql("UPDATE marts.mart_resource_deployment SET p90_hours_to_confirm = 1 WHERE partner_type = 'VAR'"),
     "resource_type=PRESALES_ENGINEERING"),
    ("marts_cohort.strata_treated_win_rate_in_0_1", "fail",
     sql("UPDATE marts.mart_matched_cohort_strata SET treated_win_rate = 1.2"), "amount_band=A_LT_25K"),
    ("marts_cohort.strata_control_win_rate_in_0_1", "fail",
     sql("UPDATE marts.mart_matched_cohort_strata SET control_win_rate = -0.1"), "amount_band=A_LT_25K"),
    ("marts_cohort.wins_within_deals", "fail",
     sql("UPDATE marts.mart_matched_cohort_strata SET treated_wins = 2"), "amount_band=A_LT_25K"),
    ("marts_cohort.uplift_treated_win_rate_in_0_1", "fail",
     sql("UPDATE marts.mart_cosell_uplift SET treated_win_rate = 1.5 WHERE slice_value = 'VAR'"), "slice_value=VAR"),
    ("marts_cohort.uplift_control_win_rate_in_0_1", "fail",
     sql("UPDATE marts.mart_cosell_uplift SET control_win_rate = 1.5 WHERE slice_value = 'VAR'"), "slice_value=VAR"),
    ("marts_cohort.uplift_in_minus1_1", "fail",
     sql("UPDATE marts.mart_cosell_uplift SET win_rate_uplift = 2, uplift_ci_high = 3 WHERE slice_value = 'VAR'"),
     "slice_value=VAR"),
    ("marts_repeat.supported_within_requests", "fail",
     sql("UPDATE marts.mart_repeat_requests SET supported_requests = 5 WHERE partner_id = 'P2'"), "partner_id=P2"),
    ("marts_repeat.days_to_repeat_not_negative", "fail",
     sql("UPDATE marts.mart_repeat_requests SET days_to_repeat = -3 WHERE partner_id = 'P1'"), "partner_id=P1"),
    ("marts_repeat.repeat_rate_in_0_1", "fail",
     sql("UPDATE marts.mart_repeat_request_rate SET repeat_rate = 1.5"), "partner_type=VAR"),
    ("marts_repeat.repeat_within_supported", "fail",
     sql("UPDATE marts.mart_repeat_request_rate SET repeat_partners = 2"), "partner_type=VAR"),
    ("marts_satisfaction.csat_avg_in_1_5", "fail",
     sql("UPDATE marts.mart_partner_satisfaction SET cosell_csat_avg = 6 WHERE partner_id = 'P1'"), "partner_id=P1"),
    ("marts_satisfaction.nps_in_minus100_100", "fail",
     sql("UPDATE marts.mart_partner_satisfaction SET nps = 150 WHERE partner_id = 'P2'"), "partner_id=P2"),
    ("marts_deals.is_won_follows_stage", "fail",
     sql("UPDATE marts.fct_cosell_deals SET is_won = true WHERE deal_id = 'D2'"), "deal_id=D2"),
    ("marts_deals.cohort_group_follows_definition", "fail",
     sql("UPDATE marts.fct_cosell_deals SET first_support_at = '2026-02-11' WHERE deal_id = 'D1'"), "deal_id=D1"),
    ("marts_deals.cohort_group_follows_definition", "fail",
     sql("UPDATE marts.fct_cosell_deals SET cohort_group = 'CONTROL' WHERE deal_id = 'D2'"), "deal_id=D2"),
    ("marts_reconciliation.fct_deals_match_raw_latest", "fail",
     sql("DELETE FROM marts.fct_cosell_deals WHERE deal_id = 'D2'"), "metric=deals"),
    ("marts_reconciliation.fct_deals_match_raw_latest", "fail",
     sql("INSERT INTO marts.fct_cosell_deals SELECT * FROM marts.fct_cosell_deals WHERE deal_id = 'D2'"),
     "metric=deals"),
    ("marts_reconciliation.coverage_matches_fct", "fail",
     sql("UPDATE marts.mart_cosell_coverage SET deals = 3 WHERE partner_type = 'VAR'"), "metric=deals"),
    ("marts_reconciliation.coverage_matches_fct", "fail",
     sql("UPDATE marts.mart_cosell_coverage SET eligible_pipeline_usd = 1 WHERE partner_type = 'SI'"),
     "metric=eligible_pipeline_usd"),
    ("marts_reconciliation.won_totals_match_raw", "fail",
     sql("UPDATE marts.fct_cosell_deals SET amount_usd = 10500.06 WHERE deal_id = 'D1'"), "metric=won_amount_usd"),
    ("marts_reconciliation.won_deals_match_raw", "fail",
     sql("UPDATE marts.fct_cosell_deals SET amount_usd = 10500.06 WHERE deal_id = 'D1'"), "deal_id=D1"),
    # a won deal the marts miss (raw says D2 is won now)
    ("marts_reconciliation.won_deals_match_raw", "fail",
     sql("UPDATE raw.deals SET stage = 'CLOSED_WON', closed_at = '2026-02-15' WHERE deal_id = 'D2'"), "deal_id=D2"),
    ("marts_reconciliation.cohort_matches_fct", "fail",
     sql("UPDATE marts.fct_cosell_deals SET cohort_group = 'EXCLUDED' WHERE deal_id = 'D4'"),
     "metric=strata_control_deals"),
    ("marts_reconciliation.deployment_matches_fct", "fail",
     sql("UPDATE marts.mart_resource_deployment SET requests = 2, pending = 1 WHERE partner_type = 'VAR'"),
     "metric=requests"),
]


def _case_id(case) -> str:
    return f"{case[0]}:{case[3]}"


def _run_case(gate_settings: Settings, stage: str, name: str, severity: str, corruption, token: str) -> None:
    _apply(gate_settings, corruption)
    suite = name.split(".")[0]
    if severity == "fail":
        with pytest.raises(GateFailed) as raised:
            check(stage, gate_settings, suites=[suite])
        error = raised.value
        message = str(error)
        assert "\n" not in message
        assert f"{name} [fail]" in message
        assert token in message, message
        outcome = error.result
        assert not outcome.ok
    else:
        outcome = check(stage, gate_settings, suites=[suite])
        assert outcome.ok, outcome.describe()
        assert name in outcome.describe()
    finding = _finding(outcome, name)
    assert finding is not None and finding.severity == severity, outcome.describe()
    assert token in finding.brief(), finding.brief()
    report = json.loads(outcome.json_path.read_text())
    listed = report["failures" if severity == "fail" else "warnings"]
    entry = next(f for f in listed if f["expectation"] == name)
    assert entry["sample"] or entry["observed"] is not None
    if "=" in token:
        assert token.split("=")[-1] in json.dumps(entry)


@pytest.mark.parametrize("case", RAW_CASES, ids=_case_id)
def test_raw_corruption_fails_its_expectation(gate_settings, case):
    _run_case(gate_settings, "raw", *case)


@pytest.mark.parametrize("case", MARTS_CASES, ids=_case_id)
def test_marts_corruption_fails_its_expectation(gate_settings, case):
    _run_case(gate_settings, "marts", *case)


def test_cases_cover_every_expectation():
    named = {case[0] for case in RAW_CASES + MARTS_CASES}
    for stage in ("raw", "marts"):
        for suite in load_suites(stage, {"max_reject_rate": 0.01}):
            for spec in suite.expectations:
                assert spec.qualified_name in named, f"no corrupted fixture for {spec.qualified_name}"
                severity = next(c[1] for c in RAW_CASES + MARTS_CASES if c[0] == spec.qualified_name)
                assert severity == spec.severity, spec.qualified_name


# --------------------------------------------------------------------------- gate behaviour


def test_warnings_do_not_fail_the_full_gate(gate_settings):
    rows = raw_rows()
    add("engagements", request_id="R9", deal_id="DX")(rows)  # a request whose deal has not arrived yet
    build_warehouse(gate_settings, rows, marts=False)
    result = check("raw", gate_settings)
    assert result.ok
    assert [w.expectation for w in result.warnings] == ["raw_engagements.deal_landed"]
    assert "1 warnings" in result.describe() and "raw_engagements.deal_landed" in result.describe()


def test_failure_message_names_every_failed_expectation(gate_settings):
    rows = raw_rows()
    add("deals", deal_id="D9", motion="MARKETPLACE", marketplace=None)(rows)
    add("engagements", request_id="R9", confirmed_at=T(2026, 1, 9))(rows)
    build_warehouse(gate_settings, rows, marts=False)
    with pytest.raises(CosellError) as raised:
        check("raw", gate_settings)
    message = str(raised.value)
    assert message.startswith("raw gate failed, 2 expectation(s): ")
    assert "raw_deals.marketplace_set_on_marketplace_deals [fail]" in message and "deal_id=D9" in message
    assert "raw_engagements.confirmed_not_before_requested [fail]" in message and "request_id=R9" in message
    assert "report " in message and "\n" not in message
    report = json.loads((gate_settings.reports_dir / "data_docs" / "raw" / "gate_result.json").read_text())
    assert report["ok"] is False and len(report["failures"]) == 2
    assert sorted(r["expectation"] for r in report["results"] if not r["success"]) == [
        "raw_deals.marketplace_set_on_marketplace_deals", "raw_engagements.confirmed_not_before_requested"]
    assert (gate_settings.reports_dir / "data_docs" / "raw" / "index.html").exists()


def test_reject_rate_limit_comes_from_settings(gate_settings):
    build_warehouse(
        gate_settings,
        marts=False,
        sql=["UPDATE raw.load_audit SET rows_rejected = 1 WHERE feed = 'deals'",
             "INSERT INTO raw.rejects VALUES ('deals', '2026-03-01', 'deals.csv', 'sha-deals-1', 9, 'x', 'bad', 1)"],
    )
    # 1 rejected of 17 rows: 5.6 %, under the fixture's 20 % limit ...
    assert check("raw", gate_settings, suites=["raw_batch"]).ok
    # ... and over the default 1 %.
    strict = Settings(**{**gate_settings.__dict__, "max_reject_rate": 0.01})
    with pytest.raises(GateFailed, match="raw_batch.reject_rate_under_limit"):
        check("raw", strict, suites=["raw_batch"])


def test_unreadable_mart_fails_its_expectations(gate_settings):
    build_warehouse(gate_settings, sql=["DROP TABLE marts.mart_repeat_request_rate"])
    with pytest.raises(GateFailed) as raised:
        check("marts", gate_settings, suites=["marts_repeat"])
    failed = {f.expectation: f for f in raised.value.result.failures}
    assert set(failed) == {"marts_repeat.repeat_rate_in_0_1", "marts_repeat.repeat_within_supported"}
    assert all("query failed" in f.error for f in failed.values())


def test_missing_warehouse_or_marts_is_a_one_line_error(gate_settings):
    with pytest.raises(CosellError, match="does not exist"):
        check("raw", gate_settings)
    build_warehouse(gate_settings, marts=False)
    with pytest.raises(CosellError, match="no marts"):
        check("marts", gate_settings)
    with pytest.raises(CosellError, match="unknown gate"):
        check("staging", gate_settings)


def test_without_a_ledger_the_latest_load_is_the_batch(gate_settings):
    """Row rules apply to the nightly batch: an old bad row from load 1 is not re-judged (tests/test_ledger.py: with one)."""
    rows = raw_rows()
    add("deals", deal_id="D9", motion="MARKETPLACE", marketplace=None)(rows)
    build_warehouse(gate_settings, rows, marts=False)
    con = duckdb.connect(str(gate_settings.warehouse))
    insert_raw(con, {"partners": [{**PARTNER, "partner_id": "P3", "updated_at": T(2026, 3, 1)}]}, load_id=2)
    con.close()
    result = check("raw", gate_settings, suites=["raw_deals", "raw_partners", "raw_batch"])
    assert result.ok and result.batch_load_ids == [2]


def test_missing_mart_column_fails_its_expectation(gate_settings):
    build_warehouse(gate_settings, sql=["ALTER TABLE marts.mart_repeat_request_rate DROP COLUMN repeat_rate"])
    with pytest.raises(GateFailed, match=r"marts_repeat.repeat_rate_in_0_1 \[fail\] \(.*repeat_rate.*does not exist"):
        check("marts", gate_settings, suites=["marts_repeat"])


def test_large_batch_is_validated_chunk_by_chunk(gate_settings, monkeypatch):
    import cosell.gates.runner as gates

    monkeypatch.setattr(gates, "CHUNK_ROWS", 2048)
    build_warehouse(
        gate_settings,
        marts=False,
        sql=[
            "INSERT INTO raw.engagements SELECT 'RB' || i, 'D1', 'P1', 'PRESALES_ENGINEERING', 'ACCEPTED',"
            " TIMESTAMP '2026-01-10', 'QUALIFIED',"
            " CASE WHEN i IN (7, 2500) THEN TIMESTAMP '2026-01-09' ELSE TIMESTAMP '2026-01-11' END, NULL, 'V1',"
            " TIMESTAMP '2026-01-11', DATE '2026-03-01', 'bulk.csv', 'sha-bulk', i, 1 FROM range(3000) t(i)",
            "INSERT INTO raw.load_audit VALUES (1, 'engagements', '2026-03-01', 'bulk.csv', '/inbox/bulk.csv', 'sha-bulk',"
            " 'LANDED', 3000, 0, NULL, NULL, '2026-03-02')",
        ],
    )
    with pytest.raises(GateFailed) as raised:
        check("raw", gate_settings, suites=["raw_engagements"])
    failures = raised.value.result.failures
    assert [f.expectation for f in failures] == ["raw_engagements.confirmed_not_before_requested"]
    assert failures[0].unexpected_count == 2
    assert {row["request_id"] for row in failures[0].sample} == {"RB7", "RB2500"}


def test_gate_never_touches_the_network(gate_settings, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    build_warehouse(gate_settings)
    assert check("raw", gate_settings, suites=["raw_batch"]).ok
    assert check("marts", gate_settings, suites=["marts_repeat"]).ok


def test_bad_suite_file_is_a_one_line_error(tmp_path):
    (tmp_path / "bad.yml").write_text(
        "suite: bad\nstage: raw\ndatasets:\n  d: {sql: SELECT 1 AS x}\nexpectations:\n"
        "  - {name: e, severity: fail, dataset: d, expect: expect_column_values_to_be_between, kwargs: {colum: x}}\n"
    )
    with pytest.raises(CosellError, match="bad.yml: expectation 'e'"):
        load_suites("raw", directory=tmp_path)
    (tmp_path / "bad.yml").write_text("suite: bad\nstage: raw\nexpectations:\n  - {name: e, severity: maybe}\n")
    with pytest.raises(CosellError, match="severity"):
        load_suites("raw", directory=tmp_path)


# --------------------------------------------------------------------------- the batch against its history


def _add_load(settings: Settings, rows: dict[str, list[dict]], load_id: int = 2) -> None:
    """Append a later load (the nightly batch) to a warehouse built by build_warehouse (its load 1: the history)."""
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("SET TimeZone = 'UTC'")
        insert_raw(con, rows, load_id=load_id)
    finally:
        con.close()


def _engagement(**changes) -> dict:
    return {**raw_rows()["engagements"][0], **changes}


def test_a_new_row_pointing_at_an_old_row_resolves_and_one_pointing_at_nothing_is_seen(gate_settings):
    build_warehouse(gate_settings, marts=False)
    _add_load(gate_settings, {
        "engagements": [_engagement(request_id="R8", deal_id="D4"),  # an old deal, not in the batch
                        _engagement(request_id="R9", deal_id="DX")],  # no deal at all
        "activities": [{**raw_rows()["activities"][0], "activity_id": "A8"}],  # old request R1 and deal D1
        "satisfaction": [{**raw_rows()["satisfaction"][0], "response_id": "S8", "request_id": "R2", "partner_id": "P2"}],
    })
    result = check("raw", gate_settings, suites=["raw_engagements", "raw_activities", "raw_satisfaction"])
    assert result.ok and result.batch_load_ids == [2]
    assert [w.expectation for w in result.warnings] == ["raw_engagements.deal_landed"]
    assert [row["request_id"] for row in result.warnings[0].sample] == ["R9"]


def test_a_clean_history_with_a_broken_batch_is_judged_on_the_batch(gate_settings):
    rows = raw_rows()
    add("engagements", request_id="R7", deal_id="DX")(rows)  # an old orphan, reported when it landed
    build_warehouse(gate_settings, rows, marts=False)
    assert [w.expectation for w in check("raw", gate_settings).warnings] == ["raw_engagements.deal_landed"]

    _add_load(gate_settings, {"deals": [{**_first(raw_rows(), "deals"), "deal_id": "D9", "partner_id": "PX"},
                                        {**_first(raw_rows(), "deals"), "deal_id": "D8", "partner_id": "P2"}]})
    with pytest.raises(GateFailed) as raised:
        check("raw", gate_settings)
    result = raised.value.result
    assert result.batch_load_ids == [2]
    assert [f.expectation for f in result.failures] == ["raw_deals.partner_landed"]
    assert [row["deal_id"] for row in result.failures[0].sample] == ["D9"]  # D8's old partner P2 resolves
    assert result.warnings == []  # R7 is history: not judged again


def test_the_marts_gate_reconciles_the_deals_a_batch_changed(gate_settings):
    build_warehouse(gate_settings)
    assert check("marts", gate_settings, suites=["marts_reconciliation"]).ok
    # the batch wins D2 in raw; the marts still hold it open
    won = {**_first(raw_rows(), "deals"), "deal_id": "D2", "partner_id": "P2", "stage": "CLOSED_WON",
           "currency": "USD", "amount": Decimal("100000.00"), "closed_at": T(2026, 3, 1), "updated_at": T(2026, 3, 1)}
    _add_load(gate_settings, {"deals": [won]})
    with pytest.raises(GateFailed) as raised:
        check("marts", gate_settings, suites=["marts_reconciliation"])
    failed = {f.expectation: f for f in raised.value.result.failures}
    assert set(failed) == {"marts_reconciliation.won_totals_match_raw", "marts_reconciliation.won_deals_match_raw"}
    assert [row["deal_id"] for row in failed["marts_reconciliation.won_deals_match_raw"].sample] == ["D2"]


def test_an_fx_rate_of_the_batch_makes_the_deals_it_converts_affected(gate_settings):
    build_warehouse(gate_settings)
    # a late EUR rate dated before D1 closed (2026-02-10): D1 is now 10000.05 x 1.2; the marts say 10500.05
    _add_load(gate_settings, {"fx_rates": [{"rate_date": D(2026, 2, 5), "currency": "EUR",
                                            "usd_per_unit": Decimal("1.200000000000")}]})
    with pytest.raises(GateFailed, match=r"won_deals_match_raw \[fail\] .*deal_id=D1"):
        check("marts", gate_settings, suites=["marts_reconciliation"])


def test_the_marts_gate_judges_the_loads_it_has_not_passed(gate_settings):
    from cosell.orchestration import ledger

    build_warehouse(gate_settings)
    _add_load(gate_settings, {"partners": [{**PARTNER, "partner_id": "P3", "updated_at": T(2026, 3, 1)}]})
    con = duckdb.connect(str(gate_settings.warehouse))
    ledger.ensure(con)
    ledger.mark(con, "raw_gate", [1, 2])
    ledger.mark(con, "built", [1, 2])
    ledger.mark(con, "marts_gate", [1])
    con.close()
    _add_load(gate_settings, {"partners": [{**PARTNER, "partner_id": "P4", "updated_at": T(2026, 3, 2)}]}, load_id=3)
    # load 3 is not built yet: the marts gate judges load 2, the raw gate load 3
    assert check("marts", gate_settings, suites=["marts_reconciliation"]).batch_load_ids == [2]
    assert check("raw", gate_settings, suites=["raw_batch"]).batch_load_ids == [3]
    con = duckdb.connect(str(gate_settings.warehouse))
    ledger.mark(con, "raw_gate", [3])
    con.close()
    assert check("raw", gate_settings, suites=["raw_batch"]).batch_load_ids == [3]  # nothing pending: the latest


def test_a_python_c_script_that_runs_a_gate_never_ends_with_success_unseen(tmp_path):
    """pyspark (the spark extra) ends a `python -c` script that imports GX with status 0; the gate says so instead."""
    import os
    import subprocess
    import sys

    script = ("from cosell.config import Settings\nfrom cosell.gates.runner import check\n"
              "check('raw', Settings.from_env())\nprint('after the gate')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COSELL_HOME": str(tmp_path)})
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr[-500:])
    assert "after the gate" not in done.stdout
    assert "CosellError" in done.stderr
