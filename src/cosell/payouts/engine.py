"""Reads one period's compact rows from the marts (read-only), runs the rules and ties the basis back to SQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import duckdb

from cosell.config import Settings
from cosell.db import connect, warehouse_as_of
from cosell.errors import CosellError
from cosell.payouts.plans import (
    AcceleratorRule,
    MdfRule,
    NewLogoRule,
    PipelineRule,
    Plan,
)
from cosell.payouts.rules import (
    CAP_ADJUSTMENT,
    ZERO,
    Deal,
    MdfWindow,
    Partner,
    PartnerVersion,
    Period,
    PeriodData,
    PeriodResult,
    compute_period,
    money_text,
    round_cents,
)

MARTS = (
    "dim_partner",
    "dim_partner_versions",
    "fct_cosell_deals",
    "fct_cosell_engagements",
    "fct_satisfaction_responses",
    "warehouse_as_of",
)


@dataclass(frozen=True)
class EngineOutput:
    result: PeriodResult
    as_of_date: dt.date | None
    deals_in_period: int = 0  # partner deals registered, closed or first in technical validation in the period


def money(value) -> Decimal | None:
    """A money value from the warehouse as an exact Decimal with cents (None stays None)."""
    if value is None:
        return None
    return round_cents(value if isinstance(value, Decimal) else Decimal(str(value)))


def utc(value) -> dt.datetime | None:
    """A warehouse timestamp as naive UTC (TIMESTAMP already is; TIMESTAMPTZ is converted)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    raise CosellError(f"unexpected timestamp value {value!r} in the marts: rebuild them")


