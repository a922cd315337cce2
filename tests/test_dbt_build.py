"""`cosell build` failures: a user sees one line naming the failing dbt tests, never a stack trace."""

from __future__ import annotations

import json

import pytest
from test_dbt_marts import LOAD_1, deal, fixture_settings, land_load, partner

from cosell.build.dbt import BuildSummary, _failure_message, build
from cosell.errors import CosellError


def test_missing_warehouse_is_a_one_line_error(tmp_path):
    settings = fixture_settings(tmp_path / "home")
    with pytest.raises(CosellError, match="does not exist: run `cosell land` first"):
        build(settings)


def test_failure_message_names_failing_tests_and_models():
    results = [
        {"unique_id": "model.cosell.fct_cosell_deals", "status": "success"},
        {"unique_id": "test.cosell.assert_every_deal_has_an_fx_rate", "status": "fail", "failures": 2},
        {"unique_id": "unit_test.cosell.int_deals_enriched.test_eligibility", "status": "fail"},
        {"unique_id": "model.cosell.mart_x", "status": "error", "message": "Runtime Error\n  boom"},
        {"unique_id": "model.cosell.mart_y", "status": "skipped"},
    ]
    message = _failure_message(results)
    assert message == (
        "test assert_every_deal_has_an_fx_rate failed (2 rows); unit test int_deals_enriched.test_eligibility failed; "
        "model mart_x error: Runtime Error: boom"
    )


def test_summary_describe():
    summary = BuildSummary(models=31, tests_passed=100, unit_tests_passed=9, warnings=("x (1 rows)",), seconds=12.34)
    assert summary.describe() == (
        "dbt build: 31 models built, 100 data tests and 9 unit tests passed in 12.3s; 1 warning(s): x (1 rows)"
    )
    nightly = BuildSummary(models=31, tests_passed=100, unit_tests_passed=0, seconds=2.0, full_refresh=True)
    assert nightly.describe() == "dbt build --full-refresh: 31 models built, 100 data tests passed in 2.0s"


@pytest.mark.slow
def test_referential_break_and_missing_fx_fail_as_named_tests(tmp_path):
    settings = fixture_settings(tmp_path / "home")
    partners = [f for f in LOAD_1 if f[0] == "partners"]
    broken = [
        ("deals", "2026-03-01", "deals_a.csv", [
            deal("G1", "P_GHOST", "1000.00", "2026-02-01 08:00:00"),  # partner never landed
            deal("G2", "P_SI", "1000.00", "2026-02-01 08:00:00", currency="GBP"),  # no GBP rate at all
            deal("G3", "P_SI", "1000.00", "2026-02-01 08:00:00"),
            # Baseline version in CHF (no CHF rate), current version in USD: only the baseline fails.
            deal("G4", "P_SI", "1000.00", "2026-02-01 08:00:00", currency="CHF"),
            deal("G4", "P_SI", "1000.00", "2026-02-01 08:00:00", updated_at="2026-02-02 08:00:00"),
        ]),
        ("partners", "2026-03-01", "partners_b.csv", [partner("P_X", "X", "SI", "GOLD", 1, "2026-01-01 00:00:00")]),
    ]
    land_load(settings, 1, partners + broken)
    with pytest.raises(CosellError) as caught:
        build(settings)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("dbt build failed: ")
    # Each failing test is named with the first rows its query returns.
    assert "test assert_every_deal_has_an_fx_rate failed (1 rows: deal_id=G2, currency=GBP" in message
    assert "relationships_fct_cosell_deals_partner_id" in message and "(1 rows: from_field=P_GHOST)" in message
    # The failing rows are kept by name in dbt's run results for whoever investigates.
    results = json.loads((settings.home / "dbt" / "target" / "run_results.json").read_text())["results"]
    failed = {r["unique_id"].split(".")[2] for r in results if r["status"] == "fail"}
    assert "assert_every_deal_has_an_fx_rate" in failed
    # SPEC section 8.1: a baseline without an fx row fails like amount_usd (G2 and G4).
    assert "test assert_every_deal_has_a_baseline_fx_rate failed (2 rows" in message
    assert "assert_every_deal_has_a_baseline_fx_rate" in failed
