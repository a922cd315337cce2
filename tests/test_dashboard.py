"""The BI dashboard: Streamlit's AppTest runs it headless over a published copy; `cosell dashboard` serves it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_report import build_published

from cosell.config import Settings
from cosell.publish import dashboard

APP = Path(dashboard.__file__)


def run_app(monkeypatch, source: Path) -> AppTest:
    monkeypatch.setenv(dashboard.SOURCE_VARIABLE, str(source))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_dashboard_shows_coverage_uplift_with_its_ci_and_payouts_by_rule(settings: Settings, monkeypatch):
    build_published(settings.published)
    app = run_app(monkeypatch, settings.published)
    assert [h.value for h in app.header] == ["Coverage", "Win-rate uplift of co-sell support", "Partner payouts by rule"]
    metrics = {m.label: m.value for m in app.metric}
    # coverage: the test copy has 22 supported of 39 eligible deals
    assert metrics["Coverage of eligible deals"] == "56.4%"
    assert metrics["Matched uplift (CEM)"] == "+17.0%" and metrics["Naive uplift (all treated vs all controls)"] == "+21.0%"
    assert any("95% CI +5.0% to +29.0%" in c.value and "beside naive +21.0%" in c.value for c in app.caption)
    uplift = app.dataframe[1].value
    assert list(uplift["slice"])[0] == "All closed deals"
    assert {"naive uplift", "matched uplift", "95% CI low", "95% CI high"} <= set(uplift.columns)
    payouts = app.dataframe[2].value
    rows = {(r["period"], r["rule"]): r["amount USD"] for _, r in payouts.iterrows()}
    assert rows[("2025-05", "Co-sell accelerator")] == "30,000.00"
    assert rows[("2025-05", "Cap adjustment")] == "-5,000.00"
    assert rows[("2025-05", "Pipeline contribution")] == "2,000.00"  # the approved line plus its adjustment set
    assert rows[("2025-06 (draft)", "New logo bonus")] == "2,500.00"
    assert "as of 2025-06-30" in app.caption[0].value


def test_dashboard_without_payouts_or_published_copy(settings: Settings, monkeypatch, tmp_path):
    build_published(settings.published, payouts=False)
    app = run_app(monkeypatch, settings.published)
    assert "no payout period computed yet" in [i.value for i in app.info]
    app = run_app(monkeypatch, tmp_path / "missing.duckdb")
    assert "no published copy at" in app.error[0].value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cosell_dashboard_serves_on_localhost(settings: Settings, tmp_path):
    build_published(settings.published)
    port = _free_port()
    env = {"COSELL_HOME": str(settings.home), "COSELL_PUBLISHED": str(settings.published), "PATH": "/usr/bin:/bin",
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
