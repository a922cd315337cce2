"""Renders a period's files to bytes: CSVs, the finance workbook, statements and manifests (deterministic, LF)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import operator
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping

from cosell.errors import CosellError
from cosell.payouts import xlsx
from cosell.payouts.plans import Plan
from cosell.payouts.rules import (
    MdfRow,
    PartnerSummary,
    PayoutLine,
    PeriodResult,
    money_text,
    rate_text,
)
from cosell.payouts.statements import render_statement, statement_name
from cosell.payouts.wording import APPROVED, mdf_reason_words, status_banner

LINE_COLUMNS = (
    "period", "line_id", "partner_id", "partner_name", "partner_type", "partner_tier", "rule_id", "deal_id",
    "basis_usd", "rate", "amount_usd", "explanation",
)
SUMMARY_COLUMNS = (
    "period", "partner_id", "partner_name", "partner_type", "partner_tier", "cosell_accelerator_usd",
    "pipeline_contribution_usd", "new_logo_bonus_usd", "total_usd", "lines",
)
MDF_COLUMNS = (
    "period", "window_start", "window_end", "partner_id", "partner_name", "partner_tier", "supported_requests",
    "cosell_csat_avg", "supported_won_usd", "is_eligible", "reasons", "mdf_allocation_usd",
)
ADJUSTMENT_COLUMNS = LINE_COLUMNS + ("issued_amount_usd", "recomputed_amount_usd")

MONEY_COLUMNS = frozenset({
    "basis_usd", "amount_usd", "cosell_accelerator_usd", "pipeline_contribution_usd", "new_logo_bonus_usd",
    "total_usd", "cosell_csat_avg", "supported_won_usd", "mdf_allocation_usd", "issued_amount_usd",
    "recomputed_amount_usd",
})
COUNT_COLUMNS = frozenset({"lines", "supported_requests"})
DATE_COLUMNS = frozenset({"window_start", "window_end"})
# Columns whose text is a number: written as is. Every other field is text and is neutralised.
NUMBER_COLUMNS = MONEY_COLUMNS | COUNT_COLUMNS | {"rate"}
# OWASP "CSV injection": a spreadsheet treats a field starting with one of these as a formula. A leading
# quote is escaped too (doubled), so reading a file back gives exactly the text that was written.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "'")

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
        "partner_name": row.partner_name,
        "partner_tier": row.partner_tier,
        "supported_requests": str(row.supported_requests),
        "cosell_csat_avg": csat_text(row.cosell_csat_avg),
        "supported_won_usd": money_text(row.supported_won_usd),
        "is_eligible": "true" if row.is_eligible else "false",
        "reasons": "|".join(row.reasons),
        "mdf_allocation_usd": money_text(row.mdf_allocation_usd),
    }


Records = dict[str, list[dict[str, str]]]  # CSV name -> its rows


def period_records(result: PeriodResult) -> Records:
    """The rows of the period's three CSVs: what every other file of the period is rendered from."""
    return {
        LINES_CSV: [line_record(line) for line in result.lines],
        SUMMARY_CSV: [summary_record(row) for row in result.summaries],
        MDF_CSV: [mdf_record(row) for row in result.mdf],
    }


SOURCE_CSVS = (LINES_CSV, SUMMARY_CSV, MDF_CSV)  # what approval renders the approved documents from


def read_records(period_dir: Path) -> Records:
    """The rows of a period's three CSVs as written (approval renders the approved documents from them)."""
    return {name: parse_csv((period_dir / name).read_bytes()) for name in SOURCE_CSVS}


def neutralise(text: str) -> str:
    """A text field made safe for spreadsheets: a single quote before a leading =, +, -, @, tab, CR or quote."""
    return "'" + text if text.startswith(FORMULA_LEADS) else text


def restore(text: str) -> str:
    """The inverse of neutralise."""
    return text[1:] if text.startswith("'") else text


