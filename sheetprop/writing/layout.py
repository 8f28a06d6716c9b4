"""Where every quantity goes on the Network sheet: the workbook as cells, before any file is written.

`network_sheet(graph, step)` lays out one update step the way the tutorials do, from the
quantity graph (`sheetprop.model.graph`): given values, forward pass, loss, backward pass, gradients,
update; `checks` adds the checks area at its foot. Each quantity is one row (a label, its
name, its maths, and a live named formula per sample of the first batch). Every formula
cell carries the value the reference computes for it: the writer stores it as the cell's
result, and verify compares the engine's value with it.

Its cell budget, what a spec's workbook will hold counted from the network's shape before any
weight is drawn, is `sheetprop.model.budget.count_formulas`: a test holds the two together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from sheetprop.cells import a1
from sheetprop.model import graph as G
from sheetprop.model import names as N
from sheetprop.model import reference as R

NETWORK = "Network"
TRAINING = "Training"
ABOUT = "About"
VALUE_COL = 3  # column D: the first value column
TRAIN_HEADER_ROW = 21  # 0-based: the chart sits above the table
TRAIN_FIRST_ROW = TRAIN_HEADER_ROW + 1
SECTION_TITLES = {"forward": "2. Forward pass", "loss": "3. Loss", "backward": "4. Backward pass (chain rule)",
                  "gradients": "5. Gradients", "update": "6. Update"}
PER_SAMPLE = ("forward", "loss", "backward")  # sections with a column per sample of the first batch


@dataclass(slots=True)
class Cell:
    row: int  # 0-based
    col: int  # 0-based
    style: str  # title, subtitle, section, header, label, name, maths, note, input, formula, index
    text: str | None = None  # the text of a text cell, or the formula (without "=")
    value: float | str | None = None  # an input's value, a formula's reference result
    name: str | None = None  # the defined name on this cell
    what: str | None = None  # how verify reports this cell ("net_h1", "Training update 3: w1")
    key: tuple | None = None  # for input cells: which given value ("eta",), ("w_1",), ("data", s, "inputs", j)
    shared: tuple[int, str | None] | None = None  # a shared formula's (index, range): the range on its first cell only


@dataclass
class SheetLayout:
    name: str
    cells: list[Cell] = field(default_factory=list)
    widths: dict[int, float] = field(default_factory=dict)


class _Sheet:
    """A cursor that appends rows to a SheetLayout and records defined names."""

    def __init__(self, name: str):
        self.layout = SheetLayout(name)
        self.row = 0
        self.names: dict[str, tuple[int, int]] = {}

    def put(self, col: int, style: str, text=None, value=None, name=None, what=None, key=None) -> Cell:
        cell = Cell(self.row, col, style, text, value, name, what or name, key)
        self.layout.cells.append(cell)
        if name:
            self.names[name] = (self.row, col)
        return cell

    def labels(self, label: str, name: str, maths: str = "") -> None:
        self.put(0, "label", label)
        self.put(1, "name", name)
        if maths:
            self.put(2, "maths", maths)

    def section(self, title: str, headers: Sequence[str]) -> None:
        self.row += 1
        self.put(0, "section", title)
        self.row += 1
        for col, text in enumerate(headers):
            self.put(col, "header", text)
        self.row += 1

    def next(self) -> None:
        self.row += 1


def network_sheet(graph: G.Graph, step: R.Step) -> tuple[SheetLayout, dict[str, tuple[int, int]]]:
    """The worked example of the first update; returns the layout and name → (row, col)."""
    spec = graph.spec
    values = {q.name: R.value(q, step) for q in graph}
    nb = len(graph.batch)
    multi = nb > 1
    sheet = _Sheet(NETWORK)
    put = sheet.put

    put(0, "title", spec.name)
    sheet.next()
    put(0, "subtitle", "One step of backpropagation, every number a live formula. "
        "Yellow cells are the given values: change one and everything below follows.")
    sheet.next()
    put(0, "note", f"Loss: {spec.loss}; batch: {spec.batch} ({nb} sample{'s' if multi else ''} in the first update); "
        f"batch loss = {spec.reduction} of the samples' losses. The Training sheet repeats the update "
        f"{spec.n_updates} times.")
    sheet.next()
    _given(sheet, graph, values)

    rows: dict[str, list[G.Quantity]] = {}
    for q in graph:
        rows.setdefault(q.base, []).append(q)
    one_value = ["Quantity", "Name", "Maths", "Value"]
    per_sample = ["Quantity", "Name", "Maths"] + [f"sample {s + 1}" for s in graph.batch] if multi else one_value
    section = layer = None
    for q in graph:
        if q.given or not q.worked or q.slot not in (None, 0):
            continue  # a row per quantity; its samples are the row's columns
        if q.section != section:
            section, layer = q.section, None
            sheet.section(SECTION_TITLES[section], per_sample if section in PER_SAMPLE else one_value)
        if section in ("forward", "backward") and q.layer != layer:
            layer = q.layer
            put(0, "note", _layer_note(graph, section, layer))
            sheet.next()
        sheet.labels(q.label, q.base, q.maths)
        for slot, x in enumerate(rows[q.base]):
            put(VALUE_COL + slot, "formula", x.formula({}), values[x.name], name=x.name)
        sheet.next()

    sheet.layout.widths = {0: 30, 1: 16, 2: 46}
    for col in range(VALUE_COL, VALUE_COL + max(len(spec.data), 1)):
        sheet.layout.widths[col] = 15
    return sheet.layout, sheet.names


def _given(sheet: _Sheet, graph: G.Graph, values: dict[str, float]) -> None:
    """Section 1: η, the data (every sample, named where it is in the first batch), the parameters."""
    spec, labels, put = graph.spec, graph.labels, sheet.put
    batch, multi = list(graph.batch), len(graph.batch) > 1
    sfx = graph.suffixes
    sheet.section("1. Given values", ["Quantity", "Name", "Meaning", "Value"])
    sheet.labels("learning rate η", "eta", "step size of every update")
    put(VALUE_COL, "input", value=spec.learning_rate, name="eta", key=("eta",))
    sheet.next()

    sheet.row += 1
    put(0, "header", "Data")
    put(1, "header", "Name")
    put(2, "header", "Meaning")
    for s in range(len(spec.data)):
        put(VALUE_COL + s, "header", f"sample {s + 1}" + (f" ({sfx[batch.index(s)]})" if multi and s in batch else ""))
    sheet.next()
    rows = [("inputs", N.input_name(j + 1), f"input {lab}", f"input {lab}") for j, lab in enumerate(labels[0])] + \
           [("targets", N.target_name(lab), f"target of {lab}", f"what {lab} should output") for lab in labels[-1]]
    for j_field, (field_, base, label, meaning) in enumerate(rows):
        j = j_field if field_ == "inputs" else j_field - len(labels[0])
        sheet.labels(label, base, meaning)
        for s, sample in enumerate(spec.data):
            name = base + sfx[batch.index(s)] if s in batch else None
            put(VALUE_COL + s, "input", value=getattr(sample, field_)[j], name=name,
                what=name or f"sample {s + 1} {base}", key=("data", s, field_, j))
        sheet.next()

    sheet.row += 1
    for p in graph.params:
        if p.kind == "w":
            assert p.row is not None and p.col is not None  # a weight has both
            sheet.labels(f"weight {p.symbol}", p.name, f"from {labels[p.layer - 1][p.col]} to {labels[p.layer][p.row]}")
        else:
            where = f"layer {p.layer}" if p.row is None else labels[p.layer][p.row]
            frozen = "" if spec.train_biases else " (frozen: never updated)"
            sheet.labels(f"bias {p.symbol}", p.name, f"bias of {where}{frozen}")
        put(VALUE_COL, "input", value=values[p.name], name=p.name, key=(p.name,))
        sheet.next()


def _layer_note(graph: G.Graph, section: str, layer: int | None) -> str:
    assert layer is not None
    output = layer == len(graph.labels) - 1
    role = "output" if output else "hidden"
    if section == "forward":
        return f"layer {layer} ({role}, {graph.spec.layers[layer].activation})"
    return f"layer {layer} ({role})" + ("" if output else ": uses the weights from before the update")


def checks(sheet_layout: SheetLayout, first: R.Step, last: R.Step, loss_col: int, training: str = TRAINING) -> None:
    """A checks area at the foot of the Network sheet, linking it to the (first) Training sheet."""
    from xlsxwriter.utility import quote_sheetname  # type: ignore[import-untyped]

    sheet = _Sheet(NETWORK)
    sheet.row = max(c.row for c in sheet_layout.cells) + 1
    sheet.section("7. Checks", ["Check", "", "Should be", "Value"])
    first_ref = f"{quote_sheetname(training)}!{a1(TRAIN_FIRST_ROW, loss_col, True)}"
    last_ref = f"{quote_sheetname(training)}!{a1(TRAIN_FIRST_ROW + last.index, loss_col, True)}"
    sheet.labels("Training row 0 loss − E_total", "", "0 (both sheets agree)")
    # the Training sheet's row 0 computes E_total with the same operations: exactly 0
    sheet.put(VALUE_COL, "formula", f"ABS({first_ref}-E_total)", 0.0, what="check: Training row 0 loss")
    sheet.next()
    sheet.labels(f"loss after {last.index} updates", "", "smaller than E_total when training works")
    sheet.put(VALUE_COL, "formula", last_ref, last.E_total, what=f"check: loss after {last.index} updates")
    sheet.next()
    sheet.labels("loss went down?", "", "yes")
    sheet.put(VALUE_COL, "formula", f'IF({last_ref}<E_total,"yes","no")',
              "yes" if last.E_total < first.E_total else "no", what="check: loss went down")
    sheet.next()
    sheet_layout.cells.extend(sheet.layout.cells)
