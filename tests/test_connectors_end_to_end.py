"""Pulled AWS and Microsoft files plus an ordinary CRM extract: landed, built with dbt, seen in the marts."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber
from extracts import csv_text, row, write
from test_connectors_aws import DAY, opportunity, stub_pull
from test_connectors_aws import client as client  # noqa: F401  (the stubbed client fixture)
from test_connectors_microsoft import referral

from cosell.build.dbt import build
from cosell.connectors import aws, microsoft
from cosell.db import connect
from cosell.gates.runner import check
from cosell.landing.load import land

pytestmark = pytest.mark.slow


def test_pulled_deals_reach_the_marts_once_each(client, settings, tmp_path):  # noqa: F811
    inbox = tmp_path / "inbox"
    # The CRM knows CRM-42 as a partner-led deal of P1 with one request; ACE has it too (later).
    crm_day = "2026-03-01"
    write(inbox, "partners", crm_day, "crm.csv", csv_text([row("partners")]))
    write(inbox, "deals", crm_day, "crm.csv", csv_text([row("deals", deal_id="CRM-42"), row("deals", deal_id="CRM-43")]))
    write(inbox, "engagements", crm_day, "crm.csv", csv_text([row("engagements", deal_id="CRM-42")]))
    write(inbox, "fx_rates", crm_day, "crm.csv", csv_text([row("fx_rates")]))

    answers = [
        opportunity("O1", "Technical Validation", ["Co-Sell - Architectural Validation"], partner_id="CRM-42"),
        opportunity("O2", "Launched", ["Co-Sell - Deal Support"], amount="9000"),
        opportunity("O3", "Qualified", amount="9,000"),  # malformed: rejected, not lost
    ]
    with Stubber(client) as stubber:
        stub_pull(stubber, answers, [["O1", "O2"], ["O3"]])
        aws.pull_aws(inbox, DAY, client=client)
    export = tmp_path / "referrals.json"
    export.write_text(json.dumps([referral("r1", "Active", "Accepted"), referral("r2", "Closed", "Disputed")]))
    microsoft.pull_microsoft(inbox, DAY, file=export)

    landed = land(inbox, settings)
    assert landed.rows_rejected == 3  # O3's amount; r2's stage and its request's status
    build(settings)
    assert check("marts", settings).ok  # the marts gate of the nightly run passes on them

    con = connect(settings, read_only=True)
    try:
        deals = {
            r[0]: r[1:]
            for r in con.execute(
                "select deal_id, partner_id, motion, marketplace, stage, amount_usd, requests_total, supported_requests "
                "from marts.fct_cosell_deals"
            ).fetchall()
        }
        shared = con.execute("select count(*) from marts.fct_cosell_deals where deal_id = 'CRM-42'").fetchone()[0]
        audit = con.execute("select feed, file_name, status from raw.load_audit where file_name like '%-001.csv' order by 1, 2").fetchall()
        rejects = con.execute("select feed, file_name, raw_line from raw.rejects order by feed, file_name").fetchall()
        partners = con.execute("select partner_id, partner_type from marts.dim_partner order by 1").fetchall()
    finally:
        con.close()

    assert shared == 1
    # The shared deal: ACE's later version wins, the CRM's request and ACE's need both count.
    assert deals["CRM-42"][:5] == ("AWS", "MARKETPLACE", "AWS", "TECHNICAL_VALIDATION", 12006)
    assert deals["CRM-42"][5:] == (2, 2)
    assert deals["AWS-O2"][:5] == ("AWS", "MARKETPLACE", "AWS", "CLOSED_WON", 108000)
    assert deals["MSFT-r1"][:5] == ("MICROSOFT", "MARKETPLACE", "AZURE", "QUALIFIED", 50000)
    assert deals["CRM-43"][1:3] == ("PARTNER_LED", None)
    assert set(deals) == {"CRM-42", "CRM-43", "AWS-O2", "MSFT-r1"}
    assert ("AWS", "REFERRAL") in partners and ("MICROSOFT", "REFERRAL") in partners
    # The provider is visible in the load audit; malformed records sit in raw.rejects.
    assert ("deals", "aws-partner-central-aws-001.csv", "LANDED") in audit
    assert ("deals", "microsoft-partner-center-001.csv", "LANDED") in audit
    assert [(f, n) for f, n, _ in rejects] == [
        ("deals", "aws-partner-central-aws-001.csv"),
        ("deals", "microsoft-partner-center-001.csv"),
        ("engagements", "microsoft-partner-center-001.csv"),
    ]
    assert "9,000" in rejects[0][2] and "Closed/Disputed" in rejects[1][2]
