"""Which cell holds each input, weight and bias: read from what the net inputs multiply.

A net input is a sum of weight × input products (plus a bias). So the formula that computes a
neuron's net input says which cell is the weight from each input, whatever the label over it
says: a student who numbers the weights by input (w1..w4 from input A, w5..w8 from input B),
a textbook that writes w14 for the weight from input 1 to neuron 4, a block that fetches its
weights with INDEX, all name the same cells. Labels and the values the spec gives only decide
what the structure leaves open: which neuron is h1 and which h2, which input is i1.

- `first_layer(ctx)`: the first sample's inputs and the first layer's weights and biases at
  once. The net inputs of the first layer are the formulas that are sums of products of two
  numbers a formula consumes (typed, `=0.5`, or a copy); the inputs are the cells every one of
  them multiplies (one neuron alone: the side the values, labels or a table's parameter
  columns say).
- `layer(ctx, layer, slot)`: with the cells feeding a layer known (the previous layer's
  outputs, or a later sample's inputs), the cells they are multiplied with are the weights,
  or, with the weights known, the cells the weights multiply are the inputs.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from sheetprop.cells import Ref
from sheetprop.grading.readbook import number
from sheetprop.grading.terms import Term

if TYPE_CHECKING:
    from sheetprop.grading.structure import Context

MAX_PERMUTED = 6  # neurons whose order is chosen by trying every order


def first_layer(ctx: Context) -> dict[str, Ref]:
    """The first sample's inputs, and the first layer's weights and biases, where the net inputs show them."""
    nets = [q for q in ctx.sol.graph if q.kind == "net" and q.layer == 1 and q.slot in (0, None)]
    if not nets or any(q.name in ctx.found for q in nets):
        return {}
    n = len(_weights(nets[0]))
    shapes = {}
    for cell, precedents in ctx.deps.precedents.items():
        if not _in_scope(ctx, cell) or len(precedents) < n + 1 or not all(_leaf(ctx, p) for p in precedents):
            continue  # not n products of given numbers
        shape = _shape(ctx, cell, n)
        if shape is not None:
            shapes[cell] = shape
    if not shapes:
        return {}
    inputs = _input_sets(ctx, shapes, n, len(nets))
    best: tuple[float, dict[str, Ref]] | None = None
    for xs in inputs:
        group = [cell for cell, (pairs, _) in shapes.items() if all(sum(x in p for p in pairs) == 1 for x in xs)]
        found = _assign(ctx, nets, group, shapes, _order_inputs(ctx, nets[0], xs))
        if found is not None and (best is None or found[0] > best[0]):
            best = found
    return best[1] if best else {}


def layer(ctx: Context, layer_: int, slot: int) -> dict[str, Ref]:
    """The weights and biases of `layer_` (or the inputs of `slot`) that the net inputs of that
    sample slot show, given the cells feeding them."""
    graph = ctx.sol.graph
    nets = [q for q in graph if q.kind == "net" and q.layer == layer_ and q.slot in (slot, None)]
    if not nets or any(q.name in ctx.found for q in nets):
        return {}
    sources = _sources(nets[0])
    if all(x in ctx.found for x in sources):  # the feeding cells known: find the weights
        found = _fed_by(ctx, nets, [ctx.found[x] for x in sources])
        if found is None and layer_ > 1:  # a net input made of the previous layer's net inputs (a slip)
            below = [graph.of("net", neuron=graph[x].neuron, slot=slot) for x in sources]
            if all(q is not None and q.name in ctx.found for q in below):
                found = _fed_by(ctx, nets, [ctx.found[q.name] for q in below if q is not None], keep=sources)
        return found or {}
    weights = _weights(nets[0])
    if layer_ == 1 and all(w in ctx.found for w in weights):  # the weights known: the inputs they multiply
        ws = [ctx.found[w] for w in weights]
        for cell in sorted({u for w in ws for u in ctx.deps.users.get(w, ())}, key=_position):
            shape = _shape(ctx, cell, len(ws)) if _in_scope(ctx, cell) else None
            if shape is None or ctx.value(cell) is None or cell in ctx.found.values():
                continue
            partners = [_partner(shape[0], w) for w in ws]
            if all(p is not None and p not in ctx.found.values() for p in partners) and len(set(partners)) == len(ws):
                used = set(ctx.sources.of(cell)) if ctx.sources is not None else set()
                if any(c in used for c in _slot_inputs(ctx, slot)):
                    continue  # this is another sample's net input
                return {x: p for x, p in zip(sources, partners) if p is not None}
    return {}


def targets(ctx: Context, slot: int) -> dict[str, Ref]:
    """The targets of a sample slot: the number that the formulas using an output (its loss term,
    its ∂E/∂out) take besides it."""
    graph, deps = ctx.sol.graph, ctx.deps
    taken = set(ctx.found.values())
    found = {}
    for t in graph:
        if t.kind != "target" or t.slot not in (slot, None) or t.name in ctx.found:
            continue
        out = graph.of("out", neuron=t.neuron, slot=slot)
        cell = ctx.found.get(out.name) if out is not None else None
        if cell is None:
            continue
        counts: dict[Ref, int] = {}
        for user in deps.users.get(cell, ()):
            others = [c for c in deps.precedents.get(user, ()) if c != cell]
            if len(others) == 1 and others[0] not in taken and _leaf(ctx, others[0]):
                counts[others[0]] = counts.get(others[0], 0) + 1
        if counts:
            best = max(counts, key=lambda c: (counts[c], _fits(ctx, t.name, c), [-x for x in _position(c)[1:]]))
            found[t.name] = best
            taken.add(best)
    return found


def learning_rate(ctx: Context) -> dict[str, Ref]:
    """η, when neither a label nor its value found it: the number every update formula takes
    beside the weight it steps from and the gradient (H&K's `l`)."""
    graph = ctx.sol.graph
    if "eta" in ctx.found or "eta" not in graph.quantities or ctx.sources is None:
        return {}
    updates = [ctx.found[q.name] for q in graph if q.kind == "new" and q.name in ctx.found
               and "eta" in q.inputs]
    common: set[Ref] | None = None
    for cell in updates:
        leaves = {c for c in ctx.sources.of(cell) if c not in ctx.sources.stop and _leaf(ctx, c)}
        common = leaves if common is None else common & leaves
    if not common or len(updates) < 2:
        return {}
    return {"eta": min(common, key=_position)}


# ---------------------------------------------------------------- by label and value

def scored(ctx: Context, skip: set[str] | frozenset[str] = frozenset()) -> dict[str, Ref]:
    """The given values not found yet (but those in `skip`), among the numbers the formulas consume:
    by the label beside them, the value the spec gives and, in a table, the columns' roles."""
    graph = ctx.sol.graph
    wanted = [q for q in graph if q.given and q.name not in ctx.found and q.name not in skip]
    table = ctx.table
    leaves = _leaves(ctx)
    params = set()
    if table is not None:
        params = {Ref(table.sheet, table.first, col) for col in table.params}
        if table.eta is not None and "eta" not in ctx.found and "eta" in graph.quantities:
            ctx.place("eta", table.eta)
    scores: list[tuple[float, str, Ref]] = []
    for q in wanted:
        if q.name in ctx.found:
            continue
        expected = ctx.sol.values[q.name]
        for cell in leaves:
            score = 0.0
            if ctx.labels.get(cell, ('',))[0] == q.name:
                score += 10
            value = ctx.value(cell)
            if value is not None and abs(value - expected) <= 1e-6 * max(abs(value), abs(expected)) + 1e-12:
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
        if (number(raw) is not None and cell in ctx.deps.users) or ctx.deps.is_constant(cell) or ctx.deps.copy_of(cell) is not None:
            cells.append(cell)
    return cells


# ---------------------------------------------------------------- reading net inputs


def _fed_by(ctx: Context, nets: list, xs: list[Ref], keep: list[str] | None = None) -> dict[str, Ref] | None:
    """The weights and biases of the net inputs `nets` that multiply the cells `xs`, one each."""
    shapes = {}
    for cell in {u for x in xs for u in ctx.deps.users.get(x, ())}:
        if not _in_scope(ctx, cell):
            continue
        shape = _shape(ctx, cell, len(xs), leaves_only=False)
        if shape is not None and all(sum(x in p for p in shape[0]) == 1 for x in xs):
            shapes[cell] = shape
    found = _assign(ctx, nets, list(shapes), shapes, xs)
    if found is None:
        return None
    for name in keep or ():  # the cells fed in are not the sources the rule names
        found[1].pop(name, None)
    return found[1]


def _weights(net) -> list[str]:
    return [x for x in net.inputs if x.startswith("w_")]


def _sources(net) -> list[str]:
    ws = len(_weights(net))
    return list(net.inputs[ws:2 * ws])


def _shape(ctx: Context, cell: Ref, n: int, leaves_only: bool = True) -> tuple[list[frozenset[Ref]], Ref | None] | None:
    """A formula that is n products of two cells plus at most one cell alone (the bias), as
    (the products' pairs, the lone cell); None for anything else. With `leaves_only`, every cell
    must hold a given number (typed, `=0.5`, or a copy)."""
    terms: list[Term] | None = ctx.deps.terms(cell)
    if not terms:
        return None
    pairs: list[tuple[Ref, ...]] = []
    lone: list[tuple[Ref, ...]] = []
    for term in terms:
        if not term.plain or term.coef != 1 or len(term.cells) > 2:
            return None
        if leaves_only and not all(_leaf(ctx, c) for c in term.cells):
            return None
        (pairs if len(term.cells) == 2 else lone).append(term.cells)
    if len(lone) > 1 or len(pairs) not in (n, n + 1) or (len(pairs) == n + 1 and lone):
        return None
    return [frozenset(p) for p in pairs], (lone[0][0] if lone else None)


def _leaf(ctx: Context, cell: Ref) -> bool:
    deps = ctx.deps
    if not deps.is_formula(cell):
        return number(ctx.book.cells.get(cell)) is not None
    return deps.is_constant(cell) or deps.copy_of(cell) is not None


def _input_sets(ctx: Context, shapes: dict, n: int, m: int) -> list[tuple[Ref, ...]]:
    """The sets of n cells that several formulas multiply, one in each of their products: the
    inputs of a sample, every neuron's net input using each once."""
    counts: dict[frozenset[Ref], int] = {}
    cells = list(shapes)
    if m == 1:  # one neuron: no other net input to share the inputs with; each side of its products
        found = set()
        for cell in cells:
            pairs = shapes[cell][0][:n]
            for side in itertools.product(*[sorted(p, key=_position) for p in pairs]):
                found.add(frozenset(side))
        return sorted((tuple(sorted(s, key=_position)) for s in found), key=lambda xs: _position(xs[0]))[:64]
    by_cell: dict[Ref, list[Ref]] = {}
    for cell in cells:
        for pair in shapes[cell][0]:
            for x in pair:
                by_cell.setdefault(x, []).append(cell)
    for a in cells:
        pairs_a = shapes[a][0]
        others = {b for p in pairs_a for x in p for b in by_cell[x] if b != a}
        for b in others:
            common = frozenset(x for p in pairs_a for x in p) & frozenset(x for p in shapes[b][0] for x in p)
            # the biases as weights on a constant-1 input: the inputs are the rest (each 1 tried as it)
            sets = [common - {c} for c in common if ctx.value(c) == 1] if len(common) == n + 1 else [common]
            for xs in sets:
                if len(xs) == n and all(len(p & xs) <= 1 for p in pairs_a) and sum(len(p & xs) for p in pairs_a) == n \
                        and all(len(p & xs) == 1 for p in shapes[b][0] if len(p & xs)):
                    counts[xs] = counts.get(xs, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], min(_position(c) for c in kv[0])))
    return [tuple(sorted(s, key=_position)) for s, _ in ordered][:16]


