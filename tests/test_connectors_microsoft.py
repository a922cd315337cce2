"""`cosell pull microsoft` against a local Partner Center stand-in on 127.0.0.1, and from an exported file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cosell import cli
from cosell.connectors import microsoft
from cosell.db import connect
from cosell.errors import CosellError
from cosell.landing.load import land

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.secret-token-16"
DAY = dt.date(2026, 3, 10)
STATES = [
    ("New", "Pending", "PROSPECT"),
    ("New", "Received", "PROSPECT"),
    ("Active", "Accepted", "QUALIFIED"),
    ("Closed", "Won", "CLOSED_WON"),
    ("Closed", "Lost", "CLOSED_LOST"),
    ("Closed", "Declined", "CLOSED_LOST"),
    ("Closed", "Expired", "CLOSED_LOST"),
]


def referral(rid, status, substatus, value=50000, **extra):
    """A referral shaped as Partner Center's Referral resource documentation shows it."""
    body = {
        "id": rid,
        "engagementId": f"eng-{rid}",
        "organizationId": "7d23e5ca-19dc-4eaa-aac8-5e6b559f0d1d",
        "organizationName": "Our Company",
        "externalReferenceId": "",
        "createdDateTime": "2026-03-02T08:00:00.4579542Z",
        "updatedDateTime": "2026-03-09T21:03:42.1234567Z",
        "acceptedDateTime": "2026-03-03T10:00:00Z",
        "status": status,
        "substatus": substatus,
        "qualification": "SalesQualified",
        "type": "Shared",
        "direction": "Incoming",
        "customerProfile": {
            "name": f"Customer {rid}",
            "address": {"city": "Redmond", "state": "WA", "country": "US"},
            "size": "1001to5000employees",
            "team": [{"firstName": "Sue", "lastName": "Smith", "email": "sue.smith@example.com"}],
            "ids": [{"profileType": "Duns", "id": "970002754"}],
        },
        "consent": {"consentToContact": True},
        "details": {
            "dealValue": value,
            "currency": "USD",
            "closingDateTime": "2026-05-31T00:00:00Z",
            "requirements": {"industries": [{"id": "Manufacturing"}], "products": [{"id": "Azure"}]},
        },
        "inviteContext": {"notes": "please help", "invitedBy": {"organizationId": "msft"}},
    }
    body.update(extra)
    return body


def every_case():
    found = [referral(f"r{i}", status, sub) for i, (status, sub, _) in enumerate(STATES, start=1)]
    found[0]["externalReferenceId"] = "CRM-7"
    found[1].update(type="Independent", direction="Outgoing", inviteContext={})
    found[2]["customerProfile"]["size"] = "10to50employees"
    found[2]["details"]["dealValue"] = 120000.75
    found[3]["closedDateTime"] = "2026-03-08T12:00:00Z"
    found[4]["acceptedDateTime"] = None
    found.append(referral("r8", "Active", "Accepted", value="fifty thousand"))  # malformed deal value
    found.append(referral("r9", "Closed", "Disputed"))  # a substatus the documentation does not list
    return found


