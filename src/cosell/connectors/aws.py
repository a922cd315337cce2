"""`cosell pull aws`: AWS Partner Central (ACE) opportunities into deals and engagements extract files."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal

from cosell.connectors import mapping as m
from cosell.connectors.files import (
    PullSummary,
    code,
    date_part,
    decimal_text,
    money,
    timestamp,
    write_pull,
)
from cosell.contract import CLOSED_STAGES
from cosell.errors import CosellError

SOURCE_SYSTEM = "AWS_PARTNER_CENTRAL"
REGION = "us-east-1"  # the Partner Central Selling API's only endpoint
PAGE_SIZE = 100
MAX_ATTEMPTS = 6
_RETRYABLE = {"ThrottlingException", "TooManyRequestsException", "InternalServerException", "ServiceUnavailable"}
_CREDENTIALS = {
    "ExpiredTokenException",
    "ExpiredToken",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}


def make_client():
    """A partnercentral-selling client on the standard AWS credential chain (env, profile, SSO, role).

    botocore's own retries are off: `_call` retries throttling itself, bounded, so the
    attempts are counted in one place.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, user_agent_appid="cosell-warehouse")
    try:
        return boto3.session.Session().client("partnercentral-selling", region_name=REGION, config=config)
    except BotoCoreError as error:
        raise CosellError(f"cannot set up the AWS client ({type(error).__name__}): {_first_line(error)}") from None


def _first_line(error: Exception) -> str:
    return " ".join(str(error).split())[:200]


