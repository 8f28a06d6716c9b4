"""Student-like workbooks of any network, laid out as real people lay the work out (none is copied).

`build(path, student, layout, updates)` writes, with openpyxl and plain cell references, the
work of a `sheetwork.Student` (its conventions, labels and slips) in one of five layouts:

- `block`: one vertical block for one update: labels in one column, values beside (a column per
  sample when the batch has several), the given values first, then the forward pass, the loss,
  the chain-rule factors, the gradients with each new weight beside its gradient;
- `sheets`: that block on one sheet per update (`iter 1`, `iter 2`, …), each sheet's weights
  copied from the sheet before's new weights (`='iter 1'!E29`; the sheets named in the student's language);
- `stacked`: blocks down one sheet: a row of weights, a row per sample with every factor and each
  sample's part of every gradient, a row of sums and averages; the next block's weight row is
  the new weights; the samples' truth table and η above;
- `rows`: one row per update (an online update, or the one sample's) under a header row; each
  row's weights computed from the row above;
- `diagram`: the network drawn on a grid, layer by layer, each value with its label beside it,
  the weights between the layers with their gradients and new values beside them.

It returns where each quantity of every update went and the truth for the first update (the
cell, the grader's status, the mistake), as the real workbooks' manifests record it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import openpyxl

from labels import label, word
from studentformulas import Render
from sheetwork import Pos, Student

LAYOUTS = ("block", "sheets", "stacked", "rows", "diagram")


@dataclass
class Built:
    path: Path
    student: Student
    layout: str
    cells: list[dict[str, Pos]]  # per update: name → cell (`c:w_1:0`, `one_s0`, `keep:b_1`: cells of no quantity)
    truth: dict[str, tuple[str, str, str | None]]  # first update: name → (cell, status, mistake)

    @property
    def updates(self) -> int:
        return len(self.cells)


class _Book:
    def __init__(self, st: Student):
        self.st = st
        self.wb = openpyxl.Workbook()
        self.wb.remove(self.wb.active)

    def ws(self, sheet: str):
        return self.wb[sheet] if sheet in self.wb.sheetnames else self.wb.create_sheet(sheet)

    def put(self, pos: Pos, value) -> None:
        cell = self.ws(pos.sheet).cell(pos.row, pos.col)
        assert cell.value is None, f"{pos} written twice"
        cell.value = value

    def label(self, pos: Pos, name: str) -> None:
        self.put(pos, label(self.st, name))

    def fill(self, k: int, at: dict[str, Pos], links: dict[str, Pos | str] | None = None,
             skip: set[str] | frozenset[str] = frozenset()) -> None:
        """Write update k's cells (but `skip`, written by an earlier update): given values typed (or
        linked to the update before), the rest as formulas."""
        st, links = self.st, links or {}
        batch = st.spec.batches()[k % len(st.spec.batches())]
        typed = {s.cell: s.typed for s in st.slips if s.typed is not None}
        for name, pos in at.items():
            if name in skip:
                continue
            if name.startswith("one"):
                self.put(pos, 1)
            elif name.startswith("keep:"):  # a frozen bias carried to the next update: `=F5`
                self.put(pos, f"={at[name[5:]].text(pos.sheet)}")
            elif name.startswith("c:"):
                self.put(pos, "=" + Render(st, k, at.get, pos.sheet, name).contribution(name))
            elif st.q(name).given:
                self._given(k, name, pos, batch, links.get(name), typed)
            else:
                self.put(pos, st.formula(name, k, at.get, pos.sheet))

    def _given(self, k: int, name: str, pos: Pos, batch: list[int], link, typed) -> None:
        q = self.st.q(name)
        if link == "same":
            return  # the update before wrote its new value here
        if isinstance(link, Pos):
            self.put(pos, f"={link.text(pos.sheet)}")
        elif q.kind in ("input", "target"):
            sample = self.st.spec.data[batch[q.slot or 0]]
            self.put(pos, (sample.inputs if q.kind == "input" else sample.targets)[q.index])
        elif k == 0 and name in typed:
            self.put(pos, typed[name])
        else:
            assert k == 0 or q.kind == "eta" or not self.st.placed_new(f"new_{name}"), f"{name} of update {k}: no link"
            self.put(pos, self.st.sol.values[name])


# ---------------------------------------------------------------- what each layout lists


def _givens(st: Student) -> list[str]:
    """Base names (first sample) of the given values, in the student's order: inputs, weights, biases, targets."""
    g = st.graph
    inputs = [q.name for q in g if q.kind == "input" and not q.slot]
    targets = [q.name for q in g if q.kind == "target" and not q.slot]
    params = [p.name for p in g.params]
    if st.style.by_input:
        from labels import param

        params.sort(key=lambda n: (st.q(n).param.kind != "w", int(param(st, n)[1:]) if n.startswith("w") else 0))
    return inputs + params + targets


