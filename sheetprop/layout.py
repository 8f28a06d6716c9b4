"""Where every quantity goes: the workbook as cells, before any file is written.

`network_sheet(spec)` lays out one update step the way the tutorials do: given values,
forward pass, loss, backward pass, gradients, update, checks. `training_rows(spec)` yields
the Training sheet row by row (it may hold 10,000 rows, so it is never built whole).
Every formula cell carries the value the reference computes for it: the writer stores it
as the cell's result, and verify compares the engine's value with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator

from sheetprop import expressions as X
from sheetprop import names as N
from sheetprop import reference as R
from sheetprop.spec import Spec

NETWORK = "Network"
TRAINING = "Training"
ABOUT = "About"
VALUE_COL = 3  # column D: the first value column
TRAIN_HEADER_ROW = 21  # 0-based: the chart sits above the table
TRAIN_FIRST_ROW = TRAIN_HEADER_ROW + 1


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


@dataclass
class SheetLayout:
    name: str
    cells: list[Cell] = field(default_factory=list)
    widths: dict[int, float] = field(default_factory=dict)


@lru_cache(maxsize=None)
def col_letter(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def a1(row: int, col: int, absolute: bool = False) -> str:
    if absolute:
        return f"${col_letter(col)}${row + 1}"
    return f"{col_letter(col)}{row + 1}"


# ---------------------------------------------------------------- the Network sheet

ACT_TEXT = {
    "sigmoid": "1 / (1 + e^(−{net}))",
    "tanh": "tanh({net})",
    "relu": "max(0, {net})",
    "leaky_relu": "{net} if {net} > 0, else 0.01·{net}",
    "softplus": "ln(1 + e^{net})",
    "softmax": "e^{net} / Σk e^net_k (softmax over the layer)",
    "identity": "{net} (no activation)",
}
DERIV_TEXT = {
    "sigmoid": "{out}·(1 − {out})",
    "tanh": "1 − {out}²",
    "relu": "1 if {net} > 0, else 0",
    "leaky_relu": "1 if {net} > 0, else 0.01",
    "softplus": "1 / (1 + e^(−{net}))",
    "identity": "1",
}
LOSS_TEXT = {
    "half_sse": ("½·({t} − {o})²", "{o} − {t}"),
    "sse": ("({t} − {o})²", "2·({o} − {t})"),
    "mse": ("({t} − {o})² / {k}", "2·({o} − {t}) / {k}"),
    "bce": ("−[{t}·ln {o} + (1 − {t})·ln(1 − {o})]", "−{t}/{o} + (1 − {t})/(1 − {o})"),
    "cross_entropy": ("−{t}·ln {o}", "−{t}/{o}"),
}


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

    def section(self, title: str, headers: list[str]) -> None:
        self.row += 1
        self.put(0, "section", title)
        self.row += 1
        for col, text in enumerate(headers):
            self.put(col, "header", text)
        self.row += 1

    def next(self) -> None:
        self.row += 1


def network_sheet(spec: Spec, step: R.Step) -> tuple[SheetLayout, dict[str, tuple[int, int]]]:
    """The worked example of the first update; returns the layout and name → (row, col)."""
    values = R.first_update_names(spec, step)
    labels = N.neuron_labels(spec.sizes)
    params = R.parameters(spec)
    batch = step.batch
    nb = len(batch)
    multi = nb > 1
    sfx = [N.sample_suffix(slot, nb) for slot in range(nb)]
    n_layers = len(spec.sizes)
    K = spec.sizes[-1]
    sheet = _Sheet(NETWORK)
    put, labels_row = sheet.put, sheet.labels

    put(0, "title", spec.name)
    sheet.next()
    put(0, "subtitle", "One step of backpropagation, every number a live formula. "
        "Yellow cells are the given values: change one and everything below follows.")
    sheet.next()
    put(0, "note", f"Loss: {spec.loss}; batch: {spec.batch} ({nb} sample{'s' if multi else ''} in the first update); "
        f"batch loss = {spec.reduction} of the samples' losses. The Training sheet repeats the update "
        f"{spec.n_updates} times.")
    sheet.next()

    # 1. given values -------------------------------------------------------------
    sheet.section("1. Given values", ["Quantity", "Name", "Meaning", "Value"])
    labels_row("learning rate η", "eta", "step size of every update")
    put(VALUE_COL, "input", value=spec.learning_rate, name="eta", key=("eta",))
    sheet.next()

    sheet.row += 1
    put(0, "header", "Data")
    put(1, "header", "Name")
    put(2, "header", "Meaning")
    first_batch = set(batch)
    for s in range(len(spec.data)):
        put(VALUE_COL + s, "header", f"sample {s + 1}" + (f" ({sfx[batch.index(s)]})" if multi and s in first_batch else ""))
    sheet.next()

    def data_rows(field_: str, base_names: list[str], meanings: list[str], labels_: list[str]):
        for j, base in enumerate(base_names):
            labels_row(labels_[j], base, meanings[j])
            for s, sample in enumerate(spec.data):
                name = base + sfx[batch.index(s)] if s in first_batch else None
                put(VALUE_COL + s, "input", value=getattr(sample, field_)[j], name=name,
                    what=name or f"sample {s + 1} {base}", key=("data", s, field_, j))
            sheet.next()

    data_rows("inputs", [N.input_name(j + 1) for j in range(spec.sizes[0])],
              [f"input {lab}" for lab in labels[0]], [f"input {lab}" for lab in labels[0]])
    data_rows("targets", [N.target_name(lab) for lab in labels[-1]],
              [f"what {lab} should output" for lab in labels[-1]], [f"target of {lab}" for lab in labels[-1]])

    sheet.row += 1
    for p in params:
        if p.kind == "w":
            src = labels[p.layer - 1][p.col]
            dst = labels[p.layer][p.row]
            labels_row(f"weight {p.symbol}", p.name, f"from {src} to {dst}")
        else:
            where = f"layer {p.layer}" if p.row is None else labels[p.layer][p.row]
            frozen = "" if spec.train_biases else " (frozen: never updated)"
            labels_row(f"bias {p.symbol}", p.name, f"bias of {where}{frozen}")
        put(VALUE_COL, "input", value=values[p.name], name=p.name, key=(p.name,))
        sheet.next()

    def ref_in(layer: int, j: int, slot: int) -> str:
        return N.value_name(layer, labels[layer][j]) + sfx[slot]

    def per_sample(name_of, formula_of, maths: str, label: str, base: str) -> None:
        """One row: the same formula shape across the batch's samples."""
        labels_row(label, base, maths)
        for slot in range(nb):
            name = name_of(slot)
            put(VALUE_COL + slot, "formula", formula_of(slot), values[name], name=name)
        sheet.next()

    def bias_ref(layer: int, j: int) -> str | None:
        mode = spec.bias_modes[layer - 1]
        if mode == "none":
            return None
        return f"b_{layer}" if mode == "shared" else f"b_{labels[layer][j]}"

    w_of = {(p.layer, p.row, p.col): p for p in params if p.kind == "w"}
    symbol_of = {p.name: p.symbol for p in params}
    sample_headers = ["Quantity", "Name", "Maths"] + [f"sample {s + 1}" for s in batch]

    # 2. forward pass -------------------------------------------------------------
    sheet.section("2. Forward pass", sample_headers if multi else ["Quantity", "Name", "Maths", "Value"])
    for layer in range(1, n_layers):
        kind = spec.layers[layer].activation
        role = "output" if layer == n_layers - 1 else "hidden"
        put(0, "note", f"layer {layer} ({role}, {kind})")
        sheet.next()
        for j, lab in enumerate(labels[layer]):
            ws = [w_of[(layer, j, i)] for i in range(spec.sizes[layer - 1])]
            b = bias_ref(layer, j)
            ins = [labels[0][i] if layer == 1 else f"out_{labels[layer - 1][i]}" for i in range(len(ws))]
            maths = " + ".join(f"{w.symbol}·{x}" for w, x in zip(ws, ins)) + (f" + {symbol_of[b]}" if b else "")
            per_sample(lambda s, lab=lab: f"net_{lab}{sfx[s]}",
                       lambda s, ws=ws, b=b, layer=layer: X.net([w.name for w in ws], [ref_in(layer - 1, i, s) for i in range(len(ws))], b),
                       f"net_{lab} = {maths}", f"net input of {lab}", f"net_{lab}")
        for j, lab in enumerate(labels[layer]):
            per_sample(lambda s, lab=lab: f"out_{lab}{sfx[s]}",
                       lambda s, lab=lab, layer=layer: X.activate(kind, f"net_{lab}{sfx[s]}", [f"net_{m}{sfx[s]}" for m in labels[layer]]),
                       f"out_{lab} = " + ACT_TEXT[kind].format(net=f"net_{lab}"), f"output of {lab}", f"out_{lab}")

    # 3. loss ---------------------------------------------------------------------
    sheet.section("3. Loss", sample_headers if multi else ["Quantity", "Name", "Maths", "Value"])
    e_text, g_text = LOSS_TEXT[spec.loss]
    for j, lab in enumerate(labels[-1]):
        t, o = N.target_name(lab), f"out_{lab}"
        per_sample(lambda s, lab=lab: f"E_{lab}{sfx[s]}",
                   lambda s, t=t, o=o: X.loss_term(spec.loss, t + sfx[s], o + sfx[s], K),
                   f"E_{lab} = " + e_text.format(t=t, o=o, k=K), f"loss term of {lab}", f"E_{lab}")
    terms = lambda s: "+".join(f"E_{lab}{sfx[s]}" for lab in labels[-1])  # noqa: E731
    if multi:
        per_sample(lambda s: f"E{sfx[s]}", terms, "E = Σ of the sample's loss terms", "loss of this sample", "E")
        labels_row(f"batch loss ({spec.reduction} over samples)", "E_total", f"E_total = {spec.reduction} of E over the batch")
        put(VALUE_COL, "formula", X.reduce([f"E{sfx[s]}" for s in range(nb)], spec.reduction), values["E_total"], name="E_total")
    else:
        labels_row("total loss", "E_total", "E_total = " + " + ".join(f"E_{lab}" for lab in labels[-1]))
        put(VALUE_COL, "formula", terms(0), values["E_total"], name="E_total")
    sheet.next()

    # 4. backward pass ------------------------------------------------------------
    sheet.section("4. Backward pass (chain rule)", sample_headers if multi else ["Quantity", "Name", "Maths", "Value"])
    for layer in range(n_layers - 1, 0, -1):
        kind = spec.layers[layer].activation
        role = "output" if layer == n_layers - 1 else "hidden"
        put(0, "note", f"layer {layer} ({role})" + ("" if role == "output" else ": uses the weights from before the update"))
        sheet.next()
        for j, lab in enumerate(labels[layer]):
            if role == "output":
                t, o = N.target_name(lab), f"out_{lab}"
                grad = lambda s, t=t, o=o: X.loss_gradient(spec.loss, t + sfx[s], o + sfx[s], K)  # noqa: E731
                maths = g_text.format(t=t, o=o, k=K)
            else:
                nxt = labels[layer + 1]
                wn = [w_of[(layer + 1, k, j)] for k in range(len(nxt))]
                grad = lambda s, nxt=nxt, wn=wn: X.weighted_sum([f"delta_{m}{sfx[s]}" for m in nxt], [w.name for w in wn])  # noqa: E731
                maths = " + ".join(f"δ{m}·{w.symbol}" for m, w in zip(nxt, wn))
            per_sample(lambda s, lab=lab: f"dE_dout_{lab}{sfx[s]}", grad,
                       f"∂E/∂out_{lab} = {maths}", f"∂E/∂out of {lab}", f"dE_dout_{lab}")
            if kind != "softmax":
                per_sample(lambda s, lab=lab: f"dout_dnet_{lab}{sfx[s]}",
                           lambda s, lab=lab: X.derivative(kind, f"out_{lab}{sfx[s]}", f"net_{lab}{sfx[s]}"),
                           f"∂out_{lab}/∂net_{lab} = " + DERIV_TEXT[kind].format(out=f"out_{lab}", net=f"net_{lab}"),
                           f"∂out/∂net of {lab}", f"dout_dnet_{lab}")
        for j, lab in enumerate(labels[layer]):
            if kind == "softmax":
                delta = lambda s, j=j: X.softmax_delta(  # noqa: E731
                    j, [f"dE_dout_{m}{sfx[s]}" for m in labels[layer]], [f"out_{m}{sfx[s]}" for m in labels[layer]])
                maths = f"δ{lab} = out_{lab}·(∂E/∂out_{lab} − Σk ∂E/∂out_k·out_k)"
            else:
                delta = lambda s, lab=lab: f"dE_dout_{lab}{sfx[s]}*dout_dnet_{lab}{sfx[s]}"  # noqa: E731
                maths = f"δ{lab} = ∂E/∂out_{lab} · ∂out_{lab}/∂net_{lab}"
            per_sample(lambda s, lab=lab: f"delta_{lab}{sfx[s]}", delta, maths, f"δ of {lab} (∂E/∂net)", f"delta_{lab}")

    # 5. gradients ----------------------------------------------------------------
    over = f"{spec.reduction} over the batch of " if multi else ""
    sheet.section("5. Gradients", ["Quantity", "Name", "Maths", "Value"])
    for p in params:
        if p.kind == "w":
            lab, src = labels[p.layer][p.row], N.value_name(p.layer - 1, labels[p.layer - 1][p.col])
            terms_ = [f"delta_{lab}{sfx[s]}*{src}{sfx[s]}" for s in range(nb)]
            shown = labels[0][p.col] if p.layer == 1 else src
            maths = f"∂E/∂{p.symbol} = {over}δ{lab} · {shown}"
        elif p.row is not None:
            lab = labels[p.layer][p.row]
            terms_ = [f"delta_{lab}{sfx[s]}" for s in range(nb)]
            maths = f"∂E/∂{p.symbol} = {over}δ{lab}"
        else:
            layer_labs = labels[p.layer]
            terms_ = ["+".join(f"delta_{m}{sfx[s]}" for m in layer_labs) for s in range(nb)]
            maths = f"∂E/∂{p.symbol} = {over}" + " + ".join(f"δ{m}" for m in layer_labs)
        labels_row(f"gradient of {p.symbol}", f"grad_{p.name}", maths)
        put(VALUE_COL, "formula", X.reduce(terms_, spec.reduction), values[f"grad_{p.name}"], name=f"grad_{p.name}")
        sheet.next()

    # 6. update -------------------------------------------------------------------
    sheet.section("6. Update", ["Quantity", "Name", "Maths", "Value"])
    for p in params:
        if R.trained(spec, p):
            labels_row(f"new {p.symbol}", f"new_{p.name}", f"{p.symbol}⁺ = {p.symbol} − η · ∂E/∂{p.symbol}")
            formula = X.update(p.name, "eta", f"grad_{p.name}")
        else:
            labels_row(f"new {p.symbol}", f"new_{p.name}", f"{p.symbol}⁺ = {p.symbol} (biases are frozen)")
            formula = p.name
        put(VALUE_COL, "formula", formula, values[f"new_{p.name}"], name=f"new_{p.name}")
        sheet.next()

    sheet.layout.widths = {0: 30, 1: 16, 2: 46}
    for col in range(VALUE_COL, VALUE_COL + max(len(spec.data), 1)):
        sheet.layout.widths[col] = 15
    return sheet.layout, sheet.names


