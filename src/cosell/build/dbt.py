"""`cosell build`: runs `dbt build` (models, data tests, unit tests) on the warehouse, or on Spark, in a subprocess."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from cosell import TELEMETRY_OFF
from cosell.config import DBT_PROJECT_DIR, Settings
from cosell.errors import CosellError
from cosell.landing.row_checks import ident, literal

log = logging.getLogger(__name__)

# The socket a held dbt process waits on for its go, which brings it the dbt lock (cosell.build.wait_for_go).
GO_FD = "COSELL_DBT_GO_FD"
GO = b"g"

# dbt statuses that make a build fail, by node kind.
_FAILED = {"error", "fail", "runtime error"}

ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class BuildSummary:
    models: int
    tests_passed: int
    unit_tests_passed: int
    warnings: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    full_refresh: bool = False
    marts_parquet: Path | None = None  # a Spark build: where it wrote the marts

    def describe(self) -> str:
        scope = " --full-refresh" if self.full_refresh else ""
        scope += " on Spark" if self.marts_parquet else ""
        unit = f" and {self.unit_tests_passed} unit tests" if self.unit_tests_passed else ""
        text = (
            f"dbt build{scope}: {self.models} models built, {self.tests_passed} data tests{unit} passed "
            f"in {self.seconds:.1f}s"
        )
        if self.warnings:
            text += f"; {len(self.warnings)} warning(s): " + ", ".join(self.warnings)
        if self.marts_parquet:
            text += f"; marts as Parquet in {self.marts_parquet}"
        return text


def dbt_paths(settings: Settings, engine: str = "duckdb") -> tuple[Path, Path]:
    """Where dbt writes its target (compiled SQL, run_results.json) and logs: under COSELL_HOME."""
    base = settings.home / "dbt" if engine == "duckdb" else settings.home / engine / "dbt"
    return base / "target", base / "logs"


@dataclass(frozen=True)
class SparkPaths:
    """Where a Spark build reads and writes, under COSELL_HOME/spark."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"  # the raw layer as Parquet (cosell.build.raw_export)

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"  # Spark's tables: <schema>.db/<model>/part-*.parquet

    @property
    def failures(self) -> Path:
        return self.root / "failures"  # first rows of each failing test, <test>/part-*.parquet

    @property
    def marts(self) -> Path:
        return self.root / "parquet"  # the marts, one <mart>.parquet each, as the published copy


def spark_paths(settings: Settings) -> SparkPaths:
    return SparkPaths(settings.home / "spark")


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment the dbt profile reads (dbt/profiles.yml), plus telemetry off."""
    env = dict(os.environ)
    spark = spark_paths(settings)
    env.update(
        {
            "COSELL_HOME": str(settings.home),
            "COSELL_WAREHOUSE": str(settings.warehouse),
            "COSELL_DUCKDB_THREADS": str(settings.duckdb_threads),
            "COSELL_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
            "COSELL_RAW_PARQUET": str(spark.raw),
            "COSELL_SPARK_WAREHOUSE": str(spark.warehouse),
            "COSELL_SPARK_FAILURES": str(spark.failures),
            **TELEMETRY_OFF,
            "PYTHONUNBUFFERED": "1",  # dbt's lines reach the caller (a task log) as dbt prints them
        }
    )
    return env


def _dbt_command() -> list[str]:
    script = Path(sys.executable).with_name("dbt")
    if script.exists():
        return [str(script)]
    found = shutil.which("dbt")
    if found:
        return [found]
    return [sys.executable, "-m", "dbt.cli.main"]


def _node_name(unique_id: str) -> str:
    # model.cosell.fct_cosell_deals -> fct_cosell_deals; unit_test.cosell.model.test -> model.test
    parts = unique_id.split(".")
    return ".".join(parts[2:]) if len(parts) > 2 else unique_id


def _headline(text: str | None) -> str:
    """The first two non-empty lines of a dbt message, as one: the error kind and its cause."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return ": ".join(lines[:2])


