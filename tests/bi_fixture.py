"""A hand-made published copy for the BI tests that pin figures of particular rows (dashboard, report words).

These rows stand for marts the real build would give from several hundred crafted deals (40 treated deals of which
31 matched, partners with closed repeat windows in three cohorts); the tests that only need real marts read the
session's nightly warehouse instead (conftest.nightly_warehouse).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

NEW_MARTS_SQL = """
CREATE TABLE marts.mart_request_volume (
    requested_month DATE, partner_type VARCHAR, partner_tier VARCHAR, complexity_band VARCHAR,
    resource_type VARCHAR, requests BIGINT, supported_requests BIGINT, requesting_partners BIGINT);
INSERT INTO marts.mart_request_volume VALUES
    ('2025-04-01', 'VAR', 'GOLD', 'HIGH', 'SOLUTION_ARCHITECT', 3, 2, 1),
    ('2025-04-01', 'SI', 'GOLD', 'LOW', 'SOLUTION_ARCHITECT', 1, 1, 1),
    ('2025-05-01', 'ISV', 'SILVER', 'MEDIUM', 'EXECUTIVE_SPONSOR', 2, 1, 1);

CREATE TABLE marts.mart_new_logo_by_participation (
    quarter DATE, partner_type VARCHAR, participation_level VARCHAR, partners BIGINT, deals_registered BIGINT,
    supported_deals BIGINT, avg_participation_rate DOUBLE, new_logo_deals_won BIGINT, new_logo_wins_per_partner DOUBLE);
INSERT INTO marts.mart_new_logo_by_participation VALUES
    ('2025-04-01', 'VAR', 'ABOVE_AVERAGE', 2, 10, 8, 0.8, 3, 1.5),
    ('2025-04-01', 'SI', 'BELOW_AVERAGE', 3, 9, 1, 0.1, 1, 0.3333333333),
    ('2025-01-01', 'VAR', 'BELOW_AVERAGE', 1, 2, 0, 0.0, 0, 0.0);

CREATE TABLE marts.mart_registration_trend (
    registered_month DATE, partner_type VARCHAR, partner_tier VARCHAR, is_cosell_participant BOOLEAN,
    partners BIGINT, deals_registered BIGINT, eligible_deals_registered BIGINT, registered_pipeline_usd DECIMAL(18,2));
INSERT INTO marts.mart_registration_trend VALUES
    ('2025-04-01', 'VAR', 'GOLD', true, 2, 7, 4, 700000.00),
    ('2025-04-01', 'SI', 'GOLD', false, 3, 5, 1, 200000.00),
    ('2025-05-01', 'VAR', 'GOLD', true, 2, 9, 5, 900000.00);
"""

MARTS_SQL = """
CREATE SCHEMA marts;
CREATE TABLE marts.warehouse_as_of AS SELECT DATE '2025-06-30' AS as_of_date;

CREATE TABLE marts.mart_cosell_coverage (
    registered_month DATE, partner_type VARCHAR, partner_tier VARCHAR, customer_segment VARCHAR,
    complexity_band VARCHAR, deals BIGINT, eligible_deals BIGINT, supported_eligible_deals BIGINT,
    supported_ineligible_deals BIGINT, eligible_pipeline_usd DECIMAL(18,2),
    supported_eligible_pipeline_usd DECIMAL(18,2), coverage_rate DOUBLE);
INSERT INTO marts.mart_cosell_coverage VALUES
    ('2025-04-01', 'VAR', 'GOLD', 'ENTERPRISE', 'HIGH', 10, 8, 4, 1, 800000, 400000, 0.5),
    ('2025-04-01', 'SI', 'GOLD', 'MID_MARKET', 'LOW', 5, 2, 2, 0, 150000, 150000, 1.0),
    ('2025-04-01', 'ISV', 'SILVER', 'ENTERPRISE', 'HIGH', 6, 4, 1, 0, 300000, 60000, 0.25),
    ('2025-05-01', 'VAR', 'GOLD', 'ENTERPRISE', 'HIGH', 12, 10, 7, 0, 900000, 700000, 0.7),
    ('2025-05-01', 'ISV', 'SILVER', 'ENTERPRISE', 'HIGH', 7, 5, 2, 1, 350000, 90000, 0.4),
    ('2025-05-01', 'MSP', 'PLATINUM', 'ENTERPRISE', 'HIGH', 3, 0, 0, 1, 0, 0, NULL),
    ('2025-06-01', 'MSP', 'PLATINUM', 'ENTERPRISE', 'HIGH', 4, 4, 3, 0, 500000, 380000, 0.75),
    ('2025-06-01', 'VAR', 'GOLD', 'SMB', 'LOW', 9, 6, 3, 0, 420000, 200000, 0.5);

