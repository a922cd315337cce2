"""`cosell pull microsoft`: Microsoft Partner Center co-sell referrals into deals and engagements extract files."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from cosell.connectors import mapping as m
from cosell.connectors.files import (
    PullSummary,
    code,
    date_part,
    decimal_text,
    timestamp,
    write_pull,
)
from cosell.contract import CLOSED_STAGES
from cosell.errors import CosellError

SOURCE_SYSTEM = "MICROSOFT_PARTNER_CENTER"
REFERRALS_URL = "https://api.partner.microsoft.com/v1.0/engagements/referrals"
PAGE_SIZE = 100  # the API's maximum
MAX_ATTEMPTS = 6
MAX_PAGES = 100_000
_RETRYABLE = {429, 500, 502, 503, 504}


def _get(url: str, headers: dict[str, str], page: int, sleep: Callable[[float], None], token_label: str) -> dict:
    """GET one page as JSON (decimals kept exact); throttling and server errors retried with backoff, bounded."""
    host = urllib.parse.urlsplit(url).netloc
    for attempt in range(1, MAX_ATTEMPTS + 1):
        request = urllib.request.Request(url, headers=headers, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                data = response.read()
            break
        except urllib.error.HTTPError as error:
            body = error.read()
            if error.code in _RETRYABLE and attempt < MAX_ATTEMPTS:
                wait = error.headers.get("Retry-After", "")
                sleep(min(float(wait) if wait.isdigit() else 0.5 * 2 ** (attempt - 1), 30.0))
                continue
            if error.code in (401, 403):
                raise CosellError(
                    f"Partner Center at {host} rejected the token (HTTP {error.code}) on page {page}: "
                    f"put a fresh token into {token_label} and pull again"
                ) from None
            raise CosellError(f"Partner Center at {host} answered HTTP {error.code} on page {page}: {_reason(body)}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CosellError(f"cannot reach Partner Center at {host} on page {page}: {reason}") from None
    try:
        body = json.loads(data, parse_float=Decimal)
    except ValueError:
        raise CosellError(f"Partner Center at {host} sent page {page} that is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise CosellError(f"Partner Center at {host} sent page {page} without an `items` list of referrals")
    return body


def _reason(body: bytes) -> str:
    try:
        parsed = json.loads(body)
        text = parsed.get("message") or parsed.get("error", {}).get("message") or parsed.get("code") or ""
    except (ValueError, AttributeError):
        text = body.decode("utf-8", "replace")
    return " ".join(str(text).split())[:200] or "no reason given"


def _next_url(base: str, uri: str) -> str:
    """A next link: absolute as given; relative to the folder of the referrals collection (`.../engagements`)."""
    if urllib.parse.urlsplit(uri).scheme:
        return uri
    folder = base.split("?", 1)[0].rstrip("/").rsplit("/", 1)[0]
    return folder + "/" + uri.lstrip("/")


def fetch_referrals(token: str, token_label: str, url: str = REFERRALS_URL, sleep=time.sleep) -> list[dict]:
    """Every referral of the organisation, page by page along `links.next` and its continuation token."""
    next_url = f"{url}?{urllib.parse.urlencode({'pageSize': PAGE_SIZE, 'self': 'true'})}"
    extra: dict[str, str] = {}
    referrals: list[dict] = []
    seen_tokens: set[str] = set()
    for page in range(1, MAX_PAGES + 1):
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **extra}
        body = _get(next_url, headers, page, sleep, token_label)
        referrals.extend(body["items"])
        link = (body.get("links") or {}).get("next")
        if not link or not link.get("uri"):
            return referrals
        extra = {str(h["key"]): str(h["value"]) for h in link.get("headers") or [] if "key" in h and "value" in h}
        marker = json.dumps([link["uri"], sorted(extra.items())])
        if marker in seen_tokens:
            raise CosellError(f"Partner Center sent the same next page twice (page {page}): stopped to avoid a loop")
        seen_tokens.add(marker)
        next_url = _next_url(url, str(link["uri"]))
    raise CosellError(f"Partner Center sent more than {MAX_PAGES} pages: stopped")


def read_referral_file(path: Path) -> list[dict]:
    """Referrals a user exported: a JSON list of referrals, one page (`items`), or a list of pages."""
    try:
        body = json.loads(Path(path).read_bytes(), parse_float=Decimal)
    except OSError as error:
        raise CosellError(f"cannot read referral file {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise CosellError(f"referral file {path} is not JSON ({error})") from None
    pages = body if isinstance(body, list) and body and all(isinstance(p, dict) and "items" in p for p in body) else [body]
    referrals: list[dict] = []
    for page in pages:
        items = page.get("items") if isinstance(page, dict) else page
        if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
            raise CosellError(f"referral file {path} holds no list of referral objects")
        referrals.extend(items)
    return referrals


def _customer_id(profile: dict, rid: str) -> str:
    ids = profile.get("ids") or {}
    if isinstance(ids, list):  # [{"profileType": "Duns", "id": "..."}]
        ids = {str(i.get("profileType", "")): i.get("id") for i in ids if isinstance(i, dict)}
    lowered = {str(k).lower(): v for k, v in ids.items()}
    return str(lowered.get("external") or lowered.get("duns") or "") or f"MSFT-{profile.get('id') or rid}"


def referral_rows(referral: dict) -> tuple[dict[str, str], list[dict[str, str]]]:
    """One referral as a deals row and, when Microsoft takes part, one engagements row."""
    rid = str(referral.get("id", ""))
    deal_id = str(referral.get("externalReferenceId") or "").strip() or f"MSFT-{rid}"
    profile = referral.get("customerProfile") or {}
    details = referral.get("details") or {}
    industries = (details.get("requirements") or {}).get("industries") or []
    industry = code(str(industries[0].get("id", ""))) if industries else ""
    industry = industry or "UNSPECIFIED"
    size = str(profile.get("size") or "")
    status, substatus = str(referral.get("status") or ""), str(referral.get("substatus") or "")
    stage = m.MS_STAGES.get((status, substatus), f"{status}/{substatus}")
    invite = referral.get("inviteContext") or {}
    invited_by = str((invite.get("invitedBy") or {}).get("organizationId") or "")
    direction = str(referral.get("direction") or "")
    if direction:
        sourced_by = m.MS_DIRECTIONS.get(direction, direction)
    else:
        brought = referral.get("qualification") in m.MS_LEAD_QUALIFICATIONS
        invited = invited_by and invited_by != referral.get("organizationId")
        sourced_by = "PARTNER" if brought or invited else "VENDOR"
    updated = timestamp(referral.get("updatedDateTime"))
    created = timestamp(referral.get("createdDateTime"))
    closed = timestamp(referral.get("closedDateTime")) or updated
    source = {"source_system": SOURCE_SYSTEM, "source_record_id": rid}
    deal = {
        **m.DEAL_DEFAULTS,
        "deal_id": deal_id,
        "partner_id": m.HYPERSCALER_PARTNERS["AZURE"]["partner_id"],
        "customer_id": _customer_id(profile, rid),
        "customer_name": str(profile.get("name") or ""),
        "customer_segment": m.segment(industry, m.MS_SIZES.get(size, size)),
        "industry": industry,
        "country": str((profile.get("address") or {}).get("country") or ""),
        "marketplace": "AZURE",
        "sourced_by": sourced_by,
        "is_new_logo": "false",
        "competitive_situation": "GREENFIELD",
        "stage": stage,
        "amount": decimal_text(details.get("dealValue")),
        "currency": str(details.get("currency") or ""),
        "registered_at": created,
        "expected_close_on": date_part(details.get("closingDateTime")),
        "closed_at": closed if stage in CLOSED_STAGES else "",
        "updated_at": updated,
        **source,
    }
    requests = []
    if referral.get("type") == "Shared" or invited_by == "msft":
        engagement = m.MS_ENGAGEMENT_STATUSES.get(substatus, substatus)
        accepted = timestamp(referral.get("acceptedDateTime"))
        if substatus == "Lost" and not accepted:
            engagement = "CANCELLED"
        assistance = str(invite.get("assistanceRequestCode") or "")
        requests.append(
            {
                "request_id": f"MSFT-{rid}",
                "deal_id": deal_id,
                "partner_id": deal["partner_id"],
                "resource_type": m.MS_ASSISTANCE.get(assistance, assistance),
                "status": engagement,
                "requested_at": created,
                "stage_at_request": stage,
                "confirmed_at": (accepted or updated) if engagement in ("ACCEPTED", "COMPLETED") else "",
                "completed_at": closed if engagement == "COMPLETED" else "",
                "vendor_resource_id": "",
                "updated_at": updated,
                **source,
            }
        )
    return deal, requests


def pull_microsoft(
    inbox,
    business_date: dt.date,
    token_env: str | None = None,
    file: Path | None = None,
    url: str = REFERRALS_URL,
    environ: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PullSummary:
    """Referrals from the REST API (token read from the environment variable token_env) or an exported file."""
    if (token_env is None) == (file is None):
        raise CosellError("give exactly one of --token-env VAR (the REST API) or --file referrals.json (an export)")
    if file is not None:
        referrals = read_referral_file(file)
    else:
        token = (environ if environ is not None else os.environ).get(token_env, "").strip()
        if not token:
            raise CosellError(f"environment variable {token_env} holds no Partner Center token")
        referrals = fetch_referrals(token, f"${token_env}", url, sleep)
    deals, requests = [], []
    for referral in referrals:
        deal, reqs = referral_rows(referral)
        deals.append(deal)
        requests.extend(reqs)
    feeds = {
        "partners": [m.partner_row("AZURE", SOURCE_SYSTEM)],
        "deals": deals,
        "engagements": requests,
    }
    return write_pull(inbox, "Microsoft Partner Center", "microsoft-partner-center", business_date, len(referrals), feeds)
