"""The `ironcalc` engine, sheetprop's default: IronCalc, a spreadsheet engine written in Rust.

`ironcalc.load_from_xlsx(path)` gives a raw `Model` holding the stored results;
`Model.evaluate()` recomputes every formula. Cells are read by (sheet index, row, column),
all 1-based but the sheet. Errors come back as their code in a str ("#DIV/0!"), told apart
from text by `get_cell_type() == CellType.ErrorValue`; a reference cycle gives "#CIRC!".

IronCalc runs in this process and reads no file and no network: INDIRECT("'[other.xlsx]S'!A1")
or a `file:` path gives #REF!. So it is screened with `screen.reach_of("ironcalc")`: INDIRECT,
OFFSET, whole columns and array formulas are evaluated, and every reference is bounded in the
loaded model (`sheetprop.engines.guard`): a cell whose reference would cover more than
MAX_RANGE_CELLS cells is held, with its reason, and costs only itself. Held cells get `=NA()`
in the loaded model, held names are deleted from it; both are listed in the `Results`. The
cells an array formula or a spill fills are read too (`Results.arrays`).

IronCalc 0.9's rough edges, handled here:

- it refuses some valid workbooks whole (a sheet named `Net!work`, cells without their `r`
  attribute, a What-If data table): such a file is loaded again from a normalised copy
  (`sheetprop.engines.package.normalise`); if that fails too, `Unloadable` says why, and
  `sheetprop.engines.evaluate` has another engine evaluate the file;
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
import tempfile
from typing import Any, Iterator, Mapping, Sequence

from sheetprop.engines import guard, package, screen
from sheetprop.engines.base import CellError, EngineError, EngineUnavailable, Results, Unloadable, column_letters, row_col
from sheetprop.errors import one_line

try:
    import ironcalc
except ImportError as exc:
    raise EngineUnavailable(f"the ironcalc engine is not installed ({one_line(exc)}); pip install ironcalc") from exc

NAMES_SHEET = "sheetprop defined names"  # holds the formulas of the names IronCalc cannot resolve itself
PROBES_SHEET = "sheetprop probes"  # measures the references that cells build (sheetprop.engines.guard)

_SHEET = r"(?:'(?:[^']|'')+'|[^'!:()\s,;+\-*/^&=<>\"]+)!"
_CELL = r"\$?[A-Za-z]{1,3}\$?\d+"
_REFERENCE = re.compile(
    rf"^(?:{_SHEET})?(?:{_CELL}(?::{_CELL})?|\$?[A-Za-z]{{1,3}}:\$?[A-Za-z]{{1,3}}|\$?\d+:\$?\d+)$")


SCREENS_ITSELF = True  # screened here, on the formulas as IronCalc parsed them


def evaluate(path, timeout=None) -> Results:
    try:
        with _silenced():
            model, real_names, held = _load(path)
            loaded = [p["name"] for p in model.get_worksheets_properties()]
            sheets = [real_names.get(name, name) for name in loaded]
            extent = _extent(model, len(sheets))
            reach = screen.reach_of("ironcalc", extent)
            defined = model.get_defined_name_list()  # IronCalc takes 0.1 s for 1,000 names: asked once
            texts = {d["name"].lower(): d["formula"] for d in defined}
            held_names = screen.name_problems(texts, reach)
            arrays = package.array_cells(path)
            # the cells first: IronCalc may evaluate the whole model when a name changes
            cells, probes = _screen_cells(model, sheets, loaded, held_names, texts, reach, held, _anchors(arrays))
            _delete_names(model, defined, held_names)
            _resolve_names(model, [d for d in defined if d["name"].lower() not in held_names], len(sheets), extent)
            probed = _add_probes(model, probes)
            model.evaluate()
            _tripped(model, probes, probed, held)
    except Unloadable:
        raise
    except BaseException as exc:  # WorkbookError, or a PanicException from Rust
        if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise EngineError(f"ironcalc could not evaluate {path} ({one_line(exc)}); check it is a valid .xlsx") from exc

    index = {name: k for k, name in enumerate(sheets)}
    positions = list(cells) + [(index[s], *row_col(ref)) for (s, ref) in arrays if s in index]
    values = _read(model, sheets, positions)
    values.update((key, CellError("#N/A")) for key in held)
    return Results(values, held, held_names, arrays={k: v for k, v in arrays.items() if k in values})


def _load(path):
    """(the model, copy's sheet name → real name, cells held by the normalising): the workbook with
    its names' fixed references written out (`package.inline_names`: IronCalc loads it in a tenth
    of the time), from a normalised copy when IronCalc refuses the file itself."""
    with tempfile.TemporaryDirectory(prefix="sheetprop-ironcalc-") as folder:
        try:
            return ironcalc.load_from_xlsx(str(package.inline_names(path, folder) or path)), {}, {}
        except BaseException as exc:  # noqa: BLE001 - a WorkbookError or a Rust panic: try the normalised copy
            if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
                raise
            first = exc
        try:
            fixed = package.normalise(path, folder)
            model = ironcalc.load_from_xlsx(str(package.inline_names(fixed.path, folder) or fixed.path))
        except BaseException as exc:  # noqa: BLE001 - whatever fails here, another engine may load the file
            if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
                raise
            raise Unloadable(f"IronCalc cannot load this workbook ({one_line(first, kind=False)})") from exc
    for (sheet, ref) in fixed.held:
        model.update_cell_with_formula(*_at(model, fixed.names, sheet, ref), "=NA()")
    return model, fixed.names, dict(fixed.held)


def _at(model, names: dict[str, str], sheet: str, ref: str) -> tuple[int, int, int]:
    loaded = [names.get(p["name"], p["name"]) for p in model.get_worksheets_properties()]
    return (loaded.index(sheet), *row_col(ref))


def _extent(model, n_sheets: int) -> tuple[int, int]:
    """(rows, columns) the workbook's sheets use: whole columns and rows are clipped to them."""
    rows = cols = 1
    for index in range(n_sheets):
        _, last_row, _, last_col = model.get_sheet_dimensions(index)
        rows, cols = max(rows, last_row), max(cols, last_col)
    return rows, cols


