"""The program report: a self-contained page whose every chart headless Chromium actually draws."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from cosell.config import Settings
from cosell.publish.report import CHARTS, NO_PAYOUTS, REPORT_NAME, write_report

CHROMIUM = Path("/usr/bin/chromium")
CHART_IDS = [div_id for div_id, _, _ in CHARTS]
AS_OF = dt.date(2025, 6, 30)

NEW_MARTS_SQL = """
CREATE TABLE marts.mart_request_volume (
    requested_month DATE, partner_type VARCHAR, partner_tier VARCHAR, complexity_band VARCHAR,
    resource_type VARCHAR, requests BIGINT, supported_requests BIGINT, requesting_partners BIGINT);
INSERT INTO marts.mart_request_volume VALUES
    ('2025-04-01', 'VAR', 'GOLD', 'HIGH', 'SOLUTION_ARCHITECT', 3, 2, 1),
    ('2025-04-01', 'SI', 'GOLD', 'LOW', 'SOLUTION_ARCHITECT', 1, 1, 1),
    ('2025-05-01', 'ISV', 'SILVER', 'MEDIUM', 'EXECUTIVE_SPONSOR', 2, 1, 1);

CREATE TABLE marts.mart_new_logo_by_participation (
    quarter DATE, partner_type VARCHAR, participation_level VARCHAR, partners BIGINT, deals_registered BIGINT,
    supported_deals BIGINT, avg_participation_rate DOUBLE, new_logo_deals_won BIGINT, new_logo_wins_per_partner DOUBLE);
INSERT INTO marts.mart_new_logo_by_participation VALUES
    ('2025-04-01', 'VAR', 'ABOVE_AVERAGE', 2, 10, 8, 0.8, 3, 1.5),
    ('2025-04-01', 'SI', 'BELOW_AVERAGE', 3, 9, 1, 0.1, 1, 0.3333333333),
    ('2025-01-01', 'VAR', 'BELOW_AVERAGE', 1, 2, 0, 0.0, 0, 0.0);

CREATE TABLE marts.mart_registration_trend (
    registered_month DATE, partner_type VARCHAR, partner_tier VARCHAR, is_cosell_participant BOOLEAN,
    partners BIGINT, deals_registered BIGINT, eligible_deals_registered BIGINT, registered_pipeline_usd DECIMAL(18,2));
INSERT INTO marts.mart_registration_trend VALUES
    ('2025-04-01', 'VAR', 'GOLD', true, 2, 7, 4, 700000.00),
    ('2025-04-01', 'SI', 'GOLD', false, 3, 5, 1, 200000.00),
    ('2025-05-01', 'VAR', 'GOLD', true, 2, 9, 5, 900000.00);
"""

MARTS_SQL = """
CREATE SCHEMA marts;
CREATE TABLE marts.warehouse_as_of AS SELECT DATE '2025-06-30' AS as_of_date;

CREATE TABLE marts.mart_cosell_coverage (
    registered_month DATE, partner_type VARCHAR, partner_tier VARCHAR, customer_segment VARCHAR,
    complexity_band VARCHAR, deals BIGINT, eligible_deals BIGINT, supported_eligible_deals BIGINT,
    supported_ineligible_deals BIGINT, eligible_pipeline_usd DECIMAL(18,2),
    supported_eligible_pipeline_usd DECIMAL(18,2), coverage_rate DOUBLE);
INSERT INTO marts.mart_cosell_coverage VALUES
    ('2025-04-01', 'VAR', 'GOLD', 'ENTERPRISE', 'HIGH', 10, 8, 4, 1, 800000, 400000, 0.5),
    ('2025-04-01', 'SI', 'GOLD', 'MID_MARKET', 'LOW', 5, 2, 2, 0, 150000, 150000, 1.0),
    ('2025-04-01', 'ISV', 'SILVER', 'ENTERPRISE', 'HIGH', 6, 4, 1, 0, 300000, 60000, 0.25),
    ('2025-05-01', 'VAR', 'GOLD', 'ENTERPRISE', 'HIGH', 12, 10, 7, 0, 900000, 700000, 0.7),
    ('2025-05-01', 'ISV', 'SILVER', 'ENTERPRISE', 'HIGH', 7, 5, 2, 1, 350000, 90000, 0.4),
    ('2025-05-01', 'MSP', 'PLATINUM', 'ENTERPRISE', 'HIGH', 3, 0, 0, 1, 0, 0, NULL),
    ('2025-06-01', 'MSP', 'PLATINUM', 'ENTERPRISE', 'HIGH', 4, 4, 3, 0, 500000, 380000, 0.75),
    ('2025-06-01', 'VAR', 'GOLD', 'SMB', 'LOW', 9, 6, 3, 0, 420000, 200000, 0.5);

