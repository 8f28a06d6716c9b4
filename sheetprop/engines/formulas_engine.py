"""The `formulas` engine: pure Python, recomputes the whole workbook in process.

`formulas.ExcelModel().loads(path).finish().calculate()` returns a dict keyed like
"'[book.xlsx]NETWORK'!D12" (sheet names upper-cased) whose values are `Ranges` holding
a 1x1 array of the cell's value: numbers (Python or numpy), str, bool, `XlError` for
errors and `schedula.EMPTY` for empty. Cells in a reference cycle get no value at all.
It is slow (a few hundred cells per second) and chatty (tqdm bars, log warnings): all of
that is silenced here.

Precision: formulas rounds every number typed in a cell to 15 decimal places
(0.0273894774483541 becomes 0.027389477448354, 1e-16 becomes 0); `_ExactModel` keeps
them as written. EXP, LN and TANH are numpy's, which can differ from C's libm (and so
from Python's math) in the last bit.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import tempfile
import warnings
from pathlib import Path

from sheetprop.engines.base import CellError, EngineError, EngineUnavailable, Results, a1, formula_cells
from sheetprop.errors import one_line

try:
    import formulas  # type: ignore[import-untyped]
    import numpy
    from formulas.errors import FormulaError  # type: ignore[import-untyped]
    from formulas.tokens.operand import XlError  # type: ignore[import-untyped]
    from schedula import EMPTY  # type: ignore[import-untyped]
except ImportError as exc:
    raise EngineUnavailable(f"the formulas engine is not installed ({one_line(exc)}); pip install formulas") from exc

_CELL = re.compile(r"[A-Z]{1,3}[0-9]+")

# What a formula cell gets when formulas computed nothing for it (a reference cycle).
NO_VALUE = CellError("#CIRC!")


class _ExactModel(formulas.ExcelModel):
    """An ExcelModel that keeps numbers typed in cells exactly as the file has them."""

    def compile_cell(self, cell, context, references, formula_references):
        if cell.data_type == "n" and isinstance(cell.value, float):
            where = formula_references.get(cell.coordinate, cell.coordinate)
            return self._compile_cell(where, cell.value, context, True, references)
        return super().compile_cell(cell, context, references, formula_references)


@functools.lru_cache(maxsize=None)
def _functions() -> frozenset[str]:
    return frozenset(name.upper() for name in formulas.get_functions())


def supports(function: str) -> bool:
    """Does the formulas package know this function?"""
    return function.upper().removeprefix("_XLFN.").removeprefix("_XLWS.") in _functions()


def _functions_in(formula: str) -> list[str]:
    from openpyxl.formula.tokenizer import Token, Tokenizer

    from sheetprop.engines.screen import function_name

    try:
        tokens = Tokenizer(formula).items
    except Exception:  # noqa: BLE001
        return []
    return [function_name(t.value[:-1]) for t in tokens if t.type == Token.FUNC and t.subtype == Token.OPEN]


def evaluate(path, timeout=None, cells=None) -> dict[tuple[str, str], object] | Results:
    """Every formula cell's value (`cells`, (sheet, row, column) 1-based, saves reading which
    they are). A formula that `formulas` cannot read (`=SUM (1,2)`, `=1E308*10`) or compute (a
    function it lacks, such as LET), or a defined name it cannot take (one on column XFD or
    row 1,048,576, which it reads as a whole column), makes it refuse the whole file: such
    cells are found, held back (#N/A, the reason in `Results.held`), names that no formula
    uses are dropped, and the rest is evaluated again, so only the cells that need them suffer."""
    try:
        return _evaluate(path, cells)
    except EngineError:
        unreadable, names = _unreadable(path)
        if not unreadable and not names:
            raise
    with tempfile.TemporaryDirectory(prefix="sheetprop-formulas-") as folder:
        from sheetprop.engines.clean import copy_without

        copy = copy_without(Path(path), {key: "" for key in unreadable}, names, Path(folder))
        values = _evaluate(copy, cells)
    held = {(sheet, a1(row, col)): why for (sheet, row, col), why in unreadable.items()}
    values.update((key, CellError("#N/A")) for key in held)
    return Results(values, held, {name: why for name, why in names.items() if why})


def _unreadable(path) -> tuple[dict[tuple[str, int, int], str], dict[str, str]]:
    """(the formula cells that the formulas package cannot parse → why, in words; the defined names
    it cannot take or that no formula uses → why, "" for an unused one)."""
    from sheetprop.engines.openbook import load, sheet_cells
    from sheetprop.engines.screen import names_pattern

    parser = formulas.Parser()
    found, texts = {}, {}
    book = load(path, read_only=True, checked=True)
    try:
        names = {name.lower(): dn.attr_text or "" for name, dn in book.defined_names.items()}
        for ws in book.worksheets:
            names.update({name.lower(): dn.attr_text or "" for name, dn in getattr(ws, "defined_names", {}).items()})
            for cell in sheet_cells(ws):
                text = getattr(cell["value"], "text", cell["value"])
                if cell["data_type"] != "f" or not isinstance(text, str):
                    continue
                text = text if text.startswith("=") else "=" + text
                key = (ws.title, cell["row"], cell["column"])
                texts[key] = text
                try:
                    with _silenced():
                        parser.ast(text)
                except Exception:  # noqa: BLE001 - whatever the parser says, it cannot read it
                    found[key] = ("cannot be read by the formulas engine (it refuses it); write it the usual way, "
                                  "or grade with --engine ironcalc")
                    continue
                unknown = [f for f in _functions_in(text) if not supports(f)]
                if unknown:
                    found[key] = (f"uses {unknown[0]}(), which the formulas engine cannot compute; "
                                  "grade with --engine ironcalc")
    finally:
        book.close()
    every = "\n".join([*texts.values(), *names.values()])
    dropped = {}
    for name, text in names.items():
        pattern = names_pattern({name: ""})
        if pattern is None or not pattern.search(every):
            dropped[name] = ""  # no formula uses it: it changes nothing
        elif _EDGE.search(text):
            dropped[name] = (f"refers to {text}, on the last column or row of the sheet, which the formulas engine "
                             "reads as a whole column or row; grade with --engine ironcalc")
    troubled = {name: why for name, why in dropped.items() if why}
    pattern = names_pattern(troubled)
    if pattern is not None:
        for key, text in texts.items():
            hit = pattern.search(text)
            if hit and key not in found:
                found[key] = f"uses the name {hit.group(0)}, which {troubled[hit.group(0).lower()]}"
    return found, dropped


# A reference on column XFD or row 1,048,576: the formulas package reads `$XFD$1` as row 1, `$A$1048576` as column A.
_EDGE = re.compile(r"(?<![A-Za-z])\$?XFD\$?\d|\$?[A-Za-z]{1,3}\$?1048576(?!\d)", re.IGNORECASE)


def _evaluate(path, cells=None) -> dict[tuple[str, str], object]:
    cells = formula_cells(path) if cells is None else cells
    with _silenced():
        try:
            solution = _ExactModel().loads(str(path)).finish().calculate()
        except FormulaError as exc:
            formula = exc.args[1] if len(exc.args) > 1 else exc
            raise EngineError(
                f"formulas cannot parse the formula {formula} in {path}; use engine 'ironcalc' or 'libreoffice'"
            ) from exc
        except Exception as exc:
            raise EngineError(
                f"formulas failed on {path} ({one_line(exc)}); use engine 'ironcalc' or 'libreoffice'"
            ) from exc

    found: dict[tuple[str, str], object] = {}
    wanted = {(sheet.upper(), a1(row, col)) for sheet, row, col in cells}
    for key, value in solution.items():
        where = _split_key(key)
        if where:
            found[where] = value
        elif isinstance(key, str) and ":" in key and hasattr(value, "value"):  # an array formula: a value per cell
            _spread(key, value, wanted, found)
    result = {}
    for sheet, row, col in cells:
        ref = a1(row, col)
        value = found.get((sheet.upper(), ref), NO_VALUE)
        result[(sheet, ref)] = value if value is NO_VALUE else _plain(value)
    return result


def _spread(key: str, array, wanted: set, found: dict) -> None:
    """The cells of an array formula's range ("'[book.xlsx]S'!F1:F2"), each with its own value."""
    from sheetprop.engines.base import row_col

    where, _, ref = key.rpartition("!")
    corners = ref.split(":")
    if len(corners) != 2 or not all(_CELL.fullmatch(c) for c in corners):
        return
    if len(where) > 1 and where[0] == where[-1] == "'":
        where = where[1:-1]
    sheet = where[where.rfind("]") + 1:]
    (r1, c1), (r2, c2) = (row_col(c) for c in corners)
    values = numpy.asarray(getattr(array, "value", array), dtype=object)
    for row in range(r1, r2 + 1):
        for col in range(c1, c2 + 1):
            cell = (sheet, a1(row, col))
            if cell in wanted and cell not in found and row - r1 < values.shape[0] and col - c1 < values.shape[1]:
                found[cell] = values[row - r1, col - c1]


def _split_key(key) -> tuple[str, str] | None:
    """"'[book.xlsx]NETWORK'!D12" -> ("NETWORK", "D12"); None for names, ranges and the rest."""
    if not isinstance(key, str) or "!" not in key:
        return None
    where, _, ref = key.rpartition("!")
    if not _CELL.fullmatch(ref):
        return None
    if len(where) > 1 and where[0] == where[-1] == "'":
        where = where[1:-1]
    return where[where.rfind("]") + 1:], ref


def _plain(value):
    """A formulas result as float, str, bool, None or CellError."""
    if hasattr(value, "value"):  # Ranges, or an Array of one cell
        value = value.value
    if isinstance(value, numpy.ndarray):
        value = value.flat[0] if value.size else EMPTY
    if value is EMPTY:
        return None
    if isinstance(value, XlError):
        return CellError(str(value))
    if isinstance(value, (bool, numpy.bool_)):
        return bool(value)
    if isinstance(value, (int, float, numpy.number)):
        return float(value)
    return str(value)


@contextlib.contextmanager
def _silenced():
    """No tqdm bar, warning, log record or numpy floating-point complaint gets out."""
    loggers = [logging.getLogger(name) for name in ("formulas", "schedula")]
    levels = [logger.level for logger in loggers]
    sink = io.StringIO()
    with warnings.catch_warnings(), numpy.errstate(all="ignore"), \
            contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.CRITICAL + 1)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