CREATE TABLE marts.mart_cosell_uplift (
    slice_type VARCHAR, slice_value VARCHAR, treated_deals BIGINT, control_deals BIGINT,
    matched_treated_deals BIGINT, matched_control_deals BIGINT, matched_strata BIGINT,
    treated_win_rate DOUBLE, control_win_rate DOUBLE, win_rate_uplift DOUBLE,
    uplift_ci_low DOUBLE, uplift_ci_high DOUBLE, naive_win_rate_uplift DOUBLE,
    cycle_days_uplift DOUBLE, incremental_revenue_usd DECIMAL(18,2), opportunity_revenue_usd DECIMAL(18,2));
INSERT INTO marts.mart_cosell_uplift VALUES
    ('OVERALL', 'ALL', 40, 120, 31, 90, 12, 0.55, 0.38, 0.17, 0.05, 0.29, 0.21, -8.5, 1250000.00, 2100000.00),
    ('RESOURCE_TYPE', 'SOLUTION_ARCHITECT', 25, 120, 20, 80, 9, 0.6, 0.4, 0.2, 0.04, 0.36, 0.25, -10, 900000.00, 1500000.00),
    ('RESOURCE_TYPE', 'EXECUTIVE_SPONSOR', 6, 120, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0.3, NULL, NULL, NULL),
    ('PARTNER_TIER', 'GOLD', 22, 60, 15, 40, 7, 0.5, 0.41, 0.09, -0.08, 0.26, 0.14, -4, 300000.00, 500000.00),
    ('PARTNER_TIER', 'SILVER', 18, 60, 12, 35, 5, 0.52, 0.36, 0.16, -0.02, 0.34, 0.19, -6, 200000.00, 380000.00);

CREATE TABLE marts.fct_cosell_engagements (
    request_id VARCHAR, deal_id VARCHAR, partner_id VARCHAR, resource_type VARCHAR, status VARCHAR,
    requested_at TIMESTAMP, requested_month DATE, stage_at_request VARCHAR, confirmed_at TIMESTAMP,
    completed_at TIMESTAMP, is_supported BOOLEAN, hours_to_confirm DOUBLE);
INSERT INTO marts.fct_cosell_engagements VALUES
    ('R1', 'D1', 'P1', 'SOLUTION_ARCHITECT', 'COMPLETED', '2025-04-02 09:00', '2025-04-01', 'DISCOVERY', '2025-04-03 09:00', NULL, true, 24),
    ('R2', 'D2', 'P2', 'SOLUTION_ARCHITECT', 'CONFIRMED', '2025-04-10 09:00', '2025-04-01', 'DISCOVERY', '2025-04-12 09:00', NULL, true, 48),
    ('R3', 'D3', 'P1', 'SOLUTION_ARCHITECT', 'CONFIRMED', '2025-05-05 09:00', '2025-05-01', 'PROPOSAL', '2025-05-05 21:00', NULL, true, 12),
    ('R4', 'D4', 'P3', 'EXECUTIVE_SPONSOR', 'CONFIRMED', '2025-04-20 09:00', '2025-04-01', 'PROPOSAL', '2025-04-23 09:00', NULL, true, 72),
    ('R5', 'D5', 'P3', 'EXECUTIVE_SPONSOR', 'CONFIRMED', '2025-05-20 09:00', '2025-05-01', 'PROPOSAL', '2025-05-21 15:00', NULL, true, 30),
    ('R6', 'D6', 'P2', 'EXECUTIVE_SPONSOR', 'DECLINED', '2025-05-22 09:00', '2025-05-01', 'PROPOSAL', NULL, NULL, false, NULL);

CREATE TABLE marts.mart_resource_deployment (
    requested_month DATE, resource_type VARCHAR, partner_type VARCHAR, requests BIGINT, supported BIGINT,
    declined BIGINT, cancelled BIGINT, pending BIGINT, acceptance_rate DOUBLE,
    median_hours_to_confirm DOUBLE, p90_hours_to_confirm DOUBLE);
INSERT INTO marts.mart_resource_deployment VALUES
    ('2025-04-01', 'SOLUTION_ARCHITECT', 'VAR', 1, 1, 0, 0, 0, 1.0, 24, 24),
    ('2025-04-01', 'SOLUTION_ARCHITECT', 'SI', 1, 1, 0, 0, 0, 1.0, 48, 48),
    ('2025-05-01', 'SOLUTION_ARCHITECT', 'VAR', 1, 1, 0, 0, 0, 1.0, 12, 12),
    ('2025-04-01', 'EXECUTIVE_SPONSOR', 'ISV', 1, 1, 0, 0, 0, 1.0, 72, 72),
    ('2025-05-01', 'EXECUTIVE_SPONSOR', 'ISV', 1, 1, 0, 0, 0, 1.0, 30, 30),
    ('2025-05-01', 'EXECUTIVE_SPONSOR', 'SI', 1, 0, 1, 0, 0, 0.0, NULL, NULL);

