"""`cosell demo` reports each step with its figures: the gates' counts, the published copy, the payout totals."""

from __future__ import annotations

import pytest
from payout_marts import T, deal, make_settings, partner
from payout_marts import build_warehouse as build_payout_marts
from test_gates import _settings as gate_settings
from test_gates import build_warehouse as build_gate_warehouse

from cosell.gates.runner import check
from cosell.orchestration.airflow_demo import (
    gate_figures,
    nightly_figures,
    payout_figures,
)
from cosell.payouts.lifecycle import run_period


@pytest.mark.slow
def test_gate_and_publish_figures(tmp_path):
    settings = gate_settings(tmp_path)
    build_gate_warehouse(settings)
    result = check("raw", settings)
    assert gate_figures(settings, "raw") == f"raw gate: {result.expectations} expectations, 0 failed, 0 warnings"
    assert gate_figures(settings, "marts") == "marts gate: no result"
    lines = nightly_figures(settings)
    assert lines[0].startswith(f"raw gate: {result.expectations} expectations") and f"nothing published at {settings.published}" in lines
    assert "program_report.html" in lines[-1]


@pytest.mark.slow
def test_payout_figures(tmp_path):
    s = make_settings(tmp_path)
    build_payout_marts(s, partners=[partner("P1", "VAR", "PLATINUM"), partner("P2", "VAR", "GOLD")],
                       deals=[deal("D1", "P1", "1000000.00", T(2026, 3, 3)), deal("D2", "P2", "1000.00", T(2026, 3, 4))])
    run_period("2026-03", tmp_path / "out", s)
    assert payout_figures(tmp_path / "out" / "2026-03") == (
        f"payouts 2026-03 DRAFT: 2 lines for 2 partners, total 20,015.00 USD, files in {tmp_path / 'out' / '2026-03'}")
    assert payout_figures(tmp_path / "nope").startswith("no payout files in")
