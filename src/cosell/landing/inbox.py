"""Finds extract files in an inbox (<inbox>/<feed>/<YYYY-MM-DD>/<file>) and takes one snapshot of each.

Nothing here follows a link or opens anything that is not a regular file. A file is read once,
into a snapshot outside the inbox, while its sha256 is computed: the sha recorded, the rows
landed and the rejects all describe those bytes, whatever happens to the inbox file meanwhile.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import os
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from cosell.contract import FEEDS
from cosell.errors import CosellError

SUFFIXES = (".csv.gz", ".csv", ".parquet")
_BLOCK = 1 << 20


@dataclass(frozen=True)
class InboxFile:
    """One entry of the inbox; `problem` says why it cannot be landed before it is even read."""

    path: Path
    relative: str
    feed: str | None
    business_date: dt.date | None
    name: str
    problem: str | None = None
    kind: str = "file"  # file (regular), link, folder or special (FIFO, socket, device): only files are opened

    @property
    def order(self) -> tuple:
        return (self.business_date or dt.date.min, self.feed or "", self.name, self.relative)

    @property
    def format(self) -> str:
        return next((s for s in SUFFIXES if self.name.endswith(s)), "")

    @property
    def is_regular(self) -> bool:
        return self.kind == "file"


class UnreadableFile(Exception):
    """The file's bytes cannot be read as an extract; the message is the quarantine reason."""


class TransientFailure(CosellError):
    """Reading failed for a reason outside the file (disk, memory, permissions): nothing is recorded, retry later."""


def scan(inbox: Path) -> list[InboxFile]:
    """Every entry of the inbox but hidden files in date folders, in landing order (business date, feed, file name)."""
    found: list[InboxFile] = []
    for feed_entry in _entries(inbox):
        rel = feed_entry.name
        if _kind(feed_entry) != "folder":
            found.append(_odd(feed_entry, rel, None, None, "not inside a feed folder"))
            continue
        feed = feed_entry.name if feed_entry.name in FEEDS else None
        for date_entry in _entries(Path(feed_entry.path)):
            rel_date = f"{rel}/{date_entry.name}"
            business_date = _parse_date(date_entry.name)
            if _kind(date_entry) != "folder":
                found.append(_odd(date_entry, rel_date, feed, None, "not inside a business-date folder"))
                continue
            for file_entry in _entries(Path(date_entry.path)):
                if file_entry.name.startswith("."):
                    continue  # a hidden name is a delivery still being written (rsync, scp, our connectors)
                rel_file = f"{rel_date}/{file_entry.name}"
                kind = _kind(file_entry)
                problem = {
                    "link": "symbolic link not followed",
                    "folder": "a folder inside a business-date folder is not read (files sit directly in <feed>/<YYYY-MM-DD>/)",
                    "special": "not a regular file (FIFO, socket or device): never opened",
                }.get(kind)
                if problem is None and feed is None:
                    problem = f"unknown feed folder {feed_entry.name!r} (expected one of {', '.join(FEEDS)})"
                elif problem is None and business_date is None:
                    problem = f"folder {date_entry.name!r} is not a business date YYYY-MM-DD"
                elif problem is None and not file_entry.name.endswith(SUFFIXES):
                    problem = "unsupported file type (expected .csv, .csv.gz or .parquet)"
                found.append(
                    InboxFile(Path(file_entry.path), rel_file, feed, business_date, file_entry.name, problem, kind)
                )
    return sorted(found, key=lambda f: f.order)


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as error:
        raise TransientFailure(f"cannot list {folder}: {_one_line(error)}; nothing recorded, run again") from None


def _kind(entry: os.DirEntry) -> str:
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError:
        return "special"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "special"


def _parse_date(text: str) -> dt.date | None:
    if len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _odd(entry: os.DirEntry, rel: str, feed, business_date, problem: str) -> InboxFile:
    kind = _kind(entry)
    if kind == "link":
        problem = f"{problem}; symbolic link not followed"
    return InboxFile(Path(entry.path), rel, feed, business_date, entry.name, problem, kind)


