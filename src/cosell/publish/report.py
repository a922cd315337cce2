"""Program report for BI users: one self-contained HTML page of plotly charts over the published marts.

The page embeds plotly.js once (no network needed to view it), uses fixed div ids and carries no
timestamp but the data's as_of_date, so the same published data gives the same bytes. It reads
the published warehouse read-only by default; every chart is read defensively: a missing or
empty table is drawn as an explicit note instead of an empty frame.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import duckdb
import plotly.graph_objects as go

from cosell import leftovers
from cosell.config import Settings
from cosell.db import connect

REPORT_NAME = "program_report.html"

TIER_ORDER = ("PLATINUM", "GOLD", "SILVER", "REGISTERED")
SLICE_ORDER = ("OVERALL", "RESOURCE_TYPE", "PARTNER_TYPE", "PARTNER_TIER", "COMPLEXITY_BAND", "FIRST_SUPPORT_STAGE")
VIOLATION_ORDER = (
    "UNBRIEFED_CUSTOMER_CONTACT",
    "TECHNICAL_ROLE_NEGOTIATION",
    "OFF_PLAN_CONTACT",
    "DIRECT_PIPELINE_AFTER_COSELL",
)
COMPLEXITY_ORDER = ("LOW", "MEDIUM", "HIGH")
PARTICIPATION_ORDER = ("ABOVE_AVERAGE", "BELOW_AVERAGE")
RULE_ORDER = ("COSELL_ACCELERATOR", "CAP_ADJUSTMENT", "PIPELINE_CONTRIBUTION", "NEW_LOGO_BONUS")
# A fixed qualitative palette so a category keeps its colour whatever the data (plotly's default).
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52")
CHART_HEIGHT = 440
NO_PAYOUTS = "no payout period computed yet"


@dataclass(frozen=True)
class Chart:
    div_id: str
    title: str
    measures: str
    figure: go.Figure
    note: str | None = None  # set when the chart shows a note instead of data


@dataclass
class ReportSummary:
    path: Path
    source: Path
    as_of_date: dt.date | None
    charts: list[tuple[str, str | None]] = field(default_factory=list)  # (div id, note or None)

    def describe(self) -> str:
        notes = [f"{div}: {note}" for div, note in self.charts if note]
        extra = f"; {'; '.join(notes)}" if notes else ""
        return (
            f"report as of {self.as_of_date or 'unknown'} with {len(self.charts)} charts written to {self.path} "
            f"(from {self.source}){extra}"
        )


# ---------------------------------------------------------------- reading


def _table_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> set[str] | None:
    """Column names of schema.name (table or view), or None when it does not exist."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return {r[0] for r in rows} or None


def _missing(con: duckdb.DuckDBPyConnection, table: str, needed: tuple[str, ...]) -> str | None:
    """Why `table` cannot be charted (absent, or lacking columns), or None when it can."""
    schema, name = table.split(".")
    columns = _table_columns(con, schema, name)
    if columns is None:
        return f"{table} is not in this warehouse yet"
    lacking = [c for c in needed if c not in columns]
    if lacking:
        return f"{table} has no column {', '.join(lacking)}"
    return None


def _as_of_date(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    for table, column in (("marts.warehouse_as_of", "as_of_date"), ("meta.publication", "as_of_date")):
        if _missing(con, table, (column,)) is None:
            value = con.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]
            if value is not None:
                return value
    return None


def _ordered(values, preferred: tuple[str, ...]) -> list[str]:
    """Distinct values: the preferred ones in their order, then the rest sorted (None last as 'unknown')."""
    distinct = {v for v in values}
    first = [v for v in preferred if v in distinct]
    return first + sorted(v for v in distinct if v not in preferred)


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


SLICE_WORDS = {
    "OVERALL": "All closed deals",
    "RESOURCE_TYPE": "Resource type",
    "PARTNER_TYPE": "Partner type",
    "PARTNER_TIER": "Partner tier",
    "COMPLEXITY_BAND": "Complexity",
    "FIRST_SUPPORT_STAGE": "Stage at first support",
}
ACRONYMS = {"VAR", "SI", "ISV", "MSP", "ROE", "CEM", "USD", "MDF"}


