"""Evaluate formulas that refer to no cell (`=14+INT((15-14)/8)*8`, `="B"&7`) with IronCalc.

The grader reads where a dynamic reference (INDEX, OFFSET, INDIRECT) points by evaluating its
arguments once their cell references are replaced by the values they hold
(`sheetprop.grading.dynamic`). Such a formula needs no workbook: all of them are written into
one blank IronCalc workbook and evaluated together, which costs a few milliseconds for
thousands. IronCalc reads no file and reaches no network; a formula that still names a cell
reads an empty one.
"""

from __future__ import annotations

from typing import Sequence

from sheetprop.engines.base import CellError

COLUMNS = 1000  # helpers per row of the blank sheet


def evaluate_constants(formulas: Sequence[str]) -> list[object]:
    """The value of each formula (with its `=`): a float, a str, a bool or a CellError."""
    if not formulas:
        return []
    import ironcalc

    model = ironcalc.create("constants", "en", "UTC")
    places = []
    for k, formula in enumerate(formulas):
        row, col = divmod(k, COLUMNS)
        places.append((row + 1, col + 1))
        model.set_user_input(0, row + 1, col + 1, formula)
    model.evaluate()
    error = ironcalc.CellType.ErrorValue
    values: list[object] = []
    for row, col in places:
        value = model.get_cell_value(0, row, col)
        if model.get_cell_type(0, row, col) is error:
            values.append(CellError(str(value)))
        else:
            values.append(float(value) if type(value) is int else value)
    return values
