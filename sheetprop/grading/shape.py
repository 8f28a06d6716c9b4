"""Read a network's shape from a workbook's formulas, when no spec is given.

The first layer's net inputs are the formulas that are sums of products of two given numbers
(a weight and an input) and maybe one more (a bias); the inputs are the numbers every one of
them multiplies, the weights the others (one neuron alone: the numbers an update formula steps
from are the weights). Each next layer's net inputs multiply the layer below's outputs. A
layer's activation is read from the values: the cell computed from a net input alone is
σ(net), tanh(net), max(0, net) …, or the net input feeds the next layer directly (none). The
loss is read the same way from the cell that takes an output and its target; η from the update
formulas. Several samples in one batch are net inputs that share the weights but not the inputs.

`read_spec` gives a spec (a mapping the validator reads, with the workbook's given values) and
the cells it read each part from, for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from sheetprop.cells import Ref
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.readbook import Formula, StudentBook, number
from sheetprop.model import ops

MAX_LAYERS = 6
MAX_NETS = 400  # first-layer candidates looked at


@dataclass
class Layer:
    nets: list[Ref]  # per neuron, the first sample's net input
    weights: list[list[Ref]]  # per neuron, per source
    biases: list[Ref | None]
    outs: list[Ref] = field(default_factory=list)
    activation: str | None = None


def read_spec(book: StudentBook, deps: Dependencies, values: Mapping) -> tuple[dict, dict[str, Ref]] | None:
    """(a spec for the validator, where its parts were read) or None when no net input is found."""
    value = _reader(book, values)
    first = _first_layer(book, deps, value)
    if first is None:
        return None
    inputs, layer, samples = first
    layers = [layer]
    while len(layers) < MAX_LAYERS:
        _activation(layers[-1], deps, value)
        if not layers[-1].outs:
            break
        nxt = _next_layer(layers[-1].outs, deps, value)
        if nxt is None and layers[-1].outs != layers[-1].nets:  # the next layer fed the net inputs (a slip)
            nxt = _next_layer(layers[-1].nets, deps, value)
        if nxt is None:
            break
        layers.append(nxt)
    last = layers[-1]
    if not last.outs:
        return None
    targets, loss = _loss(last.outs, deps, value)
    eta = _learning_rate(layers, deps, value)
    per_sample = [targets]
    outputs = [last.outs]
    for sample in samples[1:]:
        outs = _forward(layers, sample, deps, value)
        per_sample.append(_loss(outs, deps, value)[0] if outs else [])
        outputs.append(outs or [])
    where: dict[str, Ref] = {"inputs": inputs[0][0]}
    spec: dict = {
        "layers": [len(inputs[0])] + [{"size": len(l.nets), "activation": l.activation} for l in layers],
        "weights": [[[value(w) for w in row] for row in l.weights] for l in layers],
        "biases": [_biases(l, value) for l in layers],
        "loss": loss or ops.DEFAULT_LOSS,
        "learning_rate": eta[1] if eta else 0.5,
        "data": [{"inputs": [value(x) for x in sample],
                  "targets": [value(t) for t in ts] if len(ts) == len(last.nets) else [0.0] * len(last.nets)}
                 for sample, ts in zip(samples, per_sample)],
        "batch": "full",
    }
    if len(samples) > 1 and loss:
        spec["reduction"] = _reduction(outputs, per_sample, ops.LOSSES[loss], deps, value)
    if eta and eta[0] is not None:
        where["learning rate"] = eta[0]
    if targets:
        where["targets"] = targets[0]
    where["first net input"] = layer.nets[0]
    return spec, where


def _reader(book: StudentBook, values: Mapping):
    def value(cell: Ref | None) -> float:
        if cell is None:
            return 0.0
        raw = book.cells.get(cell)
        found = number(values.get(cell.key) if isinstance(raw, Formula) else raw)
        return found if found is not None else 0.0
    return value


def _products(deps: Dependencies, cell: Ref) -> tuple[list[frozenset[Ref]], list[Ref]] | None:
    """A sum of products of two cells (and lone cells): its pairs and lone cells, else None."""
    terms = deps.terms(cell)
    if not terms:
        return None
    pairs, lone = [], []
    for term in terms:
        if not term.plain or term.coef != 1 or len(term.cells) > 2:
            return None
        if len(term.cells) == 2:
            pairs.append(frozenset(term.cells))
        else:
            lone.append(term.cells[0])
    return (pairs, lone) if pairs and len(lone) <= 1 else None


def _leaf(book: StudentBook, deps: Dependencies, cell: Ref) -> bool:
    if deps.is_formula(cell):
        return deps.is_constant(cell) or deps.copy_of(cell) is not None
    return number(book.cells.get(cell)) is not None


def _first_layer(book: StudentBook, deps: Dependencies, value) -> tuple[list[list[Ref]], Layer, list[list[Ref]]] | None:
    """The first sample's inputs, the first layer, and every sample's inputs."""
    shapes: dict[Ref, tuple[list[frozenset[Ref]], list[Ref]]] = {}
    for cell, precedents in deps.precedents.items():
        if len(shapes) >= MAX_NETS:
            break
        if len(precedents) >= 2 and all(_leaf(book, deps, p) for p in precedents):
            found = _products(deps, cell)
            if found is not None:
                shapes[cell] = found
    if not shapes:
        return None
    updated = _stepped_from(deps)
    # inputs: the side of each product that is not a weight (a weight is stepped from by an update,
    # or shared by the net inputs of several samples)
    sides: dict[Ref, tuple[list[Ref], list[Ref]]] = {}
    uses: dict[Ref, int] = {}
    for pairs, _ in shapes.values():
        for pair in pairs:
            for c in pair:
                uses[c] = uses.get(c, 0) + 1
    for cell, (pairs, _) in shapes.items():
        xs, ws = [], []
        for pair in pairs:
            a, b = sorted(pair, key=lambda c: (c in updated, -uses[c], c.sheet, c.col, c.row))
            xs.append(a)
            ws.append(b)
        sides[cell] = (xs, ws)
    by_inputs: dict[tuple[Ref, ...], list[Ref]] = {}
    for cell, (xs, _) in sides.items():
        by_inputs.setdefault(tuple(sorted(xs, key=_place)), []).append(cell)
    groups = sorted(by_inputs.items(), key=lambda kv: (-len(kv[1]), _place(kv[0][0])))
    inputs0, group = groups[0]
    nets = _originals(group, sides, deps)
    n = len(inputs0)
    def weight_sets(cells: list[Ref]) -> set[frozenset[Ref]]:
        return {frozenset(deps.origin(w) for w in sides[c][1]) for c in cells}

    samples = [list(inputs0)]
    for inputs, others in groups[1:]:
        if len(inputs) == n and weight_sets(others) == weight_sets(nets):
            samples.append(list(inputs))
    samples.sort(key=lambda s: _place(s[0]))
    ordered = samples[0]
    weights, biases = [], []
    for cell in nets:
        xs, ws = sides[cell]
        weights.append([ws[xs.index(x)] for x in ordered])
        biases.append(shapes[cell][1][0] if shapes[cell][1] else None)
    layer = Layer(nets, weights, biases)
    _reused(layer, book)
    return [ordered], layer, samples


def _originals(group: list[Ref], sides: dict[Ref, tuple[list[Ref], list[Ref]]], deps: Dependencies) -> list[Ref]:
    """The net inputs of `group`, one per neuron: a net input whose weights copy another's (a training
    table's first row `=w_1`, `=w_2` recomputing the forward pass) is that neuron again, not another."""
    kept: dict[frozenset[Ref], Ref] = {}
    for cell in sorted(group, key=lambda c: (sum(deps.copy_of(w) is not None for w in sides[c][1]), _place(c))):
        kept.setdefault(frozenset(deps.origin(w) for w in sides[cell][1]), cell)
    return sorted(kept.values(), key=_place)


