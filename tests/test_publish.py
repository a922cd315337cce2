"""Publishing for BI: readers of the published file never fail and never see a half-published mart."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from cosell.config import Settings
from cosell.errors import CosellError
from cosell.landing.raw_schema import create_raw_schema
from cosell.publish.copy import publish

BASE_DATE = dt.date(2025, 1, 1)


def as_of_for(version: int) -> dt.date:
    return BASE_DATE + dt.timedelta(days=version)


def sizes_for(version: int) -> tuple[int, int]:
    """Row counts of the two marts of a version: they change from one version to the next."""
    return 40_000 + (version * 7_919) % 30_000, 1_000 + (version * 613) % 5_000


def write_version(warehouse: Path, version: int, extra_mart: bool = False) -> None:
    """(Re)build the working warehouse's marts as `version`: every row carries the version number."""
    a_rows, b_rows = sizes_for(version)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        create_raw_schema(con)
        con.execute(
            "INSERT INTO raw.load_audit VALUES (?, 'deals', ?, ?, ?, 'x', 'LANDED', 1, 0, NULL, NULL, ?)",
            [version + 1, as_of_for(version), f"deals_{version}.csv", f"/inbox/deals_{version}.csv",
             dt.datetime(2025, 1, 1) + dt.timedelta(days=version)],
        )
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(
            "CREATE OR REPLACE TABLE marts.mart_alpha AS SELECT ?::INTEGER AS version, i AS row_id, "
            "md5(i::VARCHAR) AS payload, (i % 97)::DECIMAL(18,2) AS amount_usd FROM range(?) t(i)",
            [version, a_rows],
        )
        con.execute(
            "CREATE OR REPLACE TABLE marts.mart_beta AS SELECT ?::INTEGER AS version, i AS row_id FROM range(?) t(i)",
            [version, b_rows],
        )
        con.execute(
            "CREATE OR REPLACE TABLE marts.mart_counts AS SELECT ?::INTEGER AS version, ?::BIGINT AS alpha_rows, "
            "?::BIGINT AS beta_rows",
            [version, a_rows, b_rows],
        )
        con.execute(
            "CREATE OR REPLACE VIEW marts.mart_alpha_total AS "
            "SELECT max(version) AS version, sum(amount_usd) AS amount_usd FROM marts.mart_alpha"
        )
        if extra_mart:
            con.execute("CREATE OR REPLACE TABLE marts.mart_extra AS SELECT ?::INTEGER AS version", [version])
        else:
            con.execute("DROP TABLE IF EXISTS marts.mart_extra")
    finally:
        con.close()


READER = textwrap.dedent(
    """
    import json, sys, time, traceback
    from pathlib import Path
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    path, stop, base = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    # The SQL stack BI tools use; NullPool so each snapshot is a fresh connection (a pooled one
    # keeps the file it opened, which is consistent but never moves on).
    engine = create_engine(f"duckdb:///{path}", connect_args={"read_only": True}, poolclass=NullPool)
    seen, snapshots, errors = set(), 0, []
    while not stop.exists():
        try:
            with engine.connect() as con:
                version, alpha_rows, beta_rows = con.execute(
                    text("SELECT version, alpha_rows, beta_rows FROM marts.mart_counts")).one()
                a = con.execute(text(
                    "SELECT count(*), min(version), max(version), count(DISTINCT row_id) FROM marts.mart_alpha")).one()
                b = con.execute(text("SELECT count(*), min(version), max(version) FROM marts.mart_beta")).one()
                total_version = con.execute(text("SELECT version FROM marts.mart_alpha_total")).scalar_one()
                as_of = con.execute(text("SELECT as_of_date FROM meta.publication")).scalar_one()
            problems = []
            if tuple(a) != (alpha_rows, version, version, alpha_rows):
                problems.append(f"mart_alpha {tuple(a)} but mart_counts says {alpha_rows} rows of version {version}")
            if tuple(b) != (beta_rows, version, version):
                problems.append(f"mart_beta {tuple(b)} but mart_counts says {beta_rows} rows of version {version}")
            if total_version != version:
                problems.append(f"mart_alpha_total of version {total_version} beside version {version}")
            if (as_of - __import__("datetime").date.fromisoformat(base)).days != version:
                problems.append(f"as_of_date {as_of} does not belong to version {version}")
            if problems:
                errors.append("; ".join(problems))
            seen.add(version)
            snapshots += 1
            if snapshots == 1:
                print("ready", flush=True)
        except Exception:
            errors.append(traceback.format_exc(limit=3))
        if len(errors) > 20:
            break
    print(json.dumps({"snapshots": snapshots, "versions": sorted(seen), "errors": errors}))
    """
)