def words(code: str) -> str:
    """An enum value as words: SOLUTION_ARCHITECT -> 'Solution architect' (acronyms such as VAR kept)."""
    parts = [p if p in ACRONYMS else "co-sell" if p == "COSELL" else p.lower() for p in str(code).split("_") if p]
    text = " ".join(parts)
    return text[:1].upper() + text[1:] if text else str(code)


def slice_label(slice_type: str, value: str) -> str:
    """'Resource type: Solution architect'; the OVERALL slice is 'All closed deals'."""
    if slice_type == "OVERALL":
        return SLICE_WORDS["OVERALL"]
    return f"{SLICE_WORDS.get(slice_type, words(slice_type))}: {words(value)}"


def partial_month(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """(YYYY-MM, as_of) of the month the data ends in when it has not ended by as_of_date, else None."""
    as_of = _as_of_date(con)
    if as_of is None or (as_of + dt.timedelta(days=1)).month != as_of.month:
        return None
    return as_of.strftime("%Y-%m"), as_of.isoformat()


# ---------------------------------------------------------------- figures


def _base_layout(fig: go.Figure, **kwargs: Any) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=kwargs.pop("height", CHART_HEIGHT),
        margin=dict(l=70, r=30, t=30, b=60),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        font=dict(family="Helvetica, Arial, sans-serif", size=12),
        **kwargs,
    )
    return fig


def _note_figure(text: str) -> go.Figure:
    """A drawn frame that says why there is nothing to plot (never an empty unexplained frame)."""
    fig = go.Figure()
    _base_layout(fig, height=220)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=html.escape(text),
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font=dict(size=16, color="#555"),
    )
    return fig


def _month_axis(fig: go.Figure, months: list[str], title: str = "month",
                partial: tuple[str, str] | None = None) -> None:
    """A category axis of months; the month the data ends in is marked partial when it had not ended."""
    fig.update_xaxes(title_text=title, type="category", categoryorder="array", categoryarray=months)
    if partial and partial[0] in months:
        fig.update_xaxes(tickvals=months, ticktext=[f"{m} (partial: data to {partial[1]})" if m == partial[0] else m
                                                    for m in months])


def coverage_chart(con: duckdb.DuckDBPyConnection) -> tuple[go.Figure, str | None]:
    table = "marts.mart_cosell_coverage"
    why = _missing(con, table, ("registered_month", "partner_tier", "eligible_deals", "supported_eligible_deals"))
    if why:
        return _note_figure(why), why
    rows = con.execute(
        f"""
        SELECT coalesce(strftime(registered_month, '%Y-%m'), 'unknown') AS month,
               coalesce(partner_tier, 'unknown') AS tier,
               sum(supported_eligible_deals)::BIGINT AS supported, sum(eligible_deals)::BIGINT AS eligible
        FROM {table} GROUP BY ALL HAVING sum(eligible_deals) > 0 ORDER BY 1, 2
        """
    ).fetchall()
    if not rows:
        why = f"{table} has no eligible deals yet"
        return _note_figure(why), why
    months = sorted({r[0] for r in rows})
    fig = go.Figure()
    by_tier: dict[str, list] = defaultdict(list)
    total: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for month, tier, supported, eligible in rows:
        by_tier[tier].append((month, supported, eligible))
        total[month][0] += supported
        total[month][1] += eligible
    for i, tier in enumerate(_ordered(by_tier, TIER_ORDER)):
        points = by_tier[tier]
        fig.add_trace(
            go.Scatter(
                name=tier,
                x=[p[0] for p in points],
                y=[p[1] / p[2] for p in points],
                customdata=[[p[1], p[2]] for p in points],
                mode="lines+markers",
                line=dict(color=_color(i)),
                hovertemplate="%{x} " + tier + ": %{y:.1%} (%{customdata[0]} of %{customdata[1]} eligible deals)<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            name="all tiers",
            x=months,
            y=[total[m][0] / total[m][1] for m in months],
            customdata=[total[m] for m in months],
            mode="lines+markers",
            line=dict(color="#333", dash="dash"),
            hovertemplate="%{x} all tiers: %{y:.1%} (%{customdata[0]} of %{customdata[1]} eligible deals)<extra></extra>",
        )
    )
    _base_layout(fig)
    _month_axis(fig, months, "registered month", partial_month(con))
    fig.update_yaxes(title_text="coverage rate", tickformat=".0%", rangemode="tozero")
    return fig, None


