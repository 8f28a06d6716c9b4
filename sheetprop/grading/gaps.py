"""A quantity the structure did not find is where the layout of its siblings puts it.

Students lay quantities out in regular patterns: the weights w1..w8 in a row, the gradients in
the columns beside them, one row per sample. When every sibling of a quantity is found and
their cells follow one pattern (each index of the quantity, its neuron, its input or its
sample, moves the cell by a fixed number of rows and columns), the missing one is at the
cell the pattern gives, when that cell holds a number or a formula no other quantity has.
That is how a wrong cell whose formula matches no rule is still found: its column between
∂E/∂w2 and ∂E/∂w4, or the weight a student's formulas never use (w7 written where w4 belongs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from sheetprop.cells import Ref

if TYPE_CHECKING:
    from sheetprop.grading.structure import Context

MIN_SIBLINGS = 3  # found quantities that make a pattern
FILLED = ("net", "out", "E_o")  # per-neuron quantities always shown (chain-rule factors may be folded)


def fill(ctx: Context) -> dict[str, Ref]:
    """The cells of the quantities not found that a regular layout of their siblings gives."""
    taken = set(ctx.found.values())
    found: dict[str, Ref] = {}
    for group in _groups(ctx):
        known = {name: index for name, index in group.items() if name in ctx.found}
        missing = [name for name in group if name not in ctx.found and name not in found]
        if not missing or len(known) < MIN_SIBLINGS or len({ctx.found[n].sheet for n in known}) != 1:
            continue
        place = pattern({index: ctx.found[name] for name, index in known.items()})
        if place is None:
            continue
        for name in missing:
            cell = place(group[name])
            if cell is not None and cell not in taken and ctx.book.cells.get(cell) is not None \
                    and (ctx.deps.is_formula(cell) or ctx.value(cell) is not None):
                found[name] = cell
                taken.add(cell)
    return found


def _groups(ctx: Context) -> Iterable[dict[str, tuple[int, ...]]]:
    """Siblings with the indices that place them: a layer's weights by (neuron, input), its
    biases, gradients and new values likewise; a layer's per-neuron quantities by (neuron, sample)."""
    graph = ctx.sol.graph
    groups: dict[tuple, dict[str, tuple[int, ...]]] = {}
    for q in graph:
        if q.kind in ("param", "grad", "new") and q.param is not None:
            p = q.param
            key = (q.kind, p.kind, p.layer)
            groups.setdefault(key, {})[q.name] = (p.row or 0, p.col or 0)
        elif q.neuron is not None and q.index is not None and q.kind in FILLED:
            groups.setdefault((q.kind, q.layer), {})[q.name] = (q.index, q.slot or 0)
        elif q.kind in ("input", "target") and q.index is not None:
            groups.setdefault((q.kind,), {})[q.name] = (q.index, q.slot or 0)
    return groups.values()


def pattern(points: dict[tuple[int, ...], Ref]):
    """The affine map index → cell that fits every point exactly, or None."""
    items = list(points.items())
    base_index, base = items[0]
    dims = len(base_index)
    steps: list[tuple[int, int] | None] = [None] * dims
    for d in range(dims):
        for index, cell in items[1:]:
            others_same = all(index[e] == base_index[e] for e in range(dims) if e != d)
            delta = index[d] - base_index[d]
            if others_same and delta:
                dr, dc = cell.row - base.row, cell.col - base.col
                if dr % delta or dc % delta:
                    return None
                steps[d] = (dr // delta, dc // delta)
                break
    if any(s is None for s in steps) and any(index[d] != base_index[d] for index in points for d in range(dims)
                                             if steps[d] is None):
        return None  # an index that varies without a step read for it

    def place(index: tuple[int, ...]) -> Ref | None:
        row, col = base.row, base.col
        for d in range(dims):
            delta = index[d] - base_index[d]
            if delta:
                step = steps[d]
                if step is None:
                    return None
                row, col = row + delta * step[0], col + delta * step[1]
        return Ref(base.sheet, row, col) if row >= 0 and col >= 0 else None

    if any(place(index) != cell for index, cell in items):
        return None
    return place
