"""The workbook writer: well-formed parts, text kept as text whatever it holds, exact numbers, the same bytes twice."""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosell.payouts import xlsx

CREATED = dt.datetime(2000, 1, 1)
HOSTILE_TEXT = [
    " leading and trailing ",
    "=HYPERLINK(\"http://evil.example/\",\"x\")",
    "<b>&amp; not markup</b>",
    "tab\tand\nnewline",
    "quote's \"double\"",
    "ünïcödé ✓ 漢字 😀",
    "<r><t>rich</t></r>",  # XlsxWriter wrote this raw, as rich-text markup
]


def workbook(rows, bold_last=False, approved=False):
    sheet = xlsx.Sheet("lines", "DRAFT banner", ("text", "amount_usd", "rate", "count", "day", "flag"), rows,
                       [10, 14, 8, 8, 12, 6], frozenset({"amount_usd"}), bold_last)
    return xlsx.workbook_bytes([sheet, xlsx.Sheet("empty", "DRAFT banner", ("a",), [], [5])],
                               "Title & <co>", "cosell payouts", CREATED, approved)


def test_every_part_is_well_formed_xml_and_the_bytes_repeat():
    rows = [[text, Decimal("1234.50"), Decimal("0.015"), 3, dt.date(2026, 3, 1), True] for text in HOSTILE_TEXT]
    content = workbook(rows)
    assert content == workbook(rows)  # deterministic: fixed zip times and properties
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        assert package.testzip() is None
        for name in package.namelist():
            ET.fromstring(package.read(name))  # raises on malformed XML
            assert package.getinfo(name).date_time == (1980, 1, 1, 0, 0, 0)


def test_text_reads_back_exactly_as_a_string_never_a_formula():
    rows = [[text, None, None, None, None, None] for text in HOSTILE_TEXT]
    ws = openpyxl.load_workbook(io.BytesIO(workbook(rows)))["lines"]
    cells = [ws.cell(row=3 + i, column=1) for i in range(len(HOSTILE_TEXT))]
    assert [c.value for c in cells] == HOSTILE_TEXT
    assert {c.data_type for c in cells} == {"s"}


def excel_reads(cell_text: str) -> str:
    """What Excel shows for a cell's text: XML unescaped, then every _xHHHH_ decoded."""
    unescaped = ET.fromstring(f"<t>{cell_text}</t>").text or ""
    return re.sub("_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), unescaped)


def test_control_characters_are_escaped_the_way_excel_reads_them():
    # Excel writes a control character as _xHHHH_ and the underscore of what would read as one as _x005F_.
    assert xlsx.text("a\x01b") == "a_x0001_b"
    assert xlsx.text("_x0041_") == "_x005F_x0041_"
    assert xlsx.text("\ufffe") == "_xFFFE_"
    assert xlsx.text("_x0041_x0042_") == "_x005F_x0041_x005F_x0042_"  # overlapping escapes
    assert xlsx.text("_x0041\x01") == "_x005F_x0041_x0001_"  # a control character's escape closing a literal
    content = workbook([["bell\x07", None, None, None, None, None]])
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        ET.fromstring(package.read("xl/worksheets/sheet1.xml"))


@given(st.text(alphabet=st.sampled_from("_x0041Ff\x01\x1f\t\n\ufffe<&a😀"), max_size=40))
def test_excel_reads_back_exactly_the_text_written(value):
    assert excel_reads(xlsx.text(value)) == value


def test_text_stops_at_excels_limit_in_utf16_units():
    assert len(xlsx.text("x" * 40000)) == xlsx.MAX_CELL_TEXT
    emoji = xlsx.cut("😀" * 40000)  # two UTF-16 units each
    assert len(emoji) == xlsx.MAX_CELL_TEXT // 2 and len(emoji.encode("utf-16-le")) // 2 <= xlsx.MAX_CELL_TEXT
    assert xlsx.cut("a" + "😀" * 16383) == "a" + "😀" * 16383  # 32,767 units: kept whole
    ws = openpyxl.load_workbook(io.BytesIO(workbook([["😀" * 40000, None, None, None, None, None]])))["lines"]
    assert ws["A3"].value == "😀" * (xlsx.MAX_CELL_TEXT // 2)


def test_values_a_spreadsheet_cannot_hold_are_refused():
    for bad in (Decimal("NaN"), Decimal("Infinity"), dt.date(1900, 2, 28)):
        with pytest.raises(ValueError):
            workbook([["a", bad if isinstance(bad, Decimal) else None, None, None,
                       bad if isinstance(bad, dt.date) else None, None]])
    with pytest.raises(ValueError):
        workbook([], bold_last=True)  # a total row without a row
    with pytest.raises(ValueError):
        xlsx.workbook_bytes([xlsx.Sheet("my sheet", "b", ("a",), [], [5])], "t", "a", CREATED, False)


def test_numbers_dates_booleans_and_formats():
    rows = [["a", Decimal("1234567.89"), Decimal("0.015"), 7, dt.date(2026, 3, 1), False],
            ["TOTAL", Decimal("1234567.89"), None, 1, None, None]]
    wb = openpyxl.load_workbook(io.BytesIO(workbook(rows, bold_last=True)))
    ws = wb["lines"]
    assert ws["A1"].value == "DRAFT banner" and ws["A1"].font.b
    assert [c.value for c in ws[2]] == ["text", "amount_usd", "rate", "count", "day", "flag"]
    assert all(c.font.b for c in ws[2]) and ws.freeze_panes == "A3"
    amount, rate, count, day, flag = ws["B3"], ws["C3"], ws["D3"], ws["E3"], ws["F3"]
    assert amount.value == 1234567.89 and amount.number_format == "#,##0.00" and not amount.font.b
    assert rate.value == 0.015 and rate.number_format == "General"
    assert count.value == 7 and day.value == dt.datetime(2026, 3, 1) and day.number_format == "yyyy-mm-dd"
    assert flag.value is False and flag.data_type == "b"
    assert ws["A4"].font.b and ws["B4"].font.b and ws["B4"].number_format == "#,##0.00"
    assert ws.auto_filter.ref == "A2:F3"  # the filter leaves the total row out
    assert ws.column_dimensions["B"].width == 14.7109375  # what XlsxWriter's set_column(14) stores
    assert wb["empty"].auto_filter.ref == "A2:A2" and wb["empty"].max_row == 2
    assert wb.properties.title == "Title & <co>" and wb.properties.created == CREATED
    with zipfile.ZipFile(io.BytesIO(workbook(rows))) as package:
        styles = package.read("xl/styles.xml").decode()
    # fonts by name: without a theme part, a font scheme would let Excel substitute its own default font
    assert "<scheme" not in styles and styles.count('<name val="Calibri"/>') == 3


def test_the_banner_is_red_on_a_draft_and_green_once_approved():
    draft = openpyxl.load_workbook(io.BytesIO(workbook([])))["lines"]["A1"]
    approved = openpyxl.load_workbook(io.BytesIO(workbook([], approved=True)))["lines"]["A1"]
    assert draft.fill.fgColor.rgb == "FFFFC7CE" and draft.font.color.rgb == "FF9C0006"
    assert approved.fill.fgColor.rgb == "FFC6EFCE" and approved.font.color.rgb == "FF006100"


def test_column_letters():
    assert [xlsx.column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == ["A", "Z", "AA", "AB", "ZZ", "AAA"]
