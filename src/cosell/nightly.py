"""`cosell run`: the nightly run — land, raw gate, dbt build, marts gate, publish, report, dbt docs — stopping at the first failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cosell.build import build, docs
from cosell.config import Settings
from cosell.errors import CosellError
from cosell.gates import check
from cosell.landing import land
from cosell.publish import publish
from cosell.report import write_report


@dataclass
class NightlySummary:
    steps: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return "nightly run complete: " + " | ".join(self.steps)


def run_nightly(inbox: Path, settings: Settings) -> NightlySummary:
    """Each step runs only when the one before succeeded; a failed gate stops before publish."""
    summary = NightlySummary()
    steps = (
        ("land", lambda: land(inbox, settings)),
        ("raw gate", lambda: check("raw", settings)),
        ("build", lambda: build(settings)),
        ("marts gate", lambda: check("marts", settings)),
        ("publish", lambda: publish(settings)),
        ("report", lambda: write_report(settings)),
        ("dbt docs", lambda: docs(settings)),
    )
    published = False
    for name, step in steps:
        try:
            summary.steps.append(step().describe())
        except CosellError as error:
            note = "" if published else " (nothing published)"
            raise CosellError(f"nightly run stopped at {name}{note}: {error}") from None
        published = published or name == "publish"
    return summary
