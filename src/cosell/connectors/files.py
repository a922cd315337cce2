"""Writes what a connector read as ordinary contract CSV files in the inbox (SPEC section 1), byte-stable."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from cosell.contract import FEEDS
from cosell.errors import CosellError

# Columns a connector adds after the contract ones (landing keeps extra columns as VARCHAR).
SOURCE_COLUMNS = ("source_system", "source_record_id")

_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


@dataclass
class PullSummary:
    provider: str
    business_date: dt.date
    records_read: int
    files: dict[str, tuple[Path, int, bool]] = field(default_factory=dict)  # feed -> (path, rows, written)

    def describe(self) -> str:
        parts = []
        for feed, (path, rows, written) in sorted(self.files.items()):
            parts.append(f"{feed} {rows} rows {'in' if written else 'unchanged, already in'} {path}")
        records = f"{self.records_read} record{'' if self.records_read == 1 else 's'}"
        return f"pulled {records} from {self.provider} for {self.business_date}: " + "; ".join(parts)


def timestamp(value) -> str:
    """A provider instant as contract text (UTC, `Z`); text that is not an instant is written through as-is."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds" if value.microsecond else "seconds") + "Z"
    text = str(value)
    match = _ISO.match(text)
    if not match:
        return text
    date, clock, fraction, zone = match.groups()
    try:
        parsed = dt.datetime.fromisoformat(f"{date}T{clock}{(fraction or '')[:7]}{'+00:00' if zone in (None, 'Z') else zone}")
    except ValueError:
        return text
    return timestamp(parsed)


def date_part(value) -> str:
    """The UTC date of a provider instant or date text; other text as-is."""
    text = timestamp(value)
    return text[:10] if _ISO.match(text) else text


def money(value, factor: int = 1) -> Decimal | None:
    """A provider amount times factor, exactly; None when it is not a plain decimal number."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
        amount = Decimal(value.strip())
    else:
        return None
    return amount * factor if amount.is_finite() else None


def decimal_text(value, factor: int = 1) -> str:
    """Money as contract text (factor applied, two decimals); anything else is written as read.

    Nothing is rounded: an amount with more than two decimals is written exactly, so landing
    rejects it as it would any extract's (docs/decisions.md, value formats).
    """
    if value is None or value == "":
        return ""
    amount = money(value, factor)
    if amount is None:
        return str(value)
    if amount == amount.quantize(Decimal("0.01")):
        return str(amount.quantize(Decimal("0.01")))
    return format(amount, "f")


def code(text: str) -> str:
    """A provider label as an upper-case code: 'Financial Services' -> FINANCIAL_SERVICES."""
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")


def csv_bytes(feed: str, rows: list[dict[str, str]]) -> bytes:
    columns = list(FEEDS[feed].column_names) + list(SOURCE_COLUMNS)
    key = FEEDS[feed].key
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in sorted(rows, key=lambda r: tuple(r.get(k, "") for k in key) + (r.get("source_record_id", ""),)):
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8")


def _target(folder: Path, prefix: str, data: bytes) -> tuple[Path, bool]:
    """Where these bytes go: an existing file with the same bytes (nothing to write) or the next number."""
    numbers = []
    for existing in sorted(folder.glob(f"{prefix}-[0-9][0-9][0-9].csv")):
        if existing.read_bytes() == data:
            return existing, False
        numbers.append(int(existing.stem.rsplit("-", 1)[1]))
    return folder / f"{prefix}-{max(numbers, default=0) + 1:03d}.csv", True


def write_pull(
    inbox: Path, provider: str, prefix: str, business_date: dt.date, records: int, feeds: dict[str, list[dict[str, str]]]
) -> PullSummary:
    """Write each feed's rows as `<inbox>/<feed>/<date>/<prefix>-NNN.csv`, all files or none.

    Bytes equal to a file already in the folder are not written again (landing has them);
    otherwise the next number is used, so no earlier pull is overwritten and a later pull
    sorts after it (SPEC section 1 tie-break by file name). Every file is first written under
    a hidden `.partial` name, then all are renamed into place.
    """
    summary = PullSummary(provider, business_date, records)
    pending: list[tuple[Path, Path]] = []
    try:
        for feed, rows in feeds.items():
            data = csv_bytes(feed, rows)
            folder = Path(inbox) / feed / business_date.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob(f".{prefix}-*.partial"):  # left by a pull killed before its renames
                stale.unlink()
            path, new = _target(folder, prefix, data)
            if new:
                partial = folder / f".{path.name}.partial"
                pending.append((partial, path))
                partial.write_bytes(data)
            summary.files[feed] = (path, len(rows), new)
        for partial, path in pending:
            os.replace(partial, path)
    except OSError as error:
        for partial, _ in pending:
            partial.unlink(missing_ok=True)
        raise CosellError(f"cannot write the {provider} extracts under {inbox}: {error.strerror or error}") from None
    return summary