def _contract_mismatches(text: str | None) -> str:
    """The columns an enforced model contract rejected, from the table in dbt's message ("" if none)."""
    found = []
    for line in (text or "").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.strip().startswith("|") or len(cells) != 4 or cells[0] == "column_name" or not cells[0].strip("-"):
            continue
        column, sql_type, contract_type, reason = cells
        found.append(f"{column} {reason} (SQL {sql_type or 'none'}, contract {contract_type or 'none'})")
    return ", ".join(found)


def _failing_rows(settings: Settings, result: dict, engine: str = "duckdb", limit: int = 3) -> str:
    """The first rows a failing test's query returns, as `col=value` text; "" when unavailable.

    Tests do not store their failures (a table or view per test costs every build a DDL
    statement). On DuckDB the compiled query in run_results.json is run again on the
    warehouse; on Spark (whose session is gone) the on-run-end hook kept the first rows as
    Parquet under COSELL_HOME/spark/failures/<test name>/.
    """
    compiled_sql = result.get("compiled_code")
    if not compiled_sql or not compiled_sql.strip():
        return ""
    from cosell.db import connect

    try:
        if engine == "spark":
            folder = spark_paths(settings).failures / result["unique_id"].split(".")[2]
            con = duckdb.connect()
            query = f"select * from read_parquet({literal(str(folder / '*.parquet'))}) limit {limit}"
        else:
            con = connect(settings, read_only=True)
            query = f"select * from ({compiled_sql.strip().rstrip(';')}) limit {limit}"
        try:
            cursor = con.execute(query)
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        finally:
            con.close()
    except Exception:  # noqa: BLE001 - the sample only decorates the message
        return ""
    return " | ".join(", ".join(f"{c}={v}" for c, v in zip(columns, row)) for row in rows)


def _failure_message(results: list[dict], settings: Settings | None = None, engine: str = "duckdb") -> str:
    failed = []
    for result in results:
        if result.get("status") not in _FAILED:
            continue
        kind = result["unique_id"].split(".")[0]
        name = _node_name(result["unique_id"])
        if kind == "test" and result.get("status") == "fail":
            sample = _failing_rows(settings, result, engine) if settings else ""
            rows = f"{result.get('failures') or 0} rows" + (f": {sample}" if sample else "")
            failed.append(f"test {name} failed ({rows})")
        elif kind == "unit_test":
            failed.append(f"unit test {name} failed")
        else:
            detail = _headline(result.get("message"))[:300]
            mismatches = _contract_mismatches(result.get("message"))
            if mismatches:
                detail = f"{detail} {mismatches[:300]}"
            failed.append(f"{kind} {name} error: {detail}" if detail else f"{kind} {name} error")
    if not failed:
        return ""
    shown = failed[:6]
    more = f" and {len(failed) - len(shown)} more" if len(failed) > len(shown) else ""
    return "; ".join(shown) + more


def _output_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for number, line in enumerate(lines):
        lowered = line.lower()
        if ("error" in lowered and "compilation" in lowered) or "parsing error" in lowered or "runtime error" in lowered:
            return _headline("\n".join(lines[number : number + 2]))[:300]
    for line in reversed(lines):
        if "error" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def dbt_lock_path(settings: Settings) -> Path:
    """The lock a dbt process on the warehouse holds while it runs (its target and logs are shared too)."""
    return settings.home / "dbt" / "dbt.lock"


@contextmanager
def _dbt_lock(settings: Settings):
    """Hold the warehouse's dbt lock, or fail at once naming the dbt process still running.

    The lock is an flock on an open file; the dbt subprocess inherits the descriptor, so the
    lock lives as long as the caller or its dbt: a task killed while its dbt runs on (a worker
    lost, a timeout) keeps the lock until that dbt ends, and a retry meanwhile fails here
    instead of starting a second dbt process on the warehouse.
    """
    path = dbt_lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise CosellError(
                f"a dbt process is still running on the warehouse ({holder}; lock {path}): "
                "not starting a second one; try again when it has ended"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}".encode(), 0)
        yield fd
    finally:
        os.close(fd)  # closing the last descriptor of the file releases the lock


