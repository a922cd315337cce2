"""Words people read on the payout documents: the period's status banner and the MDF reasons."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from cosell.payouts.rules import parse_period

DRAFT = "DRAFT"
APPROVED = "APPROVED"


def period_has_ended(period: str, as_of: str | None) -> bool:
    """Whether the warehouse holds data through the period's last day (what approval needs)."""
    return as_of is not None and dt.date.fromisoformat(as_of) >= parse_period(period).last_day


def status_banner(meta: Mapping[str, Any]) -> str:
    """One sentence saying DRAFT or APPROVED (who and when), for the top of every sheet and statement.

    meta is the period's manifest (period, status, plan_id, as_of_date; approved_by and approved_at once approved).
    """
    period, as_of, plan_id = meta["period"], meta.get("as_of_date"), meta.get("plan_id")
    source = f"Plan {plan_id}; warehouse data as of {as_of or 'unknown'}."
    if meta.get("status") == APPROVED:
        at = str(meta.get("approved_at", "?")).replace("T", " ").removesuffix("Z")
        return (f"APPROVED by {meta.get('approved_by', '?')} at {at} UTC: period {period} is final; "
                f"later changes come as adjustment sets. {source}")
    if not period_has_ended(period, as_of):
        last_day = parse_period(period).last_day
        return (f"DRAFT, a preview: period {period} had not ended by the warehouse data date {as_of or 'unknown'}; "
                f"amounts will change and it cannot be approved before data through {last_day} is in. {source}")
    return f"DRAFT, not approved: amounts may change until finance approves period {period}. {source}"


def mdf_reason_words(record: Mapping[str, str]) -> str:
    """An mdf_eligibility.csv row's reason codes in words, with the partner's own figures."""
    csat = record.get("cosell_csat_avg") or "none"
    requests = record.get("supported_requests", "?")
    words = {
        "TIER": f"tier {record.get('partner_tier', '?')} in force at the period's end is not one the plan funds",
        "ENGAGEMENTS": f"{requests} supported request{'' if requests == '1' else 's'} in the window, "
                       f"fewer than the plan requires",
        "CSAT": f"average co-sell engagement score {csat} is below the plan's minimum",
    }
    codes = [code for code in (record.get("reasons") or "").split("|") if code]
    return "; ".join(f"{code}: {words.get(code, 'see the plan')}" for code in codes)
