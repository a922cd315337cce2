"""Payout plans: versioned, effective-dated YAML files parsed into typed rules and validated."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Union

import yaml

from cosell.contract import PARTNER_TYPES, SOURCED_BY, TIERS
from cosell.errors import CosellError


@dataclass(frozen=True)
class AcceleratorRule:
    rule_id: str
    partner_types: frozenset[str]
    base_rate: dict[str, Decimal]
    multiplier: Decimal
    cap_per_partner_usd: Decimal


@dataclass(frozen=True)
class PipelineRule:
    rule_id: str
    partner_types: frozenset[str]
    sourced_by: str
    rate: Decimal
    max_per_deal_usd: Decimal


@dataclass(frozen=True)
class NewLogoRule:
    rule_id: str
    partner_types: frozenset[str]
    sourced_by: str
    amount_usd: Decimal


@dataclass(frozen=True)
class MdfRule:
    rule_id: str
    window_months: int
    eligible_tiers: frozenset[str]
    min_supported_requests: int
    min_cosell_csat: Decimal
    share_of_supported_won: Decimal
    cap_usd: dict[str, Decimal]


Rule = Union[AcceleratorRule, PipelineRule, NewLogoRule, MdfRule]


@dataclass(frozen=True)
class Plan:
    plan_id: str
    effective_from: dt.date
    effective_to: dt.date | None
    rules: tuple[Rule, ...]
    file_name: str
    sha256: str

    def rule(self, kind: type) -> Any:
        """The plan's rule of one type, or None when the plan has none."""
        return next((r for r in self.rules if isinstance(r, kind)), None)

    def applies_to(self, first_day: dt.date) -> bool:
        return self.effective_from <= first_day and (self.effective_to is None or first_day <= self.effective_to)