def checks(spec: Spec, sheet_layout: SheetLayout, first: R.Step, last: R.Step, loss_col: int) -> None:
    """A checks area at the foot of the Network sheet, linking it to the Training sheet."""
    sheet = _Sheet(NETWORK)
    sheet.row = max(c.row for c in sheet_layout.cells) + 1
    sheet.section("7. Checks", ["Check", "", "Should be", "Value"])
    first_ref = f"{TRAINING}!{a1(TRAIN_FIRST_ROW, loss_col, True)}"
    last_ref = f"{TRAINING}!{a1(TRAIN_FIRST_ROW + last.index, loss_col, True)}"
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


# ---------------------------------------------------------------- the Training sheet


@dataclass
class TrainingColumns:
    """Column positions of one Training row; the same for every row."""

    params: dict[str, int]  # trained parameter name → column
    nets: list[list[list[int]]]  # [slot][layer][neuron]
    outs: list[list[list[int]]]
    E: list[int]  # [slot]
    deltas: list[list[list[int]]]
    E_total: int
    grads: dict[str, int]
    headers: list[tuple[int, str, str]]  # (col, group, header)
    width: int


def training_columns(spec: Spec) -> TrainingColumns:
    labels = N.neuron_labels(spec.sizes)
    n_layers = len(labels)
    col = 1
    headers = [(0, "", "update")]
    params = {}
    for p in R.parameters(spec):
        if R.trained(spec, p):
            params[p.name] = col
            headers.append((col, "parameters after this many updates", p.symbol))
            col += 1
    nets, outs, E, deltas = [], [], [], []
    for slot in range(spec.batch_size):
        group = f"sample slot {slot + 1}" if spec.batch_size > 1 else "the sample"
        n_, o_, d_ = [[]], [[]], [[] for _ in range(n_layers)]
        for layer in range(1, n_layers):
            n_.append([]), o_.append([])
            for lab in labels[layer]:
                n_[layer].append(col), headers.append((col, f"{group}: forward", f"net_{lab}"))
                col += 1
            for lab in labels[layer]:
                o_[layer].append(col), headers.append((col, f"{group}: forward", f"out_{lab}"))
                col += 1
        E.append(col), headers.append((col, f"{group}: forward", "E"))
        col += 1
        for layer in range(n_layers - 1, 0, -1):
            for lab in labels[layer]:
                d_[layer].append(col), headers.append((col, f"{group}: backward", f"δ{lab}"))
                col += 1
        nets.append(n_), outs.append(o_), deltas.append(d_)
    E_total = col
    headers.append((col, "batch", "E_total"))
    col += 1
    grads = {}
    for p in R.parameters(spec):
        if R.trained(spec, p):
            grads[p.name] = col
            headers.append((col, "gradients", f"∂E/∂{p.symbol}"))
            col += 1
    return TrainingColumns(params, nets, outs, E, deltas, E_total, grads, headers, col)


