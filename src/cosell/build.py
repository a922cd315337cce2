"""`cosell build`: runs `dbt build` (models, data tests, unit tests) on the warehouse in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cosell.config import DBT_PROJECT_DIR, Settings
from cosell.errors import CosellError

# dbt statuses that make a build fail, by node kind.
_FAILED = {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class BuildSummary:
    models: int
    tests_passed: int
    unit_tests_passed: int
    warnings: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    full_refresh: bool = False

    def describe(self) -> str:
        scope = " --full-refresh" if self.full_refresh else ""
        unit = f" and {self.unit_tests_passed} unit tests" if self.unit_tests_passed else ""
        text = (
            f"dbt build{scope}: {self.models} models built, {self.tests_passed} data tests{unit} passed "
            f"in {self.seconds:.1f}s"
        )
        if self.warnings:
            text += f"; {len(self.warnings)} warning(s): " + ", ".join(self.warnings)
        return text


def dbt_paths(settings: Settings) -> tuple[Path, Path]:
    """Where dbt writes its target (compiled SQL, run_results.json) and logs: under COSELL_HOME."""
    base = settings.home / "dbt"
    return base / "target", base / "logs"


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment the dbt profile reads (dbt/profiles.yml), plus telemetry off."""
    env = dict(os.environ)
    env.update(
        {
            "COSELL_HOME": str(settings.home),
            "COSELL_WAREHOUSE": str(settings.warehouse),
            "COSELL_DUCKDB_THREADS": str(settings.duckdb_threads),
            "COSELL_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
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


def _failing_rows(settings: Settings, compiled_sql: str | None, limit: int = 3) -> str:
    """The first rows a failing test's query returns, as `col=value` text; "" when unavailable.

    Tests do not store their failures (a table or view per test costs every build a DDL
    statement); the compiled query in run_results.json is run again instead.
    """
    if not compiled_sql or not compiled_sql.strip():
        return ""
    from cosell.db import connect

    try:
        con = connect(settings, read_only=True)
        try:
            cursor = con.execute(f"select * from ({compiled_sql.strip().rstrip(';')}) limit {limit}")
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        finally:
            con.close()
    except Exception:  # noqa: BLE001 - the sample only decorates the message
        return ""
    return " | ".join(", ".join(f"{c}={v}" for c, v in zip(columns, row)) for row in rows)


def _failure_message(results: list[dict], settings: Settings | None = None) -> str:
    failed = []
    for result in results:
        if result.get("status") not in _FAILED:
            continue
        kind = result["unique_id"].split(".")[0]
        name = _node_name(result["unique_id"])
        if kind == "test" and result.get("status") == "fail":
            sample = _failing_rows(settings, result.get("compiled_code")) if settings else ""
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


def _run_dbt(settings: Settings, *args: str) -> tuple[subprocess.CompletedProcess, float, Path, Path]:
    """One dbt command on the project, with target and logs under COSELL_HOME; returns (process, seconds, target, logs)."""
    target_path, log_path = dbt_paths(settings)
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
    ]
    started = time.monotonic()
    process = subprocess.run(
        command, cwd=str(DBT_PROJECT_DIR), env=dbt_env(settings), capture_output=True, text=True, check=False
    )
    return process, time.monotonic() - started, target_path, log_path


# dbt's advice for production: unit tests check the SQL, not the night's data, so the
# nightly build leaves them out; CI and `cosell build --unit-tests` run them.
NIGHTLY_DBT_FLAGS = ("--exclude-resource-type", "unit_test")


def build(settings: Settings, full_refresh: bool = False, unit_tests: bool = False) -> BuildSummary:
    """Run `dbt build` on the warehouse; raise CosellError naming the failing models and tests.

    full_refresh rebuilds the incremental models from the whole raw layer: needed after a
    change of the eligibility vars or of an incremental model's SQL.
    unit_tests also runs the dbt unit tests, each before the model it tests.
    """
    if not settings.warehouse.exists():
        raise CosellError(f"warehouse {settings.warehouse} does not exist: run `cosell land` first")
    run_results = dbt_paths(settings)[0] / "run_results.json"
    run_results.unlink(missing_ok=True)
    options = (["--full-refresh"] if full_refresh else []) + ([] if unit_tests else list(NIGHTLY_DBT_FLAGS))
    process, seconds, target_path, log_path = _run_dbt(settings, "build", *options)

    results: list[dict] = []
    if run_results.exists():
        results = json.loads(run_results.read_text()).get("results", [])
    if process.returncode != 0:
        reason = _failure_message(results, settings) or _output_error(process.stdout + "\n" + process.stderr)
        reason = " ".join(reason.split())  # one line, whatever the failing rows hold
        raise CosellError(f"dbt build failed: {reason} (log: {log_path / 'dbt.log'})")

    def count(kind: str, statuses: set[str]) -> int:
        return sum(1 for r in results if r["unique_id"].startswith(kind + ".") and r.get("status") in statuses)

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
    )


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
