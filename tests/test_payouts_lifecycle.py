"""End to end on a real DuckDB file: a hand-computed period, files, reruns, approval, adjustments, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import time
from decimal import Decimal as D
from pathlib import Path

import duckdb
import openpyxl
import pytest
from payout_marts import (
    T,
    build_warehouse,
    deal,
    make_settings,
    partner,
    request,
    response,
)

from cosell import cli
from cosell.config import PLANS_DIR
from cosell.errors import CosellError
from cosell.payouts import engine
from cosell.payouts.lifecycle import approve_period, run_period
from cosell.payouts.plans import load_plans, plan_for
from cosell.payouts.rules import parse_period

PERIOD = "2026-03"
MARCH = parse_period(PERIOD)


def scenario(**changes) -> dict:
    """March 2026, hand-computed: see the expected lines in test_period_lines_are_hand_computed."""
    partners = [
        partner("P1", "VAR", "PLATINUM"),
        partner("P2", "SI", "PLATINUM"),
        partner("P3", "MSP", "PLATINUM"),
        partner("P4", "VAR", "PLATINUM"),
        partner("P5", "ISV", "SILVER", name="Isv, \"Quoted\" Ltd"),
        partner("P6", "DISTRIBUTOR", "SILVER"),
        partner("P7", "REFERRAL", "REGISTERED"),
    ]
    versions = [dict(p) for p in partners if p["partner_id"] not in ("P3", "P4")] + [
        dict(partner("P3", "MSP", "GOLD"), updated_at=T(2025, 1, 1)),
        dict(partner("P3", "MSP", "PLATINUM"), updated_at=T(2026, 3, 31, 23, 59, 59)),  # in force at March's end
        dict(partner("P4", "VAR", "GOLD"), updated_at=T(2025, 1, 1)),
        dict(partner("P4", "VAR", "PLATINUM"), updated_at=T(2026, 4, 1, 0, 0, 0)),  # too late: GOLD in March
    ]
    deals = {
        "D11": deal("D11", "P1", "1000000.00", T(2026, 3, 10)),
        "D12": deal("D12", "P1", "300000.00", T(2026, 3, 11)),
        "D21": deal("D21", "P2", "1250000.00", T(2026, 3, 12)),
        "D31": deal("D31", "P3", "1000.00", T(2026, 3, 13)),
        "D41": deal("D41", "P4", "1234.50", T(2026, 3, 14)),
        "D42": deal("D42", "P4", "100.00", T(2026, 3, 31, 23, 59, 59)),
        "D43": deal("D43", "P4", "5000.00", T(2026, 4, 1, 0, 0, 0)),  # won in April
        "D51": deal("D51", "P5", "600000.00", T(2026, 3, 25), technical_validation_at=T(2026, 3, 5), is_new_logo=True,
                    is_cosell_supported=False, first_support_at=None),
        "D61": deal("D61", "P6", "1000.40", T(2026, 3, 15)),
        "D71": deal("D71", "P7", "1234.50", None, technical_validation_at=T(2026, 3, 20)),
        "D72": deal("D72", "P7", "9999.00", T(2026, 3, 2), is_new_logo=True, sourced_by="VENDOR"),
    }
    deals.update(changes)
    requests = [request(f"R1{i}", "P1", T(2026, 1 + i, 3)) for i in range(3)] + [
        request("R20", "P2", T(2026, 2, 1)),
        request("R21", "P2", None, status="REQUESTED", is_supported=False),
    ]
    responses = [response("S1", "P2", 5, T(2026, 2, 2)), response("S2", "P6", 2, T(2026, 2, 2))]
    return dict(partners=partners, versions=versions, deals=[d for d in deals.values() if d is not None],
                requests=requests, responses=responses)


@pytest.fixture
def settings(tmp_path):
    s = make_settings(tmp_path)
    build_warehouse(s, **scenario())
    return s


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_period_lines_are_hand_computed(settings, tmp_path):
    summary = run_period(PERIOD, tmp_path / "out", settings)
    assert "DRAFT" in summary.describe()
    folder = tmp_path / "out" / PERIOD
    lines = read_csv(folder / "payout_lines.csv")
    got = [(l["partner_id"], l["partner_tier"], l["rule_id"], l["deal_id"], l["basis_usd"], l["rate"], l["amount_usd"])
           for l in lines]
    assert got == [
        ("P1", "PLATINUM", "COSELL_ACCELERATOR", "D11", "1000000.00", "0.02", "20000.00"),
        ("P1", "PLATINUM", "COSELL_ACCELERATOR", "D12", "300000.00", "0.02", "6000.00"),
        ("P1", "PLATINUM", "CAP_ADJUSTMENT", "", "26000.00", "", "-1000.00"),
        ("P2", "PLATINUM", "COSELL_ACCELERATOR", "D21", "1250000.00", "0.02", "25000.00"),  # exactly the cap
        ("P3", "PLATINUM", "COSELL_ACCELERATOR", "D31", "1000.00", "0.02", "20.00"),  # tier set 23:59:59 on the 31st
        ("P4", "GOLD", "COSELL_ACCELERATOR", "D41", "1234.50", "0.015", "18.52"),  # 18.5175; tier set 00:00 April 1
        ("P4", "GOLD", "COSELL_ACCELERATOR", "D42", "100.00", "0.015", "1.50"),  # won on the last second
        ("P5", "SILVER", "PIPELINE_CONTRIBUTION", "D51", "600000.00", "0.01", "5000.00"),  # 6000 capped
        ("P5", "SILVER", "NEW_LOGO_BONUS", "D51", "2500.00", "1", "2500.00"),
        ("P6", "SILVER", "COSELL_ACCELERATOR", "D61", "1000.40", "0.0125", "12.50"),  # 12.505 half-even
        ("P7", "REGISTERED", "PIPELINE_CONTRIBUTION", "D71", "1234.50", "0.01", "12.34"),  # 12.345 half-even
    ]
    assert len({l["line_id"] for l in lines}) == len(lines)
    assert all(l["period"] == PERIOD and l["explanation"] for l in lines)
    summaries = {r["partner_id"]: r for r in read_csv(folder / "partner_summary.csv")}
    assert list(summaries) == ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]
    assert summaries["P1"]["cosell_accelerator_usd"] == "25000.00" and summaries["P1"]["lines"] == "3"
    assert summaries["P4"]["partner_tier"] == "GOLD" and summaries["P4"]["total_usd"] == "20.02"
    assert summaries["P5"]["partner_name"] == 'Isv, "Quoted" Ltd'
    assert (summaries["P5"]["pipeline_contribution_usd"], summaries["P5"]["new_logo_bonus_usd"],
            summaries["P5"]["total_usd"]) == ("5000.00", "2500.00", "7500.00")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "DRAFT" and manifest["plan_id"] == "default-v1"
    assert manifest["plan_sha256"] == hashlib.sha256(next(PLANS_DIR.glob("*.yaml")).read_bytes()).hexdigest()
    assert manifest["as_of_date"] == "2026-04-05"
    assert manifest["total_usd"] == "57564.86"
    assert manifest["control_totals"] == {
        "COSELL_ACCELERATOR": {"lines": 7, "amount_usd": "51052.52"},
        "CAP_ADJUSTMENT": {"lines": 1, "amount_usd": "-1000.00"},
        "PIPELINE_CONTRIBUTION": {"lines": 2, "amount_usd": "5012.34"},
        "NEW_LOGO_BONUS": {"lines": 1, "amount_usd": "2500.00"},
    }
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["files"]["payout_lines.csv"]["rows"] == 11
    assert sorted(n for n in manifest["files"] if n.startswith("statements/")) == [
        f"statements/P{i}.html" for i in range(1, 8)]


def test_mdf_file_lists_every_partner(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    rows = {r["partner_id"]: r for r in read_csv(tmp_path / "out" / PERIOD / "mdf_eligibility.csv")}
    assert list(rows) == [f"P{i}" for i in range(1, 8)]
    assert rows["P1"] == {
        "period": PERIOD, "window_start": "2025-10-01", "window_end": "2026-03-31", "partner_id": "P1",
        "partner_name": "Partner P1", "partner_tier": "PLATINUM", "supported_requests": "3", "cosell_csat_avg": "", "supported_won_usd": "1300000.00",
        "is_eligible": "true", "reasons": "", "mdf_allocation_usd": "26000.00",
    }
    assert (rows["P2"]["supported_requests"], rows["P2"]["cosell_csat_avg"], rows["P2"]["reasons"]) == ("1", "5.00", "ENGAGEMENTS")
    assert rows["P6"]["reasons"] == "ENGAGEMENTS|CSAT" and rows["P6"]["mdf_allocation_usd"] == "0.00"
    assert rows["P7"]["reasons"] == "TIER|ENGAGEMENTS"
    assert rows["P4"]["partner_tier"] == "GOLD"


def test_mdf_window_edges_are_counted_in_sql(tmp_path):
    """The engine sums the MDF window in SQL: its first and last second count, the seconds around it do not;
    unsupported requests, other surveys, deals supported after close or not at all do not count."""
    start, end, second = T(2025, 10, 1), T(2026, 4, 1), dt.timedelta(seconds=1)
    deals = [
        deal("W1", "G", "1000.00", start), deal("W2", "G", "234.56", end - second),
        deal("OLD", "G", "5000.00", start - second), deal("APR", "G", "7000.00", end),
        deal("LATE", "G", "8000.00", T(2026, 2, 1), first_support_at=T(2026, 4, 2)),  # its request after the window
        deal("NONE", "G", "9000.00", T(2026, 2, 1), is_cosell_supported=False, first_support_at=None),
    ]
    requests = [request("IN1", "G", start), request("IN2", "G", end - second), request("IN3", "G", T(2026, 1, 1)),
                request("BEFORE", "G", start - second), request("AFTER", "G", end),
                request("OPEN", "G", None, status="REQUESTED", is_supported=False)]
    responses = [response("S1", "G", 4, start), response("S2", "G", 3, end - second),
                 response("S0", "G", 1, start - second), response("S9", "G", 1, end),
                 response("NPS", "G", 0, T(2026, 2, 1), survey_type="PROGRAM_NPS")]
    settings = make_settings(tmp_path)
    build_warehouse(settings, [partner("G", "VAR", "GOLD")], deals, requests, responses)
    plan = plan_for(load_plans(PLANS_DIR), MARCH.first_day)
    (row,) = engine.run_engine(plan, MARCH, settings).result.mdf
    assert (row.window_start, row.window_end) == (start.date(), dt.date(2026, 3, 31))
    assert (row.supported_requests, row.cosell_csat_avg, row.supported_won_usd) == (3, D("3.5"), D("1234.56"))
    assert row.is_eligible and row.mdf_allocation_usd == D("24.69")  # 2% of 1234.56 = 24.6912

    # a deal won in the window with support but without amount_usd (EUR has no rate before 2026-04-05): one line
    other = make_settings(tmp_path / "eur")
    build_warehouse(other, [partner("G", "VAR", "GOLD")], deals + [deal("EUR1", "G", "10.00", T(2026, 2, 1),
                                                                       currency="EUR")], requests, responses)
    with pytest.raises(CosellError, match=r"^deal EUR1 qualifies for \S+ but has no amount_usd"):
        engine.run_engine(plan, MARCH, other)


def test_engine_reads_the_deals_of_the_partner_types_each_rule_pays(tmp_path):
    """The deals query narrows by each rule's partner types too: a REFERRAL's supported won deal (not an
    accelerator type, vendor-sourced so no new logo) and a VAR's deal that reached technical validation (not a
    pipeline type) are not read; every deal read gets a line."""
    settings = make_settings(tmp_path)
    build_warehouse(settings, **scenario(D13=deal("D13", "P1", "50000.00", None, technical_validation_at=T(2026, 3, 9))))
    plan = plan_for(load_plans(PLANS_DIR), MARCH.first_day)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        read = sorted(d.deal_id for d in engine.load_period_data(con, plan, MARCH).deals)
    finally:
        con.close()
    assert read == ["D11", "D12", "D21", "D31", "D41", "D42", "D51", "D61", "D71"]
    paid = {line.deal_id for line in engine.run_engine(plan, MARCH, settings).result.lines if line.deal_id}
    assert paid == set(read)


def test_draft_rerun_is_byte_identical_and_warehouse_untouched(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)  # records the period's lines in payouts.lines
    before = hashlib.sha256(settings.warehouse.read_bytes()).hexdigest()
    first = tree(tmp_path / "out" / PERIOD)
    time.sleep(2.1)  # zip entries carry 2-second timestamps: prove they are fixed
    run_period(PERIOD, tmp_path / "out", settings)
    assert tree(tmp_path / "out" / PERIOD) == first
    assert hashlib.sha256(settings.warehouse.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [PERIOD]  # no temp folders left
    for name in ("payout_lines.csv", "partner_summary.csv", "mdf_eligibility.csv", "manifest.json"):
        assert b"\r" not in first[name]


def test_workbook_money_cells_are_numeric(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    wb = openpyxl.load_workbook(tmp_path / "out" / PERIOD / f"payouts_{PERIOD}.xlsx")
    assert wb.sheetnames == ["summary", "lines", "mdf"]
    lines = wb["lines"]
    header = [c.value for c in lines[2]]  # row 1 is the status banner
    amount = lines.cell(row=8, column=header.index("amount_usd") + 1)
    assert lines.cell(row=8, column=header.index("deal_id") + 1).value == "D41"
    assert amount.data_type == "n" and amount.number_format == "#,##0.00" and amount.value == pytest.approx(18.52)
    cap = lines.cell(row=5, column=header.index("basis_usd") + 1)
    assert cap.data_type == "n" and cap.value == pytest.approx(26000)
    summary = wb["summary"]
    last = [c.value for c in summary[summary.max_row]]
    assert last[1] == "TOTAL" and last[8] == pytest.approx(57564.86)
    assert summary.cell(row=3, column=9).number_format == "#,##0.00"
    mdf = wb["mdf"]
    mdf_header = [c.value for c in mdf[2]]
    allocation = mdf.cell(row=3, column=mdf_header.index("mdf_allocation_usd") + 1)
    assert allocation.data_type == "n" and allocation.value == pytest.approx(26000)
    assert allocation.number_format == "#,##0.00"
    assert wb.properties.created.year == 2000 and wb.properties.modified.year == 2000


def test_statement_explains_each_line(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    html = (tmp_path / "out" / PERIOD / "statements" / "P5.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html
    assert "Isv, &quot;Quoted&quot; Ltd" in html
    assert "technical validation on 2026-03-05" in html and "capped at 5000.00" in html
    assert "New-logo bonus for deal D51" in html and "7500.00" in html
    cap = (tmp_path / "out" / PERIOD / "statements" / "P1.html").read_text()
    assert "Accelerator cap" in cap and "-1000.00" in cap


def test_period_with_no_data_writes_headers_and_zero_totals(settings, tmp_path):
    run_period("2025-01", tmp_path / "out", settings)
    folder = tmp_path / "out" / "2025-01"
    assert (folder / "payout_lines.csv").read_text().count("\n") == 1
    assert (folder / "partner_summary.csv").read_text().count("\n") == 1
    mdf = read_csv(folder / "mdf_eligibility.csv")
    assert len(mdf) == 7 and all(r["mdf_allocation_usd"] == "0.00" for r in mdf)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["total_usd"] == "0.00" and not (folder / "statements").exists()
    assert all(t == {"lines": 0, "amount_usd": "0.00"} for t in manifest["control_totals"].values())


@pytest.mark.slow
def test_empty_warehouse_period(tmp_path):
    s = make_settings(tmp_path)
    build_warehouse(s, partners=[])
    run_period(PERIOD, tmp_path / "out", s)
    assert (tmp_path / "out" / PERIOD / "mdf_eligibility.csv").read_text().count("\n") == 1


# ---------------------------------------------------------------- approval and adjustments


def test_approval_freezes_the_period_and_records_it(settings, tmp_path):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    before = tree(out / PERIOD)
    summary = approve_period(PERIOD, out, settings, approved_by="finance@example.com")
    assert "approved by finance@example.com" in summary.describe()
    manifest_bytes = (out / PERIOD / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    assert manifest["status"] == "APPROVED" and manifest["approved_by"] == "finance@example.com"
    after = tree(out / PERIOD)
    # the CSVs are the reviewed draft's; the workbook and statements now say APPROVED (test_payouts_documents)
    assert {k: v for k, v in after.items() if k.endswith(".csv")} == {k: v for k, v in before.items() if k.endswith(".csv")}
    assert sorted(after) == sorted(before)
    assert {name: hashlib.sha256(after[name]).hexdigest() for name in manifest["files"]} == {
        name: entry["sha256"] for name, entry in manifest["files"].items()}
    for path in (out / PERIOD).rglob("*"):
        if path.is_file():
            assert not os.access(path, os.W_OK) or os.geteuid() == 0
            assert path.stat().st_mode & 0o222 == 0
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    rows = con.execute("select period, approved_by, manifest_sha256, total_usd from payouts.approvals").fetchall()
    con.close()
    assert rows == [(PERIOD, "finance@example.com", hashlib.sha256(manifest_bytes).hexdigest(), D("57564.86"))]
    again = approve_period(PERIOD, out, settings, approved_by="someone-else")
    assert again.already and "already approved by finance@example.com" in again.describe()


def test_changed_data_after_approval_gives_adjustment_sets(settings, tmp_path):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    approve_period(PERIOD, out, settings, approved_by="fin")
    frozen = tree(out / PERIOD)

    # unchanged data: no set
    assert "nothing changed" in run_period(PERIOD, out, settings).describe()
    assert not (out / PERIOD / "adjustments").exists()

    # D12 deleted (clawback, and P1 drops below the cap), D61 re-priced, a new won deal for P3
    build_warehouse(settings, **scenario(
        D12=None,
        D61=deal("D61", "P6", "2000.00", T(2026, 3, 15)),
        D32=deal("D32", "P3", "500.00", T(2026, 3, 20)),
    ))
    summary = run_period(PERIOD, out, settings)
    assert "adjustment set 1" in summary.describe()
    rows = read_csv(out / PERIOD / "adjustments" / "1" / "adjustment_lines.csv")
    got = [(r["partner_id"], r["rule_id"], r["deal_id"], r["issued_amount_usd"], r["recomputed_amount_usd"], r["amount_usd"])
           for r in rows]
    assert got == [
        ("P1", "COSELL_ACCELERATOR", "D12", "6000.00", "0.00", "-6000.00"),
        ("P1", "CAP_ADJUSTMENT", "", "-1000.00", "0.00", "1000.00"),
        ("P3", "COSELL_ACCELERATOR", "D32", "0.00", "10.00", "10.00"),
        ("P6", "COSELL_ACCELERATOR", "D61", "12.50", "25.00", "12.50"),
    ]
    assert list(rows[0]) == ["period", "line_id", "partner_id", "partner_name", "partner_type", "partner_tier",
                             "rule_id", "deal_id", "basis_usd", "rate", "amount_usd", "explanation",
                             "issued_amount_usd", "recomputed_amount_usd"]
    assert rows[0]["explanation"].startswith("Clawback") and rows[0]["basis_usd"] == "300000.00"
    assert rows[0]["line_id"] == "2026-03:COSELL_ACCELERATOR:P1:D12"
    manifest = json.loads((out / PERIOD / "adjustments" / "1" / "manifest.json").read_text())
    assert manifest["adjustment"] == 1 and manifest["total_usd"] == "-4977.50"
    assert manifest["control_totals"]["CAP_ADJUSTMENT"] == {"lines": 1, "amount_usd": "1000.00"}
    assert manifest["approved_manifest_sha256"] == hashlib.sha256(frozen["manifest.json"]).hexdigest()
    assert {k: v for k, v in tree(out / PERIOD).items() if not k.startswith("adjustments")} == frozen

    # same data again: no set 2
    assert "nothing changed" in run_period(PERIOD, out, settings).describe()
    assert not (out / PERIOD / "adjustments" / "2").exists()

    # D61 back to its approved price: set 2 against what sets 0 and 1 issued together
    build_warehouse(settings, **scenario(D12=None, D32=deal("D32", "P3", "500.00", T(2026, 3, 20))))
    run_period(PERIOD, out, settings)
    rows = read_csv(out / PERIOD / "adjustments" / "2" / "adjustment_lines.csv")
    assert [(r["deal_id"], r["issued_amount_usd"], r["recomputed_amount_usd"], r["amount_usd"]) for r in rows] == [
        ("D61", "25.00", "12.50", "-12.50")]
    assert {k: v for k, v in tree(out / PERIOD).items() if not k.startswith("adjustments")} == frozen


@pytest.mark.slow
def test_won_deal_later_lost_is_clawed_back(settings, tmp_path):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    approve_period(PERIOD, out, settings, approved_by="fin")
    lost = deal("D51", "P5", "600000.00", T(2026, 3, 25), technical_validation_at=T(2026, 3, 5), is_new_logo=True,
                is_won=False, stage="CLOSED_LOST", is_cosell_supported=False, first_support_at=None)
    build_warehouse(settings, **scenario(D51=lost))
    run_period(PERIOD, out, settings)
    rows = read_csv(out / PERIOD / "adjustments" / "1" / "adjustment_lines.csv")
    # the pipeline line stays (technical validation was reached in March); the new-logo bonus is clawed back
    assert [(r["rule_id"], r["amount_usd"], r["recomputed_amount_usd"]) for r in rows] == [
        ("NEW_LOGO_BONUS", "-2500.00", "0.00")]


def test_approved_period_needs_the_same_out_folder(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    approve_period(PERIOD, tmp_path / "out", settings, approved_by="fin")
    with pytest.raises(CosellError, match="was approved by fin"):
        run_period(PERIOD, tmp_path / "elsewhere", settings)
    assert not (tmp_path / "elsewhere").exists()


# ---------------------------------------------------------------- bad input: one line, nothing written


def one_line_error(call) -> str:
    with pytest.raises(CosellError) as error:
        call()
    message = str(error.value)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize("period", ["2026-13", "2026-3", "03-2026", "2026/03", ""])
def test_malformed_period(settings, tmp_path, period):
    assert "YYYY-MM" in one_line_error(lambda: run_period(period, tmp_path / "out", settings))
    assert not (tmp_path / "out").exists()


def test_missing_warehouse(tmp_path):
    s = make_settings(tmp_path)
    assert "does not exist" in one_line_error(lambda: run_period(PERIOD, tmp_path / "out", s))
    assert not (tmp_path / "out").exists() and not s.warehouse.exists()


def test_warehouse_without_marts(tmp_path):
    s = make_settings(tmp_path)
    duckdb.connect(str(s.warehouse)).close()
    assert "cosell build" in one_line_error(lambda: run_period(PERIOD, tmp_path / "out", s))
    assert not (tmp_path / "out").exists()


def _plans(tmp_path: Path, *bodies: str) -> Path:
    folder = tmp_path / "plans"
    folder.mkdir()
    for index, body in enumerate(bodies):
        (folder / f"plan{index}.yaml").write_text(body)
    return folder


def test_unknown_rule_type(settings, tmp_path):
    text = next(PLANS_DIR.glob("*.yaml")).read_text().replace("type: mdf_eligibility", "type: mdf_v2")
    plans = _plans(tmp_path, text)
    assert "unknown rule type" in one_line_error(lambda: run_period(PERIOD, tmp_path / "out", settings, plans_dir=plans))
    assert not (tmp_path / "out").exists()


def test_new_logo_bonus_follows_the_plans_sourced_by(tmp_path):
    """A plan paying vendor-sourced new logos pays one won without co-sell support (the engine reads the deals
    each rule can pay as the plan says, not as the default plan does)."""
    text = next(PLANS_DIR.glob("*.yaml")).read_text()
    logo = "sourced_by: PARTNER\n    amount_usd"
    assert logo in text
    plans = _plans(tmp_path, text.replace(logo, "sourced_by: VENDOR\n    amount_usd"))
    settings = make_settings(tmp_path)
    build_warehouse(settings, **scenario(D72=deal("D72", "P7", "9999.00", T(2026, 3, 2), is_new_logo=True,
                                                  sourced_by="VENDOR", is_cosell_supported=False,
                                                  first_support_at=None)))
    run_period(PERIOD, tmp_path / "out", settings, plans_dir=plans)
    logos = [(l["partner_id"], l["deal_id"], l["amount_usd"]) for l in read_csv(tmp_path / "out" / PERIOD / "payout_lines.csv")
             if l["rule_id"] == "NEW_LOGO_BONUS"]
    assert logos == [("P7", "D72", "2500.00")]


def test_plan_with_mdf_only(settings, tmp_path):
    """A plan without line rules reads no deal and writes no line; its MDF file is the default plan's."""
    text = next(PLANS_DIR.glob("*.yaml")).read_text()
    head, rules = text.split("rules:\n")
    mdf = rules[rules.index("  - rule_id: MDF"):]
    plans = _plans(tmp_path, f"{head}rules:\n{mdf}")
    run_period(PERIOD, tmp_path / "out", settings, plans_dir=plans)
    run_period(PERIOD, tmp_path / "default", settings)
    assert read_csv(tmp_path / "out" / PERIOD / "payout_lines.csv") == []
    assert (tmp_path / "out" / PERIOD / "mdf_eligibility.csv").read_bytes() == \
        (tmp_path / "default" / PERIOD / "mdf_eligibility.csv").read_bytes()


