"""Value-by-value mapping of AWS Partner Central and Microsoft Partner Center records to SPEC section 1.

Every table here is documented in docs/connectors.md. A value missing from a table is
written through as read, so landing rejects the row into raw.rejects with its reason.
"""

from __future__ import annotations

# The hyperscaler as the program's partner for the deals it co-sells (one partner row each).
HYPERSCALER_PARTNERS = {
    "AWS": {"partner_id": "AWS", "partner_name": "Amazon Web Services"},
    "AZURE": {"partner_id": "MICROSOFT", "partner_name": "Microsoft"},
}
PARTNER_DEFAULTS = {
    "partner_type": "REFERRAL",
    "tier": "REGISTERED",
    "region": "NA",
    "country": "US",
    "certified_specialists": "0",
    "parent_partner_id": "",
    "onboarded_on": "2000-01-01",
    "is_active": "true",
    # Older than any real delivery: a partners row the user delivers for the same id wins.
    "updated_at": "2000-01-01T00:00:00Z",
}

# Deal fields neither provider records.
DEAL_DEFAULTS = {
    "product_category": "UNSPECIFIED",
    "complexity": "3",
    "stakeholder_level": "MANAGER",
    "is_deleted": "false",
    "motion": "MARKETPLACE",
}

# AWS LifeCycle.Stage -> stage.
AWS_STAGES = {
    "Prospect": "PROSPECT",
    "Qualified": "QUALIFIED",
    "Technical Validation": "TECHNICAL_VALIDATION",
    "Business Validation": "BUSINESS_VALIDATION",
    "Committed": "COMMITTED",
    "Launched": "CLOSED_WON",
    "Closed Lost": "CLOSED_LOST",
}

# AWS PrimaryNeedsFromAws -> resource_type (one request per need).
AWS_NEEDS = {
    "Co-Sell - Architectural Validation": "PRESALES_ENGINEERING",
    "Co-Sell - Technical Consultation": "PRESALES_ENGINEERING",
    "Co-Sell - Total Cost of Ownership Evaluation": "PRESALES_ENGINEERING",
    "Co-Sell - Business Presentation": "EXECUTIVE_SPONSORSHIP",
    "Co-Sell - Deal Support": "EXECUTIVE_SPONSORSHIP",
    "Co-Sell - Competitive Information": "COMPETITIVE_INTELLIGENCE",
    "Co-Sell - Pricing Assistance": "PRODUCT_SPECIALIST",
    "Co-Sell - Support for Public Tender / RFx": "PRODUCT_SPECIALIST",
}

# AWS LifeCycle.ReviewStatus (AWS's involvement) -> engagement status while the deal is open.
AWS_REVIEW_STATUSES = {
    "Pending Submission": "REQUESTED",
    "Submitted": "REQUESTED",
    "In review": "REQUESTED",
    "Action Required": "REQUESTED",
    "Approved": "ACCEPTED",
    "Rejected": "DECLINED",
}

# AWS Project.CompetitorName -> competitive_situation (no competitor named: GREENFIELD).
AWS_COMPETITORS = {
    "No Competition": "GREENFIELD",
    "On-Prem": "INCUMBENT_DISPLACEMENT",
    "Co-location": "INCUMBENT_DISPLACEMENT",
    "Oracle Cloud": "COMPETITIVE_EVAL",
    "Akamai": "COMPETITIVE_EVAL",
    "AliCloud": "COMPETITIVE_EVAL",
    "Google Cloud Platform": "COMPETITIVE_EVAL",
    "IBM Softlayer": "COMPETITIVE_EVAL",
    "Microsoft Azure": "COMPETITIVE_EVAL",
    "Other- Cost Optimization": "COMPETITIVE_EVAL",
    "*Other": "COMPETITIVE_EVAL",
}

# AWS OpportunityType -> is_new_logo.
AWS_OPPORTUNITY_TYPES = {"Net New Business": "true", "Expansion": "false", "Flat Renewal": "false"}

# ExpectedCustomerSpend.Frequency -> factor to a year.
AWS_FREQUENCY_PER_YEAR = {"Monthly": 12}

# Industries (either provider, after upper-casing) that make the customer PUBLIC_SECTOR.
PUBLIC_SECTOR_INDUSTRIES = {"GOVERNMENT", "EDUCATION", "NON_PROFIT_ORGANIZATION", "PUBLIC_SAFETY_AND_NATIONAL_SECURITY"}

# Microsoft (status, substatus) -> stage.
MS_STAGES = {
    ("New", "Pending"): "PROSPECT",
    ("New", "Received"): "PROSPECT",
    ("Active", "Accepted"): "QUALIFIED",
    ("Closed", "Won"): "CLOSED_WON",
    ("Closed", "Lost"): "CLOSED_LOST",
    ("Closed", "Declined"): "CLOSED_LOST",
    ("Closed", "Expired"): "CLOSED_LOST",
}

# Microsoft substatus -> engagement status of Microsoft's part in a shared referral.
MS_ENGAGEMENT_STATUSES = {
    "Pending": "REQUESTED",
    "Received": "REQUESTED",
    "Accepted": "ACCEPTED",
    "Won": "COMPLETED",
    "Lost": "COMPLETED",  # CANCELLED instead when the referral was never accepted
    "Declined": "DECLINED",
    "Expired": "CANCELLED",
}

# Microsoft inviteContext.assistanceRequestCode -> resource_type (absent or Unknown: technical help).
MS_ASSISTANCE = {"": "PRESALES_ENGINEERING", "Unknown": "PRESALES_ENGINEERING", "None": "PRESALES_ENGINEERING"}

# Microsoft customerProfile.size -> customer_segment (empty: ENTERPRISE).
MS_SIZES = {
    "": "ENTERPRISE",
    "1to9employees": "SMB",
    "10to50employees": "SMB",
    "1to50employees": "SMB",
    "51to250employees": "MID_MARKET",
    "51to500employees": "MID_MARKET",
    "251to1000employees": "MID_MARKET",
    "Morethan500employees": "ENTERPRISE",
    "1001to5000employees": "ENTERPRISE",
    "5001to10000employees": "ENTERPRISE",
    "10001to20000employees": "ENTERPRISE",
    "Morethan20000employees": "ENTERPRISE",
}

# Microsoft direction -> sourced_by (who brought the deal).
MS_DIRECTIONS = {"Incoming": "PARTNER", "Outgoing": "VENDOR"}
# Qualifications of leads Microsoft brings (a customer's marketplace request, a marketing lead).
MS_LEAD_QUALIFICATIONS = {"Direct", "MarketingQualified"}


def partner_row(marketplace: str, source_system: str) -> dict[str, str]:
    return {**PARTNER_DEFAULTS, **HYPERSCALER_PARTNERS[marketplace], "source_system": source_system}


def segment(industry_code: str, default: str) -> str:
    return "PUBLIC_SECTOR" if industry_code in PUBLIC_SECTOR_INDUSTRIES else default