def uplift_chart(con: duckdb.DuckDBPyConnection) -> tuple[go.Figure, str | None]:
    table = "marts.mart_cosell_uplift"
    why = _missing(
        con,
        table,
        ("slice_type", "slice_value", "naive_win_rate_uplift", "win_rate_uplift", "uplift_ci_low", "uplift_ci_high",
         "matched_treated_deals", "treated_deals"),
    )
    if why:
        return _note_figure(why), why
    rows = con.execute(
        f"""
        SELECT slice_type, coalesce(slice_value, 'unknown'), naive_win_rate_uplift::DOUBLE, win_rate_uplift::DOUBLE,
               uplift_ci_low::DOUBLE, uplift_ci_high::DOUBLE, matched_treated_deals::BIGINT, treated_deals::BIGINT
        FROM {table}
        """
    ).fetchall()
    if not rows:
        why = f"{table} has no slice with treated deals yet"
        return _note_figure(why), why
    slice_rank = {s: i for i, s in enumerate(SLICE_ORDER)}
    rows.sort(key=lambda r: (slice_rank.get(r[0], len(SLICE_ORDER)), r[0], r[1]))
    labels, naive, matched, err_plus, err_minus, texts = [], [], [], [], [], []
    for slice_type, value, naive_u, uplift, low, high, n_matched, n_treated in rows:
        label = f"{slice_label(slice_type, value)} (matched {n_matched} of {n_treated} treated)"
        labels.append(label)
        naive.append(naive_u)
        matched.append(uplift)
        err_plus.append(None if uplift is None or high is None else high - uplift)
        err_minus.append(None if uplift is None or low is None else uplift - low)
        texts.append("no matched stratum" if uplift is None else None)
    # Plotly draws the first category at the bottom: reverse so OVERALL is on top.
    labels.reverse(); naive.reverse(); matched.reverse(); err_plus.reverse(); err_minus.reverse(); texts.reverse()
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            name="naive (all treated vs all controls)",
            y=labels,
            x=naive,
            orientation="h",
            marker_color="#b0b0b0",
            hovertemplate="%{y}<br>naive uplift %{x:+.1%}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            name="matched (CEM, 95% CI)",
            y=labels,
            x=[0 if m is None else m for m in matched],
            orientation="h",
            marker_color=[_color(0) if m is not None else "rgba(0,0,0,0)" for m in matched],
            error_x=dict(type="data", symmetric=False, array=[e if e is not None else 0 for e in err_plus],
                         arrayminus=[e if e is not None else 0 for e in err_minus], color="#222", thickness=1.5),
            text=[t or "" for t in texts],
            textposition="outside",
            hovertemplate="%{y}<br>matched uplift %{x:+.1%}<extra></extra>",
        )
    )
    _base_layout(fig, barmode="group", height=max(CHART_HEIGHT, 120 + 44 * len(labels)))
    fig.update_layout(margin=dict(l=20, r=30, t=30, b=60))
    fig.update_xaxes(title_text="win-rate uplift (treated minus control)", tickformat="+.0%", zeroline=True,
                     zerolinecolor="#444", zerolinewidth=1)
    fig.update_yaxes(type="category", automargin=True)
    return fig, None