def _reused(layer: Layer, book: StudentBook) -> None:
    """A cell used as two weights (w7 written where w4 belongs) stands for the first; the second is
    the cell the regular layout of the other weights puts it in, when that cell holds a number."""
    from sheetprop.grading.gaps import pattern

    seen: dict[Ref, tuple[int, int]] = {}
    twice = []
    for j, row in enumerate(layer.weights):
        for i, cell in enumerate(row):
            if cell in seen:
                twice.append((j, i))
            else:
                seen[cell] = (j, i)
    if not twice:
        return
    place = pattern({index: cell for cell, index in seen.items()})
    for j, i in twice:
        gap = place((j, i)) if place else None
        if gap is not None and number(book.cells.get(gap)) is not None and gap not in seen:
            layer.weights[j][i] = gap


def _stepped_from(deps: Dependencies) -> set[Ref]:
    """Cells an update formula steps from: `w − η·g` has w alone with a coefficient of 1 beside other terms."""
    found = set()
    for cell in deps.precedents:
        terms = deps.terms(cell) if len(deps.precedents[cell]) >= 2 else None
        if terms and len(terms) >= 2:
            alone = [t.cells[0] for t in terms if t.plain and len(t.cells) == 1 and t.coef == 1]
            if len(alone) == 1 and any(len(t.cells) >= 2 for t in terms):
                found.add(alone[0])
    return found


