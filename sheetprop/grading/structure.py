"""Find the quantities of the first update in a student's workbook by the structure of its formulas.

First the given values (inputs, targets, weights, biases, η) are anchored: cells that hold a
number (typed, `=0.5`, or a copy such as `=$B$5`) that the formulas consume, recognised by the
label over or beside them, by the value the spec gives, and by their role (in a table, the
weights are the columns updated from the row above, η the cell every update uses). Then, in
the order a worked example computes them, each quantity is the formula cell that

- uses what the quantity's rule uses (`sheetprop.model.graph`): its precedents, followed through
  helper cells to the quantities already found, are the rule's inputs, or what those are
  made of when the student folds a factor (∂E/∂out, ∂out/∂net, δ) into the formula;
- holds the value the rule gives from the student's own values (right, or carried forward);
- carries a label that reads like it.

Structure comes first; a value and a label only decide between cells the structure allows,
so the mirror images h1/h2 and o1/o2 are told apart by the weights each uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from sheetprop.cells import Ref
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.readbook import Formula, StudentBook
from sheetprop.grading.tables import Table
from sheetprop.grading.vocabulary import label_index, read_label
from sheetprop.model import reference as R
from sheetprop.model.graph import Quantity

MAX_CANDIDATES = 3000  # formula cells considered outside a table


@dataclass
class Context:
    """What the locator knows about the book while it works."""

    book: StudentBook
    deps: Dependencies
    values: Mapping[tuple[str, str], object]  # the engine's value of every formula cell
    sol: R.Solution
    labels: dict[Ref, tuple[str, str]]  # value cell → (the name its label stands for, where the label is)
    found: dict[str, Ref]
    table: Table | None = None

    def value(self, cell: Ref) -> float | None:
        raw = self.book.cells.get(cell)
        value = self.values.get(cell.key) if isinstance(raw, Formula) else raw
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return float(value)


def locate_structure(book: StudentBook, sol: R.Solution, deps: Dependencies, values, found: dict[str, Ref],
                     table: Table | None = None) -> dict[str, Ref]:
    """Where each quantity not in `found` is, by structure; returns only what it finds."""
    return {name: cell for name, (cell, _how) in locate_with_labels(book, sol, deps, values, found, table).items()}


def locate_with_labels(book: StudentBook, sol: R.Solution, deps: Dependencies, values, found: dict[str, Ref],
                       table: Table | None = None) -> dict[str, tuple[Ref, str]]:
    """As `locate_structure`, with how each was found: "structure", or "structure, label 'h1' at Sheet1!J48"
    when its label agrees."""
    ctx = Context(book, deps, values, sol, _labels(book, sol, table), dict(found), table)
    before = set(ctx.found)
    for name, cell in _givens(ctx).items():
        ctx.found[name] = cell
    new = {name: cell for name, cell in ctx.found.items() if name not in before}
    for q in sol.graph:
        if q.given or q.name in ctx.found:
            continue
        computed = _computed(ctx, q)
        if computed is not None:
            ctx.found[q.name] = new[q.name] = computed
    hows = {}
    for name, cell in new.items():
        label = ctx.labels.get(cell)
        hows[name] = (cell, f"structure, {label[1]}" if label and label[0] == name else "structure")
    return hows


# ---------------------------------------------------------------- labels

MAX_RIGHT = 6  # columns to the right of a label where its value may sit
MAX_DOWN = 3  # rows below a label (a header row over its values)


def is_value(raw) -> bool:
    return isinstance(raw, Formula) or (isinstance(raw, (int, float)) and not isinstance(raw, bool))


def value_near(book: StudentBook, label: Ref, index: dict[str, str]) -> Ref | None:
    """The value cell of a label: beside it to the right, else below it."""
    sheet, row, col = label
    for c in range(col + 1, col + 1 + MAX_RIGHT):
        raw = book.cells.get(Ref(sheet, row, c))
        if raw is None:
            continue
        if is_value(raw):
            return Ref(sheet, row, c)
        if isinstance(raw, str) and read_label(raw, index) is not None:
            break  # the next quantity's label: this one has no value beside it
    for r in range(row + 1, row + 1 + MAX_DOWN):
        raw = book.cells.get(Ref(sheet, r, col))
        if raw is None:
            continue
        return Ref(sheet, r, col) if is_value(raw) else None
    return None




def _labels(book: StudentBook, sol: R.Solution, table: Table | None) -> dict[Ref, tuple[str, str]]:
    """Which name the label of each value cell stands for: a table's header over its column (for
    the table's first two rows), or a text cell to the left in the same row."""
    index = label_index(sol.graph.names)
    labels: dict[Ref, tuple[str, str]] = {}
    if table is not None and table.header is not None:
        for col, text in table.labels.items():
            name = read_label(text, index)
            if name:
                for row in (table.first, table.first + 1):
                    labels[Ref(table.sheet, row, col)] = (name, f"label {text!r} at {Ref(table.sheet, table.header, col)}")
    for cell, raw in book.cells.items():
        if isinstance(raw, str) and not isinstance(raw, Formula):
            name = read_label(raw, index)
            spot = value_near(book, cell, index) if name else None
            if name and spot is not None:
                labels.setdefault(spot, (name, f"label {raw.strip()!r} at {cell}"))
    return labels


