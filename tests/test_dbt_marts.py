"""Mart values from a real dbt build on a small hand-written raw layer (rows INSERTed into schema raw).

Two landing runs: load 1 lands most rows; load 2 brings late files (an older version that
must lose the tie-break, a same-instant version that wins by file name, a deletion, event
copies, a re-sent fx rate) so the incremental staging models are exercised. The expected
mart values in test_dbt_marts.py are computed by hand from these rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from cosell.build.dbt import BuildSummary, build
from cosell.config import Settings
from cosell.contract import FEEDS, LINEAGE_COLUMNS
from cosell.db import connect
from cosell.landing.raw_schema import create_raw_schema


def fixture_settings(home: Path) -> Settings:
    return Settings.from_env(
        {
            "COSELL_HOME": str(home),
            "COSELL_WAREHOUSE": str(home / "warehouse.duckdb"),
            "COSELL_DUCKDB_THREADS": "2",
            "COSELL_DUCKDB_MEMORY_LIMIT": "2GB",
        }
    )


PARTNER = dict(region="NA", country="US", parent_partner_id=None, onboarded_on="2024-01-01", is_active=True)

DEAL = dict(
    customer_name="Customer",
    customer_segment="ENTERPRISE",
    industry="TECH",
    country="US",
    product_category="ANALYTICS",
    motion="PARTNER_LED",
    marketplace=None,
    sourced_by="PARTNER",
    is_new_logo=False,
    competitive_situation="GREENFIELD",
    complexity=4,
    stakeholder_level="DIRECTOR",
    stage="QUALIFIED",
    currency="USD",
    expected_close_on=None,
    closed_at=None,
    is_deleted=False,
)

REQUEST = dict(status="ACCEPTED", stage_at_request="QUALIFIED", confirmed_at=None, completed_at=None, vendor_resource_id=None)

ACTIVITY = dict(
    request_id="R1",
    activity_type="CUSTOMER_MEETING",
    vendor_role="COMMERCIAL",
    partner_briefed=True,
    partner_present=True,
    in_engagement_plan=True,
    commercial_discussion=False,
)


def partner(pid, name, ptype, tier, specialists, updated_at, **extra):
    return {**PARTNER, "partner_id": pid, "partner_name": name, "partner_type": ptype, "tier": tier,
            "certified_specialists": specialists, "updated_at": updated_at, **extra}


def deal(did, pid, amount, registered_at, **extra):
    row = {**DEAL, "deal_id": did, "partner_id": pid, "customer_id": f"CUST_{did}", "amount": Decimal(amount),
           "registered_at": registered_at, **extra}
    row.setdefault("updated_at", row["closed_at"] or registered_at)
    return row


def direct(did, customer, registered_at):
    return deal(did, None, "5000.00", registered_at, motion="DIRECT", customer_id=customer)


def request(rid, did, pid, resource, requested_at, **extra):
    row = {**REQUEST, "request_id": rid, "deal_id": did, "partner_id": pid, "resource_type": resource,
           "requested_at": requested_at, **extra}
    row.setdefault("updated_at", row["confirmed_at"] or requested_at)
    return row


def activity(aid, did, occurred_at, **extra):
    return {**ACTIVITY, "activity_id": aid, "deal_id": did, "occurred_at": occurred_at, **extra}


def response(sid, pid, survey, score, submitted_at, request_id=None):
    return {"response_id": sid, "partner_id": pid, "request_id": request_id, "survey_type": survey, "score": score,
            "submitted_at": submitted_at, "comment": None}


def fx(rate_date, currency, rate):
    return {"rate_date": rate_date, "currency": currency, "usd_per_unit": Decimal(rate)}


def closed(stage, closed_at):
    return {"stage": stage, "closed_at": closed_at}


# (feed, business_date, file_name, rows) per load; row numbers follow the order in the file.
LOAD_1 = [
    ("partners", "2025-09-01", "partners_a.csv", [
        partner("P_VAR10", "Var Ten", "VAR", "SILVER", 10, "2025-08-01 00:00:00"),
        partner("P_VAR10", "Var Ten", "VAR", "GOLD", 10, "2025-08-15 00:00:00"),
        partner("P_VAR9", "Var Nine", "VAR", "SILVER", 9, "2025-08-01 00:00:00"),
        partner("P_VARB", "Var B", "VAR", "REGISTERED", 0, "2025-08-01 00:00:00"),
        partner("P_SI", "SI Old", "SI", "PLATINUM", 2, "2025-08-01 00:00:00"),
        partner("P_ISV", "Isv One", "ISV", "REGISTERED", 0, "2025-08-01 00:00:00"),
    ]),
    ("partners", "2025-09-02", "partners_a.csv", [
        # Same updated_at as "SI Old": the later business date wins.
        partner("P_SI", "SI New", "SI", "PLATINUM", 2, "2025-08-01 00:00:00"),
    ]),
    ("fx_rates", "2026-02-01", "fx_a.csv", [
        fx("2026-01-01", "JPY", "0.0067"),
        fx("2026-02-01", "JPY", "0.0065"),
        fx("2025-12-01", "EUR", "1.05"),
        fx("2026-03-15", "EUR", "1.085"),
        fx("2026-03-16", "EUR", "1.2"),
    ]),
    ("deals", "2026-03-06", "deals_a.csv", [
        deal("D1", "P_VAR10", "60000.00", "2025-09-01 09:00:00", complexity=3, customer_segment="MID_MARKET"),
        deal("D2", "P_VAR10", "60000.00", "2025-09-01 09:00:00", complexity=4),
        deal("D3", "P_VAR9", "60000.00", "2025-09-01 09:00:00", complexity=3),
        deal("D7", "P_VARB", "10000.00", "2025-09-01 09:00:00", complexity=1),
        deal("D4", "P_SI", "49999.99", "2026-01-20 08:00:00", complexity=5, stakeholder_level="C_LEVEL",
             competitive_situation="COMPETITIVE_EVAL"),
        deal("D5", "P_SI", "15151525.00", "2026-02-10 08:00:00", currency="JPY", complexity=2,
             competitive_situation="COMPETITIVE_EVAL", stakeholder_level="VP"),
        deal("D6", "P_SI", "100000.00", "2026-01-10 08:00:00", currency="EUR", complexity=2,
             product_category="NETWORKING", **closed("CLOSED_WON", "2026-03-15 23:59:59")),
        # T1 history: QUALIFIED, TECHNICAL_VALIDATION, then CLOSED_WON (amount 140000 here; a
        # same-instant version in deals_b.csv of the same business date wins in load 2).
        deal("T1", "P_SI", "150000.00", "2026-01-05 08:00:00", customer_id="CUST_A",
             updated_at="2026-01-05 08:00:00"),
        deal("T1", "P_SI", "150000.00", "2026-01-05 08:00:00", customer_id="CUST_A", stage="TECHNICAL_VALIDATION",
             updated_at="2026-02-01 09:00:00"),
        deal("T1", "P_SI", "140000.00", "2026-01-05 08:00:00", customer_id="CUST_A",
             **closed("CLOSED_WON", "2026-03-06 12:00:00")),
        deal("T2", "P_SI", "120000.03", "2026-01-05 08:00:00", customer_id="CUST_C",
             **closed("CLOSED_LOST", "2026-02-04 12:00:00")),
        deal("C1", "P_SI", "110000.00", "2026-01-05 08:00:00", customer_id="CUST_B",
             **closed("CLOSED_WON", "2026-02-14 12:00:00")),
        deal("C2", "P_SI", "130000.00", "2026-01-05 08:00:00", **closed("CLOSED_LOST", "2026-02-24 12:00:00")),
        deal("C3", "P_SI", "200000.00", "2026-01-05 08:00:00", **closed("CLOSED_LOST", "2026-03-06 12:00:00")),
        deal("T3", "P_SI", "60000.00", "2026-01-10 08:00:00", complexity=3, competitive_situation="COMPETITIVE_EVAL",
             product_category="SECURITY", customer_segment="MID_MARKET", **closed("CLOSED_WON", "2026-02-09 12:00:00")),
        deal("C4", "P_SI", "70000.00", "2026-01-10 08:00:00", complexity=3, competitive_situation="COMPETITIVE_EVAL",
             product_category="SECURITY", customer_segment="MID_MARKET", **closed("CLOSED_WON", "2026-03-11 12:00:00")),
        deal("T4", "P_ISV", "20000.00", "2026-01-10 08:00:00", complexity=1, customer_segment="SMB",
             **closed("CLOSED_WON", "2026-02-20 12:00:00")),
        # X1: two rows with the same updated_at in the same file: the later row wins.
        deal("X1", "P_SI", "1.00", "2026-01-05 08:00:00", **closed("CLOSED_LOST", "2026-03-01 12:00:00")),
        deal("X1", "P_SI", "80000.00", "2026-01-05 08:00:00", **closed("CLOSED_LOST", "2026-03-01 12:00:00")),
        deal("DEL1", "P_SI", "500000.00", "2026-01-05 08:00:00"),
        direct("DIR1", "CUST_A", "2027-03-06 12:00:00"),  # closed_at + 365 days exactly: violation
        direct("DIR2", "CUST_A", "2027-03-06 12:00:01"),  # one second later: outside
        direct("DIR3", "CUST_A", "2026-03-06 12:00:00"),  # at closed_at: outside (open bound)
        direct("DIR4", "CUST_A", "2026-03-07 12:00:00"),  # inside
        direct("DIR5", "CUST_B", "2026-03-01 00:00:00"),  # C1 won without co-sell: no violation
        direct("DIR6", "CUST_C", "2026-03-01 00:00:00"),  # T2 was lost: no violation
    ]),
    ("engagements", "2026-03-06", "engagements_a.csv", [
        request("R1", "T1", "P_SI", "PRESALES_ENGINEERING", "2026-01-20 09:00:00", confirmed_at="2026-01-21 09:00:00"),
        request("R2", "T1", "P_SI", "EXECUTIVE_SPONSORSHIP", "2026-03-01 09:00:00", status="COMPLETED",
                stage_at_request="COMMITTED", confirmed_at="2026-03-07 09:00:00"),
        request("R3", "T2", "P_SI", "PRESALES_ENGINEERING", "2026-01-15 09:00:00", status="REQUESTED",
                stage_at_request="TECHNICAL_VALIDATION"),
        request("R4", "T3", "P_SI", "EXECUTIVE_SPONSORSHIP", "2026-01-12 09:00:00", confirmed_at="2026-01-13 09:00:00"),
        request("R5", "T3", "P_SI", "PRESALES_ENGINEERING", "2026-01-12 10:00:00", stage_at_request="COMMITTED",
                confirmed_at="2026-01-13 09:00:00"),
        request("R6", "T4", "P_ISV", "PRODUCT_SPECIALIST", "2026-01-11 09:00:00", stage_at_request="PROSPECT",
                confirmed_at="2026-01-11 15:00:00"),
        request("R7", "X1", "P_SI", "PRESALES_ENGINEERING", "2026-01-20 10:00:00", status="DECLINED"),
        request("R8", "DEL1", "P_SI", "PRESALES_ENGINEERING", "2026-01-09 09:00:00", confirmed_at="2026-01-10 09:00:00"),
        request("R9", "D3", "P_VAR9", "PRESALES_ENGINEERING", "2025-09-02 00:00:00", confirmed_at="2025-10-02 23:59:59"),
        request("R10", "D3", "P_VAR9", "PRESALES_ENGINEERING", "2026-03-31 23:59:59", status="REQUESTED"),
        request("R11", "D2", "P_VAR10", "PRESALES_ENGINEERING", "2025-09-02 00:00:00", confirmed_at="2025-10-03 00:00:00"),
        request("R12", "D7", "P_VARB", "PRESALES_ENGINEERING", "2025-09-02 00:00:00", confirmed_at="2025-10-01 10:00:00"),
        request("R13", "D7", "P_VARB", "PRESALES_ENGINEERING", "2026-03-30 10:00:01", status="CANCELLED"),
        request("R14", "D4", "P_SI", "REFERENCE_CUSTOMER", "2026-01-21 09:00:00", confirmed_at="2026-01-22 09:00:00"),
        request("R_ORPH", "D_NEVER", "P_SI", "PRESALES_ENGINEERING", "2026-01-21 09:00:00",
                confirmed_at="2026-01-22 09:00:00"),
    ]),
    ("activities", "2026-02-01", "activities_a.csv", [
        activity("A1", "T1", "2026-02-01 10:00:00", vendor_role="TECHNICAL", partner_briefed=False,
                 partner_present=False, in_engagement_plan=False, commercial_discussion=True),
        activity("A2", "T1", "2026-02-02 10:00:00", commercial_discussion=True),
        activity("A_DEL", "DEL1", "2026-02-02 10:00:00", partner_briefed=False, request_id="R8"),
        activity("A_ORPH", "D_NEVER", "2026-02-02 10:00:00", partner_briefed=False, request_id="R_ORPH"),
    ]),
    ("activities", "2026-03-10", "activities_a.csv", [
        activity("A4", "T2", "2026-01-20 10:00:00", request_id="R3"),
    ]),
    ("satisfaction", "2026-03-15", "satisfaction_a.csv", [
        response("S1", "P_SI", "COSELL_ENGAGEMENT", 4, "2026-02-10 10:00:00", request_id="R1"),
        response("S2", "P_SI", "COSELL_ENGAGEMENT", 5, "2026-03-01 10:00:00"),
        response("S3", "P_SI", "PROGRAM_NPS", 10, "2026-01-15 10:00:00"),
        response("S4", "P_SI", "PROGRAM_NPS", 6, "2026-02-15 10:00:00"),
        response("S5", "P_SI", "PROGRAM_NPS", 8, "2026-03-15 10:00:00"),
        response("S_DEL", "P_SI", "COSELL_ENGAGEMENT", 1, "2026-02-10 10:00:00", request_id="R8"),
        response("S_ORPH", "P_SI", "COSELL_ENGAGEMENT", 1, "2026-02-10 10:00:00", request_id="R_ORPH"),
        response("S6", "P_ISV", "PROGRAM_NPS", 9, "2025-11-01 10:00:00"),
        response("S7", "P_ISV", "COSELL_ENGAGEMENT", 2, "2026-03-05 10:00:00"),
    ]),
]

LOAD_2 = [
    ("fx_rates", "2026-02-02", "fx_b.csv", [fx("2026-02-01", "JPY", "0.0066")]),  # re-sent: later business date wins
    ("deals", "2026-03-06", "deals_b.csv", [
        # Same updated_at and business date as the 140000 version; file deals_b.csv > deals_a.csv.
        deal("T1", "P_SI", "150000.00", "2026-01-05 08:00:00", customer_id="CUST_A",
             **closed("CLOSED_WON", "2026-03-06 12:00:00")),
    ]),
    ("deals", "2026-03-20", "deals_late.csv", [
        # Arrives last but is older: must not replace the winner.
        deal("T1", "P_SI", "999.00", "2026-01-05 08:00:00", customer_id="CUST_A", stage="COMMITTED",
             updated_at="2026-02-15 00:00:00"),
        deal("DEL1", "P_SI", "500000.00", "2026-01-05 08:00:00", is_deleted=True, updated_at="2026-03-20 00:00:00"),
        # A late version older than T4's registration: T4's baseline (SPEC 8.1) is now in JPY.
        deal("T4", "P_ISV", "3000000.00", "2026-01-10 08:00:00", currency="JPY", complexity=1,
             customer_segment="SMB", stage="PROSPECT", updated_at="2026-01-09 07:00:00"),
    ]),
    ("engagements", "2026-03-20", "engagements_b.csv", [
        request("R3", "T2", "P_SI", "PRESALES_ENGINEERING", "2026-01-15 09:00:00", status="COMPLETED",
                stage_at_request="TECHNICAL_VALIDATION", confirmed_at="2026-01-16 21:00:00",
                updated_at="2026-01-20 00:00:00"),
        # Older version of R1 arriving late: loses.
        request("R1", "T1", "P_SI", "PRESALES_ENGINEERING", "2026-01-20 09:00:00", status="CANCELLED",
                updated_at="2026-01-19 00:00:00"),
    ]),
    ("activities", "2026-02-05", "activities_b.csv", [
        activity("A1", "T1", "2026-02-01 10:00:00"),  # later copy of A1: ignored
    ]),
    ("activities", "2026-03-01", "activities_b.csv", [
        activity("A4", "T2", "2026-01-20 10:00:00", request_id="R3", partner_briefed=False),  # earlier copy: kept
    ]),
    ("satisfaction", "2026-03-31", "satisfaction_b.csv", [
        response("S1", "P_SI", "COSELL_ENGAGEMENT", 1, "2026-02-10 10:00:00", request_id="R1"),  # later copy
    ]),
    ("satisfaction", "2026-03-01", "satisfaction_b.csv", [
        response("S7", "P_ISV", "COSELL_ENGAGEMENT", 3, "2026-03-05 10:00:00"),  # earlier copy: kept
    ]),
]


def insert_rows(con, feed: str, rows: list[dict]) -> None:
    columns = list(FEEDS[feed].column_names) + [name for name, _ in LINEAGE_COLUMNS]
    placeholders = ", ".join("?" for _ in columns)
    con.executemany(
        f"insert into raw.{feed} ({', '.join(columns)}) values ({placeholders})",
        [[row.get(column) for column in columns] for row in rows],
    )


def land_load(settings: Settings, load_id: int, files, audit_dates=()) -> None:
    """INSERT one landing run: every file's rows with lineage, and a load_audit row per file."""
    con = connect(settings)
    try:
        create_raw_schema(con)
        rows_by_feed: dict[str, list[dict]] = defaultdict(list)
        audit = []
        for feed, business_date, file_name, rows in files:
            sha = f"sha-{load_id}-{feed}-{business_date}-{file_name}"
            for number, row in enumerate(rows, start=1):
                rows_by_feed[feed].append(
                    {**row, "_business_date": business_date, "_file_name": file_name, "_file_sha256": sha,
                     "_row_number": number, "_load_id": load_id}
                )
            audit.append((load_id, feed, business_date, file_name, f"/inbox/{feed}/{business_date}/{file_name}", sha,
                          "LANDED", len(rows), 0, None, None, "2026-04-01 00:00:00"))
        for business_date, status in audit_dates:
            audit.append((load_id, "deals", business_date, f"extra_{business_date}.csv", "/inbox/x", "sha-x", status,
                          0, 0, None, None, "2026-04-01 00:00:00"))
        for feed, rows in rows_by_feed.items():
            insert_rows(con, feed, rows)
        con.executemany("insert into raw.load_audit values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", audit)
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# One module-scoped fixture: build after load 1, snapshot a few values, land load 2, build again.