def _activation(layer: Layer, deps: Dependencies, value) -> None:
    """The outputs of a layer and its activation, from the values: out = f(net) for every neuron; an
    output that copies its net input (`=D24`) is the identity's, whatever max(0, net) would give."""
    identity = next(n for n, a in ops.ACTIVATIONS.items() if a.passes_through)
    copies = [next((u for u in sorted(deps.users.get(net, ()), key=_place) if deps.copy_of(u) == net), None)
              for net in layer.nets]
    if all(c is not None for c in copies):
        layer.outs, layer.activation = copies, identity  # type: ignore[assignment]
        return
    for name, act in ops.ACTIVATIONS.items():
        if act.layerwise or act.passes_through:
            continue
        outs = []
        for net in layer.nets:
            match = None
            for user in deps.users.get(net, ()):
                if set(deps.precedents.get(user, ())) == {net} and _close(value(user), act.value(value(net))):
                    match = user
                    break
            outs.append(match)
        if all(o is not None for o in outs):
            layer.outs, layer.activation = outs, name  # type: ignore[assignment]
            return
    layer.outs, layer.activation = list(layer.nets), identity


def _next_layer(outs: list[Ref], deps: Dependencies, value) -> Layer | None:
    candidates = {u for o in outs for u in deps.users.get(o, ())}
    nets, weights, biases = [], [], []
    for cell in sorted(candidates, key=_place):
        found = _products(deps, cell)
        if found is None:
            continue
        pairs, lone = found
        partners = []
        for o in outs:
            with_o = [p for p in pairs if o in p and len(p) == 2]
            if len(with_o) != 1:
                break
            partners.append(next(iter(with_o[0] - {o})))
        else:
            if len(pairs) == len(outs):
                nets.append(cell)
                weights.append(partners)
                biases.append(lone[0] if lone else None)
    return Layer(nets, weights, biases) if nets else None


def _forward(layers: list[Layer], inputs: list[Ref], deps: Dependencies, value) -> list[Ref] | None:
    """Another sample's output cells: its net inputs use the same weights on its own inputs."""
    sources = inputs
    outs: list[Ref] = []
    for layer in layers:
        nets = []
        for row in layer.weights:
            users = set.intersection(*[set(deps.users.get(w, ())) for w in row]) if row else set()
            match = [u for u in users if (p := _products(deps, u)) is not None
                     and all(frozenset((w, x)) in p[0] for w, x in zip(row, sources))]
            if len(match) != 1:
                return None
            nets.append(match[0])
        act = ops.activation(layer.activation or "")
        if act.passes_through:  # the net input itself, or the cell that copies it (as the first sample's)
            outs = [next((u for u in deps.users.get(net, ()) if deps.copy_of(u) == net), net)
                    if layer.outs != layer.nets else net for net in nets]
        else:
            outs = []
            for net in nets:
                made = [u for u in deps.users.get(net, ()) if set(deps.precedents.get(u, ())) == {net}
                        and _close(value(u), act.value(value(net)))]
                if not made:
                    return None
                outs.append(made[0])
        sources = outs
    return outs