CREATE TABLE marts.mart_cosell_uplift (
    slice_type VARCHAR, slice_value VARCHAR, treated_deals BIGINT, control_deals BIGINT,
    matched_treated_deals BIGINT, matched_control_deals BIGINT, matched_strata BIGINT,
    treated_win_rate DOUBLE, control_win_rate DOUBLE, win_rate_uplift DOUBLE,
    uplift_ci_low DOUBLE, uplift_ci_high DOUBLE, naive_win_rate_uplift DOUBLE,
    cycle_days_uplift DOUBLE, incremental_revenue_usd DECIMAL(18,2), opportunity_revenue_usd DECIMAL(18,2));
INSERT INTO marts.mart_cosell_uplift VALUES
    ('OVERALL', 'ALL', 40, 120, 31, 90, 12, 0.55, 0.38, 0.17, 0.05, 0.29, 0.21, -8.5, 1250000.00, 2100000.00),
    ('RESOURCE_TYPE', 'SOLUTION_ARCHITECT', 25, 120, 20, 80, 9, 0.6, 0.4, 0.2, 0.04, 0.36, 0.25, -10, 900000.00, 1500000.00),
    ('RESOURCE_TYPE', 'EXECUTIVE_SPONSOR', 6, 120, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0.3, NULL, NULL, NULL),
    ('PARTNER_TIER', 'GOLD', 22, 60, 15, 40, 7, 0.5, 0.41, 0.09, -0.08, 0.26, 0.14, -4, 300000.00, 500000.00),
    ('PARTNER_TIER', 'SILVER', 18, 60, 12, 35, 5, 0.52, 0.36, 0.16, -0.02, 0.34, 0.19, -6, 200000.00, 380000.00);

CREATE TABLE marts.fct_cosell_engagements (
    request_id VARCHAR, deal_id VARCHAR, partner_id VARCHAR, resource_type VARCHAR, status VARCHAR,
    requested_at TIMESTAMP, requested_month DATE, stage_at_request VARCHAR, confirmed_at TIMESTAMP,
    completed_at TIMESTAMP, is_supported BOOLEAN, hours_to_confirm DOUBLE);
INSERT INTO marts.fct_cosell_engagements VALUES
    ('R1', 'D1', 'P1', 'SOLUTION_ARCHITECT', 'COMPLETED', '2025-04-02 09:00', '2025-04-01', 'DISCOVERY', '2025-04-03 09:00', NULL, true, 24),
    ('R2', 'D2', 'P2', 'SOLUTION_ARCHITECT', 'CONFIRMED', '2025-04-10 09:00', '2025-04-01', 'DISCOVERY', '2025-04-12 09:00', NULL, true, 48),
    ('R3', 'D3', 'P1', 'SOLUTION_ARCHITECT', 'CONFIRMED', '2025-05-05 09:00', '2025-05-01', 'PROPOSAL', '2025-05-05 21:00', NULL, true, 12),
    ('R4', 'D4', 'P3', 'EXECUTIVE_SPONSOR', 'CONFIRMED', '2025-04-20 09:00', '2025-04-01', 'PROPOSAL', '2025-04-23 09:00', NULL, true, 72),
    ('R5', 'D5', 'P3', 'EXECUTIVE_SPONSOR', 'CONFIRMED', '2025-05-20 09:00', '2025-05-01', 'PROPOSAL', '2025-05-21 15:00', NULL, true, 30),
    ('R6', 'D6', 'P2', 'EXECUTIVE_SPONSOR', 'DECLINED', '2025-05-22 09:00', '2025-05-01', 'PROPOSAL', NULL, NULL, false, NULL);

CREATE TABLE marts.mart_resource_deployment (
    requested_month DATE, resource_type VARCHAR, partner_type VARCHAR, requests BIGINT, supported BIGINT,
    declined BIGINT, cancelled BIGINT, pending BIGINT, acceptance_rate DOUBLE,
    median_hours_to_confirm DOUBLE, p90_hours_to_confirm DOUBLE);
