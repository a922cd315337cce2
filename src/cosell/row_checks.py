"""SQL that checks text fields against the contract (SPEC section 1) and casts them to raw types.

Every expression works on text columns (CSV read as VARCHAR, Parquet cast to VARCHAR), so
CSV and Parquet inputs go through exactly one set of rules.
"""

from __future__ import annotations

from cosell.contract import CLOSED_STAGES, SURVEY_SCORE_RANGE, Column, Feed


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_INTEGER = r"^[+-]?[0-9]+$"
_DECIMAL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_CURRENCY = r"^[A-Z]{3}$"


def typed(column: Column, source: str | None = None) -> str:
    """Expression casting the text column to its raw type (valid rows only reach it)."""
    x = source or ident(column.name)
    if column.type == "int":
        return f"CAST({x} AS INTEGER)"
    if column.type in ("money", "rate"):
        return f"CAST({x} AS {column.duckdb_type})"
    if column.type == "date":
        return f"CAST({x} AS DATE)"
    if column.type == "timestamp":
        return f"timezone('UTC', CAST({x} AS TIMESTAMPTZ))"
    if column.type == "bool":
        return f"(lower({x}) = 'true')"
    return x


def _value_problem(column: Column) -> tuple[str, str]:
    """(condition that is TRUE when a non-null value is invalid, what the value should be)."""
    x = ident(column.name)
    if column.type == "enum":
        values = ", ".join(literal(v) for v in column.values)
        return f"{x} NOT IN ({values})", "one of " + "|".join(column.values)
    if column.type == "int":
        bad = f"NOT regexp_full_match({x}, '{_INTEGER}') OR TRY_CAST({x} AS INTEGER) IS NULL"
        what = "a whole number"
        if column.low is not None:
            bad += f" OR TRY_CAST({x} AS INTEGER) < {column.low}"
        if column.high is not None:
            bad += f" OR TRY_CAST({x} AS INTEGER) > {column.high}"
        if column.low is not None or column.high is not None:
            what += f" in [{column.low if column.low is not None else ''}, {column.high if column.high is not None else ''}]"
        return bad, what
    if column.type in ("money", "rate"):
        exact = f"TRY_CAST({x} AS DECIMAL(38,18)) <> TRY_CAST({x} AS {column.duckdb_type})"
        bad = (
            f"NOT regexp_full_match({x}, '{_DECIMAL}') OR TRY_CAST({x} AS {column.duckdb_type}) IS NULL "
            f"OR {exact} OR TRY_CAST({x} AS DECIMAL(38,18)) < 0"
        )
        scale = column.duckdb_type.split(",")[1].rstrip(")")
        return bad, f"a non-negative decimal number with at most {scale} decimals"
    if column.type == "date":
        return f"NOT regexp_full_match({x}, '{_DATE}') OR TRY_CAST({x} AS DATE) IS NULL", "a date YYYY-MM-DD"
    if column.type == "timestamp":
        return f"TRY_CAST({x} AS TIMESTAMPTZ) IS NULL", "an ISO-8601 timestamp"
    if column.type == "bool":
        return f"lower({x}) NOT IN ('true', 'false')", "true or false"
    if column.type == "currency":
        return f"NOT regexp_full_match({x}, '{_CURRENCY}')", "a three-letter upper-case ISO 4217 code"
    return "false", ""


def _column_messages(column: Column) -> list[str]:
    x = ident(column.name)
    messages = []
    if not column.nullable:
        messages.append(f"CASE WHEN {x} IS NULL THEN {literal(column.name + ': missing required value')} END")
    bad, what = _value_problem(column)
    if bad != "false":
        messages.append(
            f"CASE WHEN {x} IS NOT NULL AND ({bad}) THEN "
            f"{literal(column.name + ': ')} || {literal(chr(39))} || left({x}, 60) || {literal(chr(39) + ' is not ' + what)} END"
        )
    return messages


def _row_rules(feed: Feed) -> list[str]:
    """Cross-column rules of SPEC section 1, as messages."""
    if feed.name == "deals":
        closed = ", ".join(literal(s) for s in CLOSED_STAGES)
        return [
            "CASE WHEN (partner_id IS NULL) <> (motion = 'DIRECT') "
            "THEN 'partner_id must be empty exactly when motion is DIRECT' END",
            "CASE WHEN marketplace IS NOT NULL AND motion <> 'MARKETPLACE' "
            "THEN 'marketplace is set only for motion MARKETPLACE' END",
            f"CASE WHEN (closed_at IS NULL) = (stage IN ({closed})) "
            "THEN 'closed_at must be set exactly when stage is CLOSED_WON or CLOSED_LOST' END",
        ]
    if feed.name == "satisfaction":
        rules = []
        for survey, (low, high) in SURVEY_SCORE_RANGE.items():
            rules.append(
                f"CASE WHEN survey_type = '{survey}' AND TRY_CAST(score AS INTEGER) NOT BETWEEN {low} AND {high} "
                f"THEN 'score: ' || score || ' is outside {low}..{high} for {survey}' END"
            )
        return rules
    return []


def reason_expression(feed: Feed) -> str:
    """Expression giving every broken rule of a row, '; '-joined, or NULL for a valid row."""
    messages = [m for c in feed.columns for m in _column_messages(c)] + _row_rules(feed)
    return "NULLIF(concat_ws('; ', " + ", ".join(messages) + "), '')"


def csv_render(names: list[str]) -> str:
    """Expression rendering a row's text fields back as one RFC 4180 CSV line (for raw_line)."""
    fields = []
    for name in names:
        x = ident(name)
        fields.append(
            f"CASE WHEN {x} IS NULL THEN '' "
            f"WHEN regexp_matches({x}, '[\",\\r\\n]') OR {x} = '' THEN '\"' || replace({x}, '\"', '\"\"') || '\"' "
            f"ELSE {x} END"
        )
    return " || ',' || ".join(fields) if fields else "''"