def _per_sample(st: Student, kinds: tuple[str, ...], layers=None) -> list[str]:
    """Base names (first sample) of the shown quantities of these kinds, layer by layer."""
    return [q.name for q in st.graph if q.kind in kinds and not q.slot and st.shown(q.name)
            and (layers is None or q.layer in layers)]


def _backward(st: Student) -> list[str]:
    layers = range(len(st.spec.sizes) - 1, 0, -1)
    names = []
    for layer in layers:
        for kind in ("dE_dout", "dout_dnet", "delta"):
            names += _per_sample(st, (kind,), (layer,))
    return names


def _slot(st: Student, name: str, slot: int) -> str:
    """The name of a per-sample quantity in sample `slot`."""
    if not st.graph.suffixes[0] or st.q(name).slot is None:
        return name
    return name.rsplit("_s", 1)[0] + st.graph.suffixes[slot]


def _params_by_layer_down(st: Student) -> list[str]:
    """Parameters output layer first, as worked examples update them."""
    params = [p for p in st.graph.params]
    order = {name: i for i, name in enumerate(_givens(st))}
    return [p.name for p in sorted(params, key=lambda p: (-p.layer, order[p.name]))]


# ---------------------------------------------------------------- one vertical block


def _block(book: _Book, st: Student, sheet: str) -> dict[str, Pos]:
    """One update as a vertical block on `sheet`; returns where everything is."""
    nb = st.nb
    at: dict[str, Pos] = {}
    book.put(Pos(sheet, 1, 1), word(st, "title"))
    row = 3
    if nb > 1:
        for s in range(nb):
            book.put(Pos(sheet, row, 3 + s), word(st, "sample", s=s + 1))
        row += 1
    if not st.style.eta_typed:
        book.put(Pos(sheet, 2, 4 + nb), label(st, "eta"))
        at["eta"] = Pos(sheet, 3, 4 + nb)

    def line(name: str) -> None:
        nonlocal row
        book.label(Pos(sheet, row, 2), name)
        for s in range(nb if st.q(name).slot is not None else 1):
            at[_slot(st, name, s)] = Pos(sheet, row, 3 + s)
        row += 1

    givens = _givens(st)
    for name in givens:
        if st.q(name).kind == "input":
            line(name)
    if st.style.bias_input:
        book.put(Pos(sheet, row, 2), word(st, "one"))
        for s in range(nb):
            at[f"one_s{s}"] = Pos(sheet, row, 3 + s)
        row += 1
    for name in givens:
        if st.q(name).kind != "input":
            line(name)
    row += 1
    for layer in range(1, len(st.spec.sizes)):
        for name in _per_sample(st, ("net",), (layer,)) + _per_sample(st, ("out",), (layer,)):
            line(name)
    row += 1
    for name in _per_sample(st, ("E_o", "E_sample")):
        line(name)
    if st.shown("E_total"):
        line("E_total")
    row += 1
    for name in _backward(st):
        line(name)
    params = [p for p in _params_by_layer_down(st) if st.shown(f"grad_{p}") or st.placed_new(f"new_{p}")]
    if nb > 1:
        row += 1
        for p in params:
            if st.shown(f"grad_{p}") and (st.q(p).param.kind == "w" or st.style.bias_input):
                book.put(Pos(sheet, row, 2), word(st, "part", p=label(st, f"grad_{p}")))
                for s in range(nb):
                    at[f"c:{p}:{s}"] = Pos(sheet, row, 3 + s)
                row += 1
    row += 1
    for p in params:
        grad, new = f"grad_{p}", f"new_{p}"
        col = 3
        if st.shown(grad):
            book.label(Pos(sheet, row, 2), grad)
            at[grad] = Pos(sheet, row, 3)
            col = 5
        if st.placed_new(new):
            book.label(Pos(sheet, row, col - 1), new)
            at[new] = Pos(sheet, row, col)
        row += 1
    return at