def deployment_chart(con: duckdb.DuckDBPyConnection) -> tuple[go.Figure, str | None, str]:
    """Median and p90 hours to confirm by requested_month and resource_type.

    mart_resource_deployment's grain also has partner_type, and quantiles cannot be added up; the
    pooled quantiles are recomputed with the mart's own definition (continuous quantiles over
    supported requests) from fct_cosell_engagements when it is there, otherwise the mart's
    partner-type values are averaged weighted by supported requests (and the page says so).
    """
    table = "marts.mart_resource_deployment"
    why = _missing(con, table, ("requested_month", "resource_type", "supported", "median_hours_to_confirm",
                                "p90_hours_to_confirm"))
    if why:
        return _note_figure(why), why, ""
    engagements = "marts.fct_cosell_engagements"
    if _missing(con, engagements, ("requested_month", "resource_type", "is_supported", "hours_to_confirm")) is None:
        how = "pooled over partner types (continuous quantiles over supported requests, from fct_cosell_engagements)"
        sql = f"""
            SELECT strftime(requested_month, '%Y-%m') AS month, resource_type,
                   count(*)::BIGINT AS supported,
                   quantile_cont(hours_to_confirm::DOUBLE, 0.5) AS median_h,
                   quantile_cont(hours_to_confirm::DOUBLE, 0.9) AS p90_h
            FROM {engagements}
            WHERE is_supported AND hours_to_confirm IS NOT NULL AND requested_month IS NOT NULL
            GROUP BY ALL ORDER BY 1, 2
        """
    else:
        how = "partner-type values of the mart averaged, weighted by supported requests"
        sql = f"""
            SELECT strftime(requested_month, '%Y-%m') AS month, resource_type,
                   sum(supported)::BIGINT AS supported,
                   sum(supported * median_hours_to_confirm::DOUBLE) / sum(supported) AS median_h,
                   sum(supported * p90_hours_to_confirm::DOUBLE) / sum(supported) AS p90_h
            FROM {table}
            WHERE supported > 0 AND median_hours_to_confirm IS NOT NULL AND requested_month IS NOT NULL
            GROUP BY ALL ORDER BY 1, 2
        """
    rows = con.execute(sql).fetchall()
    if not rows:
        why = "no supported request with a confirmation yet"
        return _note_figure(why), why, how
    months = sorted({r[0] for r in rows})
    by_type: dict[str, list] = defaultdict(list)
    for month, resource_type, supported, median_h, p90_h in rows:
        by_type[resource_type].append((month, supported, median_h, p90_h))
    fig = go.Figure()
    for i, resource_type in enumerate(sorted(by_type)):
        points = by_type[resource_type]
        for stat, index, dash in (("median", 2, "solid"), ("p90", 3, "dot")):
            fig.add_trace(
                go.Scatter(
                    name=f"{words(resource_type)} {stat}",
                    legendgroup=resource_type,
                    x=[p[0] for p in points],
                    y=[round(p[index], 4) for p in points],
                    customdata=[p[1] for p in points],
                    mode="lines+markers",
                    line=dict(color=_color(i), dash=dash),
                    hovertemplate="%{x} " + words(resource_type) + f" {stat}: " + "%{y:.1f} h (%{customdata} supported requests)<extra></extra>",
                )
            )
    _base_layout(fig)
    _month_axis(fig, months, "requested month", partial_month(con))
    fig.update_yaxes(title_text="hours to confirm", rangemode="tozero")
    return fig, None, how


def repeat_chart(con: duckdb.DuckDBPyConnection) -> tuple[go.Figure, str | None]:
    table = "marts.mart_repeat_request_rate"
    why = _missing(con, table, ("first_support_month", "partner_type", "supported_partners", "repeat_partners"))
    if why:
        return _note_figure(why), why
    rows = con.execute(
        f"""
        SELECT strftime(first_support_month, '%Y-%m'), coalesce(partner_type, 'unknown'),
               sum(supported_partners)::BIGINT, sum(repeat_partners)::BIGINT
        FROM {table} WHERE first_support_month IS NOT NULL
        GROUP BY ALL HAVING sum(supported_partners) > 0 ORDER BY 1, 2
        """
    ).fetchall()
    if not rows:
        why = "no cohort has closed its repeat window yet"
        return _note_figure(why), why
    months = sorted({r[0] for r in rows})
    by_type: dict[str, list] = defaultdict(list)
    for month, partner_type, supported, repeat in rows:
        by_type[partner_type].append((month, supported, repeat))
    fig = go.Figure()
    for i, partner_type in enumerate(sorted(by_type)):
        points = by_type[partner_type]
        fig.add_trace(
            go.Bar(
                name=partner_type,
                x=[p[0] for p in points],
                y=[p[2] / p[1] for p in points],
                customdata=[[p[2], p[1]] for p in points],
                text=[f"{p[2]} of {p[1]}" for p in points],  # the cohort's size beside its rate
                textposition="outside",
                marker_color=_color(i),
                hovertemplate="%{x} " + partner_type + ": %{y:.0%} (%{customdata[0]} of %{customdata[1]} partners)<extra></extra>",
            )
        )
    _base_layout(fig, barmode="group")
    _month_axis(fig, months, "cohort (month of first supported request)")
    fig.update_yaxes(title_text="repeat-request rate (label: repeat partners of the cohort's partners)",
                     tickformat=".0%", range=[0, 1.15])
    return fig, None


