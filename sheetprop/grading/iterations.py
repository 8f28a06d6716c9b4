"""A training run laid out as the first update repeated: blocks down a sheet, a sheet per update.

Once the first update's quantities are found, where the second update takes its parameters
from says how the run is laid out. Each new weight is the next update's weight, in its own
cell (a row per update, a block of rows per update) or copied to the place the first update's
weight had (the next sheet's weight cell holds `='iter 1'!E29`). The shift from a weight to the
next update's is the same for every weight: one row, eight rows, one sheet. Update k's cells are
then update 0's shifted k times, for the quantities the layout repeats (a target in a truth
table above the blocks, η in one cell, stay where they are).
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping

from sheetprop.cells import Ref
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.readbook import StudentBook
from sheetprop.grading.runs import Run
from sheetprop.model import reference as R

Offset = tuple[int, int, int]  # sheets, rows, columns
MAX_UPDATES = 100_000


def find_run(book: StudentBook, deps: Dependencies, sol: R.Solution, found: Mapping[str, Ref]) -> Run | None:
    """The run the first update (at `found`) starts, when the workbook shows more than one update."""
    graph = sol.graph
    order = {sheet: k for k, sheet in enumerate(book.sheets)}
    offsets: Counter[Offset] = Counter()
    params = [p for p in graph.params if p.name in found]
    for p in params:
        new = graph.of("new", param=p)
        if new is None or new.name not in found:
            continue
        weight, updated = found[p.name], found[new.name]
        nexts = [updated] + [u for u in deps.users.get(updated, ()) if deps.copy_of(u) == updated]
        for cell in nexts:
            offset = (order[cell.sheet] - order[weight.sheet], cell.row - weight.row, cell.col - weight.col)
            if offset != (0, 0, 0):
                offsets[offset] += 1
    if not offsets:
        return None

    def shifter(offset: Offset):
        def at(cell: Ref, k: int) -> Ref | None:
            index = order[cell.sheet] + k * offset[0]
            row, col = cell.row + k * offset[1], cell.col + k * offset[2]
            if not 0 <= index < len(book.sheets) or row < 0 or col < 0:
                return None
            return Ref(book.sheets[index], row, col)
        return at

    def repeated(offset: Offset) -> int:  # the computed quantities the next update holds in the same form
        at = shifter(offset)
        return sum(1 for name, cell in found.items() if not graph[name].given
                   and _repeats(deps, False, cell, at(cell, 1), at))

    least = max(1, len(params) // 2)
    chosen = [o for o, votes in offsets.items() if votes >= least]
    if not chosen:
        return None
    offset = max(chosen, key=lambda o: (repeated(o), offsets[o]))
    at = shifter(offset)

    moving = {name for name, cell in found.items() if _repeats(deps, graph[name].given, cell, at(cell, 1), at)}
    computed = [name for name in found if not graph[name].given and name in moving]
    if not computed:
        return None
    updates = 1
    while updates < MAX_UPDATES:
        shown = sum(1 for name in computed if (c := at(found[name], updates)) is not None and deps.is_formula(c))
        if 2 * shown < len(computed):
            break
        updates += 1
    if updates < 2:
        return None

    def shift(cell: Ref, k: int, name: str) -> Ref:
        if name not in moving or k == 0:
            return cell
        return at(cell, k) or cell

    def eta_cell(k: int) -> Ref | None:
        cell = found.get("eta")
        return shift(cell, k, "eta") if cell is not None else None

    start = min((found[name] for name in computed), key=lambda c: (order[c.sheet], c.row, c.col))
    return Run(start.sheet, str(start), updates, shift, eta_cell)


def _repeats(deps: Dependencies, given: bool, cell: Ref, nxt: Ref | None, at) -> bool:
    """Does the next update hold this quantity at `nxt`: the same formula there (a computed
    quantity), or what the next update's formulas take in the place this update's take it
    from (a given value: the next sample's input, the next update's weight)?"""
    if nxt is None:
        return False
    if not given:
        if not deps.is_formula(nxt):
            return False
        if deps.shapes.get(nxt) in (deps.shapes.get(cell), deps.shapes.get(at(nxt, 1))):  # a slip in update 1 alone
            return True
        mine, theirs = deps.precedents.get(cell, ()), set(deps.precedents.get(nxt, ()))
        return len(mine) == len(theirs) and all(at(p, 1) in theirs or p in theirs for p in mine)  # a fixed cell
        # written relatively (`=(C4-Q14)^2` for a target in a table above) moves in the text, not in the run
    for user in deps.users.get(cell, ()):
        later = at(user, 1)
        if later is not None and nxt in deps.precedents.get(later, ()):
            return True
    return False
