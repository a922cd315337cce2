"""`cosell build`: runs `dbt build` (models, data tests, unit tests) on the warehouse, or on Spark, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cosell.config import DBT_PROJECT_DIR, Settings
from cosell.errors import CosellError
from cosell.landing.row_checks import ident, literal

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
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "DBT_VERSION_CHECK": "False",
            "DO_NOT_TRACK": "1",
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


def _run_dbt(
    settings: Settings, *args: str, engine: str = "duckdb"
) -> tuple[subprocess.CompletedProcess, float, Path, Path]:
    """One dbt command on the project, with target and logs under COSELL_HOME; returns (process, seconds, target, logs)."""
    target_path, log_path = dbt_paths(settings, engine)
    target_path.mkdir(parents=True, exist_ok=True)
    log_path.mkdir(parents=True, exist_ok=True)
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    command = _dbt_command() + [
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--no-use-colors",
        *(["--target", engine] if engine != "duckdb" else []),
    ]
    started = time.monotonic()
    process = subprocess.run(
        command, cwd=str(DBT_PROJECT_DIR), env=dbt_env(settings), capture_output=True, text=True, check=False
    )
    return process, time.monotonic() - started, target_path, log_path


# dbt's advice for production: unit tests check the SQL, not the night's data, so the
# nightly build leaves them out; CI and `cosell build --unit-tests` run them.
NIGHTLY_DBT_FLAGS = ("--exclude-resource-type", "unit_test")


def build(
    settings: Settings, full_refresh: bool = False, unit_tests: bool = False, engine: str = "duckdb"
) -> BuildSummary:
    """Run `dbt build` on the warehouse; raise CosellError naming the failing models and tests.

    full_refresh rebuilds the incremental models from the whole raw layer: needed after a
    change of the eligibility vars or of an incremental model's SQL.
    unit_tests also runs the dbt unit tests, each before the model it tests.
    engine "spark" builds every model on a local SparkSession instead (dbt target `spark`)
    from a Parquet export of the landed raw layer, always in full, and writes the marts as
    Parquet under COSELL_HOME/spark/parquet; the warehouse file is only read.
    """
    if engine not in ENGINES:
        raise CosellError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if not settings.warehouse.exists():
        raise CosellError(f"warehouse {settings.warehouse} does not exist: run `cosell land` first")
    run_results = dbt_paths(settings, engine)[0] / "run_results.json"
    run_results.unlink(missing_ok=True)
    if engine == "spark":
        _prepare_spark(settings)
    options = (["--full-refresh"] if full_refresh else []) + ([] if unit_tests else list(NIGHTLY_DBT_FLAGS))
    process, seconds, target_path, log_path = _run_dbt(settings, "build", *options, engine=engine)

    results: list[dict] = []
    if run_results.exists():
        results = json.loads(run_results.read_text()).get("results", [])
    if process.returncode != 0:
        reason = _failure_message(results, settings, engine) or _output_error(process.stdout + "\n" + process.stderr)
        reason = " ".join(reason.split())  # one line, whatever the failing rows hold
        raise CosellError(f"dbt build failed: {reason} (log: {log_path / 'dbt.log'})")

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

    def describe(self) -> str:
        return f"dbt docs written to {self.path} in {self.seconds:.1f}s"


def docs(settings: Settings) -> DocsSummary:
    """`dbt docs generate --static`: one self-contained page of models, columns, tests and lineage."""
    process, seconds, target_path, log_path = _run_dbt(settings, "docs", "generate", "--static")
    page = target_path / "static_index.html"
    if process.returncode != 0 or not page.exists():
        reason = " ".join(_output_error(process.stdout + "\n" + process.stderr).split())
        raise CosellError(f"dbt docs generate failed: {reason} (log: {log_path / 'dbt.log'})")
    folder = settings.reports_dir / "dbt_docs"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".index.html.{os.getpid()}.tmp"
    shutil.copyfile(page, partial)
    os.replace(partial, folder / "index.html")
    return DocsSummary(folder / "index.html", seconds)