class _DbtProcess:
    """One dbt command on the project, started: target and logs under COSELL_HOME, the warehouse's dbt lock held.

    One dbt process at a time per COSELL_HOME (`_dbt_lock`); the process inherits the lock. With
    `hold`, dbt waits before it opens the warehouse until `go()` (cosell.build.wait_for_go): it
    starts, imports and parses the project meanwhile, while the lock stays ours; `go()` hands dbt the
    lock with the go. `wait()` reads what dbt prints to its end and releases our hold of the lock;
    `stop()` ends a process that was held and never told to go.
    """

    def __init__(self, settings: Settings, args: tuple[str, ...], engine: str = "duckdb", hold: bool = False):
        self.target_path, self.log_path = dbt_paths(settings, engine)
        self.target_path.mkdir(parents=True, exist_ok=True)
        self.log_path.mkdir(parents=True, exist_ok=True)
        settings.temp_dir.mkdir(parents=True, exist_ok=True)
        self.command = _dbt_command() + [
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(self.target_path),
            "--log-path",
            str(self.log_path),
            "--log-level-file",
            settings.dbt_log_level,
            "--no-use-colors",
            *(["--target", engine] if engine != "duckdb" else []),
        ]
        self._go: socket.socket | None = None
        self._stack = ExitStack()
        self._lock = self._stack.enter_context(_dbt_lock(settings))
        try:
            if args and args[0] == "build":
                (self.target_path / "run_results.json").unlink(missing_ok=True)
            env = dbt_env(settings)
            if hold:  # dbt gets the lock with its go: a held dbt that outlives us holds nothing
                self._go, theirs = socket.socketpair()
                env[GO_FD] = str(theirs.fileno())
                fds = (theirs.fileno(),)
            else:
                fds = (self._lock,)
            self.started = time.monotonic()
            try:
                self.process = subprocess.Popen(
                    self.command, cwd=str(DBT_PROJECT_DIR), env=env, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True, pass_fds=fds,
                )
            finally:
                if hold:
                    theirs.close()  # dbt holds the only other end: it sees ours close when we close it or die
        except BaseException:
            self._close_go()
            self._stack.close()
            raise

    def _close_go(self) -> None:
        if self._go is not None:
            self._go.close()
            self._go = None

    def go(self) -> None:
        """Let a held dbt open the warehouse and run, handing it the dbt lock; the time from here is the command's."""
        try:
            socket.send_fds(self._go, [GO], [self._lock])
        except OSError:
            pass  # dbt ended before its go (a project it cannot parse): `wait()` reads why
        self._close_go()
        self.started = time.monotonic()

    def wait(self, on_line: Callable[[str], None] | None = None) -> tuple[subprocess.CompletedProcess, float]:
        """Read dbt's lines to its end, each to `on_line` as dbt prints it; returns (process, seconds)."""
        output = []
        try:
            for line in self.process.stdout:
                output.append(line)
                if on_line is not None:
                    on_line(line.rstrip("\n"))
            self.process.wait()
        except BaseException:  # the task is being stopped: stop its dbt too, never leave it running
            self._end()
            raise
        finally:
            self._close_go()
            self._stack.close()
        done = subprocess.CompletedProcess(self.command, self.process.returncode, stdout="".join(output), stderr="")
        return done, time.monotonic() - self.started

    def _end(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """End a held dbt that was never told to go (it has not opened the warehouse)."""
        if self._go is None:
            return
        self._close_go()
        try:
            self._end()
        finally:
            self.process.stdout.close()
            self._stack.close()


def _run_dbt(
    settings: Settings, *args: str, engine: str = "duckdb", on_line: Callable[[str], None] | None = None
) -> tuple[subprocess.CompletedProcess, float, Path, Path]:
    """One dbt command on the project (`_DbtProcess`), run to its end; returns (process, seconds, target, logs).

    `on_line` receives each line dbt prints as it prints it (a node started, passed, failed: the per-model progress).
    """
    started = _DbtProcess(settings, args, engine)
    done, seconds = started.wait(on_line)
    return done, seconds, started.target_path, started.log_path


# dbt's advice for production: unit tests check the SQL, not the night's data, so the
# nightly build leaves them out; CI and `cosell build --unit-tests` run them.
NIGHTLY_DBT_FLAGS = ("--exclude-resource-type", "unit_test")


class DataTestsFailed(CosellError):
    """dbt build ran and tests failed (data or unit tests): the data or the SQL is at fault, a retry rebuilds the same."""


def _require_warehouse(settings: Settings) -> None:
    """A build needs a landed warehouse (dbt would create an empty one)."""
    if not settings.warehouse.exists():
        raise CosellError(f"warehouse {settings.warehouse} does not exist: run `cosell land` first")


def build(
    settings: Settings, full_refresh: bool = False, unit_tests: bool = False, engine: str = "duckdb",
) -> BuildSummary:
    """Run `dbt build` on the warehouse; raise CosellError naming the failing models and tests.

    full_refresh rebuilds the incremental models from the whole raw layer: needed after a
    change of the eligibility vars or of an incremental model's SQL.
    unit_tests also runs the dbt unit tests, each before the model it tests.
    engine "spark" builds every model on a local SparkSession instead (dbt target `spark`)
    from a Parquet export of the landed raw layer, always in full, and writes the marts as
    Parquet under COSELL_HOME/spark/parquet; the warehouse file is only read.
    Each line dbt prints goes to this module's logger as dbt prints it (a node started, passed,
    failed), then a line per model (`model_lines`): the nightly DAG's task log shows them.
    Failing data tests raise DataTestsFailed, any other failure CosellError.
    """
    if engine not in ENGINES:
        raise CosellError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    _require_warehouse(settings)
    if engine == "spark":
        _prepare_spark(settings)
    options = (["--full-refresh"] if full_refresh else []) + ([] if unit_tests else list(NIGHTLY_DBT_FLAGS))
    return _build_summary(settings, _DbtProcess(settings, ("build", *options), engine), full_refresh, engine)


class EarlyBuild:
    """The nightly `dbt build` (as `build(settings)` runs it), started before the raw gate has passed.

    dbt starts, imports and parses the project on the other core while the gate runs, and waits
    before it opens the warehouse (cosell.build.wait_for_go). `build()` lets it run once the gate
    passed and its connections are closed; `stop()` ends it untouched otherwise (a no-op after build).
    A dbt process still running on the warehouse makes the constructor raise, as `build` would.
    """

    def __init__(self, settings: Settings):
        self._process = _DbtProcess(settings, ("build", *NIGHTLY_DBT_FLAGS), hold=True)

    def build(self, settings: Settings) -> BuildSummary:
        if not settings.warehouse.exists():
            self.stop()
        _require_warehouse(settings)
        self._process.go()
        return _build_summary(settings, self._process, False, "duckdb")

    def stop(self) -> None:
        self._process.stop()


def _build_summary(settings: Settings, started: _DbtProcess, full_refresh: bool, engine: str) -> BuildSummary:
    """Wait for a started `dbt build`; its summary, or CosellError naming the failing models and tests."""
    process, seconds = started.wait(on_line=log.info)
    target_path, log_path = started.target_path, started.log_path
    run_results = target_path / "run_results.json"
    results: list[dict] = []
    if run_results.exists():
        results = json.loads(run_results.read_text()).get("results", [])
    for line in model_lines(results, target_path / "manifest.json"):
        log.info("%s", line)
    if process.returncode != 0:
        reason = _failure_message(results, settings, engine) or _output_error(process.stdout + "\n" + process.stderr)
        reason = " ".join(reason.split())  # one line, whatever the failing rows hold
        kind = DataTestsFailed if any(r.get("status") == "fail" for r in results) else CosellError
        raise kind(f"dbt build failed: {reason} (log: {log_path / 'dbt.log'})")

    def count(kind: str, statuses: set[str]) -> int:
        return sum(1 for r in results if r["unique_id"].startswith(kind + ".") and r.get("status") in statuses)

    if engine == "spark":
        _publish_spark_marts(settings)
    warnings = tuple(
        f"{_node_name(r['unique_id'])} ({r.get('failures') or 0} rows)" for r in results if r.get("status") == "warn"
    )
    return BuildSummary(
        models=count("model", {"success"}),
        tests_passed=count("test", {"pass"}),
        unit_tests_passed=count("unit_test", {"pass"}),
        warnings=warnings,
        seconds=seconds,
        full_refresh=full_refresh,
        marts_parquet=spark_paths(settings).marts if engine == "spark" else None,
    )


def model_lines(results: list[dict], manifest_path: Path) -> list[str]:
    """One line per model of a build: its status and time, and how its own tests (and tests of several models) ended.

    `model fct_cosell_deals: success in 1.2s; tests 5 pass, 1 fail (relationships_...)`; the
    tests are attached to models by dbt's manifest of the build (target/manifest.json).
    """
    try:
        nodes = json.loads(manifest_path.read_text(encoding="utf-8")).get("nodes", {})
    except (OSError, ValueError):
        nodes = {}
    tests: dict[str, list[dict]] = {}
    for result in results:
        if result["unique_id"].split(".")[0] in ("test", "unit_test"):
            node = nodes.get(result["unique_id"], {})
            parent = node.get("attached_node") or next(
                (n for n in node.get("depends_on", {}).get("nodes", []) if n.startswith("model.")), "")
            tests.setdefault(parent, []).append(result)
    lines = []
    for result in results:
        if not result["unique_id"].startswith("model."):
            continue
        line = f"model {_node_name(result['unique_id'])}: {result.get('status')} in {result.get('execution_time') or 0:.1f}s"
        own = tests.pop(result["unique_id"], [])
        if own:
            counts: dict[str, int] = {}
            for test in own:
                counts[test.get("status")] = counts.get(test.get("status"), 0) + 1
            failing = [_node_name(t["unique_id"]) for t in own if t.get("status") in _FAILED | {"warn"}]
            line += "; tests " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            line += f" ({', '.join(failing)})" if failing else ""
        lines.append(line)
    return lines


def _prepare_spark(settings: Settings) -> None:
    """Export the landed raw layer as Parquet; clear what the last Spark build left (tables, failing rows)."""
    from cosell.build.raw_export import export_raw

    try:
        import dbt.adapters.spark  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        raise CosellError("the Spark engine needs the `spark` extra: pip install 'cosell-warehouse[spark]'") from None
    paths = spark_paths(settings)
    export_raw(settings, paths.raw)
    shutil.rmtree(paths.warehouse, ignore_errors=True)
    shutil.rmtree(paths.failures, ignore_errors=True)


def _publish_spark_marts(settings: Settings) -> None:
    """Each mart Spark built, as one `<mart>.parquet` (the published copy's shape), swapped in as a whole folder.

    Spark writes its timestamps as UTC instants; they are written back as the naive UTC
    TIMESTAMPs of the DuckDB marts.
    """
    paths = spark_paths(settings)
    tables = sorted(p for p in (paths.warehouse / "marts.db").iterdir() if p.is_dir())
    staging = paths.marts.with_name(f".{paths.marts.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for table in tables:
            source = f"read_parquet({literal(str(table / '*.parquet'))})"
            columns = ", ".join(
                f"CAST({ident(name)} AS TIMESTAMP) AS {ident(name)}" if type_ == "TIMESTAMP WITH TIME ZONE" else ident(name)
                for name, type_, *_ in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            )
            con.execute(
                f"COPY (SELECT {columns} FROM {source}) "
                f"TO {literal(str(staging / (table.name + '.parquet')))} (FORMAT parquet)"
            )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        con.close()
    old = paths.marts.with_name(f".{paths.marts.name}.{os.getpid()}.old")
    if paths.marts.exists():
        os.replace(paths.marts, old)
    os.replace(staging, paths.marts)
    shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class DocsSummary:
    path: Path
    seconds: float
    unchanged: bool = False  # the page already described this project and these relations: not generated again

    def describe(self) -> str:
        if self.unchanged:
            return f"dbt docs unchanged (same project, same relations and columns): {self.path}"
        return f"dbt docs written to {self.path} in {self.seconds:.1f}s"


# Where dbt keeps what is not the project's source: never part of what the docs page describes.
_NOT_PROJECT = {"target", "logs", "dbt_packages"}


def docs_inputs(settings: Settings) -> str:
    """sha256 of everything the docs page is made of: the project's files, the dbt and adapter versions,
    and the warehouse's relations with their columns, types and comments (dbt-duckdb's catalog has no
    row counts or other statistics, so the rows a night adds never change the page)."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for package in ("dbt-core", "dbt-duckdb"):
        digest.update(f"{package}=={version(package)}\n".encode())
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        relative = path.relative_to(DBT_PROJECT_DIR)
        if path.is_file() and relative.parts[0] not in _NOT_PROJECT:
            digest.update(f"{relative.as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    relations = _relations(settings) if settings.warehouse.exists() else []  # dbt creates a missing one
    digest.update(repr(relations).encode())
    return digest.hexdigest()


def _relations(settings: Settings) -> list[tuple]:
    """Every relation of the warehouse, its comment, and each column with its type and comment."""
    from cosell.db import connect

    con = connect(settings, read_only=True)
    try:
        return con.execute(
            "SELECT database_name, schema_name, table_name, 'table', comment FROM duckdb_tables() WHERE NOT internal "
            "UNION ALL SELECT database_name, schema_name, view_name, 'view', comment FROM duckdb_views() WHERE NOT internal "
            "UNION ALL SELECT database_name, schema_name, table_name, column_name || ' ' || data_type, comment "
            "FROM duckdb_columns() WHERE NOT internal ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def docs(settings: Settings) -> DocsSummary:
    """`dbt docs generate --static`: one self-contained page of models, columns, tests and lineage.

    The page is generated again only when what it is made of changed (`docs_inputs`, recorded
    beside the page): a night that only adds rows keeps the page and starts no dbt.
    """
    folder = settings.reports_dir / "dbt_docs"
    page_path, inputs_path = folder / "index.html", folder / "inputs.sha256"
    existed, inputs = settings.warehouse.exists(), docs_inputs(settings)
    if page_path.exists() and inputs_path.exists() and inputs_path.read_text(encoding="utf-8").strip() == inputs:
        return DocsSummary(page_path, 0.0, unchanged=True)
    process, seconds, target_path, log_path = _run_dbt(settings, "docs", "generate", "--static")
    page = target_path / "static_index.html"
    if process.returncode != 0 or not page.exists():
        reason = " ".join(_output_error(process.stdout + "\n" + process.stderr).split())
        raise CosellError(f"dbt docs generate failed: {reason} (log: {log_path / 'dbt.log'})")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".index.html.{os.getpid()}.tmp"
    shutil.copyfile(page, partial)
    os.replace(partial, page_path)
    if not existed:  # dbt created the warehouse: record the relations as it left them
        inputs = docs_inputs(settings)
    inputs_path.write_text(inputs + "\n", encoding="utf-8")
    return DocsSummary(page_path, seconds)
