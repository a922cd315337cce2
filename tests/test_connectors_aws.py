"""`cosell pull aws` against botocore's Stubber on the real partnercentral-selling service model."""

from __future__ import annotations

import csv
import datetime as dt
import io

import boto3
import pytest
from botocore.stub import Stubber

from cosell import cli
from cosell.connectors import aws
from cosell.db import connect
from cosell.errors import CosellError
from cosell.landing.load import land

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET16"
DAY = dt.date(2026, 3, 10)
CREATED = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone.utc)
MODIFIED = dt.datetime(2026, 3, 9, 17, 45, 12, tzinfo=dt.timezone.utc)

STAGES = {
    "O1001": "Prospect",
    "O1002": "Qualified",
    "O1003": "Technical Validation",
    "O1004": "Business Validation",
    "O1005": "Committed",
    "O1006": "Launched",
    "O1007": "Closed Lost",
}
NEEDS = [
    "Co-Sell - Architectural Validation",
    "Co-Sell - Business Presentation",
    "Co-Sell - Competitive Information",
    "Co-Sell - Pricing Assistance",
    "Co-Sell - Technical Consultation",
    "Co-Sell - Total Cost of Ownership Evaluation",
    "Co-Sell - Deal Support",
    "Co-Sell - Support for Public Tender / RFx",
]


@pytest.fixture
def client():
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE16", aws_secret_access_key=SECRET)
    return session.client("partnercentral-selling", region_name="us-east-1")


def opportunity(oid, stage, needs=(), amount="1000.50", review="Approved", partner_id="", **extra):
    """A GetOpportunity answer shaped as the service model defines it."""
    answer = {
        "Catalog": "AWS",
        "Id": oid,
        "Arn": f"arn:aws:partnercentral:us-east-1::catalog/AWS/opportunity/{oid}",
        "LastModifiedDate": MODIFIED,
        "CreatedDate": CREATED,
        "RelatedEntityIdentifiers": {},
        "PartnerOpportunityIdentifier": partner_id,
        "PrimaryNeedsFromAws": list(needs),
        "OpportunityType": "Net New Business",
        "Customer": {
            "Account": {
                "CompanyName": f"Customer of {oid}",
                "Industry": "Financial Services",
                "Duns": "123456789",
                "Address": {"CountryCode": "DE"},
            }
        },
        "Project": {
            "Title": f"Project {oid}",
            "CompetitorName": "Microsoft Azure",
            "ExpectedCustomerSpend": [
                {"Amount": amount, "CurrencyCode": "USD", "Frequency": "Monthly", "TargetCompany": "AWS"}
            ],
        },
        "LifeCycle": {"Stage": stage, "ReviewStatus": review, "TargetCloseDate": "2026-06-30"},
    }
    answer.update(extra)
    return answer


def summary(oid):
    return {"Catalog": "AWS", "Id": oid, "LastModifiedDate": MODIFIED}


def stub_pull(stubber, answers, pages, since=None):
    """Queue ListOpportunities pages (lists of ids) and one GetOpportunity per id, in the order the connector asks."""
    for number, ids in enumerate(pages):
        params = {"Catalog": "AWS", "MaxResults": aws.PAGE_SIZE}
        if since is not None:
            params["LastModifiedDate"] = {"AfterLastModifiedDate": since}
        if number:
            params["NextToken"] = f"page-{number}"
        page = {"OpportunitySummaries": [summary(i) for i in ids]}
        if number < len(pages) - 1:
            page["NextToken"] = f"page-{number + 1}"
        stubber.add_response("list_opportunities", page, params)
    for oid in sorted(a["Id"] for a in answers):
        answer = next(a for a in answers if a["Id"] == oid)
        stubber.add_response("get_opportunity", answer, {"Catalog": "AWS", "Identifier": oid})


def rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def every_case():
    answers = [opportunity(oid, stage, needs=NEEDS[i : i + 2]) for i, (oid, stage) in enumerate(STAGES.items())]
    answers[0]["PrimaryNeedsFromAws"] = NEEDS  # every need on one opportunity too
    answers[1]["PartnerOpportunityIdentifier"] = "CRM-42"
    answers[2]["LifeCycle"]["ReviewStatus"] = "In review"
    answers.append(opportunity("O1008", "Qualified", amount="12,000.00"))  # malformed amount
    answers.append(opportunity("O1009", "Launched - Partial", needs=["Co-Sell - Moral Support"]))  # unknown enums
    return answers


