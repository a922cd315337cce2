"""The incremental deal-level models: a third load that changes deals in every way an
incremental model can miss, built incrementally, equals a full refresh of the same raw layer.

Load 3 (on top of the two loads of test_dbt_marts): a request moves to another deal, two
requests move to deals that are not live partner deals (DIRECT, never landed), a deal
becomes DIRECT, a deleted deal comes back, a deal reaches a later stage, a partner's
certified specialists change (and with them the VAR eligibility rule), a request is
confirmed, an fx rate already used is re-sent with another value, and a new rate changes a
deal's baseline amount (SPEC 8.1) only.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_dbt_marts import (
    LOAD_1,
    LOAD_2,
    closed,
    deal,
    fixture_settings,
    fx,
    land_load,
    one,
    partner,
    query,
    request,
)

from cosell.build.dbt import NIGHTLY_DBT_FLAGS, _run_dbt, build
from cosell.db import connect

pytestmark = pytest.mark.slow

LOAD_3 = [
    ("partners", "2026-03-25", "partners_c.csv", [
        partner("P_VAR9", "Var Nine", "VAR", "SILVER", 10, "2026-03-25 00:00:00"),
    ]),
    ("fx_rates", "2026-03-25", "fx_c.csv", [
        fx("2026-03-15", "EUR", "1.1"),  # re-sent: later business date wins
        fx("2026-01-08", "JPY", "0.0068"),  # new: T4's baseline (JPY, registered 2026-01-10) and D5 (open, JPY)
    ]),
    ("deals", "2026-03-25", "deals_c.csv", [
        deal("D1", "P_VAR10", "60000.00", "2025-09-01 09:00:00", complexity=3, customer_segment="MID_MARKET",
             stage="TECHNICAL_VALIDATION", updated_at="2026-03-25 00:00:00"),
        deal("C2", None, "130000.00", "2026-01-05 08:00:00", motion="DIRECT", updated_at="2026-03-25 00:00:00",
             **closed("CLOSED_LOST", "2026-02-24 12:00:00")),
        deal("DEL1", "P_SI", "500000.00", "2026-01-05 08:00:00", updated_at="2026-03-26 00:00:00"),
    ]),
    ("engagements", "2026-03-25", "engagements_c.csv", [
        # R5 moves from T3 to C4 (confirmed before C4 closed: C4 becomes TREATED).
        request("R5", "C4", "P_SI", "PRESALES_ENGINEERING", "2026-01-12 10:00:00", stage_at_request="COMMITTED",
                confirmed_at="2026-01-13 09:00:00", updated_at="2026-03-25 00:00:00"),
        request("R10", "D3", "P_VAR9", "PRESALES_ENGINEERING", "2026-03-31 23:59:59",
                confirmed_at="2026-04-01 10:00:00"),
        # R12 moves from D7 to a DIRECT deal, R14 from D4 to a deal never landed: both leave.
        request("R12", "DIR6", "P_VARB", "PRESALES_ENGINEERING", "2025-09-02 00:00:00",
                confirmed_at="2025-10-01 10:00:00", updated_at="2026-03-25 00:00:00"),
        request("R14", "D_NEVER2", "P_SI", "REFERENCE_CUSTOMER", "2026-01-21 09:00:00",
                confirmed_at="2026-01-22 09:00:00", updated_at="2026-03-25 00:00:00"),
    ]),
]

# What the third load changes, and only that, is recomputed by each incremental model.
CHANGED_BY_LOAD_3 = {
    "int_deals_enriched": {"C4", "T3", "D1", "D3", "D6", "DEL1", "D7", "D4", "T4", "D5"},
    "fct_cosell_deals": {"C4", "T3", "D1", "D3", "D6", "DEL1", "D7", "D4", "T4", "D5"},
    # T4: a rate of its baseline currency dated on or before its registered date (SPEC 8.1).
    "int_deals_converted": {"D1", "C2", "DEL1", "D6", "T4", "D5"},
    "int_deals_stage_reached": {"D1", "C2", "DEL1"},
    # R5 moved, R10 confirmed, R8 is back with its deal.
    "int_requests_classified": {"R5", "R10", "R8"},
    "fct_cosell_engagements": {"R5", "R10", "R8"},
    # T3 lost R5 and D7 lost R12: their request counts no longer match. D4 lost its only
    # request, so its row is removed.
    "int_deals_support_aggregated": {"C4", "T3", "D3", "DEL1", "D7"},
}


STALE_RUN = "int_deals_stage_reached int_deals_converted int_requests_classified int_deals_support_aggregated int_deals_enriched"


def _tables(settings) -> dict[str, list[tuple]]:
    """Every table of the intermediate and marts schemas, rows sorted, without the watermark column."""
    con = connect(settings, read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('intermediate', 'marts') order by 1").fetchall()]
        tables = {}
        for name in names:
            columns = [r[0] for r in con.execute(f"describe {name}").fetchall() if r[0] != "_load_id_watermark"]
            tables[name] = con.execute(f"select {', '.join(columns)} from {name} order by all").fetchall()
        return tables
    finally:
        con.close()


@pytest.fixture(scope="module")
def three_loads(tmp_path_factory):
    settings = fixture_settings(tmp_path_factory.mktemp("dbt_incremental") / "home")
    for load_id, files in enumerate([LOAD_1, LOAD_2, LOAD_3], start=1):
        land_load(settings, load_id, files)
        if load_id == 3:
            # The deal and request models alone, on staging that has not read load 3 (an
            # Airflow task cleared by hand after a landing): they refuse to run, since their
            # stamp would pass over the rows staging brings later; the next build catches up.
            process = _run_dbt(settings, "build", "--select", STALE_RUN, *NIGHTLY_DBT_FLAGS)[0]
            assert process.returncode != 0
            assert "stg_raw__deals has not read the last load of raw.deals yet" in process.stdout
            assert "stg_raw__deal_versions has not read the last load of raw.deals yet" in process.stdout
        build(settings)
    recomputed = {}
    for model in CHANGED_BY_LOAD_3:
        schema = "marts" if model.startswith("fct_") else "intermediate"
        key = "request_id" if "request" in model or "engagements" in model else "deal_id"
        recomputed[model] = {r[0] for r in query(
            settings, f"select {key} from {schema}.{model} where _load_id_watermark = 3")}
    incremental = _tables(settings)
    summary = build(settings, full_refresh=True)
    return settings, recomputed, incremental, _tables(settings), summary


def test_incremental_build_equals_full_refresh(three_loads):
    _, _, incremental, full, summary = three_loads
    assert summary.full_refresh and "--full-refresh" in summary.describe()
    assert incremental.keys() == full.keys()
    assert {f"{'marts' if m.startswith('fct_') else 'intermediate'}.{m}" for m in CHANGED_BY_LOAD_3} <= full.keys()
    for table, rows in full.items():
        assert incremental[table] == rows, table


def test_only_what_the_load_changed_is_recomputed(three_loads):
    _, recomputed, _, _, _ = three_loads
    assert recomputed == CHANGED_BY_LOAD_3


def test_third_load_changes_reach_the_fact(three_loads):
    settings = three_loads[0]
    facts = {r[0]: r[1:] for r in query(
        settings,
        "select deal_id, cohort_group, requests_total, resource_types, is_cosell_eligible, amount_usd, "
        "technical_validation_at, supported_requests from marts.fct_cosell_deals")}
    assert "C2" not in facts  # now DIRECT
    assert facts["C4"][:3] == ("TREATED", 1, "PRESALES_ENGINEERING")
    assert facts["T3"][1:3] == (1, "EXECUTIVE_SPONSORSHIP")
    assert facts["D3"][3] is False  # VAR now with 10 certified specialists: complexity 3 < 4
    assert facts["D3"][6] == 2  # R9, and now R10, confirmed
    assert facts["D6"][4] == Decimal("110000.00")  # re-sent EUR rate of 2026-03-15: 1.1
    assert str(facts["D1"][5]) == "2026-03-25 00:00:00"
    assert "DEL1" in facts
    assert facts["D7"][1] == 1 and facts["D7"][6] == 0  # R12 left: only the cancelled R13 remains
    assert facts["D4"][1] == 0 and facts["D4"][0] is None  # R14 left; D4 is open
    assert one(settings, "select baseline_amount_usd from marts.fct_cosell_deals where deal_id = 'T4'") == (
        Decimal("20400.00"),)  # 3,000,000 JPY x the new 0.0068 of 2026-01-08
    engagements = dict(query(settings, "select request_id, deal_id from marts.fct_cosell_engagements"))
    assert engagements["R5"] == "C4" and engagements["R8"] == "DEL1"
    assert "R12" not in engagements and "R14" not in engagements