def _call(client, operation: str, sleep: Callable[[float], None], **params) -> dict:
    """One API call; throttling, server and connection errors are retried with exponential backoff, bounded."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        CredentialRetrievalError,
        NoCredentialsError,
        PartialCredentialsError,
        SSOError,
        TokenRetrievalError,
    )

    method = getattr(client, operation)
    api = "".join(part.title() for part in operation.split("_"))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        last = attempt == MAX_ATTEMPTS
        try:
            return method(**params)
        except ClientError as error:
            err = error.response.get("Error", {})
            error_code = err.get("Code", "")
            if error_code in _RETRYABLE and not last:
                sleep(_backoff(attempt))
                continue
            if error_code in _CREDENTIALS:
                raise CosellError(
                    f"AWS credentials expired or not valid ({error_code}) calling {api}: refresh them "
                    "(`aws sso login`, a new session token or role) and pull again"
                ) from None
            if error_code in _RETRYABLE:
                raise CosellError(
                    f"AWS Partner Central still answered {error_code} to {api} after {attempt} attempts: pull again later"
                ) from None
            raise CosellError(f"AWS Partner Central refused {api} ({error_code}): {_first_line(err.get('Message', ''))}") from None
        except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError, TokenRetrievalError, SSOError) as error:
            raise CosellError(
                f"no usable AWS credentials for {api} ({type(error).__name__}): configure or refresh the standard "
                "AWS credential chain (environment, profile, `aws sso login`, role) and pull again"
            ) from None
        except ConnectionError as error:
            if not last:
                sleep(_backoff(attempt))
                continue
            raise CosellError(f"cannot reach AWS Partner Central for {api} after {attempt} attempts: {_first_line(error)}") from None
        except BotoCoreError as error:
            raise CosellError(f"AWS Partner Central {api} failed ({type(error).__name__}): {_first_line(error)}") from None
    raise AssertionError("unreachable")


def _backoff(attempt: int) -> float:
    return min(0.5 * 2 ** (attempt - 1), 20.0)


def _spend(entries: list[dict]) -> tuple[str, str]:
    """(amount, currency) from Project.ExpectedCustomerSpend: the entries' yearly amounts summed.

    Frequency Monthly counts 12 times. An amount that is not decimal text, a frequency with no
    yearly factor or entries in several currencies are written through so landing rejects the row.
    """
    if not entries:
        return "", ""
    currencies = sorted({str(e.get("CurrencyCode") or "") for e in entries})
    texts, total = [], Decimal(0)
    for entry in entries:
        amount, frequency = entry.get("Amount"), str(entry.get("Frequency") or "")
        factor = m.AWS_FREQUENCY_PER_YEAR.get(frequency)
        yearly = money(amount, factor) if factor is not None else None
        if yearly is None:
            total = None
        elif total is not None:
            total += yearly
        texts.append(decimal_text(amount, factor) if factor is not None else f"{amount} {frequency}".strip())
    if total is not None and len(currencies) == 1:
        return decimal_text(total), currencies[0]
    return "+".join(texts), "|".join(currencies)


def deal_id_of(opportunity: dict) -> str:
    """The partner's own opportunity id keys the deal (one deal with the CRM's); else the ACE id."""
    own = str(opportunity.get("PartnerOpportunityIdentifier") or "").strip()
    return own or f"AWS-{opportunity.get('Id', '')}"


def opportunity_rows(opportunity: dict) -> tuple[dict[str, str], list[dict[str, str]]]:
    """One GetOpportunity answer as a deals row and one engagements row per need from AWS."""
    oid = str(opportunity.get("Id", ""))
    deal_id = deal_id_of(opportunity)
    account = (opportunity.get("Customer") or {}).get("Account") or {}
    project = opportunity.get("Project") or {}
    life = opportunity.get("LifeCycle") or {}
    raw_stage = str(life.get("Stage") or "")
    stage = m.AWS_STAGES.get(raw_stage, raw_stage)
    amount, currency = _spend(project.get("ExpectedCustomerSpend") or [])
    named = account.get("OtherIndustry") if account.get("Industry") == "Other" else None
    industry = code(str(named or account.get("Industry") or "")) or "UNSPECIFIED"
    updated = timestamp(opportunity.get("LastModifiedDate"))
    registered = timestamp(opportunity.get("CreatedDate"))
    raw_type = opportunity.get("OpportunityType")
    competitor = str(project.get("CompetitorName") or "")
    source = {"source_system": SOURCE_SYSTEM, "source_record_id": oid}
    deal = {
        **m.DEAL_DEFAULTS,
        "deal_id": deal_id,
        "partner_id": m.HYPERSCALER_PARTNERS["AWS"]["partner_id"],
        "customer_id": str(account.get("Duns") or "") or f"AWS-{oid}",
        "customer_name": str(account.get("CompanyName") or ""),
        "customer_segment": m.segment(industry, "ENTERPRISE"),
        "industry": industry,
        "country": str((account.get("Address") or {}).get("CountryCode") or ""),
        "marketplace": "AWS",
        "sourced_by": "VENDOR",
        "is_new_logo": m.AWS_OPPORTUNITY_TYPES.get(raw_type, raw_type) if raw_type else "false",
        "competitive_situation": m.AWS_COMPETITORS.get(competitor, competitor) if competitor else "GREENFIELD",
        "stage": stage,
        "amount": amount,
        "currency": currency,
        "registered_at": registered,
        "expected_close_on": date_part(life.get("TargetCloseDate")),
        "closed_at": updated if stage in CLOSED_STAGES else "",
        "updated_at": updated,
        **source,
    }
    review = str(life.get("ReviewStatus") or "Pending Submission")
    status = m.AWS_REVIEW_STATUSES.get(review, review)
    if stage in CLOSED_STAGES:
        status = {"ACCEPTED": "COMPLETED", "REQUESTED": "CANCELLED"}.get(status, status)
    requests = []
    for need in sorted(set(opportunity.get("PrimaryNeedsFromAws") or [])):
        requests.append(
            {
                "request_id": f"AWS-{oid}-{code(need.removeprefix('Co-Sell - '))}",
                "deal_id": deal_id,
                "partner_id": deal["partner_id"],
                "resource_type": m.AWS_NEEDS.get(need, need),
                "status": status,
                "requested_at": registered,
                "stage_at_request": stage,
                "confirmed_at": updated if status in ("ACCEPTED", "COMPLETED") else "",
                "completed_at": updated if status == "COMPLETED" else "",
                "vendor_resource_id": "",
                "updated_at": updated,
                **source,
            }
        )
    return deal, requests


def pull_aws(
    inbox,
    business_date: dt.date,
    catalog: str = "AWS",
    since: dt.datetime | None = None,
    client=None,
    sleep: Callable[[float], None] = time.sleep,
) -> PullSummary:
    """List the catalog's opportunities (changed after `since`, if given), get each, write the extract files."""
    client = client if client is not None else make_client()
    params: dict = {"Catalog": catalog, "MaxResults": PAGE_SIZE}
    if since is not None:
        params["LastModifiedDate"] = {"AfterLastModifiedDate": since}
    ids: set[str] = set()
    while True:
        page = _call(client, "list_opportunities", sleep, **params)
        ids.update(s["Id"] for s in page.get("OpportunitySummaries", []) if s.get("Id"))
        token = page.get("NextToken")
        if not token:
            break
        params["NextToken"] = token
    deals, requests = [], []
    for oid in sorted(ids):
        deal, reqs = opportunity_rows(_call(client, "get_opportunity", sleep, Catalog=catalog, Identifier=oid))
        deals.append(deal)
        requests.extend(reqs)
    feeds = {
        "partners": [m.partner_row("AWS", SOURCE_SYSTEM)],
        "deals": deals,
        "engagements": requests,
    }
    return write_pull(inbox, "AWS Partner Central", f"aws-partner-central-{catalog.lower()}", business_date, len(ids), feeds)
