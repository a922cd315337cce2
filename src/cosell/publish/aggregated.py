"""The aggregated copy for audiences outside channel management: configured marts and columns only, no identifiers.

Written after each publish from the published copy (config/aggregated_copy.yml lists the marts and columns) and
swapped in atomically. Before it is swapped in, every text column is checked against the customer, deal, request,
activity and response identifiers and customer names of the raw layer: one match and nothing is written.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import duckdb
import yaml

from cosell.config import AGGREGATED_CONFIG, Settings
from cosell.db import connect
from cosell.errors import CosellError
from cosell.landing.row_checks import ident, literal

# raw table -> its columns that identify a customer, deal, request, activity or response (or name a customer)
IDENTIFIERS = {
    "deals": ("deal_id", "customer_id", "customer_name"),
    "engagements": ("request_id",),
    "activities": ("activity_id",),
    "satisfaction": ("response_id",),
}
_IDENTIFIER_NAME = re.compile(r"(^|_)(id|name)$")


def load_config(path: Path = AGGREGATED_CONFIG) -> dict[str, list[str]]:
    """mart -> columns to copy; a malformed file or an identifier column is a one-line error."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise CosellError(f"{path}: cannot read the aggregated copy's configuration ({error})") from None
    marts = data.get("marts") if isinstance(data, dict) else None
    if not isinstance(marts, dict) or not marts:
        raise CosellError(f"{path}: expected `marts:` mapping each mart to the list of its columns to copy")
    config: dict[str, list[str]] = {}
    for mart, columns in marts.items():
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise CosellError(f"{path}: marts.{mart} must list the columns to copy")
        named = [c for c in columns if _IDENTIFIER_NAME.search(c)]
        if named:
            raise CosellError(f"{path}: marts.{mart} lists {', '.join(named)}: identifier and name columns are never "
                              f"part of the aggregated copy")
        config[str(mart)] = list(columns)
    return config


def _identifier_found(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str] | None:
    """(mart, column, value) of the first text value of the copy that is an identifier the raw layer holds, or None.

    The copy's distinct text values (aggregates: few) are joined to the raw identifier columns, so the
    raw layer is scanned once and never gathered into a set of its own (O(copy), not O(history) in memory).
    """
    text_columns = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'marts' AND data_type = 'VARCHAR' ORDER BY 1, 2").fetchall()
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh' AND schema_name = 'raw'").fetchall()}
    raw = [f"SELECT CAST({ident(c)} AS VARCHAR) AS v FROM wh.raw.{ident(t)}"
           for t, columns in IDENTIFIERS.items() if t in present for c in columns]
    if not text_columns or not raw:
        return None
    values = " UNION ".join(f"SELECT {literal(mart)} AS mart, {literal(column)} AS col, {ident(column)} AS v "
                            f"FROM marts.{ident(mart)} WHERE {ident(column)} IS NOT NULL" for mart, column in text_columns)
    return con.execute(
        f"WITH copy_values AS ({values}) SELECT c.mart, c.col, c.v FROM copy_values c "
        f"JOIN ({' UNION ALL '.join(raw)}) r ON r.v = c.v ORDER BY 1, 2, 3 LIMIT 1"
    ).fetchone()


def publish_aggregated(settings: Settings, config_path: Path = AGGREGATED_CONFIG) -> tuple[Path, list[str]]:
    """Write the aggregated copy from the published copy; returns its path and the tables it holds.

    A listed mart the published copy does not have (not built) is left out; a listed column it lacks is an error.
    """
    config = load_config(config_path)
    target = settings.aggregated_copy
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    staging.unlink(missing_ok=True)
    con = connect(settings, staging)
    copied: list[str] = []
    try:
        con.execute(f"ATTACH {literal(str(settings.published))} AS pub (READ_ONLY)")
        con.execute(f"ATTACH {literal(str(settings.warehouse))} AS wh (READ_ONLY)")
        con.execute("CREATE SCHEMA marts")
        for mart, columns in config.items():
            have = {r[0]: r[1] for r in con.execute(
                "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = 'pub' "
                "AND schema_name = 'marts' AND table_name = ?", [mart]).fetchall()}
            if not have:
                continue  # not built (yet): the copy holds the listed marts that exist
            missing = [c for c in columns if c not in have]
            if missing:
                raise CosellError(f"{config_path} lists {mart}.{', '.join(missing)}, which the published copy lacks: "
                                  f"fix the configuration")
            copied.append(f"marts.{mart}")
            con.execute(f"CREATE TABLE marts.{ident(mart)} AS SELECT {', '.join(map(ident, columns))} "
                        f"FROM pub.marts.{ident(mart)}")
            comment = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = 'pub' "
                                  "AND schema_name = 'marts' AND table_name = ?", [mart]).fetchone()
            if comment and comment[0]:
                con.execute(f"COMMENT ON TABLE marts.{ident(mart)} IS {literal(comment[0])}")
            for column in columns:
                if have[column]:
                    con.execute(f"COMMENT ON COLUMN marts.{ident(mart)}.{ident(column)} IS {literal(have[column])}")
        found = _identifier_found(con)
        if found:
            mart, column, value = found
            raise CosellError(f"aggregated copy not written: {mart}.{column} holds the identifier {value!r} "
                              f"of a customer, deal, request, activity or response; remove the column from "
                              f"{config_path}")
        con.execute("CREATE SCHEMA meta")
        con.execute("CREATE TABLE meta.publication AS SELECT * FROM pub.meta.publication")
        con.execute("DETACH pub")
        con.execute("DETACH wh")
        con.execute("CHECKPOINT")
        con.close()
        os.replace(staging, target)
    except BaseException as error:
        con.close()
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
        if isinstance(error, duckdb.Error):
            raise CosellError(f"aggregated copy not written: {' '.join(str(error).split())[:200]}") from None
        raise
    return target, copied
