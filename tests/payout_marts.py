"""Helpers for the payout tests: a hand-written stand-in for the dbt marts in a real DuckDB file."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb

from cosell.config import Settings

D = Decimal
T = dt.datetime

MARTS_DDL = """
create schema if not exists marts;
create table marts.dim_partner (
    partner_id varchar, partner_name varchar, partner_type varchar, partner_tier varchar, region varchar,
    country varchar, certified_specialists integer, parent_partner_id varchar, onboarded_on date,
    is_active boolean, updated_at timestamp);
create table marts.dim_partner_versions (
    partner_id varchar, partner_name varchar, partner_type varchar, partner_tier varchar,
    certified_specialists integer, updated_at timestamp);
create table marts.fct_cosell_deals (
    deal_id varchar, partner_id varchar, partner_name varchar, partner_type varchar, partner_tier varchar,
    customer_id varchar, customer_segment varchar, industry varchar, country varchar, product_category varchar,
    motion varchar, marketplace varchar, sourced_by varchar, is_new_logo boolean, competitive_situation varchar,
    complexity integer, complexity_band varchar, stakeholder_level varchar, stage varchar, is_closed boolean,
    is_won boolean, amount decimal(18,2), currency varchar, amount_usd decimal(18,2), amount_band varchar,
    registered_at timestamp, registered_month date, closed_at timestamp, cycle_days integer,
    is_cosell_eligible boolean, is_cosell_requested boolean, is_cosell_supported boolean, requests_total integer,
    supported_requests integer, first_support_at timestamp, first_support_month date, first_support_stage varchar,
    resource_types varchar, cohort_group varchar, technical_validation_at timestamp);
create table marts.fct_cosell_engagements (
    request_id varchar, deal_id varchar, partner_id varchar, resource_type varchar, status varchar,
    requested_at timestamp, requested_month date, stage_at_request varchar, confirmed_at timestamp,
    completed_at timestamp, is_supported boolean, hours_to_confirm double);
create table marts.fct_satisfaction_responses (
    response_id varchar, partner_id varchar, request_id varchar, deal_id varchar, survey_type varchar,
    score integer, submitted_at timestamp, quarter date);
create table marts.warehouse_as_of (as_of_date date);
"""

PARTNER_DEFAULTS = dict(region="NA", country="US", certified_specialists=5, parent_partner_id=None,
                        onboarded_on=dt.date(2025, 1, 1), is_active=True, updated_at=T(2025, 1, 1))
DEAL_DEFAULTS = dict(
    partner_name=None, partner_type=None, partner_tier=None, customer_id="C1", customer_segment="ENTERPRISE",
    industry="TECH", country="US", product_category="PLATFORM", motion="PARTNER_LED", marketplace=None,
    sourced_by="PARTNER", is_new_logo=False, competitive_situation="GREENFIELD", complexity=3,
    complexity_band="MEDIUM", stakeholder_level="VP", stage="CLOSED_WON", is_closed=True, is_won=True, amount=None,
    currency="USD", amount_usd=D("0.00"), amount_band=None, registered_at=T(2025, 10, 1), registered_month=None,
    closed_at=None, cycle_days=None, is_cosell_eligible=True, is_cosell_requested=True, is_cosell_supported=True,
    requests_total=1, supported_requests=1, first_support_at=T(2025, 11, 1), first_support_month=None,
    first_support_stage="QUALIFIED", resource_types="PRESALES_ENGINEERING", cohort_group=None,
    technical_validation_at=None,
)
REQUEST_DEFAULTS = dict(deal_id="D0", resource_type="PRESALES_ENGINEERING", status="ACCEPTED",
                        requested_at=T(2025, 10, 1), requested_month=None, stage_at_request="QUALIFIED",
                        completed_at=None, is_supported=True, hours_to_confirm=1.0)
RESPONSE_DEFAULTS = dict(request_id=None, deal_id=None, survey_type="COSELL_ENGAGEMENT", quarter=None)


def partner(partner_id: str, partner_type: str = "VAR", tier: str = "GOLD", name: str | None = None, **extra) -> dict:
    return dict(PARTNER_DEFAULTS, partner_id=partner_id, partner_name=name or f"Partner {partner_id}",
                partner_type=partner_type, partner_tier=tier, **extra)


def deal(deal_id: str, partner_id: str, amount_usd: str, closed_at: T | None = None, **extra) -> dict:
    row = dict(DEAL_DEFAULTS, deal_id=deal_id, partner_id=partner_id, amount_usd=D(amount_usd),
               amount=D(amount_usd), closed_at=closed_at)
    if closed_at is None:
        row.update(stage="TECHNICAL_VALIDATION", is_closed=False, is_won=False)
    row.update(extra)
    return row


def request(request_id: str, partner_id: str, confirmed_at: T | None, **extra) -> dict:
    return dict(REQUEST_DEFAULTS, request_id=request_id, partner_id=partner_id, confirmed_at=confirmed_at, **extra)


def response(response_id: str, partner_id: str, score: int, submitted_at: T, **extra) -> dict:
    return dict(RESPONSE_DEFAULTS, response_id=response_id, partner_id=partner_id, score=score,
                submitted_at=submitted_at, **extra)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    columns = [r[0] for r in con.execute(f"describe marts.{table}").fetchall()]
    for row in rows:
        con.execute(
            f"insert into marts.{table} ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
            [row.get(c) for c in columns],
        )


def make_settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        warehouse=tmp_path / "warehouse.duckdb",
        published=tmp_path / "published.duckdb",
        duckdb_threads=1,
        duckdb_memory_limit="1GB",
        max_reject_rate=0.01,
    )


def build_warehouse(settings: Settings, partners: list[dict], deals: list[dict] = (), requests: list[dict] = (),
                    responses: list[dict] = (), versions: list[dict] | None = None,
                    as_of: dt.date = dt.date(2026, 4, 5)) -> None:
    """(Re)create the marts the payout stage reads, with these rows; keeps schema payouts if present."""
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("drop schema if exists marts cascade")
        con.execute(MARTS_DDL)
        _insert(con, "dim_partner", partners)
        if versions is None:
            versions = [dict(p) for p in partners]
        _insert(con, "dim_partner_versions", versions)
        _insert(con, "fct_cosell_deals", list(deals))
        _insert(con, "fct_cosell_engagements", list(requests))
        _insert(con, "fct_satisfaction_responses", list(responses))
        con.execute("insert into marts.warehouse_as_of values (?)", [as_of])
    finally:
        con.close()
