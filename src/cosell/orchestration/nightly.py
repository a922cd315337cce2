"""`cosell run`: the nightly run — land, raw gate, dbt build, marts gate, publish, report, dbt docs — for the loads the run ledger has pending.

Each step runs for the loads waiting for it (cosell.orchestration.ledger) and is recorded in the ledger
when it succeeded; the run stops at the first failure, leaving that step's loads pending for
the next run. With no new file in the inbox and nothing pending the run opens the warehouse
read-only, runs no step and says so in one line.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cosell.config import Settings, login_name
from cosell.db import connect
from cosell.errors import CosellError
from cosell.faults import crash_point
from cosell.landing.inbox import scan
from cosell.landing.raw_schema import as_of_date
from cosell.orchestration import delivery, ledger


def _gate(stage: str) -> Callable:
    def run(settings: Settings):
        from cosell.gates.runner import check

        return check(stage, settings)

    return run


def _build(settings: Settings):
    from cosell.build.dbt import build

    return build(settings)


def _publish(settings: Settings):
    from cosell.publish.copy import publish

    return publish(settings)


def _report(settings: Settings):
    from cosell.publish.report import write_report

    return write_report(settings)


def _docs(settings: Settings):
    from cosell.build.dbt import docs

    return docs(settings)


# ledger step -> its parts (name in messages, work); a step is recorded once all its parts succeeded.
STEPS: dict[str, tuple[tuple[str, Callable], ...]] = {
    "raw_gate": (("raw gate", _gate("raw")),),
    "built": (("build", _build),),
    "marts_gate": (("marts gate", _gate("marts")),),
    "published": (("publish", _publish), ("report", _report), ("dbt docs", _docs)),
}


@dataclass
class NightlySummary:
    steps: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)  # (part, wall seconds), in run order
    idle_as_of: dt.date | None = None
    idle: bool = False

    def describe(self) -> str:
        if self.idle:
            return f"nothing new; published as of {self.idle_as_of}" if self.idle_as_of else "nothing new; nothing published yet"
        return "nightly run complete: " + " | ".join(self.steps)


class StepFailed(CosellError):
    """A part of a step failed; `part` names it, `published` says whether publish already ran, `error` is the failure."""

    def __init__(self, part: str, published: bool, error: CosellError):
        self.part, self.published, self.error = part, published, error
        super().__init__(str(error))


def _read(settings: Settings, work: Callable):
    con = connect(settings, read_only=True)
    try:
        return work(con)
    finally:
        con.close()


def pending(settings: Settings, step: str) -> list[int]:
    """Loads waiting for `step` (read-only; none when the warehouse does not exist yet)."""
    if not settings.warehouse.exists():
        return []
    return _read(settings, lambda con: ledger.pending(con, step))


def record(settings: Settings, step: str, load_ids: list[int]) -> None:
    """Record in the ledger that `step` succeeded for these loads."""
    if not load_ids:
        return
    con = connect(settings)
    try:
        ledger.mark(con, step, load_ids)
    finally:
        con.close()


def release_load(settings: Settings, load_id: int, reason: str, released_by: str | None = None) -> ledger.Release:
    """`cosell release`: pass a load past a failed raw gate (ops.gate_releases records who, when, why)."""
    if not settings.warehouse.exists():
        raise CosellError(f"warehouse {settings.warehouse} does not exist: there is no load to release")
    con = connect(settings)
    try:
        return ledger.release(con, load_id, reason, released_by or login_name())
    finally:
        con.close()


def advance(
    step: str,
    settings: Settings,
    parts: tuple[tuple[str, Callable], ...] | None = None,
    timings: list[tuple[str, float]] | None = None,
) -> list[str]:
    """Run `step` when loads wait for it and record it; returns the parts' summary lines ([] when nothing waited).

    `timings`, when given, gets (part, wall seconds) of every part run.
    """
    loads = pending(settings, step)
    if not loads:
        return []
    lines = []
    for number, (name, work) in enumerate(parts or STEPS[step]):
        started = time.perf_counter()
        try:
            result = work(settings)
        except CosellError as error:
            raise StepFailed(name, number > 0 and step == "published", error) from None
        lines.append(result.describe())
        if timings is not None:
            timings.append((name, time.perf_counter() - started))
        crash_point(f"run:{name}")
        if step == "raw_gate":
            loads = result.batch_load_ids  # exactly the loads the gate judged
    record(settings, step, loads)
    crash_point(f"run:{step}-recorded")
    return lines


def idle_as_of(inbox: Path, settings: Settings, until: dt.date | None = None) -> tuple[bool, dt.date | None]:
    """(True, as_of_date) when no inbox file is new to landing (up to `until`) and no load is pending."""
    if not settings.warehouse.exists():
        return False, None
    entries = [e for e in scan(Path(inbox).resolve()) if not delivery.after(e.business_date, until)]

    def check(con) -> tuple[bool, dt.date | None]:
        if not ledger.has_ledger(con) or ledger.unseen(con, Path(inbox).resolve(), entries):
            return False, None
        if any(ledger.pending(con, step) for step in STEPS):
            return False, None
        return True, as_of_date(con)

    return _read(settings, check)


def run_nightly(inbox: Path, settings: Settings, until: dt.date | None = None) -> NightlySummary:
    """Land (up to `until`), then every step for what is pending; a failed gate stops before publish."""
    from cosell.landing.load import land

    if not Path(inbox).is_dir():
        raise CosellError(f"inbox {inbox} is not a folder")
    idle, as_of = idle_as_of(inbox, settings, until)
    if idle:
        return NightlySummary(idle_as_of=as_of, idle=True)
    summary = NightlySummary()
    started = time.perf_counter()
    try:
        summary.steps.append(land(inbox, settings, until=until).describe())
        summary.timings.append(("land", time.perf_counter() - started))
    except CosellError as error:
        raise CosellError(f"nightly run stopped at land (nothing published): {error}") from None
    for step in STEPS:
        try:
            summary.steps += advance(step, settings, timings=summary.timings)
        except StepFailed as error:
            note = "" if error.published else " (nothing published)"
            raise CosellError(f"nightly run stopped at {error.part}{note}: {error}") from None
    return summary
