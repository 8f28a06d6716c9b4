"""The `ironcalc` engine: a Rust spreadsheet engine, fast enough for big workbooks.

`ironcalc.load_from_xlsx(path)` gives a raw `Model` holding the stored results;
`Model.evaluate()` recomputes every formula. Cells are read by (sheet index, row,
column), all 1-based but the sheet. Errors come back as their code in a str
("#DIV/0!"), told apart from text by `get_cell_type() == CellType.ErrorValue`; a cycle
gives "#CIRC!". A defined name holding a constant (not a cell) gives "#NAME?".

The formula cells are listed from the loaded model (`get_cell_formula` is not None)
rather than with openpyxl: same cells, half the time on a 300,000-cell workbook.
"""

from __future__ import annotations

from sheetprop.engines import CellError, EngineError, EngineUnavailable, a1, one_line

try:
    import ironcalc
except ImportError as exc:
    raise EngineUnavailable(f"the ironcalc engine is not installed ({one_line(exc)}); pip install ironcalc") from exc


def evaluate(path, timeout=None) -> dict[tuple[str, str], object]:
    try:
        model = ironcalc.load_from_xlsx(str(path))
        model.evaluate()
    except BaseException as exc:  # WorkbookError, or a PanicException from Rust
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise EngineError(
            f"ironcalc could not evaluate {path} ({one_line(exc)}); "
            "check it is a valid .xlsx or try engine 'libreoffice'"
        ) from exc

    sheets = [props["name"] for props in model.get_worksheets_properties()]
    result = {}
    for index, row, col in model.get_all_cells():
        if model.get_cell_formula(index, row, col) is not None:
            result[(sheets[index], a1(row, col))] = _value(model, index, row, col)
    return result


def _value(model, sheet: int, row: int, col: int):
    value = model.get_cell_value(sheet, row, col)
    if model.get_cell_type(sheet, row, col) == ironcalc.CellType.ErrorValue:
        return CellError(str(value))
    if isinstance(value, (bool, str)) or value is None:
        return value
    return float(value)
