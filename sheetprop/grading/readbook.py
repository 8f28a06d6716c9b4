"""A student's workbook as the grader reads it: every cell, the stored results, the names.

`read_book` opens the file through `sheetprop.engines.openbook` (container checks first,
guarded XML), reads each sheet's cells as the file holds them, and keeps within the limits:
`CellCount` stops a sheet with a million used rows, `Extent` a sheet whose few cells spread
over a range an engine would have to fill.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sheetprop.cells import Ref, a1
from sheetprop.engines.openbook import SPREAD, Container, WorkbookError, check_container, first_line, load, sheet_cells
from sheetprop.engines.screen import DATA_TABLE
from sheetprop.limits import MAX_CELLS, MAX_UNCOMPRESSED


class CellCount:
    """Counts the cells read from one workbook: over `limit` cells with content, or `SPREAD` times
    as many cells in all (formatting only: a sheet formatted down to row 1,048,576), a WorkbookError."""

    def __init__(self, path, limit: int = MAX_CELLS):
        self.path, self.limit, self.n, self.read = path, limit, 0, 0

    def add(self, sheet: str, content: bool = True) -> None:
        self.read += 1
        self.n += content
        if self.n > self.limit or self.read > self.limit * SPREAD:
            raise WorkbookError(
                f"{self.path}: holds more than {self.limit:,} cells (sheet {sheet!r} goes on and on); an exercise "
                "needs a few hundred: delete what is not part of it, or raise the limit with --max-cells")


class Formula(str):
    """The text of a formula cell, with its leading `=`."""


def number(value: object) -> float | None:
    """A cell's value as a number: a number, or a number stored as text ("0", " 0.5") that
    formulas use as one; None for anything else (a truth value, other text, an error)."""
    if isinstance(value, bool) or isinstance(value, Formula):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


@dataclass
class StudentBook:
    path: str
    sheets: list[str]
    cells: dict[Ref, object]  # number, text, bool or Formula
    cached: dict[Ref, object]  # stored results of formula cells, as the file holds them
    names: dict[str, str] = field(default_factory=dict)  # defined name (lower case) → what it refers to
    container: Container = field(default_factory=Container)




def read_book(path: str | Path, max_uncompressed: int = MAX_UNCOMPRESSED, max_cells: int = MAX_CELLS) -> StudentBook:
    """Every cell the file holds, the stored results of formulas and the defined names.

    Sheets are parsed lazily while their cells are read, so a damaged sheet fails here:
    every failure is a one-line WorkbookError. openpyxl's warnings are kept quiet.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read_book(path, max_uncompressed, max_cells)
    except WorkbookError:
        raise
    except RecursionError:
        raise WorkbookError(f"{path}: cannot read the workbook (nested too deeply); open it and save it again "
                            "as .xlsx") from None
    except Exception as exc:  # noqa: BLE001 - malformed XML inside a sheet, bad cell values, …
        raise WorkbookError(f"{path}: cannot read the workbook ({first_line(exc)}); open it and save it again "
                            "as .xlsx") from None


def _read_book(path: str | Path, max_uncompressed: int, max_cells: int) -> StudentBook:
    book = StudentBook(str(path), [], {}, {}, container=check_container(path, max_uncompressed))
    count = CellCount(path, max_cells)
    wb = load(path, read_only=True, checked=True)
    try:
        book.sheets = list(wb.sheetnames)
        for ws in wb.worksheets:
            box = Extent(ws.title)
            for cell in sheet_cells(ws, cached=True):
                value = cell["value"]
                count.add(ws.title, value is not None)
                if value is None:
                    continue  # formatting only: it costs the reading, not the limit
                box.add(cell["row"], cell["column"])
                key = Ref.at(ws.title, cell["row"], cell["column"])
                if cell["data_type"] == "f":
                    value = _formula(value)
                    if cell.get("cached") is not None:
                        book.cached[key] = cell["cached"]
                book.cells[key] = value
            box.check(path, count.limit * SPREAD)
            for name, dn in getattr(ws, "defined_names", {}).items():
                book.names.setdefault(name.lower(), dn.attr_text or "")
        for name, dn in wb.defined_names.items():
            book.names[name.lower()] = dn.attr_text or ""  # workbook scope wins over sheet scope
    finally:
        wb.close()
    return book


class Extent:
    """The rectangle a sheet's cells span: an engine may fill every position of it."""

    def __init__(self, sheet: str):
        self.sheet, self.bottom, self.right = sheet, 0, 0
        self.top: int | None = None
        self.left: int | None = None

    def add(self, row: int, col: int) -> None:
        self.top = row if self.top is None else min(self.top, row)
        self.left = col if self.left is None else min(self.left, col)
        self.bottom, self.right = max(self.bottom, row), max(self.right, col)

    def check(self, path, limit: int) -> None:
        if self.top is None or self.left is None:
            return
        area = (self.bottom - self.top + 1) * (self.right - self.left + 1)
        if area > limit:
            span = f"{a1(self.top - 1, self.left - 1)}:{a1(self.bottom - 1, self.right - 1)}"
            raise WorkbookError(
                f"{path}: the cells of sheet {self.sheet!r} spread over {span} ({area:,} positions, which an engine "
                "would fill); delete the stray cells far from the work (Ctrl+End shows the last one)")


def _formula(value) -> Formula:
    """A formula cell's text with its `=`; an array formula's text; a data table is `=TABLE()`."""
    text = getattr(value, "text", value)  # ArrayFormula has .text
    if not isinstance(text, str):
        return Formula(DATA_TABLE)  # a What-If data table (DataTableFormula): no formula text
    return Formula(text if text.startswith("=") else "=" + text)
