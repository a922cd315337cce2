"""The delivery calendar: which feeds are expected on a business date, and the business-date bound of a run.

Default: fx_rates on weekdays (Monday to Friday), every other feed every day. A YAML file
named by COSELL_DELIVERY_CALENDAR replaces the default for the feeds it names:

    fx_rates:
      days: [MON, TUE, WED, THU, FRI]   # weekdays the feed is delivered (default: every day)
      skip: [2026-12-25, 2027-01-01]    # dates it is not delivered (holidays)
    satisfaction:
      days: [MON]

Feeds the file does not name are expected every day. See docs/scheduling.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from cosell.contract import FEEDS
from cosell.errors import CosellError

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass(frozen=True)
class FeedDays:
    days: frozenset[int] = frozenset(range(7))  # date.weekday() numbers
    skip: frozenset[dt.date] = frozenset()

    def expects(self, day: dt.date) -> bool:
        return day.weekday() in self.days and day not in self.skip


DEFAULT = {name: FeedDays() for name in FEEDS} | {"fx_rates": FeedDays(frozenset(range(5)))}


def after(business_date: dt.date | None, until: dt.date | None) -> bool:
    """True when a file of this business date lies beyond the run's bound (dateless entries never do)."""
    return until is not None and business_date is not None and business_date > until


def load_calendar(path: Path | None) -> dict[str, FeedDays]:
    """The calendar: the default, with the feeds named in the YAML file at `path` replaced."""
    if path is None:
        return dict(DEFAULT)
    where = f"delivery calendar {path}"
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise CosellError(f"{where} cannot be read: {' '.join(str(error).split())[:200]}") from None
    if not isinstance(data, dict):
        raise CosellError(f"{where} must map feed names to {{days, skip}}")
    calendar = dict(DEFAULT)
    for feed, spec in data.items():
        if feed not in FEEDS:
            raise CosellError(f"{where}: unknown feed {feed!r} (expected one of {', '.join(FEEDS)})")
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - {"days", "skip"}:
            raise CosellError(f"{where}: feed {feed} takes `days` and `skip` only")
        names = [str(d).upper() for d in spec.get("days", WEEKDAYS)]
        unknown = [d for d in names if d not in WEEKDAYS]
        if unknown:
            raise CosellError(f"{where}: feed {feed}: unknown weekday(s) {', '.join(unknown)} (use {', '.join(WEEKDAYS)})")
        try:
            skip = frozenset(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)) for d in spec.get("skip") or [])
        except ValueError as error:
            raise CosellError(f"{where}: feed {feed}: skip dates must be YYYY-MM-DD ({error})") from None
        calendar[feed] = FeedDays(frozenset(WEEKDAYS.index(d) for d in names), skip)
    return calendar


def expected_feeds(day: dt.date, calendar: dict[str, FeedDays], missing_ok: list[str] | None = None) -> list[str]:
    """Feeds the calendar expects on `day`, less those a forced run accepts as missing ("*": all)."""
    allowed = set(missing_ok or [])
    unknown = allowed - set(FEEDS) - {"*"}
    if unknown:
        raise CosellError(f"missing_ok names unknown feed(s) {', '.join(sorted(unknown))} (expected one of {', '.join(FEEDS)})")
    if "*" in allowed:
        return []
    return [feed for feed in FEEDS if calendar[feed].expects(day) and feed not in allowed]
