"""Writes the finance workbook's SpreadsheetML (.xlsx) itself: inline strings, one fixed style table, deterministic bytes.

The parts and their XML follow what XlsxWriter writes for the same sheets (banner, frozen bold header with
filters, money and date formats, sized columns); a sheet's rows are rendered as text in one pass, which is
what makes a period of 40k lines take a second instead of ten (payouts/README.md, "The workbook").
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from typing import Any, Sequence

# Cell styles: indexes into styles.xml's cellXfs, in this order.
PLAIN, STATUS, HEADER, MONEY, BOLD, MONEY_BOLD, DATE = range(7)
MAX_CELL_TEXT = 32767  # Excel's limit on a cell's text in UTF-16 units; longer text is cut there (the CSVs hold it whole)
EPOCH = dt.date(1899, 12, 30)  # Excel's day 0 (1900 date system)
FIRST_DATE = dt.date(1900, 3, 1)  # serials before it carry Excel's 1900 leap-year bug: refused
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
TAB_SELECTED = ' tabSelected="1"'
_CONTROL = "\x00-\x08\x0b-\x1f\ufffe\uffff"  # not allowed in XML 1.0 (or not a character): written as _xHHHH_
# A control character, or an underscore that Excel would read as the start of an _xHHHH_ escape: the
# underscore of a literal _xHHHH_, or of _xHHHH followed by a control character (whose escape ends in _).
_ESCAPES = re.compile(f"_(?=x[0-9A-Fa-f]{{4}}(?:_|[{_CONTROL}]))|[{_CONTROL}]")


@dataclass(frozen=True)
class Sheet:
    """One sheet: a banner in A1, a header row, then rows of cell values (None, bool, int, Decimal, date, str).

    title is a plain name (letters, digits, underscores: the filter's defined name uses it unquoted); money
    names the columns whose numbers show with the money format; bold_last makes the last row a total.
    """

    title: str
    banner: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    widths: Sequence[float]
    money: frozenset[str] = frozenset()
    bold_last: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\w+", self.title, re.ASCII):
            raise ValueError(f"sheet title {self.title!r}: letters, digits and underscores only")
        if self.bold_last and not self.rows:
            raise ValueError(f"sheet {self.title}: a total row needs a row")

    @property
    def last_row(self) -> int:
        """The sheet's last row number (banner 1, header 2, then the rows)."""
        return 2 + len(self.rows)

    @property
    def filter_end(self) -> tuple[str, int]:
        """Column and row of the filter's last cell (it starts at A2, the header; the total row left out)."""
        return column_letter(len(self.columns) - 1), self.last_row - (1 if self.bold_last else 0)


def escape(value: str) -> str:
    """XML text or attribute value: &, <, > and double quotes escaped."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def cut(value: str) -> str:
    """value cut to MAX_CELL_TEXT UTF-16 units (a character beyond the BMP counts two), as Excel counts."""
    if len(value) <= MAX_CELL_TEXT // 2:
        return value
    units = 0
    for index, char in enumerate(value):
        units += 2 if char > "\uffff" else 1
        if units > MAX_CELL_TEXT:
            return value[:index]
    return value


def text(value: str) -> str:
    """A string as cell text: cut to Excel's limit, control characters as Excel's _xHHHH_, XML-escaped.

    Excel decodes every _xHHHH_ in a cell's text, so an underscore that would start one is written _x005F_.
    """
    return escape(_ESCAPES.sub(_escaped, cut(value)))


def _escaped(match: re.Match) -> str:
    char = match.group()
    return "_x005F_" if char == "_" else f"_x{ord(char):04X}_"


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@functools.lru_cache(maxsize=4096)
def _inline_text(value: str) -> str:
    """The <t> element of a string (cached: a sheet repeats its partner ids, names, tiers and rule ids)."""
    body = text(value)
    space = ' xml:space="preserve"' if body[:1].isspace() or body[-1:].isspace() else ""
    return f"<t{space}>{body}</t>"


def _string_cell(ref: str, value: str, style: int) -> str:
    styled = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{styled} t="inlineStr"><is>{_inline_text(value)}</is></c>'


def _cell(ref: str, value: Any, money: bool, bold: bool) -> str:
    """One cell's XML; "" for None. Numbers are written exactly as their Decimal text.

    Strings are looked at first: most of a sheet's cells are (5.4M cells at 10M deals).
    """
    if type(value) is str:
        return _string_cell(ref, value, BOLD if bold else PLAIN)
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cell {ref}: {value} is not a number a spreadsheet can hold")
        style = (MONEY_BOLD if bold else MONEY) if money else 0
        styled = f' s="{style}"' if style else ""
        return f'<c r="{ref}"{styled}><v>{value:f}</v></c>'
    if isinstance(value, int):
        styled = f' s="{BOLD}"' if bold else ""
        return f'<c r="{ref}"{styled}><v>{value}</v></c>'
    if isinstance(value, dt.date):
        if value < FIRST_DATE:
            raise ValueError(f"cell {ref}: {value} is before {FIRST_DATE}, where Excel's serial dates are off by a day")
        return f'<c r="{ref}" s="{DATE}"><v>{(value - EPOCH).days}</v></c>'
    return _string_cell(ref, str(value), BOLD if bold else PLAIN)


def _width(chars: float) -> str:
    """Excel's stored width of a column at least one character wide (Calibri 11: 7 px a digit, 5 px padding)."""
    return f"{int((int(chars * 7 + 0.5) + 5) / 7 * 256) / 256:.10g}"


def sheet_xml(sheet: Sheet, selected: bool) -> str:
    """The worksheet part of one Sheet."""
    letters = [column_letter(c) for c in range(len(sheet.columns))]
    filter_column, filter_row = sheet.filter_end
    spans = f"1:{len(letters)}"
    money = [column in sheet.money for column in sheet.columns]
    parts = [
        _HEAD, f"<worksheet {_NS} {_NS_R}>", f'<dimension ref="A1:{letters[-1]}{sheet.last_row}"/>',
        f'<sheetViews><sheetView{TAB_SELECTED if selected else ""} workbookViewId="0">'
        '<pane ySplit="2" topLeftCell="A3" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft"/></sheetView></sheetViews>',
        '<sheetFormatPr defaultRowHeight="15"/><cols>',
        *(f'<col min="{c + 1}" max="{c + 1}" width="{_width(w)}" customWidth="1"/>' for c, w in enumerate(sheet.widths)),
        "</cols><sheetData>",
        f'<row r="1" spans="{spans}">{_string_cell("A1", sheet.banner, STATUS)}</row>',
        f'<row r="2" spans="{spans}">',
        *(_string_cell(f"{letter}2", column, HEADER) for letter, column in zip(letters, sheet.columns)),
        "</row>",
    ]
    total = len(sheet.rows) - 1 if sheet.bold_last else -1
    for r, row in enumerate(sheet.rows):
        number = r + 3
        bold = r == total
        cells = "".join(_cell(f"{letter}{number}", value, is_money, bold)
                        for letter, value, is_money in zip(letters, row, money))
        parts.append(f'<row r="{number}" spans="{spans}">{cells}</row>')
    parts.append(f'</sheetData><autoFilter ref="A2:{filter_column}{filter_row}"/>'
                 '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>')
    return "".join(parts)


def _styles(approved: bool) -> str:
    font_color, fill = ("FF006100", "FFC6EFCE") if approved else ("FF9C0006", "FFFFC7CE")
    # Calibri 11 by name (no theme part, so no font scheme: Excel would fall back to its own default font)
    font = '<sz val="11"/><color rgb="FF000000"/><name val="Calibri"/><family val="2"/>'
    return (
        f'{_HEAD}<styleSheet {_NS}>'
        '<numFmts count="2"><numFmt numFmtId="164" formatCode="#,##0.00"/><numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
        f'<fonts count="3"><font>{font}</font>'
        f'<font><b/><sz val="11"/><color rgb="{font_color}"/><name val="Calibri"/><family val="2"/></font>'
        f'<font><b/>{font}</font></fonts>'
        '<fills count="4"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
        f'<fill><patternFill patternType="solid"><fgColor rgb="{fill}"/><bgColor indexed="64"/></patternFill></fill>'
        '<fill><patternFill patternType="solid"><fgColor rgb="FFD9D9D9"/><bgColor indexed="64"/></patternFill></fill></fills>'
        '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
        '<border><left/><right/><top/><bottom style="thin"><color auto="1"/></bottom><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="7">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
        '<xf numFmtId="0" fontId="2" fillId="3" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '<xf numFmtId="164" fontId="2" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" applyFont="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" defaultPivotStyle="PivotStyleLight16"/>'
        '</styleSheet>'
    )


def _workbook(sheets: Sequence[Sheet]) -> str:
    names = "".join(f'<sheet name="{s.title}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, s in enumerate(sheets))
    filters = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
        f"{s.title}!$A$2:${s.filter_end[0]}${s.filter_end[1]}</definedName>"
        for i, s in enumerate(sheets)
    )
    return (f'{_HEAD}<workbook {_NS} {_NS_R}><workbookPr/><bookViews><workbookView/></bookViews>'
            f'<sheets>{names}</sheets><definedNames>{filters}</definedNames><calcPr calcId="124519"/></workbook>')


def _content_types(count: int) -> str:
    main = "application/vnd.openxmlformats-officedocument"
    sheets = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{main}.spreadsheetml.worksheet+xml"/>'
                     for i in range(1, count + 1))
    return (
        f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{main}.spreadsheetml.styles+xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{main}.spreadsheetml.sheet.main+xml"/>{sheets}</Types>'
    )


