"""The maths of backpropagation in plain Python: the reference every cell is checked against.

A whole batch at a time, forward then backward, for as many updates as the Training sheet
holds (10,000 in a second or so). Each activation and loss comes from `sheetprop.model.ops`, where
its value sits beside its derivative; nothing here knows about Excel. The arithmetic
follows the order the workbook's formulas use, so values agree to the last bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterator, Mapping, Sequence

from sheetprop.model import graph as G
from sheetprop.model import names as N
from sheetprop.model import ops
from sheetprop.model.network import Spec, SpecError

# ------------------------------------------------------------ parameters


@dataclass
class Params:
    weights: list[list[list[float]]]  # per non-input layer (index 0 = layer 1): [neuron][input]
    biases: list  # per non-input layer: None | float | list[float]

    @classmethod
    def of(cls, spec: Spec) -> "Params":
        return cls(
            [[list(row) for row in m] for m in spec.weights],
            [list(b) if isinstance(b, tuple) else b for b in spec.biases],
        )

    def bias(self, layer: int, j: int) -> float:
        b = self.biases[layer - 1]
        return 0.0 if b is None else b[j] if isinstance(b, list) else b

    def value(self, p: N.Param) -> float:
        if p.kind == "w":
            assert p.row is not None and p.col is not None  # a weight has both
            return self.weights[p.layer - 1][p.row][p.col]
        b = self.biases[p.layer - 1]
        return b if p.row is None else b[p.row]

    def set(self, p: N.Param, value: float) -> None:
        if p.kind == "w":
            assert p.row is not None and p.col is not None
            self.weights[p.layer - 1][p.row][p.col] = value
        elif p.row is None:
            self.biases[p.layer - 1] = value
        else:
            self.biases[p.layer - 1][p.row] = value

    def apply_to(self, spec: Spec) -> Spec:
        """The spec with these parameters as its starting values."""
        return replace(spec, weights=tuple(tuple(tuple(r) for r in m) for m in self.weights),
                       biases=tuple(tuple(b) if isinstance(b, list) else b for b in self.biases))

    def copy(self) -> "Params":
        return Params([[list(r) for r in m] for m in self.weights],
                      [list(b) if isinstance(b, list) else b for b in self.biases])


def parameters(spec: Spec) -> list[N.Param]:
    """Every parameter in workbook order: weights w_1…, then biases."""
    return N.weight_params(spec.sizes) + N.bias_params(spec.sizes, spec.bias_modes)


trained = G.trained


# ------------------------------------------------------------ one sample, forward then backward


@dataclass
class SampleTrace:
    """Everything about one sample; lists are indexed [layer][neuron], layer 0 = inputs."""

    nets: list[list[float]]
    outs: list[list[float]]
    dE_dout: list[list[float]]
    dout_dnet: list[list[float] | None]  # None for a softmax layer
    deltas: list[list[float]]
    E_terms: list[float]  # loss term per output
    E: float  # the sample's loss: sum of its terms


def run_sample(spec: Spec, params: Params, inputs, targets) -> SampleTrace:
    layers = spec.layers
    n = len(layers)
    nets: list[list[float]] = [list(inputs)]
    outs: list[list[float]] = [list(inputs)]
    for layer in range(1, n):
        W = params.weights[layer - 1]
        has_bias = params.biases[layer - 1] is not None
        net_row = []
        for j, row in enumerate(W):
            net = row[0] * outs[-1][0]
            for i in range(1, len(row)):
                net = net + row[i] * outs[-1][i]
            if has_bias:
                net = net + params.bias(layer, j)
            net_row.append(net)
        nets.append(net_row)
        outs.append(ops.activation(layers[layer].activation).layer_values(net_row))
    K = layers[-1].size
    out = outs[-1]
    loss = ops.loss(spec.loss)
    E_terms = [loss.term(t, o, K) for t, o in zip(targets, out)]
    E = E_terms[0]
    for term in E_terms[1:]:
        E = E + term

    dE_dout: list = [None] * n
    dout_dnet: list = [None] * n
    deltas: list = [None] * n
    dE_dout[-1] = [loss.gradient(t, o, K) for t, o in zip(targets, out)]
    for layer in range(n - 1, 0, -1):
        act = ops.activation(layers[layer].activation)
        if layer < n - 1:  # hidden: sum over the next layer's deltas, weights from before the update
            W_next = params.weights[layer]
            d_next = deltas[layer + 1]
            row = []
            for j in range(layers[layer].size):
                s = d_next[0] * W_next[0][j]
                for k in range(1, len(d_next)):
                    s = s + d_next[k] * W_next[k][j]
                row.append(s)
            dE_dout[layer] = row
        g, o = dE_dout[layer], outs[layer]
        if act.layerwise:
            deltas[layer] = [ops.softmax_delta(j, g, o) for j in range(len(o))]
        else:
            dout_dnet[layer] = [act.derivative(o[j], nets[layer][j]) for j in range(len(o))]
            deltas[layer] = [g[j] * dout_dnet[layer][j] for j in range(len(o))]
    return SampleTrace(nets, outs, dE_dout, dout_dnet, deltas, E_terms, E)


# ------------------------------------------------------------ one batch: loss, gradients, update


reduce = ops.reduce


def sample_gradient(p: N.Param, trace: SampleTrace) -> float:
    """∂E_sample/∂p: δ·out of the input for a weight; δ (or Σδ over the layer) for a bias."""
    d = trace.deltas[p.layer]
    if p.kind == "w":
        assert p.row is not None and p.col is not None
        return d[p.row] * trace.outs[p.layer - 1][p.col]
    if p.row is not None:
        return d[p.row]
    return reduce(d, "sum")


@dataclass
class Step:
    """One row of training: the parameters, the batch's traces, its loss and gradients."""

    index: int  # updates done before this row
    batch: list[int]  # sample indices
    params: Params
    samples: list[SampleTrace]
    E_total: float
    grads: dict[str, float]  # by parameter name
    new_params: Params
    eta: float  # the learning rate of this update
    data: tuple  # the spec's samples (`batch` indexes them)