def _write_block(book: _Book, st: Student, updates: int) -> list[dict[str, Pos]]:
    assert updates == 1, "one vertical block is one update (sheets: one per update)"
    at = _block(book, st, word(st, "sheet"))
    book.fill(0, at)
    return [at]


def _write_sheets(book: _Book, st: Student, updates: int) -> list[dict[str, Pos]]:
    cells: list[dict[str, Pos]] = []
    for k in range(updates):
        at = _block(book, st, word(st, "iteration", k=k + 1))
        links: dict[str, Pos | str] = {}
        if k:
            for p in st.graph.params:
                new = f"new_{p.name}"
                if new in cells[-1]:
                    links[p.name] = cells[-1][new]
        book.fill(k, at, links)
        cells.append(at)
    return cells


# ---------------------------------------------------------------- a row per update


def _write_rows(book: _Book, st: Student, updates: int) -> list[dict[str, Pos]]:
    assert st.nb == 1, "a row per update holds one sample"
    sheet, top = word(st, "sheet"), 4
    book.put(Pos(sheet, 1, 1), word(st, "title"))
    if not st.style.eta_typed:
        book.put(Pos(sheet, 2, 1), label(st, "eta"))
    columns = [n for n in _givens(st)] + (["one"] if st.style.bias_input else [])
    columns += _per_sample(st, ("net", "out")) + _per_sample(st, ("E_o",))
    columns += ["E_total"] if st.shown("E_total") else []
    columns += _backward(st) + [f"grad_{p}" for p in _params_by_layer_down(st) if st.shown(f"grad_{p}")]
    col = {name: 2 + i for i, name in enumerate(columns)}
    book.put(Pos(sheet, top, 1), "#")
    for name, c in col.items():
        book.put(Pos(sheet, top, c), word(st, "one") if name == "one" else label(st, name))
    cells = []
    for k in range(updates):
        row = top + 1 + k
        book.put(Pos(sheet, row, 1), k)
        at = {name: Pos(sheet, row, c) for name, c in col.items()}
        if "one" in at:
            at["one_s0"] = at.pop("one")
        if not st.style.eta_typed:
            at["eta"] = Pos(sheet, 2, 2)
        if k < updates - 1:
            for p in st.graph.params:
                new = f"new_{p.name}"
                key = new if st.placed_new(new) else f"keep:{p.name}"
                at[key] = Pos(sheet, row + 1, col[p.name])
        links: dict[str, Pos | str] = {p.name: "same" for p in st.graph.params} if k else {}
        book.fill(k, at, links, {"eta"} if k else set())
        cells.append(at)
    return cells


# ---------------------------------------------------------------- blocks down a sheet


