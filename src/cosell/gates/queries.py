"""Temporary views the quality gates query (on a read-only DuckDB connection), scoped to the nightly batch.

The expectation suites (expectations/*.yml) read their frames with SQL over these views, so
rules that need more than a row (latest state, references, reconciliations) run as SQL
inside DuckDB and only small frames of offending rows reach pandas and Great Expectations.
Every view is scoped to the batch: it costs the batch's rows and keys, not the history, and
reaches into history only by key (the latest state of a key of the batch, the partner a new
row points to).

Views (all TEMP, nothing is written to the warehouse):

- gate_batch(load_id): the loads the gate judges, one row each: the loads the run ledger
  (cosell.orchestration.ledger) has waiting for this gate (raw: every load without raw_gate_at; marts:
  built and without marts_gate_at); when none is (or the warehouse has no ledger), the
  greatest load id seen in raw.load_audit or in any raw feed table. No row when nothing was
  ever landed.
- batch_<feed>: the rows of raw.<feed> landed by those loads.
- batch_latest_<feed> for upsert feeds: the latest state of the keys with a row in the batch.
- batch_first_<feed> for event feeds: the kept copy of the keys with a row in the batch.
- <feed>_top_ties: keys of the batch whose latest (upsert) or kept (event) copy is
  ambiguous, i.e. two landed rows share the whole ordering tuple: the same source row landed
  twice. Only keys with a row in the batch can have become ambiguous since the last passed
  gate (one of the two rows is new).
- referenced_<feed> for deals, engagements and partners: the landed keys of the feed that a
  row of the batch names (REFERENCES), found with one scan of the feed's history: a
  reference from a new row to an old row resolves; one no landed row answers is an orphan.
- latest_fx_rates: the latest rate per (rate_date, currency), all of them (a rate table of a
  few rows per day: every conversion may need any of them).
- gate_affected_deals(deal_id): the deals the batch can have changed in the marts: a deal
  row of the batch, a request of the batch (every deal any version of it names), an activity
  of the batch, or an fx rate of the batch in the deal's currency dated on or before the
  deal's reference date.
- affected_latest_deals: the raw latest state of those deals.

The ordering that picks the latest version or the kept copy is the SPEC section 1
tie-break, defined once in dbt/macros/tie_break.sql (the staging models call it) and
rendered here from that file with plain Jinja.
"""

from __future__ import annotations

from functools import cache

import duckdb

from cosell.config import DBT_PROJECT_DIR
from cosell.contract import FEEDS
from cosell.orchestration.ledger import has_ledger, pending_sql

TIE_BREAK_MACRO = DBT_PROJECT_DIR / "macros" / "tie_break.sql"
GATE_STEP = {"raw": "raw_gate", "marts": "marts_gate"}  # the ledger step each gate records


@cache
def _tie_break_module():
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
        TIE_BREAK_MACRO.read_text(encoding="utf-8")
    ).module


def tie_break(feed_name: str) -> str:
    """The ORDER BY that puts the row a key of `feed_name` keeps first (dbt's spec_tie_break macro)."""
    return " ".join(str(_tie_break_module().spec_tie_break(feed_name)).split())


def _tie_columns(feed_name: str) -> str:
    return ", ".join(part.split()[0] for part in tie_break(feed_name).split(","))


def _batch_sql(stage: str, with_ledger: bool) -> str:
    parts = [f"SELECT max(_load_id) AS load_id FROM raw.{name}" for name in FEEDS]
    parts.append("SELECT max(load_id) AS load_id FROM raw.load_audit")
    latest = "SELECT max(load_id) AS load_id FROM (" + " UNION ALL ".join(parts) + ")"
    if not with_ledger:
        return latest
    return (
        f"WITH pending AS ({pending_sql(GATE_STEP[stage])}) SELECT load_id FROM pending "
        f"UNION ALL SELECT load_id FROM ({latest}) WHERE NOT EXISTS (SELECT 1 FROM pending)"
    )


def view_statements(stage: str = "raw", with_ledger: bool = False) -> list[str]:
    """The statements creating the `stage` gate's TEMP tables and views.

    A TEMP table holds what several datasets read, so the history is scanned once per feed
    (by key) and not once per dataset.
    """
    if stage not in GATE_STEP:
        raise ValueError(stage)
    batch = _batch_sql(stage, with_ledger)
    statements = [f"CREATE OR REPLACE TEMP TABLE gate_batch AS SELECT load_id FROM ({batch}) WHERE load_id IS NOT NULL"]
    for name, feed in FEEDS.items():
        statements.append(
            f"CREATE OR REPLACE TEMP VIEW batch_{name} AS "
            f"SELECT * FROM raw.{name} WHERE _load_id IN (SELECT load_id FROM gate_batch)"
        )
    statements.append(
        f"CREATE OR REPLACE TEMP VIEW latest_fx_rates AS SELECT * FROM raw.fx_rates "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(FEEDS['fx_rates'].key)} ORDER BY {tie_break('fx_rates')}) = 1"
    )
    return statements + (_raw_statements() if stage == "raw" else _marts_statements())