def test_every_stage_and_need_over_several_pages_land_or_reject(client, settings, tmp_path):
    answers = every_case()
    ids = [a["Id"] for a in answers]
    inbox = tmp_path / "inbox"
    with Stubber(client) as stubber:
        stub_pull(stubber, answers, [ids[:4], ids[4:8], ids[8:]])
        result = aws.pull_aws(inbox, DAY, client=client)
        stubber.assert_no_pending_responses()
    assert result.records_read == 9
    deals_path = result.files["deals"][0]
    assert deals_path == inbox / "deals" / "2026-03-10" / "aws-partner-central-aws-001.csv"
    deals = {r["source_record_id"]: r for r in rows(deals_path)}
    stages = {oid: deals[oid]["stage"] for oid in STAGES}
    assert stages == {
        "O1001": "PROSPECT",
        "O1002": "QUALIFIED",
        "O1003": "TECHNICAL_VALIDATION",
        "O1004": "BUSINESS_VALIDATION",
        "O1005": "COMMITTED",
        "O1006": "CLOSED_WON",
        "O1007": "CLOSED_LOST",
    }
    first = deals["O1001"]
    # Monthly 1000.50 -> 12 x 1000.50 a year.
    assert (first["amount"], first["currency"]) == ("12006.00", "USD")
    assert (first["motion"], first["marketplace"], first["partner_id"]) == ("MARKETPLACE", "AWS", "AWS")
    assert (first["registered_at"], first["updated_at"]) == ("2026-03-01T09:30:00Z", "2026-03-09T17:45:12Z")
    assert (first["industry"], first["country"], first["customer_id"]) == ("FINANCIAL_SERVICES", "DE", "123456789")
    assert (first["competitive_situation"], first["is_new_logo"], first["closed_at"]) == ("COMPETITIVE_EVAL", "true", "")
    assert first["expected_close_on"] == "2026-06-30"
    assert deals["O1006"]["closed_at"] == "2026-03-09T17:45:12Z"
    # The partner's own id keys the deal; otherwise the ACE id does.
    assert deals["O1002"]["deal_id"] == "CRM-42" and first["deal_id"] == "AWS-O1001"
    # Written through as read: landing decides.
    assert deals["O1008"]["amount"] == "12,000.00"
    assert deals["O1009"]["stage"] == "Launched - Partial"

    requests = rows(result.files["engagements"][0])
    of_first = {r["request_id"]: r["resource_type"] for r in requests if r["source_record_id"] == "O1001"}
    assert of_first == {
        "AWS-O1001-ARCHITECTURAL_VALIDATION": "PRESALES_ENGINEERING",
        "AWS-O1001-BUSINESS_PRESENTATION": "EXECUTIVE_SPONSORSHIP",
        "AWS-O1001-COMPETITIVE_INFORMATION": "COMPETITIVE_INTELLIGENCE",
        "AWS-O1001-PRICING_ASSISTANCE": "PRODUCT_SPECIALIST",
        "AWS-O1001-TECHNICAL_CONSULTATION": "PRESALES_ENGINEERING",
        "AWS-O1001-TOTAL_COST_OF_OWNERSHIP_EVALUATION": "PRESALES_ENGINEERING",
        "AWS-O1001-DEAL_SUPPORT": "EXECUTIVE_SPONSORSHIP",
        "AWS-O1001-SUPPORT_FOR_PUBLIC_TENDER_RFX": "PRODUCT_SPECIALIST",
    }
    status = {r["source_record_id"]: (r["status"], r["confirmed_at"], r["completed_at"]) for r in requests}
    assert status["O1001"] == ("ACCEPTED", "2026-03-09T17:45:12Z", "")
    assert status["O1003"] == ("REQUESTED", "", "")
    assert status["O1006"] == ("COMPLETED", "2026-03-09T17:45:12Z", "2026-03-09T17:45:12Z")
    assert {r["deal_id"] for r in requests if r["source_record_id"] == "O1002"} == {"CRM-42"}

    summary_ = land(inbox, settings)
    con = connect(settings, read_only=True)
    try:
        rejects = con.execute("select feed, reason from raw.rejects order by feed, row_number").fetchall()
        files = con.execute("select file_name, status from raw.load_audit order by file_name, feed").fetchall()
        landed = con.execute("select count(*) from raw.deals where marketplace = 'AWS'").fetchone()[0]
    finally:
        con.close()
    reasons = {feed: [r for f, r in rejects if f == feed] for feed in ("deals", "engagements")}
    assert len(reasons["deals"]) == 2 and len(reasons["engagements"]) == 1
    assert any("amount" in r for r in reasons["deals"]) and any("stage" in r for r in reasons["deals"])
    assert "resource_type" in reasons["engagements"][0] and "stage_at_request" in reasons["engagements"][0]
    assert landed == 7 and summary_.rows_rejected == 3
    assert {name for name, _ in files} == {"aws-partner-central-aws-001.csv"}