# ---------------------------------------------------------------- given values


def _givens(ctx: Context) -> dict[str, Ref]:
    """Anchor the given values among the numbers the formulas consume."""
    graph = ctx.sol.graph
    wanted = [q for q in graph if q.given and q.name not in ctx.found]
    table = ctx.table
    leaves = _leaves(ctx)
    params = set()
    if table is not None:
        params = {Ref(table.sheet, table.first, col) for col in table.params}
        if table.eta is not None and "eta" not in ctx.found and "eta" in graph.quantities:
            ctx.found["eta"] = table.eta
    scores: list[tuple[float, str, Ref]] = []
    for q in wanted:
        if q.name in ctx.found:
            continue
        expected = ctx.sol.values[q.name]
        for cell in leaves:
            score = 0.0
            if _label(ctx, cell) == q.name:
                score += 10
            value = ctx.value(cell)
            if value is not None and _close(value, expected):
                score += 4
            if table is not None:
                if q.kind == "param" and cell in params:
                    score += 3
                elif q.kind != "param" and cell not in params and cell.row == table.first:
                    score += 1
                elif q.kind == "param":
                    score -= 5
            if score >= 5:
                scores.append((score, q.name, cell))
    chosen: dict[str, Ref] = {}
    taken = set(ctx.found.values())
    for score, name, cell in sorted(scores, key=lambda s: (-s[0], s[2].row, s[2].col)):
        if name not in chosen and cell not in taken:
            chosen[name] = cell
            taken.add(cell)
    return chosen


def _leaves(ctx: Context) -> list[Ref]:
    """Cells that hold a given value: numbers the formulas use, typed or as a constant or a copy."""
    table = ctx.table
    cells = []
    for cell, raw in ctx.book.cells.items():
        if table is not None and (cell.sheet != table.sheet or cell.row != table.first):
            continue
        number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        if (number and cell in ctx.deps.users) or ctx.deps.is_constant(cell) or ctx.deps.copy_of(cell) is not None:
            cells.append(cell)
    return cells


# ---------------------------------------------------------------- computed quantities


def _computed(ctx: Context, q: Quantity) -> Ref | None:
    """The formula cell that computes `q`, if one scores high enough."""
    table = ctx.table
    if table is not None and q.kind == "new" and q.param is not None:
        weight = ctx.found.get(q.param.name)
        if weight is not None and weight.sheet == table.sheet and weight.col in table.params \
                and weight.row == table.first:
            return Ref(table.sheet, table.first + 1, weight.col)
    expected = _expand(ctx, q)
    own = ctx.sol.own_values({name: v for name, cell in ctx.found.items() if (v := ctx.value(cell)) is not None})
    target = own.get(q.name)
    stop = set(ctx.found.values())
    names_of = {cell: name for name, cell in ctx.found.items()}
    best: tuple[float, Ref] | None = None
    for cell in _candidates(ctx):
        if cell in stop:
            continue
        used = {names_of[c] for c in ctx.deps.sources(cell, stop) if c in names_of}
        inside = len(used & expected)
        if not inside:
            continue
        share = inside / len(used | expected)  # how much of the rule's inputs, and only them
        labelled = _label(ctx, cell) == q.name
        value = ctx.value(cell)
        right = value is not None and target is not None and _close(value, target)
        if used <= expected:  # nothing the rule does not use: the value or the label decides
            accept = right or labelled or share >= 0.6
        else:  # it uses something the rule does not: only its label makes it this quantity (a mistake)
            accept = labelled and share >= 0.3
        if q.kind == "dnet_dout":  # ∂net/∂out is a weight: only a label tells the factor from a copy of it
            accept = accept and labelled
        if not accept:
            continue
        score = 8 * share + 10 * labelled + 9 * right + 3 * (used <= expected)
        if best is None or score > best[0]:
            best = (score, cell)
    return best[1] if best is not None else None


def _candidates(ctx: Context) -> list[Ref]:
    table = ctx.table
    if table is not None:  # update 0's row (its new weights, in the row below, are placed directly)
        return [Ref(table.sheet, table.first, col) for col in table.columns
                if col not in table.params and ctx.deps.is_formula(Ref(table.sheet, table.first, col))]
    cells = list(ctx.deps.precedents)
    if len(cells) > MAX_CANDIDATES:  # a large book: only the formulas near what was found
        anchors = list(ctx.found.values())
        cells.sort(key=lambda c: min((abs(c.row - a.row) + abs(c.col - a.col) + (0 if c.sheet == a.sheet else 10**6)
                                      for a in anchors), default=0))
        cells = cells[:MAX_CANDIDATES]
    return cells


def _expand(ctx: Context, q: Quantity) -> set[str]:
    """The quantities found so far that `q`'s rule uses, looking through the ones not found."""
    graph, out, todo, seen = ctx.sol.graph, set(), list(q.inputs), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in ctx.found or graph[name].given:
            out.add(name)  # a given value not found yet stays in: a cell that cannot use it fits less well
        else:
            todo.extend(graph[name].inputs)
    return out


def _label(ctx: Context, cell: Ref) -> str | None:
    label = ctx.labels.get(cell)
    return label[0] if label else None


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(abs(a), abs(b)) or abs(a - b) <= 1e-12
