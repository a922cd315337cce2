"""`cosell generate`: determinism, the extract contract of SPEC section 1, and the planted effect."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosell.contract import CLOSED_STAGES, FEEDS, STAGES, SURVEY_SCORE_RANGE
from cosell.errors import CosellError
from cosell.synthetic import generate as gen

START = dt.date(2026, 1, 1)
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONEY = re.compile(r"^\d+\.\d{2}$")
RATE = re.compile(r"^\d+\.\d+$")
INT = re.compile(r"^-?\d+$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
PARQUET_TYPES = {
    "timestamp": pa.timestamp("us", tz="UTC"),
    "money": pa.decimal128(18, 2),
    "date": pa.date32(),
    "bool": pa.bool_(),
    "int": pa.int32(),
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _parquet_as_text(path: Path) -> pd.DataFrame:
    table = pq.read_table(path)
    out = {}
    for name in table.column_names:
        values = table.column(name).to_pylist()
        typ = table.schema.field(name).type
        if pa.types.is_timestamp(typ):
            text = [None if v is None else v.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for v in values]
        elif pa.types.is_boolean(typ):
            text = [None if v is None else ("true" if v else "false") for v in values]
        else:
            text = [None if v is None else str(v) for v in values]
        out[name] = pd.Series(text, dtype=object)
    return pd.DataFrame(out)


def _read_csvs(paths: list[Path]) -> pd.DataFrame:
    """All CSV / CSV.gz files of a feed in one duckdb scan (all_varchar), in file then row order."""
    con = duckdb.connect()
    df = con.execute(
        "select * from read_csv(?, header=true, all_varchar=true, delim=',', quote='\"', escape='\"', "
        "filename=true)",
        [[str(p) for p in paths]],
    ).df()
    return df.rename(columns={"filename": "_path"})


@functools.lru_cache(maxsize=32)
def _load(root: Path, feed: str) -> pd.DataFrame:
    paths = sorted((root / feed).glob("*/*"), key=lambda p: (p.parent.name, p.name))
    csvs = [p for p in paths if not p.name.endswith(".parquet")]
    frames = [_read_csvs(csvs)] if csvs else []
    for path in paths:
        if path.name.endswith(".parquet"):
            frames.append(_parquet_as_text(path).assign(_path=str(path)))
    df = pd.concat(frames, ignore_index=True)
    df = df.astype(object).where(df.notna(), None)
    unique = {p: Path(p) for p in df._path.unique()}
    df["_business_date"] = df._path.map({k: v.parent.name for k, v in unique.items()})
    df["_file_name"] = df._path.map({k: v.name for k, v in unique.items()})
    df["_row"] = df.groupby("_path").cumcount()
    return df.sort_values(["_business_date", "_file_name", "_row"], kind="stable").reset_index(drop=True)


def load(root: Path, feed: str) -> pd.DataFrame:
    """Every row of a feed as contract text, with _business_date, _file_name and _row (SPEC ordering)."""
    return _load(root, feed).copy()


def latest(df: pd.DataFrame, key: str) -> pd.DataFrame:
    order = ["updated_at", "_business_date", "_file_name", "_row"]
    return df.sort_values(order).drop_duplicates(key, keep="last")


STRATUM = ["competitive_situation", "product_category", "customer_segment"]


def cohort_frame(root: Path) -> pd.DataFrame:
    """Closed, live partner deals with SPEC section 3/5/8.1 fields, computed from the files alone.

    The stratum keys are the baseline version's (SPEC section 8.1): the earliest version, its
    amount at the fx rate of the registered date.
    """
    versions = load(root, "deals")
    deals = latest(versions, "deal_id")
    deals = deals[(deals.is_deleted == "false") & deals.partner_id.notna() & deals.stage.isin(CLOSED_STAGES)].copy()
    baseline = versions.sort_values(["updated_at", "_business_date", "_file_name", "_row"]).drop_duplicates("deal_id")
    baseline = baseline[["deal_id", "amount", "currency", "complexity", *STRATUM]].rename(
        columns={c: f"baseline_{c}" for c in ["amount", "currency", "complexity", *STRATUM]})
    deals = deals.merge(baseline, on="deal_id")
    fx = load(root, "fx_rates").sort_values(["_business_date", "_file_name", "_row"])
    fx = fx.drop_duplicates(["rate_date", "currency"], keep="last")
    fx = pd.concat([fx, pd.DataFrame({"rate_date": fx.rate_date.unique(), "currency": "USD", "usd_per_unit": "1"})])
    fx["ref"] = pd.to_datetime(fx.rate_date)
    fx["baseline_currency"] = fx.currency
    fx["usd_per_unit"] = fx.usd_per_unit.astype(float)
    deals["ref"] = pd.to_datetime(deals.registered_at.str[:10])
    deals = pd.merge_asof(
        deals.sort_values("ref"), fx[["ref", "baseline_currency", "usd_per_unit"]].sort_values("ref"), on="ref",
        by="baseline_currency",
    )
    assert deals.usd_per_unit.notna().all(), "a deal without an fx row"
    usd = deals.baseline_amount.astype(float) * deals.usd_per_unit
    deals["amount_band"] = np.searchsorted([25_000, 100_000, 250_000, 1_000_000], usd.round(2), side="right")
    deals["complexity_band"] = np.array([0, 0, 0, 1, 2, 2])[deals.baseline_complexity.astype(int)]
    for column in STRATUM:
        deals[column] = deals[f"baseline_{column}"]
    deals["won"] = (deals.stage == "CLOSED_WON").astype(float)

    req = latest(load(root, "engagements"), "request_id")
    supported = req[req.status.isin(["ACCEPTED", "COMPLETED"]) & req.confirmed_at.notna()]
    first_support = supported.groupby("deal_id").confirmed_at.min()
    deals["first_support_at"] = deals.deal_id.map(first_support)
    deals["requested"] = deals.deal_id.isin(req.deal_id)
    treated = deals.first_support_at.notna() & (deals.first_support_at < deals.closed_at)
    deals["cohort"] = np.where(treated, "TREATED", np.where(~deals.requested, "CONTROL", "EXCLUDED"))
    return deals


def estimates(deals: pd.DataFrame) -> tuple[float, float]:
    """(naive uplift, CEM/ATT uplift) as SPEC sections 5 and 8.1 define them, OVERALL slice."""
    t = deals[deals.cohort == "TREATED"]
    c = deals[deals.cohort == "CONTROL"]
    naive = t.won.mean() - c.won.mean()
    keys = ["amount_band", "complexity_band", "competitive_situation", "product_category", "customer_segment"]
    st = t.groupby(keys).won.agg(["size", "mean"])
    sc = c.groupby(keys).won.agg(["size", "mean"])
    matched = st.add_suffix("_t").join(sc.add_suffix("_c"), how="inner")
    w = matched["size_t"] / matched["size_t"].sum()
    cem = float((w * (matched["mean_t"] - matched["mean_c"])).sum())
    return float(naive), cem


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, gen.GenerateSummary]:
    root = tmp_path_factory.mktemp("small") / "inbox"
    summary = gen.generate(root, seed=11, start=START, days=60, partners=40, deals=1_500)
    return root, summary


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("medium") / "inbox"
    gen.generate(root, seed=7, start=START, days=180, partners=200, deals=20_000)
    return root


# --------------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------------
def test_same_seed_same_bytes_different_seed_different(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "CHUNK_DEALS", 700)  # several chunks, like a large run
    args = dict(start=START, days=40, partners=30, deals=1_600)
    gen.generate(tmp_path / "a", seed=3, **args)
    gen.generate(tmp_path / "b", seed=3, **args)
    gen.generate(tmp_path / "c", seed=4, **args)
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert a and a == b
    assert a != c
    assert any(name.startswith("deals/") and "part-00002" in name for name in a)


def test_refuses_non_empty_folder_and_bad_sizes(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(CosellError):
        gen.generate(tmp_path / "x", deals=10)
    with pytest.raises(CosellError):
        gen.generate(tmp_path / "y", deals=0)


def test_tiny_sizes_work(tmp_path):
    summary = gen.generate(tmp_path / "t", days=1, partners=1, deals=1)
    assert summary.files["deals"] >= 1 and summary.rows["partners"] >= 1
    assert "1 deals" in summary.describe()


# --------------------------------------------------------------------------------------------
# the extract contract
# --------------------------------------------------------------------------------------------
def test_layout_formats_and_headers(small):
    root, summary = small
    seen_ext = set()
    for feed, spec in FEEDS.items():
        files = sorted((root / feed).rglob("*.*"))
        assert files, feed
        assert summary.files[feed] == len(files)
        for path in files:
            assert DATE.match(path.parent.name) and path.parent.parent.name == feed
            ext = "parquet" if path.name.endswith(".parquet") else "csv.gz" if path.name.endswith(".csv.gz") else "csv"
            assert path.name.endswith("." + ext)
            seen_ext.add(ext)
            if ext == "parquet":
                schema = pq.read_schema(path)
                assert tuple(schema.names) == spec.column_names
                for col in spec.columns:
                    assert schema.field(col.name).type == PARQUET_TYPES.get(col.type, pa.string()), (path, col.name)
            else:
                raw = path.read_bytes()
                text = (gzip.decompress(raw) if ext == "csv.gz" else raw).decode("utf-8")
                assert text.split("\n", 1)[0] == ",".join(spec.column_names), path
    assert seen_ext == {"csv", "csv.gz", "parquet"}


def _check_column(df: pd.DataFrame, col) -> None:
    values = df[col.name]
    if not col.nullable:
        assert values.notna().all(), col.name
    v = values.dropna()
    if col.values:
        assert v.isin(col.values).all(), (col.name, set(v) - set(col.values))
    pattern = {"timestamp": TS, "date": DATE, "money": MONEY, "rate": RATE, "int": INT, "currency": CURRENCY}.get(col.type)
    if pattern is not None:
        assert v.str.match(pattern).all(), (col.name, v[~v.str.match(pattern)].head())
    if col.type == "bool":
        assert v.isin(["true", "false"]).all(), col.name
    if col.type in ("int", "money", "rate") and len(v):
        number = v.astype(float)
        if col.low is not None:
            assert (number >= col.low).all(), col.name
        if col.high is not None:
            assert (number <= float(col.high)).all(), col.name


def test_every_row_follows_the_contract(small):
    root, summary = small
    end = (START + dt.timedelta(days=60)).isoformat() + "T00:00:00Z"
    frames = {feed: load(root, feed) for feed in FEEDS}
    for feed, spec in FEEDS.items():
        df = frames[feed]
        assert len(df) == summary.rows[feed]
        for col in spec.columns:
            _check_column(df, col)
        # no row describes a time after the end of its business date
        for col in spec.columns:
            if col.type == "timestamp" and col.name in ("updated_at", "occurred_at", "submitted_at"):
                next_day = (pd.to_datetime(df._business_date) + pd.Timedelta(days=1)).dt.strftime("%Y-%m-%dT00:00:00Z")
                assert (df[col.name] < next_day).all(), feed
                assert (df[col.name] < end).all()

    deals = frames["deals"]
    closed = deals.stage.isin(CLOSED_STAGES)
    assert (deals.closed_at.notna() == closed).all()
    assert (deals.partner_id.isna() == (deals.motion == "DIRECT")).all()
    assert (deals.marketplace.notna() == (deals.motion == "MARKETPLACE")).all()
    assert (deals.registered_at >= START.isoformat()).all()
    assert (deals.closed_at.dropna() >= deals.registered_at[closed]).all()
    assert (deals.updated_at >= deals.registered_at).all()
    assert set(deals.currency) >= {"USD", "EUR", "GBP", "JPY"}
    assert set(deals.motion) == {"PARTNER_LED", "VENDOR_LED", "MARKETPLACE", "ECOSYSTEM", "DIRECT"}
    assert set(deals.sourced_by) == {"PARTNER", "VENDOR"} and set(deals.is_new_logo) == {"true", "false"}
    assert (deals.is_deleted == "true").any()
    # a deal's versions walk the stage order (CLOSED_LOST terminal)
    order = {s: i for i, s in enumerate(STAGES)}
    walk = deals.sort_values(["deal_id", "updated_at"])
    rank = walk.stage.map(order)
    same = walk.deal_id.eq(walk.deal_id.shift())
    assert (rank[same] >= rank.shift()[same]).all()
    assert walk.groupby("deal_id").size().max() >= 4
    # partners known, tier changes happen
    partners = frames["partners"]
    assert set(deals.partner_id.dropna()) <= set(partners.partner_id)
    assert (partners.groupby("partner_id").tier.nunique() > 1).any()

    eng = frames["engagements"]
    assert set(eng.status) == set(FEEDS["engagements"].column("status").values)
    support = eng.status.isin(["ACCEPTED", "COMPLETED"])
    assert (eng.confirmed_at.notna() == support).all()
    assert (eng.confirmed_at.dropna() >= eng.requested_at[support]).all()
    assert (eng.completed_at.notna() == (eng.status == "COMPLETED")).all()
    assert set(eng.deal_id) <= set(deals.deal_id)
    assert not eng.deal_id.isin(deals.deal_id[deals.motion == "DIRECT"]).any()
    assert (eng.requested_at <= eng.updated_at).all()

    acts = frames["activities"]
    assert set(acts.request_id) <= set(eng.request_id)
    assert (acts.partner_briefed == "false").any()
    assert ((acts.vendor_role == "TECHNICAL") & (acts.commercial_discussion == "true")).any()
    assert ((acts.in_engagement_plan == "false") & (acts.partner_present == "false")).any()

    sat = frames["satisfaction"]
    for survey, (low, high) in SURVEY_SCORE_RANGE.items():
        scores = sat.score[sat.survey_type == survey].astype(int)
        assert len(scores) and scores.between(low, high).all()
    assert (sat.request_id.isna() == (sat.survey_type == "PROGRAM_NPS")).all()
    assert set(sat.request_id.dropna()) <= set(eng.request_id)

    fx = frames["fx_rates"]
    assert "USD" not in set(fx.currency) and len(set(fx.currency)) >= 6
    assert START.isoformat() in set(fx.rate_date)


def test_irregular_deliveries(small):
    root, _ = small
    names = {str(p.relative_to(root)) for p in root.rglob("*.*")}
    copies = [n for n in names if "_copy." in n]
    assert copies
    for name in copies:
        original = root / name.replace("_copy.", ".")
        assert original.read_bytes() == (root / name).read_bytes()
    # corrected re-sends: same keys and updated_at, sorting after the first delivery
    resent = sorted(n for n in names if n.startswith("deals/") and "_resent." in n)
    assert resent
    first = resent[0].replace("_resent", "")
    assert first in names and Path(first).name < Path(resent[0]).name
    deals = load(root, "deals")
    a = deals[deals._file_name == Path(first).name].set_index(["deal_id", "updated_at", "_business_date"])
    b = deals[deals._file_name == Path(resent[0]).name].set_index(["deal_id", "updated_at", "_business_date"])
    b = b.loc[b.index.get_level_values(2) == Path(resent[0]).parent.name]
    a = a.loc[a.index.get_level_values(2) == Path(first).parent.name]
    assert a.index.equals(b.index)
    assert (a.amount != b.amount).any()
    assert any(n.startswith("fx_rates/") and "_resent." in n for n in names)
    # event rows delivered again in a later folder (not only as byte-identical file copies)
    for feed, key in (("activities", "activity_id"), ("satisfaction", "response_id")):
        events = load(root, feed)
        events = events[~events._file_name.str.contains("_copy")]
        again = events[events.duplicated(key, keep=False)]
        assert (again.groupby(key)._business_date.nunique() > 1).all()
        assert feed == "satisfaction" or again[key].nunique() > 0
        values = list(FEEDS[feed].column_names)
        assert (again.groupby(key)[values].nunique(dropna=False) == 1).all().all()
    # late rows: some rows carry an updated_at of an earlier date than their business date folder
    assert (deals.updated_at.str[:10] < deals._business_date).any()


def test_direct_pipeline_after_cosell_and_repeat_requests(small):
    root, _ = small
    deals = latest(load(root, "deals"), "deal_id")
    req = latest(load(root, "engagements"), "request_id")
    supported = req[req.status.isin(["ACCEPTED", "COMPLETED"])]
    first = supported.groupby("deal_id").confirmed_at.min()
    partner = deals[deals.partner_id.notna() & (deals.stage == "CLOSED_WON")].copy()
    partner = partner[partner.deal_id.map(first) < partner.closed_at]
    direct = deals[deals.motion == "DIRECT"]
    pairs = direct.merge(partner, on="customer_id", suffixes=("", "_p"))
    limit = (pd.to_datetime(pairs.closed_at_p) + pd.Timedelta(days=365)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ((pairs.registered_at > pairs.closed_at_p) & (pairs.registered_at <= limit)).any()
    # repeat requesters and partners that never request
    by_partner = req.groupby("partner_id").request_id.nunique()
    assert (by_partner >= 2).any()
    assert set(deals.partner_id.dropna()) - set(req.partner_id)
    assert "CLOSED_WON" in set(req.stage_at_request) or "CLOSED_LOST" in set(req.stage_at_request)


# --------------------------------------------------------------------------------------------
# the planted co-sell effect
# --------------------------------------------------------------------------------------------
def test_planted_effect_is_confounded_and_recovered_by_matching(medium):
    deals = cohort_frame(medium)
    counts = deals.cohort.value_counts()
    assert {"TREATED", "CONTROL", "EXCLUDED"} <= set(counts.index)
    requested = counts["TREATED"] + counts["EXCLUDED"]
    assert counts["EXCLUDED"] < 0.5 * requested  # requested-but-unsupported deals are a minority
    naive, cem = estimates(deals)
    planted = gen.PLANTED_UPLIFT
    assert naive < planted - 0.04, (naive, cem)
    assert abs(cem - planted) < abs(naive - planted)
    assert abs(cem - planted) < 0.04, (naive, cem)


def test_every_feed_delivers_a_file_for_every_business_date(small):
    root, summary = small
    dates = {(summary.start + dt.timedelta(days=d)).isoformat() for d in range(summary.days)}
    for feed in gen.FEED_ORDER:
        delivered = {p.name for p in (root / feed).iterdir() if any(p.iterdir())}
        assert delivered == dates, feed
    quiet = sorted(root.glob("*/*/no-changes.csv"))
    assert quiet, "the sample should have quiet days"
    for path in quiet:
        feed = path.parent.parent.name
        assert path.read_text() == ",".join(gen.FEEDS[feed].column_names) + "\n"


def test_planted_size_effect_longer_lived_support_and_deaths_at_every_stage(medium):
    """docs/generator.md: support grows the amount by PLANTED_SIZE_UPLIFT from the first support
    on; support comes more often to deals that live longer; lost deals die at every stage."""
    deals = cohort_frame(medium)
    ratio = deals.amount.astype(float) / deals.baseline_amount.astype(float)
    treated = deals.cohort == "TREATED"
    grown = 1 + gen.PLANTED_SIZE_UPLIFT
    # Whole units or cents, rounded. A registration version delivered in a fat-finger file and
    # re-sent at the same instant keeps the wrong amount as its baseline (SPEC 8.1's reversed
    # tie-break picks the earlier file name): a handful of deals, x10 or x0.1 off.
    assert ((ratio[treated] - grown).abs() < 0.01).mean() > 0.99
    assert (ratio[~treated] == 1).mean() > 0.99
    cycle = (pd.to_datetime(deals.closed_at) - pd.to_datetime(deals.registered_at)).dt.days
    long_lived = cycle > cycle.median()
    supported = deals.cohort != "CONTROL"
    assert supported[long_lived].mean() > supported[~long_lived].mean() + 0.1
    versions = load(medium, "deals")
    lost = set(deals.deal_id[deals.stage == "CLOSED_LOST"])
    open_versions = versions[versions.deal_id.isin(lost) & ~versions.stage.isin(CLOSED_STAGES)]
    rank = open_versions.stage.map({s: i for i, s in enumerate(STAGES)})
    died_at = rank.groupby(open_versions.deal_id).max()
    assert set(died_at) == set(range(5))  # PROSPECT .. COMMITTED