class OverflowSpecError(SpecError):
    """The spec's numbers leave what a spreadsheet can compute: Excel would show #NUM! (or #DIV/0!)."""


def run_step(spec: Spec, params: Params, batch: list[int], index: int = 0, plist: list[N.Param] | None = None) -> Step:
    """One update; an OverflowSpecError when a number leaves what Excel can hold (±1.8e308) or a
    logarithm meets 0, where the workbook would show #NUM! instead of a number."""
    plist = plist or parameters(spec)
    stage = "the forward and backward pass"
    try:
        traces = [run_sample(spec, params, spec.data[s].inputs, spec.data[s].targets) for s in batch]
        E_total = reduce([t.E for t in traces], spec.reduction)
        grads = {p.name: reduce([sample_gradient(p, t) for t in traces], spec.reduction) for p in plist}
        if not _finite(traces, E_total, grads.values()):
            raise OverflowError
        stage = "the update"
        new = params.copy()
        eta = spec.learning_rate
        for p in plist:
            if trained(spec, p):
                value = params.value(p) - eta * grads[p.name]
                if not math.isfinite(value):
                    raise OverflowError
                new.set(p, value)
    except (OverflowError, ZeroDivisionError, ValueError) as exc:
        raise _overflow(spec, index, stage, exc) from None
    return Step(index, batch, params, traces, E_total, grads, new, spec.learning_rate, spec.data)


def _finite(traces: list[SampleTrace], E_total: float, grads) -> bool:
    isfinite = math.isfinite
    for t in traces:
        for rows in (t.nets, t.outs, t.dE_dout, t.deltas, t.dout_dnet):
            for row in rows:
                if row is not None and not all(map(isfinite, row)):
                    return False
    return isfinite(E_total) and all(map(isfinite, grads))


def _overflow(spec: Spec, index: int, stage: str, exc: Exception) -> OverflowSpecError:
    what = ("takes the logarithm of 0 (a saturated output)" if isinstance(exc, ValueError)
            else "divides by 0" if isinstance(exc, ZeroDivisionError)
            else "makes a number beyond ±1.8e308")
    excel = "Excel would show #NUM! or #DIV/0! from there on"
    if index == 0 and stage == "the update":
        return OverflowSpecError(f"{spec.source}: learning_rate: the first update {what}; {excel}: "
                                 "use a smaller learning_rate")
    if index == 0:
        return OverflowSpecError(f"{spec.source}: weights: the first update {what} in {stage}; {excel}: "
                                 "use smaller weights, inputs or targets")
    return OverflowSpecError(f"{spec.source}: learning_rate: training diverges: update {index + 1} {what}; "
                             f"{excel}: use a smaller learning_rate or fewer epochs")


