"""What finance sees: DRAFT or APPROVED on every sheet and statement, a workbook worth keeping, safe CSV text, warnings."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import duckdb
import openpyxl
import pytest
from payout_marts import T, build_warehouse, deal, make_settings, partner, request

from cosell import cli
from cosell.payouts import files as F
from cosell.payouts.lifecycle import approve_period, run_period

PERIOD = "2026-03"
HOSTILE = {  # partner names a spreadsheet would run as formulas
    "P2": '=HYPERLINK("http://evil.example/","click")',
    "P3": "+1+2",
    "P4": "-2+3",
    "P5": "@SUM(A1)",
    "P6": "\tTabbed",
    "P7": "'quoted already",
}


def scenario() -> dict:
    partners = [partner("P1", "VAR", "PLATINUM", name="Acme Channel, Inc.")] + [
        partner(pid, "VAR", "GOLD", name=name) for pid, name in HOSTILE.items()]
    deals = [
        deal("D11", "P1", "1000000.00", T(2026, 3, 10)),
        deal("D12", "P1", "300000.00", T(2026, 3, 11)),  # P1 above the cap: a negative CAP_ADJUSTMENT line
    ] + [deal(f"D{pid}", pid, "1234.50", T(2026, 3, 14)) for pid in HOSTILE]
    requests = [request(f"R{i}", "P1", T(2026, 1 + i, 3)) for i in range(3)]
    return dict(partners=partners, deals=deals, requests=requests)


@pytest.fixture
def settings(tmp_path):
    s = make_settings(tmp_path)
    build_warehouse(s, **scenario())
    return s


def sheets(path: Path) -> dict[str, list[list]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}


def documents(folder: Path) -> list[Path]:
    return [folder / f"payouts_{PERIOD}.xlsx"] + sorted((folder / "statements").glob("*.html"))


# ---------------------------------------------------------------- status


def test_draft_is_marked_on_every_sheet_and_statement(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    folder = tmp_path / "out" / PERIOD
    for title, rows in sheets(folder / f"payouts_{PERIOD}.xlsx").items():
        assert rows[0][0].startswith("DRAFT, not approved"), title
        assert "Plan default-v1; warehouse data as of 2026-04-05" in rows[0][0]
    statements = sorted((folder / "statements").glob("*.html"))
    assert len(statements) == 7
    for path in statements:
        html = path.read_text()
        assert '<p class="status draft" id="status">DRAFT, not approved' in html
        assert "<title>DRAFT:" in html and "APPROVED" not in html


def test_approval_marks_every_document_with_who_and_when(settings, tmp_path):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    folder = out / PERIOD
    draft = sheets(folder / f"payouts_{PERIOD}.xlsx")
    draft_html = {p.name: p.read_text() for p in (folder / "statements").glob("*.html")}
    approve_period(PERIOD, out, settings, approved_by="finance@example.com")
    manifest = json.loads((folder / "manifest.json").read_text())
    at = manifest["approved_at"].replace("T", " ").removesuffix("Z")
    approved = sheets(folder / f"payouts_{PERIOD}.xlsx")
    for title, rows in approved.items():
        assert rows[0][0].startswith(f"APPROVED by finance@example.com at {at} UTC: period {PERIOD} is final"), title
        assert rows[1:] == draft[title][1:]  # the same cells: only the status changed
    for path in (folder / "statements").glob("*.html"):
        html = path.read_text()
        assert f"APPROVED by finance@example.com at {at} UTC" in html and "DRAFT" not in html
        strip = re.compile(r'<p class="status[^"]*" id="status">.*?</p>|\((DRAFT|APPROVED)\)|<title>\w+:')
        assert strip.sub("", html) == strip.sub("", draft_html[path.name])
    for name, entry in manifest["files"].items():  # the manifest vouches for the approved bytes
        assert F.sha256((folder / name).read_bytes()) == entry["sha256"]
        assert (folder / name).stat().st_mode & 0o222 == 0
    before = {p: p.read_bytes() for p in documents(folder)}
    assert "nothing changed" in run_period(PERIOD, out, settings).describe()
    assert {p: p.read_bytes() for p in documents(folder)} == before


# ---------------------------------------------------------------- CSV injection


def test_finance_csvs_neutralise_formula_text_and_read_back_exactly(settings, tmp_path):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    folder = out / PERIOD
    raw = (folder / "payout_lines.csv").read_text()
    lines = {r["partner_id"]: r for r in F.parse_csv((folder / "payout_lines.csv").read_bytes())
             if r["partner_id"] in HOSTILE}
    for pid, name in HOSTILE.items():
        assert lines[pid]["partner_name"] == name  # read back as it was
    for csv_name in ("payout_lines.csv", "partner_summary.csv", "mdf_eligibility.csv"):
        for row in csv.DictReader(io.StringIO((folder / csv_name).read_text(), newline="")):
            assert not row["partner_name"].startswith(("=", "+", "-", "@", "\t", "\r")), (csv_name, row)
            for column in F.NUMBER_COLUMNS & set(row):
                assert not row[column].startswith("'")  # numbers stay numbers (-1000.00 included)
    assert "'''quoted already" not in raw and "''quoted already" in raw  # a leading quote is doubled once
    cap = [r for r in F.parse_csv((folder / "payout_lines.csv").read_bytes()) if r["rule_id"] == "CAP_ADJUSTMENT"]
    assert cap[0]["amount_usd"] == "-1000.00" and "\n2026-03,2026-03:CAP_ADJUSTMENT:P1:-," in raw
    wb = openpyxl.load_workbook(folder / f"payouts_{PERIOD}.xlsx")
    for ws in wb.worksheets:
        header = [c.value for c in ws[2]]
        col = header.index("partner_name") + 1
        names = {ws.cell(row=r, column=col).value: ws.cell(row=r, column=col).data_type for r in range(3, ws.max_row + 1)}
        for name in HOSTILE.values():
            assert names.get(name) == "s", (ws.title, name)  # text as written, never a formula
    approve_period(PERIOD, out, settings, approved_by="fin")  # the ledger reads the approved CSV back
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    stored = dict(con.execute("select partner_id, any_value(partner_name) from payouts.lines group by 1").fetchall())
    con.close()
    assert {pid: stored[pid] for pid in HOSTILE} == HOSTILE


def test_neutralise_is_reversible():
    for text in ["", "plain", "=1", "+", "-5", "@x", "\tx", "\rx", "'", "''x", "O'Brien", "a=b"]:
        assert F.restore(F.neutralise(text)) == text
        assert not F.neutralise(text).startswith(("=", "+", "-", "@", "\t", "\r"))


# ---------------------------------------------------------------- the workbook


def test_column_width_fits_the_widest_number_shown_a_clawback_included():
    """Only the largest and the smallest number of a column are formatted to size it: a negative one shows a sign."""
    from decimal import Decimal

    columns = ("amt", "note")
    rows = [[Decimal("999.99"), "ab"], [Decimal("-999.99"), None], [Decimal("9.995"), "abcdefghijklmnop"],
            [None, "x"], [True, ""]]
    widths = F._widths(columns, rows)
    assert widths == [len("-999.99") + 1, len("abcdefghijklmnop") + 1]  # wider than the headers (6 and 7)
    rows.append([Decimal("-1234567.5"), "a" * 200])
    assert F._widths(columns, rows) == [len("-1,234,567.50") + 1, F.MAX_WIDTH]


def test_workbook_finance_would_keep(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    wb = openpyxl.load_workbook(tmp_path / "out" / PERIOD / f"payouts_{PERIOD}.xlsx")
    for ws in wb.worksheets:
        header = [c.value for c in ws[2]]
        assert ws.freeze_panes == "A3", ws.title
        assert all(c.font.b for c in ws[2]), ws.title
        assert ws.auto_filter.ref.startswith("A2:"), ws.title
        assert "partner_name" in header, ws.title
        for i, name in enumerate(header, start=1):
            letter = openpyxl.utils.get_column_letter(i)
            width = ws.column_dimensions[letter].width
            assert len(name) < width <= 81, (ws.title, name, width)
        for name in header:
            if name.endswith("_usd"):
                cell = ws.cell(row=3, column=header.index(name) + 1)
                assert cell.data_type == "n" and cell.number_format == "#,##0.00", (ws.title, name)
    lines = wb["lines"]
    header = [c.value for c in lines[2]]
    explanation = openpyxl.utils.get_column_letter(header.index("explanation") + 1)
    assert round(lines.column_dimensions[explanation].width) == 81  # long text capped (80 plus padding)
    mdf = wb["mdf"]
    header = [c.value for c in mdf[2]]
    assert header[header.index("reasons") + 1] == "reasons_in_words"
    rows = {r[header.index("partner_id")]: dict(zip(header, r)) for r in mdf.iter_rows(min_row=3, values_only=True)}
    assert rows["P1"]["partner_name"] == "Acme Channel, Inc." and rows["P1"]["reasons_in_words"] in (None, "")
    assert rows["P2"]["reasons"] == "ENGAGEMENTS"
    assert rows["P2"]["reasons_in_words"] == (
        "ENGAGEMENTS: 0 supported requests in the window, fewer than the plan requires")
    summary = wb["summary"]
    total = [c for c in summary[summary.max_row]]
    assert total[1].value == "TOTAL" and total[1].font.b
    assert summary.auto_filter.ref == f"A2:J{summary.max_row - 1}"  # filtering never hides the TOTAL row


def test_statement_gives_mdf_reasons_in_words(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    html = (tmp_path / "out" / PERIOD / "statements" / "P2.html").read_text()
    assert "ENGAGEMENTS: 0 supported requests in the window, fewer than the plan requires" in html


# ---------------------------------------------------------------- warnings


def run_cli(settings, monkeypatch, capsys, period: str, out: Path) -> tuple[int, str, str]:
    monkeypatch.setenv("COSELL_HOME", str(settings.home))
    monkeypatch.setenv("COSELL_WAREHOUSE", str(settings.warehouse))
    code = cli.main(["payouts", "run", "--period", period, "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_finished_period_with_lines_has_no_warning(settings, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(settings, monkeypatch, capsys, PERIOD, tmp_path / "out")
    assert code == 0 and "DRAFT" in out and err == ""


def test_a_period_not_ended_succeeds_with_a_warning(tmp_path, monkeypatch, capsys):
    s = make_settings(tmp_path)
    build_warehouse(s, **scenario(), as_of=dt.date(2026, 3, 20))
    code, out, err = run_cli(s, monkeypatch, capsys, PERIOD, tmp_path / "out")
    assert code == 0 and "DRAFT" in out
    assert err.count("\n") == 1 and err.startswith("cosell: warning: period 2026-03 had not ended by the warehouse "
                                                  "as_of_date 2026-03-20")
    assert "cannot be approved before data through 2026-03-31" in err
    banner = sheets(tmp_path / "out" / PERIOD / f"payouts_{PERIOD}.xlsx")["summary"][0][0]
    assert banner.startswith("DRAFT, a preview: period 2026-03 had not ended")


def test_a_period_without_deals_succeeds_with_a_warning(settings, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(settings, monkeypatch, capsys, "2024-05", tmp_path / "out")
    assert code == 0 and "0 line(s)" in out
    assert err.count("\n") == 1 and "period 2024-05 has no partner deals in the warehouse" in err


def test_a_period_with_deals_but_no_lines_succeeds_with_a_warning(settings, tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(settings, monkeypatch, capsys, "2025-10", tmp_path / "out")  # deals registered then
    assert code == 0
    assert err.count("\n") == 1 and "period 2025-10 has 8 partner deal(s) but no payout lines" in err
