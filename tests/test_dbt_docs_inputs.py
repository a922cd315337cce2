"""The dbt docs page is generated again exactly when what it is made of changed (cosell.build.dbt.docs_inputs)."""

from __future__ import annotations

import shutil

import duckdb

from cosell.build import dbt
from cosell.config import DBT_PROJECT_DIR


def _warehouse(settings) -> None:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.fct (deal_id VARCHAR, amount DECIMAL(18,2))")
    con.execute("COMMENT ON COLUMN marts.fct.amount IS 'Amount, USD.'")
    con.close()


def _sql(settings, statement: str) -> None:
    con = duckdb.connect(str(settings.warehouse))
    con.execute(statement)
    con.close()


def test_rows_leave_the_inputs_alone_and_columns_comments_and_relations_change_them(settings):
    _warehouse(settings)
    before = dbt.docs_inputs(settings)
    _sql(settings, "INSERT INTO marts.fct SELECT 'D' || i, i FROM range(1000) t(i)")  # a night's rows
    assert dbt.docs_inputs(settings) == before
    changes = [
        "COMMENT ON COLUMN marts.fct.amount IS 'Amount in USD.'",
        "COMMENT ON TABLE marts.fct IS 'One row per deal.'",
        "ALTER TABLE marts.fct ADD COLUMN stage VARCHAR",
        "ALTER TABLE marts.fct ALTER stage TYPE INTEGER USING 0",
        "CREATE VIEW marts.v AS SELECT deal_id FROM marts.fct",
    ]
    seen = {before}
    for change in changes:
        _sql(settings, change)
        now = dbt.docs_inputs(settings)
        assert now not in seen, change
        seen.add(now)


def test_a_changed_project_file_changes_the_inputs_and_its_target_folder_does_not(settings, tmp_path, monkeypatch):
    _warehouse(settings)
    project = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    monkeypatch.setattr(dbt, "DBT_PROJECT_DIR", project)
    before = dbt.docs_inputs(settings)
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")  # what dbt writes is not the project
    assert dbt.docs_inputs(settings) == before
    model = project / "models" / "marts" / "fct_cosell_deals.sql"
    model.write_text(model.read_text() + "\n-- a note\n")
    assert dbt.docs_inputs(settings) != before
