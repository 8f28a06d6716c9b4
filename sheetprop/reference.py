"""The maths of backpropagation in plain Python: the reference every cell is checked against.

Each forward formula sits next to its backward formula. Nothing here knows about Excel;
the arithmetic follows the order the workbook's formulas use, so values agree to the
last bit or nearly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterator

from sheetprop import names as N
from sheetprop.spec import Spec, SpecError

# ------------------------------------------------------------ activations: f and f'(out, net)


def activate(kind: str, net: float) -> float:
    if kind == "sigmoid":
        return 1 / (1 + math.exp(-net))
    if kind == "tanh":
        return math.tanh(net)
    if kind == "relu":
        return max(0.0, net)
    if kind == "leaky_relu":
        return net if net > 0 else 0.01 * net
    if kind == "softplus":
        return math.log(1 + math.exp(net))
    return net  # identity


def derivative(kind: str, out: float, net: float) -> float:
    """d out / d net, written the way the workbook writes it."""
    if kind == "sigmoid":
        return out * (1 - out)
    if kind == "tanh":
        return 1 - out**2
    if kind == "relu":
        return 1.0 if net > 0 else 0.0
    if kind == "leaky_relu":
        return 1.0 if net > 0 else 0.01
    if kind == "softplus":
        return 1 / (1 + math.exp(-net))
    return 1.0  # identity


def softmax(nets: list[float]) -> list[float]:
    exps = [math.exp(n) for n in nets]
    total = 0.0
    for e in exps:
        total += e
    return [e / total for e in exps]


# ------------------------------------------------------------ losses: E_o and dE/dout per output


def loss_term(loss: str, target: float, out: float, k: int) -> float:
    if loss == "half_sse":
        return 0.5 * (target - out) ** 2
    if loss == "sse":
        return (target - out) ** 2
    if loss == "mse":
        return (target - out) ** 2 / k
    if loss == "bce":
        return -(target * math.log(out) + (1 - target) * math.log(1 - out))
    return -target * math.log(out)  # cross_entropy


def loss_gradient(loss: str, target: float, out: float, k: int) -> float:
    if loss == "half_sse":
        return out - target
    if loss == "sse":
        return 2 * (out - target)
    if loss == "mse":
        return 2 * (out - target) / k
    if loss == "bce":
        return -target / out + (1 - target) / (1 - out)
    return -target / out  # cross_entropy


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
            return self.weights[p.layer - 1][p.row][p.col]
        b = self.biases[p.layer - 1]
        return b if p.row is None else b[p.row]

    def set(self, p: N.Param, value: float) -> None:
        if p.kind == "w":
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


def trained(spec: Spec, p: N.Param) -> bool:
    return p.kind == "w" or spec.train_biases


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
        kind = layers[layer].activation
        outs.append(softmax(net_row) if kind == "softmax" else [activate(kind, x) for x in net_row])

    K = layers[-1].size
    out = outs[-1]
    E_terms = [loss_term(spec.loss, t, o, K) for t, o in zip(targets, out)]
    E = E_terms[0]
    for term in E_terms[1:]:
        E = E + term

    dE_dout: list = [None] * n
    dout_dnet: list = [None] * n
    deltas: list = [None] * n
    dE_dout[-1] = [loss_gradient(spec.loss, t, o, K) for t, o in zip(targets, out)]
    for layer in range(n - 1, 0, -1):
        kind = layers[layer].activation
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
        if kind == "softmax":
            weighted = g[0] * o[0]
            for k in range(1, len(o)):
                weighted = weighted + g[k] * o[k]
            deltas[layer] = [o[j] * (g[j] - weighted) for j in range(len(o))]
        else:
            dout_dnet[layer] = [derivative(kind, o[j], nets[layer][j]) for j in range(len(o))]
            deltas[layer] = [g[j] * dout_dnet[layer][j] for j in range(len(o))]
    return SampleTrace(nets, outs, dE_dout, dout_dnet, deltas, E_terms, E)


# ------------------------------------------------------------ one batch: loss, gradients, update


def reduce(values: list[float], reduction: str) -> float:
    """Mean or sum, added left to right as SUM/AVERAGE do."""
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total / len(values) if reduction == "mean" else total


def sample_gradient(p: N.Param, trace: SampleTrace) -> float:
    """∂E_sample/∂p: δ·out of the input for a weight; δ (or Σδ over the layer) for a bias."""
    d = trace.deltas[p.layer]
    if p.kind == "w":
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
    return Step(index, batch, params, traces, E_total, grads, new)


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


def first_update_names(spec: Spec, step: Step | None = None) -> dict[str, float]:
    """Every BRIEF name of the first update and its value."""
    step = step or run_step(spec, Params.of(spec), spec.batches()[0])
    labels = N.neuron_labels(spec.sizes)
    values: dict[str, float] = {"eta": spec.learning_rate}
    for p in parameters(spec):
        values[p.name] = step.params.value(p)
    n_batch = len(step.batch)
    for slot, (s, trace) in enumerate(zip(step.batch, step.samples)):
        sfx = N.sample_suffix(slot, n_batch)
        sample = spec.data[s]
        for j, x in enumerate(sample.inputs):
            values[N.input_name(j + 1) + sfx] = x
        for j, t in enumerate(sample.targets):
            values[N.target_name(labels[-1][j]) + sfx] = t
        for layer in range(1, len(labels)):
            for j, label in enumerate(labels[layer]):
                values[f"net_{label}{sfx}"] = trace.nets[layer][j]
                values[f"out_{label}{sfx}"] = trace.outs[layer][j]
                values[f"dE_dout_{label}{sfx}"] = trace.dE_dout[layer][j]
                if trace.dout_dnet[layer] is not None:
                    values[f"dout_dnet_{label}{sfx}"] = trace.dout_dnet[layer][j]
                values[f"delta_{label}{sfx}"] = trace.deltas[layer][j]
        for j, label in enumerate(labels[-1]):
            values[f"E_{label}{sfx}"] = trace.E_terms[j]
        if n_batch > 1:
            values[f"E{sfx}"] = trace.E
    values["E_total"] = step.E_total
    for p in parameters(spec):
        values[f"grad_{p.name}"] = step.grads[p.name]
        values[f"new_{p.name}"] = step.new_params.value(p)
    return values


def reference_json(spec: Spec) -> dict:
    steps = list(iterate_training(spec))
    return {
        "name": spec.name,
        "updates": spec.n_updates,
        "names": first_update_names(spec, steps[0]),
        "loss": [s.E_total for s in steps],
    }