def iterate_training(spec: Spec, n_updates: int | None = None) -> Iterator[Step]:
    """Rows 0…N: row k holds the parameters after k updates and the batch update k+1 uses."""
    n_updates = spec.n_updates if n_updates is None else n_updates
    batches = spec.batches()
    params = Params.of(spec)
    plist = parameters(spec)
    for k in range(n_updates + 1):
        step = run_step(spec, params, batches[k % len(batches)], k, plist)
        yield step
        params = step.new_params


def losses(spec: Spec, n_updates: int | None = None) -> list[float]:
    return [step.E_total for step in iterate_training(spec, n_updates)]


# ------------------------------------------------------------ the names of the first update


def value(q: G.Quantity, step: Step) -> float:
    """The value of quantity `q` of the graph in `step` (its sample slot in the step's batch)."""
    kind = q.kind
    if kind == "eta":
        return step.eta
    if kind in ("param", "grad", "new", "dnet_dout"):
        assert q.param is not None
        if kind in ("param", "dnet_dout"):
            return step.params.value(q.param)
        return step.grads[q.param.name] if kind == "grad" else step.new_params.value(q.param)
    if kind == "E_total":
        return step.E_total
    trace = step.samples[q.slot or 0]
    sample = step.data[step.batch[q.slot or 0]]
    if kind == "input":
        return sample.inputs[q.index]
    if kind == "target":
        return sample.targets[q.index]
    if kind == "E_o":
        assert q.index is not None
        return trace.E_terms[q.index]
    if kind == "E_sample":
        return trace.E
    layer, j = q.layer, q.index
    tables: dict[str, Sequence[Sequence[float] | None]] = {
        "net": trace.nets, "out": trace.outs, "dE_dout": trace.dE_dout, "dout_dnet": trace.dout_dnet,
        "delta": trace.deltas}
    table = tables[kind]
    assert layer is not None and j is not None  # a neuron's quantity
    row = table[layer]
    assert row is not None  # only a softmax layer has no dout_dnet, and no such quantity
    return row[j]


@dataclass(frozen=True)
class Solution:
    """The first update worked out: the quantity graph and the reference value of each quantity."""

    graph: G.Graph
    values: dict[str, float]

    @property
    def spec(self) -> Spec:
        return self.graph.spec

    @property
    def rules(self) -> dict[str, G.Quantity]:
        """The computed quantities of the worked example (each with its rule), by name."""
        return {q.name: q for q in self.graph if not q.given and q.worked}


    def own_values(self, student: Mapping[str, float]) -> dict[str, float]:
        """The student's value of every quantity where the student has a usable one; else what the
        student's own earlier values give; else the reference (a given value, or a rule that fails)."""
        own: dict[str, float] = {}
        for q in self.graph:
            if q.name in student:
                own[q.name] = student[q.name]
            elif q.given:
                own[q.name] = self.values[q.name]
            else:
                value = q.apply(own)
                own[q.name] = value if value is not None else self.values[q.name]
        return own


def solve(spec: Spec) -> Solution:
    """The first update worked out, with the factors only the grader reads (∂net_o1/∂out_h1)."""
    graph = G.build(spec)
    return Solution(graph, first_update_names(spec, graph=graph, worked_only=False))


def first_update_names(spec: Spec, step: Step | None = None, graph: G.Graph | None = None,
                       worked_only: bool = True) -> dict[str, float]:
    """Every BRIEF name of the first update (the quantities of `sheetprop.model.graph` in the worked
    example) and its value."""
    step = step or run_step(spec, Params.of(spec), spec.batches()[0])
    graph = graph or G.build(spec)
    return {q.name: value(q, step) for q in graph if q.worked or not worked_only}


def reference_json(spec: Spec) -> dict:
    """The BRIEF's `{names, loss}`; with a learning-rate sweep, `sweep` holds each η's loss history
    (`loss` is the first η's)."""
    steps = list(iterate_training(spec))
    result = {
        "name": spec.name,
        "updates": spec.n_updates,
        "names": first_update_names(spec, steps[0]),
        "loss": [s.E_total for s in steps],
    }
    if spec.sweep:
        result["sweep"] = [{"learning_rate": eta, "loss": result["loss"] if k == 0 else
                            losses(replace(spec, learning_rate=eta))} for k, eta in enumerate(spec.sweep)]
    return result