def _core(title: str, author: str, created: dt.datetime) -> str:
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'{_HEAD}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(title)}</dc:title><dc:creator>{escape(author)}</dc:creator>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified></cp:coreProperties>'
    )


def workbook_bytes(sheets: Sequence[Sheet], title: str, author: str, created: dt.datetime, approved: bool) -> bytes:
    """The .xlsx file of the sheets (the first one selected); equal inputs give equal bytes."""
    package = '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    parts = {
        "[Content_Types].xml": _content_types(len(sheets)),
        "_rels/.rels": f'{_HEAD}{package}<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
                       '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/'
                       'metadata/core-properties" Target="docProps/core.xml"/></Relationships>',
        "docProps/core.xml": _core(title, author, created),
        "xl/workbook.xml": _workbook(sheets),
        "xl/_rels/workbook.xml.rels": (
            f"{_HEAD}{package}"
            + "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                      for i in range(1, len(sheets) + 1))
            + f'<Relationship Id="rId{len(sheets) + 1}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": _styles(approved),
        **{f"xl/worksheets/sheet{i + 1}.xml": sheet_xml(s, i == 0) for i, s in enumerate(sheets)},
    }
    raw = BytesIO()
    # deflate level 1: the 10M month's 341 MB lines sheet in 1.1 s instead of 3.7 s (level 6), 37 MB instead of 31
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package_zip:
        for name, xml in parts.items():
            info = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            package_zip.writestr(info, xml.encode("utf-8"))
    return raw.getvalue()
