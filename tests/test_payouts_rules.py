"""Unit tests of the pure payout rules (no files, no warehouse): hand-computed numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from cosell.config import PLANS_DIR
from cosell.errors import CosellError
from cosell.payouts.plans import (
    AcceleratorRule,
    MdfRule,
    NewLogoRule,
    PipelineRule,
    load_plans,
)
from cosell.payouts.rules import (
    Deal,
    MdfWindow,
    Partner,
    PartnerVersion,
    PeriodData,
    accelerator_lines,
    compute_period,
    mdf_rows,
    new_logo_lines,
    parse_period,
    pipeline_lines,
    rate_text,
    round_cents,
    tier_in_force,
)

T = dt.datetime
PLAN = load_plans(PLANS_DIR)[0]
ACC: AcceleratorRule = PLAN.rule(AcceleratorRule)
PIPE: PipelineRule = PLAN.rule(PipelineRule)
LOGO: NewLogoRule = PLAN.rule(NewLogoRule)
MDF: MdfRule = PLAN.rule(MdfRule)
MARCH = parse_period("2026-03")


def won(deal_id, partner_id, amount, closed_at=T(2026, 3, 15), **extra) -> Deal:
    values = dict(deal_id=deal_id, partner_id=partner_id, sourced_by="PARTNER", is_new_logo=False, is_won=True,
                  amount_usd=D(amount), closed_at=closed_at, is_supported_before_close=True,
                  first_support_at=T(2026, 1, 10), technical_validation_at=None)
    values.update(extra)
    return Deal(**values)


def partners(*rows):
    return {p.partner_id: p for p in (Partner(pid, f"Name {pid}", ptype, tier) for pid, ptype, tier in rows)}


# ---------------------------------------------------------------- money and periods


def test_round_cents_is_half_even_once():
    assert round_cents(D("1234.50") * D("0.015")) == D("18.52")  # 18.5175
    assert round_cents(D("0.125")) == D("0.12")  # half-up would give 0.13
    assert round_cents(D("0.135")) == D("0.14")
    assert round_cents(D("1000.40") * D("0.0125")) == D("12.50")  # 12.505: half-up 12.51
    assert round_cents(D("-0.125")) == D("-0.12")


def test_rate_text_has_no_trailing_zeros():
    assert rate_text(D("0.06") * D("0.25")) == "0.015"
    assert rate_text(D("0.08") * D("0.25")) == "0.02"
    assert rate_text(D(1)) == "1"
    assert rate_text(None) == ""


def test_parse_period_gives_utc_month_boundaries():
    p = parse_period("2026-12")
    assert (p.start, p.end) == (T(2026, 12, 1), T(2027, 1, 1))
    assert (p.first_day, p.last_day) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert p.window_start(6) == dt.date(2026, 7, 1)
    assert parse_period("2026-02").window_start(6) == dt.date(2025, 9, 1)
    assert p.contains(T(2026, 12, 31, 23, 59, 59)) and not p.contains(T(2027, 1, 1))


@pytest.mark.parametrize("text", ["2026-13", "2026-3", "26-03", "2026-03-01", "", "march", "0000-01"])
def test_parse_period_rejects_malformed(text):
    with pytest.raises(CosellError) as error:
        parse_period(text)
    assert "\n" not in str(error.value) and "YYYY-MM" in str(error.value)


# ---------------------------------------------------------------- tiers


def test_tier_in_force_uses_latest_version_before_next_month():
    # intervals as dim_partner_versions gives them: the earliest version open to the past, the current to the future
    versions = [PartnerVersion("P", "GOLD", None, T(2026, 3, 31, 23, 59, 59)),
                PartnerVersion("P", "PLATINUM", T(2026, 3, 31, 23, 59, 59), None)]
    assert tier_in_force(versions, MARCH.end) == "PLATINUM"
    versions = [PartnerVersion("P", "GOLD", None, T(2026, 4, 1)), PartnerVersion("P", "PLATINUM", T(2026, 4, 1), None)]
    assert tier_in_force(versions, MARCH.end) == "GOLD"


def test_tier_in_force_falls_back_to_earliest_version():
    versions = [PartnerVersion("P", "SILVER", None, T(2026, 6, 1)), PartnerVersion("P", "GOLD", T(2026, 6, 1), None)]
    assert tier_in_force(versions, MARCH.end) == "SILVER"
    assert tier_in_force([], MARCH.end) is None


# ---------------------------------------------------------------- accelerator


def test_accelerator_rate_by_tier_and_rounding():
    ps = partners(("A", "VAR", "PLATINUM"), ("B", "SI", "GOLD"), ("C", "MSP", "SILVER"), ("E", "DISTRIBUTOR", "REGISTERED"))
    tiers = {k: v.partner_tier for k, v in ps.items()}
    deals = (won("D1", "A", "1000.00"), won("D2", "B", "1234.50"), won("D3", "C", "1000.40"), won("D4", "E", "12.50"))
    lines = accelerator_lines(ACC, MARCH, deals, ps, tiers)
    assert [(l.deal_id, l.rate, l.amount_usd) for l in lines] == [
        ("D1", D("0.02"), D("20.00")),
        ("D2", D("0.015"), D("18.52")),
        ("D3", D("0.0125"), D("12.50")),
        ("D4", D("0.01"), D("0.12")),
    ]
    assert lines[1].basis_usd == D("1234.50")
    assert "1234.50" in lines[1].explanation and "0.015" in lines[1].explanation and "18.52" in lines[1].explanation


def test_accelerator_needs_support_before_close_and_partner_type():
    ps = partners(("A", "VAR", "GOLD"), ("I", "ISV", "GOLD"))
    tiers = {"A": "GOLD", "I": "GOLD"}
    deals = (
        # fct_cosell_deals decides support before close (dbt): supported at the close instant or later is not
        won("same-instant", "A", "100.00", first_support_at=T(2026, 3, 15), is_supported_before_close=False),
        won("after", "A", "100.00", first_support_at=T(2026, 3, 16), is_supported_before_close=False),
        won("unsupported", "A", "100.00", is_supported_before_close=False, first_support_at=None),
        won("lost", "A", "100.00", is_won=False),
        won("isv", "I", "100.00"),
        won("next-month", "A", "100.00", closed_at=T(2026, 4, 1)),
        won("last-second", "A", "100.00", closed_at=T(2026, 3, 31, 23, 59, 59)),
        won("first-instant", "A", "100.00", closed_at=T(2026, 3, 1)),
    )
    assert [l.deal_id for l in accelerator_lines(ACC, MARCH, deals, ps, tiers)] == ["last-second", "first-instant"]


def test_accelerator_cap_reached_exactly_gives_no_adjustment():
    ps = partners(("A", "VAR", "PLATINUM"))
    lines = accelerator_lines(ACC, MARCH, (won("D1", "A", "1000000.00"), won("D2", "A", "250000.00")), ps, {"A": "PLATINUM"})
    assert [l.amount_usd for l in lines] == [D("20000.00"), D("5000.00")]
    assert all(l.rule_id == "COSELL_ACCELERATOR" for l in lines)


def test_accelerator_cap_exceeded_gives_one_negative_line():
    ps = partners(("A", "VAR", "PLATINUM"))
    lines = accelerator_lines(ACC, MARCH, (won("D1", "A", "1000000.00"), won("D2", "A", "300000.00")), ps, {"A": "PLATINUM"})
    cap = lines[-1]
    assert cap.rule_id == "CAP_ADJUSTMENT" and cap.deal_id == "" and cap.rate is None
    assert cap.basis_usd == D("26000.00") and cap.amount_usd == D("-1000.00")
    assert sum(l.amount_usd for l in lines) == D("25000.00")


def test_cap_is_computed_from_rounded_lines():
    # 0.125 x 200 rounded lines each -> 0.12; the cap compares the sum of rounded lines
    ps = partners(("A", "VAR", "REGISTERED"))
    deals = tuple(won(f"D{i:03d}", "A", "12.50") for i in range(200))
    lines = accelerator_lines(ACC, MARCH, deals, ps, {"A": "REGISTERED"})
    assert sum(l.amount_usd for l in lines) == D("24.00")  # not 200 x 0.125 = 25.00


def test_missing_amount_on_a_qualifying_deal_is_an_error():
    ps = partners(("A", "VAR", "GOLD"))
    with pytest.raises(CosellError, match="no amount_usd"):
        accelerator_lines(ACC, MARCH, (won("D1", "A", "1.00", amount_usd=None),), ps, {"A": "GOLD"})


# ---------------------------------------------------------------- pipeline and new logo


def test_pipeline_contribution_rate_and_per_deal_maximum():
    ps = partners(("I", "ISV", "GOLD"), ("R", "REFERRAL", "SILVER"), ("V", "VAR", "GOLD"))
    tiers = {k: v.partner_tier for k, v in ps.items()}
    tv = T(2026, 3, 5)
    deals = (
        won("small", "I", "1234.50", technical_validation_at=tv, is_won=False, closed_at=None),  # 12.345 -> 12.34
        won("exact", "R", "500000.00", technical_validation_at=tv, is_won=False, closed_at=T(2026, 3, 9)),
        won("big", "R", "600000.00", technical_validation_at=T(2026, 3, 31, 23, 59, 59)),
        won("vendor", "I", "1000.00", technical_validation_at=tv, sourced_by="VENDOR"),
        won("var", "V", "1000.00", technical_validation_at=tv),
        won("april", "I", "1000.00", technical_validation_at=T(2026, 4, 1)),
        won("never", "I", "1000.00"),
    )
    lines = pipeline_lines(PIPE, MARCH, deals, ps, tiers)
    assert [(l.deal_id, l.basis_usd, l.amount_usd) for l in lines] == [
        ("small", D("1234.50"), D("12.34")),
        ("exact", D("500000.00"), D("5000.00")),
        ("big", D("600000.00"), D("5000.00")),
    ]
    assert "capped at 5000.00" in lines[2].explanation and "capped" not in lines[1].explanation


def test_new_logo_bonus_fixed_amount():
    ps = partners(("I", "ISV", "GOLD"), ("V", "VAR", "GOLD"))
    tiers = {"I": "GOLD", "V": "GOLD"}
    deals = (
        won("yes", "I", "10.00", is_new_logo=True, is_supported_before_close=False, first_support_at=None),
        won("not-new", "I", "10.00"),
        won("vendor", "I", "10.00", is_new_logo=True, sourced_by="VENDOR"),
        won("var", "V", "10.00", is_new_logo=True),
        won("lost", "I", "10.00", is_new_logo=True, is_won=False),
    )
    lines = new_logo_lines(LOGO, MARCH, deals, ps, tiers)
    assert [(l.deal_id, l.basis_usd, l.rate, l.amount_usd) for l in lines] == [("yes", D("2500.00"), D(1), D("2500.00"))]


# ---------------------------------------------------------------- MDF


def _mdf(partner_rows, windows=()):
    ps = tuple(Partner(pid, pid, "VAR", tier) for pid, tier in partner_rows)
    data = PeriodData(ps, (), (), tuple(windows))
    rows = mdf_rows(MDF, MARCH, data, {p.partner_id: p.partner_tier for p in ps})
    return {r.partner_id: r for r in rows}


# What counts in the window (its edges, other surveys, deals won before it or supported after close) is the
# engine's SQL: tests/test_payouts_lifecycle.py::test_mdf_window_edges_are_counted_in_sql.
def test_mdf_without_survey_responses_and_the_cap():
    row = _mdf([("G", "GOLD")], [MdfWindow("G", 3, 0, 0, D("3000000.00"))])["G"]
    assert (row.window_start, row.window_end) == (dt.date(2025, 10, 1), dt.date(2026, 3, 31))
    assert row.supported_requests == 3 and row.cosell_csat_avg is None
    assert row.supported_won_usd == D("3000000.00")
    assert row.is_eligible and row.reasons == () and row.mdf_allocation_usd == D("50000.00")  # 60,000 capped


def test_mdf_partner_without_window_totals_has_nothing():
    row = _mdf([("G", "GOLD")])["G"]
    assert (row.supported_requests, row.cosell_csat_avg, row.supported_won_usd) == (0, None, D("0.00"))
    assert row.reasons == ("ENGAGEMENTS",) and row.mdf_allocation_usd == D("0.00")


def test_mdf_allocation_two_percent_rounded_half_even():
    row = _mdf([("S", "SILVER")], [MdfWindow("S", 3, 0, 0, D("1234.25"))])["S"]
    assert row.mdf_allocation_usd == D("24.68")  # 24.685


@pytest.mark.parametrize(
    "tier, n_requests, scores, reasons",
    [
        ("REGISTERED", 3, [5], ("TIER",)),
        ("PLATINUM", 2, [5], ("ENGAGEMENTS",)),
        ("SILVER", 3, [3, 3, 4], ("CSAT",)),
        ("REGISTERED", 0, [2], ("TIER", "ENGAGEMENTS", "CSAT")),
        ("SILVER", 3, [3, 4], ()),  # 3.5 exactly is eligible
    ],
)
def test_mdf_reasons(tier, n_requests, scores, reasons):
    row = _mdf([("X", tier)], [MdfWindow("X", n_requests, len(scores), sum(scores), D("1000.00"))])["X"]
    assert row.reasons == reasons
    assert row.is_eligible is (reasons == ())
    assert row.mdf_allocation_usd == (D("20.00") if not reasons else D("0.00"))


# ---------------------------------------------------------------- the whole period


def test_compute_period_orders_lines_and_totals():
    data = PeriodData(
        partners=(Partner("B", "Bee", "ISV", "GOLD"), Partner("A", "Ay", "VAR", "PLATINUM")),
        versions=(),
        deals=(
            won("D2", "A", "1000000.00"), won("D1", "A", "300000.00"),
            won("D3", "B", "1234.50", technical_validation_at=T(2026, 3, 2), is_new_logo=True),
        ),
    )
    result = compute_period(PLAN, MARCH, data)
    assert [(l.partner_id, l.rule_id, l.deal_id) for l in result.lines] == [
        ("A", "COSELL_ACCELERATOR", "D1"), ("A", "COSELL_ACCELERATOR", "D2"), ("A", "CAP_ADJUSTMENT", ""),
        ("B", "PIPELINE_CONTRIBUTION", "D3"), ("B", "NEW_LOGO_BONUS", "D3"),
    ]
    a, b = result.summaries
    assert (a.cosell_accelerator_usd, a.total_usd, a.lines) == (D("25000.00"), D("25000.00"), 3)
    assert (b.pipeline_contribution_usd, b.new_logo_bonus_usd, b.total_usd) == (D("12.34"), D("2500.00"), D("2512.34"))
    assert result.total_usd == D("27512.34")
    assert result.control_totals["CAP_ADJUSTMENT"].amount_usd == D("-1000.00")
    assert result.control_totals["COSELL_ACCELERATOR"].amount_usd == D("26000.00")
    assert [r.partner_id for r in result.mdf] == ["A", "B"]