def test_overlapping_plan_dates(settings, tmp_path):
    text = next(PLANS_DIR.glob("*.yaml")).read_text()
    plans = _plans(tmp_path, text, text.replace("default-v1", "v2").replace("2020-01-01", "2026-01-01"))
    assert "overlap" in one_line_error(lambda: run_period(PERIOD, tmp_path / "out", settings, plans_dir=plans))
    assert not (tmp_path / "out").exists()


def test_failed_rerun_leaves_the_previous_draft(settings, tmp_path, monkeypatch):
    run_period(PERIOD, tmp_path / "out", settings)
    before = tree(tmp_path / "out")
    real = engine.compute_period

    def drop_a_line(plan, period, data):
        result = real(plan, period, data)
        return type(result)(result.period, result.lines[1:], result.summaries, result.mdf, result.control_totals,
                            result.total_usd)

    monkeypatch.setattr(engine, "compute_period", drop_a_line)
    assert "does not tie back" in one_line_error(lambda: run_period(PERIOD, tmp_path / "out", settings))
    assert tree(tmp_path / "out") == before


@pytest.mark.slow
def test_approve_needs_a_finished_draft(settings, tmp_path):
    assert "run `cosell payouts run" in one_line_error(lambda: approve_period(PERIOD, tmp_path / "out", settings))
    build_warehouse(settings, **scenario(), as_of=__import__("datetime").date(2026, 3, 20))
    run_period(PERIOD, tmp_path / "out", settings)
    assert "had not ended" in one_line_error(lambda: approve_period(PERIOD, tmp_path / "out", settings))
    assert json.loads((tmp_path / "out" / PERIOD / "manifest.json").read_text())["status"] == "DRAFT"


