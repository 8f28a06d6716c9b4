"""Formula engines: recompute every formula cell of an .xlsx file.

One contract for every engine, so verify and check never care which one ran:

    evaluate(path, engine=None, timeout=None) -> dict[(sheet, "A1"), value]

maps every cell that holds a formula to the value the engine computed for it. Stored
results in the file are never used. Keys use the sheet's name as written in the workbook
and an upper-case A1 reference without `$`. Values are `float` (numbers, integers
included), `str`, `bool`, `None` (empty) or `CellError` ("#DIV/0!", "#NAME?", "#CIRC!" for
a reference cycle, …).

| engine | what it is |
|---|---|
| `ironcalc` (default) | IronCalc, a spreadsheet engine in Rust (pip `ironcalc`) |
| `formulas` | the `formulas` package, pure Python |
| `libreoffice` | LibreOffice headless, the real application, recalculation forced |

Engines are imported lazily: importing this package costs nothing.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from sheetprop.errors import SheetpropError

__all__ = ["CellError", "DEFAULT_ENGINE", "ENGINES", "EngineError", "EngineUnavailable", "Results", "evaluate",
           "is_available", "unsupported_functions"]

ENGINES = ("ironcalc", "formulas", "libreoffice")
DEFAULT_ENGINE = "ironcalc"

_MODULES = {
    "ironcalc": "sheetprop.engines.ironcalc_engine",
    "formulas": "sheetprop.engines.formulas_engine",
    "libreoffice": "sheetprop.engines.libreoffice",
}


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


class Results(dict):
    """{(sheet, "A1"): value} for every formula cell, and what was held back from the engine.

    `held` maps the cells whose formula reaches outside the workbook (`sheetprop.screen`) to
    the reason in words; they hold CellError("#N/A"). `held_names` does the same for defined
    names (lower case).
    """

    def __init__(self, values=(), held=None, held_names=None):
        super().__init__(values)
        self.held: dict[tuple[str, str], str] = dict(held or {})
        self.held_names: dict[str, str] = dict(held_names or {})

    def __reduce__(self):  # pickled with what was held, across the child process's pipe
        return (Results, (dict(self), self.held, self.held_names))


def evaluate(path, engine: str | None = None, *, timeout: float | None = None) -> Results:
    """Recompute every formula cell of the .xlsx at `path` with `engine` (None: the default, ironcalc).

    Every formula and defined name is screened first: what reaches outside the workbook
    (other files, the network, programs, INDIRECT/OFFSET, whole columns) never reaches the
    engine and comes back as #N/A, with the reason in `Results.held`. `timeout` (seconds)
    bounds the LibreOffice run, which is a separate process; the in-process engines
    (ironcalc, formulas) cannot be interrupted and ignore it: run them in a child process
    (`sheetprop.isolate`) to bound them.
    """
    import tempfile

    from sheetprop.readbook import WorkbookError, check_container

    module = importlib.import_module(_module(engine or DEFAULT_ENGINE))
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{path}: no such file; pass the path of an .xlsx workbook")
    try:
        check_container(path)  # untrusted files: no zip bomb reaches an engine
        if getattr(module, "SCREENS_ITSELF", False):
            return module.evaluate(path, timeout=timeout)
        from sheetprop.engines.clean import prepare

        with tempfile.TemporaryDirectory(prefix="sheetprop-engine-") as folder:
            screened = prepare(path, folder)
            values = module.evaluate(screened.path, timeout=timeout)
    except WorkbookError as exc:
        raise EngineError(str(exc)) from None
    held = {**getattr(values, "held", {}), **screened.held}
    values.update((key, CellError("#N/A")) for key in held)
    return Results(values, held, screened.held_names)


def unsupported_functions(engine: str | None, functions) -> list[str] | None:
    """Which of `functions` (upper-case names, `_xlfn.` prefixes allowed) `engine` cannot compute;
    None when the engine cannot tell (LibreOffice)."""
    module = importlib.import_module(_module(engine or DEFAULT_ENGINE))
    known = getattr(module, "supports", None)
    if known is None:
        return None
    return [f for f in functions if not known(f.upper().removeprefix("_XLFN.").removeprefix("_XLWS."))]


def is_available(engine: str) -> bool:
    """True when `engine` can run here (its package, or soffice, is installed)."""
    _module(engine)
    if engine == "libreoffice":
        return soffice() is not None
    return importlib.util.find_spec(engine) is not None


# --- helpers shared by the engine modules ---------------------------------------------

def soffice() -> str | None:
    """The LibreOffice executable on PATH, or None."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def formula_cells(path) -> list[tuple[str, int, int]]:
    """(sheet, row, column) of every formula cell, 1-based, as the file holds them.

    Read with openpyxl's own sheet parser, cell by cell: rows written out of order, or a
    sheet claiming a huge dimension, change nothing.
    """
    from sheetprop.readbook import WorkbookError, load, sheet_cells

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


def _module(engine: str) -> str:
    try:
        return _MODULES[engine]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}") from None
