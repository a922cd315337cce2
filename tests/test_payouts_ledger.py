"""payouts.lines: the warehouse table of payout lines for BI, kept in step with the period's files."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal as D
from pathlib import Path

import duckdb
import pytest
from payout_marts import T, build_warehouse, deal, make_settings
from test_payouts_lifecycle import PERIOD, read_csv, scenario

from cosell.errors import CosellError
from cosell.payouts import lifecycle
from cosell.payouts.lifecycle import approve_period, run_period
from cosell.publish.report import payout_chart

COLUMNS = ["period", "status", "adjustment_set", "line_id", "partner_id", "partner_name", "partner_type",
           "partner_tier", "rule_id", "deal_id", "basis_usd", "rate", "amount_usd", "plan_id"]


@pytest.fixture
def settings(tmp_path):
    s = make_settings(tmp_path)
    build_warehouse(s, **scenario())
    return s


def query(settings, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def rows(settings, period: str = PERIOD) -> list[tuple]:
    return query(settings, f"select {', '.join(COLUMNS)} from payouts.lines where period = ? "
                           "order by adjustment_set nulls first, line_id", [period])


def totals_by_rule(settings, where: str, params=()) -> dict[str, dict[str, str]]:
    found = query(settings, f"select rule_id, count(*), sum(amount_usd) from payouts.lines where {where} group by 1",
                  params)
    return {rule: {"lines": n, "amount_usd": f"{amount:.2f}"} for rule, n, amount in found}


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_draft_rows_tie_to_the_manifest_control_totals(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    folder = tmp_path / "out" / PERIOD
    m = manifest(folder)
    nonzero = {rule: t for rule, t in m["control_totals"].items() if t["lines"]}
    assert totals_by_rule(settings, "period = ?", [PERIOD]) == nonzero
    assert query(settings, "select sum(amount_usd) from payouts.lines")[0][0] == D(m["total_usd"])

    got = rows(settings)
    lines = read_csv(folder / "payout_lines.csv")
    assert len(got) == len(lines) == 11
    assert {r[3] for r in got} == {l["line_id"] for l in lines}
    assert all(r[1] == "DRAFT" and r[2] is None and r[13] == "default-v1" for r in got)
    cap = next(r for r in got if r[8] == "CAP_ADJUSTMENT")
    assert (cap[4], cap[9], cap[10], cap[11], cap[12]) == ("P1", None, D("26000.00"), None, D("-1000.00"))
    d41 = next(r for r in got if r[9] == "D41")
    assert (d41[7], d41[10], d41[11], d41[12]) == ("GOLD", D("1234.50"), "0.015", D("18.52"))
    types = dict(query(settings, "select column_name, data_type from duckdb_columns() "
                                 "where schema_name = 'payouts' and table_name = 'lines'"))
    assert list(types) == COLUMNS
    assert (types["basis_usd"], types["amount_usd"], types["adjustment_set"]) == (
        "DECIMAL(18,2)", "DECIMAL(18,2)", "INTEGER")


def test_rerun_on_unchanged_data_leaves_rows_and_warehouse_unchanged(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    first, before = rows(settings), digest(settings.warehouse)
    run_period(PERIOD, tmp_path / "out", settings)
    assert rows(settings) == first
    assert digest(settings.warehouse) == before  # nothing differed, so nothing was written


def test_empty_period_leaves_no_rows(settings, tmp_path):
    run_period("2025-01", tmp_path / "out", settings)
    assert rows(settings, "2025-01") == []


@pytest.mark.slow
def test_draft_rerun_after_data_changed_replaces_rows(settings, tmp_path):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    run_period("2025-01", out, settings)
    build_warehouse(settings, **scenario(D12=None, D32=deal("D32", "P3", "500.00", T(2026, 3, 20))))
    run_period(PERIOD, out, settings)
    m = manifest(out / PERIOD)
    got = rows(settings)
    assert len(got) == m["files"]["payout_lines.csv"]["rows"] == 10  # D12 and the cap line gone, D32 new
    ids = {r[3] for r in got}
    assert f"{PERIOD}:COSELL_ACCELERATOR:P3:D32" in ids
    assert f"{PERIOD}:COSELL_ACCELERATOR:P1:D12" not in ids and f"{PERIOD}:CAP_ADJUSTMENT:P1:-" not in ids
    assert query(settings, "select sum(amount_usd) from payouts.lines")[0][0] == D(m["total_usd"])
    assert query(settings, "select count(*) from payouts.lines where status <> 'DRAFT' or adjustment_set is not null") == [(0,)]

    # every line gone from the data: the period keeps no rows
    build_warehouse(settings, **dict(scenario(), deals=[]))
    run_period(PERIOD, out, settings)
    assert rows(settings) == []


def test_approval_marks_the_period_rows_approved(settings, tmp_path):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    run_period("2026-02", out, settings)
    draft = rows(settings)
    other = rows(settings, "2026-02")
    approve_period(PERIOD, out, settings, approved_by="fin")
    approved = rows(settings)
    assert [r[1] for r in approved] == ["APPROVED"] * len(draft)
    assert [r[:1] + r[2:] for r in approved] == [r[:1] + r[2:] for r in draft]
    assert rows(settings, "2026-02") == other  # another period's drafts are untouched
    assert query(settings, "select count(*) from payouts.approvals") == [(1,)]
    # an approved period rerun on unchanged data: no set, no change
    before = digest(settings.warehouse)
    assert "nothing changed" in run_period(PERIOD, out, settings).describe()
    assert rows(settings) == approved and digest(settings.warehouse) == before


@pytest.mark.slow
def test_changed_data_after_approval_adds_adjustment_rows(settings, tmp_path):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    approve_period(PERIOD, out, settings, approved_by="fin")
    approved = rows(settings)
    build_warehouse(settings, **scenario(
        D12=None,
        D61=deal("D61", "P6", "2000.00", T(2026, 3, 15)),
        D32=deal("D32", "P3", "500.00", T(2026, 3, 20)),
    ))
    run_period(PERIOD, out, settings)
    m = manifest(out / PERIOD / "adjustments" / "1")
    set_rows = [r for r in rows(settings) if r[2] is not None]
    assert [r for r in rows(settings) if r[2] is None] == approved
    assert {r[2] for r in set_rows} == {1} and {r[1] for r in set_rows} == {"APPROVED"}
    assert len(set_rows) == m["files"]["adjustment_lines.csv"]["rows"] == 4
    assert sum(r[12] for r in set_rows) == D(m["total_usd"]) == D("-4977.50")
    nonzero = {rule: t for rule, t in m["control_totals"].items() if t["lines"]}
    assert totals_by_rule(settings, "adjustment_set = 1") == nonzero
    clawback = next(r for r in set_rows if r[9] == "D12")
    assert (clawback[10], clawback[12]) == (D("300000.00"), D("-6000.00"))  # fields of the issued line, negative

    # the same data again: no set 2, rows unchanged
    before = rows(settings)
    run_period(PERIOD, out, settings)
    assert rows(settings) == before
    # issued lines net to what the data says now
    recomputed = query(settings, "select sum(amount_usd) from payouts.lines where period = ?", [PERIOD])[0][0]
    assert recomputed == D(manifest(out / PERIOD)["total_usd"]) + D("-4977.50")


@pytest.mark.slow
def test_approved_period_rows_are_restored_from_its_files(settings, tmp_path):
    """A period approved before the table existed (or rows lost) is recorded again by its next run."""
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    approve_period(PERIOD, out, settings, approved_by="fin")
    build_warehouse(settings, **scenario(D12=None))
    run_period(PERIOD, out, settings)
    expected = rows(settings)
    con = duckdb.connect(str(settings.warehouse))
    con.execute("drop table payouts.lines")
    con.close()
    assert "nothing changed" in run_period(PERIOD, out, settings).describe()
    assert rows(settings) == expected


def test_failed_file_step_leaves_rows_as_they_were(settings, tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    before = rows(settings)
    build_warehouse(settings, **scenario(D12=None))

    def fail(*args, **kwargs):
        raise CosellError("disk full")

    monkeypatch.setattr(lifecycle, "_publish_dir", fail)
    with pytest.raises(CosellError, match="disk full"):
        run_period(PERIOD, out, settings)
    assert rows(settings) == before


def test_locked_warehouse_fails_before_any_file_is_written(settings, tmp_path, monkeypatch):
    def locked(*args, **kwargs):
        raise CosellError(f"warehouse {settings.warehouse} is in use by another process")

    real_connect = lifecycle.connect
    monkeypatch.setattr(lifecycle, "connect",
                        lambda s, path=None, read_only=False: real_connect(s, path, read_only) if read_only else locked())
    with pytest.raises(CosellError, match="in use"):
        run_period(PERIOD, tmp_path / "out", settings)
    assert not (tmp_path / "out" / PERIOD).exists()


def chart(settings):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        fig, note = payout_chart(con)
    finally:
        con.close()
    assert note is None
    bars = {trace.name: trace for trace in fig.data if trace.type == "bar"}
    net = next(trace for trace in fig.data if trace.type == "scatter")
    axis = fig.layout.xaxis
    return bars, net, axis.title.text, dict(zip(axis.tickvals, axis.ticktext))


def test_payout_chart_reads_the_table_and_says_drafts_are_included(settings, tmp_path):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    bars, net, title, labels = chart(settings)
    assert "DRAFT" in title and "DRAFT" in net.name
    assert list(net.x) == [PERIOD] and labels[PERIOD] == f"{PERIOD} (draft)"
    assert D(bars["COSELL_ACCELERATOR"].customdata[0][0]) == D("51052.52")
    assert net.text[0] == "57,564.86"

    approve_period(PERIOD, out, settings, approved_by="fin")
    build_warehouse(settings, **scenario(D12=None))
    run_period(PERIOD, out, settings)  # adjustment set 1: D12 clawed back, the cap line given back
    bars, net, title, labels = chart(settings)
    assert labels[PERIOD] == PERIOD  # approved lines and an issued set: no draft left in the period
    assert "DRAFT" in title  # the chart always says what it sums
    assert D(bars["CAP_ADJUSTMENT"].customdata[0][0]) == D("0.00")  # -1000.00 issued, +1000.00 in set 1
    expected = query(settings, "select sum(amount_usd) from payouts.lines where period = ?", [PERIOD])[0][0]
    assert expected == D("57564.86") - D("5000.00") and net.text[0] == "52,564.86"


def test_replace_rows_round_trips_many_lines_in_one_insert():
    from cosell.payouts import ledger

    records = [dict(period=PERIOD, line_id=f"{PERIOD}:R:P{i:05d}:-", partner_id=f"P{i:05d}", partner_name="Ünïcode, \"q\"",
                    partner_type="VAR", partner_tier="GOLD", rule_id="CAP_ADJUSTMENT" if i % 7 == 0 else "R",
                    deal_id="" if i % 7 == 0 else f"D{i}", basis_usd="" if i % 11 == 0 else "1234567890123456.78",
                    rate="" if i % 7 == 0 else "0.0125", amount_usd=f"-{i}.05") for i in range(3000)]
    rows = ledger.line_rows(records, ledger.APPROVED, "v1", adjustment_set=2)
    con = duckdb.connect()
    try:
        con.execute("begin")
        assert ledger.replace_rows(con, PERIOD, rows, 2)
        con.execute("commit")
        assert ledger.period_rows(con, PERIOD, 2) == rows  # ids sort in file order here
        assert ledger.period_rows(con, PERIOD) == []
        assert not ledger.replace_rows(con, PERIOD, rows, 2)
        assert ledger.replace_rows(con, PERIOD, rows[:10], 2) and len(ledger.period_rows(con, PERIOD, 2)) == 10
    finally:
        con.close()
    with duckdb.connect() as con, pytest.raises(CosellError, match="appears twice"):
        ledger.replace_rows(con, PERIOD, rows[:3] + rows[2:3], 2)
    with pytest.raises(CosellError, match="cannot be recorded"):
        ledger.line_rows([dict(records[1], amount_usd="x")], ledger.DRAFT, "v1")


def test_replace_rows_writes_only_the_difference():
    from cosell.payouts import ledger

    records = [dict(period=PERIOD, line_id=f"{PERIOD}:R:P{i:05d}:D{i}", partner_id=f"P{i:05d}", partner_name="n",
                    partner_type="VAR", partner_tier="GOLD", rule_id="R", deal_id=f"D{i}", basis_usd="100.00",
                    rate="0.01", amount_usd="1.00") for i in range(50)]
    con = duckdb.connect()
    try:
        ledger.replace_rows(con, PERIOD, ledger.line_rows(records, ledger.DRAFT, "v1"))
        before = dict(con.execute("select line_id, rowid from payouts.lines").fetchall())
        records[7] = dict(records[7], amount_usd="2.00")  # changed
        records[8] = dict(records[8], deal_id="", basis_usd="")  # a value to NULL
        del records[9]  # gone
        records.append(dict(records[0], line_id=f"{PERIOD}:R:P99999:D99999", partner_id="P99999"))  # new
        rows = ledger.line_rows(records, ledger.DRAFT, "v1")
        assert ledger.replace_rows(con, PERIOD, rows)
        assert ledger.period_rows(con, PERIOD) == sorted(rows, key=lambda row: row[ledger.LINE_ID])
        after = dict(con.execute("select line_id, rowid from payouts.lines").fetchall())
        kept = [line_id for line_id in after if line_id in before and after[line_id] == before[line_id]]
        assert len(kept) == 47 and records[7]["line_id"] not in kept and records[8]["line_id"] not in kept
        assert not ledger.replace_rows(con, PERIOD, rows)
        assert ledger.period_rows(con, PERIOD, 1) == []  # other sets untouched, none stored
    finally:
        con.close()