def roe_chart(con: duckdb.DuckDBPyConnection) -> tuple[go.Figure, str | None]:
    table = "marts.mart_roe_violations"
    why = _missing(con, table, ("violation_type", "occurred_at"))
    if why:
        return _note_figure(why), why
    rows = con.execute(
        f"""
        SELECT strftime(date_trunc('month', occurred_at), '%Y-%m'), violation_type, count(*)::BIGINT
        FROM {table} WHERE occurred_at IS NOT NULL GROUP BY ALL ORDER BY 1, 2
        """
    ).fetchall()
    if not rows:
        why = f"{table} has no violations"
        return _note_figure(why), why
    months = sorted({r[0] for r in rows})
    by_type: dict[str, dict[str, int]] = defaultdict(dict)
    for month, violation_type, n in rows:
        by_type[violation_type][month] = n
    fig = go.Figure()
    for i, violation_type in enumerate(_ordered(by_type, VIOLATION_ORDER)):
        counts = by_type[violation_type]
        fig.add_trace(
            go.Bar(
                name=words(violation_type),
                x=months,
                y=[counts.get(m, 0) for m in months],
                marker_color=_color(i),
                hovertemplate="%{x} " + words(violation_type) + ": %{y}<extra></extra>",
            )
        )
    _base_layout(fig, barmode="stack")
    _month_axis(fig, months, "month of occurrence", partial_month(con))
    fig.update_yaxes(title_text="violations", rangemode="tozero")
    return fig, None


def payout_chart(con: duckdb.DuckDBPyConnection) -> tuple[go.Figure, str | None]:
    """Payout totals by rule (and period when the table has one), from payouts.lines if it exists.

    Sums every row: a period's own lines whether DRAFT or APPROVED, and its adjustment sets; the axis says drafts
    are included and a period that still has DRAFT lines is marked "(draft)" when the table has a status column.
    """
    table = "payouts.lines"
    columns = _table_columns(con, "payouts", "lines")
    if columns is None:
        return _note_figure(NO_PAYOUTS), NO_PAYOUTS
    if not {"rule_id", "amount_usd"} <= columns:
        why = f"{NO_PAYOUTS} ({table} has no rule_id and amount_usd columns)"
        return _note_figure(why), why
    period = "coalesce(CAST(period AS VARCHAR), 'unknown')" if "period" in columns else "'all periods'"
    rows = con.execute(
        f"""
        SELECT {period} AS period, coalesce(rule_id, 'unknown'), sum(amount_usd)::DECIMAL(18, 2)::VARCHAR, count(*)::BIGINT
        FROM {table} GROUP BY ALL ORDER BY 1, 2
        """
    ).fetchall()
    if not rows:
        return _note_figure(NO_PAYOUTS), NO_PAYOUTS
    periods = sorted({r[0] for r in rows})
    drafts: set[str] = set()
    if "status" in columns:
        drafts = {r[0] for r in con.execute(
            f"SELECT DISTINCT {period} FROM {table} WHERE upper(CAST(status AS VARCHAR)) = 'DRAFT'").fetchall()}
    by_rule: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
    for p, rule, amount, lines in rows:
        by_rule[rule][p] = (amount, lines)
    fig = go.Figure()
    for i, rule in enumerate(_ordered(by_rule, RULE_ORDER)):
        values = by_rule[rule]
        fig.add_trace(
            go.Bar(
                name=rule,
                x=periods,
                y=[float(values[p][0]) if p in values else 0.0 for p in periods],
                customdata=[[values[p][0], values[p][1]] if p in values else ["0.00", 0] for p in periods],
                marker_color=_color(i),
                hovertemplate="%{x} " + rule + ": %{customdata[0]} USD (%{customdata[1]} lines)<extra></extra>",
            )
        )
    net = {p: sum(Decimal(by_rule[r][p][0]) for r in by_rule if p in by_rule[r]) for p in periods}
    fig.add_trace(
        go.Scatter(
            name="net total (DRAFT lines included)",
            x=periods,
            y=[float(net[p]) for p in periods],
            text=[f"{net[p]:,.2f}" for p in periods],
            mode="markers+text",
            textposition="top center",
            marker=dict(color="#222", symbol="diamond", size=9),
            hovertemplate="%{x} net total: %{text} USD<extra></extra>",
        )
    )
    _base_layout(fig, barmode="relative")
    _month_axis(fig, periods, "payout period (DRAFT and APPROVED lines, adjustments included)")
    partial = partial_month(con)
    fig.update_xaxes(tickvals=periods, ticktext=[
        p + (" (draft)" if p in drafts else "") + (" (partial)" if partial and p == partial[0] else "")
        for p in periods])
    fig.update_yaxes(title_text="amount (USD)", tickformat=",.0f")
    return fig, None


