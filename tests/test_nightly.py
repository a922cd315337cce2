"""`cosell run` end to end on a small generated inbox: every step, and a failing gate that stops before publish."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from cosell import cli
from cosell.contract import FEEDS
from cosell.synthetic.generate import generate

SAMPLE = {"seed": 3, "start": dt.date(2026, 1, 1), "days": 40, "partners": 15, "deals": 150}


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    from cosell.config import Settings

    root = tmp_path_factory.mktemp("nightly")
    inbox = root / "inbox"
    generate(inbox, **SAMPLE)
    settings = Settings.from_env({"COSELL_HOME": str(root / "home"), "COSELL_DUCKDB_THREADS": "2"})
    from cosell.orchestration.nightly import run_nightly

    first = run_nightly(inbox, settings)
    tables = _checksums(settings.warehouse)
    second = run_nightly(inbox, settings)
    return settings, first, second, tables, root


def _checksums(path) -> dict[str, tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in ('raw', 'marts') "
            "and table_name <> 'load_audit' order by 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f'select count(*), sum(hash(columns(*))) from "{s}"."{t}"').fetchone()
            for s, t in names
        }
    finally:
        con.close()


@pytest.mark.slow
def test_nightly_run_lands_gates_builds_publishes_and_reports(nightly):
    settings, first, _, _, _ = nightly
    text = first.describe()
    for step in ("files landed", "raw gate passed", "dbt build", "marts gate passed", "published", "report as of", "dbt docs"):
        assert step in text, step
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        assert con.execute("select as_of_date from marts.warehouse_as_of").fetchone()[0] == dt.date(2026, 2, 9)
        deals = con.execute("select count(*) from marts.fct_cosell_deals").fetchone()[0]
    finally:
        con.close()
    assert 0 < deals <= SAMPLE["deals"]
    assert (settings.reports_dir / "program_report.html").exists()
    docs = (settings.reports_dir / "dbt_docs" / "index.html").read_text(encoding="utf-8")
    assert "mart_cosell_uplift" in docs and "coverage_rate" in docs


@pytest.mark.slow
def test_the_run_says_where_its_time_went_part_by_part(nightly):
    import re

    _, first, _, _, _ = nightly
    last = first.describe().rsplit(" | ", 1)[1]
    parts = ["land", "raw gate", "build", "marts gate", "payouts", "publish", "report", "dbt docs"]
    pattern = "time by part: " + ", ".join(rf"{p} (\d+\.\d) s" for p in parts) + r"; (\d+\.\d) s in these parts"
    match = re.fullmatch(pattern, last)
    assert match, last
    *seconds, total = (float(x) for x in match.groups())
    assert all(s >= 0 for s in seconds) and sum(seconds) > 0
    assert abs(total - sum(seconds)) <= 0.05 * len(parts)  # each part rounded to a tenth on its own


@pytest.mark.slow
def test_the_run_drafts_the_last_complete_month_before_it_publishes_and_reports(nightly):
    import json
    from decimal import Decimal

    settings, first, _, _, _ = nightly
    text = first.describe()
    assert text.index("payouts 2026-01 DRAFT") < text.index("published")  # as_of_date 2026-02-09: January is complete
    manifest = json.loads((settings.home / "payouts" / "2026-01" / "manifest.json").read_text())
    assert manifest["status"] == "DRAFT" and manifest["as_of_date"] == "2026-02-09"
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        lines, total = con.execute("select count(*), sum(amount_usd) from payouts.lines where period = '2026-01'").fetchone()
    finally:
        con.close()
    assert lines == manifest["files"]["payout_lines.csv"]["rows"] > 0  # the same night's lines, published
    assert Decimal(str(total)) == Decimal(manifest["total_usd"])
    assert "2026-01 (draft)" in (settings.reports_dir / "program_report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_second_run_on_the_same_inbox_changes_no_table(nightly):
    settings, _, second, before, _ = nightly
    assert second.describe() == "nothing new; published as of 2026-02-09"
    assert _checksums(settings.warehouse) == before


@pytest.mark.slow
def test_a_failing_raw_gate_stops_the_run_before_publish(nightly, tmp_path, capsys, monkeypatch):
    _, _, _, _, root = nightly
    inbox = tmp_path / "inbox"
    generate(inbox, **{**SAMPLE, "days": 3})
    columns = [c for c in FEEDS["deals"].column_names if c != "amount"]
    (inbox / "deals" / "2026-01-03" / "broken.csv").write_text(",".join(columns) + "\n", encoding="utf-8")
    monkeypatch.setenv("COSELL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COSELL_WAREHOUSE", raising=False)
    monkeypatch.delenv("COSELL_PUBLISHED", raising=False)
    assert cli.main(["run", "--inbox", str(inbox)]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert error.startswith("cosell: error: nightly run stopped at raw gate (nothing published):")
    assert "no_quarantined_file" in error
    assert not (tmp_path / "home" / "published" / "warehouse.duckdb").exists()
