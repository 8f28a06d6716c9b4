"""A typed number wrapped in a formula: `=0.3775+0*w_1`, `=IF(w_1>0,0.3775,0)`.

Such a formula refers to the given values, so it passes for a formula; but its value does not
follow from them: change an input and it does not move. Every formula that holds its own value
as a number in its text (beyond 0, 1, 2 and ½), or whose terms hold no cell at all once
multiplied out, is a suspect. The workbook is then recomputed once with every given value the
student typed nudged; a suspect that keeps its value while the reference moves is a typed
number, `hardcoded`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable, Mapping

from sheetprop.cells import Ref
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.judge import Item
from sheetprop.grading.locate import Location
from sheetprop.grading.readbook import Formula, StudentBook, number
from sheetprop.model import reference as R

NUDGE = 1.013  # each given value is multiplied by this (and 0 becomes NUDGE - 1)
_NUMBER = re.compile(r"(?<![A-Za-z_$\d.])\d+\.?\d*(?:[eE][-+]?\d+)?")
PLAIN = {0.0, 1.0, 2.0, 0.5, 100.0}  # numbers formulas hold for their own sake


def suspects(items: list[Item], found: Mapping[str, Location], book: StudentBook, deps: Dependencies,
             results: Mapping) -> list[Item]:
    """Right-looking formula cells that may be a typed number in disguise."""
    out = []
    for item in items:
        loc = found.get(item.name)
        if item.status not in ("correct", "carried_forward") or loc is None or item.section == "given":
            continue
        raw = book.cells.get(loc.cell)
        value = number(results.get(loc.cell.key))
        if not isinstance(raw, Formula) or value is None or value in PLAIN:
            continue
        terms = deps.terms(loc.cell)
        if (terms is not None and all(not t.cells for t in terms)) or _holds(str(raw), value):
            out.append(item)
    return out


def confirm(suspected: list[Item], found: Mapping[str, Location], book: StudentBook, results: Mapping,
            sol: R.Solution, evaluate: Callable[[Path], Mapping], path: Path, folder: Path) -> None:
    """Recompute the workbook with the typed given values nudged; a suspect that does not move while
    the reference does is `hardcoded` (its points follow from the caller's credit)."""
    from sheetprop.engines.clean import copy_with_values
    from sheetprop.grading.infer import with_given

    nudged: dict[Ref, float] = {}
    given: dict[str, float] = {}
    for name, loc in found.items():
        value = number(book.cells.get(loc.cell))
        if sol.graph[name].given and value is not None and not isinstance(book.cells.get(loc.cell), Formula):
            nudged[loc.cell] = given[name] = value * NUDGE if value else NUDGE - 1
    if not nudged:
        return
    try:
        moved = evaluate(copy_with_values(path, nudged, folder))
        after = R.solve(with_given(sol.spec, sol, given)).values
    except Exception:  # noqa: BLE001 - no second reading: the suspects keep their verdicts
        return
    for item in suspected:
        cell = found[item.name].cell
        before, now = number(results.get(cell.key)), number(moved.get(cell.key))
        reference_moves = not math.isclose(after[item.name], sol.values[item.name], rel_tol=1e-9, abs_tol=1e-15)
        if before is not None and now is not None and reference_moves and math.isclose(before, now, rel_tol=1e-12):
            item.status, item.mistake = "hardcoded", "typed_in_formula"
            item.diagnosis = (f"the formula holds the number {before:g} itself: its value does not follow from "
                              f"its inputs (change them and it does not move); compute it from them")


def _holds(formula: str, value: float) -> bool:
    """Does the formula's text hold `value` as a number (to 4 significant digits or more)?"""
    text = re.sub(r'"(?:[^"]|"")*"', "", formula)
    for match in _NUMBER.finditer(text):
        literal = match.group(0)
        digits = len(literal.replace(".", "").lstrip("0"))
        if digits >= 4 and math.isclose(float(literal), abs(value), rel_tol=1e-9):
            return True
    return False
