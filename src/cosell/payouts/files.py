"""Renders a period's files to bytes: CSVs, the finance workbook and manifests (deterministic, LF, sorted JSON)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from decimal import Decimal
from typing import Any, Iterable

import xlsxwriter

from cosell.payouts.plans import Plan
from cosell.payouts.rules import MdfRow, PartnerSummary, PayoutLine, PeriodResult, money_text, rate_text

LINE_COLUMNS = (
    "period", "line_id", "partner_id", "partner_name", "partner_type", "partner_tier", "rule_id", "deal_id",
    "basis_usd", "rate", "amount_usd", "explanation",
)
SUMMARY_COLUMNS = (
    "period", "partner_id", "partner_name", "partner_type", "partner_tier", "cosell_accelerator_usd",
    "pipeline_contribution_usd", "new_logo_bonus_usd", "total_usd", "lines",
)
MDF_COLUMNS = (
    "period", "window_start", "window_end", "partner_id", "partner_tier", "supported_requests", "cosell_csat_avg",
    "supported_won_usd", "is_eligible", "reasons", "mdf_allocation_usd",
)
ADJUSTMENT_COLUMNS = LINE_COLUMNS + ("issued_amount_usd", "recomputed_amount_usd")

LINES_CSV = "payout_lines.csv"
SUMMARY_CSV = "partner_summary.csv"
MDF_CSV = "mdf_eligibility.csv"
MANIFEST = "manifest.json"
ADJUSTMENT_CSV = "adjustment_lines.csv"
FIXED_TIME = dt.datetime(2000, 1, 1)  # workbook properties: a rerun must give the same bytes


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def workbook_name(period: str) -> str:
    return f"payouts_{period}.xlsx"


def csat_text(value: Decimal | None) -> str:
    return "" if value is None else money_text(value)


def line_record(line: PayoutLine) -> dict[str, str]:
    return {
        "period": line.period,
        "line_id": line.line_id,
        "partner_id": line.partner_id,
        "partner_name": line.partner_name,
        "partner_type": line.partner_type,
        "partner_tier": line.partner_tier,
        "rule_id": line.rule_id,
        "deal_id": line.deal_id,
        "basis_usd": money_text(line.basis_usd),
        "rate": rate_text(line.rate),
        "amount_usd": money_text(line.amount_usd),
        "explanation": line.explanation,
    }


def summary_record(row: PartnerSummary) -> dict[str, str]:
    return {
        "period": row.period,
        "partner_id": row.partner_id,
        "partner_name": row.partner_name,
        "partner_type": row.partner_type,
        "partner_tier": row.partner_tier,
        "cosell_accelerator_usd": money_text(row.cosell_accelerator_usd),
        "pipeline_contribution_usd": money_text(row.pipeline_contribution_usd),
        "new_logo_bonus_usd": money_text(row.new_logo_bonus_usd),
        "total_usd": money_text(row.total_usd),
        "lines": str(row.lines),
    }


def mdf_record(row: MdfRow) -> dict[str, str]:
    return {
        "period": row.period,
        "window_start": row.window_start.isoformat(),
        "window_end": row.window_end.isoformat(),
        "partner_id": row.partner_id,
        "partner_tier": row.partner_tier,
        "supported_requests": str(row.supported_requests),
        "cosell_csat_avg": csat_text(row.cosell_csat_avg),
        "supported_won_usd": money_text(row.supported_won_usd),
        "is_eligible": "true" if row.is_eligible else "false",
        "reasons": "|".join(row.reasons),
        "mdf_allocation_usd": money_text(row.mdf_allocation_usd),
    }


def render_csv(columns: tuple[str, ...], records: Iterable[dict[str, str]]) -> bytes:
    """UTF-8 CSV, header row, RFC 4180 quoting, LF line endings."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue().encode("utf-8")


def parse_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))


# ---------------------------------------------------------------- workbook

MONEY_FORMAT = "0.00"