def test_same_answers_write_the_same_bytes_once_and_a_change_writes_the_next_file(client, tmp_path):
    inbox = tmp_path / "inbox"
    answers = [opportunity("O2", "Committed", NEEDS[:1]), opportunity("O1", "Qualified")]
    with Stubber(client) as stubber:
        for _ in range(2):
            stub_pull(stubber, answers, [["O2", "O1"]])
        first = aws.pull_aws(inbox, DAY, client=client)
        again = aws.pull_aws(inbox, DAY, client=client)
        answers[1]["LifeCycle"]["Stage"] = "Committed"
        stub_pull(stubber, answers, [["O1", "O2"]])
        changed = aws.pull_aws(inbox, DAY, client=client)
    path, _, written = first.files["deals"]
    assert written and again.files["deals"] == (path, 2, False)
    assert "unchanged" in again.describe()
    assert changed.files["deals"][0].name == "aws-partner-central-aws-002.csv"
    assert sorted(p.name for p in path.parent.iterdir()) == ["aws-partner-central-aws-001.csv", "aws-partner-central-aws-002.csv"]
    # Sorted by deal_id whatever order AWS listed them in.
    assert [r["deal_id"] for r in rows(path)] == ["AWS-O1", "AWS-O2"]
    assert SECRET not in "".join(p.read_text() for p in inbox.rglob("*.csv"))


def test_since_filters_on_last_modified_and_an_empty_catalog_writes_headers(client, tmp_path):
    since = dt.datetime(2026, 3, 8, tzinfo=dt.timezone.utc)
    with Stubber(client) as stubber:
        stub_pull(stubber, [], [[]], since=since)
        result = aws.pull_aws(tmp_path / "inbox", DAY, since=since, client=client)
        stubber.assert_no_pending_responses()
    assert result.records_read == 0 and result.files["deals"][1] == 0
    assert result.files["deals"][0].read_text().startswith("deal_id,partner_id,customer_id,")


def test_throttling_is_retried_with_backoff_then_succeeds(client, tmp_path):
    waits = []
    with Stubber(client) as stubber:
        stubber.add_client_error("list_opportunities", "ThrottlingException", "Rate exceeded", 429)
        stubber.add_client_error("list_opportunities", "ThrottlingException", "Rate exceeded", 429)
        stubber.add_response("list_opportunities", {"OpportunitySummaries": [summary("O7")]})
        stubber.add_client_error("get_opportunity", "ThrottlingException", "Rate exceeded", 429)
        stubber.add_response("get_opportunity", opportunity("O7", "Prospect"))
        result = aws.pull_aws(tmp_path / "inbox", DAY, client=client, sleep=waits.append)
        stubber.assert_no_pending_responses()
    assert waits == [0.5, 1.0, 0.5]
    assert result.files["deals"][1] == 1


def test_throttling_that_never_ends_is_a_bounded_one_line_error(client, tmp_path):
    waits = []
    with Stubber(client) as stubber:
        for _ in range(aws.MAX_ATTEMPTS):
            stubber.add_client_error("list_opportunities", "ThrottlingException", "Rate exceeded", 429)
        with pytest.raises(CosellError) as caught:
            aws.pull_aws(tmp_path / "inbox", DAY, client=client, sleep=waits.append)
    assert len(waits) == aws.MAX_ATTEMPTS - 1
    assert "ThrottlingException" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "inbox").exists()


