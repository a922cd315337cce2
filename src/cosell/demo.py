"""`cosell demo`: sample extracts, the nightly run and a DRAFT payout period, on the embedded default."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from cosell.config import Settings
from cosell.db import connect
from cosell.raw_schema import as_of_date
from cosell.generate import generate
from cosell.nightly import run_nightly
from cosell.payouts.lifecycle import run_period

SAMPLE = {"seed": 7, "start": dt.date(2026, 1, 1), "days": 120, "partners": 150, "deals": 3000}


def last_closed_period(as_of: dt.date) -> str:
    """The latest calendar month whose last day is on or before as_of (YYYY-MM)."""
    if (as_of + dt.timedelta(days=1)).day == 1:
        return f"{as_of:%Y-%m}"
    previous = as_of.replace(day=1) - dt.timedelta(days=1)
    return f"{previous:%Y-%m}"


@dataclass
class DemoSummary:
    lines: list[str]

    def describe(self) -> str:
        return "\n".join(self.lines)


def _sample_inbox(inbox: Path) -> str:
    """Write the sample extracts once; a rerun reuses them (the generator is deterministic)."""
    if inbox.exists():
        return f"reusing sample extracts in {inbox}"
    partial = inbox.with_name(inbox.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    summary = generate(partial, **SAMPLE)
    partial.rename(inbox)
    return summary.describe().replace(str(partial), str(inbox))


def demo(settings: Settings) -> DemoSummary:
    inbox = settings.home / "sample_inbox"
    generated = _sample_inbox(inbox)
    nightly = run_nightly(inbox, settings)
    with connect(settings, read_only=True) as con:
        period = last_closed_period(as_of_date(con))
    payout_dir = settings.home / "payouts"
    payouts = run_period(period, payout_dir, settings)
    return DemoSummary(
        [
            generated,
            nightly.describe(),
            payouts.describe(),
            f"sample extracts:   {inbox}",
            f"warehouse:         {settings.warehouse}",
            f"published for BI:  {settings.published}",
            f"payout files:      {Path(payout_dir) / period}",
            f"reports:           {settings.reports_dir}",
        ]
    )
