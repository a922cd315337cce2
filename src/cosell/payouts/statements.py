"""One self-contained HTML statement per partner with lines, explaining each line in plain words, under its status."""

from __future__ import annotations

import re
from decimal import Decimal
from html import escape
from typing import Any, Mapping

from cosell.payouts.rules import CAP_ADJUSTMENT
from cosell.payouts.wording import APPROVED, DRAFT, mdf_reason_words

RULE_WORDS = {
    "cosell_accelerator_usd": "Co-sell accelerator: a share of each deal you won this month with co-sell support "
    "confirmed before the close, at a rate set by your tier at the end of the month, capped per month.",
    "pipeline_contribution_usd": "Pipeline contribution: a share of each deal you sourced that reached technical "
    "validation for the first time this month, capped per deal.",
    "new_logo_bonus_usd": "New-logo bonus: a fixed amount for each new customer you sourced and won this month.",
}

STYLE = """
body{font-family:Arial,Helvetica,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;white-space:nowrap}
tfoot td{font-weight:bold}
.note{color:#555;font-size:90%}
.status{font-weight:bold;padding:6px 10px;border:2px solid}
.status.draft{color:#9C0006;background:#FFC7CE;border-color:#9C0006}
.status.approved{color:#006100;background:#C6EFCE;border-color:#006100}
"""


def statement_name(partner_id: str) -> str:
    """statements/<partner_id>.html, with characters unsafe in a file name replaced."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", partner_id).lstrip(".") or "_"
    return f"statements/{safe}.html"


def render_statement(summary: Mapping[str, str], lines: list[Mapping[str, str]], mdf: Mapping[str, str] | None,
                     meta: Mapping[str, Any], banner: str) -> bytes:
    """The partner's statement for one period from its CSV rows (no scripts, no external resources).

    banner says whether the period is a DRAFT or APPROVED (by whom, when); it heads the page.
    """
    e = escape
    approved = meta.get("status") == APPROVED
    rows = "\n".join(
        f"<tr><td>{e(line['rule_id'])}</td><td>{e(line['deal_id'] or '-')}</td>"
        f"<td class=\"num\">{e(line['basis_usd'])}</td><td class=\"num\">{e(line['rate'] or '-')}</td>"
        f"<td class=\"num\">{e(line['amount_usd'])}</td><td>{e(line['explanation'])}</td></tr>"
        for line in lines
    )
    parts = [
        ("Co-sell accelerator (after the cap)", "cosell_accelerator_usd"),
        ("Pipeline contribution", "pipeline_contribution_usd"),
        ("New-logo bonus", "new_logo_bonus_usd"),
    ]
    totals = "\n".join(
        f"<tr><td>{e(label)}</td><td class=\"num\">{e(summary[key])}</td></tr>" for label, key in parts
    )
    words = "\n".join(f"<li>{e(RULE_WORDS[key])}</li>" for _, key in parts if Decimal(summary[key]))
    if any(line["rule_id"] == CAP_ADJUSTMENT for line in lines):
        words += "\n<li>Cap adjustment: a negative line that brings the month's accelerator total down to the cap.</li>"
    mdf_text = ""
    if mdf is not None:
        window = f"{mdf['window_start']} to {mdf['window_end']}"
        if mdf["is_eligible"] == "true":
            mdf_text = (f"You are eligible for market development funds (MDF) for the window {window}: allocation "
                        f"{mdf['mdf_allocation_usd']} USD. MDF is not part of the amount paid above.")
        else:
            mdf_text = (f"You are not eligible for market development funds (MDF) for the window {window} "
                        f"({mdf_reason_words(mdf)}).")
    count = int(summary["lines"])
    state = APPROVED if approved else DRAFT
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{state}: co-sell payout statement {e(summary['period'])} - {e(summary['partner_name'])}</title>
<style>{STYLE}</style>
</head>
<body>
<p class="status {state.lower()}" id="status">{e(banner)}</p>
<h1>Co-sell payout statement ({state})</h1>
<p><strong>{e(summary['partner_name'])}</strong> ({e(summary['partner_id'])}), {e(summary['partner_type'])} partner,
tier {e(summary['partner_tier'])} at the end of the period.</p>
<p>Period {e(summary['period'])}: the calendar month in UTC. Plan {e(meta.get('plan_id') or 'unknown')}; warehouse data as of {e(meta.get('as_of_date') or 'unknown')}.</p>
<h2>Total: {e(summary['total_usd'])} USD</h2>
<table>
<thead><tr><th>Part</th><th class="num">USD</th></tr></thead>
<tbody>
{totals}
</tbody>
<tfoot><tr><td>Total ({count} line{'s' if count != 1 else ''})</td><td class="num">{e(summary['total_usd'])}</td></tr></tfoot>
</table>
<h2>Lines</h2>
<p class="note">Each amount is the basis times the rate, rounded once to the cent (half to even).</p>
<table>
<thead><tr><th>Rule</th><th>Deal</th><th class="num">Basis USD</th><th class="num">Rate</th><th class="num">Amount USD</th><th>Explanation</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<h2>What the rules mean</h2>
<ul>
{words}
</ul>
<p class="note">{e(mdf_text)}</p>
</body>
</html>
"""
    return html.encode("utf-8")
