"""Property-based landing: for every generated inbox, every data row is landed or rejected exactly once.

Generated: file names (glob characters, spaces, quotes, unicode), header orders and extra columns
(names that look like internal ones), field values (commas, quotes, line breaks, unicode),
encodings (latin-1 rows), row lengths, broken quoting and wrong column counts, CSV and csv.gz,
and byte-identical copies. Asserted: rows landed + rows rejected = data rows for every file, no
row position landed or rejected twice, lineage row numbers cover 1..n, and the inbox is untouched.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import tempfile
from pathlib import Path

import duckdb
from extracts import VALID
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from cosell.config import Settings
from cosell.contract import FEEDS
from cosell.landing.load import land

FEED = "engagements"
COLUMNS = list(FEEDS[FEED].column_names)

names = st.text(
    alphabet=st.sampled_from("ab[]*?{},-_ 'é1\u00e9\u4e2d"), min_size=1, max_size=12
).filter(lambda n: n.strip(" ") == n and n not in (".", ".."))
extra_names = st.sampled_from(["__reason", "__file", "__pos", "__c0", "filename", "_load_id", "Status", "note", "x,y", "q\"t"])
free_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=40)


@st.composite
def a_row(draw, header):
    kind = draw(st.sampled_from(["valid", "valid", "valid", "bad_enum", "bad_time", "wrong_count", "latin1", "long"]))
    values = {c: VALID[FEED][c] for c in COLUMNS}
    values["request_id"] = draw(st.text(alphabet="RS0123456789", min_size=1, max_size=6))
    values["vendor_resource_id"] = draw(free_text)
    if kind == "bad_enum":
        values["status"] = draw(st.sampled_from(["accepted", "DONE", "", "ACCEPTED "]))
    if kind == "bad_time":
        values["requested_at"] = draw(st.sampled_from(["infinity", "epoch", "2026-03-02T10:00:00", "2026-03-02T10:00:00+25:00"]))
    if kind == "long":
        values["vendor_resource_id"] = "L" * draw(st.integers(1000, 200_000))
    fields = [values.get(c, draw(free_text)) for c in header]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    line = out.getvalue().encode("utf-8")
    if kind == "wrong_count":
        line = line.rstrip(b"\n") + b",extra\n"
    if kind == "latin1":
        line = b"\xe9" + line  # a byte that is not UTF-8, in the first field
    return line


@st.composite
def a_file(draw):
    header = draw(st.permutations(COLUMNS))
    header = header + draw(st.lists(extra_names, unique=True, max_size=3))
    rows = draw(st.lists(a_row(header), min_size=0, max_size=12))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(header)
    body = out.getvalue().encode() + b"".join(rows)
    unclosed = draw(st.booleans())
    if unclosed:  # a quote never closed, on the last row: one broken row
        body += b'"never closed,' + b",".join(b"x" for _ in header[1:]) + b"\n"
    fmt = draw(st.sampled_from([".csv", ".csv", ".csv.gz"]))
    date = draw(st.sampled_from(["2026-03-01", "2026-03-02"]))
    return draw(names) + fmt, date, body, len(rows) + unclosed


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=st.lists(a_file(), min_size=1, max_size=4), copy_first=st.booleans())
def test_every_data_row_is_landed_or_rejected_exactly_once(files, copy_first):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inbox = tmp / "inbox"
        expected: dict[str, int] = {}
        for name, date, body, n in files:
            path = inbox / FEED / date / name
            path.parent.mkdir(parents=True, exist_ok=True)
            data = gzip.compress(body, mtime=0) if name.endswith(".gz") else body
            if path.exists():
                continue
            path.write_bytes(data)
            expected[f"{FEED}/{date}/{name}"] = n
        if copy_first:
            first = next(iter(expected))
            copy = inbox / FEED / "2026-03-03" / Path(first).name
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes((inbox / first).read_bytes())
        before = digest(inbox)
        home = tmp / "home"
        settings = Settings.from_env({"COSELL_HOME": str(home), "COSELL_DUCKDB_THREADS": "2", "COSELL_DUCKDB_MEMORY_LIMIT": "1GB"})
        land(inbox, settings)
        land(inbox, settings)  # a second run changes nothing
        assert digest(inbox) == before
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            audit = con.execute(
                "SELECT file_path, status, file_sha256, rows_landed, rows_rejected, reason FROM raw.load_audit"
            ).fetchall()
            assert len(audit) == len(before)
            for path, status, sha, landed, rejected, reason in audit:
                if status == "DUPLICATE":
                    assert (landed, rejected) == (0, 0)
                    continue
                assert status == "LANDED", (path, reason)
                assert landed + rejected == expected[path], (path, landed, rejected)
                positions = [r[0] for r in con.execute(
                    f"SELECT _row_number FROM raw.{FEED} WHERE _file_sha256 = ? "
                    "UNION ALL SELECT row_number FROM raw.rejects WHERE file_sha256 = ?", [sha, sha]).fetchall()]
                assert sorted(positions) == list(range(1, expected[path] + 1)), path