def _read(model, sheets: list[str], positions) -> dict[tuple[str, str], object]:
    error = ironcalc.CellType.ErrorValue
    value_of, type_of = model.get_cell_value, model.get_cell_type
    values: dict[tuple[str, str], object] = {}
    for index, row, col in positions:  # a 300,000-cell Training sheet: keep this loop lean
        value: object = value_of(index, row, col)
        if type_of(index, row, col) is error:
            value = CellError(str(value))
        elif type(value) is int:
            value = float(value)
        values[(sheets[index], f"{column_letters(col)}{row}")] = value
    return values


def _anchors(arrays: Mapping[tuple[str, str], tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """Each multi-cell array formula's first cell → (width, height) of the range it fills."""
    corners: dict[tuple[str, str], tuple[int, int]] = {}
    for (sheet, ref), anchor in arrays.items():
        row, col = row_col(ref)
        top, left = row_col(anchor[1])
        width, height = corners.get(anchor, (1, 1))
        corners[anchor] = (max(width, col - left + 1), max(height, row - top + 1))
    return corners


def _delete_names(model, defined: Sequence[Mapping[str, Any]], held: dict[str, str]) -> None:
    """Delete, from the loaded model, every defined name the screen holds back."""
    for d in defined:
        if d["name"].lower() in held:
            with contextlib.suppress(Exception):
                model.delete_defined_name(d["name"], d["scope"])


def _add_probes(model, probes: list[tuple[tuple[str, str], str]]) -> int:
    """Put each probe in a cell of a sheet of its own, evaluated with the rest; that sheet's index."""
    index = len(model.get_worksheets_properties())
    if probes:
        model.add_sheet(PROBES_SHEET)
        for row, (_, probe) in enumerate(probes, start=1):
            model.update_cell_with_formula(index, row, 1, probe)
    return index


def _tripped(model, probes: list[tuple[tuple[str, str], str]], index: int, held: dict) -> None:
    """Hold the cells whose probe says a reference they built went over the bound."""
    for row, (key, _) in enumerate(probes, start=1):
        if model.get_cell_value(index, row, 1) is True:
            held[key] = guard.TRIPPED_REASON


def _screen_cells(model, sheets: list[str], loaded: list[str], held_names: dict[str, str], names: dict[str, str],
                  reach: screen.Reach, held: dict, anchors: dict):
    """(the formula cells of the workbook's own sheets, the probes of the cells whose references are
    measured as they are built); held cells get =NA() and are added to `held`, whole columns are
    clipped.

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
    probes = []
    for k in screen.suspects(texts, held_names):
        index, row, col = cells[k]
        key = (sheets[index], f"{column_letters(col)}{row}")
        if key in held:
            continue
        reason = screen.formula_problem(texts[k], held_names, reach, names)
        if reason:
            held[key] = reason
            model.update_cell_with_formula(index, row, col, "=NA()")
            continue
        bounded = guard.bound(texts[k], reach.extent or (1, 1), (loaded[index], row, col))
        if bounded is None:
            continue
        size = anchors.get(key)
        if size is not None:
            model.set_user_array_formula(index, row, col, size[0], size[1], bounded.formula)
        else:
            model.update_cell_with_formula(index, row, col, bounded.formula)
        if bounded.probe:
            probes.append((key, bounded.probe))
    return cells, probes


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


def _resolve_names(model, defined: Sequence[Mapping[str, Any]], n_sheets: int, extent: tuple[int, int]) -> None:
    """Re-point every defined name that holds more than a reference at a cell holding its formula,
    bounded as a cell's formula is; a name of whole columns is clipped as they are."""
    pending = []
    for name in defined:
        text = name["formula"].strip().lstrip("=")
        if not _REFERENCE.match(text):
            pending.append(name)
            continue
        clipped = None if name["name"].lower().startswith("_xlnm.") else guard.bound(text, extent)
        if clipped is not None:  # (print titles and areas are never read: IronCalc takes a second to change a name)
            with contextlib.suppress(Exception):
                model.update_defined_name(name["name"], name["scope"], name["name"], name["scope"],
                                          clipped.formula[1:])
    if not pending:
        return
    model.add_sheet(NAMES_SHEET)
    quoted = "'" + NAMES_SHEET.replace("'", "''") + "'"
    for row, name in enumerate(pending, start=1):
        formula = name["formula"].strip()
        formula = formula if formula.startswith("=") else "=" + formula
        try:
            bounded = guard.bound(formula, extent)
            model.update_cell_with_formula(n_sheets, row, 1, bounded.formula if bounded else formula)
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