def _write_stacked(book: _Book, st: Student, updates: int) -> list[dict[str, Pos]]:
    sheet, nb = word(st, "sheet"), st.nb
    book.put(Pos(sheet, 1, 1), word(st, "title"))
    inputs = [q.name for q in st.graph if q.kind == "input" and not q.slot]
    targets = [q.name for q in st.graph if q.kind == "target" and not q.slot]
    for i, name in enumerate(inputs + targets):  # the samples' truth table
        book.label(Pos(sheet, 3, 1 + i), name)
    table = {_slot(st, name, s): Pos(sheet, 4 + s, 1 + i, fixed=True) for s in range(nb)
             for i, name in enumerate(inputs + targets)}
    eta_row = 5 + nb
    if not st.style.eta_typed:
        book.put(Pos(sheet, eta_row, 1), label(st, "eta"))
    params = [n for n in _givens(st) if st.q(n).kind == "param"]
    sample_cols = inputs + (["one"] if st.style.bias_input else []) + _per_sample(st, ("net", "out"))
    sample_cols += _per_sample(st, ("E_o", "E_sample")) + _backward(st)

    def delta_of(p: str) -> str:
        b = st.q(p).param
        return f"delta_{st.graph.labels[b.layer][b.row]}" + st.graph.suffixes[0]

    parts = [p for p in _params_by_layer_down(st) if st.shown(f"grad_{p}") and (
        st.q(p).param.kind == "w" or st.style.bias_input or st.q(p).param.row is None or not st.shown(delta_of(p)))]
    col = {name: 1 + i for i, name in enumerate(params + sample_cols + [f"c:{p}" for p in parts])}
    height = nb + 5  # the step's title, the labels, the weights, a row per sample, the sums
    first = eta_row + 2
    cells: list[dict[str, Pos]] = []
    for k in range(updates):
        start = first + k * height
        head, wrow, sums = start + 1, start + 2, start + 3 + nb
        book.put(Pos(sheet, start, 1), f"step {k}")
        for name in params + sample_cols:
            book.put(Pos(sheet, head, col[name]), word(st, "one") if name == "one" else label(st, name))
        for p in parts:
            book.put(Pos(sheet, head, col[f"c:{p}"]), label(st, f"grad_{p}"))
        at: dict[str, Pos] = {p: Pos(sheet, wrow, col[p]) for p in params}
        for s in range(nb):
            for name in sample_cols:
                at[_slot(st, name, s) if name != "one" else f"one_s{s}"] = Pos(sheet, wrow + 1 + s, col[name])
            for p in parts:
                at[f"c:{p}:{s}"] = Pos(sheet, wrow + 1 + s, col[f"c:{p}"])
        losses = _per_sample(st, ("E_sample",)) or _per_sample(st, ("E_o",))[-1:]
        if st.shown("E_total"):
            at["E_total"] = Pos(sheet, sums, col[losses[0]])
        for p in _params_by_layer_down(st):
            if st.shown(f"grad_{p}"):
                at[f"grad_{p}"] = Pos(sheet, sums, col[f"c:{p}"] if p in parts else col[delta_of(p)])
        if nb == 1:  # one sample: its parts are the gradients, in its row; no row of sums
            for p in parts:
                at[f"grad_{p}"] = at.pop(f"c:{p}:0")
        if k == 0:
            at.update({_slot(st, name, s): table[_slot(st, name, s)] for name in targets for s in range(nb)})
            if not st.style.eta_typed:
                at["eta"] = Pos(sheet, eta_row, 3)
        else:
            at.update({name: pos for name, pos in cells[0].items() if name == "eta" or name.startswith("target_")})
        if k < updates - 1:
            for p in params:
                new = f"new_{p}"
                at[new if st.placed_new(new) else f"keep:{p}"] = Pos(sheet, wrow + height, col[p])
        links: dict[str, Pos | str] = {p: "same" for p in params} if k else {}
        shared = {n for n in at if k and (n == "eta" or n.startswith("target_"))}  # written once, above the blocks
        book.fill(k, at, links, shared)
        cells.append(at)
    for s in range(nb):  # the truth table's inputs: typed again in each block, as real sheets do
        for name in inputs:
            book.put(table[_slot(st, name, s)], st.spec.data[st.spec.batches()[0][s]].inputs[st.q(name).index])
    return cells


# ---------------------------------------------------------------- a diagram


