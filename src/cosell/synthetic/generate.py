"""`cosell generate`: deterministic synthetic extracts for all six feeds (SPEC section 1).

Layout: ``<out>/<feed>/<YYYY-MM-DD>/<name>.csv | .csv.gz | .parquet``; the date folder is the
business date. Deals are generated in chunks of ``CHUNK_DEALS`` with vectorised numpy and
written as one part file per (chunk, feed, business date), so memory stays flat up to 10
million deals. The data carries planted co-sell effects on the win rate (``PLANTED_UPLIFT``) and
on the deal size (``PLANTED_SIZE_UPLIFT``) with confounded assignment; docs/generator.md
documents every planted number and irregularity.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cosell.contract import (
    ACTIVITY_TYPES,
    COMPETITIVE_SITUATIONS,
    ENGAGEMENT_STATUSES,
    FEEDS,
    MARKETPLACES,
    MOTIONS,
    PARTNER_TYPES,
    REGIONS,
    RESOURCE_TYPES,
    SEGMENTS,
    SOURCED_BY,
    STAGES,
    STAKEHOLDER_LEVELS,
    SURVEY_TYPES,
    TIERS,
    VENDOR_ROLES,
)
from cosell.errors import CosellError

# ---------------------------------------------------------------------------------------------
# Planted numbers (documented in docs/generator.md; tests rely on them)
# ---------------------------------------------------------------------------------------------
PLANTED_UPLIFT = 0.12  # absolute win-probability gain of a deal supported before close
PLANTED_SIZE_UPLIFT = 0.8  # relative amount gain of a TREATED deal's versions from its first support on
CHUNK_DEALS = 200_000  # deals generated and written per chunk

PRODUCT_CATEGORIES = ("PLATFORM", "ANALYTICS", "SECURITY", "INTEGRATION")
INDUSTRIES = (
    "FINANCIAL_SERVICES",
    "HEALTHCARE",
    "MANUFACTURING",
    "RETAIL",
    "TECHNOLOGY",
    "TELECOM",
    "ENERGY",
    "GOVERNMENT",
    "EDUCATION",
    "MEDIA",
)
# country, region, currency
COUNTRIES = (
    ("US", "NA", "USD"),
    ("CA", "NA", "CAD"),
    ("MX", "LATAM", "MXN"),
    ("BR", "LATAM", "BRL"),
    ("GB", "EMEA", "GBP"),
    ("DE", "EMEA", "EUR"),
    ("FR", "EMEA", "EUR"),
    ("NL", "EMEA", "EUR"),
    ("CH", "EMEA", "CHF"),
    ("IN", "APAC", "USD"),
    ("JP", "APAC", "JPY"),
    ("AU", "APAC", "AUD"),
    ("SG", "APAC", "SGD"),
)
COUNTRY_WEIGHTS = (0.40, 0.06, 0.03, 0.04, 0.10, 0.08, 0.05, 0.03, 0.02, 0.04, 0.06, 0.05, 0.04)
# USD first; usd_per_unit at the start of the window (then a daily random walk)
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "SGD", "BRL", "MXN")
FX_START = (1.0, 1.08, 1.27, 0.0067, 0.66, 0.74, 1.13, 0.74, 0.20, 0.058)

# Win model: p0 = clip(BASE + SEG + PRODUCT - per-level penalties, P0_MIN, P0_MAX); see docs.
WIN_BASE = 0.62
WIN_SEGMENT = (-0.03, 0.02, 0.04, -0.05)  # ENTERPRISE, MID_MARKET, SMB, PUBLIC_SECTOR
WIN_PRODUCT = (0.00, 0.02, -0.03, 0.01)  # PLATFORM, ANALYTICS, SECURITY, INTEGRATION
WIN_PER_AMOUNT_BAND = -0.075  # per band A..E (0..4)
WIN_PER_COMPLEXITY_BAND = -0.09  # per band LOW, MEDIUM, HIGH (0..2)
WIN_PER_COMPETITIVE = -0.07  # GREENFIELD 0, COMPETITIVE_EVAL 1, INCUMBENT_DISPLACEMENT 2
P0_MIN, P0_MAX = 0.08, 0.85
# Request model: logit = REQ_BASE + per-level terms + partner propensity (see docs).
REQ_BASE = -2.0
REQ_PER_AMOUNT_BAND = 0.45
REQ_PER_COMPLEXITY_BAND = 0.6
REQ_PER_COMPETITIVE = 0.5
REQ_ENTERPRISE = 0.3
REQ_PER_LOG_CYCLE = 1.2  # per unit of ln(cycle days / 60): deals that live longer get support more often
SHARE_TREATED, SHARE_UNSUPPORTED = 0.82, 0.12  # of requested deals; the rest: request after close

AMOUNT_BAND_EDGES = (25_000.0, 100_000.0, 250_000.0, 1_000_000.0)
AMOUNT_SIGMA = 0.9  # log-sd of a deal's USD amount around its segment's median
AMOUNT_MAX_USD = 2_000_000.0  # amounts are clipped to [1,000, this] USD (before any size effect)
DAY = 86_400
HOUR = 3_600

FEED_ORDER = ("partners", "deals", "engagements", "activities", "satisfaction", "fx_rates")
FREE_TEXT = frozenset({"partner_name", "customer_name", "comment"})

_ADJ = (
    "Northwind", "Blue Harbor", "Summit", "Evergreen", "Granite", "Silverline", "Redwood", "Apex",
    "Lakeside", "Crescent", "Ironclad", "Brightpath", "Cobalt", "Meridian", "Pioneer", "Harborview",
    "Quantum", "Sterling", "Riverbend", "Falcon", "Horizon", "Maple", "Orion", "Vertex",
)
_NOUN = (
    "Logistics", "Health", "Foods", "Energy", "Bank", "Insurance", "Motors", "Retail", "Media",
    "Pharma", "Telecom", "Airlines", "Steel", "Textiles", "Analytics", "Capital", "Labs", "Realty",
)
_CUST_SUFFIX = ("Inc.", "Ltd", "GmbH", "S.A.", "Group", "Holdings", "Corp.", ", Inc.", ", LLC", "AG")
_PARTNER_NOUN = ("Consulting", "Systems", "Digital", "Cloud", "Solutions", "Partners", "Networks", "IT")
_PARTNER_SUFFIX = ("", " Group", " Ltd", ", Inc.", " & Co", " GmbH")
_CUST_SUFFIX_TEXT = tuple(s if s.startswith(",") else " " + s for s in _CUST_SUFFIX)
_COMMENTS = (
    "Great support, fast response",
    "Engineer was very knowledgeable",
    "Slow to confirm the resource",
    'The "exec sponsor" call made the difference',
    "Would request again",
    "Needed more product depth, less slideware",
    "Scheduling was hard; good outcome",
    "Partner portal is confusing",
)


# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------
@dataclass
class GenerateSummary:
    out: Path
    seed: int
    start: dt.date
    days: int
    partners: int
    deals: int
    files: dict[str, int] = field(default_factory=lambda: {f: 0 for f in FEED_ORDER})
    rows: dict[str, int] = field(default_factory=lambda: {f: 0 for f in FEED_ORDER})
    planted_uplift: float = PLANTED_UPLIFT

    def describe(self) -> str:
        per_feed = ", ".join(f"{f} {self.files[f]} files/{self.rows[f]} rows" for f in FEED_ORDER)
        return (
            f"generated {sum(self.files.values())} extract files for {self.deals} deals, "
            f"{self.partners} partners, {self.days} business dates from {self.start} "
            f"(seed {self.seed}) in {self.out}: {per_feed}"
        )


# ---------------------------------------------------------------------------------------------
# Formatting helpers (vectorised with pyarrow; every value rendered exactly as SPEC section 1)
# ---------------------------------------------------------------------------------------------
_STR = pa.string()
_NULL_STR = pa.scalar(None, _STR)
_BOOLS = pa.array(["false", "true"])


class _Fmt:
    """Render numpy columns as contract text; instants are int seconds since `start` 00:00 UTC."""

    DAY_BEFORE = 4_000
    DAY_AFTER = 1_000

    def __init__(self, start: dt.date, days: int):
        first = np.datetime64(start, "D") - self.DAY_BEFORE
        span = self.DAY_BEFORE + days + self.DAY_AFTER
        self.daytab = pa.array(np.datetime_as_string(first + np.arange(span), unit="D").astype(object), _STR)
        sod = np.arange(DAY)
        tod = [f"T{h:02d}:{m:02d}:{s:02d}Z" for h, m, s in zip(sod // HOUR, sod // 60 % 60, sod % 60)]
        self.todtab = pa.array(tod, _STR)

    def date(self, day: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
        return self.daytab.take(pa.array(day + self.DAY_BEFORE, mask=null))

    def ts(self, sec: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
        day = self.date(sec // DAY, null)
        tod = self.todtab.take(pa.array(sec % DAY))
        return pc.binary_join_element_wise(day, tod, "")

    @staticmethod
    def ident(prefix: str, number: np.ndarray, width: int, null: np.ndarray | None = None) -> pa.Array:
        text = pc.utf8_lpad(pc.cast(pa.array(number, mask=null), _STR), width=width, padding="0")
        return pc.binary_join_element_wise(prefix, text, "")

    @staticmethod
    def join(*parts, sep: str = "") -> pa.Array:
        return pc.binary_join_element_wise(*parts, sep)

    @staticmethod
    def num(values: np.ndarray) -> pa.Array:
        return pc.cast(pa.array(values), _STR)

    @staticmethod
    def money(cents: np.ndarray) -> pa.Array:
        whole = pc.cast(pa.array(cents // 100), _STR)
        frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), _STR), width=2, padding="0")
        return pc.binary_join_element_wise(whole, frac, ".")

    @staticmethod
    def rate(units: np.ndarray, decimals: int = 8) -> pa.Array:
        scale = 10**decimals
        whole = pc.cast(pa.array(units // scale), _STR)
        frac = pc.utf8_lpad(pc.cast(pa.array(units % scale), _STR), width=decimals, padding="0")
        return pc.binary_join_element_wise(whole, frac, ".")

    @staticmethod
    def flag(values: np.ndarray) -> pa.Array:
        return _BOOLS.take(pa.array(values.astype(np.int8)))

    @staticmethod
    def enum(values: tuple[str, ...], codes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
        return pa.array(values, _STR).take(pa.array(codes, mask=null))


def _quote(arr: pa.Array) -> pa.Array:
    """RFC 4180: quote a field only when it holds a comma, quote or line break."""
    needs = pc.fill_null(pc.match_substring_regex(arr, r'[",\r\n]'), False)
    if not pc.any(needs).as_py():
        return arr
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, arr)


def _csv_bytes(feed: str, cols: dict[str, pa.Array]) -> bytes:
    names = FEEDS[feed].column_names
    header = (",".join(names) + "\n").encode()
    if len(cols[names[0]]) == 0:
        return header
    parts = [_quote(cols[n]) if n in FREE_TEXT else cols[n] for n in names]
    line = pc.binary_join_element_wise(*parts, ",", null_handling="replace", null_replacement="")
    line = pc.binary_join_element_wise(line, "\n", "")
    line = line.cast(pa.large_string())
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int64)[line.offset : line.offset + len(line) + 1]
    data = memoryview(line.buffers()[2])[offsets[0] : offsets[-1]]
    return header + bytes(data)


_PARQUET_TYPES = {
    "int": pa.int32(),
    "money": pa.decimal128(18, 2),
    "rate": pa.decimal128(24, 12),
    "date": pa.date32(),
    "bool": pa.bool_(),
}


def _parquet_bytes(feed: str, cols: dict[str, pa.Array]) -> bytes:
    arrays, fields = [], []
    for col in FEEDS[feed].columns:
        arr = cols[col.name]
        if col.type == "timestamp":
            typ = pa.timestamp("us", tz="UTC")
            arr = pc.strptime(arr, format="%Y-%m-%dT%H:%M:%SZ", unit="s").cast(typ)
        else:
            typ = _PARQUET_TYPES.get(col.type, _STR)
            arr = arr.cast(typ)
        arrays.append(arr)
        fields.append(pa.field(col.name, typ, nullable=col.nullable))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
class _Writer:
    def __init__(self, out: Path, start: dt.date, days: int, summary: GenerateSummary):
        self.out, self.start, self.days, self.summary = out, start, days, summary

    def path(self, feed: str, day: int, name: str) -> Path:
        folder = self.out / feed / (self.start + dt.timedelta(days=int(day))).isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    @staticmethod
    def file_format(feed: str, day: int) -> str:
        """csv (most), csv.gz (about 1 in 9 business dates) or parquet (1 in 23; never fx)."""
        k = FEED_ORDER.index(feed)
        if feed != "fx_rates" and (day * 5 + k * 3) % 23 == 7:
            return "parquet"
        if (day + 2 * k) % 9 == 4:
            return "csv.gz"
        return "csv"

    def write(self, feed: str, day: int, stem: str, cols: dict[str, pa.Array], fmt: str) -> bytes:
        if fmt == "parquet":
            data = _parquet_bytes(feed, cols)
        else:
            data = _csv_bytes(feed, cols)
            if fmt == "csv.gz":
                data = gzip.compress(data, compresslevel=6, mtime=0)
        self.path(feed, day, f"{stem}.{fmt}").write_bytes(data)
        self.summary.files[feed] += 1
        self.summary.rows[feed] += len(cols[FEEDS[feed].columns[0].name])
        return data

    def copy(self, feed: str, day: int, name: str, data: bytes, rows: int) -> None:
        """A byte-identical second delivery of a file (landing must record it as DUPLICATE)."""
        self.path(feed, day, name).write_bytes(data)
        self.summary.files[feed] += 1
        self.summary.rows[feed] += rows


def _split_by_day(folder: np.ndarray):
    """Yield (day, start, stop) of the runs of a sorted folder array."""
    if len(folder) == 0:
        return
    days, starts = np.unique(folder, return_index=True)
    stops = np.append(starts[1:], len(folder))
    yield from zip(days.tolist(), starts.tolist(), stops.tolist())


def _slice(cols: dict[str, pa.Array], a: int, b: int) -> dict[str, pa.Array]:
    return {k: v.slice(a, b - a) for k, v in cols.items()}


def _late(rng: np.random.Generator, day: np.ndarray, days: int, share: float = 0.02) -> np.ndarray:
    """Folder (business date) of each row: its own UTC date, or 1-3 days later for late rows."""
    late = rng.random(len(day)) < share
    shifted = np.minimum(day + rng.integers(1, 4, len(day)), days - 1)
    return np.where(late, shifted, day)


def _redeliver(rng: np.random.Generator, folder: np.ndarray, days: int, share: float = 0.01):
    """Event rows delivered again 1-3 days later (same key and values): (folders, row index)."""
    again = np.nonzero(rng.random(len(folder)) < share)[0]
    later = folder[again] + rng.integers(1, 4, len(again))
    again, later = again[later < days], later[later < days]
    return np.concatenate([folder, later]), np.concatenate([np.arange(len(folder)), again])


# ---------------------------------------------------------------------------------------------
# Globals: partners, customers, fx
# ---------------------------------------------------------------------------------------------
@dataclass
class _World:
    n_partners: int
    partner_w: np.ndarray  # deal share per partner
    partner_req: np.ndarray  # request propensity offset (logit); -inf = never requests
    partner_grumpy: np.ndarray  # gives lower satisfaction scores
    n_cust: int
    cust_seg: np.ndarray
    cust_ind: np.ndarray
    cust_ctry: np.ndarray
    rate_ff: np.ndarray  # (currency, day) usd_per_unit in force (forward filled), float
    pwidth: int
    dwidth: int
    cwidth: int


def _partners(rng, n: int, days: int, fmt: _Fmt, w: _Writer, pwidth: int) -> tuple[np.ndarray, ...]:
    ptype = rng.choice(len(PARTNER_TYPES), n, p=[0.25, 0.15, 0.25, 0.12, 0.08, 0.15])
    tier = rng.choice(len(TIERS), n, p=[0.10, 0.25, 0.35, 0.30])
    region = rng.choice(len(REGIONS), n, p=[0.45, 0.30, 0.15, 0.10])
    by_region = {r: [i for i, c in enumerate(COUNTRIES) if c[1] == REGIONS[r]] for r in range(len(REGIONS))}
    country = np.array([by_region[r][k % len(by_region[r])] for r, k in zip(region, rng.integers(0, 60, n))])
    spec_mean = np.array([25.0, 12.0, 6.0, 2.0])
    certified = rng.poisson(spec_mean[tier])
    has_parent = (rng.random(n) < 0.10) & (np.arange(n) > 0)
    parent = np.floor(rng.random(n) * np.arange(n)).astype(np.int64)  # an earlier partner
    onboarded = -rng.integers(30, 3_000, n)
    first_updated = onboarded * DAY + rng.integers(8 * HOUR, 18 * HOUR, n)
    name_a = rng.integers(0, len(_ADJ), n)
    name_b = rng.integers(0, len(_PARTNER_NOUN), n)
    name_c = rng.choice(len(_PARTNER_SUFFIX), n, p=[0.35, 0.15, 0.15, 0.15, 0.1, 0.1])

    # versions: the onboarding snapshot, then occasional tier changes and a few deactivations
    T = days * DAY
    n_changes = rng.choice(3, n, p=[0.67, 0.25, 0.08])
    version_partner = [np.arange(n)]
    version_time = [first_updated]
    for k in (1, 2):
        who = np.nonzero(n_changes >= k)[0]
        version_partner.append(who)
        version_time.append(rng.integers(0, max(T, 1), len(who)))
    deactivate = np.nonzero(rng.random(n) < 0.03)[0]
    version_partner.append(deactivate)
    version_time.append(rng.integers(T // 2, max(T, 2), len(deactivate)))
    vp = np.concatenate(version_partner)
    vt = np.concatenate(version_time)
    kind = np.concatenate([np.full(len(a), i) for i, a in enumerate(version_partner)])  # 3 = deactivation
    order = np.lexsort((kind, vt, vp))
    vp, vt, kind = vp[order], vt[order], kind[order]
    # make each partner's version times strictly increasing
    first = np.r_[True, vp[1:] != vp[:-1]]
    for _ in range(3):
        bump = ~first & (vt <= np.r_[vt[:1], vt[:-1]])
        vt = np.where(bump, np.r_[vt[:1], vt[:-1]] + 60, vt)
    keep = vt < T
    vp, vt, kind = vp[keep], vt[keep], kind[keep]
    # tier walks one step up or down at each change; deactivation keeps the tier
    step = np.where(kind == 0, 0, np.where(kind == 3, 0, rng.choice([-1, 1], len(vp))))
    vtier = np.empty(len(vp), dtype=np.int64)
    vcert = np.empty(len(vp), dtype=np.int64)
    vactive = np.ones(len(vp), dtype=bool)
    cur_tier = tier.copy()
    cur_cert = certified.copy()
    active = np.ones(n, dtype=bool)
    for i in range(len(vp)):  # partners are few (hundreds to thousands): a plain loop is fine
        p = vp[i]
        if kind[i] in (1, 2):
            cur_tier[p] = min(max(cur_tier[p] - step[i], 0), len(TIERS) - 1)
            cur_cert[p] = max(0, cur_cert[p] + int(rng.integers(-2, 4)) * (1 if step[i] > 0 else -1))
        elif kind[i] == 3:
            active[p] = False
        vtier[i], vcert[i], vactive[i] = cur_tier[p], cur_cert[p], active[p]

    folder = np.maximum(vt // DAY, 0)  # the onboarding snapshot arrives in the first folder
    order = np.lexsort((vt, vp, folder))
    vp, vt, vtier, vcert, vactive, folder = (a[order] for a in (vp, vt, vtier, vcert, vactive, folder))
    cols = {
        "partner_id": fmt.ident("P", vp + 1, pwidth),
        "partner_name": fmt.join(
            fmt.enum(_ADJ, name_a[vp]),
            fmt.enum(_PARTNER_NOUN, name_b[vp]),
            sep=" ",
        ),
        "partner_type": fmt.enum(PARTNER_TYPES, ptype[vp]),
        "tier": fmt.enum(TIERS, vtier),
        "region": fmt.enum(REGIONS, region[vp]),
        "country": fmt.enum(tuple(c[0] for c in COUNTRIES), country[vp]),
        "certified_specialists": fmt.num(vcert),
        "parent_partner_id": fmt.ident("P", parent[vp] + 1, pwidth, null=~has_parent[vp]),
        "onboarded_on": fmt.date(onboarded[vp]),
        "is_active": fmt.flag(vactive),
        "updated_at": fmt.ts(vt),
    }
    cols["partner_name"] = fmt.join(cols["partner_name"], fmt.enum(_PARTNER_SUFFIX, name_c[vp]))
    for day, a, b in _split_by_day(folder):
        w.write("partners", day, "partners", _slice(cols, a, b), w.file_format("partners", day))
    return ptype, tier


def _fx(rng, days: int, fmt: _Fmt, w: _Writer) -> np.ndarray:
    """Daily rates on weekdays (and always on the first date); returns forward-filled rates."""
    ncur = len(CURRENCIES)
    steps = rng.normal(0.0, 0.004, (ncur, days))
    steps[:, 0] = 0.0
    rate = np.array(FX_START)[:, None] * np.exp(np.cumsum(steps, axis=1))
    units = np.round(rate * 1e8).astype(np.int64)
    units[0] = 100_000_000
    weekday = (np.datetime64(w.start, "D") + np.arange(days)).astype("datetime64[D]").view("int64")
    published = ((weekday + 3) % 7 < 5) | (np.arange(days) == 0)  # 1970-01-01 was a Thursday
    pub_days = np.nonzero(published)[0]
    ff_index = np.maximum.accumulate(np.where(published, np.arange(days), 0))
    rate_ff = (units / 1e8)[:, ff_index]

    corrected = set(pub_days[5::30].tolist())
    ccodes = np.arange(1, ncur)
    for day in pub_days.tolist():
        cols = {
            "rate_date": fmt.date(np.full(ncur - 1, day)),
            "currency": fmt.enum(CURRENCIES, ccodes),
            "usd_per_unit": fmt.rate(units[1:, day]),
        }
        if day in corrected:
            # the first delivery carries a wrong rate for one currency; a corrected file follows
            wrong = units[1:, day].copy()
            k = int(rng.integers(0, ncur - 1))
            wrong[k] = wrong[k] * 100
            bad = dict(cols, usd_per_unit=fmt.rate(wrong))
            w.write("fx_rates", day, "fx_rates", bad, w.file_format("fx_rates", day))
            w.write("fx_rates", day, "fx_rates_resent", cols, w.file_format("fx_rates", day))
        else:
            w.write("fx_rates", day, "fx_rates", cols, w.file_format("fx_rates", day))
    return rate_ff


def _nps(rng, world: _World, days: int, fmt: _Fmt, w: _Writer) -> None:
    n = world.n_partners
    T = days * DAY
    count = rng.poisson(days / 60.0, n)
    who = np.repeat(np.arange(n), count)
    seq = np.arange(len(who)) - np.repeat(np.cumsum(count) - count, count)
    when = rng.integers(0, T, len(who))
    happy = [0.02, 0.02, 0.02, 0.03, 0.03, 0.05, 0.08, 0.15, 0.2, 0.22, 0.18]
    grumpy = [0.06, 0.06, 0.08, 0.1, 0.1, 0.14, 0.14, 0.12, 0.1, 0.06, 0.04]
    score = np.where(
        world.partner_grumpy[who], rng.choice(11, len(who), p=grumpy), rng.choice(11, len(who), p=happy)
    )
    has_comment = rng.random(len(who)) < 0.2
    folder = _late(rng, when // DAY, days)
    order = np.lexsort((seq, who, when, folder))
    who, seq, when, score, has_comment, folder = (a[order] for a in (who, seq, when, score, has_comment, folder))
    cols = {
        "response_id": fmt.join(fmt.ident("SN-", who + 1, world.pwidth), fmt.ident("", seq + 1, 3), sep="-"),
        "partner_id": fmt.ident("P", who + 1, world.pwidth),
        "request_id": pa.nulls(len(who), _STR),
        "survey_type": fmt.enum(SURVEY_TYPES, np.ones(len(who), dtype=np.int64)),
        "score": fmt.num(score),
        "submitted_at": fmt.ts(when),
        "comment": fmt.enum(_COMMENTS, rng.integers(0, len(_COMMENTS), len(who)), null=~has_comment),
    }
    for day, a, b in _split_by_day(folder):
        w.write("satisfaction", day, "program_nps", _slice(cols, a, b), w.file_format("satisfaction", day))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def win_probability(amount_band, complexity_band, competitive, product, segment) -> np.ndarray:
    """p0: the win probability of a deal without co-sell support (stratum variables only)."""
    p = (
        WIN_BASE
        + np.asarray(WIN_SEGMENT)[segment]
        + np.asarray(WIN_PRODUCT)[product]
        + WIN_PER_AMOUNT_BAND * amount_band
        + WIN_PER_COMPLEXITY_BAND * complexity_band
        + WIN_PER_COMPETITIVE * competitive
    )
    return np.clip(p, P0_MIN, P0_MAX)


_COMPLEXITY_BAND = np.array([0, 0, 0, 1, 2, 2])  # index by complexity 1..5


# ---------------------------------------------------------------------------------------------
# One chunk of deals with their requests, activities and responses
# ---------------------------------------------------------------------------------------------
def _chunk(seed: int, ci: int, lo: int, hi: int, days: int, world: _World, fmt: _Fmt, w: _Writer) -> None:
    rng = np.random.default_rng([seed, 1, ci])
    n = hi - lo
    T = days * DAY
    gid = np.arange(lo, hi, dtype=np.int64) + 1  # deal number

    # --- covariates -------------------------------------------------------------------------
    direct = rng.random(n) < 0.08
    cust = rng.integers(0, world.n_cust, n)
    prod = rng.choice(len(PRODUCT_CATEGORIES), n, p=[0.35, 0.25, 0.2, 0.2])
    comp = rng.choice(3, n, p=[0.45, 0.35, 0.2])
    cx = rng.choice(5, n, p=[0.15, 0.25, 0.25, 0.2, 0.15]) + 1
    cxb = _COMPLEXITY_BAND[cx]
    stake = rng.choice(4, n, p=[0.3, 0.35, 0.25, 0.1])
    partner = rng.choice(world.n_partners, n, p=world.partner_w)
    motion = np.where(direct, 4, rng.choice(4, n, p=[0.45, 0.25, 0.15, 0.15]))
    marketplace = rng.integers(0, 3, n)
    p_partner_sourced = np.array([0.85, 0.15, 0.5, 0.6, 0.0])[motion]
    sourced = np.where(rng.random(n) < p_partner_sourced, 0, 1)
    new_logo = rng.random(n) < 0.3
    seg_median = np.array([250_000.0, 80_000.0, 20_000.0, 150_000.0])
    # The amount depends on the complexity band only (not on complexity within a band), so the
    # complexity that lengthens a deal's cycle (and draws support) does not confound deal size.
    usd_target = seg_median[world.cust_seg[cust]] * np.exp(rng.normal(0.0, AMOUNT_SIGMA, n)) * np.array([0.95, 1.1, 1.3])[cxb]
    usd_target = np.clip(usd_target, 1_000.0, AMOUNT_MAX_USD)
    round_units = rng.random(n) < 0.7
    reg = rng.integers(0, max(int(T * 0.92), 1), n)
    cycle_days = np.clip(np.exp(rng.normal(np.log(30.0 + 8.0 * cx), 0.45)), 20.0, 365.0)
    cycle = (cycle_days * DAY).astype(np.int64)
    s0 = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    u_req = rng.random(n)
    u_cat = rng.random(n)
    u_win = rng.random(n)

    def money(idx):
        """Local amount (cents) at the registration rate, and its baseline_amount_band (SPEC 8.1).

        The band is the warehouse's: the baseline amount at the rate in force on the registered
        date. It drives the win probability and the assignment (the deal before any support).
        """
        cur = world_cur[world.cust_ctry[cust[idx]]]
        rate_reg = world.rate_ff[cur, np.minimum(reg[idx] // DAY, days - 1)]
        local = usd_target[idx] / rate_reg
        cents = np.where(round_units[idx], np.round(local) * 100, np.round(local * 100)).astype(np.int64)
        usd = cents / 100.0 * rate_reg
        return cur, cents, np.searchsorted(AMOUNT_BAND_EDGES, usd, side="right")

    world_cur = np.array([CURRENCIES.index(c[2]) for c in COUNTRIES])
    cur, cents, band = money(np.arange(n))
    seg = world.cust_seg[cust]

    # --- co-sell assignment (confounded) and outcome -----------------------------------------
    logit = (
        REQ_BASE
        + REQ_PER_AMOUNT_BAND * band
        + REQ_PER_COMPLEXITY_BAND * cxb
        + REQ_PER_COMPETITIVE * comp
        + REQ_ENTERPRISE * (seg == 0)
        + REQ_PER_LOG_CYCLE * np.log(cycle_days / 60.0)
        + world.partner_req[partner]
    )
    requested = ~direct & (u_req < _sigmoid(logit))
    tc = reg + cycle
    category = np.where(u_cat < SHARE_TREATED, 1, np.where(u_cat < SHARE_TREATED + SHARE_UNSUPPORTED, 2, 3))
    category = np.where(requested, category, 0)  # 0 none, 1 supported before close, 2 unsupported, 3 after close
    category = np.where((category == 3) & ~(tc < T - 32 * DAY), 2, category)
    treated = category == 1
    p0 = win_probability(band, cxb, comp, prod, seg)
    won = u_win < p0 + PLANTED_UPLIFT * treated

    # --- DIRECT follow-ons: vendor deals for customers of supported partner wins --------------
    sources = np.nonzero(~direct & treated & won & (tc < T - 2 * DAY))[0]
    targets = np.nonzero(direct)[0]
    n_follow = min(len(targets) // 2, int(0.3 * len(sources)))
    if n_follow:
        src = rng.choice(sources, n_follow, replace=False)
        tgt = targets[:n_follow]
        cust[tgt] = cust[src]
        room = np.minimum(365 * DAY, T - tc[src] - HOUR)
        reg[tgt] = tc[src] + HOUR + np.floor(rng.random(n_follow) * room).astype(np.int64)
        seg = world.cust_seg[cust]
        cur[tgt], cents[tgt], band[tgt] = money(tgt)
        tc = reg + cycle
        won[tgt] = u_win[tgt] < win_probability(band[tgt], cxb[tgt], comp[tgt], prod[tgt], seg[tgt])

    # --- deal versions: slots 0 registration, 1-4 stages QUALIFIED..COMMITTED, 5 close, 6 delete
    last_stage = np.where(won, 4, rng.integers(s0, 5))
    spacing = rng.exponential(size=(n, 5))
    frac = np.cumsum(spacing, axis=1)[:, :4] / spacing.sum(axis=1)[:, None]
    times = np.empty((n, 7), dtype=np.int64)
    times[:, 0] = reg
    times[:, 1:5] = reg[:, None] + np.floor(frac * (cycle - 600)[:, None]).astype(np.int64) + 60 * np.arange(1, 5)
    times[:, 5] = tc
    stage = np.empty((n, 7), dtype=np.int64)
    stage[:, 0] = s0
    stage[:, 1:5] = np.arange(1, 5)
    stage[:, 5] = np.where(won, 5, 6)
    emit = np.zeros((n, 7), dtype=bool)
    emit[:, 0] = True
    steps = np.arange(1, 5)
    # Stages up to the last one reached show with probability 0.55 (skipped in the extract); the
    # stage a lost deal dies at always shows, so deals visibly die at every stage.
    emit[:, 1:5] = (steps > s0[:, None]) & (steps <= last_stage[:, None]) & (
        (rng.random((n, 4)) < 0.55) | (~won[:, None] & (steps == last_stage[:, None]))
    )
    emit[:, 5] = True
    emit[:, :6] &= times[:, :6] < T
    last_slot = 5 - np.argmax(emit[:, 5::-1], axis=1)
    last_time = times[np.arange(n), last_slot]
    deleted = rng.random(n) < 0.01
    times[:, 6] = last_time + rng.integers(HOUR, 20 * DAY, n)
    stage[:, 6] = stage[np.arange(n), last_slot]
    emit[:, 6] = deleted & (times[:, 6] < T)
    expected_close = (reg + cycle * rng.uniform(0.7, 1.3, n)).astype(np.int64) // DAY
    no_expected = rng.random(n) < 0.1
    visible_stage = np.where(emit[:, :6], stage[:, :6], -1)  # for stage_at_request

    # --- engagement requests: up to 3 per requested deal --------------------------------------
    nreq = np.where(requested, 1 + (rng.random(n) < 0.3) + (rng.random(n) < 0.1), 0)
    r_deal = np.repeat(np.arange(n), nreq)
    r_k = np.arange(len(r_deal)) - np.repeat(np.cumsum(nreq) - nreq, nreq)
    m = len(r_deal)
    r_cat = category[r_deal]
    first_rt = rng.integers(0, len(RESOURCE_TYPES), n)
    offs1 = rng.integers(1, 5, n)
    offs2 = (offs1 - 1 + rng.integers(1, 4, n)) % 4 + 1
    r_type = (first_rt[r_deal] + np.select([r_k == 1, r_k == 2], [offs1[r_deal], offs2[r_deal]], 0)) % 5
    base_time = np.where(
        r_cat == 3,
        tc[r_deal] + rng.integers(DAY, 30 * DAY, m),
        reg[r_deal] + (rng.uniform(0.05, 0.6, m) * cycle[r_deal]).astype(np.int64),
    )
    gap = np.where(r_k == 0, 0, rng.integers(DAY, 20 * DAY, m))
    # requested_at of request k = first request time + cumulative gaps (gaps of one deal are summed)
    first_pos = np.repeat(np.cumsum(nreq) - nreq, nreq)
    cum_gap = np.cumsum(gap)
    cum_gap = cum_gap - (cum_gap[first_pos] - gap[first_pos])  # gaps summed within each deal
    r_time = base_time[first_pos] + cum_gap
    # decision: 1 ACCEPTED, 2 DECLINED, 4 CANCELLED, 0 pending (stays REQUESTED)
    u = rng.random(m)
    extra_supported = np.select([u < 0.45, u < 0.65, u < 0.80, u < 0.90], [1, 1, 2, 4], 0)
    unsupported = np.select([u < 0.55, u < 0.90], [2, 4], 0)
    decision = np.where(
        r_k == 0,
        np.where(r_cat == 2, unsupported, 1),
        np.where(r_cat == 2, unsupported, extra_supported),
    )
    completes = (decision == 1) & (rng.random(m) < np.where(r_k == 0, 0.62, 0.45))
    conf_delay = np.clip(np.exp(rng.normal(np.log(20 * HOUR), 0.8, m)), HOUR / 2, 96 * HOUR).astype(np.int64)
    decide_delay = rng.integers(2 * HOUR, 7 * DAY, m)
    decide_time = r_time + np.where(decision == 1, conf_delay, decide_delay)
    complete_time = decide_time + rng.integers(3 * DAY, 30 * DAY, m)
    vendor_res = rng.integers(1, 2_500, m)
    # the deal's stage when the request was made: its latest visible version at requested_at
    r_stage = np.where(times[r_deal, :6] <= r_time[:, None], visible_stage[r_deal], -1).max(axis=1, initial=0)

    # --- planted size effect: from the first support on, a TREATED deal's amount is larger ------
    support_at = np.full(n, np.iinfo(np.int64).max)
    first_request = (r_k == 0) & (category[r_deal] == 1)
    support_at[r_deal[first_request]] = decide_time[first_request]  # before the close (see docs)
    grown_cents = np.where(
        round_units,
        np.round(cents * (1.0 + PLANTED_SIZE_UPLIFT) / 100.0) * 100,
        np.round(cents * (1.0 + PLANTED_SIZE_UPLIFT)),
    ).astype(np.int64)

    d_idx, d_slot = np.nonzero(emit)
    d_time = times[d_idx, d_slot]
    d_stage = stage[d_idx, d_slot]
    d_closed = d_stage >= 5
    d_cents = np.where(d_time >= support_at[d_idx], grown_cents[d_idx], cents[d_idx])
    d_folder = _late(rng, d_time // DAY, days)
    order = np.lexsort((d_slot, d_idx, d_time, d_folder))
    d_idx, d_slot, d_time, d_stage, d_closed, d_folder, d_cents = (
        a[order] for a in (d_idx, d_slot, d_time, d_stage, d_closed, d_folder, d_cents)
    )
    c = cust[d_idx]
    cname = (c * 7919 + 13) % (len(_ADJ) * len(_NOUN) * len(_CUST_SUFFIX))
    is_market = motion[d_idx] == 2
    deal_cols = {
        "deal_id": fmt.ident("D", gid[d_idx], world.dwidth),
        "partner_id": fmt.ident("P", partner[d_idx] + 1, world.pwidth, null=direct[d_idx]),
        "customer_id": fmt.ident("C", c + 1, world.cwidth),
        "customer_name": fmt.join(
            fmt.join(fmt.enum(_ADJ, cname % len(_ADJ)), fmt.enum(_NOUN, cname // len(_ADJ) % len(_NOUN)), sep=" "),
            fmt.enum(_CUST_SUFFIX_TEXT, cname // len(_ADJ) // len(_NOUN)),
        ),
        "customer_segment": fmt.enum(SEGMENTS, world.cust_seg[c]),
        "industry": fmt.enum(INDUSTRIES, world.cust_ind[c]),
        "country": fmt.enum(tuple(x[0] for x in COUNTRIES), world.cust_ctry[c]),
        "product_category": fmt.enum(PRODUCT_CATEGORIES, prod[d_idx]),
        "motion": fmt.enum(MOTIONS, motion[d_idx]),
        "marketplace": fmt.enum(MARKETPLACES, marketplace[d_idx], null=~is_market),
        "sourced_by": fmt.enum(SOURCED_BY, sourced[d_idx]),
        "is_new_logo": fmt.flag(new_logo[d_idx]),
        "competitive_situation": fmt.enum(COMPETITIVE_SITUATIONS, comp[d_idx]),
        "complexity": fmt.num(cx[d_idx]),
        "stakeholder_level": fmt.enum(STAKEHOLDER_LEVELS, stake[d_idx]),
        "stage": fmt.enum(STAGES, d_stage),
        "amount": fmt.money(d_cents),
        "currency": fmt.enum(CURRENCIES, cur[d_idx]),
        "registered_at": fmt.ts(reg[d_idx]),
        "expected_close_on": fmt.date(expected_close[d_idx], null=no_expected[d_idx]),
        "closed_at": fmt.ts(tc[d_idx], null=~d_closed),
        "updated_at": fmt.ts(d_time),
        "is_deleted": fmt.flag(d_slot == 6),
    }
    stem = f"part-{ci:05d}"
    for day, a, b in _split_by_day(d_folder):
        fmt_kind = w.file_format("deals", day)
        part = _slice(deal_cols, a, b)
        if day % 31 == 13:
            # a delivery with fat-finger amounts, then a corrected re-send (same updated_at, later name)
            wrong = rng.random(b - a) < 0.05
            bad_cents = np.where(wrong, d_cents[a:b] * 10, d_cents[a:b])
            w.write("deals", day, stem, dict(part, amount=fmt.money(bad_cents)), fmt_kind)
            w.write("deals", day, f"{stem}_resent", part, fmt_kind)
        else:
            w.write("deals", day, stem, part, fmt_kind)


    v_n = np.where(decision == 0, 1, np.where(completes, 3, 2))
    e_req = np.repeat(np.arange(m), v_n)
    e_v = np.arange(len(e_req)) - np.repeat(np.cumsum(v_n) - v_n, v_n)
    e_time = np.select([e_v == 0, e_v == 1], [r_time[e_req], decide_time[e_req]], complete_time[e_req])
    keep = e_time < T
    e_req, e_v, e_time = e_req[keep], e_v[keep], e_time[keep]
    e_status = np.select([e_v == 0, e_v == 1], [0, decision[e_req]], 3)
    e_supported = (e_status == 1) | (e_status == 3)
    e_folder = _late(rng, e_time // DAY, days)
    order = np.lexsort((e_v, e_req, e_time, e_folder))
    e_req, e_v, e_time, e_status, e_supported, e_folder = (
        a[order] for a in (e_req, e_v, e_time, e_status, e_supported, e_folder)
    )
    e_deal = r_deal[e_req]
    req_id = fmt.join(fmt.ident("RQ-", gid[e_deal], world.dwidth), fmt.num(r_k[e_req] + 1), sep="-")
    eng_cols = {
        "request_id": req_id,
        "deal_id": fmt.ident("D", gid[e_deal], world.dwidth),
        "partner_id": fmt.ident("P", partner[e_deal] + 1, world.pwidth),
        "resource_type": fmt.enum(RESOURCE_TYPES, r_type[e_req]),
        "status": fmt.enum(ENGAGEMENT_STATUSES, e_status),
        "requested_at": fmt.ts(r_time[e_req]),
        "stage_at_request": fmt.enum(STAGES, r_stage[e_req]),
        "confirmed_at": fmt.ts(decide_time[e_req], null=~e_supported),
        "completed_at": fmt.ts(complete_time[e_req], null=e_status != 3),
        "vendor_resource_id": fmt.ident("VR-", vendor_res[e_req], 5, null=~e_supported),
        "updated_at": fmt.ts(e_time),
    }
    for day, a, b in _split_by_day(e_folder):
        data = w.write("engagements", day, stem, _slice(eng_cols, a, b), w.file_format("engagements", day))
        if day % 17 == 6:
            w.copy("engagements", day, f"{stem}_copy.{w.file_format('engagements', day)}", data, b - a)

    # --- activities: for every confirmed request ----------------------------------------------
    confirmed = (decision == 1) & (decide_time < T)
    n_act = np.where(confirmed, np.minimum(rng.poisson(3.5, m), 12), 0)
    a_req = np.repeat(np.arange(m), n_act)
    a_j = np.arange(len(a_req)) - np.repeat(np.cumsum(n_act) - n_act, n_act)
    k = len(a_req)
    a_deal = r_deal[a_req]
    conf = decide_time[a_req]
    deal_close = tc[a_deal]
    span = np.where(conf < deal_close, np.minimum(deal_close - conf, 45 * DAY), 30 * DAY)
    a_time = conf + (rng.random(k) * span).astype(np.int64)
    a_type = rng.choice(len(ACTIVITY_TYPES), k, p=[0.3, 0.25, 0.15, 0.15, 0.07, 0.08])
    a_role = np.where(a_type == 5, 2, rng.choice(3, k, p=[0.6, 0.3, 0.1]))
    briefed = rng.random(k) < 0.94
    present = rng.random(k) < 0.7
    in_plan = rng.random(k) < 0.88
    commercial = rng.random(k) < np.where(a_role == 0, 0.06, 0.45)
    keep = a_time < T
    a_req, a_j, a_time, a_type, a_role, briefed, present, in_plan, commercial = (
        x[keep] for x in (a_req, a_j, a_time, a_type, a_role, briefed, present, in_plan, commercial)
    )
    a_folder = _late(rng, a_time // DAY, days)
    a_folder, order = _redeliver(rng, a_folder, days)
    a_req, a_j, a_time, a_type, a_role, briefed, present, in_plan, commercial = (
        x[order] for x in (a_req, a_j, a_time, a_type, a_role, briefed, present, in_plan, commercial)
    )
    order = np.lexsort((a_j, a_req, a_time, a_folder))
    a_req, a_j, a_time, a_type, a_role, briefed, present, in_plan, commercial, a_folder = (
        x[order] for x in (a_req, a_j, a_time, a_type, a_role, briefed, present, in_plan, commercial, a_folder)
    )
    a_deal = r_deal[a_req]
    a_reqid = fmt.join(fmt.ident("RQ-", gid[a_deal], world.dwidth), fmt.num(r_k[a_req] + 1), sep="-")
    act_cols = {
        "activity_id": fmt.join(
            fmt.ident("AC-", gid[a_deal], world.dwidth), fmt.num(r_k[a_req] + 1), fmt.ident("", a_j + 1, 2), sep="-"
        ),
        "request_id": a_reqid,
        "deal_id": fmt.ident("D", gid[a_deal], world.dwidth),
        "occurred_at": fmt.ts(a_time),
        "activity_type": fmt.enum(ACTIVITY_TYPES, a_type),
        "vendor_role": fmt.enum(VENDOR_ROLES, a_role),
        "partner_briefed": fmt.flag(briefed),
        "partner_present": fmt.flag(present),
        "in_engagement_plan": fmt.flag(in_plan),
        "commercial_discussion": fmt.flag(commercial),
    }
    for day, a, b in _split_by_day(a_folder):
        data = w.write("activities", day, stem, _slice(act_cols, a, b), w.file_format("activities", day))
        if day % 17 == 6:
            w.copy("activities", day, f"{stem}_copy.{w.file_format('activities', day)}", data, b - a)

    # --- satisfaction: COSELL_ENGAGEMENT responses to completed requests -----------------------
    responds = completes & (rng.random(m) < 0.55)
    s_time = complete_time + rng.integers(HOUR, 14 * DAY, m)
    s_req = np.nonzero(responds & (s_time < T))[0]
    s_time = s_time[s_req]
    s_deal = r_deal[s_req]
    grumpy = world.partner_grumpy[partner[s_deal]]
    s_score = np.where(
        grumpy,
        rng.choice(5, len(s_req), p=[0.15, 0.25, 0.3, 0.2, 0.1]),
        rng.choice(5, len(s_req), p=[0.03, 0.07, 0.17, 0.4, 0.33]),
    ) + 1
    s_comment = rng.integers(0, len(_COMMENTS), len(s_req))
    s_has_comment = rng.random(len(s_req)) < 0.3
    s_folder = _late(rng, s_time // DAY, days)
    s_folder, order = _redeliver(rng, s_folder, days)
    s_req, s_time, s_deal, s_score, s_comment, s_has_comment = (
        x[order] for x in (s_req, s_time, s_deal, s_score, s_comment, s_has_comment)
    )
    order = np.lexsort((s_req, s_time, s_folder))
    s_req, s_time, s_deal, s_score, s_comment, s_has_comment, s_folder = (
        x[order] for x in (s_req, s_time, s_deal, s_score, s_comment, s_has_comment, s_folder)
    )
    sat_cols = {
        "response_id": fmt.join(fmt.ident("SR-", gid[s_deal], world.dwidth), fmt.num(r_k[s_req] + 1), sep="-"),
        "partner_id": fmt.ident("P", partner[s_deal] + 1, world.pwidth),
        "request_id": fmt.join(fmt.ident("RQ-", gid[s_deal], world.dwidth), fmt.num(r_k[s_req] + 1), sep="-"),
        "survey_type": fmt.enum(SURVEY_TYPES, np.zeros(len(s_req), dtype=np.int64)),
        "score": fmt.num(s_score),
        "submitted_at": fmt.ts(s_time),
        "comment": fmt.enum(_COMMENTS, s_comment, null=~s_has_comment),
    }
    for day, a, b in _split_by_day(s_folder):
        data = w.write("satisfaction", day, stem, _slice(sat_cols, a, b), w.file_format("satisfaction", day))
        if day % 17 == 6:
            w.copy("satisfaction", day, f"{stem}_copy.{w.file_format('satisfaction', day)}", data, b - a)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------
def generate(
    out: Path,
    seed: int = 7,
    start: dt.date = dt.date(2026, 1, 1),
    days: int = 180,
    partners: int = 200,
    deals: int = 5000,
) -> GenerateSummary:
    """Write deterministic synthetic extracts of all six feeds into `out` (which must be new or empty)."""
    out = Path(out)
    for name, value in (("days", days), ("partners", partners), ("deals", deals)):
        if int(value) < 1:
            raise CosellError(f"{name} must be a positive whole number, got {value}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CosellError(f"{out} is not an empty folder; generate writes into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)

    summary = GenerateSummary(out=out, seed=seed, start=start, days=days, partners=partners, deals=deals)
    writer = _Writer(out, start, days, summary)
    fmt = _Fmt(start, days)
    rng = np.random.default_rng([seed, 0])
    pwidth = max(5, len(str(partners)))
    _partners(rng, partners, days, fmt, writer, pwidth)
    rate_ff = _fx(rng, days, fmt, writer)

    n_cust = max(20, deals // 3)
    rank_weight = 1.0 / (np.arange(partners) + 5.0) ** 0.9
    partner_w = rank_weight[rng.permutation(partners)]
    never = rng.random(partners) < 0.2
    world = _World(
        n_partners=partners,
        partner_w=partner_w / partner_w.sum(),
        partner_req=np.where(never, -np.inf, rng.normal(0.0, 0.4, partners)),
        partner_grumpy=rng.random(partners) < 0.15,
        n_cust=n_cust,
        cust_seg=rng.choice(len(SEGMENTS), n_cust, p=[0.25, 0.35, 0.3, 0.1]).astype(np.int8),
        cust_ind=rng.integers(0, len(INDUSTRIES), n_cust, dtype=np.int8),
        cust_ctry=rng.choice(len(COUNTRIES), n_cust, p=np.array(COUNTRY_WEIGHTS) / sum(COUNTRY_WEIGHTS)).astype(np.int8),
        rate_ff=rate_ff,
        pwidth=pwidth,
        dwidth=max(8, len(str(deals))),
        cwidth=max(8, len(str(n_cust))),
    )
    _nps(rng, world, days, fmt, writer)
    for ci, lo in enumerate(range(0, deals, CHUNK_DEALS)):
        _chunk(seed, ci, lo, min(lo + CHUNK_DEALS, deals), days, world, fmt, writer)
    _deliver_quiet_days(writer)
    return summary


def _deliver_quiet_days(w: _Writer) -> None:
    """A feed with no changes on a business date still delivers a file: its header alone.

    Real senders do the same, and it is how the nightly run knows a day's extracts are all in.
    """
    for feed in FEED_ORDER:
        for day in range(w.days):
            if not (w.out / feed / (w.start + dt.timedelta(days=day)).isoformat()).exists():
                empty = {name: pa.array([], pa.string()) for name in FEEDS[feed].column_names}
                w.write(feed, day, "no-changes", empty, "csv")