def training_values(spec: Spec, cols: TrainingColumns, step: R.Step) -> dict[int, float]:
    """The reference value of every formula cell of one Training row, by column."""
    values = {c: step.params.value(p) for p in R.parameters(spec) if (c := cols.params.get(p.name)) is not None}
    for slot, trace in enumerate(step.samples):
        for layer in range(1, len(spec.sizes)):
            for j in range(spec.sizes[layer]):
                values[cols.nets[slot][layer][j]] = trace.nets[layer][j]
                values[cols.outs[slot][layer][j]] = trace.outs[layer][j]
                values[cols.deltas[slot][layer][j]] = trace.deltas[layer][j]
        values[cols.E[slot]] = trace.E
    values[cols.E_total] = step.E_total
    for name, c in cols.grads.items():
        values[c] = step.grads[name]
    return values


def training_what(cols: TrainingColumns, row: int, col: int) -> str:
    """How verify names a Training cell: `Training update 3: sample slot 1: backward: δh1`."""
    group = header = ""
    for c, g, h in cols.headers:
        if c > col:
            break
        group, header = g, h
    return f"Training update {row - TRAIN_FIRST_ROW}: {group}: {header}"


def training_rows(spec: Spec, data_cells: dict[tuple, str], steps=None) -> Iterator[list[Cell]]:
    """Rows of the Training sheet, one per update (0…N), as lists of cells.

    `data_cells` maps ("data", s, field, j) to the reference a formula uses for that given
    value (a defined name or `Network!$D$9`).
    """
    cols = training_columns(spec)
    labels = N.neuron_labels(spec.sizes)
    n_layers = len(labels)
    K = spec.sizes[-1]
    plist = R.parameters(spec)
    w_of = {(p.layer, p.row, p.col): p for p in plist if p.kind == "w"}
    b_of = {}
    for p in plist:
        if p.kind == "b":
            for j in range(spec.sizes[p.layer]) if p.row is None else [p.row]:
                b_of[(p.layer, j)] = p
    steps = steps if steps is not None else R.iterate_training(spec)
    for step in steps:
        r = TRAIN_FIRST_ROW + step.index
        k = step.index
        values = training_values(spec, cols, step)
        formulas: dict[int, str] = {}

        def ref(col: int) -> str:
            return a1(r, col)

        def param_ref(p: N.Param) -> str:
            return ref(cols.params[p.name]) if p.name in cols.params else p.name

        for p in plist:
            if p.name in cols.params:
                c = cols.params[p.name]
                formulas[c] = p.name if k == 0 else X.update(a1(r - 1, c), "eta", a1(r - 1, cols.grads[p.name]))
        for slot, s in enumerate(step.batch):
            ins = [data_cells[("data", s, "inputs", i)] for i in range(spec.sizes[0])]
            tgs = [data_cells[("data", s, "targets", j)] for j in range(K)]
            prev = ins
            for layer in range(1, n_layers):
                kind = spec.layers[layer].activation
                net_refs = [ref(c) for c in cols.nets[slot][layer]]
                for j, c in enumerate(cols.nets[slot][layer]):
                    ws = [param_ref(w_of[(layer, j, i)]) for i in range(len(prev))]
                    b = param_ref(b_of[(layer, j)]) if (layer, j) in b_of else None
                    formulas[c] = X.net(ws, prev, b)
                for j, c in enumerate(cols.outs[slot][layer]):
                    formulas[c] = X.activate(kind, net_refs[j], net_refs)
                prev = [ref(c) for c in cols.outs[slot][layer]]
            formulas[cols.E[slot]] = "+".join(X.loss_term(spec.loss, t, o, K) for t, o in zip(tgs, prev))
            for layer in range(n_layers - 1, 0, -1):
                kind = spec.layers[layer].activation
                o_refs = [ref(c) for c in cols.outs[slot][layer]]
                n_refs = [ref(c) for c in cols.nets[slot][layer]]
                if layer == n_layers - 1:
                    grads = [f"({X.loss_gradient(spec.loss, t, o, K)})" for t, o in zip(tgs, o_refs)]
                else:
                    nxt = [ref(c) for c in cols.deltas[slot][layer + 1]]
                    grads = [f"({X.weighted_sum(nxt, [param_ref(w_of[(layer + 1, m, j)]) for m in range(len(nxt))])})"
                             for j in range(len(o_refs))]
                for j, c in enumerate(cols.deltas[slot][layer]):
                    if kind == "softmax":
                        formulas[c] = X.softmax_delta(j, grads, o_refs)
                    else:
                        formulas[c] = f"{grads[j]}*({X.derivative(kind, o_refs[j], n_refs[j])})"
        slots = range(len(step.batch))
        formulas[cols.E_total] = X.reduce([ref(cols.E[s]) for s in slots], spec.reduction)
        for p in plist:
            if p.name not in cols.grads:
                continue
            if p.kind == "w":
                src = (lambda s: data_cells[("data", step.batch[s], "inputs", p.col)]) if p.layer == 1 else \
                      (lambda s: ref(cols.outs[s][p.layer - 1][p.col]))
                terms = [f"{ref(cols.deltas[s][p.layer][p.row])}*{src(s)}" for s in slots]
            elif p.row is not None:
                terms = [ref(cols.deltas[s][p.layer][p.row]) for s in slots]
            else:
                terms = ["+".join(ref(c) for c in cols.deltas[s][p.layer]) for s in slots]
            formulas[cols.grads[p.name]] = X.reduce(terms, spec.reduction)
        yield [Cell(r, 0, "index", value=k)] + [Cell(r, c, "formula", f, values[c]) for c, f in sorted(formulas.items())]