def _biases(layer: Layer, value):
    if all(b is None for b in layer.biases):
        return None
    cells = {b for b in layer.biases if b is not None}
    if len(cells) == 1 and len(layer.biases) > 1 and None not in layer.biases:
        return value(next(iter(cells)))
    return [value(b) for b in layer.biases]


def _loss(outs: list[Ref], deps: Dependencies, value) -> tuple[list[Ref], str | None]:
    """The targets (the number a formula of one output takes beside it) and the loss it computes."""
    targets: list[Ref] = []
    for out in outs:
        counts: dict[Ref, int] = {}
        for user in deps.users.get(out, ()):
            others = [c for c in deps.precedents.get(user, ()) if c != out]
            if len(others) == 1 and not deps.is_formula(others[0]) or (len(others) == 1 and deps.copy_of(others[0])):
                counts[others[0]] = counts.get(others[0], 0) + 1
        if not counts:
            return [], None
        targets.append(max(counts, key=lambda c: (counts[c], [-x for x in _place(c)[1:]])))
    for name, loss in ops.LOSSES.items():
        if loss.needs_probabilities and not all(0 < value(o) < 1 for o in outs):
            continue
        for out, target in zip(outs, targets):
            for user in deps.users.get(out, ()):
                if set(deps.precedents.get(user, ())) == {out, target}:
                    try:
                        if _close(value(user), loss.term(value(target), value(out), len(outs))):
                            return targets, name
                    except (ValueError, ArithmeticError):
                        continue
    return targets, None


def _reduction(outputs: list[list[Ref]], targets: list[list[Ref]], loss: ops.Loss, deps: Dependencies,
               value) -> str:
    """"sum" when a cell adds the samples' losses up, else "mean" (a cell averaging them, or none)."""
    try:
        terms = [loss.term(value(t), value(o), len(outs)) for outs, ts in zip(outputs, targets) if len(ts) == len(outs)
                 for o, t in zip(outs, ts)]
    except (ValueError, ArithmeticError):
        return "mean"
    if len(terms) != sum(len(outs) for outs in outputs):
        return "mean"
    total, mean = sum(terms), sum(terms) / len(outputs)
    seen: set[Ref] = set()
    level = {u for o in outputs[0] for u in deps.users.get(o, ())}
    for _ in range(4):  # the loss term, the sample's loss, the batch's: a few formulas up from an output
        for cell in sorted(level - seen, key=_place):
            if _close(value(cell), total) and not _close(total, mean):
                return "sum"
            if _close(value(cell), mean):
                return "mean"
        seen |= level
        level = {u for c in level for u in deps.users.get(c, ())} - seen
    return "mean"


def _learning_rate(layers: list[Layer], deps: Dependencies, value) -> tuple[Ref, float] | None:
    """η: the number an update formula (`=w − η·g`, w alone beside products) multiplies every product by."""
    counts: dict[Ref, int] = {}
    typed: dict[float, int] = {}  # η typed into the formulas: the products' coefficient
    for layer in layers:
        for row in layer.weights:
            for w in row:
                for user in deps.users.get(w, ()):
                    terms = deps.terms(user)
                    if not terms or not any(t.plain and t.cells == (w,) and t.coef == 1 for t in terms):
                        continue
                    products = [t for t in terms if t.cells != (w,)]
                    if not products or not all(t.plain for t in terms):
                        continue
                    common = set.intersection(*[set(t.cells) for t in products])
                    leaves = [c for c in common if not deps.is_formula(c) or deps.is_constant(c)]
                    for c in leaves:
                        counts[c] = counts.get(c, 0) + 1
                    if not leaves and len({abs(t.coef) for t in products}) == 1 and abs(products[0].coef) != 1:
                        typed[abs(products[0].coef)] = typed.get(abs(products[0].coef), 0) + 1
    if counts:
        cell = max(counts, key=counts.__getitem__)
        return cell, value(cell)
    if typed:
        return None, max(typed, key=typed.__getitem__)  # type: ignore[return-value]
    return None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _place(cell: Ref) -> tuple[str, int, int]:
    return cell.sheet, cell.row, cell.col
