"""Hostile extract files: each class of defect that once lost, doubled or misstated rows without an error."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from extracts import contract_columns, csv_text, row, write

from cosell.config import Settings
from cosell.landing.inbox import TransientFailure
from cosell.landing.load import MAX_ROW_BYTES, land


def query(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("fmt", [".csv", ".parquet"])
def test_file_names_with_glob_characters_are_read_literally(tmp_path, settings, fmt):
    inbox = tmp_path / "inbox"
    names = ["a[1]", "a1", "ab", "*", "?", "a?", "[a-z]", "{a,b}", "a b", "x'y"]
    for name in names:
        rows = [row("deals", deal_id=f"{name}-{i}") for i in range(3)]
        if fmt == ".csv":
            write(inbox, "deals", "2026-03-01", name + fmt, csv_text(rows))
        else:
            target = inbox / "deals" / "2026-03-01"
            target.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({k: [r[k] or None for r in rows] for k in rows[0]}), target / (name + fmt))
    summary = land(inbox, settings)
    assert summary.files["LANDED"] == len(names) and summary.rows_rejected == 0
    landed = query(settings, "SELECT _file_name, deal_id FROM raw.deals ORDER BY 1, 2")
    assert landed == sorted((name + fmt, f"{name}-{i}") for name in names for i in range(3))


@pytest.mark.parametrize("fmt", [".csv", ".csv.gz"])
def test_an_over_long_row_is_a_reject_with_its_row_number_and_the_others_keep_theirs(tmp_path, settings, fmt):
    inbox = tmp_path / "inbox"
    text = csv_text([row("deals", deal_id="D1"), row("deals", deal_id="D2", customer_name="x" * (40 * 2**20)),
                     row("deals", deal_id="D3"), row("deals", deal_id="D4")])
    write(inbox, "deals", "2026-03-01", "d" + fmt, text)
    summary = land(inbox, settings)
    assert (summary.rows_landed, summary.rows_rejected) == (3, 1)
    assert query(settings, "SELECT deal_id, _row_number FROM raw.deals ORDER BY 2") == [("D1", 1), ("D3", 3), ("D4", 4)]
    assert query(settings, "SELECT row_number, reason FROM raw.rejects") == [(2, f"row longer than {MAX_ROW_BYTES} bytes")]


def test_a_row_just_under_the_limit_lands(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "d.csv", csv_text([row("deals", customer_name="y" * (MAX_ROW_BYTES - 2000))]))
    assert land(inbox, settings).rows_landed == 1


def test_folders_and_fifos_in_a_date_folder_are_recorded_never_opened_and_block_nothing(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "a.csv", csv_text([row("deals")]))
    write(inbox, "deals", "2026-03-01", "sub/inner.csv", csv_text([row("deals", deal_id="INNER")]))
    os.mkfifo(inbox / "deals" / "2026-03-01" / "pipe.csv")
    os.mkfifo(inbox / "stray_fifo")
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(summary=land(inbox, settings)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "landing hung on a FIFO"
    assert result["summary"].files == {"LANDED": 1, "DUPLICATE": 0, "QUARANTINED": 3}
    audit = query(settings, "SELECT file_path, status, file_sha256, quarantine_path, reason FROM raw.load_audit ORDER BY 1")
    by_path = {a[0]: a for a in audit}
    assert by_path["deals/2026-03-01/a.csv"][1] == "LANDED"
    for path in ("deals/2026-03-01/pipe.csv", "deals/2026-03-01/sub", "stray_fifo"):
        assert by_path[path][1:4] == ("QUARANTINED", None, None)
    assert "folder inside a business-date folder" in by_path["deals/2026-03-01/sub"][4]
    assert query(settings, "SELECT deal_id FROM raw.deals") == [("D1",)]
    land(inbox, settings)  # seen entries are not recorded again
    assert query(settings, "SELECT count(*) FROM raw.load_audit") == [(4,)]


HOSTILE_EXTRAS = ["__reason", "__file", "__pos", "__c0", "__path", "__seq", "filename", "file_row_number",
                  "_load_id", "_row_number", "Deal_ID", "STAGE", "__checked", "a\"b", "sélection", "x y"]


@pytest.mark.parametrize("fmt", [".csv", ".parquet"])
def test_extra_columns_never_reach_internal_names_and_are_all_kept(tmp_path, settings, fmt):
    inbox = tmp_path / "inbox"
    extras = {name: f"v{i}" for i, name in enumerate(HOSTILE_EXTRAS)}
    rows = [row("deals", deal_id="OK", **extras), row("deals", deal_id="BAD", stage="UNKNOWN_STAGE", **extras)]
    if fmt == ".csv":
        write(inbox, "deals", "2026-03-01", "d.csv", csv_text(rows))
    else:
        (inbox / "deals" / "2026-03-01").mkdir(parents=True)
        pq.write_table(pa.table({k: [r[k] or None for r in rows] for k in rows[0]}), inbox / "deals" / "2026-03-01" / "d.parquet")
    summary = land(inbox, settings)
    assert summary.files["LANDED"] == 1 and (summary.rows_landed, summary.rows_rejected) == (1, 1)
    assert "stage: 'UNKNOWN_STAGE' is not one of" in query(settings, "SELECT reason FROM raw.rejects")[0][0]
    mapping = dict(query(settings, "SELECT header, column_name FROM raw.extra_columns WHERE feed = 'deals'"))
    assert set(mapping) == set(HOSTILE_EXTRAS)
    assert mapping["_load_id"] != "_load_id" and mapping["Deal_ID"] != "Deal_ID" and mapping["__reason"] == "__reason"
    quoted = ", ".join('"' + mapping[h].replace('"', '""') + '"' for h in HOSTILE_EXTRAS)
    assert query(settings, f"SELECT deal_id, stage, _load_id, _row_number, {quoted} FROM raw.deals") == [
        ("OK", "QUALIFIED", 1, 1, *extras.values())
    ]
    # the same headers in a later file land in the same columns
    write(inbox, "deals", "2026-03-02", "d.csv", csv_text([row("deals", deal_id="LATER", **extras)]))
    land(inbox, settings)
    assert query(settings, f"SELECT {quoted} FROM raw.deals WHERE deal_id = 'LATER'") == [tuple(extras.values())]


TIMESTAMPS = [
    ("2026-03-01T10:00:00Z", dt.datetime(2026, 3, 1, 10)),
    ("2026-03-01T12:00:00+02:00", dt.datetime(2026, 3, 1, 10)),
    ("2026-03-01T15:30:00+0530", dt.datetime(2026, 3, 1, 10)),
    ("2026-03-01T00:00:00-10", dt.datetime(2026, 3, 1, 10)),
    ("2026-03-01T10:00Z", dt.datetime(2026, 3, 1, 10)),
    ("2026-03-01T10:00:00.123456Z", dt.datetime(2026, 3, 1, 10, 0, 0, 123456)),
    ("infinity", None),
    ("-infinity", None),
    ("epoch", None),
    ("now", None),
    ("2026-03-01T10:00:00 Europe/Berlin", None),
    ("2026-03-01T10:00:00+99:00", None),
    ("2026-03-01T10:00:00+15:00", None),
    ("2026-03-01T10:00:00", None),
    ("2026-03-01 10:00:00Z", None),
    ("2026-03-01T10:00:00.1234567Z", None),
    ("2026-03-01", None),
    ("2026-02-30T10:00:00Z", None),
    ("1850-03-01T10:00:00Z", None),
    ("2400-03-01T10:00:00Z", None),
]


@pytest.mark.parametrize("text, expected", TIMESTAMPS, ids=[t[0] for t in TIMESTAMPS])
def test_timestamps_are_parsed_strictly(tmp_path, settings, text, expected):
    inbox = tmp_path / "inbox"
    write(inbox, "partners", "2026-03-01", "p.csv", csv_text([row("partners", updated_at=text)]))
    summary = land(inbox, settings)
    if expected is None:
        assert (summary.rows_landed, summary.rows_rejected) == (0, 1)
        assert query(settings, "SELECT reason FROM raw.rejects")[0][0].startswith(f"updated_at: '{text[:60]}' is not an ISO-8601")
    else:
        assert query(settings, "SELECT updated_at FROM raw.partners") == [(expected,)]


def test_parquet_timestamps_beyond_microseconds_are_rejected_not_cut(tmp_path, settings):
    folder = tmp_path / "inbox" / "partners" / "2026-03-01"
    folder.mkdir(parents=True)
    values = {k: [v, v] for k, v in row("partners").items() if k not in ("updated_at", "certified_specialists", "parent_partner_id")}
    stamps = pa.array([1772359200_000000000, 1772359200_000000001], pa.timestamp("ns"))
    table = pa.table({**values, "partner_id": ["P1", "P2"], "parent_partner_id": pa.array([None, None], pa.string()),
                      "certified_specialists": pa.array([3, 3], pa.int32()), "updated_at": stamps})
    pq.write_table(table, folder / "p.parquet")
    summary = land(tmp_path / "inbox", settings)
    assert (summary.rows_landed, summary.rows_rejected) == (1, 1)
    assert query(settings, "SELECT partner_id, updated_at FROM raw.partners") == [("P1", dt.datetime(2026, 3, 1, 10))]
    assert query(settings, "SELECT row_number FROM raw.rejects") == [(2,)]


@pytest.mark.parametrize(
    "feed, field, value, lands",
    [
        ("deals", "amount", "999999999999.99", True),
        ("deals", "amount", "1000000000000.00", False),
        ("deals", "amount", "9999999999999999.99", False),
        ("fx_rates", "usd_per_unit", "10000", True),
        ("fx_rates", "usd_per_unit", "10000.000000000001", False),
        ("deals", "expected_close_on", "9999-12-31", False),
        ("deals", "expected_close_on", "2199-12-31", True),
    ],
)
def test_values_the_warehouse_cannot_carry_are_rejected_at_landing(tmp_path, settings, feed, field, value, lands):
    inbox = tmp_path / "inbox"
    write(inbox, feed, "2026-03-01", "f.csv", csv_text([row(feed, **{field: value})]))
    summary = land(inbox, settings)
    assert (summary.rows_landed, summary.rows_rejected) == ((1, 0) if lands else (0, 1))
    if not lands:
        assert query(settings, "SELECT reason FROM raw.rejects")[0][0].startswith(f"{field}: '{value}' is not")


def test_the_sha_recorded_describes_the_bytes_landed_while_the_file_changes(tmp_path, settings):
    inbox = tmp_path / "inbox"
    versions = {
        "A": csv_text([row("deals", deal_id=f"A{i}", customer_name="a" * 500) for i in range(3000)]).encode(),
        "B": csv_text([row("deals", deal_id=f"B{i}", customer_name="b" * 500) for i in range(2000)]).encode(),
    }
    path = write(inbox, "deals", "2026-03-01", "live.csv", versions["A"])
    spare = tmp_path / "spare.csv"
    stop = threading.Event()

    def swap():
        turn = 0
        while not stop.is_set() and turn < 100_000:
            spare.write_bytes(versions["AB"[turn % 2]])
            os.replace(spare, path)
            turn += 1

    writer = threading.Thread(target=swap, daemon=True)
    writer.start()
    try:
        for _ in range(3):
            land(inbox, settings)
    finally:
        stop.set()
        writer.join()
    by_sha = {hashlib.sha256(v).hexdigest(): k for k, v in versions.items()}
    for sha, landed in query(settings, "SELECT file_sha256, rows_landed FROM raw.load_audit WHERE status = 'LANDED'"):
        version = by_sha[sha]
        ids = {r[0][0] for r in query(settings, f"SELECT deal_id FROM raw.deals WHERE _file_sha256 = '{sha}'")}
        assert ids == {version} and landed == (3000 if version == "A" else 2000)


def test_a_transient_failure_records_nothing_and_the_next_run_lands_the_file(tmp_path, settings):
    inbox = tmp_path / "inbox"
    rows = [row("deals", deal_id=f"D{i}", customer_name=f"customer {i} " + "z" * 400) for i in range(30000)]
    write(inbox, "deals", "2026-03-01", "big.csv", csv_text(rows))
    starved = Settings(**{**settings.__dict__, "duckdb_memory_limit": "3MB", "duckdb_threads": 1})
    with pytest.raises(TransientFailure, match=r"cannot land deals/2026-03-01/big.csv now \(OutOfMemoryException") as caught:
        land(inbox, starved)
    assert "\n" not in str(caught.value)
    assert query(settings, "SELECT count(*) FROM raw.load_audit") == [(0,)]
    assert not any(settings.quarantine_dir.rglob("*.csv"))
    summary = land(inbox, settings)
    assert summary.files["LANDED"] == 1 and summary.rows_landed == 30000


def test_leftovers_of_an_interrupted_landing_are_cleaned(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "bad.csv", "deal_id\nD1\n")
    stale_snapshot = settings.temp_dir / "landing" / "0.csv"
    stale_quarantine = settings.quarantine_dir / "7" / "deals" / "x.csv"
    for stale in (stale_snapshot, stale_quarantine):
        stale.parent.mkdir(parents=True, exist_ok=True)
        stale.write_text("left by a killed run")
    land(inbox, settings)
    assert not stale_snapshot.exists() and not stale_quarantine.parent.parent.exists()
    (kept,) = query(settings, "SELECT quarantine_path FROM raw.load_audit")[0]
    assert os.path.exists(kept)
    land(inbox, settings)
    assert os.path.exists(kept)


def test_quarantine_copy_is_the_snapshot_of_the_bytes_judged(tmp_path, settings):
    inbox = tmp_path / "inbox"
    path = write(inbox, "deals", "2026-03-01", "t.csv.gz", csv_text([row("deals", deal_id=f"D{i}") for i in range(2000)]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    land(inbox, settings)
    sha, reason, copy = query(settings, "SELECT file_sha256, reason, quarantine_path FROM raw.load_audit")[0]
    assert "truncated" in reason
    assert hashlib.sha256(open(copy, "rb").read()).hexdigest() == sha == hashlib.sha256(path.read_bytes()).hexdigest()


def test_money_is_exact_after_landing(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "d.csv", csv_text([row("deals", amount="999999999999.99")], contract_columns("deals")))
    land(inbox, settings)
    assert query(settings, "SELECT amount FROM raw.deals") == [(Decimal("999999999999.99"),)]


# ------------------------------------------------------------------ kill -9 inside landing


def cosell_land(settings, inbox, crash_at=None):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    env.update(COSELL_HOME=str(settings.home), COSELL_WAREHOUSE=str(settings.warehouse), COSELL_DUCKDB_THREADS="2")
    if crash_at:
        env["COSELL_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "cosell.cli", "land", "--inbox", str(inbox)], env=env,
                          capture_output=True, text=True, timeout=300)


def raw_state(settings) -> dict:
    """Every raw table, without the load number and time (a killed run's rerun is another load)."""
    tables = {
        "deals": "SELECT * EXCLUDE (_load_id) FROM raw.deals",
        "partners": "SELECT * EXCLUDE (_load_id) FROM raw.partners",
        "rejects": "SELECT * EXCLUDE (load_id) FROM raw.rejects",
        "audit": "SELECT * EXCLUDE (load_id, loaded_at, quarantine_path) FROM raw.load_audit",
    }
    return {name: sorted(query(settings, sql), key=repr) for name, sql in tables.items()}


@pytest.mark.parametrize("point", ["land:batch-committed", "land:quarantined"])
def test_landing_killed_inside_then_rerun_equals_an_undisturbed_landing(tmp_path, point):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "a.csv", csv_text([row("deals"), row("deals", deal_id="D2", stage="NOPE")]))
    write(inbox, "partners", "2026-03-01", "p.csv", csv_text([row("partners")]))
    write(inbox, "deals", "2026-03-02", "b.csv", csv_text([row("deals", deal_id="D3")]))
    write(inbox, "deals", "2026-03-02", "copy.csv", (inbox / "deals" / "2026-03-01" / "a.csv").read_bytes())
    write(inbox, "deals", "2026-03-02", "bad.csv", "deal_id\nD9\n")
    results = {}
    for name, crash in (("killed", point), ("clean", None)):
        home = tmp_path / name
        s = Settings.from_env({"COSELL_HOME": str(home), "COSELL_DUCKDB_THREADS": "2"})
        if crash:
            assert cosell_land(s, inbox, crash).returncode == -9
        done = cosell_land(s, inbox)
        assert done.returncode == 0, done.stderr
        assert "nothing new" in cosell_land(s, inbox).stdout
        results[name] = raw_state(s)
        assert len(list((home / "quarantine").rglob("*.csv"))) == 1
        assert not (home / "tmp" / "landing").exists()
    assert results["killed"] == results["clean"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (the test runs as root, as CI does); unmounted afterwards."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_disk_full_while_landing_is_one_line_and_records_nothing(tmp_path, tiny_disk):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "big.csv", csv_text([row("deals", deal_id=f"D{i}", customer_name="n" * 300) for i in range(8000)]))
    write(inbox, "deals", "2026-03-01", "bad.csv", "deal_id\n" + "D\n" * 400_000)  # quarantined: its copy needs room too
    s = Settings.from_env({"COSELL_HOME": str(tiny_disk), "COSELL_WAREHOUSE": str(tmp_path / "wh.duckdb")})
    done = cosell_land(s, inbox)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "No space left on device" in done.stderr and "nothing recorded" in done.stderr
    assert query(s, "SELECT count(*) FROM raw.load_audit") == [(0,)]
    assert [p for p in tiny_disk.rglob("*") if p.is_file()] == []
    roomy = Settings.from_env({"COSELL_HOME": str(tmp_path / "home"), "COSELL_WAREHOUSE": str(tmp_path / "wh.duckdb")})
    summary = land(inbox, roomy)
    assert summary.files == {"LANDED": 1, "DUPLICATE": 0, "QUARANTINED": 1} and summary.rows_landed == 8000


def test_disk_full_in_the_warehouse_is_one_line_and_the_next_run_lands(tmp_path, tiny_disk):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", "big.csv", csv_text([row("deals", deal_id=f"D{i}", customer_name=f"n{i}" * 150) for i in range(20000)]))
    full = Settings.from_env({"COSELL_HOME": str(tmp_path / "home"), "COSELL_WAREHOUSE": str(tiny_disk / "wh.duckdb")})
    done = cosell_land(full, inbox)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "cannot land deals/2026-03-01/big.csv now" in done.stderr or "No space left" in done.stderr
    roomy = Settings.from_env({"COSELL_HOME": str(tmp_path / "home"), "COSELL_WAREHOUSE": str(tmp_path / "wh.duckdb")})
    assert land(inbox, roomy).rows_landed == 20000


def test_hidden_files_in_a_date_folder_are_deliveries_in_progress_and_not_landed(tmp_path, settings):
    inbox = tmp_path / "inbox"
    write(inbox, "deals", "2026-03-01", ".deals.csv.partial", csv_text([row("deals", deal_id="HALF")]))
    write(inbox, "deals", "2026-03-01", ".upload.csv", csv_text([row("deals", deal_id="HALF2")]))
    write(inbox, "deals", "2026-03-01", "deals.csv", csv_text([row("deals")]))
    summary = land(inbox, settings)
    assert summary.files["LANDED"] == 1 and summary.files["QUARANTINED"] == 0
    assert query(settings, "SELECT deal_id FROM raw.deals") == [("D1",)]
    os.replace(inbox / "deals" / "2026-03-01" / ".upload.csv", inbox / "deals" / "2026-03-01" / "upload.csv")
    land(inbox, settings)
    assert query(settings, "SELECT deal_id FROM raw.deals ORDER BY 1") == [("D1",), ("HALF2",)]
