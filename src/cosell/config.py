"""Settings: paths, DuckDB resources and gate thresholds, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cosell.errors import CosellError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
PLANS_DIR = PROJECT_ROOT / "payouts" / "plans"
AGGREGATED_CONFIG = PROJECT_ROOT / "config" / "aggregated_copy.yml"


# The environment variables Settings reads, with what each sets (`cosell --help` lists them).
ENVIRONMENT = {
    "COSELL_HOME": "working folder: warehouse, quarantine, reports, payouts (default: ./work in the project)",
    "COSELL_WAREHOUSE": "the DuckDB warehouse file (default: $COSELL_HOME/warehouse.duckdb)",
    "COSELL_PUBLISHED": "the published copy BI reads (default: $COSELL_HOME/published/warehouse.duckdb)",
    "COSELL_AGGREGATED": "the aggregated copy for audiences outside channel management "
                         "(default: $COSELL_HOME/aggregated/warehouse.duckdb)",
    "COSELL_DUCKDB_THREADS": "DuckDB threads (default: the number of CPUs)",
    "COSELL_DUCKDB_MEMORY_LIMIT": "DuckDB memory limit (default: 4GB)",
    "COSELL_MAX_REJECT_RATE": "share of rejected rows per feed the raw gate allows (default: 0.01)",
    "COSELL_DELIVERY_CALENDAR": "YAML of the feeds expected on each business date (default: fx_rates on weekdays, the others daily)",
    "COSELL_DBT_LOG_LEVEL": "what dbt writes to its dbt.log: debug (every SQL statement), info, warn, error or none "
                            "(default: info)",
}
DBT_LOG_LEVELS = ("debug", "info", "warn", "error", "none")


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse: Path
    published: Path
    duckdb_threads: int
    duckdb_memory_limit: str
    max_reject_rate: float
    aggregated: Path | None = None  # the aggregated copy; None: <home>/aggregated/warehouse.duckdb
    delivery_calendar: Path | None = None  # YAML of the feeds expected per business date (cosell.orchestration.delivery)
    dbt_log_level: str = "info"  # dbt's file log; debug logs every statement and costs a small build a fifth more

    @property
    def aggregated_copy(self) -> Path:
        return self.aggregated or self.home / "aggregated" / "warehouse.duckdb"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def temp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        home = Path(env.get("COSELL_HOME") or PROJECT_ROOT / "work").resolve()
        warehouse = Path(env.get("COSELL_WAREHOUSE") or home / "warehouse.duckdb").resolve()
        published = Path(env.get("COSELL_PUBLISHED") or home / "published" / "warehouse.duckdb").resolve()
        dbt_log_level = (env.get("COSELL_DBT_LOG_LEVEL") or cls.dbt_log_level).lower()
        if dbt_log_level not in DBT_LOG_LEVELS:
            raise CosellError(f"COSELL_DBT_LOG_LEVEL={env['COSELL_DBT_LOG_LEVEL']!r}: expected one of "
                              f"{', '.join(DBT_LOG_LEVELS)}")
        return cls(
            home=home,
            warehouse=warehouse,
            published=published,
            duckdb_threads=int(env.get("COSELL_DUCKDB_THREADS") or os.cpu_count() or 2),
            duckdb_memory_limit=env.get("COSELL_DUCKDB_MEMORY_LIMIT") or "4GB",
            max_reject_rate=float(env.get("COSELL_MAX_REJECT_RATE") or 0.01),
            aggregated=Path(env["COSELL_AGGREGATED"]).resolve() if env.get("COSELL_AGGREGATED") else None,
            delivery_calendar=Path(env["COSELL_DELIVERY_CALENDAR"]).resolve() if env.get("COSELL_DELIVERY_CALENDAR") else None,
            dbt_log_level=dbt_log_level,
        )


def login_name() -> str:
    """Who runs the command, for the records of a human decision (a payout approval, a gate release)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment
        return "unknown"