@pytest.mark.slow
def test_bi_reader_never_fails_nor_sees_a_partial_mart_while_publishing(settings: Settings, tmp_path: Path) -> None:
    write_version(settings.warehouse, 0)
    publish(settings)
    stop = tmp_path / "stop-reader"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(settings.published), str(stop), BASE_DATE.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    publishes = 12
    started = time.monotonic()
    try:
        # Publishing starts once the reader has read version 0.
        assert reader.stdout.readline().strip() == "ready", reader.stderr.read()[-3000:]
        for version in range(1, publishes + 1):
            write_version(settings.warehouse, version, extra_mart=version % 2 == 1)
            summary = publish(settings)
            assert summary.as_of_date == as_of_for(version)
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        time.sleep(0.5)  # let the reader see the last version
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, f"reader crashed: {err[-3000:]}"
    result = json.loads(out.strip().splitlines()[-1])
    print(f"{publishes} publishes in {elapsed:.1f}s; reader took {result['snapshots']} snapshots "
          f"and saw versions {result['versions']}")
    assert result["errors"] == [], "\n".join(result["errors"][:5])
    assert result["snapshots"] >= publishes
    assert publishes in result["versions"], "the reader never saw the last publish"
    assert 0 in result["versions"] and len(result["versions"]) >= 3, "the reader did not follow the publishes"
    # Nothing left behind: no staging database or Parquet file.
    leftovers = [p.name for p in settings.published.parent.rglob(".*")]
    assert leftovers == [], leftovers


def test_publish_without_marts_raises_and_keeps_the_old_file(settings: Settings) -> None:
    write_version(settings.warehouse, 3)
    publish(settings)
    before = settings.published.read_bytes()
    before_stat = settings.published.stat()
    con = duckdb.connect(str(settings.warehouse))
    con.execute("DROP SCHEMA marts CASCADE")
    con.close()
    with pytest.raises(CosellError, match="no marts"):
        publish(settings)
    assert settings.published.read_bytes() == before
    assert settings.published.stat().st_ino == before_stat.st_ino
    assert [p.name for p in settings.published.parent.iterdir() if p.name.startswith(".")] == []
    con = duckdb.connect(str(settings.published), read_only=True)
    try:
        assert con.execute("SELECT version FROM marts.mart_counts").fetchone() == (3,)
    finally:
        con.close()


def test_publish_of_a_missing_warehouse_is_a_cosell_error(settings: Settings) -> None:
    with pytest.raises(CosellError, match="does not exist"):
        publish(settings)
    assert not settings.published.exists()


def test_parquet_per_mart_matches_the_published_tables(settings: Settings) -> None:
    write_version(settings.warehouse, 5, extra_mart=True)
    con = duckdb.connect(str(settings.warehouse))
    con.execute("CREATE SCHEMA payouts")
    con.execute("CREATE TABLE payouts.lines AS SELECT '2025-01' AS period, 'NEW_LOGO_BONUS' AS rule_id, 2500.00 AS amount_usd")
    con.close()
    summary = publish(settings)
    marts = {"mart_alpha", "mart_beta", "mart_counts", "mart_alpha_total", "mart_extra"}
    assert set(summary.tables) == {f"marts.{m}" for m in marts} | {"payouts.lines"}
    parquet_dir = settings.published.parent / "parquet"
    assert summary.parquet_dir == parquet_dir
    assert {p.name for p in parquet_dir.iterdir()} == {f"{m}.parquet" for m in marts} | {"payouts"}
    assert [p.name for p in (parquet_dir / "payouts").iterdir()] == ["lines.parquet"]  # payout tables too
    published = duckdb.connect(str(settings.published), read_only=True)
    try:
        for mart in marts:
            rows = published.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()[0]
            file_rows = published.execute(
                "SELECT count(*) FROM read_parquet(?)", [str(parquet_dir / f"{mart}.parquet")]
            ).fetchone()[0]
            assert file_rows == rows, mart
            same = published.execute(
                f"SELECT count(*) FROM (SELECT * FROM marts.{mart} EXCEPT ALL SELECT * FROM read_parquet(?))",
                [str(parquet_dir / f"{mart}.parquet")],
            ).fetchone()[0]
            assert same == 0, mart
        assert published.execute("SELECT count(*) FROM payouts.lines").fetchone()[0] == 1
        assert published.execute("SELECT as_of_date FROM meta.publication").fetchone()[0] == as_of_for(5)
    finally:
        published.close()

    # A mart dropped from the warehouse disappears from the Parquet folder at the next publish.
    write_version(settings.warehouse, 6, extra_mart=False)
    publish(settings)
    assert {p.name for p in parquet_dir.glob("*.parquet")} == {f"{m}.parquet" for m in marts - {"mart_extra"}}
    assert duckdb.execute(
        "SELECT DISTINCT version FROM read_parquet(?)", [str(parquet_dir / "mart_alpha.parquet")]
    ).fetchall() == [(6,)]


def test_publish_leaves_the_working_warehouse_untouched(settings: Settings) -> None:
    write_version(settings.warehouse, 2)
    before = settings.warehouse.read_bytes()
    publish(settings)
    assert settings.warehouse.read_bytes() == before
    assert not Path(f"{settings.warehouse}.wal").exists()
    assert os.access(settings.published, os.R_OK)


def test_staging_left_by_a_killed_publish_is_removed_and_a_live_ones_kept(tmp_path):
    settings = Settings.from_env({"COSELL_HOME": str(tmp_path / "home")})
    write_version(settings.warehouse, 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    folder, parquet = settings.published.parent, settings.published.parent / "parquet"
    parquet.mkdir(parents=True)
    stale = [folder / f".{settings.published.name}.{dead_pid}.7.tmp", folder / f".{settings.published.name}.{dead_pid}.7.tmp.wal",
             parquet / f".mart_alpha.parquet.{dead_pid}.7.tmp"]
    live = folder / f".{settings.published.name}.{os.getpid()}.99.tmp"
    for path in stale + [live]:
        path.write_bytes(b"partial")
    publish(settings)
    assert [p for p in stale if p.exists()] == [] and live.exists()
