"""One cell reference for all of sheetprop: `Ref(sheet, row, col)`, row and column 0-based.

0-based as XlsxWriter writes (A1 is row 0, column 0); openpyxl's and IronCalc's 1-based
numbers are converted where they are read. A1 text is made and read by XlsxWriter's utility
functions, never by hand. The engines' results are keyed `(sheet, "A1")` (`Ref.key`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from xlsxwriter.utility import quote_sheetname, xl_cell_to_rowcol, xl_col_to_name  # type: ignore[import-untyped]

_QUALIFIED = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!(\$?[A-Za-z]{1,3}\$?\d+)$")
_CELL = re.compile(r"^\$?[A-Za-z]{1,3}\$?\d+$")


@lru_cache(maxsize=None)
def column(col: int) -> str:
    """The letters of a 0-based column: column(27) == "AB"."""
    return xl_col_to_name(col)


def a1(row: int, col: int, absolute: bool = False) -> str:
    """A1 text of a 0-based (row, col): a1(1, 27) == "AB2"; absolute: "$AB$2"."""
    if absolute:
        return f"${column(col)}${row + 1}"
    return f"{column(col)}{row + 1}"


class Ref(NamedTuple):
    """A cell of a workbook: its sheet's name and its 0-based row and column."""

    sheet: str
    row: int
    col: int

    @property
    def a1(self) -> str:
        return a1(self.row, self.col)

    @property
    def key(self) -> tuple[str, str]:
        """(sheet, "A1"): how the engines key their results."""
        return self.sheet, a1(self.row, self.col)

    def absolute(self) -> str:
        """`Network!$D$7`: the reference a formula or a defined name uses."""
        return f"{quote_sheetname(self.sheet)}!{a1(self.row, self.col, True)}"

    def __str__(self) -> str:
        """`Sheet1!B7`, `'ɳ = 0.1 '!E34`: the sheet quoted as Excel writes it when it needs quotes."""
        return f"{quote_sheetname(self.sheet)}!{self.a1}"

    @classmethod
    def at(cls, sheet: str, row1: int, col1: int) -> "Ref":
        """From 1-based numbers, as openpyxl and IronCalc give them."""
        return cls(sheet, row1 - 1, col1 - 1)

    @classmethod
    def from_key(cls, key: tuple[str, str]) -> "Ref":
        row, col = xl_cell_to_rowcol(key[1].upper())
        return cls(key[0], row, col)

    @classmethod
    def parse(cls, text: str, sheet: str | None = None) -> "Ref | None":
        """`Sheet1!$B$7`, `'My sheet'!B7` or `B7` (on `sheet`) as a Ref; None if it is not one cell."""
        text = text.strip().lstrip("=")
        m = _QUALIFIED.match(text)
        if m:
            sheet = (m.group(1) or "").replace("''", "'") or m.group(2)
            cell = m.group(3)
        elif _CELL.match(text) and sheet is not None:
            cell = text
        else:
            return None
        row, col = xl_cell_to_rowcol(cell.upper())
        return cls(sheet, row, col)


def parse_cell(text: str) -> tuple[str | None, int, int] | None:
    """`Sheet1!$B$7` → ("Sheet1", 6, 1); `B7` → (None, 6, 1); None when it is not one cell."""
    text = text.strip().lstrip("=")
    m = _QUALIFIED.match(text)
    if m:
        row, col = xl_cell_to_rowcol(m.group(3).upper())
        return ((m.group(1) or "").replace("''", "'") or m.group(2), row, col) if _on_grid(row, col) else None
    if _CELL.match(text):
        row, col = xl_cell_to_rowcol(text.upper())
        return (None, row, col) if _on_grid(row, col) else None
    return None


def _on_grid(row: int, col: int) -> bool:
    """Inside Excel's sheet: rows 1 to 1,048,576, columns A to XFD (0-based here)."""
    return 0 <= row < 1_048_576 and 0 <= col < 16_384