def _order_inputs(ctx: Context, net, xs: tuple[Ref, ...]) -> list[Ref]:
    """The input cells in the order i1, i2, …: by the spec's values and the labels, else as laid out."""
    names = _sources(net)
    best = None
    for order in itertools.permutations(xs) if len(xs) <= MAX_PERMUTED else [xs]:
        score = sum(_fits(ctx, name, cell) for name, cell in zip(names, order)) - 0.01 * sum(
            i != list(xs).index(c) for i, c in enumerate(order))
        if best is None or score > best[0]:
            best = (score, list(order))
    assert best is not None
    return best[1]


def _assign(ctx: Context, nets: list, group: list[Ref], shapes: dict, xs: list[Ref]) \
        -> tuple[float, dict[str, Ref]] | None:
    """Which formula of `group` is which neuron's net input, and so which cell is each weight and
    bias: the spec's values and the labels decide, else the order they are laid out in."""
    if len(group) < len(nets):
        return None
    readings = {}
    for cell in group:
        pairs, lone = shapes[cell]
        partners = [_partner(pairs, x) for x in xs]
        if any(p is None for p in partners):
            continue
        bias = lone
        if bias is None and len(pairs) == len(xs) + 1:  # a bias as a weight on a constant 1
            extra = next(p for p in pairs if not p & set(xs))
            one = [c for c in extra if ctx.value(c) == 1.0]
            bias = next(iter(extra - {one[0]})) if len(one) == 1 and len(extra) == 2 else None
        readings[cell] = (partners, bias)
    cells = sorted(readings, key=_position)
    if len(cells) < len(nets):
        return None
    options = itertools.permutations(cells, len(nets)) if len(cells) <= MAX_PERMUTED else [tuple(cells[:len(nets)])]
    best: tuple[float, dict[str, Ref]] | None = None
    for k, chosen in enumerate(options):
        found: dict[str, Ref] = {}
        score = -0.001 * k  # the order laid out wins a tie
        for net, cell in zip(nets, chosen):
            partners, bias = readings[cell]
            weights = _weights(net)
            bias_name = net.inputs[-1] if len(net.inputs) > 2 * len(weights) else None
            for name, partner in zip(weights, partners):
                found[name] = partner  # type: ignore[assignment]
                score += _fits(ctx, name, partner)  # type: ignore[arg-type]
            if bias_name and bias is not None:
                if bias_name in found and found[bias_name] != bias:
                    score -= 5  # a shared bias must be one cell
                found[bias_name] = bias
                score += _fits(ctx, bias_name, bias)
            score += 2 * (ctx.labels.get(cell, ("",))[0] == net.name)
        if best is None or score > best[0]:
            best = (score, found)
    if best is None:
        return None
    _drop_reused(ctx, best[1])
    for name, cell in zip(_sources(nets[0]), xs):
        best[1][name] = cell
    return best


