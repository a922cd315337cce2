"""`cosell run`: the nightly run — land, raw gate, dbt build, marts gate, payout draft, publish, report, dbt docs — for the loads the run ledger has pending.

Each step runs for the loads waiting for it (cosell.orchestration.ledger) and is recorded in the ledger
when it succeeded; the run stops at the first failure, leaving that step's loads pending for
the next run. With no new file in the inbox and nothing pending the run opens the warehouse
read-only, runs no step and says so in one line. The gates run in their own process, started
before landing (cosell.gates.process), and dbt starts beside the raw gate (cosell.build.dbt.EarlyBuild).

The nightly DAG imports this module when Airflow parses it (for STEPS), so it imports nothing
heavy at module level (no duckdb, pyarrow or yaml).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

from cosell.config import Settings
from cosell.errors import CosellError
from cosell.faults import crash_point


def _gate(stage: str) -> Callable:
    def run(settings: Settings):
        from cosell.gates.runner import check

        return check(stage, settings)

    return run


def _build(settings: Settings):
    from cosell.build.dbt import build

    return build(settings)


def _payouts(settings: Settings):
    from cosell.db import warehouse_as_of
    from cosell.payouts.lifecycle import run_period

    return run_period(last_complete_period(_read(settings, warehouse_as_of)), payouts_dir(settings), settings)


def _publish(settings: Settings):
    from cosell.publish.copy import publish

    return publish(settings)


def _report(settings: Settings):
    from cosell.publish.report import write_report

    return write_report(settings)


def _docs(settings: Settings):
    from cosell.build.dbt import docs

    return docs(settings)


@dataclass(frozen=True)
class Part:
    """One part of a nightly step: `name` in messages, `task_id` its task in the nightly DAG, `work` what it runs.

    `warehouse`: whether it opens the DuckDB warehouse (the DAG runs those in the one-slot pool).
    """

    name: str
    task_id: str
    work: Callable[[Settings], Any]
    warehouse: bool = True


# The nightly steps after landing, declared once: `cosell run` runs them in this order and the
# nightly DAG has one task per part in this order (dags/cosell_nightly.py builds its chain from
# it). Ledger step -> its parts; a step is recorded once its last part succeeded. The payout
# DRAFT of the last complete month comes before publish, so the published copy and the
# report carry the same night's payout lines.
STEPS: dict[str, tuple[Part, ...]] = {
    "raw_gate": (Part("raw gate", "raw_gate", _gate("raw")),),
    "built": (Part("build", "dbt_build", _build),),
    "marts_gate": (Part("marts gate", "marts_gate", _gate("marts")),),
    "published": (
        Part("payouts", "draft_payouts", _payouts),
        Part("publish", "publish", _publish),
        Part("report", "report", _report, warehouse=False),  # reads only the published copy
        Part("dbt docs", "dbt_docs", _docs),
    ),
}


def parts() -> list[tuple[str, int, Part]]:
    """(step, number, part) of every part, in run order."""
    return [(step, number, part) for step, declared in STEPS.items() for number, part in enumerate(declared)]


def last_complete_period(as_of: dt.date) -> str:
    """The latest calendar month (YYYY-MM) whose last day is on or before as_of.

    as_of is the warehouse as_of_date (data as of the end of that day), never the wall clock,
    so a rerun on the same data picks the same period.
    """
    if (as_of + dt.timedelta(days=1)).day == 1:
        return f"{as_of:%Y-%m}"
    previous = as_of.replace(day=1) - dt.timedelta(days=1)
    return f"{previous:%Y-%m}"


def payouts_dir(settings: Settings) -> Path:
    """Where the nightly run and the payout DAG write a period's files: <COSELL_HOME>/payouts/<YYYY-MM>/."""
    return settings.home / "payouts"


@dataclass
class NightlySummary:
    steps: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)  # (part, wall seconds), in run order
    idle_as_of: dt.date | None = None
    idle: bool = False

    def describe(self) -> str:
        if self.idle:
            return f"nothing new; published as of {self.idle_as_of}" if self.idle_as_of else "nothing new; nothing published yet"
        return "nightly run complete: " + " | ".join(self.steps + [self.time_by_part()])

    def time_by_part(self) -> str:
        """Where the night's wall time went, part by part ("time by part: land 7.7 s, raw gate 20.6 s, ...; 277.9 s in these parts")."""
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings)
        return f"time by part: {parts}; {sum(seconds for _, seconds in self.timings):.1f} s in these parts"


class StepFailed(CosellError):
    """A part of a step failed; `part` names it, `published` says whether publish already ran, `error` is the failure."""

    def __init__(self, part: str, published: bool, error: CosellError):
        self.part, self.published, self.error = part, published, error
        super().__init__(str(error))


def _read(settings: Settings, work: Callable):
    from cosell.db import connect

    con = connect(settings, read_only=True)
    try:
        return work(con)
    finally:
        con.close()


def pending(settings: Settings, step: str) -> list[int]:
    """Loads waiting for `step` (read-only; none when the warehouse does not exist yet)."""
    from cosell.orchestration import ledger

    if not settings.warehouse.exists():
        return []
    return _read(settings, lambda con: ledger.pending(con, step))


