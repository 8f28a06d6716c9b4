"""Read a network's shape from a workbook's formulas, when no spec is given.

The first layer's net inputs are the formulas that are sums of products of two given numbers
(a weight and an input) and maybe one more (a bias); the inputs are the numbers every one of
them multiplies, the weights the others (one neuron alone: the numbers an update formula steps
from are the weights). A given 1 that every sample shares, or that a later layer uses too, is
the biases' constant input: its weights are the biases. Each next layer's net inputs multiply
the layer below's outputs by given numbers that updates step from. A layer's activation is read
from the values: the cell computed from a net input alone is σ(net), tanh(net), max(0, net) …,
or a copy of it, or the net input feeds the next layer directly (identity). Several samples in
one batch are net inputs that share the weights (or copies of them) but not the inputs; a
training table recomputing the forward pass from copies of the weights is the same neurons
again. The loss, how samples are combined, η and the frozen parameters: `objective`.

`read_spec` gives a spec (a mapping the validator reads, with the workbook's given values) and
the cells it read each part from, for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from sheetprop.cells import Ref
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.objective import (
    SteppedFrom,
    close,
    place,
    read_learning_rate,
    read_loss,
    read_reduction,
    updated,
    voted_loss,
)
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


def read_spec(book: StudentBook, deps: Dependencies, values: Mapping) -> tuple[dict, dict[str, Ref], bool] | None:
    """(a spec for the validator, where its parts were read, whether the whole network was read) or
    None when no net input is found. A neuron whose net input is typed in, not computed, hides from
    the read: the layer above then uses an output more than were read, and the network is partial."""
    value = _reader(book, values)

    def leaf(cell: Ref) -> bool:
        return _leaf(book, deps, cell)

    stepped = SteppedFrom(deps)
    first = _first_layer(book, deps, value, stepped)
    if first is None:
        return None
    inputs, layer, samples = first
    index = _bias_input(book, layer, samples, deps, value)
    one = None if index is None else samples[0][index]
    if index is not None:  # a constant-1 input with its own weight: that weight is the neuron's bias
        samples = [sample[:index] + sample[index + 1:] for sample in samples]
        inputs = [samples[0]]
        layer.biases = [row[index] for row in layer.weights]
        layer.weights = [row[:index] + row[index + 1:] for row in layer.weights]
    trained = stepped.__contains__ if any(w in stepped for row in layer.weights for w in row) else None
    layers = [layer]
    hidden = False
    while len(layers) < MAX_LAYERS:
        _activation(layers[-1], deps, value)
        if not layers[-1].outs:
            break
        nxt = None
        for unit in dict.fromkeys([one, _unit(book, layers[-1].outs, deps, value, stepped)]):  # x0, then h0
            nxt = _next_layer(layers[-1].outs, deps, leaf, unit, trained)
            if layers[-1].outs != layers[-1].nets:  # a neuron of the next layer fed the net inputs (a slip)
                nxt = _joined(nxt, _next_layer(layers[-1].nets, deps, leaf, unit, trained))
            if nxt is not None:
                break
        if nxt is None:
            hidden = _wider(layers[-1].outs, deps, leaf)  # a layer above uses more outputs than were read
            break
        layers.append(nxt)
    last = layers[-1]
    if not last.outs:
        return None
    targets, terms, gradients = read_loss(last.outs, deps, value)
    every_weight = [w for l in layers for row in l.weights for w in row]
    eta = read_learning_rate(every_weight, {x for sample in samples for x in sample}, deps, value)
    per_sample = [targets]
    outputs = [last.outs]
    for sample in samples[1:]:
        outs = _forward(layers, sample, deps, value)
        its_targets, its_terms, its_gradients = read_loss(outs, deps, value) if outs else ([], [], [])
        per_sample.append(its_targets)
        outputs.append(outs or [])
        terms += its_terms
        gradients += its_gradients
    loss = voted_loss(terms, gradients)
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
        spec["reduction"] = read_reduction(outputs, per_sample, ops.LOSSES[loss], deps, value, every_weight)
    biases = {b for l in layers for b in l.biases if b is not None}
    if eta and biases and not any(updated(b, eta, deps) for b in biases) \
            and any(updated(w, eta, deps) for w in every_weight):
        spec["train_biases"] = False  # the weights are updated, the biases never: frozen
    if eta and eta[0] is not None:
        where["learning rate"] = eta[0]
    if targets:
        where["targets"] = targets[0]
    where["first net input"] = layer.nets[0]
    return spec, where, not hidden


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
        if not term.plain or term.coef != 1 or not 1 <= len(term.cells) <= 2:
            return None  # a typed number, a coefficient, a product of three: not a net input
        if len(term.cells) == 2:
            if term.cells[0] == term.cells[1]:
                return None  # a square (`=A1*A1`): no weight times an input
            pairs.append(frozenset(term.cells))
        else:
            lone.append(term.cells[0])
    return (pairs, lone) if pairs and len(lone) <= 1 else None


def _leaf(book: StudentBook, deps: Dependencies, cell: Ref) -> bool:
    """A given number: typed, typed as a formula (`=0.5`), or a copy of one (`=w_1`, `=$C$5`)."""
    origin = deps.origin(cell)
    if deps.is_formula(origin):
        return deps.is_constant(origin)
    return number(book.cells.get(origin)) is not None


def _bias_input(book: StudentBook, layer: Layer, samples: list[list[Ref]], deps: Dependencies,
                value) -> int | None:
    """Which input is the constant 1 of the biases (x0 = 1, each neuron's bias its weight): an input
    that is 1 in every sample, one cell that every sample shares or one that a later layer's net
    inputs use too; never the only input."""
    if len(samples[0]) < 2:
        return None
    for index, x in enumerate(samples[0]):
        if any(len(sample) <= index or value(sample[index]) != 1 for sample in samples):
            continue
        if len(samples) > 1 and all(x in sample for sample in samples):
            return index
        for user in deps.users.get(x, ()):  # a later layer's net input: x beside a weight, outputs beside theirs
            found = _products(deps, user) if user not in layer.nets else None
            if found and len(found[0]) >= 2 and any(x in p and all(_leaf(book, deps, c) for c in p) for p in found[0]) \
                    and any(not all(_leaf(book, deps, c) for c in p) for p in found[0]):
                return index
    return None


def _first_layer(book: StudentBook, deps: Dependencies, value,
                 updated: SteppedFrom) -> tuple[list[list[Ref]], Layer, list[list[Ref]]] | None:
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
        by_inputs.setdefault(tuple(sorted(xs, key=place)), []).append(cell)
    groups = sorted(by_inputs.items(), key=lambda kv: (-len(kv[1]), place(kv[0][0])))
    inputs0, group = groups[0]
    nets = _originals(group, sides, deps)
    n = len(inputs0)
    def weight_sets(cells: list[Ref]) -> set[frozenset[Ref]]:
        return {frozenset(deps.origin(w) for w in sides[c][1]) for c in cells}

    samples = [list(inputs0)]
    for inputs, others in groups[1:]:
        if len(inputs) == n and weight_sets(others) == weight_sets(nets):
            samples.append(list(inputs))
    samples.sort(key=lambda s: place(s[0]))
    ordered = list(inputs0)  # the inputs the nets read, in the order every sample's are (by place)
    weights, biases = [], []
    for cell in nets:
        xs, ws = sides[cell]
        weights.append([ws[xs.index(x)] for x in ordered])
        biases.append(shapes[cell][1][0] if shapes[cell][1] else None)
    layer = Layer(nets, weights, biases)
    _reused(layer, book)
    return [samples[0]], layer, samples


def _originals(group: list[Ref], sides: dict[Ref, tuple[list[Ref], list[Ref]]], deps: Dependencies) -> list[Ref]:
    """The net inputs of `group`, one per neuron: a net input whose weights copy another's (a training
    table's first row `=w_1`, `=w_2` recomputing the forward pass) is that neuron again, not another."""
    kept: dict[frozenset[Ref], Ref] = {}
    for cell in sorted(group, key=lambda c: (sum(deps.copy_of(w) is not None for w in sides[c][1]), place(c))):
        kept.setdefault(frozenset(deps.origin(w) for w in sides[cell][1]), cell)
    return sorted(kept.values(), key=place)


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


def _activation(layer: Layer, deps: Dependencies, value) -> None:
    """The outputs of a layer and its activation, from the values: out = f(net) for every neuron; an
    output that copies its net input (`=D24`) is the identity's, whatever max(0, net) would give."""
    identity = next(n for n, a in ops.ACTIVATIONS.items() if a.passes_through)
    copies = [next((u for u in sorted(deps.users.get(net, ()), key=place) if deps.copy_of(u) == net
                    and any(_products(deps, v) for v in deps.users.get(u, ()))), None)
              for net in layer.nets]  # a copy the next layer reads; a copy that nothing reads is an echo
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
                if set(deps.precedents.get(user, ())) == {net} and deps.copy_of(user) is None \
                        and close(value(user), act.value(value(net))):
                    match = user
                    break
            outs.append(match)
        if all(o is not None for o in outs):
            layer.outs, layer.activation = outs, name  # type: ignore[assignment]
            return
    echoes = [next((u for u in sorted(deps.users.get(net, ()), key=place) if deps.copy_of(u) == net), net)
              for net in layer.nets]  # no activation: the output is the net input, or a copy of it
    layer.outs, layer.activation = echoes, identity


def _unit(book: StudentBook, outs: list[Ref], deps: Dependencies, value, stepped: SteppedFrom) -> Ref | None:
    """A constant-1 input the layer after `outs` multiplies by its bias: a given 1 paired in every
    one of those net inputs, beside the outputs' products (of a 1 times a bias weight of 1, the one
    no update steps from)."""
    found = None
    for user in {u for o in outs for u in deps.users.get(o, ())}:
        products = _products(deps, user)
        if products is None or products[1] or len(products[0]) != len(outs) + 1:
            continue
        ones = {c for p in products[0] if not p & set(outs) for c in p
                if value(c) == 1 and _leaf(book, deps, c)}
        if len(ones) == 2:
            ones = {c for c in ones if c not in stepped}
        if len(ones) != 1 or (found is not None and ones != {found}):
            return None
        found = next(iter(ones))
    return found


def _next_layer(outs: list[Ref], deps: Dependencies, leaf, one: Ref | None = None, trained=None) -> Layer | None:
    """The layer whose net inputs multiply each of `outs` by a weight, a given number (and `one`, the
    constant-1 input of the biases, by the bias); with `trained`, a weight an update steps from (a
    target times an output is no net input)."""
    candidates = {u for o in outs for u in deps.users.get(o, ())}
    nets, weights, biases = [], [], []
    for cell in sorted(candidates, key=place):
        found = _products(deps, cell)
        if found is None:
            continue
        pairs, lone = found
        if one is not None and not lone:
            lone = [next(iter(p - {one})) for p in pairs if one in p and len(p) == 2][:1]
            pairs = [p for p in pairs if one not in p]
        partners = _partners(outs, pairs, leaf)
        if partners is not None and (trained is None or any(trained(w) for w in partners)):
            nets.append(cell)
            weights.append(partners)
            biases.append(lone[0] if lone else None)
    return Layer(nets, weights, biases) if nets else None


def _partners(outs: list[Ref], pairs: list[frozenset[Ref]], leaf) -> list[Ref] | None:
    """Each output's weight in a net input made of one product per output, each an output times a
    given number; an output used twice (`=w7·out_h2 + w8·out_h2`, a slip) leaves its second weight
    to the output it misses."""
    if len(pairs) != len(outs):
        return None
    found: dict[Ref, Ref] = {}
    spare = []
    for pair in pairs:
        mine = [c for c in pair if c in outs]
        if len(pair) != 2 or len(mine) != 1 or not leaf(weight := next(iter(pair - {mine[0]}))):
            return None
        if mine[0] in found:
            spare.append(weight)
        else:
            found[mine[0]] = weight
    missing = [o for o in outs if o not in found]
    found.update(zip(missing, spare))
    return [found[o] for o in outs]


def _wider(outs: list[Ref], deps: Dependencies, leaf) -> bool:
    """Does a net input multiply each of `outs` and more outputs besides by given numbers?"""
    for user in {u for o in outs for u in deps.users.get(o, ())}:
        found = _products(deps, user)
        if found is None or len(found[0]) <= len(outs):
            continue
        if all(len(p) == 2 and any(leaf(c) for c in p) for p in found[0]) \
                and all(sum(o in p for p in found[0]) == 1 for o in outs):
            return True
    return False


def _joined(layer: Layer | None, slipped: Layer | None) -> Layer | None:
    """The neurons of `layer` and those of `slipped` (fed the layer below's net inputs) it lacks,
    in the order of their cells."""
    if layer is None or slipped is None:
        return layer or slipped
    more = [j for j, net in enumerate(slipped.nets) if net not in layer.nets]
    order = sorted([(net, layer, j) for j, net in enumerate(layer.nets)] + [(slipped.nets[j], slipped, j) for j in more],
                   key=lambda entry: place(entry[0]))
    return Layer([net for net, _, _ in order], [source.weights[j] for _, source, j in order],
                 [source.biases[j] for _, source, j in order])


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
                        and close(value(u), act.value(value(net)))]
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