CREATE TABLE marts.mart_resource_deployment_monthly (
    requested_month DATE, resource_type VARCHAR, requests BIGINT, supported BIGINT,
    median_hours_to_confirm DOUBLE, p90_hours_to_confirm DOUBLE);
INSERT INTO marts.mart_resource_deployment_monthly VALUES
    ('2025-04-01', 'SOLUTION_ARCHITECT', 2, 2, 36, 45.6),
    ('2025-05-01', 'SOLUTION_ARCHITECT', 1, 1, 12, 12),
    ('2025-04-01', 'EXECUTIVE_SPONSOR', 1, 1, 72, 72),
    ('2025-05-01', 'EXECUTIVE_SPONSOR', 2, 1, 30, 30);

CREATE TABLE marts.mart_repeat_request_rate (
    first_support_month DATE, partner_type VARCHAR, supported_partners BIGINT, repeat_partners BIGINT,
    repeat_rate DOUBLE);
INSERT INTO marts.mart_repeat_request_rate VALUES
    ('2024-10-01', 'VAR', 4, 3, 0.75), ('2024-10-01', 'ISV', 2, 1, 0.5),
    ('2024-11-01', 'VAR', 5, 2, 0.4), ('2024-12-01', 'SI', 3, 3, 1.0);

CREATE TABLE marts.mart_roe_violations (
    violation_type VARCHAR, activity_id VARCHAR, deal_id VARCHAR, partner_id VARCHAR, occurred_at TIMESTAMP);
INSERT INTO marts.mart_roe_violations VALUES
    ('UNBRIEFED_CUSTOMER_CONTACT', 'A1', 'D1', 'P1', '2025-04-03 10:00'),
    ('OFF_PLAN_CONTACT', 'A1', 'D1', 'P1', '2025-04-03 10:00'),
    ('TECHNICAL_ROLE_NEGOTIATION', 'A2', 'D2', 'P2', '2025-05-09 12:00'),
    ('UNBRIEFED_CUSTOMER_CONTACT', 'A3', 'D3', 'P1', '2025-05-30 23:59'),
    ('DIRECT_PIPELINE_AFTER_COSELL', NULL, 'D9', 'P1', '2025-06-02 08:00');
""" + NEW_MARTS_SQL

PAYOUTS_SQL = """
CREATE SCHEMA payouts;
CREATE TABLE payouts.lines (
    period VARCHAR, status VARCHAR, adjustment_set INTEGER, line_id VARCHAR, partner_id VARCHAR,
    partner_name VARCHAR, partner_type VARCHAR, partner_tier VARCHAR, rule_id VARCHAR, deal_id VARCHAR,
    basis_usd DECIMAL(18,2), rate VARCHAR, amount_usd DECIMAL(18,2), plan_id VARCHAR);
INSERT INTO payouts.lines VALUES
    ('2025-05', 'APPROVED', NULL, 'L1', 'P1', 'One', 'VAR', 'PLATINUM', 'COSELL_ACCELERATOR', 'D1', 1200000.00, '0.015', 18000.00, 'v1'),
    ('2025-05', 'APPROVED', NULL, 'L2', 'P1', 'One', 'VAR', 'PLATINUM', 'COSELL_ACCELERATOR', 'D2', 800000.00, '0.015', 12000.00, 'v1'),
    ('2025-05', 'APPROVED', NULL, 'L3', 'P1', 'One', 'VAR', 'PLATINUM', 'CAP_ADJUSTMENT', NULL, 30000.00, NULL, -5000.00, 'v1'),
    ('2025-05', 'APPROVED', NULL, 'L4', 'P3', 'Three', 'ISV', 'GOLD', 'PIPELINE_CONTRIBUTION', 'D4', 300000.00, '0.01', 3000.00, 'v1'),
    ('2025-05', 'APPROVED', 1, 'L4', 'P3', 'Three', 'ISV', 'GOLD', 'PIPELINE_CONTRIBUTION', 'D4', 200000.00, '0.01', -1000.00, 'v1'),
    ('2025-06', 'DRAFT', NULL, 'L5', 'P3', 'Three', 'ISV', 'GOLD', 'NEW_LOGO_BONUS', 'D5', 2500.00, '1', 2500.00, 'v1'),
    ('2025-06', 'DRAFT', NULL, 'L6', 'P2', 'Two', 'SI', 'GOLD', 'COSELL_ACCELERATOR', 'D6', 400000.00, '0.015', 5000.00, 'v1');
"""


def build_published(path: Path, payouts: bool = True, sql: str = MARTS_SQL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(sql)
        if payouts:
            con.execute(PAYOUTS_SQL)
    finally:
        con.close()
    return path
