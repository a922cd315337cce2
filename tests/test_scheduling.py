"""Partition-correct scheduling: a run for business date D lands only D and earlier; the delivery calendar; backfills."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest
from extracts import csv_text, row, write

from cosell import cli
from cosell.config import Settings
from cosell.contract import FEEDS
from cosell.errors import CosellError
from cosell.landing.load import land
from cosell.orchestration.airflow_tasks import expected_feeds, missing_feeds
from cosell.orchestration.delivery import DEFAULT, load_calendar
from cosell.orchestration.nightly import run_nightly
from cosell.synthetic.generate import generate

SATURDAY, SUNDAY, MONDAY = dt.date(2026, 1, 3), dt.date(2026, 1, 4), dt.date(2026, 1, 5)


def _audit(settings: Settings) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute("SELECT load_id, business_date, feed FROM raw.load_audit ORDER BY 1, 2, 3").fetchall()
    finally:
        con.close()


def test_a_backfill_of_an_older_date_lands_only_files_up_to_it(tmp_path, settings):
    inbox = tmp_path / "inbox"
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        write(inbox, "partners", day, "p.csv", csv_text([row("partners", partner_id=f"P{day[-1]}")]))
    summary = land(inbox, settings, until=dt.date(2026, 3, 2))
    assert summary.as_of_date == dt.date(2026, 3, 2)
    assert _audit(settings) == [(1, dt.date(2026, 3, 1), "partners"), (1, dt.date(2026, 3, 2), "partners")]
    assert "nothing new" in land(inbox, settings, until=dt.date(2026, 3, 2)).describe()
    land(inbox, settings)  # no bound: the later date now
    assert _audit(settings)[-1] == (2, dt.date(2026, 3, 3), "partners")
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    assert con.execute("SELECT load_id, until FROM ops.run_ledger ORDER BY 1").fetchall() == [
        (1, dt.date(2026, 3, 2)),
        (2, None),
    ]
    con.close()


def test_land_and_run_take_the_bound_on_the_command_line(tmp_path, settings, monkeypatch, capsys):
    inbox = tmp_path / "inbox"
    write(inbox, "partners", "2026-03-01", "p.csv", csv_text([row("partners")]))
    write(inbox, "partners", "2026-03-02", "p.csv", csv_text([row("partners", partner_id="P2")]))
    monkeypatch.setenv("COSELL_HOME", str(settings.home))
    monkeypatch.setenv("COSELL_WAREHOUSE", str(settings.warehouse))
    assert cli.main(["land", "--inbox", str(inbox), "--until", "2026-03-01"]) == 0
    assert "as_of_date 2026-03-01" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["run", "--inbox", str(inbox), "--until", "03/02/2026"])
    assert "is not a date YYYY-MM-DD" in capsys.readouterr().err


def test_the_default_calendar_expects_fx_on_weekdays_and_every_other_feed_daily():
    others = [f for f in FEEDS if f != "fx_rates"]
    assert expected_feeds(SATURDAY.isoformat(), current=Settings.from_env({})) == others
    assert expected_feeds(SUNDAY.isoformat(), current=Settings.from_env({})) == others
    assert expected_feeds(MONDAY.isoformat(), current=Settings.from_env({})) == list(FEEDS)


def test_a_weekend_date_without_fx_is_complete(tmp_path):
    inbox = tmp_path / "inbox"
    for feed in FEEDS:
        if feed != "fx_rates":
            write(inbox, feed, SATURDAY.isoformat(), "x.csv", "a\n")
    feeds = expected_feeds(SATURDAY.isoformat(), current=Settings.from_env({}))
    assert missing_feeds(inbox, SATURDAY.isoformat(), feeds) == []
    assert missing_feeds(inbox, MONDAY.isoformat(), expected_feeds(MONDAY.isoformat(), current=Settings.from_env({})))


def test_a_calendar_file_changes_the_days_and_a_forced_run_accepts_missing_feeds(tmp_path):
    path = tmp_path / "calendar.yml"
    path.write_text("fx_rates:\n  days: [MON, TUE, WED, THU, FRI]\n  skip: [2026-01-05]\nsatisfaction:\n  days: [mon]\n")
    current = Settings.from_env({"COSELL_DELIVERY_CALENDAR": str(path)})
    assert "fx_rates" not in expected_feeds(MONDAY.isoformat(), current=current)  # a holiday
    assert "satisfaction" in expected_feeds(MONDAY.isoformat(), current=current)
    assert "satisfaction" not in expected_feeds(SATURDAY.isoformat(), current=current)
    tuesday = (MONDAY + dt.timedelta(days=1)).isoformat()
    assert "fx_rates" in expected_feeds(tuesday, current=current)
    assert "fx_rates" not in expected_feeds(tuesday, "fx_rates", current=current)  # the DAG param, rendered
    assert expected_feeds(tuesday, ["*"], current=current) == []
    assert load_calendar(None) == DEFAULT


@pytest.mark.parametrize(
    "text, message",
    [
        ("fx:\n  days: [MON]\n", "unknown feed 'fx'"),
        ("fx_rates:\n  days: [MONDAY]\n", "unknown weekday(s) MONDAY"),
        ("fx_rates:\n  skip: [tomorrow]\n", "skip dates must be YYYY-MM-DD"),
        ("fx_rates:\n  weekdays: [MON]\n", "takes `days` and `skip` only"),
        ("- fx_rates\n", "must map feed names"),
    ],
)
def test_a_bad_calendar_is_a_one_line_error(tmp_path, text, message):
    path = tmp_path / "calendar.yml"
    path.write_text(text)
    with pytest.raises(CosellError, match="delivery calendar") as error:
        load_calendar(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_missing_ok_must_name_feeds():
    with pytest.raises(CosellError, match="unknown feed"):
        expected_feeds(MONDAY.isoformat(), ["fxrates"], current=Settings.from_env({}))


def _tables(settings: Settings) -> dict[str, tuple]:
    """Every raw and marts table, without the columns that number loads or stamp times."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        names = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('raw', 'marts') ORDER BY 1, 2"
        ).fetchall()
        out = {}
        for schema, name in names:
            cols = [
                c for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?", [schema, name]
                ).fetchall()
                if "load_id" not in c and c not in ("loaded_at", "quarantine_path")  # load numbers and stamps differ
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            out[f"{schema}.{name}"] = con.execute(
                f'SELECT count(*), coalesce(sum(hash(t::VARCHAR)::HUGEINT), 0) FROM (SELECT {select} FROM "{schema}"."{name}") t'
            ).fetchone()
        return out
    finally:
        con.close()


@pytest.mark.slow
def test_backfilling_dates_in_order_gives_the_warehouse_of_one_run(tmp_path):
    inbox = tmp_path / "inbox"
    generate(inbox, seed=5, start=dt.date(2026, 1, 1), days=5, partners=8, deals=60)
    for day in (SATURDAY, SUNDAY):  # no fx rates on the weekend
        shutil.rmtree(inbox / "fx_rates" / day.isoformat(), ignore_errors=True)

    def settings_for(name: str) -> Settings:
        return Settings.from_env({"COSELL_HOME": str(tmp_path / name), "COSELL_DUCKDB_THREADS": "2"})

    daily = settings_for("daily")
    # Saturday runs without fx; Monday's run lands Sunday's files with its own (each bound takes every date up to it)
    for day in (dt.date(2026, 1, 2), SATURDAY, MONDAY):
        text = run_nightly(inbox, daily, until=day).describe()
        assert f"as_of_date {day}" in text and "published" in text
    once = settings_for("once")
    run_nightly(inbox, once, until=MONDAY)
    assert _tables(daily) == _tables(once)