class PartnerCenter:
    """Serves pages of referrals linked by continuation tokens; can answer an error or throttle once."""

    def __init__(self, pages, error_on_page=None, throttle_once=False):
        self.pages, self.error_on_page, self.throttle_once = pages, error_on_page, throttle_once
        self.requests: list[tuple[str, str | None]] = []
        center = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                center.requests.append((self.path, self.headers.get("MS-ContinuationToken")))
                center.answer(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1.0/engagements/referrals"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, handler):
        if handler.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.send(handler, 401, {"code": "Unauthorized", "message": "token expired"})
        if self.throttle_once:
            self.throttle_once = False
            return self.send(handler, 429, {"message": "slow down"}, {"Retry-After": "2"})
        token = handler.headers.get("MS-ContinuationToken")
        number = 0 if token is None else int(token.removeprefix("tok-"))
        if number == self.error_on_page:
            return self.send(handler, 400, {"code": "InvalidContinuationToken", "message": "The continuation token is not valid."})
        page = {"totalCount": sum(map(len, self.pages)), "items": self.pages[number], "attributes": {"objectType": "Collection"}}
        if number + 1 < len(self.pages):
            page["links"] = {
                "next": {
                    "uri": "/referrals?api-version=v1.0",
                    "method": "GET",
                    "headers": [{"key": "MS-ContinuationToken", "value": f"tok-{number + 1}"}],
                }
            }
        self.send(handler, 200, page)

    @staticmethod
    def send(handler, status, body, headers=None):
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def center_factory(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the stand-in is local whatever proxy the machine has
    started = []

    def start(*args, **kwargs):
        started.append(PartnerCenter(*args, **kwargs))
        return started[-1]

    yield start
    for center in started:
        center.close()


def rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def pull(center, inbox, sleep=None, **env):
    return microsoft.pull_microsoft(
        inbox, DAY, token_env="PC_TOKEN", url=center.url, environ={"PC_TOKEN": TOKEN, **env}, sleep=sleep or (lambda s: None)
    )


def test_pages_along_continuation_tokens_map_every_state_and_land_or_reject(center_factory, settings, tmp_path):
    found = every_case()
    center = center_factory([found[:3], found[3:6], found[6:]])
    inbox = tmp_path / "inbox"
    result = pull(center, inbox)
    assert result.records_read == 9
    # The first page asks for the organisation's referrals; the others follow the continuation token.
    paths = [p for p, _ in center.requests]
    assert paths == ["/v1.0/engagements/referrals?pageSize=100&self=true"] + ["/v1.0/engagements/referrals?api-version=v1.0"] * 2
    assert [token for _, token in center.requests] == [None, "tok-1", "tok-2"]

    deals = {r["source_record_id"]: r for r in rows(result.files["deals"][0])}
    assert result.files["deals"][0].name == "microsoft-partner-center-001.csv"
    assert {f"r{i}": deals[f"r{i}"]["stage"] for i in range(1, 8)} == {f"r{i}": s[2] for i, s in enumerate(STATES, 1)}
    first = deals["r1"]
    assert (first["deal_id"], first["partner_id"], first["motion"], first["marketplace"]) == ("CRM-7", "MICROSOFT", "MARKETPLACE", "AZURE")
    assert (first["amount"], first["currency"], first["customer_id"]) == ("50000.00", "USD", "970002754")
    assert (first["registered_at"], first["updated_at"]) == ("2026-03-02T08:00:00.457954Z", "2026-03-09T21:03:42.123456Z")
    assert (first["customer_segment"], first["industry"], first["expected_close_on"]) == ("ENTERPRISE", "MANUFACTURING", "2026-05-31")
    assert (first["sourced_by"], deals["r2"]["sourced_by"]) == ("PARTNER", "VENDOR")
    assert deals["r2"]["deal_id"] == "MSFT-r2"
    assert (deals["r3"]["customer_segment"], deals["r3"]["amount"]) == ("SMB", "120000.75")
    assert deals["r4"]["closed_at"] == "2026-03-08T12:00:00Z"
    assert deals["r5"]["closed_at"] == "2026-03-09T21:03:42.123456Z"
    assert deals["r8"]["amount"] == "fifty thousand" and deals["r9"]["stage"] == "Closed/Disputed"

    requests = {r["source_record_id"]: r for r in rows(result.files["engagements"][0])}
    assert "r2" not in requests  # an independent referral of our own: Microsoft takes no part
    status = {rid: (r["status"], r["confirmed_at"]) for rid, r in requests.items()}
    assert status["r1"] == ("REQUESTED", "")
    assert status["r3"] == ("ACCEPTED", "2026-03-03T10:00:00Z")
    assert status["r4"][0] == "COMPLETED" and requests["r4"]["completed_at"] == "2026-03-08T12:00:00Z"
    assert status["r5"] == ("CANCELLED", "")  # lost before anyone accepted
    assert (status["r6"][0], status["r7"][0], status["r9"][0]) == ("DECLINED", "CANCELLED", "Disputed")
    assert requests["r1"]["resource_type"] == "PRESALES_ENGINEERING" and requests["r1"]["request_id"] == "MSFT-r1"

    land(inbox, settings)
    con = connect(settings, read_only=True)
    try:
        rejects = con.execute("select feed, reason from raw.rejects order by feed, row_number").fetchall()
        landed = con.execute("select count(*) from raw.deals where marketplace = 'AZURE'").fetchone()[0]
    finally:
        con.close()
    assert landed == 7
    assert [f for f, _ in rejects] == ["deals", "deals", "engagements"]
    assert "amount" in rejects[0][1] and "stage" in rejects[1][1] and "status" in rejects[2][1]
    assert TOKEN not in "".join(p.read_text() for p in inbox.rglob("*.csv"))


def test_same_answers_write_nothing_new(center_factory, tmp_path):
    center = center_factory([every_case()[:2]])
    first = pull(center, tmp_path / "inbox")
    again = pull(center, tmp_path / "inbox")
    assert first.files["deals"][2] and again.files["deals"] == (first.files["deals"][0], 2, False)


def test_an_error_page_is_one_line_and_writes_nothing(center_factory, tmp_path):
    center = center_factory([every_case()[:2], every_case()[2:4]], error_on_page=1)
    with pytest.raises(CosellError) as caught:
        pull(center, tmp_path / "inbox")
    message = str(caught.value)
    assert message == "Partner Center at " + center.url.split("/")[2] + " answered HTTP 400 on page 2: The continuation token is not valid."
    assert not (tmp_path / "inbox").exists()


def test_a_rejected_token_names_the_variable_never_the_token(center_factory, tmp_path):
    center = center_factory([[]])
    with pytest.raises(CosellError) as caught:
        microsoft.pull_microsoft(tmp_path / "inbox", DAY, token_env="PC_TOKEN", url=center.url, environ={"PC_TOKEN": "stale"})
    message = str(caught.value)
    assert "rejected the token (HTTP 401) on page 1" in message and "$PC_TOKEN" in message
    assert "stale" not in message and "\n" not in message
    with pytest.raises(CosellError, match="environment variable PC_TOKEN holds no Partner Center token"):
        microsoft.pull_microsoft(tmp_path / "inbox", DAY, token_env="PC_TOKEN", url=center.url, environ={})


def test_throttling_waits_as_told_then_goes_on(center_factory, tmp_path):
    center = center_factory([every_case()[:1]], throttle_once=True)
    waits = []
    result = pull(center, tmp_path / "inbox", sleep=waits.append)
    assert waits == [2.0] and result.records_read == 1


def test_an_exported_file_gives_the_same_files_as_the_api(center_factory, tmp_path):
    found = every_case()
    center = center_factory([found[:5], found[5:]])
    from_api = pull(center, tmp_path / "api")
    export = tmp_path / "referrals.json"
    export.write_text(json.dumps({"items": found}))
    code = cli.main(["pull", "microsoft", "--out", str(tmp_path / "file"), "--file", str(export), "--business-date", "2026-03-10"])
    assert code == 0
    for feed in ("partners", "deals", "engagements"):
        api_bytes = from_api.files[feed][0].read_bytes()
        assert (tmp_path / "file" / feed / "2026-03-10" / "microsoft-partner-center-001.csv").read_bytes() == api_bytes
    # A list of saved pages reads the same; a file that is not JSON is one line.
    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps([{"items": found[:4]}, {"items": found[4:]}]))
    assert len(microsoft.read_referral_file(pages)) == 9
    with pytest.raises(CosellError, match=r"^cannot read referral file .*missing.json: No such file"):
        microsoft.read_referral_file(tmp_path / "missing.json")
    export.write_text("{not json")
    with pytest.raises(CosellError, match=r"^referral file .*referrals.json is not JSON"):
        microsoft.read_referral_file(export)


def test_deal_values_are_never_rounded_and_ids_prefer_the_partners_own():
    deal, _ = microsoft.referral_rows(referral("r1", "New", "Pending", value=Decimal("100.555")))
    assert deal["amount"] == "100.555"  # landing rejects more than two decimals; the connector does not round
    profile = {"id": "cp1", "ids": {"Duns": "111", "External": "CUST-9"}, "size": "251to1000employees"}
    deal, _ = microsoft.referral_rows(referral("r2", "New", "Pending", customerProfile=profile, direction=None))
    assert (deal["customer_id"], deal["customer_segment"], deal["sourced_by"]) == ("CUST-9", "MID_MARKET", "PARTNER")
    own = dict(direction=None, inviteContext={}, qualification="SalesQualified")
    assert microsoft.referral_rows(referral("r4", "New", "Pending", **own))[0]["sourced_by"] == "VENDOR"
    lead = dict(own, qualification="Direct")
    assert microsoft.referral_rows(referral("r5", "New", "Pending", **lead))[0]["sourced_by"] == "PARTNER"
    deal, _ = microsoft.referral_rows(referral("r3", "New", "Pending", customerProfile={"id": "cp3"}, value=None))
    assert (deal["customer_id"], deal["amount"], deal["customer_segment"]) == ("MSFT-cp3", "", "ENTERPRISE")
