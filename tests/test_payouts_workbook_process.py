"""The DRAFT workbook rendered in a child process (payouts/workbook_process.py) while the other files are written."""

from __future__ import annotations

import json

import duckdb
import pytest
from payout_marts import build_warehouse, make_settings
from test_payouts_lifecycle import PERIOD, scenario

from cosell.errors import CosellError
from cosell.payouts import files as F
from cosell.payouts.lifecycle import run_period
from cosell.payouts.workbook_process import WorkbookProcess


@pytest.fixture
def settings(tmp_path):
    s = make_settings(tmp_path)
    build_warehouse(s, **scenario())
    return s


def ledger_rows(settings) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute("select * from payouts.lines order by all").fetchall()
    finally:
        con.close()


def snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_drafts_workbook_is_the_one_rendered_in_this_process_from_its_files(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    folder = tmp_path / "out" / PERIOD
    meta = json.loads((folder / F.MANIFEST).read_text())
    records = F.read_records(folder)
    assert records[F.LINES_CSV] and records[F.MDF_CSV]
    workbook = (folder / F.workbook_name(PERIOD)).read_bytes()
    assert workbook == F.render_workbook(records, meta)
    assert meta["files"][F.workbook_name(PERIOD)] == F.file_entry(workbook, len(records[F.LINES_CSV]))


def test_a_workbook_process_killed_fails_the_run_and_leaves_the_previous_draft(settings, tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_period(PERIOD, out, settings)
    before, recorded = snapshot(out), ledger_rows(settings)
    assert recorded
    monkeypatch.setenv("COSELL_CRASH_AT", "payouts:workbook")  # only the child reaches this crash point
    with pytest.raises(CosellError, match=rf"workbook of {PERIOD} could not be rendered: .*killed \(signal 9\)"):
        run_period(PERIOD, out, settings)
    assert snapshot(out) == before
    assert ledger_rows(settings) == recorded
    monkeypatch.delenv("COSELL_CRASH_AT")
    run_period(PERIOD, out, settings)
    assert snapshot(out) == before


def test_a_value_no_cell_can_hold_comes_back_as_one_line(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    folder = tmp_path / "out" / PERIOD
    meta = json.loads((folder / F.MANIFEST).read_text())
    records = F.read_records(folder)
    records[F.MDF_CSV][0]["window_start"] = "1899-12-31"
    with WorkbookProcess(records, meta) as workbook:
        with pytest.raises(CosellError) as raised:
            workbook.bytes()
    message = str(raised.value)
    assert message.startswith(f"the payout workbook of {PERIOD} could not be rendered: cell ")
    assert "1899-12-31 is before 1900-03-01" in message and "\n" not in message


def test_leaving_before_the_bytes_are_read_stops_the_child(settings, tmp_path):
    run_period(PERIOD, tmp_path / "out", settings)
    folder = tmp_path / "out" / PERIOD
    meta = json.loads((folder / F.MANIFEST).read_text())
    with WorkbookProcess(F.read_records(folder), meta) as workbook:
        process = workbook._process
    assert process.returncode is not None
