"""`cosell land` on real DuckDB files: lineage, idempotency, rejects, quarantine, nothing lost."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from extracts import contract_columns, csv_text, row, write

from cosell.errors import CosellError
from cosell.landing.load import land


def query(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else "link"
        for p in sorted(folder.rglob("*"))
    }


def test_lands_rows_with_lineage_and_types(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "deals.csv", csv_text([row("deals"), row("deals", deal_id="D2", amount="10.5")]))
    summary = land(inbox, settings)
    assert summary.files["LANDED"] == 1 and summary.rows_landed == 2 and summary.rows_rejected == 0
    rows = query(
        settings,
        "SELECT deal_id, amount, registered_at, is_new_logo, complexity, _business_date, _file_name, _row_number, _load_id "
        "FROM raw.deals ORDER BY _row_number",
    )
    assert rows[0] == ("D1", Decimal("120000.00"), dt.datetime(2026, 3, 1, 10), True, 4, dt.date(2026, 3, 1), "deals.csv", 1, 1)
    assert rows[1][0:2] == ("D2", Decimal("10.50")) and rows[1][7] == 2
    assert summary.as_of_date == dt.date(2026, 3, 1)


def test_timestamp_with_offset_is_converted_to_utc(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "partners", "2026-03-01", "p.csv", csv_text([row("partners", updated_at="2026-03-01T01:30:00+02:00")]))
    land(inbox, settings)
    assert query(settings, "SELECT updated_at FROM raw.partners") == [(dt.datetime(2026, 2, 28, 23, 30),)]


def test_landing_twice_changes_nothing(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "a.csv", csv_text([row("deals"), row("deals", deal_id="D2", stage="BOGUS")]))
    write(inbox, "partners", "2026-03-01", "p.csv", "partner_id\nP1\n")  # quarantined: missing columns
    first = land(inbox, settings)
    tables = ("raw.deals", "raw.rejects", "raw.load_audit")
    before = {t: query(settings, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    second = land(inbox, settings)
    after = {t: query(settings, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    assert first.load_id == 1 and second.load_id is None
    assert before == after == {"raw.deals": 1, "raw.rejects": 1, "raw.load_audit": 2}


def test_byte_identical_file_is_recorded_as_duplicate_and_skipped(tmp_path, settings):
    inbox = tmp_path / "inbox"
    content = csv_text([row("deals")])
    write(inbox, "deals", "2026-03-01", "a.csv", content)
    write(inbox, "deals", "2026-03-02", "resent.csv", content)
    summary = land(inbox, settings)
    assert summary.files == {"LANDED": 1, "DUPLICATE": 1, "QUARANTINED": 0}
    audit = query(settings, "SELECT file_path, status, rows_landed, reason FROM raw.load_audit ORDER BY business_date")
    assert audit[1] == ("deals/2026-03-02/resent.csv", "DUPLICATE", 0, "same bytes as deals/2026-03-01/a.csv landed in load 1")
    assert query(settings, "SELECT count(*) FROM raw.deals") == [(1,)]


def test_out_of_order_files_land_in_later_runs_with_their_own_business_date(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-05", "d.csv", csv_text([row("deals", stage="TECHNICAL_VALIDATION", updated_at="2026-03-05T10:00:00Z")]))
    land(inbox, settings)
    write(inbox, "deals", "2026-03-02", "late.csv", csv_text([row("deals", updated_at="2026-03-02T10:00:00Z")]))
    summary = land(inbox, settings)
    assert summary.load_id == 2 and summary.as_of_date == dt.date(2026, 3, 5)
    assert query(settings, "SELECT _business_date, _load_id, stage FROM raw.deals ORDER BY _load_id") == [
        (dt.date(2026, 3, 5), 1, "TECHNICAL_VALIDATION"),
        (dt.date(2026, 3, 2), 2, "QUALIFIED"),
    ]


def test_files_are_taken_in_business_date_feed_name_order(tmp_path, settings):
    """Of byte-identical files, the first in (business date, feed, file name) order is the one landed."""
    inbox = tmp_path / "inbox"
    content = csv_text([row("partners", partner_id="P2")])
    write(inbox, "partners", "2026-03-02", "a.csv", content)
    write(inbox, "partners", "2026-03-01", "z.csv", content)
    write(inbox, "partners", "2026-03-01", "b.csv", content)
    land(inbox, settings)
    assert query(settings, "SELECT file_path, status FROM raw.load_audit ORDER BY file_path") == [
        ("partners/2026-03-01/b.csv", "LANDED"),
        ("partners/2026-03-01/z.csv", "DUPLICATE"),
        ("partners/2026-03-02/a.csv", "DUPLICATE"),
    ]


def test_many_files_of_a_feed_land_together_with_their_own_lineage(tmp_path, settings):
    inbox = tmp_path / "inbox"
    for day in range(1, 8):
        rows = [row("deals", deal_id=f"D{day}-{i}", stage="NOPE" if (day, i) == (4, 2) else "QUALIFIED") for i in range(1, 4)]
        write(inbox, "deals", f"2026-03-0{day}", "deals.csv", csv_text(rows))
    broken = inbox / "deals" / "2026-03-05" / "deals.csv"
    broken.write_bytes(broken.read_bytes() + b"D5-4,short\n" + csv_text([row("deals", deal_id="D5-5")]).split("\n", 1)[1].encode())
    summary = land(inbox, settings)
    assert (summary.files["LANDED"], summary.rows_landed, summary.rows_rejected) == (7, 21, 2)
    assert query(settings, "SELECT file_path, rows_landed, rows_rejected FROM raw.load_audit WHERE rows_rejected > 0 ORDER BY 1") == [
        ("deals/2026-03-04/deals.csv", 2, 1),
        ("deals/2026-03-05/deals.csv", 4, 1),
    ]
    assert query(settings, "SELECT business_date, row_number, left(reason, 26) FROM raw.rejects ORDER BY 1") == [
        (dt.date(2026, 3, 4), 2, "stage: 'NOPE' is not one o"),
        (dt.date(2026, 3, 5), 4, "wrong column count: expect"),
    ]
    assert query(settings, "SELECT deal_id, _business_date, _row_number FROM raw.deals WHERE _business_date IN ('2026-03-04', '2026-03-05') ORDER BY 2, 3") == [
        ("D4-1", dt.date(2026, 3, 4), 1),
        ("D4-3", dt.date(2026, 3, 4), 3),
        ("D5-1", dt.date(2026, 3, 5), 1),
        ("D5-2", dt.date(2026, 3, 5), 2),
        ("D5-3", dt.date(2026, 3, 5), 3),
        ("D5-5", dt.date(2026, 3, 5), 5),
    ]


def test_an_unreadable_file_among_many_is_quarantined_and_the_others_land(tmp_path, settings):
    inbox = tmp_path / "inbox"
    for day in range(1, 4):
        rows = [row("deals", deal_id=f"D{day}-{i}", customer_name="x" * 300) for i in range(400)]
        write(inbox, "deals", f"2026-03-0{day}", "deals.csv.gz", csv_text(rows))
    bad = inbox / "deals" / "2026-03-02" / "deals.csv.gz"
    bad.write_bytes(bad.read_bytes()[:-200])
    summary = land(inbox, settings)
    assert summary.files == {"LANDED": 2, "DUPLICATE": 0, "QUARANTINED": 1}
    assert query(settings, "SELECT _business_date, count(*) FROM raw.deals GROUP BY 1 ORDER BY 1") == [
        (dt.date(2026, 3, 1), 400),
        (dt.date(2026, 3, 3), 400),
    ]


BAD_ROWS = [
    ("unknown enum", row("deals", motion="RESELL"), "motion: 'RESELL' is not one of"),
    ("lower-case enum", row("deals", stage="closed_won"), "stage: 'closed_won' is not one of"),
    ("unparseable date", row("deals", expected_close_on="2026-02-30"), "expected_close_on: '2026-02-30' is not a date"),
    ("unparseable timestamp", row("deals", registered_at="yesterday"), "registered_at: 'yesterday' is not an ISO-8601"),
    ("unparseable number", row("deals", amount="12,000"), "amount: '12,000' is not a non-negative decimal"),
    ("three decimals", row("deals", amount="10.005"), "amount: '10.005' is not a non-negative decimal"),
    ("negative amount", row("deals", amount="-5.00"), "amount: '-5.00' is not a non-negative decimal"),
    ("complexity out of range", row("deals", complexity="6"), "complexity: '6' is not a whole number in [1, 5]"),
    ("missing key", row("deals", deal_id=""), "deal_id: missing required value"),
    ("missing required", row("deals", customer_id=""), "customer_id: missing required value"),
    ("bad boolean", row("deals", is_deleted="yes"), "is_deleted: 'yes' is not true or false"),
    ("bad currency", row("deals", currency="eur"), "currency: 'eur' is not a three-letter"),
    ("direct with partner", row("deals", motion="DIRECT"), "partner_id must be empty exactly when motion is DIRECT"),
    ("partner deal without partner", row("deals", partner_id=""), "partner_id must be empty exactly when motion is DIRECT"),
    ("marketplace off-motion", row("deals", marketplace="AWS"), "marketplace is set only for motion MARKETPLACE"),
    ("closed without closed_at", row("deals", stage="CLOSED_WON"), "closed_at must be set exactly when stage is"),
    ("open with closed_at", row("deals", closed_at="2026-03-09T00:00:00Z"), "closed_at must be set exactly when stage is"),
]


@pytest.mark.parametrize("label, bad, reason", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_contract_breaking_row_is_rejected_with_reason_and_the_rest_lands(tmp_path, settings, label, bad, reason):
    inbox = tmp_path / "inbox"
    rows = [row("deals", deal_id="OK1"), dict(bad), row("deals", deal_id="OK2")]
    write(inbox, "deals", "2026-03-01", "deals.csv", csv_text(rows, contract_columns("deals")))
    summary = land(inbox, settings)
    assert (summary.rows_landed, summary.rows_rejected) == (2, 1)
    rejects = query(settings, "SELECT feed, file_name, row_number, reason, raw_line FROM raw.rejects")
    assert len(rejects) == 1
    feed, file_name, row_number, got_reason, raw_line = rejects[0]
    assert (feed, file_name, row_number) == ("deals", "deals.csv", 2)
    assert reason in got_reason
    assert raw_line.split(",")[0] == (bad["deal_id"] or "")
    assert query(settings, "SELECT deal_id, _row_number FROM raw.deals ORDER BY _row_number") == [("OK1", 1), ("OK2", 3)]


@pytest.mark.parametrize(
    "survey, score, ok",
    [("COSELL_ENGAGEMENT", "0", False), ("COSELL_ENGAGEMENT", "5", True), ("PROGRAM_NPS", "0", True), ("PROGRAM_NPS", "11", False)],
)
def test_score_must_lie_in_its_survey_range(tmp_path, settings, survey, score, ok):
    inbox = tmp_path / "inbox"
    write(inbox, "satisfaction", "2026-03-10", "s.csv", csv_text([row("satisfaction", survey_type=survey, score=score)]))
    summary = land(inbox, settings)
    assert (summary.rows_landed, summary.rows_rejected) == ((1, 0) if ok else (0, 1))


def test_structurally_broken_lines_are_rejected_with_their_row_number(tmp_path, settings):
    inbox = tmp_path / "inbox"
    columns = contract_columns("partners")
    good = csv_text([row("partners", partner_id="P1"), row("partners", partner_id="P2", partner_name="Two\nLines")], columns)
    lines = good.encode()
    lines += b"P3,Short,SI\n"  # wrong column count
    lines += csv_text([row("partners", partner_id="P4", partner_name="Caf\xe9")], columns).split("\n", 1)[1].encode("latin-1")
    lines += csv_text([row("partners", partner_id="P5")], columns).split("\n", 1)[1].encode()
    write(inbox, "partners", "2026-03-01", "p.csv", lines)
    summary = land(inbox, settings)
    assert (summary.rows_landed, summary.rows_rejected) == (3, 2)
    assert query(settings, "SELECT row_number, reason FROM raw.rejects ORDER BY row_number") == [
        (3, "wrong column count: expected 11, found 3"),
        (4, "row is not valid UTF-8 (bad bytes shown as ?)"),
    ]
    assert query(settings, "SELECT partner_id, partner_name, _row_number FROM raw.partners ORDER BY _row_number") == [
        ("P1", "Acme Systems", 1),
        ("P2", "Two\nLines", 2),
        ("P5", "Acme Systems", 5),
    ]


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("missing.csv", "deal_id,partner_id\nD1,P1\n", "missing required column(s): customer_id"),
        ("empty.csv", "", "empty file: no header row"),
        ("dup.csv", "deal_id,deal_id\n", "duplicate column name(s): deal_id"),
        ("notes.txt", "hello", "unsupported file type"),
    ],
)
def test_invalid_file_is_quarantined_as_a_copy_and_lands_nothing(tmp_path, settings, name, content, reason):
    inbox = tmp_path / "inbox"
    path = write(inbox, "deals", "2026-03-01", name, content)
    write(inbox, "deals", "2026-03-01", "zz_good.csv", csv_text([row("deals")]))
    summary = land(inbox, settings)
    assert summary.files == {"LANDED": 1, "DUPLICATE": 0, "QUARANTINED": 1}
    status, got_reason, copy = query(
        settings, f"SELECT status, reason, quarantine_path FROM raw.load_audit WHERE file_name = '{name}'"
    )[0]
    assert status == "QUARANTINED" and reason in got_reason
    assert Path(copy).read_bytes() == path.read_bytes() and Path(copy).is_relative_to(settings.quarantine_dir)
    assert path.exists()
    assert query(settings, "SELECT count(*) FROM raw.deals") == [(1,)]


def test_truncated_gzip_is_quarantined_with_no_row_landed(tmp_path, settings):
    inbox = tmp_path / "inbox"
    rows = [row("deals", deal_id=f"D{i}", customer_name=f"Customer {i} " + "x" * 200) for i in range(3000)]
    path = write(inbox, "deals", "2026-03-01", "big.csv.gz", csv_text(rows))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    summary = land(inbox, settings)
    assert summary.files["QUARANTINED"] == 1
    assert query(settings, "SELECT count(*) FROM raw.deals") == [(0,)]
    assert query(settings, "SELECT count(*) FROM raw.rejects") == [(0,)]
    assert "cannot read file" in query(settings, "SELECT reason FROM raw.load_audit")[0][0]


def test_extra_column_is_kept(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "a.csv", csv_text([row("deals", crm_owner="jane")]))
    write(inbox, "deals", "2026-03-02", "b.csv", csv_text([row("deals", deal_id="D2")]))
    land(inbox, settings)
    assert query(settings, "SELECT deal_id, crm_owner FROM raw.deals ORDER BY deal_id") == [("D1", "jane"), ("D2", None)]


def test_columns_are_matched_by_name_in_any_order(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "fx_rates", "2026-03-01", "fx.csv", "usd_per_unit,currency,rate_date\n0.006634,JPY,2026-03-01\n")
    land(inbox, settings)
    assert query(settings, "SELECT rate_date, currency, usd_per_unit FROM raw.fx_rates") == [
        (dt.date(2026, 3, 1), "JPY", Decimal("0.006634000000"))
    ]


def test_csv_gz_and_parquet_inputs(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "a.csv.gz", csv_text([row("deals")]))
    table = pa.table(
        {
            "rate_date": pa.array([dt.date(2026, 3, 1)], pa.date32()),
            "currency": ["EUR"],
            "usd_per_unit": pa.array([Decimal("1.08")], pa.decimal128(18, 2)),
        }
    )
    target = inbox / "fx_rates" / "2026-03-01"
    target.mkdir(parents=True)
    pq.write_table(table, target / "fx.parquet")
    partners = pa.table(
        {
            **{k: [v] for k, v in row("partners").items() if k not in ("certified_specialists", "onboarded_on", "is_active", "updated_at", "parent_partner_id")},
            "parent_partner_id": pa.array([None], pa.string()),
            "certified_specialists": pa.array([12], pa.int32()),
            "onboarded_on": pa.array([dt.date(2024, 2, 1)], pa.date32()),
            "is_active": [True],
            "updated_at": pa.array([dt.datetime(2026, 3, 1, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))], pa.timestamp("us", tz="+02:00")),
        }
    )
    (inbox / "partners" / "2026-03-01").mkdir(parents=True)
    pq.write_table(partners, inbox / "partners" / "2026-03-01" / "p.parquet")
    summary = land(inbox, settings)
    assert summary.files["LANDED"] == 3 and summary.rows_rejected == 0
    assert query(settings, "SELECT deal_id FROM raw.deals") == [("D1",)]
    assert query(settings, "SELECT usd_per_unit FROM raw.fx_rates") == [(Decimal("1.080000000000"),)]
    assert query(settings, "SELECT updated_at, is_active, _row_number FROM raw.partners") == [(dt.datetime(2026, 3, 1, 9, 0), True, 1)]


def test_every_readable_file_accounts_for_each_data_row(tmp_path, settings):
    inbox = tmp_path / "inbox"
    rows = [row("engagements", request_id=f"R{i}", status="NOPE" if i % 7 == 0 else "ACCEPTED") for i in range(50)]
    write(inbox, "engagements", "2026-03-03", "e.csv", csv_text(rows))
    land(inbox, settings)
    assert query(settings, "SELECT rows_landed, rows_rejected FROM raw.load_audit") == [(42, 8)]
    assert query(settings, "SELECT count(*) FROM raw.engagements") == [(42,)]


def test_links_and_paths_outside_the_inbox_are_never_followed(tmp_path, settings):
    inbox = tmp_path / "inbox"
    outside = tmp_path / "secret"
    write(outside, "deals", "2026-03-01", "x.csv", csv_text([row("deals", deal_id="OUTSIDE")]))
    write(inbox, "deals", "2026-03-01", "a.csv", csv_text([row("deals")]))
    os.symlink(outside / "deals" / "2026-03-01" / "x.csv", inbox / "deals" / "2026-03-01" / "link.csv")
    os.symlink(outside / "deals" / "2026-03-01", inbox / "deals" / "2026-03-02")
    os.symlink(outside / "deals", inbox / "fx_rates")
    summary = land(inbox, settings)
    assert query(settings, "SELECT deal_id FROM raw.deals") == [("D1",)]
    quarantined = query(settings, "SELECT file_path, reason, quarantine_path FROM raw.load_audit WHERE status = 'QUARANTINED' ORDER BY 1")
    assert [q[0] for q in quarantined] == ["deals/2026-03-01/link.csv", "deals/2026-03-02", "fx_rates"]
    assert all(q[2] is None for q in quarantined)
    assert summary.files["QUARANTINED"] == 3
    land(inbox, settings)
    assert query(settings, "SELECT count(*) FROM raw.load_audit") == [(4,)]


def test_the_inbox_is_never_changed(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "a.csv", csv_text([row("deals"), row("deals", deal_id="", stage="X")]))
    write(inbox, "deals", "2026-03-01", "b.csv", "")
    before = tree_digest(inbox)
    land(inbox, settings)
    assert tree_digest(inbox) == before


def test_missing_inbox_is_a_one_line_error(tmp_path, settings):
    with pytest.raises(CosellError, match="is not a folder"):
        land(tmp_path / "nope", settings)
