"""SPEC section 8 on a small hand-written raw layer: baseline strata, stage-aligned controls, the
interval with one-deal strata, deal size, the MOTION slice and the three program marts.

Every expected value below is computed by hand from these rows (one landing run, one build).

Strata (baseline attributes; all GREENFIELD, ENTERPRISE):
- B/HIGH/ANALYTICS: TA1 (won; baseline 90,000 and complexity 4, then grown to 120,000 and
  complexity 3 after support), TA2 (lost) | CA1 (won), CA2 (lost, never reached
  TECHNICAL_VALIDATION), OLD1 (won; registered in Q4, 75,000.01).
- B/MEDIUM/SECURITY (ECOSYSTEM motion): TM1 (won) | CM1 (lost, only ever PROSPECT): one deal
  per group, so the interval takes pbar there.
- C/HIGH/ANALYTICS: CA3 alone (100,000 EUR registered at 1.3, closed at 1.2): unmatched.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from test_dbt_marts import (
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

pytestmark = pytest.mark.slow

D = "2026-01-05 08:00:00"


def _v(did, pid, amount, registered_at, updated_at, stage="QUALIFIED", **extra):
    return deal(did, pid, amount, registered_at, stage=stage, updated_at=updated_at, **extra)


LOAD = [
    ("partners", "2025-12-01", "partners.csv", [
        partner("PA", "Alpha", "SI", "GOLD", 0, "2025-11-01 00:00:00"),
        partner("PB", "Beta", "VAR", "SILVER", 0, "2025-11-01 00:00:00"),
        partner("PC", "Gamma", "ISV", "REGISTERED", 0, "2025-11-01 00:00:00"),
        partner("PD", "Delta", "VAR", "GOLD", 0, "2025-11-01 00:00:00"),
    ]),
    ("fx_rates", "2026-01-01", "fx.csv", [fx("2026-01-01", "EUR", "1.3"), fx("2026-03-01", "EUR", "1.2")]),
    ("deals", "2026-01-05", "deals_a.csv", [
        # Two versions at the same instant: the earlier file name (deals_a.csv) is the baseline.
        _v("TA1", "PA", "90000.00", D, D, is_new_logo=True),
        _v("TA2", "PA", "80000.00", "2026-01-06 08:00:00", "2026-01-06 08:00:00"),
        _v("CA1", "PB", "95000.00", "2026-01-07 08:00:00", "2026-01-07 08:00:00"),
        _v("CA2", "PB", "60000.00", "2026-01-08 08:00:00", "2026-01-08 08:00:00"),
        _v("CA3", "PA", "100000.00", "2026-01-10 08:00:00", "2026-01-10 08:00:00", currency="EUR"),
        _v("TM1", "PC", "30000.00", "2026-01-12 08:00:00", "2026-01-12 08:00:00", motion="ECOSYSTEM", complexity=3,
           product_category="SECURITY", is_new_logo=True),
        _v("CM1", "PC", "30000.00", "2026-01-13 08:00:00", "2026-01-13 08:00:00", stage="PROSPECT",
           motion="ECOSYSTEM", complexity=3, product_category="SECURITY"),
        _v("OLD1", "PB", "75000.01", "2025-12-15 08:00:00", "2025-12-15 08:00:00", is_new_logo=True),
    ]),
    ("deals", "2026-01-05", "deals_b.csv", [
        _v("TA1", "PA", "91000.00", D, D, is_new_logo=True),
    ]),
    ("deals", "2026-03-05", "deals_c.csv", [
        _v("TA1", "PA", "120000.00", D, "2026-01-25 08:00:00", stage="TECHNICAL_VALIDATION", complexity=3,
           is_new_logo=True),
        _v("TA1", "PA", "120000.00", D, "2026-02-20 12:00:00", complexity=3, is_new_logo=True,
           **closed("CLOSED_WON", "2026-02-20 12:00:00")),
        _v("TA2", "PA", "80000.00", "2026-01-06 08:00:00", "2026-01-20 08:00:00", stage="TECHNICAL_VALIDATION"),
        _v("TA2", "PA", "80000.00", "2026-01-06 08:00:00", "2026-02-25 12:00:00",
           **closed("CLOSED_LOST", "2026-02-25 12:00:00")),
        _v("CA1", "PB", "95000.00", "2026-01-07 08:00:00", "2026-01-20 08:00:00", stage="TECHNICAL_VALIDATION"),
        _v("CA1", "PB", "95000.00", "2026-01-07 08:00:00", "2026-02-10 12:00:00",
           **closed("CLOSED_WON", "2026-02-10 12:00:00")),
        _v("CA2", "PB", "60000.00", "2026-01-08 08:00:00", "2026-02-12 12:00:00",
           **closed("CLOSED_LOST", "2026-02-12 12:00:00")),
        _v("CA3", "PA", "100000.00", "2026-01-10 08:00:00", "2026-03-01 12:00:00", currency="EUR",
           **closed("CLOSED_LOST", "2026-03-01 12:00:00")),
        _v("TM1", "PC", "30000.00", "2026-01-12 08:00:00", "2026-02-15 12:00:00", motion="ECOSYSTEM", complexity=3,
           product_category="SECURITY", is_new_logo=True, **closed("CLOSED_WON", "2026-02-15 12:00:00")),
        _v("CM1", "PC", "30000.00", "2026-01-13 08:00:00", "2026-02-16 12:00:00", motion="ECOSYSTEM", complexity=3,
           product_category="SECURITY", **closed("CLOSED_LOST", "2026-02-16 12:00:00")),
        _v("OLD1", "PB", "75000.01", "2025-12-15 08:00:00", "2026-01-20 12:00:00", is_new_logo=True,
           **closed("CLOSED_WON", "2026-01-20 12:00:00")),
        _v("OA1", "PB", "70000.00", "2026-02-15 08:00:00", "2026-02-15 08:00:00"),
        _v("PD1", "PD", "55000.00", "2026-03-01 08:00:00", "2026-03-01 08:00:00"),
        _v("PD2", "PD", "20000.00", "2026-03-05 08:00:00", "2026-03-05 08:00:00"),
    ]),
    ("deals", "2026-04-05", "deals_d.csv", [
        _v("PA2", "PA", "40000.00", "2026-04-02 08:00:00", "2026-04-02 08:00:00"),
    ]),
    ("engagements", "2026-03-05", "engagements.csv", [
        request("RA1", "TA1", "PA", "PRESALES_ENGINEERING", "2026-01-20 09:00:00", confirmed_at="2026-01-21 09:00:00"),
        request("RA4", "TA1", "PA", "PRESALES_ENGINEERING", "2026-01-22 09:00:00", status="REQUESTED"),
        request("RA2", "TA2", "PA", "PRESALES_ENGINEERING", "2026-01-25 09:00:00",
                stage_at_request="TECHNICAL_VALIDATION", confirmed_at="2026-01-26 09:00:00"),
        request("RA3", "TA2", "PA", "EXECUTIVE_SPONSORSHIP", "2026-01-28 09:00:00", status="DECLINED",
                stage_at_request="TECHNICAL_VALIDATION"),
        request("RM1", "TM1", "PC", "PRODUCT_SPECIALIST", "2026-02-02 09:00:00", confirmed_at="2026-02-03 09:00:00"),
        request("RX1", "OA1", "PB", "PRESALES_ENGINEERING", "2026-02-20 09:00:00", confirmed_at="2026-02-21 09:00:00"),
        request("RD1", "PD1", "PD", "PRESALES_ENGINEERING", "2026-03-01 09:00:00", confirmed_at="2026-03-02 09:00:00"),
    ]),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from cosell.build.dbt import build

    settings = fixture_settings(tmp_path_factory.mktemp("dbt_revision2") / "home")
    land_load(settings, 1, LOAD)
    build(settings)
    return settings


def _uplift(settings, slice_type, slice_value, columns):
    return one(settings, f"select {columns} from marts.mart_cosell_uplift where slice_type = ? and slice_value = ?",
               slice_type, slice_value)


def test_baseline_attributes(built):
    rows = {r[0]: r[1:] for r in query(built, """
        select deal_id, baseline_amount, baseline_amount_usd, baseline_amount_band, baseline_complexity_band,
               amount_usd, amount_band, complexity_band
        from marts.fct_cosell_deals""")}
    # TA1: deals_a.csv beats deals_b.csv at the same updated_at and business date; support grew it.
    assert rows["TA1"] == (Decimal("90000.00"), Decimal("90000.00"), "B_25K_100K", "HIGH",
                           Decimal("120000.00"), "C_100K_250K", "MEDIUM")
    # CA3: baseline at the registered date's EUR rate (1.3), amount_usd at the close date's (1.2).
    assert rows["CA3"][1:3] == (Decimal("130000.00"), "C_100K_250K")
    assert rows["CA3"][4] == Decimal("120000.00")


def test_strata_are_on_baseline_attributes(built):
    rows = query(built, """
        select amount_band, complexity_band, product_category, treated_deals, control_deals, treated_wins,
               control_wins, treated_pipeline_usd, control_pipeline_usd, is_matched
        from marts.mart_matched_cohort_strata order by 1, 2, 3""")
    assert rows == [
        ("B_25K_100K", "HIGH", "ANALYTICS", 2, 3, 1, 2, Decimal("200000.00"), Decimal("230000.01"), True),
        ("B_25K_100K", "MEDIUM", "SECURITY", 1, 1, 1, 0, Decimal("30000.00"), Decimal("30000.00"), True),
        ("C_100K_250K", "HIGH", "ANALYTICS", 0, 1, 0, 0, Decimal("0.00"), Decimal("120000.00"), False),
    ]


def test_overall_uplift_interval_and_deal_size(built):
    row = _uplift(built, "OVERALL", "ALL", """
        treated_deals, control_deals, matched_treated_deals, matched_control_deals, matched_strata,
        treated_win_rate, control_win_rate, win_rate_uplift, uplift_ci_low, uplift_ci_high, naive_win_rate_uplift,
        won_matched_treated_deals, won_matched_control_deals, treated_avg_won_usd, control_avg_won_usd,
        deal_size_uplift_usd""")
    assert row[:5] == (3, 5, 3, 4, 2)
    # w = 2/3 (B/HIGH: 1/2 vs 2/3) and 1/3 (B/MEDIUM: 1 vs 0).
    assert row[5] == pytest.approx(2 / 3, abs=1e-9) and row[6] == pytest.approx(4 / 9, abs=1e-9)
    assert row[7] == pytest.approx(2 / 9, abs=1e-9)
    # B/HIGH: v_T = 1/2 x 1/2 / (2 - 1), v_C = 2/3 x 1/3 / (3 - 1); B/MEDIUM has one deal per
    # group: pbar_T = 2 wins / 3 matched treated, pbar_C = 2 / 4 matched controls.
    se = math.sqrt((2 / 3) ** 2 * (0.25 + 1 / 9) + (1 / 3) ** 2 * ((2 / 3) * (1 / 3) + 0.5 * 0.5))
    assert row[8] == pytest.approx(2 / 9 - 1.96 * se, abs=1e-9)
    assert row[9] == pytest.approx(2 / 9 + 1.96 * se, abs=1e-9)
    assert row[10] == pytest.approx(2 / 3 - 2 / 5, abs=1e-9)  # naive: 2 of 3 treated won, 2 of 5 controls
    # Won-matched: only B/HIGH (CM1 lost, so B/MEDIUM has no won control): TA1's current
    # 120,000 against (95,000 + 75,000.01) / 2 = 85,000.005 -> 85,000.00 half-even; the
    # uplift 34,999.995 -> 35,000.00.
    assert row[11:] == (1, 2, Decimal("120000.00"), Decimal("85000.00"), Decimal("35000.00"))


def test_first_support_stage_controls_reached_the_stage(built):
    # QUALIFIED: TA1 (B/HIGH, won) and TM1 (B/MEDIUM, won) against the controls that reached
    # QUALIFIED: CA1, CA2, CA3, OLD1; CM1 only ever was PROSPECT, so TM1's stratum is unmatched.
    qualified = _uplift(built, "FIRST_SUPPORT_STAGE", "QUALIFIED",
                        "treated_deals, control_deals, matched_treated_deals, win_rate_uplift, uplift_ci_low")
    assert qualified[:3] == (2, 4, 1)
    assert qualified[3] == pytest.approx(1 / 3, abs=1e-9)
    # n_T = 1 with pbar_T = 1 (variance 0); n_C = 3 at 2/3: 2/3 x 1/3 / (3 - 1) = 1/9.
    assert qualified[4] == pytest.approx(1 / 3 - 1.96 / 3, abs=1e-9)
    # TECHNICAL_VALIDATION: TA2 (lost) against CA1 and OLD1 (a CLOSED_WON version is later than
    # TECHNICAL_VALIDATION); CA2 went from QUALIFIED to CLOSED_LOST and never reached it.
    tv = _uplift(built, "FIRST_SUPPORT_STAGE", "TECHNICAL_VALIDATION", "control_deals, matched_control_deals, win_rate_uplift")
    assert tv[:2] == (2, 2) and tv[2] == pytest.approx(-1.0, abs=1e-9)


def test_complexity_band_and_motion_slices(built):
    rows = {(r[0], r[1]): r[2:] for r in query(built, """
        select slice_type, slice_value, treated_deals, control_deals, win_rate_uplift, uplift_ci_low, uplift_ci_high
        from marts.mart_cosell_uplift where slice_type in ('COMPLEXITY_BAND', 'MOTION')""")}
    # By baseline complexity: TA1 counts as HIGH (its current complexity is 3).
    assert rows[("COMPLEXITY_BAND", "HIGH")][:2] == (2, 4)
    assert rows[("COMPLEXITY_BAND", "HIGH")][2] == pytest.approx(1 / 2 - 2 / 3, abs=1e-9)
    assert rows[("COMPLEXITY_BAND", "MEDIUM")][:3] == (1, 1, 1.0)
    assert rows[("MOTION", "PARTNER_LED")][:2] == (2, 4)
    assert rows[("MOTION", "PARTNER_LED")][2] == pytest.approx(1 / 2 - 2 / 3, abs=1e-9)
    # ECOSYSTEM: one deal per group, pbar_T = 1 and pbar_C = 0: no variance.
    assert rows[("MOTION", "ECOSYSTEM")] == (1, 1, 1.0, 1.0, 1.0)
    assert set(rows) == {("COMPLEXITY_BAND", "HIGH"), ("COMPLEXITY_BAND", "MEDIUM"), ("MOTION", "PARTNER_LED"),
                         ("MOTION", "ECOSYSTEM")}


def test_request_volume(built):
    rows = query(built, """
        select strftime(requested_month, '%Y-%m'), partner_type, partner_tier, complexity_band, resource_type,
               requests, supported_requests, requesting_partners
        from marts.mart_request_volume order by all""")
    assert rows == [
        ("2026-01", "SI", "GOLD", "HIGH", "EXECUTIVE_SPONSORSHIP", 1, 0, 1),
        ("2026-01", "SI", "GOLD", "HIGH", "PRESALES_ENGINEERING", 1, 1, 1),
        ("2026-01", "SI", "GOLD", "MEDIUM", "PRESALES_ENGINEERING", 2, 1, 1),  # TA1's current complexity
        ("2026-02", "ISV", "REGISTERED", "MEDIUM", "PRODUCT_SPECIALIST", 1, 1, 1),
        ("2026-02", "VAR", "SILVER", "HIGH", "PRESALES_ENGINEERING", 1, 1, 1),
        ("2026-03", "VAR", "GOLD", "HIGH", "PRESALES_ENGINEERING", 1, 1, 1),
    ]


def test_new_logo_by_participation(built):
    rows = query(built, """
        select strftime(quarter, '%Y-%m'), partner_type, participation_level, partners, deals_registered,
               supported_deals, avg_participation_rate, new_logo_deals_won, new_logo_wins_per_partner
        from marts.mart_new_logo_by_participation order by all""")
    # Q1: PA 2/3, PB 1/3, PC 1/2, PD 1/2; mean 1/2: only PA is strictly above (PC and PD tie).
    # OLD1 (PB) was registered in Q4 and won in Q1: a Q1 new-logo win of PB.
    assert rows == [
        ("2025-10", "VAR", "BELOW_AVERAGE", 1, 1, 0, 0.0, 0, 0.0),
        ("2026-01", "ISV", "BELOW_AVERAGE", 1, 2, 1, 0.5, 1, 1.0),
        ("2026-01", "SI", "ABOVE_AVERAGE", 1, 3, 2, 0.6666666667, 1, 1.0),
        ("2026-01", "VAR", "BELOW_AVERAGE", 2, 5, 2, pytest.approx(5 / 12, abs=1e-10), 1, 0.5),
        ("2026-04", "SI", "BELOW_AVERAGE", 1, 1, 0, 0.0, 0, 0.0),  # alone at 0: not above its own mean
    ]


def test_registration_trend(built):
    rows = query(built, """
        select strftime(registered_month, '%Y-%m'), partner_type, partner_tier, is_cosell_participant, partners,
               deals_registered, eligible_deals_registered, registered_pipeline_usd
        from marts.mart_registration_trend order by all""")
    # PA's first support was confirmed 2026-01-21: a participant from February on (PA2, April); PB's on
    # 2026-02-21 and PD's on 2026-03-02: not yet in the month they registered in.
    assert rows == [
        ("2025-12", "VAR", "SILVER", False, 1, 1, 1, Decimal("75000.01")),
        ("2026-01", "ISV", "REGISTERED", False, 1, 2, 0, Decimal("60000.00")),
        ("2026-01", "SI", "GOLD", False, 1, 3, 3, Decimal("320000.00")),
        ("2026-01", "VAR", "SILVER", False, 1, 2, 2, Decimal("155000.00")),
        ("2026-02", "VAR", "SILVER", False, 1, 1, 1, Decimal("70000.00")),
        ("2026-03", "VAR", "GOLD", False, 1, 2, 1, Decimal("75000.00")),
        ("2026-04", "SI", "GOLD", True, 1, 1, 0, Decimal("40000.00")),
    ]


def test_new_marts_are_published(built):
    from cosell.publish.copy import publish

    summary = publish(built)
    new = {"mart_request_volume", "mart_new_logo_by_participation", "mart_registration_trend"}
    assert {f"marts.{name}" for name in new} <= set(summary.tables)
    assert {f"{name}.parquet" for name in new} <= {p.name for p in summary.parquet_dir.glob("*.parquet")}