def render_csv(columns: tuple[str, ...], records: Iterable[Mapping[str, str]]) -> bytes:
    """UTF-8 CSV, header row, RFC 4180 quoting, LF line endings; text fields neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    fields = operator.itemgetter(*columns)
    is_text = [column not in NUMBER_COLUMNS for column in columns]
    for record in records:
        if len(record) != len(columns):
            raise ValueError(f"record fields {sorted(record)} are not the columns {list(columns)}")
        writer.writerow([neutralise(v) if text else v for v, text in zip(fields(record), is_text)])
    return buffer.getvalue().encode("utf-8")


def parse_csv(content: bytes) -> list[dict[str, str]]:
    """Rows of a CSV written by render_csv, with the text as it was before neutralising."""
    return [{k: v if k in NUMBER_COLUMNS else restore(v) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(content.decode("utf-8"), newline=""))]


# ---------------------------------------------------------------- workbook

MAX_WIDTH = 80
MDF_SHEET_COLUMNS = MDF_COLUMNS[:MDF_COLUMNS.index("reasons") + 1] + ("reasons_in_words",) + \
    MDF_COLUMNS[MDF_COLUMNS.index("reasons") + 1:]


def _cell(column: str, text: str) -> Any:
    """A CSV field as the value a spreadsheet cell holds: numbers, dates, booleans, text; empty as None."""
    if text == "":
        return None
    if column in MONEY_COLUMNS or column == "rate":
        return Decimal(text)
    if column in COUNT_COLUMNS:
        return int(text)
    if column in DATE_COLUMNS:
        return dt.date.fromisoformat(text)
    if column == "is_eligible":
        return text == "true"
    return text


def _shown(value: Any) -> str:
    """Roughly what a cell shows, to size its column."""
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def _widest(values: list[Any]) -> int:
    """The length of the widest _shown(value).

    Among numbers it is that of the largest or the smallest (the most negative): what a number shows
    grows with its size, so only those two are formatted (a lines sheet has 400k cells at 10M deals).
    """
    numbers = [v for v in values if type(v) is Decimal and v.is_finite()]
    others = [v for v in values if not (type(v) is Decimal and v.is_finite())]
    shown = [max(numbers), min(numbers)] if numbers else []
    return max((len(_shown(v)) for v in shown + others), default=0)


def _widths(columns: tuple[str, ...], rows: list[list[Any]]) -> list[float]:
    """Each column wide enough for its header (and the filter button) and what its cells show, at most MAX_WIDTH."""
    return [min(max(len(column) + 3, _widest([row[c] for row in rows]) + 1), MAX_WIDTH)
            for c, column in enumerate(columns)]


def _sheet(title: str, banner: str, columns: tuple[str, ...], rows: list[list[Any]], total: bool = False) -> xlsx.Sheet:
    """One sheet: the status banner, a bold frozen header with filters, the rows (the last one a bold total).

    Money is numbers shown with thousands separators and two decimals, dates are dates, text is always a
    string cell (never a formula).
    """
    return xlsx.Sheet(title, banner, columns, rows, _widths(columns, rows), MONEY_COLUMNS, total)


def render_workbook(records: Records, meta: Mapping[str, Any]) -> bytes:
    """The finance workbook (sheets summary, lines, mdf) from the period's CSV rows; fixed metadata.

    Every sheet starts with the status banner (DRAFT, or APPROVED with who and when).
    """
    period = meta["period"]
    banner = status_banner(meta)

    def rows(source: list[Mapping[str, str]], columns: tuple[str, ...]) -> list[list[Any]]:
        return [[_cell(column, record.get(column, "")) for column in columns] for record in source]

    summaries = rows(records[SUMMARY_CSV], SUMMARY_COLUMNS)
    sums = {column: sum((row[i] for row in summaries), Decimal("0.00"))
            for i, column in enumerate(SUMMARY_COLUMNS) if column in MONEY_COLUMNS}
    total = [period, "TOTAL", None, None, None] + [sums[c] for c in SUMMARY_COLUMNS[5:-1]] + [len(records[LINES_CSV])]
    mdf = [dict(record, reasons_in_words=mdf_reason_words(record)) for record in records[MDF_CSV]]
    sheets = [
        _sheet("summary", banner, SUMMARY_COLUMNS, summaries + [total], total=True),
        _sheet("lines", banner, LINE_COLUMNS, rows(records[LINES_CSV], LINE_COLUMNS)),
        _sheet("mdf", banner, MDF_SHEET_COLUMNS, rows(mdf, MDF_SHEET_COLUMNS)),
    ]
    return xlsx.workbook_bytes(sheets, f"Co-sell payouts {period} ({meta.get('status')})", "cosell payouts",
                               FIXED_TIME, meta.get("status") == APPROVED)


def render_statements(records: Records, meta: Mapping[str, Any]) -> dict[str, tuple[bytes, int]]:
    """A statement per partner with lines, name -> (bytes, rows), from the CSV rows and the manifest."""
    banner = status_banner(meta)
    mdf = {row["partner_id"]: row for row in records[MDF_CSV]}
    lines_of: dict[str, list[dict[str, str]]] = {}
    for line in records[LINES_CSV]:
        lines_of.setdefault(line["partner_id"], []).append(line)
    statements: dict[str, tuple[bytes, int]] = {}
    for summary in records[SUMMARY_CSV]:
        lines = lines_of.get(summary["partner_id"], [])
        name = statement_name(summary["partner_id"])
        if name in statements:
            raise CosellError(f"partner ids {summary['partner_id']!r} and another map to the same statement file {name}")
        statements[name] = (render_statement(summary, lines, mdf.get(summary["partner_id"]), meta, banner), len(lines))
    return statements


def render_documents(records: Records, meta: Mapping[str, Any]) -> dict[str, tuple[bytes, int]]:
    """The files people read (the workbook and a statement per partner with lines), name -> (bytes, rows).

    Rendered from the CSV rows and the manifest only, so approval renders the same documents with APPROVED
    on them from the verified draft files (a DRAFT has its workbook rendered by workbook_process meanwhile).
    """
    workbook = (render_workbook(records, meta), len(records[LINES_CSV]))
    return {workbook_name(meta["period"]): workbook, **render_statements(records, meta)}


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