def test_approve_refuses_edited_files(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    (tmp_path / "out" / PERIOD / "payout_lines.csv").write_text("edited\n")
    assert "differs from its manifest" in one_line_error(lambda: approve_period(PERIOD, tmp_path / "out", settings))


def test_cli_prints_one_line_and_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COSELL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COSELL_WAREHOUSE", str(tmp_path / "missing.duckdb"))
    assert cli.main(["payouts", "run", "--period", PERIOD, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cosell: error: ") and "does not exist" in err
    assert not (tmp_path / "out").exists()


def test_cli_run_and_approve(settings, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COSELL_HOME", str(settings.home))
    monkeypatch.setenv("COSELL_WAREHOUSE", str(settings.warehouse))
    assert cli.main(["payouts", "run", "--period", PERIOD, "--out", str(tmp_path / "out")]) == 0
    assert cli.main(["payouts", "approve", "--period", PERIOD, "--out", str(tmp_path / "out"), "--by", "cfo"]) == 0
    out = capsys.readouterr().out
    assert "DRAFT: 11 line(s) for 7 partner(s), total 57564.86 USD" in out and "approved by cfo" in out


def test_adjustment_rows_pure():
    from cosell.payouts.lifecycle import adjustment_rows

    def rec(line_id, deal_id, amount, rule="COSELL_ACCELERATOR"):
        return {"period": PERIOD, "line_id": line_id, "partner_id": "P", "partner_name": "N", "partner_type": "VAR",
                "partner_tier": "GOLD", "rule_id": rule, "deal_id": deal_id, "basis_usd": "1.00", "rate": "0.015",
                "amount_usd": amount, "explanation": "why"}

    issued = {"a": (rec("a", "D1", "10.00"), D("10.00")), "b": (rec("b", "D2", "5.00"), D("5.00")),
              "c": (rec("c", "D3", "1.00"), D("1.00"))}
    rows = adjustment_rows(issued, [rec("a", "D1", "10.00"), rec("b", "D2", "7.25"), rec("n", "D4", "0.12")],
                           ["COSELL_ACCELERATOR"])
    assert [(r["line_id"], r["issued_amount_usd"], r["recomputed_amount_usd"], r["amount_usd"]) for r in rows] == [
        ("b", "5.00", "7.25", "2.25"), ("c", "1.00", "0.00", "-1.00"), ("n", "0.00", "0.12", "0.12")]
    assert rows[1]["explanation"].startswith("Clawback") and rows[2]["explanation"].startswith("New line")
    assert adjustment_rows(issued, [rec("a", "D1", "10.00"), rec("b", "D2", "5.00"), rec("c", "D3", "1.00")], []) == []


def test_approve_without_warehouse_keeps_the_draft(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    settings.warehouse.unlink()
    assert "does not exist" in one_line_error(lambda: approve_period(PERIOD, tmp_path / "out", settings))
    manifest = json.loads((tmp_path / "out" / PERIOD / "manifest.json").read_text())
    assert manifest["status"] == "DRAFT" and not settings.warehouse.exists()
    assert os.stat(tmp_path / "out" / PERIOD / "payout_lines.csv").st_mode & 0o200


@pytest.mark.slow
def test_deal_of_unknown_partner_is_an_error(tmp_path):
    s = make_settings(tmp_path)
    build_warehouse(s, partners=[partner("P1")], deals=[deal("D1", "P9", "100.00", T(2026, 3, 3))])
    assert "P9" in one_line_error(lambda: run_period(PERIOD, tmp_path / "out", s))
    assert not (tmp_path / "out").exists()
