"""Every HTML output works offline: in headless Chromium with the network off no page sends a single request."""

from __future__ import annotations

import re

import pytest
from offline_browser import visit
from payout_marts import T, deal, make_settings, partner
from payout_marts import build_warehouse as build_payout_marts
from test_gates import _settings as gate_settings
from test_gates import build_warehouse as build_gate_warehouse

from cosell.build.dbt import docs
from cosell.config import Settings
from cosell.gates.runner import check
from cosell.payouts.lifecycle import run_period
from cosell.publish.report import write_report


def test_the_request_counter_sees_what_a_page_asks_of_the_network(tmp_path):
    page = tmp_path / "cdn.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.example.com/a.css">'
                    '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script></head>'
                    '<body><img src="http://images.example.org/logo.png"><p>hello</p></body></html>')
    seen = visit(page, tmp_path / "chromium")
    assert sorted(seen.external) == ["http://images.example.org/logo.png", "https://cdn.example.com/a.css",
                                     "https://cdn.jsdelivr.net/npm/vega@5"]
    assert "hello" in seen.dom


@pytest.mark.slow
def test_data_docs_work_offline(tmp_path):
    settings = gate_settings(tmp_path)
    build_gate_warehouse(settings)
    site = check("raw", settings).docs_path.parent
    pages = [site / "index.html", next((site / "expectations").rglob("*.html")), next((site / "validations").rglob("*.html"))]
    for n, page in enumerate(pages):
        seen = visit(page, tmp_path / f"chromium-{n}")
        assert seen.external == [], (page, seen.external)
        if n == 0:  # the index table is drawn by bootstrap-table from the vendored scripts
            assert "fixed-table-container" in seen.dom and len(re.findall(r'<tr[^>]*data-index="', seen.dom)) >= 5
            assert "raw_deals.batch" in seen.dom
        else:
            assert 'class="fa' in seen.dom and "raw_" in seen.dom
    assert not re.search(r"(src|href)=\"https?://(?!greatexpectations\.io)", "".join(
        p.read_text(encoding="utf-8") for p in site.rglob("*.html")))  # only plain links to GX's site are left


@pytest.mark.slow
def test_dbt_docs_work_offline_and_say_what_the_project_is(tmp_path):
    settings = Settings.from_env({"COSELL_HOME": str(tmp_path / "home"), "COSELL_DUCKDB_THREADS": "1"})
    first = docs(settings)
    page = first.path
    seen = visit(page, tmp_path / "chromium")
    assert seen.external == []
    assert "Co-sell warehouse" in seen.dom and "How the data flows" in seen.dom  # the __overview__ docs block
    written, stamp = page.read_bytes(), page.stat().st_mtime_ns
    again = docs(settings)  # same project, same relations: the page is kept, no dbt started
    assert not first.unchanged and again.unchanged and "unchanged" in again.describe()
    assert page.read_bytes() == written and page.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_program_report_works_offline(settings: Settings, nightly_warehouse: Settings, tmp_path):
    seen = visit(write_report(settings, nightly_warehouse.published).path, tmp_path / "chromium")
    assert seen.external == []
    assert "main-svg" in seen.dom


def test_payout_statements_work_offline(tmp_path):
    s = make_settings(tmp_path)
    build_payout_marts(s, partners=[partner("P1", "VAR", "PLATINUM")], deals=[deal("D1", "P1", "1000.00", T(2026, 3, 3))])
    run_period("2026-03", tmp_path / "out", s)
    seen = visit(tmp_path / "out" / "2026-03" / "statements" / "P1.html", tmp_path / "chromium")
    assert seen.external == []
    assert "DRAFT" in seen.dom and "D1" in seen.dom