def request_volume_chart(con: duckdb.DuckDBPyConnection) -> tuple[go.Figure, str | None]:
    table = "marts.mart_request_volume"
    why = _missing(con, table, ("requested_month", "complexity_band", "requests", "supported_requests"))
    if why:
        return _note_figure(why), why
    rows = con.execute(
        f"""
        SELECT strftime(requested_month, '%Y-%m'), coalesce(complexity_band, 'unknown'),
               sum(requests)::BIGINT, sum(supported_requests)::BIGINT
        FROM {table} WHERE requested_month IS NOT NULL GROUP BY ALL ORDER BY 1, 2
        """
    ).fetchall()
    if not rows:
        why = f"{table} has no requests yet"
        return _note_figure(why), why
    months = sorted({r[0] for r in rows})
    by_band: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for month, band, requests, supported in rows:
        by_band[band][month] = (requests, supported)
    fig = go.Figure()
    for i, band in enumerate(_ordered(by_band, COMPLEXITY_ORDER)):
        points = by_band[band]
        fig.add_trace(
            go.Bar(
                name=band,
                x=months,
                y=[points.get(m, (0, 0))[0] for m in months],
                customdata=[points.get(m, (0, 0))[1] for m in months],
                marker_color=_color(i),
                hovertemplate="%{x} " + band + ": %{y} requests (%{customdata} supported)<extra></extra>",
            )
        )
    _base_layout(fig, barmode="stack")
    _month_axis(fig, months, "requested month")
    fig.update_yaxes(title_text="requests", rangemode="tozero")
    return fig, None


def new_logo_chart(con: duckdb.DuckDBPyConnection) -> tuple[go.Figure, str | None]:
    table = "marts.mart_new_logo_by_participation"
    why = _missing(con, table, ("quarter", "participation_level", "partners", "new_logo_deals_won"))
    if why:
        return _note_figure(why), why
    rows = con.execute(
        f"""
        SELECT strftime(quarter, '%Y-%m'), participation_level, sum(partners)::BIGINT, sum(new_logo_deals_won)::BIGINT
        FROM {table} WHERE quarter IS NOT NULL GROUP BY ALL HAVING sum(partners) > 0 ORDER BY 1, 2
        """
    ).fetchall()
    if not rows:
        why = f"{table} has no partner with a registered deal yet"
        return _note_figure(why), why
    quarters = sorted({r[0] for r in rows})
    by_level: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for quarter, level, partners, wins in rows:
        by_level[level][quarter] = (partners, wins)
    fig = go.Figure()
    for i, level in enumerate(_ordered(by_level, PARTICIPATION_ORDER)):
        points = by_level[level]
        shown = [q for q in quarters if q in points]
        fig.add_trace(
            go.Bar(
                name=level,
                x=shown,
                y=[points[q][1] / points[q][0] for q in shown],
                customdata=[[points[q][1], points[q][0]] for q in shown],
                marker_color=_color(i),
                hovertemplate="%{x} " + level + ": %{y:.2f} new-logo wins per partner "
                "(%{customdata[0]} wins, %{customdata[1]} partners)<extra></extra>",
            )
        )
    _base_layout(fig, barmode="group")
    _month_axis(fig, quarters, "quarter (first month)")
    fig.update_yaxes(title_text="new-logo wins per partner", rangemode="tozero")
    return fig, None