def _sheet(wb: xlsxwriter.Workbook, title: str, columns: tuple[str, ...], rows: list[list[Any]],
           money: set[str]) -> None:
    """One sheet: a header row, then the rows; money as numbers shown with two decimals, dates as dates."""
    ws = wb.add_worksheet(title)
    ws.freeze_panes(1, 0)
    ws.write_row(0, 0, list(columns))
    money_format = wb.add_format({"num_format": MONEY_FORMAT})
    date_format = wb.add_format({"num_format": "yyyy-mm-dd"})
    formats = [money_format if name in money else date_format if name in ("window_start", "window_end") else None
               for name in columns]
    for r, row in enumerate(rows, start=1):
        for c, (value, number_format) in enumerate(zip(row, formats)):
            if value is None:
                continue
            if isinstance(value, Decimal):
                ws.write_number(r, c, float(value), number_format)  # exact to the cent in a double
            elif isinstance(value, bool):
                ws.write_boolean(r, c, value)
            elif isinstance(value, int):
                ws.write_number(r, c, value)
            elif isinstance(value, dt.date):
                ws.write_datetime(r, c, dt.datetime.combine(value, dt.time()), number_format)
            else:
                ws.write_string(r, c, str(value))


def render_workbook(result: PeriodResult) -> bytes:
    """The finance workbook (sheets summary, lines, mdf); money as numeric cells, fixed metadata."""
    raw = io.BytesIO()
    wb = xlsxwriter.Workbook(raw, {"in_memory": True})
    period = result.period.label
    summary_rows = [
        [s.period, s.partner_id, s.partner_name, s.partner_type, s.partner_tier, s.cosell_accelerator_usd,
         s.pipeline_contribution_usd, s.new_logo_bonus_usd, s.total_usd, s.lines]
        for s in result.summaries
    ]
    summary_rows.append([
        period, "TOTAL", "", "", "",
        sum((s.cosell_accelerator_usd for s in result.summaries), Decimal("0.00")),
        sum((s.pipeline_contribution_usd for s in result.summaries), Decimal("0.00")),
        sum((s.new_logo_bonus_usd for s in result.summaries), Decimal("0.00")),
        result.total_usd, len(result.lines),
    ])
    money_summary = {"cosell_accelerator_usd", "pipeline_contribution_usd", "new_logo_bonus_usd", "total_usd"}
    _sheet(wb, "summary", SUMMARY_COLUMNS, summary_rows, money_summary)
    _sheet(wb, "lines", LINE_COLUMNS, [
        [l.period, l.line_id, l.partner_id, l.partner_name, l.partner_type, l.partner_tier, l.rule_id,
         l.deal_id or None, l.basis_usd, l.rate, l.amount_usd, l.explanation]
        for l in result.lines
    ], {"basis_usd", "amount_usd"})
    _sheet(wb, "mdf", MDF_COLUMNS, [
        [m.period, m.window_start, m.window_end, m.partner_id, m.partner_tier, m.supported_requests,
         None if m.cosell_csat_avg is None else Decimal(csat_text(m.cosell_csat_avg)), m.supported_won_usd,
         m.is_eligible, "|".join(m.reasons) or None, m.mdf_allocation_usd]
        for m in result.mdf
    ], {"cosell_csat_avg", "supported_won_usd", "mdf_allocation_usd"})
    wb.set_properties({"title": f"Co-sell payouts {period}", "author": "cosell payouts", "created": FIXED_TIME})
    wb.close()
    # In memory, XlsxWriter dates every zip entry 1980-01-01: with the fixed properties above,
    # the bytes depend only on the content.
    return raw.getvalue()


# ---------------------------------------------------------------- manifests


def render_json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def control_totals_json(result: PeriodResult) -> dict[str, Any]:
    return {
        rule_id: {"lines": total.lines, "amount_usd": money_text(total.amount_usd)}
        for rule_id, total in result.control_totals.items()
    }


def period_manifest(result: PeriodResult, plan: Plan, as_of: dt.date | None,
                    files: dict[str, dict[str, Any]], status: str = "DRAFT") -> dict[str, Any]:
    return {
        "period": result.period.label,
        "status": status,
        "plan_id": plan.plan_id,
        "plan_file": plan.file_name,
        "plan_sha256": plan.sha256,
        "as_of_date": as_of.isoformat() if as_of else None,
        "files": files,
        "control_totals": control_totals_json(result),
        "total_usd": money_text(result.total_usd),
    }


def file_entry(content: bytes, rows: int) -> dict[str, Any]:
    return {"sha256": sha256(content), "rows": rows}
