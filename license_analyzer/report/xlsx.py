"""A streaming XLSX writer for one sheet of plain values.

openpyxl spends about a millisecond per row serializing XML through ElementTree, which is
minutes for the 200,000-user exports; this writes the same SpreadsheetML directly. Strings are
inline strings (t="inlineStr"), so a value is never a formula whatever it starts with;
callers still neutralize risky text for the other spreadsheet readers.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import polars as pl

# XML 1.0 cannot carry most control characters at all; Excel refuses the file if they appear.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CHUNK_ROWS = 2_000

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/xl/workbook.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
<Override PartName="/xl/worksheets/sheet1.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
<Override PartName="/xl/styles.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
</Types>"""

_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" \
Target="xl/workbook.xml"/></Relationships>"""

_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">\
<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>"""

_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
<Relationship Id="rId1" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" \
Target="worksheets/sheet1.xml"/>\
<Relationship Id="rId2" \
Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" \
Target="styles.xml"/></Relationships>"""

# style 0: normal; style 1: the bold, shaded header
_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>\
<fills count="3"><fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill>\
<fill><patternFill patternType="solid"><fgColor rgb="FFE8EAF6"/></patternFill></fill></fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>\
</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
</styleSheet>"""

_SHEET_HEAD = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
<sheetViews><sheetView workbookViewId="0">\
<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>\
</sheetView></sheetViews><sheetData>"""

_SHEET_TAIL = "</sheetData>{filter}</worksheet>"


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text(value: str) -> str:
    return escape(_ILLEGAL_XML.sub("", value))


def _cell(ref: str, value: Any, style: int = 0) -> str:
    s = f' s="{style}"' if style else ""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"{s}><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"{s}><v>{value!r}</v></c>'
    text = _text(str(value))
    return f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">{text}</t></is></c>'


@contextmanager
def _sheet(path: Path, sheet_name: str, header: Sequence[str], compresslevel: int
           ) -> Iterator[Callable[[str, int], None]]:
    """The workbook around one sheet and its bold header row; yields `write(xml, last_row)`
    for the rows, then closes the sheet with an autofilter over what was written."""
    letters = [column_letter(i) for i in range(max(len(header), 1))]
    last = [1]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=compresslevel) as book:
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/workbook.xml", _WORKBOOK.format(name=_text(sheet_name[:31])))
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        book.writestr("xl/styles.xml", _STYLES)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD.encode())
            cells = "".join(_cell(f"{letters[i]}1", name, 1) for i, name in enumerate(header))
            sheet.write(f'<row r="1">{cells}</row>'.encode())

            def write(xml: str, last_row: int) -> None:
                sheet.write(xml.encode())
                last[0] = last_row

            yield write
            span = f'<autoFilter ref="A1:{letters[-1]}{last[0]}"/>' if header else ""
            sheet.write(_SHEET_TAIL.format(filter=span).encode())


def write_sheet(path: Path, sheet_name: str, header: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> None:
    """One worksheet: a bold frozen header with an autofilter, then the rows' values
    (str, int, float, bool or None)."""
    letters = [column_letter(i) for i in range(max(len(header), 1))]
    with _sheet(path, sheet_name, header, compresslevel=5) as write:
        number = 1
        chunk: list[str] = []
        for row in rows:
            number += 1
            cells = "".join(_cell(f"{letters[i]}{number}", value)
                            for i, value in enumerate(row))
            chunk.append(f'<row r="{number}">{cells}</row>')
            if len(chunk) >= _CHUNK_ROWS:
                write("".join(chunk), number)
                chunk = []
        write("".join(chunk), number)


def _cell_exprs(frame: pl.DataFrame, letters: list[str]) -> list[pl.Expr]:
    """Each column's cell XML for every row (`_r` is the row number), "" where empty: what
    `_cell` writes, built by Polars for all rows at once."""
    out = []
    for letter, (name, dtype) in zip(letters, frame.schema.items(), strict=True):
        ref = pl.concat_str([pl.lit(f'<c r="{letter}'), pl.col("_r")])
        column = pl.col(name)
        if dtype.is_numeric():
            cell = pl.concat_str([ref, pl.lit('"><v>'), column.cast(pl.String),
                                  pl.lit("</v></c>")])
        elif dtype == pl.Null:
            cell = pl.lit("")
        else:
            text = (column.cast(pl.String).str.replace_all(_ILLEGAL_XML_RUST, "")
                    .str.replace_all("&", "&amp;", literal=True)
                    .str.replace_all("<", "&lt;", literal=True)
                    .str.replace_all(">", "&gt;", literal=True))
            cell = pl.concat_str([ref, pl.lit('" t="inlineStr"><is><t xml:space="preserve">'),
                                  text, pl.lit("</t></is></c>")])
            cell = pl.when(column.cast(pl.String) == "").then(pl.lit("")).otherwise(cell)
        out.append(cell.fill_null(""))
    return out


# _ILLEGAL_XML in the regex syntax Polars speaks
_ILLEGAL_XML_RUST = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}]"
_FRAME_CHUNK_ROWS = 20_000


def write_sheet_frame(path: Path, sheet_name: str, frame: pl.DataFrame) -> None:
    """write_sheet for a frame of cells (numbers, or text already neutralized; null is an
    empty cell), each row's XML built by Polars: write_sheet's file, without a Python call
    per cell (seconds at 300,000 rows)."""
    header = frame.columns
    letters = [column_letter(i) for i in range(max(len(header), 1))]
    exprs = _cell_exprs(frame, letters[:len(header)])
    # level 1: the sheet's XML repeats itself so much that the fastest level still shrinks it
    # about ten times; level 5 took two seconds longer at 300,000 rows
    with _sheet(path, sheet_name, header, compresslevel=1) as write:
        for start in range(0, frame.height, _FRAME_CHUNK_ROWS):
            chunk = frame.slice(start, _FRAME_CHUNK_ROWS).with_row_index(
                "_r", offset=start + 2).with_columns(pl.col("_r").cast(pl.String))
            rows = chunk.select(pl.concat_str([
                pl.lit('<row r="'), pl.col("_r"), pl.lit('">'), *exprs,
                pl.lit("</row>")]).alias("xml"))
            write("".join(rows["xml"].to_list()), start + chunk.height + 1)
