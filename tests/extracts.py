"""Builders of small, hand-written extract files for tests (valid rows, then a field changed)."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from cosell.contract import FEEDS

VALID = {
    "partners": {
        "partner_id": "P1",
        "partner_name": "Acme Systems",
        "partner_type": "VAR",
        "tier": "GOLD",
        "region": "NA",
        "country": "US",
        "certified_specialists": "12",
        "parent_partner_id": "",
        "onboarded_on": "2024-02-01",
        "is_active": "true",
        "updated_at": "2026-03-01T09:00:00Z",
    },
    "deals": {
        "deal_id": "D1",
        "partner_id": "P1",
        "customer_id": "C1",
        "customer_name": "Contoso",
        "customer_segment": "ENTERPRISE",
        "industry": "RETAIL",
        "country": "US",
        "product_category": "DATA",
        "motion": "PARTNER_LED",
        "marketplace": "",
        "sourced_by": "PARTNER",
        "is_new_logo": "true",
        "competitive_situation": "COMPETITIVE_EVAL",
        "complexity": "4",
        "stakeholder_level": "VP",
        "stage": "QUALIFIED",
        "amount": "120000.00",
        "currency": "USD",
        "registered_at": "2026-03-01T10:00:00Z",
        "expected_close_on": "2026-06-30",
        "closed_at": "",
        "updated_at": "2026-03-01T10:00:00Z",
        "is_deleted": "false",
    },
    "engagements": {
        "request_id": "R1",
        "deal_id": "D1",
        "partner_id": "P1",
        "resource_type": "PRESALES_ENGINEERING",
        "status": "ACCEPTED",
        "requested_at": "2026-03-02T10:00:00Z",
        "stage_at_request": "QUALIFIED",
        "confirmed_at": "2026-03-03T10:00:00Z",
        "completed_at": "",
        "vendor_resource_id": "V9",
        "updated_at": "2026-03-03T10:00:00Z",
    },
    "activities": {
        "activity_id": "A1",
        "request_id": "R1",
        "deal_id": "D1",
        "occurred_at": "2026-03-04T15:00:00Z",
        "activity_type": "DEMO",
        "vendor_role": "TECHNICAL",
        "partner_briefed": "true",
        "partner_present": "true",
        "in_engagement_plan": "true",
        "commercial_discussion": "false",
    },
    "satisfaction": {
        "response_id": "S1",
        "partner_id": "P1",
        "request_id": "R1",
        "survey_type": "COSELL_ENGAGEMENT",
        "score": "4",
        "submitted_at": "2026-03-10T12:00:00Z",
        "comment": "helpful, on time",
    },
    "fx_rates": {"rate_date": "2026-03-01", "currency": "EUR", "usd_per_unit": "1.085000"},
}


def row(feed: str, **changes: str | None) -> dict[str, str | None]:
    """A valid row of the feed with some fields changed (None removes the column)."""
    values = dict(VALID[feed])
    values.update(changes)
    return values


def csv_text(rows: list[dict], columns: list[str] | None = None) -> str:
    columns = columns or [c for c in rows[0] if rows[0][c] is not None]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([r.get(c) or "" for c in columns])
    return out.getvalue()


def write(inbox: Path, feed: str, date: str, name: str, content: str | bytes) -> Path:
    path = inbox / feed / date / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    if name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def contract_columns(feed: str) -> list[str]:
    return list(FEEDS[feed].column_names)