def sha256(file: InboxFile) -> str:
    """sha256 of a regular inbox file (read, never changed)."""
    digest = hashlib.sha256()
    with _open_inbox(file) as handle:
        for block in iter(lambda: _read(file, handle), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """The bytes landing reads: a copy outside the inbox, its sha256, and what is wrong with it if known."""

    path: Path
    sha256: str
    problem: str | None


def snapshot(file: InboxFile, target: Path) -> Snapshot:
    """Copy the file's bytes to `target` in one pass, hashing them.

    A .csv.gz is decompressed on the way (into nothing) so that a truncated or corrupt stream is
    found here, as a fact about these bytes, not later as an I/O error that could be anything.
    """
    digest = hashlib.sha256()
    gz = _GzipCheck() if file.format == ".csv.gz" else None
    problem = None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _open_inbox(file) as source, open(target, "wb") as out:
            for block in iter(lambda: _read(file, source), b""):
                digest.update(block)
                out.write(block)
                if gz and problem is None:
                    problem = gz.feed(block)
    except OSError as error:
        target.unlink(missing_ok=True)
        raise TransientFailure(f"cannot copy {file.relative} for landing: {_one_line(error)}; nothing recorded, run again") from None
    if gz and problem is None:
        problem = gz.finish()
    return Snapshot(target, digest.hexdigest(), problem)


class _GzipCheck:
    """Decompresses a gzip stream (several members allowed) only to prove it is whole."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(wbits=31)
        self._open = False  # inside a member that has not ended yet

    def feed(self, block: bytes) -> str | None:
        while block:
            self._open = True
            try:
                self._d.decompress(block, _BLOCK)
                while self._d.unconsumed_tail and not self._d.eof:
                    self._d.decompress(self._d.unconsumed_tail, _BLOCK)
            except zlib.error as error:
                return f"cannot read file: not a valid gzip stream ({error})"
            if not self._d.eof:
                return None
            block = self._d.unused_data
            self._d, self._open = zlib.decompressobj(wbits=31), False
        return None

    def finish(self) -> str | None:
        return "cannot read file: unexpected end of gzip stream (truncated file)" if self._open else None


def _open_inbox(file: InboxFile):
    if not file.is_regular:
        raise ValueError(f"{file.relative} is not a regular file")  # a bug: callers check is_regular
    try:
        fd = os.open(file.path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced by a FIFO or a folder since the scan
            os.close(fd)
            raise TransientFailure(f"{file.relative} is no longer a regular file; nothing recorded, run again")
        return os.fdopen(fd, "rb")
    except OSError as error:
        raise TransientFailure(f"cannot open {file.relative}: {_one_line(error)}; nothing recorded, run again") from None


def _read(file: InboxFile, handle) -> bytes:
    try:
        return handle.read(_BLOCK)
    except OSError as error:
        raise TransientFailure(f"cannot read {file.relative}: {_one_line(error)}; nothing recorded, run again") from None


def header(path: Path, fmt: str) -> list[str]:
    """Column names of a snapshot; raises UnreadableFile with the quarantine reason."""
    if fmt == ".parquet":
        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as error:  # pyarrow raises several types for bytes that are not Parquet
            raise UnreadableFile(f"cannot read file: not a readable Parquet file ({_one_line(error)})") from None
    opener = gzip.open if fmt == ".csv.gz" else open
    with opener(path, "rb") as handle:
        head = handle.read(_BLOCK)
    if not head.strip():
        raise UnreadableFile("empty file: no header row")
    # The block may end inside a character of a later row; only the header row must be UTF-8.
    text = head.decode("utf-8-sig", errors="replace")
    try:
        names = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as error:
        raise UnreadableFile(f"header row cannot be read as CSV: {error}") from None
    if any("\ufffd" in n for n in names):
        raise UnreadableFile("header row is not UTF-8")
    return [n.strip() for n in names]


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__
