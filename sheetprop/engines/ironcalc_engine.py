"""The `ironcalc` engine, sheetprop's default: IronCalc, a spreadsheet engine written in Rust.

`ironcalc.load_from_xlsx(path)` gives a raw `Model` holding the stored results;
`Model.evaluate()` recomputes every formula. Cells are read by (sheet index, row, column),
all 1-based but the sheet. Errors come back as their code in a str ("#DIV/0!"), told apart
from text by `get_cell_type() == CellType.ErrorValue`; a reference cycle gives "#CIRC!".

Every formula and defined name is screened (`sheetprop.engines.screen`) on the text IronCalc parsed,
before anything is evaluated: a held cell gets `=NA()` in the loaded model, a held name is
deleted from it, and both are listed in the `Results`.

IronCalc 0.9's rough edges, handled here:

- its reader prints on the standard streams ("Unexpected feature …" for a font feature it
  does not know, on stdout; `dbg!` output on stderr): both are silenced at the
  file-descriptor level while it works, so nothing reaches the user;
- a defined name that holds anything but a reference (`eta` = `=0.5`, `twice` =
  `=Sheet1!$B$3*2`) evaluates to #NAME?: each such name is re-pointed, in the loaded model
  only, at a cell of a sheet of its own that holds the name's formula. A chain of names
  that double at each level then costs one cell per name, not an exponential expansion.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
from typing import Any, Iterator, Mapping, Sequence

from sheetprop.engines import screen
from sheetprop.engines.base import CellError, EngineError, EngineUnavailable, Results, column_letters
from sheetprop.errors import one_line

try:
    import ironcalc
except ImportError as exc:
    raise EngineUnavailable(f"the ironcalc engine is not installed ({one_line(exc)}); pip install ironcalc") from exc

NAMES_SHEET = "sheetprop defined names"  # holds the formulas of the names IronCalc cannot resolve itself

_SHEET = r"(?:'(?:[^']|'')+'|[^'!:()\s,;+\-*/^&=<>\"]+)!"
_CELL = r"\$?[A-Za-z]{1,3}\$?\d+"
_REFERENCE = re.compile(
    rf"^(?:{_SHEET})?(?:{_CELL}(?::{_CELL})?|\$?[A-Za-z]{{1,3}}:\$?[A-Za-z]{{1,3}}|\$?\d+:\$?\d+)$")


SCREENS_ITSELF = True  # screened here, on the formulas as IronCalc parsed them: no copy is needed


def evaluate(path, timeout=None) -> Results:
    try:
        with _silenced():
            model = ironcalc.load_from_xlsx(str(path))
            sheets = [props["name"] for props in model.get_worksheets_properties()]
            defined = model.get_defined_name_list()  # IronCalc takes 0.1 s for 1,000 names: asked once
            held_names = _screen_names(model, defined)
            _resolve_names(model, [d for d in defined if d["name"].lower() not in held_names], len(sheets))
            cells, held = _screen_cells(model, sheets, held_names)
            model.evaluate()
    except BaseException as exc:  # WorkbookError, or a PanicException from Rust
        if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise EngineError(
            f"ironcalc could not evaluate {path} ({one_line(exc)}); "
            "check it is a valid .xlsx or try engine 'libreoffice'"
        ) from exc

    error = ironcalc.CellType.ErrorValue
    value_of, type_of = model.get_cell_value, model.get_cell_type
    values: dict[tuple[str, str], object] = {}
    for index, row, col in cells:  # a 300,000-cell Training sheet: keep this loop lean
        value: object = value_of(index, row, col)
        if type_of(index, row, col) is error:
            value = CellError(str(value))
        elif type(value) is int:
            value = float(value)
        values[(sheets[index], f"{column_letters(col)}{row}")] = value
    return Results(values, held, held_names)


def _screen_names(model, defined: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Delete, from the loaded model, every defined name the screen holds back."""
    held = screen.name_problems({d["name"].lower(): d["formula"] for d in defined})
    for d in defined:
        if d["name"].lower() in held:
            with contextlib.suppress(Exception):
                model.delete_defined_name(d["name"], d["scope"])
    return held


def _screen_cells(model, sheets: list[str], held_names: dict[str, str]):
    """(the formula cells of the workbook's own sheets, held cells → why); held cells get =NA().

    The formulas are joined into one text that the screen's quick test searches at once; only
    the formulas it flags are screened one by one (a 300,000-cell Training sheet has none)."""
    formula_of, n_sheets = model.get_cell_formula, len(sheets)
    cells, texts = [], []
    for index, row, col in model.get_all_cells():
        if index < n_sheets:
            text = formula_of(index, row, col)
            if text is not None:
                cells.append((index, row, col))
                texts.append(text)
    held = {}
    for k in screen.suspects(texts, held_names):
        reason = screen.formula_problem(texts[k], held_names)
        if reason:
            index, row, col = cells[k]
            held[(sheets[index], f"{column_letters(col)}{row}")] = reason
            model.update_cell_with_formula(index, row, col, "=NA()")
    return cells, held


@functools.lru_cache(maxsize=None)
def supports(function: str) -> bool:
    """Does IronCalc know this function? (It writes the names it does not know in lower case.)"""
    if not re.fullmatch(r"[A-Z][A-Z0-9_.]*", function):
        return False
    model = ironcalc.create("probe", "en", "UTC")
    with _silenced():
        model.set_user_input(0, 1, 1, f"={function}()")
    formula = model.get_cell_formula(0, 1, 1) or ""
    return formula.startswith(f"={function}(")


def _resolve_names(model, defined: Sequence[Mapping[str, Any]], n_sheets: int) -> None:
    """Re-point every defined name that holds more than a reference at a cell holding its formula."""
    pending = [d for d in defined if not _REFERENCE.match(d["formula"].strip().lstrip("="))]
    if not pending:
        return
    model.add_sheet(NAMES_SHEET)
    quoted = "'" + NAMES_SHEET.replace("'", "''") + "'"
    for row, name in enumerate(pending, start=1):
        formula = name["formula"].strip()
        try:
            model.update_cell_with_formula(n_sheets, row, 1, formula if formula.startswith("=") else "=" + formula)
            model.update_defined_name(name["name"], name["scope"], name["name"], name["scope"], f"{quoted}!$A${row}")
        except Exception:  # noqa: BLE001 - a name IronCalc cannot take stays as it was (#NAME? where used)
            continue


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Send file descriptors 1 and 2 to /dev/null while IronCalc works (its println! and dbg!)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
