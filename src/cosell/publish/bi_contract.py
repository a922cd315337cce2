"""Writes the BI contract (docs/bi_contract.md): every published table's grain, columns, types and meanings.

Types and meanings are read from a published DuckDB file (the comments dbt's descriptions became), grains from
the marts' uniqueness tests in the dbt yml, so the document says what BI tools actually get. Run
`python -m cosell.publish.bi_contract PUBLISHED.duckdb [docs/bi_contract.md]` after changing a mart; a test checks that
the committed document matches a published copy built from the current models.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from cosell.config import PROJECT_ROOT
from cosell.errors import CosellError
from cosell.publish.copy import parquet_path
from cosell.publish.grains import PAYOUT_GRAINS, grains

DOCUMENT = PROJECT_ROOT / "docs" / "bi_contract.md"
BEGIN = "<!-- BEGIN GENERATED: python -m cosell.publish.bi_contract (do not edit by hand) -->"
END = "<!-- END GENERATED -->"
SCHEMAS = ("marts", "payouts")


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def render(published: Path) -> str:
    """The generated part of the contract, from a published DuckDB file."""
    keys = dict(grains(), **{f"payouts.{k}": v for k, v in PAYOUT_GRAINS.items()})
    try:
        con = duckdb.connect(str(published), read_only=True)
    except duckdb.Error as error:
        raise CosellError(f"cannot open {published}: {' '.join(str(error).split())[:200]}") from None
    try:
        tables = con.execute(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE schema_name IN ('marts', 'payouts') "
            "ORDER BY schema_name <> 'marts', table_name"
        ).fetchall()
        parts = []
        for schema, name, comment in tables:
            key = name if schema == "marts" else f"{schema}.{name}"
            grain = keys.get(key)
            parquet = parquet_path(Path("parquet"), schema, name).as_posix()
            rows = con.execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
                "ORDER BY column_index",
                [schema, name],
            ).fetchall()
            parts.append("\n".join([
                f"### `{schema}.{name}`",
                "",
                _cell(comment) or "(no description)",
                "",
                f"Grain: one row per ({', '.join(f'`{c}`' for c in grain)})." if grain else
                "Grain: see the description.",
                f"Parquet: `{parquet}`.",
                "",
                "| column | type | meaning |",
                "|---|---|---|",
                *(f"| `{column}` | {kind} | {_cell(text)} |" for column, kind, text in rows),
            ]))
    finally:
        con.close()
    return "\n\n".join(parts) + "\n"


def write(published: Path, document: Path = DOCUMENT) -> Path:
    """Replace the generated part of the document (between the markers) with render(published)."""
    text = document.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise CosellError(f"{document} lacks the markers {BEGIN!r} and {END!r}")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    document.write_text(f"{head}{BEGIN}\n\n{render(published)}\n{END}{tail}", encoding="utf-8")
    return document


def generated_part(document: Path = DOCUMENT) -> str:
    """What the document holds between the markers."""
    return document.read_text(encoding="utf-8").split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m cosell.publish.bi_contract PUBLISHED.duckdb [docs/bi_contract.md]")
    print(write(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else DOCUMENT))
