"""What every engine module shares: the values they return, their errors, and cell addresses.

Kept apart from the package's `evaluate` so that an engine module never imports the module
that imports it.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass

from sheetprop.errors import SheetpropError


@dataclass(frozen=True)
class CellError:
    """A spreadsheet error value such as "#DIV/0!" or "#NAME?"."""

    code: str

    def __str__(self) -> str:
        return self.code


class EngineError(SheetpropError):
    """The engine could not evaluate the file; the message is one line saying what to do."""


class EngineUnavailable(EngineError):
    """The engine is not installed on this machine."""


class Unloadable(EngineError):
    """The engine cannot load this (valid) workbook at all; another engine may."""


class Results(dict):
    """{(sheet, "A1"): value} for every formula cell and every cell an array formula fills, and
    what was held back from the engine.

    `held` maps the cells whose formula reaches outside the workbook, or too far inside it
    (`sheetprop.engines.screen`), to the reason in words; they hold CellError("#N/A").
    `held_names` does the same for defined names (lower case). `arrays` maps each cell filled
    by a multi-cell array formula or a spill, other than the formula's own, to that cell.
    `engine` is the engine that computed the values, `notes` what the user should know of it
    (another engine used because the one asked for could not load the file).
    """

    def __init__(self, values=(), held=None, held_names=None, arrays=None, engine=None, notes=()) -> None:
        super().__init__(values)
        self.held: dict[tuple[str, str], str] = dict(held or {})
        self.held_names: dict[str, str] = dict(held_names or {})
        self.arrays: dict[tuple[str, str], tuple[str, str]] = dict(arrays or {})
        self.engine: str | None = engine
        self.notes: list[str] = list(notes)

    def __reduce__(self):  # pickled with all it says, across the child process's pipe
        return (Results, (dict(self), self.held, self.held_names, self.arrays, self.engine, self.notes))

    def copy(self) -> "Results":
        """A copy of the values with all that is said of them."""
        return Results(self, self.held, self.held_names, self.arrays, self.engine, self.notes)


def soffice() -> str | None:
    """The LibreOffice executable on PATH, or None."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def formula_cells(path) -> list[tuple[str, int, int]]:
    """(sheet, row, column) of every formula cell, 1-based, as the file holds them.

    Read with openpyxl's own sheet parser, cell by cell: rows written out of order, or a
    sheet claiming a huge dimension, change nothing.
    """
    from sheetprop.engines.openbook import WorkbookError, load, sheet_cells

    try:
        book = load(path, read_only=True, checked=True)
    except WorkbookError as exc:
        raise EngineError(str(exc)) from None
    try:
        return [(ws.title, cell["row"], cell["column"]) for ws in book.worksheets
                for cell in sheet_cells(ws) if cell["data_type"] == "f"]
    finally:
        book.close()


@functools.lru_cache(maxsize=None)
def column_letters(column: int) -> str:
    """The letters of a 1-based column: column_letters(28) == "AB"."""
    from xlsxwriter.utility import xl_col_to_name  # type: ignore[import-untyped]

    return xl_col_to_name(column - 1)


def a1(row: int, column: int) -> str:
    """A1 reference of a 1-based (row, column): a1(2, 28) == "AB2"."""
    return f"{column_letters(column)}{row}"


def row_col(ref: str) -> tuple[int, int]:
    """The 1-based (row, column) of an A1 reference: row_col("AB2") == (2, 28)."""
    from xlsxwriter.utility import xl_cell_to_rowcol  # type: ignore[import-untyped]

    row, col = xl_cell_to_rowcol(ref.replace("$", "").upper())
    return row + 1, col + 1
