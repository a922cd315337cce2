"""Finds extract files in an inbox (<inbox>/<feed>/<YYYY-MM-DD>/<file>) without following links."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from cosell.contract import FEEDS

SUFFIXES = (".csv.gz", ".csv", ".parquet")


@dataclass(frozen=True)
class InboxFile:
    """One entry of the inbox; `problem` says why it cannot be landed before it is even read."""

    path: Path
    relative: str
    feed: str | None
    business_date: dt.date | None
    name: str
    problem: str | None = None
    is_link: bool = False

    @property
    def order(self) -> tuple:
        return (self.business_date or dt.date.min, self.feed or "", self.name, self.relative)

    @property
    def format(self) -> str:
        return next((s for s in SUFFIXES if self.name.endswith(s)), "")


class UnreadableFile(Exception):
    """The file cannot be read as an extract; the message is the quarantine reason."""


def scan(inbox: Path) -> list[InboxFile]:
    """Every file entry of the inbox, in landing order (business date, feed, file name)."""
    found: list[InboxFile] = []
    for feed_entry in _entries(inbox):
        rel = feed_entry.name
        if feed_entry.is_symlink() or not feed_entry.is_dir(follow_symlinks=False):
            found.append(_odd(inbox, feed_entry, rel, None, None, "not inside a feed folder"))
            continue
        feed = feed_entry.name if feed_entry.name in FEEDS else None
        for date_entry in _entries(Path(feed_entry.path)):
            rel_date = f"{rel}/{date_entry.name}"
            business_date = _parse_date(date_entry.name)
            if date_entry.is_symlink() or not date_entry.is_dir(follow_symlinks=False):
                found.append(_odd(inbox, date_entry, rel_date, feed, None, "not inside a business-date folder"))
                continue
            for file_entry in _entries(Path(date_entry.path)):
                rel_file = f"{rel_date}/{file_entry.name}"
                if file_entry.is_symlink():
                    found.append(_odd(inbox, file_entry, rel_file, feed, business_date, "symbolic link not followed"))
                    continue
                if not file_entry.is_file(follow_symlinks=False):
                    found.append(_odd(inbox, file_entry, rel_file, feed, business_date, "not a regular file"))
                    continue
                problem = None
                if feed is None:
                    problem = f"unknown feed folder {feed_entry.name!r} (expected one of {', '.join(FEEDS)})"
                elif business_date is None:
                    problem = f"folder {date_entry.name!r} is not a business date YYYY-MM-DD"
                elif not file_entry.name.endswith(SUFFIXES):
                    problem = "unsupported file type (expected .csv, .csv.gz or .parquet)"
                found.append(
                    InboxFile(Path(file_entry.path), rel_file, feed, business_date, file_entry.name, problem)
                )
    return sorted(found, key=lambda f: f.order)


def _entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: e.name)


def _parse_date(text: str) -> dt.date | None:
    if len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _odd(inbox: Path, entry: os.DirEntry, rel: str, feed, business_date, problem: str) -> InboxFile:
    return InboxFile(Path(entry.path), rel, feed, business_date, entry.name, problem, is_link=entry.is_symlink())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def header(file: InboxFile) -> list[str]:
    """Column names of a file; raises UnreadableFile with the quarantine reason."""
    try:
        if file.format == ".parquet":
            return list(pq.read_schema(file.path).names)
        opener = gzip.open if file.format == ".csv.gz" else open
        with opener(file.path, "rb") as handle:
            first = handle.readline()
    except (OSError, EOFError, ValueError) as error:
        raise UnreadableFile(f"cannot read file: {_one_line(error)}") from None
    if not first.strip():
        raise UnreadableFile("empty file: no header row")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile("header row is not UTF-8") from None
    names = next(csv.reader(io.StringIO(text)))
    return [n.strip() for n in names]


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__