INSERT INTO marts.mart_resource_deployment VALUES
    ('2025-04-01', 'SOLUTION_ARCHITECT', 'VAR', 1, 1, 0, 0, 0, 1.0, 24, 24),
    ('2025-04-01', 'SOLUTION_ARCHITECT', 'SI', 1, 1, 0, 0, 0, 1.0, 48, 48),
    ('2025-05-01', 'SOLUTION_ARCHITECT', 'VAR', 1, 1, 0, 0, 0, 1.0, 12, 12),
    ('2025-04-01', 'EXECUTIVE_SPONSOR', 'ISV', 1, 1, 0, 0, 0, 1.0, 72, 72),
    ('2025-05-01', 'EXECUTIVE_SPONSOR', 'ISV', 1, 1, 0, 0, 0, 1.0, 30, 30),
    ('2025-05-01', 'EXECUTIVE_SPONSOR', 'SI', 1, 0, 1, 0, 0, 0.0, NULL, NULL);

CREATE TABLE marts.mart_repeat_request_rate (
    first_support_month DATE, partner_type VARCHAR, supported_partners BIGINT, repeat_partners BIGINT,
    repeat_rate DOUBLE);
INSERT INTO marts.mart_repeat_request_rate VALUES
    ('2024-10-01', 'VAR', 4, 3, 0.75), ('2024-10-01', 'ISV', 2, 1, 0.5),
    ('2024-11-01', 'VAR', 5, 2, 0.4), ('2024-12-01', 'SI', 3, 3, 1.0);

CREATE TABLE marts.mart_roe_violations (
    violation_type VARCHAR, activity_id VARCHAR, deal_id VARCHAR, partner_id VARCHAR, occurred_at TIMESTAMP);
INSERT INTO marts.mart_roe_violations VALUES
    ('UNBRIEFED_CUSTOMER_CONTACT', 'A1', 'D1', 'P1', '2025-04-03 10:00'),
    ('OFF_PLAN_CONTACT', 'A1', 'D1', 'P1', '2025-04-03 10:00'),
    ('TECHNICAL_ROLE_NEGOTIATION', 'A2', 'D2', 'P2', '2025-05-09 12:00'),
    ('UNBRIEFED_CUSTOMER_CONTACT', 'A3', 'D3', 'P1', '2025-05-30 23:59'),
    ('DIRECT_PIPELINE_AFTER_COSELL', NULL, 'D9', 'P1', '2025-06-02 08:00');
""" + NEW_MARTS_SQL

PAYOUTS_SQL = """
CREATE SCHEMA payouts;
CREATE TABLE payouts.lines (
    period VARCHAR, status VARCHAR, adjustment_set INTEGER, line_id VARCHAR, partner_id VARCHAR,
    partner_name VARCHAR, partner_type VARCHAR, partner_tier VARCHAR, rule_id VARCHAR, deal_id VARCHAR,
    basis_usd DECIMAL(18,2), rate VARCHAR, amount_usd DECIMAL(18,2), plan_id VARCHAR);
INSERT INTO payouts.lines VALUES
    ('2025-05', 'APPROVED', NULL, 'L1', 'P1', 'One', 'VAR', 'PLATINUM', 'COSELL_ACCELERATOR', 'D1', 1200000.00, '0.015', 18000.00, 'v1'),
    ('2025-05', 'APPROVED', NULL, 'L2', 'P1', 'One', 'VAR', 'PLATINUM', 'COSELL_ACCELERATOR', 'D2', 800000.00, '0.015', 12000.00, 'v1'),
    ('2025-05', 'APPROVED', NULL, 'L3', 'P1', 'One', 'VAR', 'PLATINUM', 'CAP_ADJUSTMENT', NULL, 30000.00, NULL, -5000.00, 'v1'),
    ('2025-05', 'APPROVED', NULL, 'L4', 'P3', 'Three', 'ISV', 'GOLD', 'PIPELINE_CONTRIBUTION', 'D4', 300000.00, '0.01', 3000.00, 'v1'),
    ('2025-05', 'APPROVED', 1, 'L4', 'P3', 'Three', 'ISV', 'GOLD', 'PIPELINE_CONTRIBUTION', 'D4', 200000.00, '0.01', -1000.00, 'v1'),
    ('2025-06', 'DRAFT', NULL, 'L5', 'P3', 'Three', 'ISV', 'GOLD', 'NEW_LOGO_BONUS', 'D5', 2500.00, '1', 2500.00, 'v1'),
    ('2025-06', 'DRAFT', NULL, 'L6', 'P2', 'Two', 'SI', 'GOLD', 'COSELL_ACCELERATOR', 'D6', 400000.00, '0.015', 5000.00, 'v1');