def _check_marts(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    present = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    missing = [name for name in MARTS if name not in present]
    if missing:
        raise CosellError(
            f"warehouse {settings.warehouse} lacks marts.{', marts.'.join(missing)}: run `cosell build` first"
        )


# The MDF window's totals per partner (the window ends with the period): supported requests confirmed in it,
# COSELL_ENGAGEMENT responses with a score submitted in it, and deals won in it with support before close (the
# first of them without amount_usd, which stops the run).
MDF_WINDOW_SQL = """
    with requests as (
        select partner_id, count(*) as supported_requests from marts.fct_cosell_engagements
        where is_supported and confirmed_at >= $ws and confirmed_at < $end
        group by partner_id
    ),
    scores as (
        select partner_id, count(*) as responses, sum(score) as score_sum from marts.fct_satisfaction_responses
        where survey_type = 'COSELL_ENGAGEMENT' and score is not null
          and submitted_at >= $ws and submitted_at < $end
        group by partner_id
    ),
    won as (
        select partner_id, sum(amount_usd) as supported_won_usd,
               min(deal_id) filter (where amount_usd is null) as without_amount
        from marts.fct_cosell_deals
        where partner_id is not null and is_won and closed_at >= $ws and closed_at < $end
          and is_supported_before_close
        group by partner_id
    )
    select p.partner_id, coalesce(r.supported_requests, 0), coalesce(s.responses, 0), coalesce(s.score_sum, 0),
           coalesce(w.supported_won_usd, 0), w.without_amount
    from marts.dim_partner p
    left join requests r on r.partner_id = p.partner_id
    left join scores s on s.partner_id = p.partner_id
    left join won w on w.partner_id = p.partner_id
    order by p.partner_id
"""


def _line_deals_filter(plan: Plan) -> tuple[str, dict] | None:
    """The SQL condition of the deals (d) of partners (p, dim_partner) the plan's line rules can pay in the period.

    Each rule's own conditions (the rules check them again): the partner's type among the rule's (a deal of a
    partner missing from dim_partner is read, so that the rules stop on it), and on the deal: for the
    accelerator a deal won in the period with support before close, for the new-logo bonus a new logo won in
    the period and sourced as the rule says, for pipeline contribution a deal sourced as the rule says that
    first reached technical validation in the period. Returns the condition and its parameters; None for a
    plan without line rules: it reads no deal.
    """
    won = "d.is_won and d.closed_at >= $start and d.closed_at < $end"

    def paid_type(name: str) -> str:
        return f"(p.partner_id is null or list_contains(${name}, p.partner_type))"

    conditions, params = [], {}
    accelerator = plan.rule(AcceleratorRule)
    if accelerator is not None:
        conditions.append(f"({paid_type('accelerator_types')} and {won} and d.is_supported_before_close)")
        params["accelerator_types"] = sorted(accelerator.partner_types)
    logo = plan.rule(NewLogoRule)
    if logo is not None:
        conditions.append(f"({paid_type('logo_types')} and {won} and d.is_new_logo"
                          " and d.sourced_by = $logo_sourced_by)")
        params.update(logo_types=sorted(logo.partner_types), logo_sourced_by=logo.sourced_by)
    pipeline = plan.rule(PipelineRule)
    if pipeline is not None:
        conditions.append(f"({paid_type('pipeline_types')} and d.technical_validation_at >= $start"
                          " and d.technical_validation_at < $end and d.sourced_by = $pipeline_sourced_by)")
        params.update(pipeline_types=sorted(pipeline.partner_types), pipeline_sourced_by=pipeline.sourced_by)
    return (" or ".join(conditions), params) if conditions else None


def load_period_data(con: duckdb.DuckDBPyConnection, plan: Plan, period: Period) -> PeriodData:
    """Compact rows for the period (partners, versions, the deals its line rules can pay) and the MDF window's totals."""
    partners = tuple(
        Partner(str(r[0]), str(r[1]), str(r[2]), str(r[3]))
        for r in con.execute(
            "select partner_id, partner_name, partner_type, partner_tier from marts.dim_partner order by partner_id"
        ).fetchall()
    )
    versions = tuple(
        PartnerVersion(str(r[0]), str(r[1]), utc(r[2]), utc(r[3]))
        for r in con.execute(
            "select partner_id, partner_tier, valid_from, valid_to from marts.dim_partner_versions "
            "order by partner_id, updated_at"
        ).fetchall()
    )
    line_deals = _line_deals_filter(plan)
    deals: tuple[Deal, ...] = () if line_deals is None else tuple(
        Deal(
            deal_id=str(r[0]),
            partner_id=str(r[1]),
            sourced_by=str(r[2]),
            is_new_logo=bool(r[3]),
            is_won=bool(r[4]),
            amount_usd=money(r[5]),
            closed_at=utc(r[6]),
            is_supported_before_close=bool(r[7]),
            first_support_at=utc(r[8]),
            technical_validation_at=utc(r[9]),
        )
        for r in con.execute(
            f"""
            select d.deal_id, d.partner_id, d.sourced_by, d.is_new_logo, d.is_won, d.amount_usd, d.closed_at,
                   d.is_supported_before_close, d.first_support_at, d.technical_validation_at
            from marts.fct_cosell_deals d left join marts.dim_partner p on p.partner_id = d.partner_id
            where d.partner_id is not null and ({line_deals[0]})
            order by d.deal_id
            """,
            {"start": period.start, "end": period.end, **line_deals[1]},
        ).fetchall()
    )
    window: tuple[MdfWindow, ...] = ()
    mdf = plan.rule(MdfRule)
    if mdf is not None:
        params = {"ws": dt.datetime.combine(period.window_start(mdf.window_months), dt.time()), "end": period.end}
        rows = con.execute(MDF_WINDOW_SQL, params).fetchall()
        missing = [r[5] for r in rows if r[5] is not None]
        if missing:
            raise CosellError(f"deal {min(missing)} qualifies for {mdf.rule_id} but has no amount_usd: "
                              "fix its fx rate and rebuild")
        window = tuple(MdfWindow(str(r[0]), int(r[1]), int(r[2]), int(r[3]), money(r[4])) for r in rows)
    return PeriodData(partners, versions, deals, window)


def _tie(label: str, computed: tuple[int, Decimal], queried: tuple[int, Decimal], period: Period) -> None:
    if computed != queried:
        raise CosellError(
            f"period {period.label}: {label} does not tie back to the marts "
            f"(lines {computed[0]}, basis {money_text(computed[1])} vs marts {queried[0]}, "
            f"{money_text(queried[1])}): nothing written; report this as a bug"
        )


def reconcile(con: duckdb.DuckDBPyConnection, plan: Plan, period: Period, result: PeriodResult) -> None:
    """Tie each rule's basis back to an independent SQL query over the marts; any difference is an error."""

    def lines_of(rule_id: str) -> tuple[int, Decimal]:
        chosen = [line for line in result.lines if line.rule_id == rule_id]
        return len(chosen), sum((line.basis_usd for line in chosen), ZERO)

    def query(sql: str, params: dict) -> tuple[int, Decimal]:
        count, total = con.execute(sql, params).fetchone()
        return int(count), money(total) if total is not None else ZERO

    base = "from marts.fct_cosell_deals d join marts.dim_partner p on p.partner_id = d.partner_id"
    rule = plan.rule(AcceleratorRule)
    if rule is not None:
        _tie("accelerator basis", lines_of(rule.rule_id), query(
            f"""select count(*), sum(d.amount_usd) {base}
                where list_contains($types, p.partner_type) and d.is_won
                  and d.closed_at >= $start and d.closed_at < $end
                  and d.is_supported_before_close""",
            {"types": sorted(rule.partner_types), "start": period.start, "end": period.end},
        ), period)
        cap = round_cents(rule.cap_per_partner_usd)
        for summary in result.summaries:
            if summary.cosell_accelerator_usd > cap:
                raise CosellError(f"period {period.label}: partner {summary.partner_id} is above the accelerator cap")
        caps = [line for line in result.lines if line.rule_id == CAP_ADJUSTMENT]
        if any(line.amount_usd >= 0 for line in caps):
            raise CosellError(f"period {period.label}: a CAP_ADJUSTMENT line is not negative")
    rule = plan.rule(PipelineRule)
    if rule is not None:
        _tie("pipeline contribution basis", lines_of(rule.rule_id), query(
            f"""select count(*), sum(d.amount_usd) {base}
                where list_contains($types, p.partner_type) and d.sourced_by = $sourced
                  and d.technical_validation_at >= $start and d.technical_validation_at < $end""",
            {"types": sorted(rule.partner_types), "sourced": rule.sourced_by, "start": period.start, "end": period.end},
        ), period)
    rule = plan.rule(NewLogoRule)
    if rule is not None:
        count, _ = query(
            f"""select count(*), null {base}
                where list_contains($types, p.partner_type) and d.sourced_by = $sourced and d.is_won
                  and d.is_new_logo and d.closed_at >= $start and d.closed_at < $end""",
            {"types": sorted(rule.partner_types), "sourced": rule.sourced_by, "start": period.start, "end": period.end},
        )
        _tie("new-logo bonus count", lines_of(rule.rule_id), (count, round_cents(rule.amount_usd) * count), period)
    rule = plan.rule(MdfRule)
    if rule is not None:
        start = dt.datetime.combine(period.window_start(rule.window_months), dt.time())
        _tie("MDF supported_won_usd", (len(result.mdf), sum((r.supported_won_usd for r in result.mdf), ZERO)), (
            int(con.execute("select count(*) from marts.dim_partner").fetchone()[0]),
            query(
                f"""select count(*), sum(d.amount_usd) {base}
                    where d.is_won and d.closed_at >= $ws and d.closed_at < $end
                      and d.is_supported_before_close""",
                {"ws": start, "end": period.end},
            )[1],
        ), period)
    paid = sum((s.total_usd for s in result.summaries), ZERO)
    if paid != result.total_usd or sum(t.amount_usd for t in result.control_totals.values()) != result.total_usd:
        raise CosellError(f"period {period.label}: partner totals do not add up to the period total")


def run_engine(plan: Plan, period: Period, settings: Settings) -> EngineOutput:
    """Compute and reconcile one period from the warehouse, opened read-only."""
    con = connect(settings, read_only=True)  # a missing or locked warehouse is a one-line CosellError
    try:
        _check_marts(con, settings)
        data = load_period_data(con, plan, period)
        result = compute_period(plan, period, data)
        reconcile(con, plan, period, result)
        as_of = warehouse_as_of(con)
        if isinstance(as_of, dt.datetime):
            as_of = as_of.date()
        deals = con.execute(
            """select count(*) from marts.fct_cosell_deals where partner_id is not null and (
                   (registered_at >= $start and registered_at < $end) or (closed_at >= $start and closed_at < $end)
                   or (technical_validation_at >= $start and technical_validation_at < $end))""",
            {"start": period.start, "end": period.end},
        ).fetchone()[0]
        return EngineOutput(result, as_of, int(deals))
    except duckdb.Error as error:
        raise CosellError(f"reading the marts failed: {str(error).splitlines()[0]}") from None
    finally:
        con.close()
