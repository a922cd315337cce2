"""The plain-DuckDB baseline: a raw layer from the inbox (one read_csv per feed), then benchmarks/baseline_duckdb.sql.

Usage: .venv/bin/python benchmarks/bench_baseline.py --inbox DIR --db FILE [--until YYYY-MM-DD]
       [--compare WAREHOUSE]   (check the marts equal those of a warehouse built by `cosell run`)

No landing audit, no rejects, no duplicates detection, no gates: every file of the inbox is
read once, as it is (the generated extracts break no contract rule, and a byte-identical
copy changes no latest state). Lineage for the SPEC tie-breaks comes from the path: the
business date folder and the file name; rows are numbered in reading order (one sequence
over the feed, so within a file it follows the file). Columns are matched by position: the
generated files of a feed share one header (union_by_name, which matches by name as landing
does, made the read 6x slower here). Parquet files (the generator writes some) need a
read_parquet beside each feed's read_csv. `--compare` checks the marts against `cosell run`'s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cosell.contract import FEEDS  # noqa: E402

SQL = Path(__file__).resolve().parent / "baseline_duckdb.sql"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed(column) -> str:
    x = f'"{column.name}"'
    if column.type == "timestamp":
        return f"timezone('UTC', CAST({x} AS TIMESTAMPTZ)) AS {x}"
    if column.type == "bool":
        return f"(lower({x}) = 'true') AS {x}"
    return f"CAST({x} AS {column.duckdb_type}) AS {x}"


def raw_layer(inbox: Path, until: dt.date | None = None) -> list[str]:
    """Statements creating schema raw (one table per feed, and load_audit) from the inbox's files."""
    statements = ["CREATE SCHEMA raw"]
    bound = f"WHERE _business_date <= DATE {_quote(until.isoformat())}" if until else ""
    for name, feed in FEEDS.items():
        folder = inbox / name
        reads = []
        csvs = [g for g in ("*/*.csv", "*/*.csv.gz") if any(folder.glob(g))]
        if csvs:
            paths = "[" + ", ".join(_quote(str(folder / g)) for g in csvs) + "]"
            reads.append(
                f"SELECT * FROM read_csv({paths}, header = true, all_varchar = true, filename = true, delim = ',', quote = '\"', escape = '\"')"
            )
        if any(folder.glob("*/*.parquet")):
            reads.append(f"SELECT * FROM read_parquet({_quote(str(folder / '*/*.parquet'))}, union_by_name = true, filename = true)")
        columns = ", ".join(_typed(c) for c in feed.columns)
        statements.append(
            f"CREATE TABLE raw.{name} AS SELECT * FROM (SELECT {columns}, "
            "CAST(regexp_extract(filename, '/([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]*$', 1) AS DATE) AS _business_date, "
            "regexp_extract(filename, '[^/]*$') AS _file_name, filename AS _file_sha256, "
            "row_number() OVER () AS _row_number, 1::BIGINT AS _load_id "
            f"FROM ({' UNION ALL BY NAME '.join(reads)})) {bound}"
        )
    statements.append(
        "CREATE TABLE raw.load_audit AS SELECT 1::BIGINT AS load_id, feed, business_date, file_name, "
        "file AS file_path, file AS file_sha256, 'LANDED' AS status, 0::BIGINT AS rows_landed, 0::BIGINT AS rows_rejected, "
        "NULL::VARCHAR AS reason, NULL::VARCHAR AS quarantine_path, now()::TIMESTAMP AS loaded_at FROM ("
        "SELECT file, regexp_extract(file, '/([^/]+)/[0-9-]{10}/[^/]*$', 1) AS feed, "
        "CAST(regexp_extract(file, '/([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]*$', 1) AS DATE) AS business_date, "
        f"regexp_extract(file, '[^/]*$') AS file_name FROM glob({_quote(str(inbox / '*/*/*'))}))"
        + (f" WHERE business_date <= DATE {_quote(until.isoformat())}" if until else "")
    )
    return statements


def run(inbox: Path, db: Path, until: dt.date | None = None, threads: int = 2, memory_limit: str = "4GB") -> float:
    """Build the baseline warehouse at `db` (replaced); returns the seconds it took."""
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(db), config={"threads": threads, "memory_limit": memory_limit})
    try:
        con.execute("SET TimeZone = 'UTC'")
        for statement in raw_layer(inbox.resolve(), until):
            con.execute(statement)
        con.execute(SQL.read_text(encoding="utf-8"))
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return time.perf_counter() - started


def differences(baseline: Path, warehouse: Path, memory_limit: str = "4GB") -> dict[str, int]:
    """Rows that differ per mart between the two files (columns naming loads left out).

    Bounded by memory_limit, spilling beside the baseline file: unbounded, DuckDB's default
    (80% of RAM) let the comparison of the 10M marts grow past 14 GB.
    """
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(baseline) + ".compare.tmp"})
    try:
        con.execute(f"ATTACH {_quote(str(baseline))} AS b (READ_ONLY)")
        con.execute(f"ATTACH {_quote(str(warehouse))} AS w (READ_ONLY)")
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'w' AND schema_name = 'marts' ORDER BY 1"
        ).fetchall()]
        out = {}
        for table in tables:
            cols = ", ".join(f'"{c}"' for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'w' AND schema_name = 'marts' "
                "AND table_name = ? AND column_name NOT LIKE '%load_id%' ORDER BY column_index", [table]
            ).fetchall())
            a, b = f"SELECT {cols} FROM b.marts.{table}", f"SELECT {cols} FROM w.marts.{table}"
            out[table] = con.execute(f"SELECT count(*) FROM (({a} EXCEPT ALL {b}) UNION ALL ({b} EXCEPT ALL {a}))").fetchone()[0]
        return out
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inbox", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--until", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--compare", type=Path, default=None, help="a warehouse built by `cosell run` from the same inbox")
    args = parser.parse_args()
    seconds = run(args.inbox, args.db, args.until, args.threads, args.memory_limit)
    print(f"baseline marts in {seconds:.1f} s -> {args.db}")
    if args.compare:
        diff = differences(args.db, args.compare)
        bad = {t: n for t, n in diff.items() if n}
        print(f"marts equal to {args.compare}: {not bad}" + (f"; differing rows: {bad}" if bad else ""))


if __name__ == "__main__":
    main()
