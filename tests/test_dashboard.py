"""The BI dashboard: Streamlit's AppTest runs it headless over a published copy; `cosell dashboard` serves it.

It reads the session's published copy (conftest.nightly_warehouse) and the figures expected are read from its marts;
what the generated data lacks (an adjustment set, a drafted period) is written on a copy of that file.
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from published_copy import as_of, copy_of, draft_of_next_period, query
from streamlit.testing.v1 import AppTest

from cosell.config import Settings
from cosell.publish import dashboard
from cosell.publish.report import words

APP = Path(dashboard.__file__)


def run_app(monkeypatch, source: Path) -> AppTest:
    monkeypatch.setenv(dashboard.SOURCE_VARIABLE, str(source))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.fixture
def published(nightly_warehouse: Settings) -> Path:
    return nightly_warehouse.published


def percent(value: float) -> str:
    return f"{value:+.1%}"


def test_dashboard_shows_coverage_uplift_with_its_ci_and_payouts_by_rule(published: Path, monkeypatch,
                                                                         tmp_path: Path):
    (period,), = query(published, "SELECT DISTINCT period FROM payouts.lines")
    (line_id, reversed_usd, rule), = query(published, "SELECT line_id, -amount_usd, rule_id FROM payouts.lines "
                                                      "ORDER BY amount_usd DESC, line_id LIMIT 1")
    # the session approved one period; on a copy: an adjustment set of it (its largest line reversed) and the next
    # period drafted
    next_period = (dt.date.fromisoformat(f"{period}-01") + dt.timedelta(days=31)).strftime("%Y-%m")
    source = copy_of(published, tmp_path / "published.duckdb",
                     "INSERT INTO payouts.lines SELECT * REPLACE (1 AS adjustment_set, -amount_usd AS amount_usd) "
                     f"FROM payouts.lines WHERE line_id = '{line_id}'",
                     f"INSERT INTO payouts.adjustment_sets VALUES ('{period}', 1, repeat('0', 64), localtimestamp)",
                     draft_of_next_period(period, next_period))
    app = run_app(monkeypatch, source)
    assert [h.value for h in app.header] == ["Coverage", "Win-rate uplift of co-sell support", "Partner payouts by rule"]
    metrics = {m.label: m.value for m in app.metric}
    (supported, eligible), = query(source, "SELECT sum(supported_eligible_deals), sum(eligible_deals) "
                                           "FROM marts.mart_cosell_coverage WHERE registered_month IS NOT NULL")
    assert metrics["Coverage of eligible deals"] == f"{supported / eligible:.1%}"
    (matched, low, high, naive, slices), = query(source, """
        SELECT win_rate_uplift, uplift_ci_low, uplift_ci_high, naive_win_rate_uplift,
               (SELECT count(*) FROM marts.mart_cosell_uplift)
        FROM marts.mart_cosell_uplift WHERE slice_type = 'OVERALL'""")
    assert metrics["Matched uplift (CEM)"] == percent(matched)
    assert metrics["Naive uplift (all treated vs all controls)"] == percent(naive) != percent(matched)
    assert any(f"95% CI {percent(low)} to {percent(high)}" in c.value and f"beside naive {percent(naive)}" in c.value
               for c in app.caption)
    uplift = app.dataframe[1].value
    assert list(uplift["slice"])[0] == "All closed deals" and len(uplift) == slices
    assert {"naive uplift", "matched uplift", "95% CI low", "95% CI high"} <= set(uplift.columns)
    payouts = app.dataframe[2].value
    shown = {(r["period"], r["rule"]): r["amount USD"] for _, r in payouts.iterrows()}
    expected = {(p + (" (draft)" if draft else ""), words(rule_id)): f"{amount:,.2f}"
                for p, rule_id, draft, amount in query(source, "SELECT period, rule_id, bool_or(status = 'DRAFT'), "
                                                               "sum(amount_usd) FROM payouts.lines GROUP BY ALL")}
    assert shown == expected
    (approved,), = query(source, f"SELECT sum(amount_usd) FROM payouts.lines WHERE period = '{period}' "
                                 f"AND rule_id = '{rule}' AND adjustment_set IS NULL")
    assert shown[(period, words(rule))] == f"{approved + reversed_usd:,.2f}"  # the approved lines and the adjustment
    assert {p for p, _ in shown} == {period, f"{next_period} (draft)"}
    assert f"as of {as_of(source).isoformat()}" in app.caption[0].value


def test_dashboard_without_payouts_or_published_copy(published: Path, monkeypatch, tmp_path: Path):
    bare = copy_of(published, tmp_path / "no_payouts.duckdb", "DROP SCHEMA payouts CASCADE")
    app = run_app(monkeypatch, bare)
    assert "no payout period computed yet" in [i.value for i in app.info]
    app = run_app(monkeypatch, tmp_path / "missing.duckdb")
    assert "no published copy at" in app.error[0].value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cosell_dashboard_serves_on_localhost(settings: Settings, published: Path, tmp_path):
    port = _free_port()
    env = {"COSELL_HOME": str(settings.home), "COSELL_PUBLISHED": str(published), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "cosell.cli", "dashboard", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
            except OSError:
                time.sleep(0.5)
        assert answer == b"ok", "the dashboard never answered"
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        assert "<title>" in page
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"dashboard on http://127.0.0.1:{port}" in out