# Referenced feed -> (view of the batch, column) pairs whose values name a key of it (SPEC section 1 references).
REFERENCES = {
    "deals": (("batch_latest_engagements", "deal_id"), ("batch_first_activities", "deal_id")),
    "engagements": (("batch_first_activities", "request_id"), ("batch_first_satisfaction", "request_id")),
    "partners": (
        ("batch_latest_deals", "partner_id"), ("batch_latest_engagements", "partner_id"),
        ("batch_first_satisfaction", "partner_id"), ("batch_latest_partners", "parent_partner_id"),
    ),
}


def _first_of_keys(table: str, feed_name: str, keys: str, rank: str) -> str:
    """TEMP table `table`: row ids, key and tie-break columns of the rows of raw.<feed> whose key is in
    `keys` and that rank first (`rank`: rank or row_number).

    Narrow on purpose: on a first night the keys are the whole history, and whole rows of it
    would not fit the memory limit; the views below fetch the full rows by row id.
    """
    key = ", ".join(FEEDS[feed_name].key)
    return (
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT rowid AS row_id, {key}, {_tie_columns(feed_name)} "
        f"FROM raw.{feed_name} SEMI JOIN ({keys}) USING ({key}) "
        f"QUALIFY {rank}() OVER (PARTITION BY {key} ORDER BY {tie_break(feed_name)}) = 1"
    )


def _rows_of(table: str, feed_name: str) -> str:
    """The full raw rows of the first-ranked rows in `table`, one per key."""
    key = ", ".join(FEEDS[feed_name].key)
    return (
        f"SELECT * FROM raw.{feed_name} WHERE rowid IN (SELECT row_id FROM {table} "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {tie_break(feed_name)}) = 1)"
    )


def _raw_statements() -> list[str]:
    statements = []
    for name, feed in FEEDS.items():
        key = ", ".join(feed.key)
        # every row of a batch key that ranks first: the kept row, and any row tied with it
        statements.append(_first_of_keys(f"batch_top_{name}", name, f"SELECT DISTINCT {key} FROM batch_{name}", "rank"))
        view = f"batch_latest_{name}" if feed.kind == "upsert" else f"batch_first_{name}"
        statements.append(f"CREATE OR REPLACE TEMP VIEW {view} AS {_rows_of(f'batch_top_{name}', name)}")
        statements.append(
            f"CREATE OR REPLACE TEMP VIEW {name}_top_ties AS "
            f"SELECT {key}, {_tie_columns(name)}, count(*) AS copies FROM batch_top_{name} "
            f"GROUP BY {key}, {_tie_columns(name)} HAVING count(*) > 1"
        )
    for name, referrers in REFERENCES.items():
        (key,) = FEEDS[name].key
        named = " UNION ".join(f"SELECT {column} AS {key} FROM {view}" for view, column in referrers)
        statements.append(
            f"CREATE OR REPLACE TEMP TABLE referenced_{name} AS "
            f"SELECT DISTINCT {key} FROM raw.{name} SEMI JOIN ({named}) USING ({key})"
        )
    return statements


def _marts_statements() -> list[str]:
    return [
        "CREATE OR REPLACE TEMP TABLE gate_affected_deals AS "
        "SELECT deal_id FROM batch_deals "
        "UNION SELECT deal_id FROM raw.engagements SEMI JOIN (SELECT DISTINCT request_id FROM batch_engagements) "
        "USING (request_id) "
        "UNION SELECT deal_id FROM batch_activities "
        "UNION SELECT f.deal_id FROM marts.fct_cosell_deals f "
        "JOIN (SELECT currency, min(rate_date) AS since FROM batch_fx_rates GROUP BY ALL) r USING (currency) "
        "WHERE CAST(f.closed_at AS DATE) >= r.since",
        _first_of_keys("affected_latest_rows", "deals", "SELECT deal_id FROM gate_affected_deals", "row_number"),
        f"CREATE OR REPLACE TEMP VIEW affected_latest_deals AS {_rows_of('affected_latest_rows', 'deals')}",
    ]


def create_gate_views(con: duckdb.DuckDBPyConnection, stage: str = "raw") -> None:
    """Create the `stage` gate's TEMP tables and views on `con` (works on a read-only connection)."""
    for statement in view_statements(stage, with_ledger=has_ledger(con)):
        con.execute(statement)


def has_schema(con: duckdb.DuckDBPyConnection, schema: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", [schema]
    ).fetchone()
    return bool(row and row[0])

