"""Temporary views the quality gates query (on a read-only DuckDB connection).

The expectation suites (expectations/*.yml) read their frames with SQL over these views, so
whole-table rules (latest state, referential integrity, reconciliations) run as aggregate SQL
inside DuckDB and only small frames of offending rows reach pandas and Great Expectations.

Views (all TEMP, nothing is written to the warehouse):

- gate_batch(load_id): the loads of the nightly batch, one row each: every load the run
  ledger (cosell.orchestration.ledger) does not record as passed by the raw gate; when none is pending (or
  the warehouse has no ledger), the greatest load id seen in raw.load_audit or in any raw
  feed table. No row when nothing was ever landed.
- batch_<feed>: the rows of raw.<feed> landed by those loads.
- latest_<feed> for upsert feeds: the latest state per key (SPEC section 1 tie-break:
  updated_at, then business date, then file name, then row; fx_rates: business date, file
  name, row).
- batch_latest_<feed> for upsert feeds: the latest state of the keys with a row in the batch
  (for rules only a key of the batch can break; it costs the day's keys, not the history).
- first_<feed> for event feeds: the copy de-duplication keeps (earliest business date, file
  name, row).
- <feed>_top_ties: keys of the batch whose latest (upsert) or kept (event) copy is
  ambiguous, i.e. two landed rows share the whole ordering tuple: the same source row landed
  twice. Only keys with a row in the batch can have become ambiguous since the last passed
  gate (one of the two rows is new), so the check costs the day's keys, not the history.
"""

from __future__ import annotations

import duckdb

from cosell.contract import FEEDS
from cosell.orchestration.ledger import RAW_PENDING_SQL, has_ledger


def _order(feed_name: str, latest: bool) -> str:
    feed = FEEDS[feed_name]
    direction = "DESC" if latest else "ASC"
    cols = []
    if latest and "updated_at" in feed.column_names:
        cols.append("updated_at")
    cols += ["_business_date", "_file_name", "_row_number"]
    return ", ".join(f"{c} {direction}" for c in cols)


def view_statements(with_ledger: bool = False) -> list[str]:
    parts = [f"SELECT max(_load_id) AS load_id FROM raw.{name}" for name in FEEDS]
    parts.append("SELECT max(load_id) AS load_id FROM raw.load_audit")
    latest = "SELECT max(load_id) AS load_id FROM (" + " UNION ALL ".join(parts) + ")"
    if with_ledger:
        batch = (
            f"WITH pending AS ({RAW_PENDING_SQL}) SELECT load_id FROM pending "
            f"UNION ALL SELECT load_id FROM ({latest}) WHERE NOT EXISTS (SELECT 1 FROM pending)"
        )
    else:
        batch = latest
    statements = [f"CREATE OR REPLACE TEMP VIEW gate_batch AS SELECT load_id FROM ({batch}) WHERE load_id IS NOT NULL"]
    for name, feed in FEEDS.items():
        key = ", ".join(feed.key)
        statements.append(
            f"CREATE OR REPLACE TEMP VIEW batch_{name} AS "
            f"SELECT * FROM raw.{name} WHERE _load_id IN (SELECT load_id FROM gate_batch)"
        )
        latest = feed.kind == "upsert"
        order = _order(name, latest)
        view = f"latest_{name}" if latest else f"first_{name}"
        statements.append(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM raw.{name} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) = 1"
        )
        if latest:
            statements.append(
                f"CREATE OR REPLACE TEMP VIEW batch_latest_{name} AS SELECT * FROM raw.{name} "
                f"SEMI JOIN (SELECT DISTINCT {key} FROM batch_{name}) USING ({key}) "
                f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) = 1"
            )
        lineage = ", ".join(c for c in (["updated_at"] if latest and "updated_at" in feed.column_names else []))
        lineage = (lineage + ", " if lineage else "") + "_business_date, _file_name, _row_number"
        statements.append(
            f"CREATE OR REPLACE TEMP VIEW {name}_top_ties AS "
            f"SELECT {key}, {lineage}, count(*) AS copies FROM ("
            f"SELECT * FROM raw.{name} SEMI JOIN (SELECT DISTINCT {key} FROM batch_{name}) USING ({key}) "
            f"QUALIFY rank() OVER (PARTITION BY {key} ORDER BY {order}) = 1"
            f") GROUP BY ALL HAVING count(*) > 1"
        )
    return statements


def create_gate_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create the gate's TEMP views on `con` (works on a read-only connection)."""
    for statement in view_statements(with_ledger=has_ledger(con)):
        con.execute(statement)


def has_schema(con: duckdb.DuckDBPyConnection, schema: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", [schema]
    ).fetchone()
    return bool(row and row[0])


def missing_tables(con: duckdb.DuckDBPyConnection, schema: str, tables: list[str]) -> list[str]:
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
        ).fetchall()
    }
    return [t for t in tables if t not in present]
