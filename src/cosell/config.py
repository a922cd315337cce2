"""Settings: paths, DuckDB resources and gate thresholds, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
PLANS_DIR = PROJECT_ROOT / "payouts" / "plans"


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse: Path
    published: Path
    duckdb_threads: int
    duckdb_memory_limit: str
    max_reject_rate: float
    delivery_calendar: Path | None = None  # YAML of the feeds expected per business date (cosell.delivery)

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
        return cls(
            home=home,
            warehouse=warehouse,
            published=published,
            duckdb_threads=int(env.get("COSELL_DUCKDB_THREADS") or os.cpu_count() or 2),
            duckdb_memory_limit=env.get("COSELL_DUCKDB_MEMORY_LIMIT") or "4GB",
            max_reject_rate=float(env.get("COSELL_MAX_REJECT_RATE") or 0.01),
            delivery_calendar=Path(env["COSELL_DELIVERY_CALENDAR"]).resolve() if env.get("COSELL_DELIVERY_CALENDAR") else None,
        )