"""


def build_published(path: Path, payouts: bool = True, sql: str = MARTS_SQL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(sql)
        if payouts:
            con.execute(PAYOUTS_SQL)
    finally:
        con.close()
    return path


# ---------------------------------------------------------------- headless Chromium


def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the report test draws the page in headless Chromium; "
            "run scripts/ensure-chromium (as root it installs Debian's chromium with apt-get)"
        )
    return CHROMIUM


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        str(chromium()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        *args,
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done


class ChartCounter(HTMLParser):
    """Per chart div: drawn plotly SVG roots, trace groups and annotation texts in a dumped DOM."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, chart_ids: list[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.chart_ids = set(chart_ids)
        self.stack: list[str | None] = []  # chart id an open element belongs to
        self.counts = {c: {"main_svg": 0, "traces": 0, "points": 0, "text": []} for c in chart_ids}
        self.in_annotation: list[bool] = []

    def _chart(self) -> str | None:
        return self.stack[-1] if self.stack else None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        chart = attrs.get("id") if attrs.get("id") in self.chart_ids else self._chart()
        classes = (attrs.get("class") or "").split()
        if chart:
            c = self.counts[chart]
            if tag == "svg" and "main-svg" in classes:
                c["main_svg"] += 1
            if tag == "g" and "trace" in classes:
                c["traces"] += 1
            if "point" in classes:  # g.point (bars) or path.point (markers)
                c["points"] += 1
        if tag not in self.VOID:
            self.stack.append(chart)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        chart = self._chart()
        if chart and data.strip():
            self.counts[chart]["text"].append(data.strip())


def rendered_charts(dom: str) -> dict[str, dict]:
    counter = ChartCounter(CHART_IDS)
    counter.feed(dom)
    counter.close()
    return counter.counts


# ---------------------------------------------------------------- tests


@pytest.mark.slow
def test_every_chart_is_drawn_in_headless_chromium(settings: Settings, tmp_path: Path) -> None:
    build_published(settings.published)
    started = time.monotonic()
    summary = write_report(settings)
    elapsed = time.monotonic() - started
    page = settings.reports_dir / REPORT_NAME
    assert summary.path == page and page.exists()
    assert summary.as_of_date == AS_OF
    assert str(page) in summary.describe()
    assert all(note is None for _, note in summary.charts), summary.charts
    print(f"report written in {elapsed:.2f}s ({page.stat().st_size} bytes)")

    text = page.read_text(encoding="utf-8")
    # Self-contained: plotly.js inlined exactly once, nothing fetched from the network.
    assert len(re.findall(r"<script[^>]*\bsrc=", text)) == 0
    assert text.count("plotly.js v") >= 1
    assert "2025-06-30" in text

    started = time.monotonic()
    dom = run_chromium(page, tmp_path / "profile-dom", "--dump-dom").stdout
    print(f"chromium dump-dom in {time.monotonic() - started:.1f}s")
    counts = rendered_charts(dom)
    expected_traces = {
        "chart-coverage": 4,  # GOLD, PLATINUM, SILVER lines and the all-tiers line
        "chart-uplift": 2,  # naive and matched bars
        "chart-deployment": 4,  # two resource types x (median, p90)
        "chart-repeat": 3,  # ISV, SI, VAR
        "chart-roe": 4,  # the four violation types
        "chart-request-volume": 3,  # LOW, MEDIUM, HIGH
        "chart-new-logo": 2,  # above and below average participation
        "chart-registration": 2,  # participants and not yet
        "chart-payouts": 5,  # the four rules and the net total
    }
    for chart_id in CHART_IDS:
        c = counts[chart_id]
        assert c["main_svg"] >= 1, f"{chart_id}: no plotly SVG drawn ({c})"
        assert c["traces"] == expected_traces[chart_id], f"{chart_id}: {c['traces']} traces drawn, expected {expected_traces[chart_id]}"
        assert c["points"] >= 1, f"{chart_id}: no bar or marker drawn"
    assert "no matched stratum" in counts["chart-uplift"]["text"]
    assert any("matched 31 of 40 treated" in t for t in counts["chart-uplift"]["text"])
    assert "27,000.00" in counts["chart-payouts"]["text"] and "7,500.00" in counts["chart-payouts"]["text"]

    shot = tmp_path / "program_report.png"
    started = time.monotonic()
    run_chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1300,4000")
    print(f"chromium screenshot in {time.monotonic() - started:.1f}s")
    assert shot.exists() and shot.stat().st_size > 20_000
    kept = settings.reports_dir / "program_report.png"
    shutil.copyfile(shot, kept)
    print(f"screenshot: {shot} (copy {kept})")