def registration_chart(con: duckdb.DuckDBPyConnection) -> tuple[go.Figure, str | None]:
    table = "marts.mart_registration_trend"
    why = _missing(con, table, ("registered_month", "is_cosell_participant", "deals_registered", "partners"))
    if why:
        return _note_figure(why), why
    rows = con.execute(
        f"""
        SELECT strftime(registered_month, '%Y-%m'), is_cosell_participant, sum(deals_registered)::BIGINT,
               sum(partners)::BIGINT
        FROM {table} WHERE registered_month IS NOT NULL AND is_cosell_participant IS NOT NULL
        GROUP BY ALL ORDER BY 1, 2
        """
    ).fetchall()
    if not rows:
        why = f"{table} has no registered deals yet"
        return _note_figure(why), why
    months = sorted({r[0] for r in rows})
    by_group: dict[bool, list] = defaultdict(list)
    for month, participant, deals, partners in rows:
        by_group[participant].append((month, deals, partners))
    fig = go.Figure()
    for i, participant in enumerate(sorted(by_group, reverse=True)):
        name = "co-sell participants" if participant else "not yet participants"
        points = by_group[participant]
        fig.add_trace(
            go.Scatter(
                name=name,
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                customdata=[p[2] for p in points],
                mode="lines+markers",
                line=dict(color=_color(i)),
                hovertemplate="%{x} " + name + ": %{y} deals registered (%{customdata} partners)<extra></extra>",
            )
        )
    _base_layout(fig)
    _month_axis(fig, months, "registered month")
    fig.update_yaxes(title_text="deals registered", rangemode="tozero")
    return fig, None


# ---------------------------------------------------------------- page

CHARTS: tuple[tuple[str, str, str], ...] = (
    ("chart-coverage", "Co-sell coverage",
     "Share of co-sell eligible deals that received supported co-sell help, by month of deal registration and "
     "partner tier (sum of supported eligible deals / sum of eligible deals; dashed: all tiers)."),
    ("chart-uplift", "Win-rate uplift of co-sell support",
     "Win rate of supported (treated) closed deals minus that of unsupported (control) ones, per slice: the naive "
     "difference beside the matched estimate over coarsened-exact-matched strata with its 95% confidence interval. "
     "Each label says how many treated deals the matched estimate covers."),
    ("chart-deployment", "Resource deployment time",
     "Hours from request to confirmation of supported co-sell requests, median (solid) and 90th percentile (dotted), "
     "by month requested and resource type."),
    ("chart-repeat", "Repeat-request rate by cohort",
     "Share of partners that requested co-sell again within 180 days of their first supported request, by month of "
     "that first support and partner type; only cohorts whose window has closed."),
    ("chart-roe", "Rules-of-engagement violations",
     "Violations per month of occurrence, by rule broken (an activity can break several rules)."),
    ("chart-request-volume", "Co-sell request volume",
     "Co-sell requests per month requested, stacked by the deal's complexity band (hover: how many were supported)."),
    ("chart-new-logo", "New-logo wins by co-sell participation",
     "Won new-logo deals per partner in each quarter, for partners whose share of co-sell supported deals among "
     "the deals they registered that quarter is above versus at or below the quarter's average."),
    ("chart-registration", "Deal registrations by co-sell participation",
     "Partner deals registered per month by partners that already had supported co-sell help before the month "
     "began, against those that had not yet."),
    ("chart-payouts", "Partner payouts by rule",
     "Payout line amounts summed by payout period and rule (CAP_ADJUSTMENT lines are negative); the diamond is the "
     "period's net total. MDF allocations are not payouts and are not shown."),
)

