"""Formula engines: recompute every formula cell of an .xlsx file.

One contract for every engine, so verify and check never care which one ran:

    evaluate(path, engine="formulas", timeout=None) -> dict[(sheet, "A1"), value]

maps every cell that holds a formula to the value the engine computed for it.
Stored results in the file are never used. Keys use the sheet's name as written in the
workbook and an upper-case A1 reference without `$`. Values are `float` (numbers,
integers included), `str`, `bool`, `None` (empty) or `CellError` ("#DIV/0!", "#NAME?", …).

Engines are imported lazily: importing this package costs nothing.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CellError", "ENGINES", "EngineError", "EngineUnavailable", "evaluate", "is_available"]

ENGINES = ("compiled", "formulas", "libreoffice", "ironcalc")

_MODULES = {
    "formulas": "sheetprop.engines.formulas_engine",
    "libreoffice": "sheetprop.engines.libreoffice",
    "ironcalc": "sheetprop.engines.ironcalc_engine",
    "compiled": "sheetprop.engines.compiled",  # pure Python, always available
}


@dataclass(frozen=True)
class CellError:
    """A spreadsheet error value such as "#DIV/0!" or "#NAME?"."""

    code: str

    def __str__(self) -> str:
        return self.code


class EngineError(Exception):
    """The engine could not evaluate the file; the message is one line saying what to do."""


class EngineUnavailable(EngineError):
    """The engine is not installed on this machine."""


def evaluate(path, engine: str = "formulas", *, timeout: float | None = None) -> dict[tuple[str, str], object]:
    """Recompute every formula cell of the .xlsx at `path` with `engine`.

    `timeout` (seconds) bounds the LibreOffice run, which is a separate process; the
    in-process engines (formulas, ironcalc) cannot be interrupted and ignore it.
    """
    from sheetprop.readbook import WorkbookError, check_container

    module = importlib.import_module(_module(engine))
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{path}: no such file; pass the path of an .xlsx workbook")
    try:
        check_container(path)  # untrusted files: no zip bomb reaches an engine
    except WorkbookError as exc:
        raise EngineError(str(exc)) from None
    return module.evaluate(path, timeout=timeout)


def is_available(engine: str) -> bool:
    """True when `engine` can run here (its package, or soffice, is installed)."""
    _module(engine)
    if engine == "libreoffice":
        return soffice() is not None
    if engine == "compiled":
        return True
    return importlib.util.find_spec(engine) is not None


# --- helpers shared by the engine modules ---------------------------------------------

def soffice() -> str | None:
    """The LibreOffice executable on PATH, or None."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def formula_cells(path) -> list[tuple[str, int, int]]:
    """(sheet, row, column) of every formula cell, 1-based, read with openpyxl."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True)
    except Exception as exc:  # zipfile.BadZipFile, InvalidFileException, KeyError, ...
        raise EngineError(
            f"cannot read {path} as an .xlsx workbook ({one_line(exc)}); pass a valid .xlsx file"
        ) from exc
    try:
        cells = []
        for ws in book.worksheets:
            ws.reset_dimensions()  # trust the cells, not the file's <dimension>
            # A formula's value is its text ("=A1*2"), or an ArrayFormula for an array formula.
            cells += [(ws.title, cell.row, cell.column) for row in ws.iter_rows() for cell in row
                      if cell.data_type == "f"]
        return cells
    finally:
        book.close()


def a1(row: int, column: int) -> str:
    """A1 reference of a 1-based (row, column): a1(2, 28) == "AB2"."""
    return f"{_letters(column)}{row}"


@functools.lru_cache(maxsize=None)
def _letters(column: int) -> str:
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def one_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _module(engine: str) -> str:
    try:
        return _MODULES[engine]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}") from None
