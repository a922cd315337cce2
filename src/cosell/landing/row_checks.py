"""SQL that checks text fields against the contract (SPEC section 1) and casts them to raw types.

Every expression works on text columns (CSV read as VARCHAR, Parquet rendered as text), so CSV
and Parquet inputs go through exactly one set of rules. Expressions name a file's fields through
`cols` (contract column name -> SQL expression), never by the header's own spelling, so no
extra column of a file can reach the names the checks use.
"""

from __future__ import annotations

from cosell.contract import CLOSED_STAGES, DATE_RANGE, SURVEY_SCORE_RANGE, Column, Feed


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_INTEGER = r"^[+-]?[0-9]+$"
_DECIMAL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# ISO-8601 with a zone: Z or a real offset (-12:00..+14:00), at most microseconds (SPEC section 1).
_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-](0[0-9]|1[0-3])(:?[0-5][0-9])?|[+-]14(:?00)?)$"
)
_CURRENCY = r"^[A-Z]{3}$"


def typed(column: Column, source: str) -> str:
    """Expression casting the text field to its raw type (valid rows only reach it)."""
    x = source
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


def _in_date_range(text: str) -> str:
    """The date as written (the first ten characters, already checked as YYYY-MM-DD) lies in DATE_RANGE."""
    low, high = DATE_RANGE
    return f"(left({text}, 10) BETWEEN '{low}' AND '{high}')"


def _value_problem(column: Column, x: str) -> tuple[str, str]:
    """(condition that is TRUE when a non-null value is invalid, what the value should be)."""
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
        wide = f"TRY_CAST({x} AS DECIMAL(38,18))"
        bad = (
            f"NOT regexp_full_match({x}, '{_DECIMAL}') OR TRY_CAST({x} AS {column.duckdb_type}) IS NULL "
            f"OR {wide} <> TRY_CAST({x} AS {column.duckdb_type}) OR {wide} < 0 OR {wide} > {column.high}"
        )
        scale = column.duckdb_type.split(",")[1].rstrip(")")
        return bad, (
            f"a non-negative decimal number with at most {scale} decimals, at most {column.high} "
            "(the most the warehouse carries through fx)"
        )
    low, high = DATE_RANGE
    if column.type == "date":
        bad = f"NOT regexp_full_match({x}, '{_DATE}') OR TRY_CAST({x} AS DATE) IS NULL OR NOT {_in_date_range(x)}"
        return bad, f"a date YYYY-MM-DD from {low} to {high}"
    if column.type == "timestamp":
        instant = f"TRY_CAST({x} AS TIMESTAMPTZ)"
        bad = f"NOT regexp_full_match({x}, '{_TIMESTAMP}') OR {instant} IS NULL OR NOT {_in_date_range(x)}"
        return bad, f"an ISO-8601 timestamp with Z or an offset, at most microseconds, from {low} to {high}"
    if column.type == "bool":
        return f"lower({x}) NOT IN ('true', 'false')", "true or false"
    if column.type == "currency":
        return f"NOT regexp_full_match({x}, '{_CURRENCY}')", "a three-letter upper-case ISO 4217 code"
    return "false", ""


def _column_messages(column: Column, x: str) -> list[str]:
    messages = []
    if not column.nullable:
        messages.append(f"CASE WHEN {x} IS NULL THEN {literal(column.name + ': missing required value')} END")
    bad, what = _value_problem(column, x)
    if bad != "false":
        messages.append(
            f"CASE WHEN {x} IS NOT NULL AND ({bad}) THEN "
            f"{literal(column.name + ': ')} || {literal(chr(39))} || left({x}, 60) || {literal(chr(39) + ' is not ' + what)} END"
        )
    return messages


def _row_rules(feed: Feed, cols: dict[str, str]) -> list[str]:
    """Cross-column rules of SPEC section 1, as messages."""
    c = cols
    if feed.name == "deals":
        closed = ", ".join(literal(s) for s in CLOSED_STAGES)
        return [
            f"CASE WHEN ({c['partner_id']} IS NULL) <> ({c['motion']} = 'DIRECT') "
            "THEN 'partner_id must be empty exactly when motion is DIRECT' END",
            f"CASE WHEN {c['marketplace']} IS NOT NULL AND {c['motion']} <> 'MARKETPLACE' "
            "THEN 'marketplace is set only for motion MARKETPLACE' END",
            f"CASE WHEN ({c['closed_at']} IS NULL) = ({c['stage']} IN ({closed})) "
            "THEN 'closed_at must be set exactly when stage is CLOSED_WON or CLOSED_LOST' END",
        ]
    if feed.name == "satisfaction":
        rules = []
        for survey, (low, high) in SURVEY_SCORE_RANGE.items():
            rules.append(
                f"CASE WHEN {c['survey_type']} = '{survey}' AND TRY_CAST({c['score']} AS INTEGER) NOT BETWEEN {low} AND {high} "
                f"THEN 'score: ' || {c['score']} || ' is outside {low}..{high} for {survey}' END"
            )
        return rules
    return []


def reason_expression(feed: Feed, cols: dict[str, str]) -> str:
    """Expression giving every broken rule of a row, '; '-joined, or NULL for a valid row."""
    messages = [m for col in feed.columns for m in _column_messages(col, cols[col.name])] + _row_rules(feed, cols)
    return "NULLIF(concat_ws('; ', " + ", ".join(messages) + "), '')"


def csv_render(fields: list[str]) -> str:
    """Expression rendering a row's text fields back as one RFC 4180 CSV line (for raw_line)."""
    parts = []
    for x in fields:
        parts.append(
            f"CASE WHEN {x} IS NULL THEN '' "
            f"WHEN regexp_matches({x}, '[\",\\r\\n]') OR {x} = '' THEN '\"' || replace({x}, '\"', '\"\"') || '\"' "
            f"ELSE {x} END"
        )
    return " || ',' || ".join(parts) if parts else "''"
