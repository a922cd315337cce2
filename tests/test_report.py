"""The program report: a self-contained page whose every chart headless Chromium actually draws.

It reads the session's published copy (conftest.nightly_warehouse: generated extracts through the real nightly
run and a payout period); a test that needs a mart missing works on a copy of that file.
"""

from __future__ import annotations

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
from published_copy import as_of, copy_of, query

from cosell.config import Settings
from cosell.publish.report import (
    CHARTS,
    NO_PAYOUTS,
    REPORT_NAME,
    deployment_chart,
    write_report,
)

CHROMIUM = Path("/usr/bin/chromium")
CHART_IDS = [div_id for div_id, _, _ in CHARTS]

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


# ---------------------------------------------------------------- the published copy


@pytest.fixture
def published(nightly_warehouse: Settings) -> Path:
    return nightly_warehouse.published


def expected_traces(path: Path) -> dict[str, int]:
    """Traces each chart must draw: one per series the published marts hold (and the charts' extra lines)."""
    def count(sql: str) -> int:
        return int(query(path, sql)[0][0])

    return {
        "chart-coverage": count("SELECT count(DISTINCT partner_tier) FROM (SELECT registered_month, partner_tier "
                                "FROM marts.mart_cosell_coverage GROUP BY ALL HAVING sum(eligible_deals) > 0)") + 1,
        "chart-uplift": 2,  # naive and matched bars
        "chart-deployment": 2 * count("SELECT count(DISTINCT resource_type) FROM marts.mart_resource_deployment_monthly "
                                      "WHERE supported > 0 AND median_hours_to_confirm IS NOT NULL"),  # median and p90
        "chart-repeat": count("SELECT count(DISTINCT partner_type) FROM marts.mart_repeat_request_rate "
                              "WHERE supported_partners > 0"),
        "chart-roe": count("SELECT count(DISTINCT violation_type) FROM marts.mart_roe_violations"),
        "chart-request-volume": count("SELECT count(DISTINCT complexity_band) FROM marts.mart_request_volume"),
        "chart-new-logo": count("SELECT count(DISTINCT participation_level) FROM (SELECT quarter, participation_level "
                                "FROM marts.mart_new_logo_by_participation GROUP BY ALL HAVING sum(partners) > 0)"),
        "chart-registration": count("SELECT count(DISTINCT is_cosell_participant) FROM marts.mart_registration_trend"),
        "chart-payouts": count("SELECT count(DISTINCT rule_id) FROM payouts.lines") + 1,  # and the net total
    }


# ---------------------------------------------------------------- tests


