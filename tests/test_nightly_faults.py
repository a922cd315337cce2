"""`cosell run` killed (kill -9, in a subprocess) inside landing and at the step boundaries, then rerun:
every table and published file equals an undisturbed run's, and nothing temporary is left behind.
Its gates' own process (cosell.gates.process) killed, or left behind by a killed run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from processes import MARKER, cmdline_of, marked, new_marker

pytestmark = pytest.mark.slow

# Where the nightly run is killed: inside landing, after the build but before the ledger records it,
# after the marts gate is recorded, between publish and the report.
KILL_POINTS = ["land:batch-committed", "run:build", "run:marts_gate-recorded", "run:publish"]
# Columns that number loads or stamp wall-clock time: a killed landing's rerun is another load.
VOLATILE = ("load_id", "_load_id", "_load_id_watermark", "loaded_at", "quarantine_path", "started_at", "landed_at",
            "raw_gate_at", "built_at", "marts_gate_at", "published_at", "mtime_ns", "generated_at")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nightly_faults") / "inbox"
    done = subprocess.run([sys.executable, "-m", "cosell.cli", "generate", "--out", str(root), "--deals", "400",
                           "--partners", "30", "--days", "20"], capture_output=True, text=True, env=_env(root.parent / "gen"))
    assert done.returncode == 0, done.stderr
    return root


def _env(home: Path, crash_at: str | None = None, marker: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSELL_")}
    env.update(COSELL_HOME=str(home), COSELL_DUCKDB_THREADS="2")
    if crash_at:
        env["COSELL_CRASH_AT"] = crash_at
    if marker:
        env[MARKER] = marker  # every process the run starts carries it (tests/processes.py)
    return env


def cosell_run(inbox: Path, home: Path, crash_at: str | None = None,
               marker: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cosell.cli", "run", "--inbox", str(inbox)], capture_output=True,
                          text=True, env=_env(home, crash_at, marker), timeout=900)


def rows(con, relation: str) -> list[str]:
    """A relation's rows without its volatile columns, sorted; a load number inside a text says N."""
    columns = [c for (c, *_) in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall() if c not in VOLATILE]
    listed = ", ".join(f'"{c}"' for c in columns)
    return sorted(re.sub(r"\bload \d+", "load N", repr(r)) for r in con.execute(f"SELECT {listed} FROM {relation}").fetchall())


def tables(path: Path) -> dict[str, list]:
    """Every table of a DuckDB file but the ledger's bookkeeping (schema ops: one row per load, wall-clock times)."""
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal "
                            "AND schema_name <> 'ops' ORDER BY 1, 2").fetchall()
        return {f"{schema}.{name}": rows(con, f'"{schema}"."{name}"') for schema, name in found}


def parquet(folder: Path) -> dict[str, list]:
    with duckdb.connect() as con:
        return {p.name: rows(con, f"read_parquet('{p}')") for p in sorted(folder.glob("*.parquet"))}


def state(home: Path) -> dict:
    published = home / "published"
    return {
        "warehouse": tables(home / "warehouse.duckdb"),
        "published": tables(published / "warehouse.duckdb"),
        "parquet": parquet(published / "parquet"),
        "quarantine": sorted(str(p.relative_to(home / "quarantine").parts[1:]) for p in (home / "quarantine").rglob("*")
                             if p.is_file()) if (home / "quarantine").exists() else [],
        "reports": sorted(p.name for p in (home / "reports").iterdir()),
    }


