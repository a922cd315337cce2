"""The published tables' grains: the marts' from their uniqueness tests in the dbt yml, the payout tables' declared here."""

from __future__ import annotations

from pathlib import Path

import yaml

from cosell.config import DBT_PROJECT_DIR

PAYOUT_GRAINS = {"lines": ["period", "line_id", "adjustment_set"], "approvals": ["period"],
                 "adjustment_sets": ["period", "adjustment_set"]}


def grains(models_dir: Path = DBT_PROJECT_DIR / "models" / "marts") -> dict[str, list[str]]:
    """mart -> the columns its uniqueness test names (unique_combination_of_columns, or a unique column)."""
    found: dict[str, list[str]] = {}
    for path in sorted(models_dir.glob("*.yml")):
        for model in (yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) or {}).get("models", []) or []:
            for test in model.get("data_tests", []) or []:
                if isinstance(test, dict) and "unique_combination_of_columns" in test:
                    spec = test["unique_combination_of_columns"]
                    found[model["name"]] = list((spec.get("arguments") or spec)["combination"])
            for column in model.get("columns", []) or []:
                tests = column.get("data_tests", []) or []
                if model["name"] not in found and "unique" in tests:
                    found[model["name"]] = [column["name"]]
    return found