def test_expired_credentials_are_one_line_and_write_nothing(client, tmp_path):
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "list_opportunities", "ExpiredTokenException", "The security token included in the request is expired", 403
        )
        with pytest.raises(CosellError) as caught:
            aws.pull_aws(tmp_path / "inbox", DAY, client=client)
    message = str(caught.value)
    assert message.startswith("AWS credentials expired or not valid (ExpiredTokenException) calling ListOpportunities")
    assert "\n" not in message and SECRET not in message and "AKIDEXAMPLE16" not in message
    assert not (tmp_path / "inbox").exists()


def test_cli_pull_aws_prints_the_files(client, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(aws, "make_client", lambda: client)
    with Stubber(client) as stubber:
        stubber.add_response("list_opportunities", {"OpportunitySummaries": [summary("O5")]}, {"Catalog": "Sandbox", "MaxResults": 100})
        stubber.add_response("get_opportunity", {**opportunity("O5", "Qualified"), "Catalog": "Sandbox"})
        code = cli.main(["pull", "aws", "--out", str(tmp_path / "inbox"), "--catalog", "Sandbox", "--business-date", "2026-03-10"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("pulled 1 record from AWS Partner Central for 2026-03-10: deals 1 rows in ")
    assert (tmp_path / "inbox" / "partners" / "2026-03-10" / "aws-partner-central-sandbox-001.csv").exists()


def spend(*entries):
    return [{"Amount": a, "CurrencyCode": c, "Frequency": f, "TargetCompany": "AWS"} for a, c, f in entries]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (spend(("1000", "EUR", "Monthly"), ("250.25", "EUR", "Monthly")), ("15003.00", "EUR")),
        (spend(("0", "USD", "Monthly")), ("0.00", "USD")),
        (spend(("100", "USD", "Monthly"), ("100", "EUR", "Monthly")), ("1200.00+1200.00", "EUR|USD")),
        (spend(("100", "USD", "Yearly")), ("100 Yearly", "USD")),
        (spend(("1e3", "USD", "Monthly")), ("1e3", "USD")),
        ([], ("", "")),
    ],
    ids=["summed", "zero", "two-currencies", "unknown-frequency", "exponent", "no-spend"],
)
def test_expected_customer_spend_is_annualised_or_written_through(entries, expected):
    deal, _ = aws.opportunity_rows(opportunity("O1", "Prospect", Project={"ExpectedCustomerSpend": entries}))
    assert (deal["amount"], deal["currency"]) == expected


def test_other_industry_public_sector_and_missing_fields():
    deal, requests = aws.opportunity_rows(
        {
            "Id": "O9",
            "Customer": {"Account": {"CompanyName": "Town", "Industry": "Other", "OtherIndustry": "Water Works"}},
            "LifeCycle": {"Stage": "Prospect"},
            "PrimaryNeedsFromAws": ["Co-Sell - Deal Support"],
        }
    )
    assert (deal["industry"], deal["customer_segment"], deal["customer_id"]) == ("WATER_WORKS", "ENTERPRISE", "AWS-O9")
    assert (deal["competitive_situation"], deal["is_new_logo"]) == ("GREENFIELD", "false")
    assert requests[0]["status"] == "REQUESTED"  # never submitted: Pending Submission
    gov, _ = aws.opportunity_rows({"Id": "O8", "Customer": {"Account": {"Industry": "Government"}}})
    assert gov["customer_segment"] == "PUBLIC_SECTOR"


def test_no_credentials_anywhere_is_one_line(tmp_path, monkeypatch, capsys):
    # The real client on the real credential chain, with every source of credentials emptied.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = cli.main(["pull", "aws", "--out", str(tmp_path / "inbox")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("cosell: error: no usable AWS credentials for ListOpportunities (NoCredentialsError)")
    assert err.count("\n") == 1 and not (tmp_path / "inbox").exists()


def test_a_pull_that_cannot_write_every_file_writes_none(client, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "engagements").write_text("a file where the engagements folder should be")
    with Stubber(client) as stubber:
        stub_pull(stubber, [opportunity("O1", "Qualified", NEEDS[:1])], [["O1"]])
        with pytest.raises(CosellError) as caught:
            aws.pull_aws(inbox, DAY, client=client)
    assert str(caught.value).startswith(f"cannot write the AWS Partner Central extracts under {inbox}: ")
    assert [p for p in inbox.rglob("*") if p.is_file()] == [inbox / "engagements"]