class _Reader:
    """Typed access to one mapping of a plan file; every failure names the file and the key."""

    def __init__(self, file_name: str, where: str, data: Any):
        if not isinstance(data, dict):
            raise CosellError(f"plan {file_name}: {where} must be a mapping")
        self.file_name, self.where, self.data = file_name, where, data

    def fail(self, message: str) -> CosellError:
        return CosellError(f"plan {self.file_name}: {self.where}{message}")

    def raw(self, key: str) -> Any:
        if key not in self.data or self.data[key] is None:
            raise self.fail(f"{key} is missing")
        return self.data[key]

    def text(self, key: str, allowed: tuple[str, ...] | None = None) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key} must be text")
        if allowed is not None and value not in allowed:
            raise self.fail(f"{key} {value!r} is not one of {', '.join(allowed)}")
        return value

    def decimal(self, key: str, value: Any = None) -> Decimal:
        value = self.raw(key) if value is None else value
        if isinstance(value, bool):
            raise self.fail(f"{key} must be a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(f"{key} {value!r} is not a number") from None
        if not number.is_finite() or number < 0:
            raise self.fail(f"{key} {value!r} must be a number >= 0")
        return number

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(f"{key} must be a whole number >= 0")
        return value

    def names(self, key: str, allowed: tuple[str, ...]) -> frozenset[str]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            raise self.fail(f"{key} must be a non-empty list")
        unknown = sorted(str(v) for v in value if v not in allowed)
        if unknown:
            raise self.fail(f"{key} has unknown value(s) {', '.join(unknown)}")
        return frozenset(value)

    def by_tier(self, key: str, all_tiers: bool) -> dict[str, Decimal]:
        value = self.raw(key)
        if not isinstance(value, dict) or not value:
            raise self.fail(f"{key} must map tiers to amounts")
        unknown = sorted(str(t) for t in value if t not in TIERS)
        if unknown:
            raise self.fail(f"{key} has unknown tier(s) {', '.join(unknown)}")
        if all_tiers and set(value) != set(TIERS):
            raise self.fail(f"{key} needs every tier ({', '.join(TIERS)})")
        return {tier: self.decimal(f"{key}.{tier}", value[tier]) for tier in value}

    def date(self, key: str, required: bool = True) -> dt.date | None:
        if not required and self.data.get(key) is None:
            return None
        value = self.raw(key)
        if isinstance(value, dt.datetime):
            raise self.fail(f"{key} must be a date YYYY-MM-DD")
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(f"{key} {value!r} is not a date YYYY-MM-DD") from None


def _accelerator(r: _Reader, rule_id: str) -> AcceleratorRule:
    return AcceleratorRule(
        rule_id=rule_id,
        partner_types=r.names("partner_types", PARTNER_TYPES),
        base_rate=r.by_tier("base_rate", all_tiers=True),
        multiplier=r.decimal("multiplier"),
        cap_per_partner_usd=r.decimal("cap_per_partner_usd"),
    )


def _pipeline(r: _Reader, rule_id: str) -> PipelineRule:
    return PipelineRule(
        rule_id=rule_id,
        partner_types=r.names("partner_types", PARTNER_TYPES),
        sourced_by=r.text("sourced_by", SOURCED_BY),
        rate=r.decimal("rate"),
        max_per_deal_usd=r.decimal("max_per_deal_usd"),
    )


def _new_logo(r: _Reader, rule_id: str) -> NewLogoRule:
    return NewLogoRule(
        rule_id=rule_id,
        partner_types=r.names("partner_types", PARTNER_TYPES),
        sourced_by=r.text("sourced_by", SOURCED_BY),
        amount_usd=r.decimal("amount_usd"),
    )


def _mdf(r: _Reader, rule_id: str) -> MdfRule:
    window = r.integer("window_months")
    if window < 1:
        raise r.fail("window_months must be at least 1")
    tiers = r.names("eligible_tiers", TIERS)
    caps = r.by_tier("cap_usd", all_tiers=False)
    missing = sorted(tiers - set(caps))
    if missing:
        raise r.fail(f"cap_usd has no cap for eligible tier(s) {', '.join(missing)}")
    return MdfRule(
        rule_id=rule_id,
        window_months=window,
        eligible_tiers=tiers,
        min_supported_requests=r.integer("min_supported_requests"),
        min_cosell_csat=r.decimal("min_cosell_csat"),
        share_of_supported_won=r.decimal("share_of_supported_won"),
        cap_usd=caps,
    )


RULE_TYPES = {
    "cosell_accelerator": _accelerator,
    "pipeline_contribution": _pipeline,
    "new_logo_bonus": _new_logo,
    "mdf_eligibility": _mdf,
}


def parse_plan(file_name: str, content: bytes) -> Plan:
    """One plan from the bytes of its YAML file (pure: no file access)."""
    try:
        data = yaml.safe_load(content.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CosellError(f"plan {file_name}: not valid YAML ({reason})") from None
    top = _Reader(file_name, "", data)
    plan_id = top.text("plan_id")
    start = top.date("effective_from")
    end = top.date("effective_to", required=False)
    if start.day != 1:
        raise top.fail(f"effective_from {start} must be the first day of a month")
    if end is not None and (end + dt.timedelta(days=1)).day != 1:
        raise top.fail(f"effective_to {end} must be the last day of a month")
    if end is not None and end < start:
        raise top.fail(f"effective_to {end} is before effective_from {start}")
    items = top.raw("rules")
    if not isinstance(items, list) or not items:
        raise top.fail("rules must be a non-empty list")
    rules: list[Rule] = []
    for index, item in enumerate(items, start=1):
        r = _Reader(file_name, f"rule {index}: ", item)
        kind = r.text("type")
        if kind not in RULE_TYPES:
            raise r.fail(f"unknown rule type {kind!r} (known: {', '.join(sorted(RULE_TYPES))})")
        rule_id = r.text("rule_id")
        if rule_id == "CAP_ADJUSTMENT":
            raise r.fail("rule_id CAP_ADJUSTMENT is reserved for the accelerator cap")
        rules.append(RULE_TYPES[kind](r, rule_id))
    ids = [rule.rule_id for rule in rules]
    if len(set(ids)) != len(ids):
        raise top.fail("rule_id values must be unique")
    kinds = [type(rule) for rule in rules]
    if len(set(kinds)) != len(kinds):
        raise top.fail("each rule type may appear once")
    return Plan(
        plan_id=plan_id,
        effective_from=start,
        effective_to=end,
        rules=tuple(rules),
        file_name=file_name,
        sha256=hashlib.sha256(content).hexdigest(),
    )


def check_ranges(plans: list[Plan]) -> list[Plan]:
    """Plans sorted by effective_from; overlapping or gapped ranges and duplicate ids are errors."""
    ordered = sorted(plans, key=lambda p: (p.effective_from, p.file_name))
    ids = [p.plan_id for p in ordered]
    for plan_id in sorted({i for i in ids if ids.count(i) > 1}):
        raise CosellError(f"plans: plan_id {plan_id!r} is used by more than one file")
    for before, after in zip(ordered, ordered[1:]):
        if before.effective_to is None or before.effective_to >= after.effective_from:
            raise CosellError(
                f"plans {before.file_name} and {after.file_name} overlap: "
                f"give {before.file_name} effective_to {after.effective_from - dt.timedelta(days=1)}"
            )
        if before.effective_to + dt.timedelta(days=1) != after.effective_from:
            raise CosellError(
                f"plans {before.file_name} and {after.file_name} leave a gap after {before.effective_to}"
            )
    return ordered


def plan_for(plans: list[Plan], first_day: dt.date) -> Plan:
    """The one plan in force for the period starting on first_day."""
    for plan in plans:
        if plan.applies_to(first_day):
            return plan
    raise CosellError(f"no payout plan is in force for {first_day:%Y-%m}: add or extend a plan file")


def load_plans(plans_dir: Path) -> list[Plan]:
    """Every *.yaml / *.yml plan in plans_dir, validated as a set."""
    if not plans_dir.is_dir():
        raise CosellError(f"plans folder {plans_dir} does not exist")
    files = sorted(p for p in plans_dir.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    if not files:
        raise CosellError(f"plans folder {plans_dir} holds no plan (*.yaml)")
    return check_ranges([parse_plan(p.name, p.read_bytes()) for p in files])
