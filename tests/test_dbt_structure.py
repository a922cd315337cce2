"""The dbt project's structure rules (dbt-project-evaluator's, checked here on the parsed manifest) and
the marts' enforced contracts.

`dbt parse` writes the manifest (seconds, no warehouse needed); each rule lists the nodes that break it.
A finding is allowed only when EXCEPTIONS names it and dbt/README.md gives its reason, so a new model
that breaks a rule fails here, and an exception that no longer applies must be removed. Enforcement
itself is proved on a copy of the project whose contract disagrees with its SQL: the build stops
before the table is written, naming the column.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cosell.build.dbt import _dbt_command, _failure_message, _run_dbt, dbt_env
from cosell.config import DBT_PROJECT_DIR, Settings
from cosell.db import connect
from cosell.landing.raw_schema import create_raw_schema

# (rule, node) -> where dbt/README.md ("Structure rules") gives the reason.
EXCEPTIONS = {
    ("source_fanout", "source.cosell.raw.deals"): "stg_raw__deal_versions",
    ("staging_dependent_on_staging", "model.cosell.stg_raw__partners"): "stg_raw__partners",
    ("missing_primary_key_test", "model.cosell.int_cohort_slices"): "int_cohort_slices",
}
PRIMARY_KEY_TESTS = ({"unique", "not_null"}, {"unique_combination_of_columns"})


def _settings(home: Path) -> Settings:
    return Settings.from_env({"COSELL_HOME": str(home), "COSELL_WAREHOUSE": str(home / "warehouse.duckdb")})


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    process, _, target, _ = _run_dbt(_settings(tmp_path_factory.mktemp("parse") / "home"), "parse")
    assert process.returncode == 0, process.stdout[-2000:]
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def _models(manifest: dict) -> dict[str, dict]:
    return {key: node for key, node in manifest["nodes"].items() if node["resource_type"] == "model"}


def _layer(node: dict) -> str:
    return Path(node["original_file_path"]).parts[1]  # models/<layer>/...


def _parents(node: dict) -> list[str]:
    return node["depends_on"]["nodes"]


def findings(manifest: dict) -> set[tuple[str, str]]:
    """(rule, node) for every node that breaks one of the structure rules."""
    models = _models(manifest)
    found: set[tuple[str, str]] = set()
    for key, node in models.items():
        parents = _parents(node)
        sources = [p for p in parents if p.startswith("source.")]
        # a model reads sources only (staging) or models only, never a source beside a model
        if sources and (_layer(node) != "staging" or len(sources) < len(parents)):
            found.add(("direct_join_to_source", key))
        if _layer(node) == "staging" and any(_layer(models[p]) == "staging" for p in parents if p in models):
            found.add(("staging_dependent_on_staging", key))
    for key in manifest["sources"]:
        children = [c for c in manifest["child_map"].get(key, []) if c in models]
        if not children:
            found.add(("unused_source", key))
        elif len(children) > 1:
            found.add(("source_fanout", key))
    tests: dict[str, dict[str | None, set[str]]] = {}
    for node in manifest["nodes"].values():
        metadata = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and metadata and node.get("attached_node"):
            columns = tests.setdefault(node["attached_node"], {})
            columns.setdefault(node.get("column_name"), set()).add(metadata["name"])
    for key in models:
        kinds = tests.get(key, {})
        if not any(required <= names for names in kinds.values() for required in PRIMARY_KEY_TESTS):
            found.add(("missing_primary_key_test", key))
    macros: dict[str, list[str]] = {}
    for macro in manifest["macros"].values():
        if macro["package_name"] == "cosell":
            macros.setdefault(macro["original_file_path"], []).append(macro["name"].removeprefix("test_"))
    for path, names in macros.items():
        stem = Path(path).stem
        # a file named for a macro holds that macro and its adapter implementations only
        if stem in names and any(name != stem and not name.endswith(f"__{stem}") for name in names):
            found.add(("macro_file_named_for_another_macro", path))
    return found


@pytest.mark.slow
def test_the_project_breaks_no_structure_rule_except_those_written_down(manifest):
    assert findings(manifest) == set(EXCEPTIONS)
    readme = (DBT_PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Structure rules", 1)[1].split("\n## ", 1)[0]
    bullets = section.split("Exceptions, each with its reason:", 1)[1].split("\n- ")
    for (rule, _), name in EXCEPTIONS.items():
        assert any(b.startswith(f"`{rule}` on ") and f"`{name}`" in b for b in bullets), (
            f"dbt/README.md gives no reason for {rule} {name}")


@pytest.mark.slow
def test_the_rules_catch_what_they_name(manifest):
    """Each rule fires on a manifest edited to break it (the rules are not vacuous)."""
    broken = json.loads(json.dumps(manifest))
    nodes = broken["nodes"]
    nodes["model.cosell.mart_cosell_coverage"]["depends_on"]["nodes"].append("source.cosell.raw.engagements")
    broken["child_map"]["source.cosell.raw.engagements"].append("model.cosell.mart_cosell_coverage")
    nodes["model.cosell.stg_raw__fx_rates"]["depends_on"]["nodes"] = ["model.cosell.stg_raw__deals"]
    broken["child_map"]["source.cosell.raw.fx_rates"] = []
    for node in nodes.values():
        if node.get("attached_node") == "model.cosell.dim_partner":
            node["attached_node"] = None
    macro = next(m for m in broken["macros"].values() if m["name"] == "round_rate")
    macro["original_file_path"] = "macros/resolve_latest.sql"
    assert findings(broken) - findings(manifest) == {
        ("direct_join_to_source", "model.cosell.mart_cosell_coverage"),
        ("source_fanout", "source.cosell.raw.engagements"),
        ("staging_dependent_on_staging", "model.cosell.stg_raw__fx_rates"),
        ("unused_source", "source.cosell.raw.fx_rates"),
        ("missing_primary_key_test", "model.cosell.dim_partner"),
        ("macro_file_named_for_another_macro", "macros/resolve_latest.sql"),
    }


PORTABLE_TYPES = r"string|bigint|integer|int|double|boolean|date|timestamp|decimal\(\d+,\s*\d+\)"


@pytest.mark.slow
def test_every_mart_has_an_enforced_contract_with_every_column_typed(manifest):
    marts = {key: node for key, node in _models(manifest).items() if _layer(node) == "marts"}
    assert len(marts) >= 17
    for key, node in marts.items():
        assert node["config"]["contract"]["enforced"], f"{key} has no enforced contract"
        assert node["columns"], f"{key} lists no columns"
        untyped = [name for name, column in node["columns"].items() if not column.get("data_type")]
        assert not untyped, f"{key}: columns without data_type {untyped}"
        # types both engines accept in a contract (Spark refuses a VARCHAR without a length)
        unportable = {name: column["data_type"] for name, column in node["columns"].items()
                      if not re.fullmatch(PORTABLE_TYPES, column["data_type"].lower())}
        assert not unportable, f"{key}: types DuckDB and Spark do not both accept {unportable}"
        if node["config"]["materialized"] == "incremental":
            assert node["config"]["on_schema_change"] in ("fail", "append_new_columns"), key


@pytest.mark.slow
def test_a_contract_violation_stops_the_build_naming_the_column(tmp_path):
    """A copy of the project whose contract says VARCHAR where the SQL gives a DATE: dbt refuses to build
    the mart (nothing written) and cosell's one-line error names the model, the column and both types."""
    project = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    yml = project / "models" / "marts" / "_marts__models.yml"
    text = yml.read_text(encoding="utf-8")
    typed = "      - name: as_of_date\n        data_type: date\n"
    assert typed in text
    yml.write_text(text.replace(typed, typed.replace("data_type: date", "data_type: string"), 1), encoding="utf-8")
    settings = _settings(tmp_path / "home")
    settings.home.mkdir(parents=True)
    con = connect(settings)
    try:
        create_raw_schema(con)
    finally:
        con.close()
    target = tmp_path / "target"
    process = subprocess.run(
        _dbt_command() + ["run", "--select", "+warehouse_as_of", "--project-dir", str(project), "--profiles-dir",
                          str(project), "--target-path", str(target), "--log-path", str(tmp_path / "logs")],
        cwd=str(project), env=dbt_env(settings), capture_output=True, text=True, check=False,
    )
    assert process.returncode != 0
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    message = _failure_message(results)
    assert message.startswith("model warehouse_as_of error: Compilation Error"), message
    assert "enforced contract that failed" in message
    assert "as_of_date data type mismatch (SQL DATE, contract VARCHAR)" in message
    con = connect(settings, read_only=True)
    try:
        built = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()}
    finally:
        con.close()
    assert "warehouse_as_of" not in built