def record(settings: Settings, step: str, load_ids: list[int]) -> None:
    """Record in the ledger that `step` succeeded for these loads."""
    from cosell.db import connect
    from cosell.orchestration import ledger

    if not load_ids:
        return
    con = connect(settings)
    try:
        ledger.mark(con, step, load_ids)
    finally:
        con.close()


def run_part(step: str, number: int, settings: Settings, work: Callable[[Settings], Any] | None = None) -> str | None:
    """Part `number` of `step` when loads wait for the step; the step's last part records it. None when none waited.

    `work`, when given, runs instead of the part's own (the build started early, `run_nightly`).
    """
    loads = pending(settings, step)
    if not loads:
        return None
    declared = STEPS[step]
    part = declared[number]
    try:
        result = (work or part.work)(settings)
    except CosellError as error:
        raise StepFailed(part.name, any(p.name == "publish" for p in declared[:number]), error) from None
    crash_point(f"run:{part.name}")
    if number == len(declared) - 1:
        # the raw gate records exactly the loads it judged
        record(settings, step, result.batch_load_ids if step == "raw_gate" else loads)
        crash_point(f"run:{step}-recorded")
    return result.describe()


def advance(step: str, settings: Settings, timings: list[tuple[str, float]] | None = None,
            works: dict[str, Callable[[Settings], Any]] | None = None) -> list[str]:
    """Run every part of `step` when loads wait for it and record it; returns the parts' summary lines ([] when nothing waited).

    `timings`, when given, gets (part, wall seconds) of every part run; `works` (part name -> work)
    runs instead of those parts' own.
    """
    lines = []
    for number, part in enumerate(STEPS[step]):
        started = time.perf_counter()
        line = run_part(step, number, settings, (works or {}).get(part.name))
        if line is None:
            return lines
        lines.append(line)
        if timings is not None:
            timings.append((part.name, time.perf_counter() - started))
    return lines


def release_load(settings: Settings, load_id: int, reason: str, released_by: str | None = None):
    """`cosell release`: pass a load past a failed raw gate (ops.gate_releases records who, when, why)."""
    from cosell.config import login_name
    from cosell.db import connect
    from cosell.orchestration import ledger

    if not settings.warehouse.exists():
        raise CosellError(f"warehouse {settings.warehouse} does not exist: there is no load to release")
    con = connect(settings)
    try:
        return ledger.release(con, load_id, reason, released_by or login_name())
    finally:
        con.close()


def idle_as_of(inbox: Path, settings: Settings, until: dt.date | None = None) -> tuple[bool, dt.date | None]:
    """(True, as_of_date) when no inbox file is new to landing (up to `until`) and no load is pending."""
    from cosell.db import warehouse_as_of
    from cosell.landing.inbox import scan
    from cosell.orchestration import delivery, ledger

    if not settings.warehouse.exists():
        return False, None
    entries = [e for e in scan(Path(inbox).resolve()) if not delivery.after(e.business_date, until)]

    def check(con) -> tuple[bool, dt.date | None]:
        if not ledger.has_ledger(con) or ledger.unseen(con, Path(inbox).resolve(), entries):
            return False, None
        if any(ledger.pending(con, step) for step in STEPS):
            return False, None
        return True, warehouse_as_of(con)

    return _read(settings, check)


def run_nightly(inbox: Path, settings: Settings, until: dt.date | None = None) -> NightlySummary:
    """Land (up to `until`), then every step for what is pending; a failed gate stops before publish."""
    from cosell.gates.process import GateProcess
    from cosell.landing.load import land

    if not Path(inbox).is_dir():
        raise CosellError(f"inbox {inbox} is not a folder")
    idle, as_of = idle_as_of(inbox, settings, until)
    if idle:
        return NightlySummary(idle_as_of=as_of, idle=True)
    summary = NightlySummary()
    started = time.perf_counter()
    gates = GateProcess()  # Great Expectations imports there while this process lands
    early = None
    try:
        try:
            summary.steps.append(land(inbox, settings, until=until).describe())
            summary.timings.append(("land", time.perf_counter() - started))
        except CosellError as error:
            raise CosellError(f"nightly run stopped at land (nothing published): {error}") from None
        early = _build_early(settings)
        works = {"raw gate": partial(gates.check, "raw"), "marts gate": partial(gates.check, "marts")}
        if early:
            works["build"] = early.build
        for step in STEPS:
            try:
                summary.steps += advance(step, settings, timings=summary.timings, works=works)
            except StepFailed as error:
                note = "" if error.published else " (nothing published)"
                raise CosellError(f"nightly run stopped at {error.part}{note}: {error}") from None
            if step == "marts_gate":
                gates.close()  # no gate is left: its memory goes back before the payout draft
    finally:
        try:
            gates.close()
        finally:
            if early:
                early.stop()  # the gate failed, or the build never ran: dbt leaves without opening the warehouse
    return summary


def _build_early(settings: Settings):
    """The night's dbt build started now, when the raw gate has loads to judge (None otherwise, or when a dbt runs).

    dbt's start-up and parse (3-4 s) then run beside the gate instead of after it; dbt opens the
    warehouse only once the gate passed (cosell.build.dbt.EarlyBuild).
    """
    from cosell.build.dbt import EarlyBuild

    if not pending(settings, "raw_gate"):
        return None
    try:
        return EarlyBuild(settings)
    except CosellError:
        return None  # a dbt process still runs on the warehouse: the build step says so in its turn
