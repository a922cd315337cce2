"""Plan files: the default plan is SPEC section 6; effective ranges and rule types are validated."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal as D
from pathlib import Path

import pytest

from cosell.config import PLANS_DIR
from cosell.errors import CosellError
from cosell.payouts.plans import (
    AcceleratorRule,
    MdfRule,
    NewLogoRule,
    PipelineRule,
    load_plans,
    plan_for,
)

DEFAULT = next(PLANS_DIR.glob("*.yaml")).read_text()


def test_default_plan_is_spec_section_6():
    (plan,) = load_plans(PLANS_DIR)
    acc, pipe, logo, mdf = (plan.rule(k) for k in (AcceleratorRule, PipelineRule, NewLogoRule, MdfRule))
    assert acc.rule_id == "COSELL_ACCELERATOR" and acc.partner_types == {"VAR", "SI", "MSP", "DISTRIBUTOR"}
    assert acc.base_rate == {"PLATINUM": D("0.08"), "GOLD": D("0.06"), "SILVER": D("0.05"), "REGISTERED": D("0.04")}
    assert acc.multiplier == D("0.25") and acc.cap_per_partner_usd == D("25000.00")
    assert pipe.rule_id == "PIPELINE_CONTRIBUTION" and pipe.partner_types == {"ISV", "REFERRAL"}
    assert (pipe.sourced_by, pipe.rate, pipe.max_per_deal_usd) == ("PARTNER", D("0.01"), D("5000.00"))
    assert logo.rule_id == "NEW_LOGO_BONUS" and logo.partner_types == {"ISV", "REFERRAL"}
    assert (logo.sourced_by, logo.amount_usd) == ("PARTNER", D("2500.00"))
    assert mdf.window_months == 6 and mdf.eligible_tiers == {"PLATINUM", "GOLD", "SILVER"}
    assert (mdf.min_supported_requests, mdf.min_cosell_csat, mdf.share_of_supported_won) == (3, D("3.5"), D("0.02"))
    assert mdf.cap_usd == {"PLATINUM": D("100000.00"), "GOLD": D("50000.00"), "SILVER": D("20000.00")}
    content = next(PLANS_DIR.glob("*.yaml")).read_bytes()
    assert plan.sha256 == hashlib.sha256(content).hexdigest()


def _write(folder: Path, name: str, plan_id: str, start: str, end: str | None = None, text: str = DEFAULT) -> None:
    folder.mkdir(exist_ok=True)
    body = text.replace("plan_id: default-v1", f"plan_id: {plan_id}").replace(
        "effective_from: 2020-01-01", f"effective_from: {start}" + (f"\neffective_to: {end}" if end else "")
    )
    (folder / name).write_text(body)


def test_plan_versions_apply_from_their_effective_date(tmp_path):
    _write(tmp_path, "a.yaml", "v1", "2020-01-01", "2026-03-31")
    _write(tmp_path, "b.yaml", "v2", "2026-04-01", text=DEFAULT.replace('multiplier: "0.25"', 'multiplier: "0.5"'))
    plans = load_plans(tmp_path)
    assert plan_for(plans, dt.date(2026, 3, 1)).plan_id == "v1"
    assert plan_for(plans, dt.date(2026, 4, 1)).plan_id == "v2"
    assert plan_for(plans, dt.date(2030, 1, 1)).rule(AcceleratorRule).multiplier == D("0.5")
    with pytest.raises(CosellError, match="no payout plan is in force for 2019-12"):
        plan_for(plans, dt.date(2019, 12, 1))


def _error(folder: Path) -> str:
    with pytest.raises(CosellError) as error:
        load_plans(folder)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_overlapping_plans_are_an_error(tmp_path):
    _write(tmp_path, "a.yaml", "v1", "2020-01-01", "2026-04-30")
    _write(tmp_path, "b.yaml", "v2", "2026-04-01")
    assert "overlap" in _error(tmp_path)


def test_open_ended_plan_followed_by_another_overlaps(tmp_path):
    _write(tmp_path, "a.yaml", "v1", "2020-01-01")
    _write(tmp_path, "b.yaml", "v2", "2026-04-01")
    assert "overlap" in _error(tmp_path)


def test_gapped_plans_are_an_error(tmp_path):
    _write(tmp_path, "a.yaml", "v1", "2020-01-01", "2026-02-28")
    _write(tmp_path, "b.yaml", "v2", "2026-04-01")
    assert "gap after 2026-02-28" in _error(tmp_path)


def test_unknown_rule_type_is_an_error(tmp_path):
    _write(tmp_path, "a.yaml", "v1", "2020-01-01", text=DEFAULT.replace("type: new_logo_bonus", "type: loyalty_points"))
    message = _error(tmp_path)
    assert "unknown rule type 'loyalty_points'" in message and "a.yaml" in message


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("effective_from: 2020-01-01", "effective_from: 2020-01-15", "first day of a month"),
        ('multiplier: "0.25"', 'multiplier: "a quarter"', "multiplier"),
        ("REGISTERED: \"0.04\"}", "}", "every tier"),
        ("partner_types: [ISV, REFERRAL]\n    sourced_by: PARTNER\n    rate", "partner_types: [ISV, CHANNEL]\n    sourced_by: PARTNER\n    rate", "CHANNEL"),
        ("plan_id: default-v1", "plan_id: [", "not valid YAML"),
        ("rule_id: NEW_LOGO_BONUS", "rule_id: PIPELINE_CONTRIBUTION", "unique"),
    ],
)
def test_malformed_plans_are_one_line_errors(tmp_path, old, new, expected):
    assert old in DEFAULT
    _write(tmp_path, "a.yaml", "v1", "2020-01-01", text=DEFAULT.replace(old, new, 1))
    assert expected in _error(tmp_path)


def test_empty_or_missing_plans_folder(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope")
    assert "holds no plan" in _error(tmp_path)