def _drop_reused(ctx: Context, found: dict[str, Ref]) -> None:
    """A cell a student's formulas use as two weights (a slip: w7 written where w4 belongs) is the
    weight its value fits; the other is left to be found where the layout puts it."""
    by_cell: dict[Ref, list[str]] = {}
    for name, cell in found.items():
        if name.startswith("w_"):
            by_cell.setdefault(cell, []).append(name)
    for cell, names in by_cell.items():
        if len(names) > 1:
            keep = max(names, key=lambda n: (_fits(ctx, n, cell), -names.index(n)))
            for name in names:
                if name != keep:
                    del found[name]


def _partner(pairs: list[frozenset[Ref]], x: Ref) -> Ref | None:
    with_x = [p for p in pairs if x in p]
    if len(with_x) != 1 or len(with_x[0]) != 2:
        return None
    return next(iter(with_x[0] - {x}))


def _fits(ctx: Context, name: str, cell: Ref) -> float:
    """How well `cell` fits the given value `name`: its value is the spec's (1), its label reads so (1)."""
    value = ctx.value(cell)
    expected = ctx.sol.values.get(name)
    score = 0.0
    if value is not None and expected is not None and abs(value - expected) <= 1e-9 * max(1.0, abs(expected)):
        score += 1
    label = ctx.labels.get(cell)
    if label and label[0] == name:
        score += 1
    return score


def _slot_inputs(ctx: Context, slot: int) -> list[Ref]:
    """The input cells found for the other sample slots."""
    return [cell for name, cell in ctx.found.items() if ctx.sol.graph[name].kind == "input"
            and ctx.sol.graph[name].slot not in (slot, None)]


def _in_scope(ctx: Context, cell: Ref) -> bool:
    """In a row-per-iteration table only its first row holds the first update's formulas."""
    table = ctx.table
    return table is None or (cell.sheet == table.sheet and cell.row == table.first)


def _position(cell: Ref) -> tuple[str, int, int]:
    return cell.sheet, cell.row, cell.col
