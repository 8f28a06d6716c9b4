"""The Training sheet: every update of the run, one row each, read off the quantity graph.

Row k holds the parameters after k updates (each computed from the row above with the
graph's update rule), the forward and backward pass of the batch update k+1 uses, its loss
and its gradients: the columns are the graph's quantities that have a cell of their own
here (net, out, each sample's loss, δ, E_total, the gradients). The rest (∂E/∂out,
∂out/∂net, the loss terms) are folded into the δ and loss formulas, bracketed where a
product needs it. The sheet may hold 10,000 rows, so it is made row by row, never whole.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

from sheetprop.cells import column
from sheetprop.model import graph as G
from sheetprop.model import ops
from sheetprop.model import reference as R
from sheetprop.model.network import Spec
from sheetprop.writing.layout import TRAIN_FIRST_ROW, Cell

FOLDED = ("dE_dout", "dout_dnet", "E_o")  # quantities written inside the formulas that use them


@dataclass
class TrainingColumns:
    """Which quantity of the graph each column of a Training row holds; the same for every row."""

    params: dict[str, int]  # trained parameter name → column
    slots: list[dict[str, int]]  # per sample slot: quantity name (net, out, the sample's loss, δ) → column
    losses: list[str]  # per sample slot: the quantity that is the sample's loss (E_s, or E_total alone)
    E_total: int
    grads: dict[str, int]  # trained parameter name → column
    headers: list[tuple[int, str, str]]  # (col, group, header)
    width: int


def training_columns(graph: G.Graph) -> TrainingColumns:
    spec = graph.spec
    col = 1
    headers = [(0, "", "update")]
    params, grads = {}, {}
    for p in graph.params:
        if G.trained(spec, p):
            params[p.name] = col
            headers.append((col, "parameters after this many updates", p.symbol))
            col += 1
    slots, losses = [], []
    nb = len(graph.suffixes)
    for slot in range(nb):
        group = f"sample slot {slot + 1}" if nb > 1 else "the sample"
        loss = graph.of("E_sample", slot=slot) if nb > 1 else graph["E_total"]
        assert loss is not None
        columns: dict[str, int] = {}
        ordered = [q for q in graph if q.slot == slot and q.kind in ("net", "out")] + [loss] + \
                  [q for q in graph if q.slot == slot and q.kind == "delta"]
        for q in ordered:
            columns[q.name] = col
            stage = "backward" if q.kind == "delta" else "forward"
            header = f"δ{q.neuron}" if q.kind == "delta" else "E" if q is loss else q.base
            headers.append((col, f"{group}: {stage}", header))
            col += 1
        slots.append(columns)
        losses.append(loss.name)
    E_total = col
    headers.append((col, "batch", "E_total"))
    col += 1
    for p in graph.params:
        if G.trained(spec, p):
            grads[p.name] = col
            headers.append((col, "gradients", f"∂E/∂{p.symbol}"))
            col += 1
    return TrainingColumns(params, slots, losses, E_total, grads, headers, col)


def training_values(graph: G.Graph, cols: TrainingColumns, step: R.Step) -> dict[int, float]:
    """The reference value of every formula cell of one Training row, by column."""
    values = {c: step.params.value(p) for p in graph.params if (c := cols.params.get(p.name)) is not None}
    for slot in range(len(step.batch)):
        for name, c in cols.slots[slot].items():
            q = graph[name]
            values[c] = R.value(q, step) if q.kind != "E_total" else step.samples[slot].E
    values[cols.E_total] = step.E_total
    for name, c in cols.grads.items():
        values[c] = step.grads[name]
    return values


def training_what(cols: TrainingColumns, row: int, col: int, sheet: str = "Training") -> str:
    """How verify names a Training cell: `Training update 3: sample slot 1: backward: δh1`."""
    group = header = ""
    for c, g, h in cols.headers:
        if c > col:
            break
        group, header = g, h
    return f"{sheet} update {row - TRAIN_FIRST_ROW}: {group}: {header}"


ROW, ABOVE = "\x00", "\x01"  # a row template's placeholders: this row's number, the row above's
_FIXED = re.compile(r"^(?:(?:'[^']+'|[^'!]+)!)?\$[A-Z]{1,3}\$\d+$|^(?![A-Za-z]{1,3}\d+$)[A-Za-z_][\w.]*$")  # $B$3, a name


def training_rows(graph: G.Graph, data_cells: Mapping[tuple, str],
                  steps: Iterable[R.Step] | None = None, eta: str = "eta") -> Iterator[list[Cell]]:
    """Rows of the Training sheet, one per update (0…N), as lists of cells.

    `data_cells` maps ("data", s, field, j) to the reference a formula uses for that given
    value (a defined name or `Network!$D$9`); `eta` is the learning rate's (the name `eta`, or
    the sheet's own η cell in a sweep). Both are absolute: only the row above and this row
    move from one row to the next. `steps` are the run's rows, all of them (0…N).

    A row's formulas depend on the row only through its number and its batch, so each batch's
    are made once, as templates. A column whose formula keeps one shape down the sheet is
    written as Excel itself writes a filled-down column: one shared formula (`Cell.shared`),
    which the file holds once and every engine loads once.
    """
    spec = graph.spec
    cols = training_columns(graph)
    steps = steps if steps is not None else R.iterate_training(spec)
    assert all(_FIXED.match(ref) for ref in (*data_cells.values(), eta)), "a shared formula would move them"
    templates = functools.cache(functools.partial(_row_templates, graph, cols, data_cells, eta))
    shared = _shared_columns(spec, templates)
    last = TRAIN_FIRST_ROW + spec.n_updates
    for step in steps:
        r, k = TRAIN_FIRST_ROW + step.index, step.index
        this, above = str(r + 1), str(r)
        values = training_values(graph, cols, step)
        cells = [Cell(r, 0, "index", value=k)]
        for c, template in templates(k == 0, tuple(step.batch)).items():
            text = template.replace(ROW, this).replace(ABOVE, above)
            share = None
            if c in shared and k >= shared[c][1]:
                si, first = shared[c]
                share = (si, f"{column(c)}{r + 1}:{column(c)}{last + 1}" if k == first else None)
            cells.append(Cell(r, c, "formula", text, values[c], shared=share))
        yield cells


def _row_templates(graph: G.Graph, cols: TrainingColumns, data_cells: Mapping[tuple, str], eta: str,
                   first: bool, batch: tuple[int, ...]) -> dict[int, str]:
    """The formulas of a row by column, in column order, with ROW and ABOVE for its row numbers."""
    present = len(batch)
    refs: dict[str, str] = {name: column(c) + ROW for name, c in cols.params.items()}
    for slot in range(present):
        for q in graph:
            if q.slot == slot and q.kind in ("input", "target"):
                field_ = "inputs" if q.kind == "input" else "targets"
                refs[q.name] = data_cells[("data", batch[slot], field_, q.index)]
        refs.update((name, column(c) + ROW) for name, c in cols.slots[slot].items())
    formulas: dict[int, str] = {}
    for p in graph.params:
        if (c := cols.params.get(p.name)) is None:
            continue
        rule = graph.of("new", param=p)
        assert rule is not None
        above = {p.name: column(c) + ABOVE, f"grad_{p.name}": column(cols.grads[p.name]) + ABOVE, "eta": eta}
        formulas[c] = p.name if first else rule.formula(above)
    for slot in range(present):
        for name, c in cols.slots[slot].items():
            formulas[c] = _render(graph, graph[name], refs, present)
    formulas[cols.E_total] = ops.reduce_excel([column(cols.slots[s][cols.losses[s]]) + ROW for s in range(present)],
                                              graph.spec.reduction)
    for name, c in cols.grads.items():
        formulas[c] = _render(graph, graph[f"grad_{name}"], refs, present)
    return dict(sorted(formulas.items()))


def _shared_columns(spec: Spec, templates: Callable[[bool, tuple[int, ...]], dict[int, str]]) \
        -> dict[int, tuple[int, int]]:
    """column → (shared formula index, first update) for the columns whose formula has one shape
    from that update (0 or 1) to the last: every batch's row gives the same template. Indexes
    follow the order the first cells appear in, as Excel numbers them."""
    batches = [tuple(b) for b in spec.batches()]
    later = [templates(False, b) for b in batches]
    top = templates(True, batches[0])
    firsts = {}
    for c, template in later[0].items():
        if all(row.get(c) == template for row in later):
            first = 0 if top.get(c) == template else 1
            if spec.n_updates > first:  # two rows at least
                firsts[c] = first
    in_order = sorted(firsts, key=lambda c: (firsts[c], c))
    return {c: (index, firsts[c]) for index, c in enumerate(in_order)}


def _render(graph: G.Graph, q: G.Quantity, refs: Mapping[str, str], present: int) -> str:
    """The formula of `q` in this row: its inputs as `refs` has them, the folded ones written out."""
    inputs = []
    for name in q.inputs:
        x = graph[name]
        if x.slot is not None and x.slot >= present:
            continue  # a smaller last mini-batch: that sample slot is empty in this row
        if x.kind in FOLDED:
            text = _render(graph, x, refs, present)
            inputs.append(f"({text})" if q.wraps else text)
        else:
            inputs.append(refs.get(name, name))
    assert q.excel is not None
    return q.excel(inputs)