@pytest.mark.slow
def test_payout_chart_says_no_period_yet_when_payouts_are_missing(settings: Settings, tmp_path: Path) -> None:
    build_published(settings.published, payouts=False)
    summary = write_report(settings)
    assert dict(summary.charts)["chart-payouts"] == NO_PAYOUTS
    assert NO_PAYOUTS in summary.describe()
    counts = rendered_charts(run_chromium(summary.path, tmp_path / "profile", "--dump-dom").stdout)
    payouts = counts["chart-payouts"]
    assert payouts["main_svg"] >= 1, payouts
    assert payouts["traces"] == 0
    assert NO_PAYOUTS in payouts["text"], payouts["text"]
    for chart_id in CHART_IDS:
        if chart_id != "chart-payouts":
            assert counts[chart_id]["traces"] >= 1, chart_id


def test_same_data_gives_byte_identical_report(settings: Settings) -> None:
    build_published(settings.published)
    first = write_report(settings).path.read_bytes()
    second = write_report(settings).path.read_bytes()
    assert first == second
    for chart_id in CHART_IDS:
        assert f'id="{chart_id}"' in first.decode()
    assert first.decode().count("plotly.js v") >= 1
    # plotly.js is embedded once for the page, not once per chart.
    assert first.decode().count("window.PlotlyConfig") == 1


def test_report_reads_the_published_file_read_only(settings: Settings) -> None:
    build_published(settings.published)
    before = settings.published.read_bytes()
    # A BI tool in another process holds the published file open read-only meanwhile.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); "
         "c.execute('select count(*) from marts.mart_cosell_coverage').fetchall(); print('ready', flush=True); "
         "sys.stdin.read()",
         str(settings.published)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        summary = write_report(settings)
    finally:
        holder.communicate("", timeout=30)
    assert summary.as_of_date == AS_OF
    assert settings.published.read_bytes() == before


def test_report_of_another_warehouse_and_missing_marts(settings: Settings, tmp_path: Path) -> None:
    other = build_published(
        tmp_path / "bare.duckdb",
        payouts=False,
        sql="CREATE SCHEMA marts; CREATE TABLE marts.warehouse_as_of AS SELECT DATE '2025-01-31' AS as_of_date;",
    )
    summary = write_report(settings, other)
    assert summary.source == other and summary.as_of_date == dt.date(2025, 1, 31)
    notes = dict(summary.charts)
    assert notes["chart-coverage"] == "marts.mart_cosell_coverage is not in this warehouse yet"
    assert all(notes[c] for c in CHART_IDS)
    assert "2025-01-31" in summary.path.read_text(encoding="utf-8")


def test_deployment_falls_back_to_the_mart_without_engagements(settings: Settings) -> None:
    sql = MARTS_SQL.replace("CREATE TABLE marts.fct_cosell_engagements", "CREATE TABLE marts.unused_engagements").replace(
        "INSERT INTO marts.fct_cosell_engagements", "INSERT INTO marts.unused_engagements"
    )
    build_published(settings.published, sql=sql)
    summary = write_report(settings)
    assert dict(summary.charts)["chart-deployment"] is None
    text = summary.path.read_text(encoding="utf-8")
    assert "weighted by supported requests" in text


def test_ensure_chromium_script(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "scripts" / "ensure-chromium"
    assert os.access(script, os.X_OK), f"{script} is not executable"
    chromium()
    present = subprocess.run(["/bin/bash", str(script)], capture_output=True, text=True, timeout=60)
    assert present.returncode == 0, present.stderr
    # Missing browser and no apt-get on PATH: it says why and fails rather than pretending.
    missing = subprocess.run(
        ["/bin/bash", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(tmp_path), "CHROMIUM": str(tmp_path / "no-chromium")},
    )
    assert missing.returncode != 0
    assert "apt-get is not available" in missing.stderr
