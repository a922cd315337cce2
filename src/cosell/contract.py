"""The extract contract of SPEC section 1: feeds, their columns, types, enumerations and row rules."""

from __future__ import annotations

from dataclasses import dataclass

PARTNER_TYPES = ("SI", "ISV", "VAR", "MSP", "DISTRIBUTOR", "REFERRAL")
TIERS = ("PLATINUM", "GOLD", "SILVER", "REGISTERED")
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
SEGMENTS = ("ENTERPRISE", "MID_MARKET", "SMB", "PUBLIC_SECTOR")
MOTIONS = ("PARTNER_LED", "VENDOR_LED", "MARKETPLACE", "ECOSYSTEM", "DIRECT")
MARKETPLACES = ("AWS", "AZURE", "GCP")
SOURCED_BY = ("PARTNER", "VENDOR")
COMPETITIVE_SITUATIONS = ("GREENFIELD", "COMPETITIVE_EVAL", "INCUMBENT_DISPLACEMENT")
STAKEHOLDER_LEVELS = ("MANAGER", "DIRECTOR", "VP", "C_LEVEL")
STAGES = (
    "PROSPECT",
    "QUALIFIED",
    "TECHNICAL_VALIDATION",
    "BUSINESS_VALIDATION",
    "COMMITTED",
    "CLOSED_WON",
    "CLOSED_LOST",
)
CLOSED_STAGES = ("CLOSED_WON", "CLOSED_LOST")
RESOURCE_TYPES = (
    "PRESALES_ENGINEERING",
    "EXECUTIVE_SPONSORSHIP",
    "PRODUCT_SPECIALIST",
    "COMPETITIVE_INTELLIGENCE",
    "REFERENCE_CUSTOMER",
)
ENGAGEMENT_STATUSES = ("REQUESTED", "ACCEPTED", "DECLINED", "COMPLETED", "CANCELLED")
ACTIVITY_TYPES = ("CUSTOMER_MEETING", "CALL", "EMAIL", "DEMO", "POC", "EXEC_BRIEFING")
VENDOR_ROLES = ("TECHNICAL", "COMMERCIAL", "EXECUTIVE")
SURVEY_TYPES = ("COSELL_ENGAGEMENT", "PROGRAM_NPS")
SURVEY_SCORE_RANGE = {"COSELL_ENGAGEMENT": (1, 5), "PROGRAM_NPS": (0, 10)}

# Bounds the warehouse can carry through its own types, enforced at landing (docs/decisions.md):
# amount x usd_per_unit must fit amount_usd DECIMAL(18,2), and BI clients read dates as pandas
# nanosecond timestamps (which end in 2262); windows add up to a year to a date.
MAX_AMOUNT = "999999999999.99"
MAX_USD_PER_UNIT = "10000"
DATE_RANGE = ("1900-01-01", "2199-12-31")

# Logical column types and the DuckDB type each lands as in the raw layer.
# Timestamps land as TIMESTAMP holding UTC; rates keep 12 decimals so JPY-like rates lose nothing.
DUCKDB_TYPES = {
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "currency": "VARCHAR",
    "int": "INTEGER",
    "money": "DECIMAL(18,2)",
    "rate": "DECIMAL(24,12)",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False
    values: tuple[str, ...] = ()
    low: int | None = None
    high: int | str | None = None  # str: a decimal bound of a money or rate column

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]


@dataclass(frozen=True)
class Feed:
    name: str
    key: tuple[str, ...]
    kind: str  # "upsert" or "event"
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name, type_="text", nullable=False, values=(), low=None, high=None) -> Column:
    return Column(name, "enum" if values else type_, nullable, tuple(values), low, high)


FEEDS: dict[str, Feed] = {
    f.name: f
    for f in (
        Feed(
            "partners",
            ("partner_id",),
            "upsert",
            (
                _c("partner_id"),
                _c("partner_name"),
                _c("partner_type", values=PARTNER_TYPES),
                _c("tier", values=TIERS),
                _c("region", values=REGIONS),
                _c("country"),
                _c("certified_specialists", "int", low=0),
                _c("parent_partner_id", nullable=True),
                _c("onboarded_on", "date"),
                _c("is_active", "bool"),
                _c("updated_at", "timestamp"),
            ),
        ),
        Feed(
            "deals",
            ("deal_id",),
            "upsert",
            (
                _c("deal_id"),
                _c("partner_id", nullable=True),
                _c("customer_id"),
                _c("customer_name"),
                _c("customer_segment", values=SEGMENTS),
                _c("industry"),
                _c("country"),
                _c("product_category"),
                _c("motion", values=MOTIONS),
                _c("marketplace", nullable=True, values=MARKETPLACES),
                _c("sourced_by", values=SOURCED_BY),
                _c("is_new_logo", "bool"),
                _c("competitive_situation", values=COMPETITIVE_SITUATIONS),
                _c("complexity", "int", low=1, high=5),
                _c("stakeholder_level", values=STAKEHOLDER_LEVELS),
                _c("stage", values=STAGES),
                _c("amount", "money", low=0, high=MAX_AMOUNT),
                _c("currency", "currency"),
                _c("registered_at", "timestamp"),
                _c("expected_close_on", "date", nullable=True),
                _c("closed_at", "timestamp", nullable=True),
                _c("updated_at", "timestamp"),
                _c("is_deleted", "bool"),
            ),
        ),
        Feed(
            "engagements",
            ("request_id",),
            "upsert",
            (
                _c("request_id"),
                _c("deal_id"),
                _c("partner_id"),
                _c("resource_type", values=RESOURCE_TYPES),
                _c("status", values=ENGAGEMENT_STATUSES),
                _c("requested_at", "timestamp"),
                _c("stage_at_request", values=STAGES),
                _c("confirmed_at", "timestamp", nullable=True),
                _c("completed_at", "timestamp", nullable=True),
                _c("vendor_resource_id", nullable=True),
                _c("updated_at", "timestamp"),
            ),
        ),
        Feed(
            "activities",
            ("activity_id",),
            "event",
            (
                _c("activity_id"),
                _c("request_id"),
                _c("deal_id"),
                _c("occurred_at", "timestamp"),
                _c("activity_type", values=ACTIVITY_TYPES),
                _c("vendor_role", values=VENDOR_ROLES),
                _c("partner_briefed", "bool"),
                _c("partner_present", "bool"),
                _c("in_engagement_plan", "bool"),
                _c("commercial_discussion", "bool"),
            ),
        ),
        Feed(
            "satisfaction",
            ("response_id",),
            "event",
            (
                _c("response_id"),
                _c("partner_id"),
                _c("request_id", nullable=True),
                _c("survey_type", values=SURVEY_TYPES),
                _c("score", "int", low=0, high=10),
                _c("submitted_at", "timestamp"),
                _c("comment", nullable=True),
            ),
        ),
        Feed(
            "fx_rates",
            ("rate_date", "currency"),
            "upsert",
            (
                _c("rate_date", "date"),
                _c("currency", "currency"),
                _c("usd_per_unit", "rate", low=0, high=MAX_USD_PER_UNIT),
            ),
        ),
    )
}

LINEAGE_COLUMNS = (
    ("_business_date", "DATE"),
    ("_file_name", "VARCHAR"),
    ("_file_sha256", "VARCHAR"),
    ("_row_number", "BIGINT"),
    ("_load_id", "BIGINT"),
)