pytestmark = pytest.mark.slow


def query(settings: Settings, sql: str, *params):
    con = connect(settings, read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def one(settings: Settings, sql: str, *params):
    rows = query(settings, sql, *params)
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    settings = fixture_settings(tmp_path_factory.mktemp("dbt") / "home")
    land_load(settings, 1, LOAD_1)
    first = build(settings)
    after_load_1 = {
        "t1": one(settings, "select amount_usd, stage from marts.fct_cosell_deals where deal_id = 'T1'"),
        "d5": one(settings, "select amount_usd from marts.fct_cosell_deals where deal_id = 'D5'")[0],
        "del1": query(settings, "select deal_id from marts.fct_cosell_deals where deal_id = 'DEL1'"),
        "t2": one(settings, "select cohort_group from marts.fct_cosell_deals where deal_id = 'T2'")[0],
    }
    land_load(settings, 2, LOAD_2, audit_dates=[("2026-04-05", "QUARANTINED")])
    second = build(settings, unit_tests=True)
    return settings, first, second, after_load_1


def test_build_summary_counts_models_and_tests(built):
    settings, first, second, _ = built
    assert isinstance(second, BuildSummary)
    assert first.unit_tests_passed == 0  # the nightly build leaves unit tests to CI
    assert second.models >= 25 and second.tests_passed >= 50 and second.unit_tests_passed >= 5
    text = second.describe()
    assert "models built" in text and "unit tests passed" in text
    # dbt writes its target and logs under COSELL_HOME, never into the repository tree.
    assert (settings.home / "dbt" / "target" / "run_results.json").exists()


def test_schema_is_exactly_marts(built):
    settings = built[0]
    schemas = {r[0] for r in query(settings, "select distinct table_schema from information_schema.tables")}
    assert "marts" in schemas and "main_marts" not in schemas


def test_incremental_late_files_keep_the_winner(built):
    settings, _, _, after_load_1 = built
    # Load 1: T1's CLOSED_WON row of deals_a.csv; load 2 adds a same-instant row in deals_b.csv
    # (wins by file name) and an older COMMITTED row in a later file (loses).
    assert after_load_1["t1"] == (Decimal("140000.00"), "CLOSED_WON")
    assert one(settings, "select amount_usd, stage from marts.fct_cosell_deals where deal_id = 'T1'") == (
        Decimal("150000.00"),
        "CLOSED_WON",
    )
    # X1: same updated_at, same file: the later row wins.
    assert one(settings, "select amount from marts.fct_cosell_deals where deal_id = 'X1'")[0] == Decimal("80000.00")
    # R1: a late, older CANCELLED version loses; R3: a newer COMPLETED version wins.
    assert query(settings, "select request_id, status from marts.fct_cosell_engagements "
                           "where request_id in ('R1', 'R3') order by 1") == [("R1", "ACCEPTED"), ("R3", "COMPLETED")]
    assert after_load_1["t2"] == "EXCLUDED"
    assert one(settings, "select cohort_group from marts.fct_cosell_deals where deal_id = 'T2'")[0] == "TREATED"


def test_partner_latest_state_and_versions(built):
    settings = built[0]
    assert one(settings, "select partner_name, partner_tier from marts.dim_partner where partner_id = 'P_SI'") == (
        "SI New",
        "PLATINUM",
    )
    assert one(settings, "select partner_tier from marts.dim_partner where partner_id = 'P_VAR10'")[0] == "GOLD"
    versions = query(settings, "select partner_id, partner_tier, partner_name from marts.dim_partner_versions "
                               "order by partner_id, updated_at")
    assert len(versions) == 6
    assert [v for v in versions if v[0] == "P_VAR10"] == [("P_VAR10", "SILVER", "Var Ten"), ("P_VAR10", "GOLD", "Var Ten")]
    assert [v for v in versions if v[0] == "P_SI"] == [("P_SI", "PLATINUM", "SI New")]


def test_deleted_and_direct_deals_are_dropped_everywhere(built):
    settings, _, _, after_load_1 = built
    assert after_load_1["del1"] == [("DEL1",)]
    deals = {r[0] for r in query(settings, "select deal_id from marts.fct_cosell_deals")}
    assert deals == {"D1", "D2", "D3", "D7", "D4", "D5", "D6", "T1", "T2", "C1", "C2", "C3", "T3", "C4", "T4", "X1"}
    requests = {r[0] for r in query(settings, "select request_id from marts.fct_cosell_engagements")}
    assert requests == {f"R{i}" for i in range(1, 15)} - {"R8"}  # R8: deleted deal; R_ORPH: deal never landed
    responses = {r[0] for r in query(settings, "select response_id from marts.fct_satisfaction_responses")}
    assert responses == {"S1", "S2", "S3", "S4", "S5", "S6", "S7"}
    assert not query(settings, "select * from marts.mart_roe_violations where deal_id in ('DEL1', 'D_NEVER')")


def test_amount_usd_as_of_fx_half_even(built):
    settings, _, _, after_load_1 = built
    # 15,151,525 JPY x 0.0065 (load 1) = 98,484.9125 -> 98,484.91; the re-sent 2026-02-01 rate
    # 0.0066 (later business date) gives 100,000.065 -> 100,000.06 half-even (half-up: .07).
    assert after_load_1["d5"] == Decimal("98484.91")
    row = one(settings, "select amount_usd, usd_per_unit, fx_rate_date from marts.fct_cosell_deals where deal_id = 'D5'")
    assert row[0] == Decimal("100000.06")
    assert row[1] == Decimal("0.0066") and str(row[2]) == "2026-02-01"
    # EUR, closed 2026-03-15 23:59:59: rate of 2026-03-15 (1.085), not of 2026-03-16.
    assert one(settings, "select amount_usd from marts.fct_cosell_deals where deal_id = 'D6'")[0] == Decimal("108500.00")
    # T4's baseline: the late JPY version of 2026-01-09 at the rate in force on the registered
    # date 2026-01-10 (0.0067 of 2026-01-01): 3,000,000 x 0.0067; the current amount stays USD.
    assert one(settings, "select baseline_currency, baseline_amount_usd, amount_usd from marts.fct_cosell_deals "
                         "where deal_id = 'T4'") == ("JPY", Decimal("20100.00"), Decimal("20000.00"))


def test_eligibility_including_var_rule(built):
    settings = built[0]
    rows = dict(query(settings, "select deal_id, is_cosell_eligible from marts.fct_cosell_deals"))
    assert rows["D1"] is False  # VAR with 10 certified specialists: complexity 3 < 4
    assert rows["D2"] is True  # same VAR, complexity 4
    assert rows["D3"] is True  # VAR with 9 specialists: complexity 3 is enough
    assert rows["D4"] is False  # 49,999.99 USD, below the 50,000 minimum
    assert rows["D5"] is True  # complexity 2 but COMPETITIVE_EVAL, 100,000.06 USD
    assert rows["D6"] is False  # complexity 2, GREENFIELD, DIRECTOR


def test_support_fields_and_stage_reached(built):
    settings = built[0]
    t1 = one(settings, "select requests_total, supported_requests, first_support_at, first_support_stage, "
                       "resource_types, technical_validation_at, cycle_days, registered_month "
                       "from marts.fct_cosell_deals where deal_id = 'T1'")
    assert t1[:2] == (2, 2)
    assert str(t1[2]) == "2026-01-21 09:00:00" and t1[3] == "QUALIFIED"
    assert t1[4] == "EXECUTIVE_SPONSORSHIP|PRESALES_ENGINEERING"
    assert str(t1[5]) == "2026-02-01 09:00:00"  # the late COMMITTED version (2026-02-15) is later
    assert t1[6] == 60 and str(t1[7]) == "2026-01-01"
    # T3: R4 and R5 confirmed at the same instant: the smaller request_id gives the stage.
    assert one(settings, "select first_support_stage from marts.fct_cosell_deals where deal_id = 'T3'")[0] == "QUALIFIED"
    x1 = one(settings, "select requests_total, supported_requests, resource_types, is_cosell_requested, "
                       "is_cosell_supported from marts.fct_cosell_deals where deal_id = 'X1'")
    assert x1 == (1, 0, None, True, False)


def test_cohort_groups(built):
    settings = built[0]
    groups = dict(query(settings, "select deal_id, cohort_group from marts.fct_cosell_deals"))
    assert {d for d, g in groups.items() if g == "TREATED"} == {"T1", "T2", "T3", "T4"}
    assert {d for d, g in groups.items() if g == "CONTROL"} == {"C1", "C2", "C3", "C4", "D6"}
    assert {d for d, g in groups.items() if g == "EXCLUDED"} == {"X1"}
    assert groups["D1"] is None and groups["D5"] is None  # open deals


def test_coverage_cell_and_totals(built):
    settings = built[0]
    cell = one(settings, """
        select deals, eligible_deals, supported_eligible_deals, supported_ineligible_deals,
               eligible_pipeline_usd, supported_eligible_pipeline_usd, coverage_rate
        from marts.mart_cosell_coverage
        where registered_month = date '2026-01-01' and partner_type = 'SI' and partner_tier = 'PLATINUM'
          and customer_segment = 'ENTERPRISE' and complexity_band = 'HIGH'""")
    # T1, T2, C1, C2, C3, X1 eligible (complexity 4, >= 50k); D4 supported but under 50k.
    assert cell[:4] == (7, 6, 2, 1)
    assert cell[4] == Decimal("790000.03") and cell[5] == Decimal("270000.03")
    assert cell[6] == pytest.approx(1 / 3, abs=1e-10)
    assert one(settings, "select sum(deals) from marts.mart_cosell_coverage")[0] == 16
    empty = one(settings, "select coverage_rate from marts.mart_cosell_coverage where registered_month = "
                          "date '2025-09-01' and partner_type = 'VAR' and partner_tier = 'REGISTERED'")
    assert empty == (None,)  # D7: no eligible deal -> null rate


def test_resource_deployment(built):
    settings = built[0]
    row = one(settings, """
        select requests, supported, declined, cancelled, pending, acceptance_rate,
               median_hours_to_confirm, p90_hours_to_confirm
        from marts.mart_resource_deployment
        where requested_month = date '2026-01-01' and resource_type = 'PRESALES_ENGINEERING'
          and partner_type = 'SI'""")
    # R1 (24 h), R3 (36 h), R5 (23 h) supported; R7 declined.
    assert row[:6] == (4, 3, 1, 0, 0, 0.75)
    assert row[6] == pytest.approx(24.0) and row[7] == pytest.approx(23 + 1 + 0.8 * 12)


def test_repeat_requests_and_censored_rate(built):
    settings = built[0]
    rows = {r[0]: r[1:] for r in query(settings, """
        select partner_id, next_request_at, days_to_repeat, is_repeat_requester, is_window_closed
        from marts.mart_repeat_requests""")}
    assert rows["P_VAR9"][1:] == (180, True, True)  # next request exactly at first support + 180 days
    assert rows["P_VARB"][1:] == (180, False, True)  # one second too late
    assert rows["P_VAR10"] == (None, None, False, False)  # window still open on 2026-03-31
    assert str(rows["P_SI"][0]) == "2026-01-15 09:00:00" and rows["P_SI"][1:] == (2, True, False)
    assert one(settings, "select as_of_date from marts.warehouse_as_of")[0].isoformat() == "2026-03-31"
    assert query(settings, "select first_support_month, partner_type, supported_partners, repeat_partners, repeat_rate "
                           "from marts.mart_repeat_request_rate") == [
        (query(settings, "select date '2025-10-01'")[0][0], "VAR", 2, 1, 0.5)
    ]


def test_partner_satisfaction(built):
    settings = built[0]
    rows = {(r[0], r[1].isoformat()): r[2:] for r in query(settings, """
        select partner_id, quarter, cosell_responses, cosell_csat_avg, nps_responses, promoters, detractors, nps,
               is_cosell_participant
        from marts.mart_partner_satisfaction""")}
    assert rows[("P_SI", "2026-01-01")] == (2, 4.5, 3, 1, 1, 0.0, True)
    assert rows[("P_ISV", "2025-10-01")] == (0, None, 1, 1, 0, 100.0, False)
    assert rows[("P_ISV", "2026-01-01")] == (1, 3.0, 0, 0, 0, None, True)  # S7: the earlier copy (score 3)
    assert len(rows) == 3


def test_roe_violations(built):
    settings = built[0]
    rows = sorted(query(settings, "select violation_type, coalesce(activity_id, '-'), deal_id, partner_id "
                                  "from marts.mart_roe_violations"))
    assert rows == sorted([
        ("UNBRIEFED_CUSTOMER_CONTACT", "A1", "T1", "P_SI"),
        ("TECHNICAL_ROLE_NEGOTIATION", "A1", "T1", "P_SI"),
        ("OFF_PLAN_CONTACT", "A1", "T1", "P_SI"),
        ("UNBRIEFED_CUSTOMER_CONTACT", "A4", "T2", "P_SI"),  # the earlier copy, landed later
        ("DIRECT_PIPELINE_AFTER_COSELL", "-", "DIR1", "P_SI"),  # exactly closed_at + 365 days
        ("DIRECT_PIPELINE_AFTER_COSELL", "-", "DIR4", "P_SI"),
    ])


def test_matched_cohort_strata(built):
    settings = built[0]
    rows = query(settings, """
        select amount_band, complexity_band, product_category, treated_deals, control_deals, treated_wins,
               control_wins, treated_pipeline_usd, control_pipeline_usd, is_matched
        from marts.mart_matched_cohort_strata order by 1, 2, 3""")
    assert rows == [
        ("A_LT_25K", "LOW", "ANALYTICS", 1, 0, 1, 0, Decimal("20000.00"), Decimal("0.00"), False),
        ("B_25K_100K", "MEDIUM", "SECURITY", 1, 1, 1, 1, Decimal("60000.00"), Decimal("70000.00"), True),
        ("C_100K_250K", "HIGH", "ANALYTICS", 2, 3, 1, 1, Decimal("270000.03"), Decimal("440000.00"), True),
        ("C_100K_250K", "LOW", "NETWORKING", 0, 1, 0, 1, Decimal("0.00"), Decimal("108500.00"), False),
    ]


def test_uplift_overall_by_hand(built):
    settings = built[0]
    row = one(settings, """
        select treated_deals, control_deals, matched_treated_deals, matched_control_deals, matched_strata,
               treated_win_rate, control_win_rate, win_rate_uplift, uplift_ci_low, uplift_ci_high,
               naive_win_rate_uplift, cycle_days_uplift, incremental_revenue_usd, opportunity_revenue_usd
        from marts.mart_cosell_uplift where slice_type = 'OVERALL' and slice_value = 'ALL'""")
    # Matched strata: HIGH (n_T 2: 1 win; n_C 3: 1 win) and MEDIUM (1 vs 1, both won).
    w1, w2 = 2 / 3, 1 / 3
    treated, control = w1 * 0.5 + w2 * 1.0, w1 * (1 / 3) + w2 * 1.0
    # SPEC section 8.3: v = p(1-p)/(n-1) in HIGH; MEDIUM holds one deal per group, so its terms
    # are pbar(1-pbar) with pbar_T = 2 wins / 3 matched treated, pbar_C = 2 / 4 matched controls.
    se = math.sqrt(w1**2 * (0.25 / 1 + (1 / 3) * (2 / 3) / 2) + w2**2 * ((2 / 3) * (1 / 3) + 0.5 * 0.5))
    assert row[:5] == (4, 5, 3, 4, 2)
    assert row[5] == pytest.approx(treated, abs=1e-9) and row[6] == pytest.approx(control, abs=1e-9)
    assert row[7] == pytest.approx(1 / 9, abs=1e-9)
    assert row[8] == pytest.approx(1 / 9 - 1.96 * se, abs=1e-9) and row[9] == pytest.approx(1 / 9 + 1.96 * se, abs=1e-9)
    assert row[10] == pytest.approx(3 / 4 - 3 / 5, abs=1e-9)  # naive: T 3 of 4 won, C 3 of 5 won
    assert row[11] == pytest.approx(w1 * (45 - 50) + w2 * (30 - 60), abs=1e-9)
    # (1/2 - 1/3) x 270,000.03 = 45,000.005 -> 45,000.00 half-even; x 440,000 = 73,333.33...
    assert row[12] == Decimal("45000.00") and row[13] == Decimal("73333.33")


def test_uplift_slices(built):
    settings = built[0]
    rows = {(r[0], r[1]): r[2:] for r in query(settings, """
        select slice_type, slice_value, treated_deals, matched_treated_deals, win_rate_uplift, naive_win_rate_uplift
        from marts.mart_cosell_uplift""")}
    # RESOURCE_TYPE: T1's EXECUTIVE_SPONSORSHIP request was confirmed after close, so only T3 counts.
    assert rows[("RESOURCE_TYPE", "EXECUTIVE_SPONSORSHIP")][:3] == (1, 1, 0.0)
    assert rows[("RESOURCE_TYPE", "PRESALES_ENGINEERING")][:2] == (3, 3)
    assert rows[("RESOURCE_TYPE", "PRESALES_ENGINEERING")][2] == pytest.approx(1 / 9, abs=1e-9)
    assert rows[("RESOURCE_TYPE", "PRODUCT_SPECIALIST")][:3] == (1, 0, None)
    # FIRST_SUPPORT_STAGE QUALIFIED: T1 (HIGH, won) and T3 (MEDIUM, won), w = 1/2 each, against
    # the controls that reached QUALIFIED (SPEC section 8.2): C2 and C3 landed only as CLOSED_LOST,
    # so they never reached it; C1 (won, HIGH) and C4 (won, MEDIUM) did: both strata 1 - 1.
    assert rows[("FIRST_SUPPORT_STAGE", "QUALIFIED")][:2] == (2, 2)
    assert rows[("FIRST_SUPPORT_STAGE", "QUALIFIED")][2] == pytest.approx(0.0, abs=1e-9)
    # TECHNICAL_VALIDATION: T2 (HIGH, lost) against C1 alone (won): 0 - 1.
    assert rows[("FIRST_SUPPORT_STAGE", "TECHNICAL_VALIDATION")][2] == pytest.approx(-1.0, abs=1e-9)
    # PARTNER_TYPE ISV: T4 only, no ISV controls -> a row with no matched estimate, no naive uplift.
    assert rows[("PARTNER_TYPE", "ISV")] == (1, 0, None, None)
    assert rows[("PARTNER_TYPE", "SI")][2] == pytest.approx(1 / 9, abs=1e-9)
    assert rows[("COMPLEXITY_BAND", "HIGH")][2] == pytest.approx(1 / 2 - 1 / 3, abs=1e-9)
    assert ("COMPLEXITY_BAND", "LOW") in rows and rows[("COMPLEXITY_BAND", "LOW")][1] == 0
    assert set(t for t, _ in rows) == {"OVERALL", "RESOURCE_TYPE", "PARTNER_TYPE", "PARTNER_TIER", "COMPLEXITY_BAND",
                                       "FIRST_SUPPORT_STAGE", "MOTION"}