@pytest.mark.slow
def test_every_chart_is_drawn_in_headless_chromium(settings: Settings, published: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    summary = write_report(settings, published)
    elapsed = time.monotonic() - started
    page = settings.reports_dir / REPORT_NAME
    assert summary.path == page and page.exists()
    assert summary.as_of_date == as_of(published)
    assert str(page) in summary.describe()
    assert all(note is None for _, note in summary.charts), summary.charts
    print(f"report written in {elapsed:.2f}s ({page.stat().st_size} bytes)")

    text = page.read_text(encoding="utf-8")
    # Self-contained: plotly.js inlined exactly once, nothing fetched from the network.
    assert len(re.findall(r"<script[^>]*\bsrc=", text)) == 0
    assert text.count("plotly.js v") >= 1
    assert as_of(published).isoformat() in text

    started = time.monotonic()
    dom = run_chromium(page, tmp_path / "profile-dom", "--dump-dom").stdout
    print(f"chromium dump-dom in {time.monotonic() - started:.1f}s")
    counts = rendered_charts(dom)
    expected = expected_traces(published)
    assert all(n >= 1 for n in expected.values()), expected  # the session's data gives every chart a series
    for chart_id in CHART_IDS:
        c = counts[chart_id]
        assert c["main_svg"] >= 1, f"{chart_id}: no plotly SVG drawn ({c})"
        assert c["traces"] == expected[chart_id], f"{chart_id}: {c['traces']} traces drawn, expected {expected[chart_id]}"
        assert c["points"] >= 1, f"{chart_id}: no bar or marker drawn"
    (matched, treated), = query(published, "SELECT matched_treated_deals, treated_deals FROM marts.mart_cosell_uplift "
                                           "WHERE slice_type = 'OVERALL'")
    assert any(f"matched {matched} of {treated} treated" in t for t in counts["chart-uplift"]["text"])
    if query(published, "SELECT count(*) FROM marts.mart_cosell_uplift WHERE win_rate_uplift IS NULL")[0][0]:
        assert "no matched stratum" in counts["chart-uplift"]["text"]
    for (total,) in query(published, "SELECT sum(amount_usd) FROM payouts.lines GROUP BY period"):
        assert f"{total:,.2f}" in counts["chart-payouts"]["text"]

    shot = tmp_path / "program_report.png"
    started = time.monotonic()
    run_chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1300,4000")
    print(f"chromium screenshot in {time.monotonic() - started:.1f}s")
    assert shot.exists() and shot.stat().st_size > 20_000
    kept = settings.reports_dir / "program_report.png"
    shutil.copyfile(shot, kept)
    print(f"screenshot: {shot} (copy {kept})")


@pytest.mark.slow
def test_payout_chart_says_no_period_yet_when_payouts_are_missing(settings: Settings, published: Path,
                                                                  tmp_path: Path) -> None:
    bare = copy_of(published, tmp_path / "no_payouts.duckdb", "DROP SCHEMA payouts CASCADE")
    summary = write_report(settings, bare)
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


def test_same_data_gives_byte_identical_report(settings: Settings, published: Path) -> None:
    first = write_report(settings, published).path.read_bytes()
    second = write_report(settings, published).path.read_bytes()
    assert first == second
    for chart_id in CHART_IDS:
        assert f'id="{chart_id}"' in first.decode()
    assert first.decode().count("plotly.js v") >= 1
    # plotly.js is embedded once for the page, not once per chart.
    assert first.decode().count("window.PlotlyConfig") == 1


def test_report_reads_the_published_file_read_only(settings: Settings, published: Path) -> None:
    before = published.read_bytes()
    # A BI tool in another process holds the published file open read-only meanwhile.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); "
         "c.execute('select count(*) from marts.mart_cosell_coverage').fetchall(); print('ready', flush=True); "
         "sys.stdin.read()",
         str(published)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        summary = write_report(settings, published)
    finally:
        holder.communicate("", timeout=30)
    assert summary.as_of_date == as_of(published)
    assert published.read_bytes() == before


def test_report_of_another_warehouse_and_missing_marts(settings: Settings, published: Path, tmp_path: Path) -> None:
    tables = [name for (name,) in query(published, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' "
                                                   "AND table_name <> 'warehouse_as_of'")]
    other = copy_of(published, tmp_path / "bare.duckdb", "DROP SCHEMA payouts CASCADE",
                    *(f"DROP TABLE marts.{name}" for name in tables))
    summary = write_report(settings, other)
    assert summary.source == other and summary.as_of_date == as_of(published)
    notes = dict(summary.charts)
    assert notes["chart-coverage"] == "marts.mart_cosell_coverage is not in this warehouse yet"
    assert all(notes[c] for c in CHART_IDS)
    assert as_of(published).isoformat() in summary.path.read_text(encoding="utf-8")


def test_deployment_reads_the_report_grain_mart(published: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(published), read_only=True)
    try:
        figure, note = deployment_chart(con)
        # the mart pools the partner types with the fact's own definition (continuous quantiles, supported requests)
        pooled = con.execute(
            "SELECT resource_type, strftime(requested_month, '%Y-%m'), round(quantile_cont(hours_to_confirm, 0.5), 4) "
            "FROM marts.fct_cosell_engagements WHERE is_supported GROUP BY ALL ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert note is None
    drawn = sorted((trace.legendgroup, month, median) for trace in figure.data if trace.name.endswith(" median")
                   for month, median in zip(trace.x, trace.y))
    assert drawn == pooled and len(drawn) > 3
    bare = copy_of(published, tmp_path / "bare.duckdb", "DROP TABLE marts.mart_resource_deployment_monthly")
    con = duckdb.connect(str(bare), read_only=True)
    try:
        assert deployment_chart(con)[1] == "marts.mart_resource_deployment_monthly is not in this warehouse yet"
    finally:
        con.close()


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
