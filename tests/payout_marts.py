"""Payout test warehouses: the rows a test names, written as extract files, landed and built by the real dbt project.

A test describes partners, deals, requests and responses in the shape the payout stage reads them; this module
turns them into the extract files that give those marts (partner versions, deal versions, supported requests),
lands them with the real landing and runs the real dbt models of the marts the payout stage reads (and every
model upstream of them; their data tests run in the dbt and gate tests, not once per scenario). Each distinct set of files is built once per test session and copied to the
test's warehouse path.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
from extracts import contract_columns, csv_text, write

from cosell.build.dbt import _run_dbt
from cosell.config import Settings
from cosell.landing.load import land
from cosell.payouts.engine import MARTS

D = Decimal
T = dt.datetime

PARTNER_DEFAULTS = dict(region="NA", country="US", certified_specialists=5, parent_partner_id=None,
                        onboarded_on=dt.date(2025, 1, 1), is_active=True, updated_at=T(2025, 1, 1))
# A supported deal gets one supported request confirmed at first_support_at: before the MDF window of the periods
# the tests compute (2025-10-01 onwards for 2026-03), so it makes the deal supported without counting for MDF.
DEAL_DEFAULTS = dict(
    customer_id="C1", customer_name="Customer C1", customer_segment="ENTERPRISE", industry="TECH", country="US",
    product_category="PLATFORM", motion="PARTNER_LED", marketplace=None, sourced_by="PARTNER", is_new_logo=False,
    competitive_situation="GREENFIELD", complexity=3, stakeholder_level="VP", stage="CLOSED_WON", currency="USD",
    registered_at=T(2025, 10, 1), is_cosell_supported=True, first_support_at=T(2025, 9, 15),
    technical_validation_at=None,
)
REQUEST_DEFAULTS = dict(deal_id="D0", resource_type="PRESALES_ENGINEERING", status="ACCEPTED",
                        requested_at=T(2025, 10, 1), stage_at_request="QUALIFIED", completed_at=None)
RESPONSE_DEFAULTS = dict(request_id=None, survey_type="COSELL_ENGAGEMENT")
CARRIER_DEAL = "D0"  # the open deal that carries the requests a test gives without a deal of their own

_CACHE = Path(tempfile.mkdtemp(prefix="cosell_payout_marts_"))
atexit.register(shutil.rmtree, _CACHE, True)


def partner(partner_id: str, partner_type: str = "VAR", tier: str = "GOLD", name: str | None = None, **extra) -> dict:
    return dict(PARTNER_DEFAULTS, partner_id=partner_id, partner_name=name or f"Partner {partner_id}",
                partner_type=partner_type, partner_tier=tier, **extra)


def deal(deal_id: str, partner_id: str, amount_usd: str, closed_at: T | None = None, **extra) -> dict:
    row = dict(DEAL_DEFAULTS, deal_id=deal_id, partner_id=partner_id, amount_usd=D(amount_usd), closed_at=closed_at)
    if closed_at is None:
        row.update(stage="TECHNICAL_VALIDATION")
    row.update(extra)
    return row


def request(request_id: str, partner_id: str, confirmed_at: T | None, **extra) -> dict:
    return dict(REQUEST_DEFAULTS, request_id=request_id, partner_id=partner_id, confirmed_at=confirmed_at, **extra)


def response(response_id: str, partner_id: str, score: int, submitted_at: T, **extra) -> dict:
    return dict(RESPONSE_DEFAULTS, response_id=response_id, partner_id=partner_id, score=score,
                submitted_at=submitted_at, **extra)


def make_settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        warehouse=tmp_path / "warehouse.duckdb",
        published=tmp_path / "published.duckdb",
        duckdb_threads=1,
        duckdb_memory_limit="1GB",
        max_reject_rate=0.01,
    )


# ---------------------------------------------------------------- rows -> extract rows


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%dT%H:%M:%S}Z"
    return str(value)


def _partner_rows(partners: list[dict], versions: list[dict] | None) -> list[dict]:
    rows = list(versions) if versions is not None else list(partners)
    listed = {r["partner_id"] for r in rows}
    rows += [p for p in partners if p["partner_id"] not in listed]
    return [dict(p, tier=p["partner_tier"]) for p in rows]


def _deal_versions(d: dict) -> list[dict]:
    """The versions that give the deal its stage, close and first technical validation (SPEC section 3)."""
    base = dict(d, amount=d["amount_usd"], expected_close_on=None, is_deleted=False)
    closed = d["closed_at"] is not None
    versions = []
    if d["technical_validation_at"] is not None:
        versions.append(dict(base, stage="TECHNICAL_VALIDATION", closed_at=None, updated_at=d["technical_validation_at"]))
    if closed:
        versions.append(dict(base, updated_at=d["closed_at"]))
    elif not versions:
        # open, never technically validated: an earlier stage (TECHNICAL_VALIDATION would set the instant)
        stage = "QUALIFIED" if d["stage"] == "TECHNICAL_VALIDATION" else d["stage"]
        versions.append(dict(base, stage=stage, updated_at=d["registered_at"]))
    return versions


def _support_request(d: dict) -> dict:
    at = d["first_support_at"]
    return dict(REQUEST_DEFAULTS, request_id=f"RS-{d['deal_id']}", deal_id=d["deal_id"], partner_id=d["partner_id"],
                requested_at=at - dt.timedelta(days=1), confirmed_at=at, updated_at=at)


def _request_row(r: dict) -> dict:
    requested = r["requested_at"] if r["confirmed_at"] is None else min(r["requested_at"], r["confirmed_at"])
    return dict(r, requested_at=requested, updated_at=r["confirmed_at"] or requested)


def extract_files(partners: list[dict], deals: list[dict], requests: list[dict], responses: list[dict],
                  versions: list[dict] | None, as_of: dt.date) -> dict[str, str]:
    """feed -> the CSV text of one extract file dated as_of (the warehouse's as_of_date)."""
    deal_rows = [v for d in deals for v in _deal_versions(d)]
    request_rows = [_request_row(r) for r in requests]
    request_rows += [_support_request(d) for d in deals if d["is_cosell_supported"] and d["first_support_at"]]
    carried = [r for r in requests if r["deal_id"] == CARRIER_DEAL]
    if carried:
        deal_rows.append(dict(DEAL_DEFAULTS, deal_id=CARRIER_DEAL, partner_id=carried[0]["partner_id"], amount="1.00",
                              stage="QUALIFIED", registered_at=T(2025, 1, 1), updated_at=T(2025, 1, 1),
                              closed_at=None, expected_close_on=None, is_deleted=False))
    rows = {
        "partners": _partner_rows(partners, versions),
        "deals": deal_rows,
        "engagements": request_rows,
        "satisfaction": [dict(r, comment=None) for r in responses],
        # an fx row on as_of: every scenario, even an empty one, has that business date landed
        "fx_rates": [{"rate_date": as_of, "currency": "EUR", "usd_per_unit": "1.100000"}],
    }
    files = {}
    for feed, feed_rows in rows.items():
        if feed_rows:
            columns = contract_columns(feed)
            files[feed] = csv_text([{c: _text(r.get(c)) for c in columns} for r in feed_rows], columns)
    return files


# ---------------------------------------------------------------- landing and dbt, once per distinct input


def _built(files: dict[str, str], as_of: dt.date) -> Path:
    """The warehouse these extract files give, built once per session (then kept under its content hash).

    Every build lands and runs dbt at the same warehouse path under the same home, so dbt's profile does not
    change between builds and its partial parsing skips the full parse of the project (most of a small build).
    """
    key = hashlib.sha256(repr((sorted(files.items()), as_of)).encode()).hexdigest()[:16]
    kept = _CACHE / f"{key}.duckdb"
    if kept.exists():
        return kept
    workdir = _CACHE / "build"
    shutil.rmtree(workdir / "inbox", ignore_errors=True)
    settings = Settings.from_env({"COSELL_HOME": str(workdir / "home"), "COSELL_WAREHOUSE": str(workdir / "warehouse.duckdb"),
                                  "COSELL_DUCKDB_THREADS": "2", "COSELL_DUCKDB_MEMORY_LIMIT": "1GB"})
    settings.warehouse.unlink(missing_ok=True)
    for feed, text in files.items():
        write(workdir / "inbox", feed, as_of.isoformat(), f"{feed}.csv", text)
    summary = land(workdir / "inbox", settings)
    if summary.rows_rejected or summary.files["QUARANTINED"]:
        raise AssertionError(f"the test's extracts did not all land: {summary.describe()}")
    process, *_ = _run_dbt(settings, "run", "--select", *(f"+{mart}" for mart in MARTS))
    if process.returncode != 0:
        raise AssertionError(f"dbt run of the test's marts failed: {process.stdout[-3000:]}")
    os.replace(settings.warehouse, kept)
    return kept


def build_warehouse(settings: Settings, partners: list[dict], deals: list[dict] = (), requests: list[dict] = (),
                    responses: list[dict] = (), versions: list[dict] | None = None,
                    as_of: dt.date = dt.date(2026, 4, 5)) -> None:
    """The marts these rows give, built by landing + dbt, at settings.warehouse; a payouts schema there is kept."""
    files = extract_files(list(partners), list(deals), list(requests), list(responses), versions, as_of)
    built = _built(files, as_of)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    if not settings.warehouse.exists():
        shutil.copyfile(built, settings.warehouse)
        return
    # a later state of the data for a warehouse the payout stage already wrote to: swap in the new marts
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute(f"ATTACH '{built}' AS built (READ_ONLY)")
        con.execute("DROP SCHEMA IF EXISTS marts CASCADE")
        con.execute("CREATE SCHEMA marts")
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'built' "
                                   "AND schema_name = 'marts' ORDER BY 1").fetchall():
            con.execute(f'CREATE TABLE marts."{name}" AS SELECT * FROM built.marts."{name}"')
        con.execute("DETACH built")
    finally:
        con.close()