def _write_diagram(book: _Book, st: Student, updates: int) -> list[dict[str, Pos]]:
    assert updates == 1 and st.nb == 1, "a diagram shows one update of one sample"
    sheet, sizes = word(st, "sheet"), st.spec.sizes
    labels = st.graph.labels
    widest = max(sizes)
    top = 4
    book.put(Pos(sheet, 1, 1), word(st, "title"))
    at: dict[str, Pos] = {}
    if not st.style.eta_typed:
        book.put(Pos(sheet, 2, 1), label(st, "eta"))
        at["eta"] = Pos(sheet, 2, 2)
    layer_col, weight_col = [2], [0]
    for layer in range(1, len(sizes)):
        weight_col.append(layer_col[-1] + 3)
        layer_col.append(weight_col[-1] + 7)
    back = top + 5 * widest + 3

    def put(name: str, row: int, col: int) -> None:
        book.label(Pos(sheet, row, col), name)
        at[name] = Pos(sheet, row, col + 1)

    def bias_updates(b: str, row: int, col: int) -> None:
        if st.shown(f"grad_{b}"):
            put(f"grad_{b}", row, col)
        if st.placed_new(f"new_{b}"):
            put(f"new_{b}", row, col + 3 if st.shown(f"grad_{b}") else col)

    for layer, size in enumerate(sizes):
        offset = 5 * (widest - size) // 2
        for j, lab in enumerate(labels[layer]):
            row, col = top + offset + 5 * j, layer_col[layer]
            if layer == 0:
                put(f"i_{j + 1}", row, col)
                continue
            for i, kind in enumerate(("net", "out")):
                if st.shown(f"{kind}_{lab}"):
                    put(f"{kind}_{lab}", row + i, col)
            for i, kind in enumerate(("dE_dout", "dout_dnet", "delta")):
                if st.shown(f"{kind}_{lab}"):
                    put(f"{kind}_{lab}", back + 4 * j + i, col)
            if st.spec.bias_modes[layer - 1] == "per_neuron":
                put(f"b_{lab}", row + 2, col)
                bias_updates(f"b_{lab}", back + 4 * j + 3, col)
            if layer == len(sizes) - 1:
                put(f"target_{lab}", row, col + 3)
                if st.shown(f"E_{lab}"):
                    put(f"E_{lab}", row + 1, col + 3)
        if layer and st.spec.bias_modes[layer - 1] == "shared":
            put(f"b_{layer}", top - 2, layer_col[layer])
            bias_updates(f"b_{layer}", back - 2, layer_col[layer])
    if st.style.bias_input:
        book.put(Pos(sheet, top + 5 * widest, 2), word(st, "one"))
        at["one_s0"] = Pos(sheet, top + 5 * widest, 3)
    if st.shown("E_total"):
        put("E_total", top + 5 * widest, layer_col[-1] + 3)
    for layer in range(1, len(sizes)):
        names = [p for p in _givens(st) if st.q(p).kind == "param" and st.q(p).param.kind == "w"
                 and st.q(p).param.layer == layer]
        for i, p in enumerate(names):
            put(p, top + 2 * i, weight_col[layer])
            if st.shown(f"grad_{p}"):
                put(f"grad_{p}", back + 2 * i, weight_col[layer])
            if st.placed_new(f"new_{p}"):
                put(f"new_{p}", back + 2 * i, weight_col[layer] + 3)
    book.fill(0, at)
    return [at]


WRITERS = {"block": _write_block, "sheets": _write_sheets, "stacked": _write_stacked, "rows": _write_rows,
           "diagram": _write_diagram}


def build(path: Path, student: Student, layout: str, updates: int = 1) -> Built:
    """Write the student's workbook in `layout` with `updates` updates; say where everything is."""
    book = _Book(student)
    cells = WRITERS[layout](book, student, updates)
    book.wb.save(path)
    placed = {name: pos for name, pos in cells[0].items() if name in student.graph.quantities}
    return Built(path, student, layout, cells, student.truth(placed))