BUILDERS: dict[str, Callable] = {
    "chart-coverage": coverage_chart,
    "chart-uplift": uplift_chart,
    "chart-repeat": repeat_chart,
    "chart-roe": roe_chart,
    "chart-request-volume": request_volume_chart,
    "chart-new-logo": new_logo_chart,
    "chart-registration": registration_chart,
    "chart-payouts": payout_chart,
}

PAGE_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 24px 32px; color: #222; max-width: 1280px; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 18px; margin: 28px 0 4px 0; }
p.measures { margin: 0 0 8px 0; color: #444; font-size: 13px; }
p.note { margin: 0 0 8px 0; color: #8a4b00; font-size: 13px; }
p.toc { font-size: 13px; color: #444; }
section.chart { border-top: 1px solid #ddd; }
footer { margin-top: 24px; font-size: 12px; color: #777; }
"""


def build_charts(con: duckdb.DuckDBPyConnection) -> list[Chart]:
    charts = []
    for div_id, title, measures in CHARTS:
        if div_id == "chart-deployment":
            figure, note, how = deployment_chart(con)
            if how:
                measures = f"{measures} Values are {how}."
        else:
            figure, note = BUILDERS[div_id](con)
        charts.append(Chart(div_id, title, measures, figure, note))
    return charts


def render_page(charts: list[Chart], as_of: dt.date | None, source_name: str) -> str:
    as_of_text = as_of.isoformat() if as_of else "unknown (no landed data)"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>Co-sell program report, data as of {html.escape(as_of_text)}</title>",
        f"<style>{PAGE_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>Co-sell program report</h1>",
        f'<p class="measures" id="as-of">Data as of <strong>{html.escape(as_of_text)}</strong> '
        f"(the latest business date landed). Direct deals are left out of every chart but the "
        f"rules-of-engagement violations.</p>",
        '<p class="toc">Charts: '
        + " | ".join(f'<a href="#section-{c.div_id}">{html.escape(c.title)}</a>' for c in charts)
        + "</p>",
    ]
    for index, chart in enumerate(charts):
        height = chart.figure.layout.height or CHART_HEIGHT
        div = chart.figure.to_html(
            full_html=False,
            include_plotlyjs=index == 0,  # plotly.js inlined once, with the first chart
            div_id=chart.div_id,
            default_height=f"{height}px",
            default_width="100%",
            config={"displaylogo": False, "responsive": True},
        )
        parts.append(f'<section class="chart" id="section-{chart.div_id}">')
        parts.append(f"<h2>{html.escape(chart.title)}</h2>")
        parts.append(f'<p class="measures">{html.escape(chart.measures)}</p>')
        if chart.note:
            parts.append(f'<p class="note">{html.escape(chart.note)}</p>')
        parts.append(div)
        parts.append("</section>")
    parts.append(f"<footer>Source: published warehouse {html.escape(source_name)}, data as of "
                 f"{html.escape(as_of_text)}.</footer>")
    parts.append("</body>")
    parts.append("</html>")
    return "\n".join(parts) + "\n"


def write_report(settings: Settings, warehouse: Path | None = None) -> ReportSummary:
    """Write settings.reports_dir / program_report.html from the published warehouse (read-only).

    `warehouse` reads another DuckDB file instead (also read-only). The page is written to a
    temporary file and renamed onto the report, so a reader never sees half a page.
    """
    source = Path(warehouse or settings.published)
    con = connect(settings, source, read_only=True)
    try:
        as_of = _as_of_date(con)
        charts = build_charts(con)
    finally:
        con.close()
    page = render_page(charts, as_of, source.name)
    out_dir = settings.reports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / REPORT_NAME
    leftovers.remove_dead([out_dir])
    partial = out_dir / f".{REPORT_NAME}.{os.getpid()}.tmp"
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, target)
    return ReportSummary(target, source, as_of, [(c.div_id, c.note) for c in charts])