@pytest.fixture(scope="module")
def undisturbed(inbox, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("undisturbed")
    done = cosell_run(inbox, home)
    assert done.returncode == 0, done.stderr
    return state(home)


def test_killed_nightly_runs_then_a_rerun_equal_an_undisturbed_run(inbox, undisturbed, tmp_path):
    """One home, a run killed at each point in turn, then a run to the end.

    Each killed run starts from what the run before it left: it redoes the interrupted step (the
    ledger keeps a step's loads pending until the step is recorded) and is killed at the next point, so
    every point is reached with the state an undisturbed run has there, plus a kill's leftovers.
    """
    home = tmp_path / "home"
    for point in KILL_POINTS:
        killed = cosell_run(inbox, home, crash_at=point)
        assert killed.returncode == -9, (point, killed.stderr[-2000:])
    again = cosell_run(inbox, home)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "nothing new" in cosell_run(inbox, home).stdout
    leftovers = [p for p in home.rglob(".*") if ".tmp" in p.name] + list((home / "tmp" / "landing").glob("*"))
    assert leftovers == []
    assert state(home) == undisturbed


def test_the_run_never_imports_great_expectations_itself(inbox, tmp_path):
    """The gates run in their own process, which imports Great Expectations while the run lands."""
    script = tmp_path / "run.py"  # a script file: pyspark's doctest guard stops a `python -c` that imports GX
    script.write_text("import sys\nfrom cosell import cli\ncode = cli.main(['run', '--inbox', sys.argv[1]])\n"
                      "print('imported' if 'great_expectations' in sys.modules else 'not imported', code)\n")
    home = tmp_path / "home"
    done = subprocess.run([sys.executable, str(script), str(inbox)], capture_output=True, text=True, env=_env(home),
                          timeout=900)
    assert done.stdout.splitlines()[-1] == "not imported 0", done.stderr[-2000:]
    assert "raw gate passed" in done.stdout and "marts gate passed" in done.stdout
    for stage in ("raw", "marts"):
        assert (home / "reports" / "data_docs" / stage / "gate_result.json").is_file()


@pytest.mark.parametrize("point", ["gates:imported", "gates:check"])  # between two gates; in the middle of one
def test_a_killed_gate_process_stops_the_run_in_one_line_and_a_rerun_equals_an_undisturbed_run(
        inbox, undisturbed, tmp_path, point):
    home = tmp_path / "home"
    marker = new_marker()
    killed = cosell_run(inbox, home, crash_at=point, marker=marker)
    assert killed.returncode == 1, killed.stderr[-2000:]
    assert killed.stderr.strip().splitlines()[-1] == (
        "cosell: error: nightly run stopped at raw gate (nothing published): "
        "the raw gate's process ended before it answered (killed by signal 9)")
    assert not (home / "published").exists()
    assert _started_by(marker, "dbt") == []  # the dbt started beside the gate was ended with the run
    again = cosell_run(inbox, home)
    assert again.returncode == 0, again.stderr[-2000:]
    assert state(home) == undisturbed


def _started_by(marker: str, command: str) -> list[int]:
    """Live processes of a run started with `marker` (tests/processes.py) whose command line holds `command`."""
    return [pid for pid in marked(marker) if command in cmdline_of(pid)]


def test_the_gate_process_dies_with_a_run_killed_in_the_middle_of_a_gate(inbox, tmp_path):
    home = tmp_path / "home"
    marker = new_marker()
    run = subprocess.Popen([sys.executable, "-m", "cosell.cli", "run", "--inbox", str(inbox)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(home, marker=marker))
    try:
        gates: list[int] = []
        started = home / "reports" / "data_docs" / "raw"  # the raw gate makes its report folder first
        for _ in range(9000):
            gates = gates or _started_by(marker, "cosell.gates.process")
            if started.exists() or run.poll() is not None:
                break
            time.sleep(0.02)
        assert gates, "cosell run started no gate process"
        assert started.exists() and run.poll() is None
        run.kill()
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
    for _ in range(250):
        if not _started_by(marker, "cosell.gates.process"):
            break
        time.sleep(0.02)
    assert _started_by(marker, "cosell.gates.process") == []
    assert not (started / "gate_result.json").exists()  # it did not go on with the gate


def test_an_os_error_in_the_gate_process_stops_the_run_in_one_line(inbox, tmp_path):
    """Raised in the run as in-process: the command prints the cause and the path, no traceback."""
    home = tmp_path / "home"
    (home / "reports").mkdir(parents=True)
    (home / "reports" / "data_docs").write_text("a file where the gates write their reports\n")
    done = cosell_run(inbox, home)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("cosell: error: ")
    assert str(home / "reports" / "data_docs") in done.stderr.strip().splitlines()[-1]
    assert not (home / "published").exists()
