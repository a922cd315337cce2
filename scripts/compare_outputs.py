"""Before/after check of a refactoring: the same inbox must give the same marts, published files and payout files.

Usage:
  PYTHONPATH=CHECKOUT/src .venv/bin/python scripts/compare_outputs.py snapshot OUT
  .venv/bin/python scripts/compare_outputs.py compare BEFORE AFTER

snapshot generates the demo's embedded default inbox (cosell.orchestration.airflow_demo.SAMPLE), runs the nightly run
(`cosell run`: land, gates, dbt build, publish, report, docs) on it in a fresh COSELL_HOME, computes every
payout period the sample covers (`cosell payouts run`), then writes under OUT:
  warehouse/<schema>.<table>.csv   every table of the built warehouse, all columns, rows sorted by all columns
  published/<schema>.<table>.csv   the same for the published DuckDB copy
  published_parquet/<path>.csv     every published Parquet file, read back and sorted the same way
  files/...                        the payout files and the report, byte for byte
PYTHONPATH picks the checkout whose code runs (its dbt project too: cosell.config finds it beside src).

compare prints, per file, identical / differs / only before / only after. A table compares on the columns both
sides have (columns only one side has are listed, not compared); the columns in VOLATILE (run instants, run ids,
paths of the temporary home) are left out and named in the output. Exit 0 when nothing differs.
"""

from __future__ import annotations

import csv
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Columns whose values are instants of the run, paths under its temporary home or file modification times.
VOLATILE = {
    "landed_at", "loaded_at", "started_at", "raw_gate_at", "built_at", "marts_gate_at", "published_at",
    "approved_at", "inbox", "file_path", "quarantine_path", "mtime_ns",
}
# Files whose bytes carry the run's instant or temporary paths (dbt docs, gate Data Docs, run logs).
VOLATILE_FILES = ("reports/dbt_docs", "reports/gates", "reports/failures", "reports/data_docs")


def _csv_dump(con, relation: str, target: Path) -> None:
    cursor = con.execute(f"SELECT * FROM {relation} LIMIT 0")
    columns = [d[0] for d in cursor.description]
    order = ", ".join(f"{i + 1}" for i in range(len(columns))) or "1"
    rows = con.execute(
        f"SELECT {', '.join(f'CAST({chr(34)}{c}{chr(34)} AS VARCHAR)' for c in columns)} FROM {relation} "
        f"ORDER BY {order}"
    ).fetchall()
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def _dump_database(path: Path, out: Path) -> None:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, name in tables:
            _csv_dump(con, f'"{schema}"."{name}"', out / f"{schema}.{name}.csv")
    finally:
        con.close()


def snapshot(out: Path) -> None:
    import datetime as dt

    import duckdb

    from cosell.orchestration.airflow_demo import SAMPLE
    from cosell.config import Settings
    from cosell.errors import CosellError
    from cosell.synthetic.generate import generate
    from cosell.orchestration.nightly import run_nightly
    from cosell.payouts.lifecycle import run_period

    home = Path(tempfile.mkdtemp(prefix="cosell_compare_"))
    settings = Settings.from_env({"COSELL_HOME": str(home), "COSELL_DUCKDB_THREADS": "2"})
    inbox = home / "sample_inbox"
    print(generate(inbox, **SAMPLE).describe())
    print(run_nightly(inbox, settings).describe())
    first, last = SAMPLE["start"], SAMPLE["start"] + dt.timedelta(days=SAMPLE["days"] - 1)
    month = dt.date(first.year, first.month, 1)
    while month <= last:
        try:
            print(run_period(month.strftime("%Y-%m"), home / "payouts", settings).describe())
        except CosellError as error:  # a period the data does not cover yet: the same error both times
            print(f"{month:%Y-%m}: {error}")
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    shutil.rmtree(out, ignore_errors=True)
    _dump_database(settings.warehouse, out / "warehouse")
    _dump_database(settings.published, out / "published")
    con = duckdb.connect()
    for parquet in sorted(settings.published.parent.rglob("*.parquet")):
        relative = parquet.relative_to(settings.published.parent)
        _csv_dump(con, f"read_parquet('{parquet}')", out / "published_parquet" / relative.with_suffix(".csv"))
    con.close()
    for folder in (home / "payouts", settings.reports_dir):
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = file.relative_to(home)
            if not str(relative).startswith(VOLATILE_FILES):
                (out / "files" / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, out / "files" / relative)
    shutil.rmtree(home, ignore_errors=True)
    print(f"snapshot in {out}")


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as source:
        rows = list(csv.reader(source))
    return rows[0], rows[1:]


def _compare_table(before: Path, after: Path) -> tuple[bool, str]:
    head_b, rows_b = _read(before)
    head_a, rows_a = _read(after)
    common = [c for c in head_b if c in head_a and c not in VOLATILE]
    notes = []
    if set(head_a) - set(head_b):
        notes.append(f"new columns {sorted(set(head_a) - set(head_b))}")
    if set(head_b) - set(head_a):
        notes.append(f"dropped columns {sorted(set(head_b) - set(head_a))}")
    if set(head_b) & VOLATILE:
        notes.append(f"not compared {sorted(set(head_b) & VOLATILE)}")

    def project(head, rows):
        index = [head.index(c) for c in common]
        return sorted(tuple(r[i] for i in index) for r in rows)

    same = project(head_b, rows_b) == project(head_a, rows_a)
    if not same:
        notes.insert(0, f"{len(rows_b)} vs {len(rows_a)} rows, values differ")
    return same, "; ".join(notes)


def compare(before: Path, after: Path) -> int:
    names_b = {p.relative_to(before) for p in before.rglob("*") if p.is_file()}
    names_a = {p.relative_to(after) for p in after.rglob("*") if p.is_file()}
    differ = 0
    for name in sorted(names_b | names_a):
        if name not in names_a:
            print(f"only before  {name}")
            differ += 1
            continue
        if name not in names_b:
            print(f"only after   {name}")
            continue
        if name.parts[0] in ("warehouse", "published", "published_parquet"):
            same, note = _compare_table(before / name, after / name)
        else:
            same, note = filecmp.cmp(before / name, after / name, shallow=False), ""
        differ += not same
        if not same or note:
            print(f"{'identical' if same else 'DIFFERS':<12} {name}{'  (' + note + ')' if note else ''}")
    compared = len(names_b & names_a)
    print(f"{compared} files compared, {differ} differ; volatile columns not compared: {', '.join(sorted(VOLATILE))}; "
          f"files not kept: {', '.join(VOLATILE_FILES)}")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "snapshot":
        os.environ.setdefault("DO_NOT_TRACK", "1")
        snapshot(Path(sys.argv[2]).resolve())
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
