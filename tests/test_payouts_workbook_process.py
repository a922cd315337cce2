"""The DRAFT workbook rendered in a child process (payouts/workbook_process.py) while the other files are written."""

from __future__ import annotations

import json

import pytest
from payout_marts import build_warehouse, make_settings
from test_payouts_custody import lines_table
from test_payouts_lifecycle import PERIOD, scenario, tree

from cosell.errors import CosellError
from cosell.payouts import files as F
from cosell.payouts.lifecycle import run_period
from cosell.payouts.workbook_process import WorkbookProcess


@pytest.fixture
def settings(tmp_path):
    s = make_settings(tmp_path)
    build_warehouse(s, **scenario())
    return s


@pytest.fixture
def draft(settings, tmp_path) -> tuple[F.Records, dict]:
    """The rows of a DRAFT's three CSVs and its manifest, read back from the folder run_period wrote."""
    folder = tmp_path / "out" / PERIOD
    run_period(PERIOD, folder.parent, settings)
    return F.read_records(folder), json.loads((folder / F.MANIFEST).read_text())


def test_the_drafts_workbook_is_the_one_rendered_in_this_process_from_its_files(draft, tmp_path):
    records, meta = draft
    assert records[F.LINES_CSV] and records[F.MDF_CSV]
    workbook = (tmp_path / "out" / PERIOD / F.workbook_name(PERIOD)).read_bytes()
    assert workbook == F.render_workbook(records, meta)
    assert meta["files"][F.workbook_name(PERIOD)] == F.file_entry(workbook, len(records[F.LINES_CSV]))


def test_a_workbook_process_killed_fails_the_run_and_leaves_the_previous_draft(settings, draft, tmp_path, monkeypatch):
    out = tmp_path / "out"
    before, recorded = tree(out), lines_table(settings)
    assert recorded
    monkeypatch.setenv("COSELL_CRASH_AT", "payouts:workbook")  # only the child reaches this crash point
    with pytest.raises(CosellError, match=rf"workbook of {PERIOD} could not be rendered: .*killed \(signal 9\)"):
        run_period(PERIOD, out, settings)
    assert tree(out) == before
    assert lines_table(settings) == recorded
    monkeypatch.delenv("COSELL_CRASH_AT")
    run_period(PERIOD, out, settings)
    assert tree(out) == before


def test_a_value_no_cell_can_hold_comes_back_as_one_line(draft):
    records, meta = draft
    records[F.MDF_CSV][0]["window_start"] = "1899-12-31"
    with WorkbookProcess(records, meta) as workbook:
        with pytest.raises(CosellError) as raised:
            workbook.bytes()
    message = str(raised.value)
    assert message.startswith(f"the payout workbook of {PERIOD} could not be rendered: cell ")
    assert "1899-12-31 is before 1900-03-01" in message and "\n" not in message


def test_leaving_before_the_bytes_are_read_stops_the_child(draft):
    with WorkbookProcess(*draft) as workbook:
        process = workbook._process
    assert process.returncode is not None
