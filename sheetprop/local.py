"""The local rule of every BRIEF name of the first update: its direct inputs and how it follows.

`net_h1` follows from `w_1, i_1, w_2, i_2, b_1`; `delta_o1` from `dE_dout_o1, dout_dnet_o1`;
`new_w_5` from `w_5, eta, grad_w_5`. The grader applies a rule to a student's *own* values
of its inputs: a value that differs from the reference but equals the rule applied to the
student's inputs is right given the student's earlier work (carried forward).

The maths comes from `reference` (activate, derivative, loss_term, loss_gradient, softmax,
reduce), so it lives in one place. Rules are listed in the order a worked example
computes them (forward, loss, backward, gradients, update): every rule's inputs come
before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from sheetprop import names as N
from sheetprop import reference as R
from sheetprop.spec import Spec

SECTIONS = ("forward", "loss", "backward", "gradients", "update")


@dataclass(frozen=True)
class Rule:
    """How one quantity follows from its direct inputs."""

    name: str
    kind: str  # net, out, E_o, E_sample, E_total, dE_dout, dout_dnet, delta, grad, new
    section: str  # one of SECTIONS
    inputs: tuple[str, ...]
    fn: Callable[[Sequence[float]], float]
    layer: int | None = None  # non-input layer of the neuron (or parameter)
    label: str | None = None  # neuron label: h1, o2
    slot: int | None = None  # sample slot in the first batch
    param: N.Param | None = None  # for grad and new

    def apply(self, values: Mapping[str, float]) -> float | None:
        """The rule on `values` (name → number); None when an input is absent or the maths fails."""
        try:
            result = self.fn([values[name] for name in self.inputs])
        except (KeyError, ArithmeticError, ValueError, TypeError):
            return None
        if isinstance(result, bool) or not isinstance(result, (int, float)) or not math.isfinite(result):
            return None
        return float(result)


@dataclass(frozen=True)
class Network:
    """A spec's quantities: the given values, the rules (in order) and the reference values."""

    spec: Spec
    givens: tuple[str, ...]
    rules: dict[str, Rule]
    reference: dict[str, float]
    labels: tuple[tuple[str, ...], ...]
    suffixes: tuple[str, ...]  # per sample slot of the first batch: "" or "_s1", "_s2", …

    @property
    def names(self) -> list[str]:
        return list(self.givens) + list(self.rules)

    def section(self, name: str) -> str:
        rule = self.rules.get(name)
        return rule.section if rule else "given"

    def downstream(self, name: str) -> set[str]:
        """Every quantity that depends on `name`, directly or not."""
        found: set[str] = set()
        for rule in self.rules.values():
            if name in rule.inputs or found.intersection(rule.inputs):
                found.add(rule.name)
        return found


def network(spec: Spec) -> Network:
    """Build every rule of the first update of `spec`."""
    reference = R.first_update_names(spec)
    labels = N.neuron_labels(spec.sizes)
    batch = spec.batches()[0]
    nb = len(batch)
    sfx = [N.sample_suffix(slot, nb) for slot in range(nb)]
    params = R.parameters(spec)
    w_of = {(p.layer, p.row, p.col): p for p in params if p.kind == "w"}
    n_layers = len(labels)
    K = spec.sizes[-1]
    loss = spec.loss

    givens = ["eta"] + [p.name for p in params]
    for s in sfx:
        givens += [N.input_name(j + 1) + s for j in range(spec.sizes[0])]
        givens += [N.target_name(lab) + s for lab in labels[-1]]

    rules: dict[str, Rule] = {}

    def add(name, kind, section, inputs, fn, **kw):
        rules[name] = Rule(name, kind, section, tuple(inputs), fn, **kw)

    def bias_name(layer: int, j: int) -> str | None:
        mode = spec.bias_modes[layer - 1]
        return None if mode == "none" else f"b_{layer}" if mode == "shared" else f"b_{labels[layer][j]}"

    # forward
    for slot, s in enumerate(sfx):
        for layer in range(1, n_layers):
            kind = spec.layers[layer].activation
            for j, lab in enumerate(labels[layer]):
                ws = [w_of[(layer, j, i)].name for i in range(spec.sizes[layer - 1])]
                xs = [N.value_name(layer - 1, labels[layer - 1][i]) + s for i in range(len(ws))]
                b = bias_name(layer, j)
                add(f"net_{lab}{s}", "net", "forward", ws + xs + ([b] if b else []), _net(len(ws), b is not None),
                    layer=layer, label=lab, slot=slot)
            nets = [f"net_{lab}{s}" for lab in labels[layer]]
            for j, lab in enumerate(labels[layer]):
                if kind == "softmax":
                    add(f"out_{lab}{s}", "out", "forward", nets, lambda v, j=j: R.softmax(list(v))[j],
                        layer=layer, label=lab, slot=slot)
                else:
                    add(f"out_{lab}{s}", "out", "forward", [nets[j]], lambda v, kind=kind: R.activate(kind, v[0]),
                        layer=layer, label=lab, slot=slot)

    # loss
    for slot, s in enumerate(sfx):
        for lab in labels[-1]:
            add(f"E_{lab}{s}", "E_o", "loss", [N.target_name(lab) + s, f"out_{lab}{s}"],
                lambda v: R.loss_term(loss, v[0], v[1], K), layer=n_layers - 1, label=lab, slot=slot)
        if nb > 1:
            add(f"E{s}", "E_sample", "loss", [f"E_{lab}{s}" for lab in labels[-1]], _sum, slot=slot)
    if nb > 1:
        add("E_total", "E_total", "loss", [f"E{s}" for s in sfx], lambda v: R.reduce(list(v), spec.reduction))
    else:
        add("E_total", "E_total", "loss", [f"E_{lab}" for lab in labels[-1]], _sum)

    # backward
    for slot, s in enumerate(sfx):
        for layer in range(n_layers - 1, 0, -1):
            kind = spec.layers[layer].activation
            for j, lab in enumerate(labels[layer]):
                if layer == n_layers - 1:
                    add(f"dE_dout_{lab}{s}", "dE_dout", "backward", [N.target_name(lab) + s, f"out_{lab}{s}"],
                        lambda v: R.loss_gradient(loss, v[0], v[1], K), layer=layer, label=lab, slot=slot)
                else:
                    nxt = labels[layer + 1]
                    ds = [f"delta_{m}{s}" for m in nxt]
                    ws = [w_of[(layer + 1, k, j)].name for k in range(len(nxt))]
                    add(f"dE_dout_{lab}{s}", "dE_dout", "backward", ds + ws, _dot(len(ds)),
                        layer=layer, label=lab, slot=slot)
                if kind == "identity":  # a constant 1: typing it is right, it depends on nothing
                    add(f"dout_dnet_{lab}{s}", "dout_dnet", "backward", [],
                        lambda v: R.derivative("identity", 0.0, 0.0), layer=layer, label=lab, slot=slot)
                elif kind != "softmax":
                    add(f"dout_dnet_{lab}{s}", "dout_dnet", "backward", [f"out_{lab}{s}", f"net_{lab}{s}"],
                        lambda v, kind=kind: R.derivative(kind, v[0], v[1]), layer=layer, label=lab, slot=slot)
            for j, lab in enumerate(labels[layer]):
                if kind == "softmax":
                    gs = [f"dE_dout_{m}{s}" for m in labels[layer]]
                    os_ = [f"out_{m}{s}" for m in labels[layer]]
                    add(f"delta_{lab}{s}", "delta", "backward", gs + os_, _softmax_delta(j, len(gs)),
                        layer=layer, label=lab, slot=slot)
                else:
                    add(f"delta_{lab}{s}", "delta", "backward", [f"dE_dout_{lab}{s}", f"dout_dnet_{lab}{s}"],
                        lambda v: v[0] * v[1], layer=layer, label=lab, slot=slot)

    # gradients and update
    for p in params:
        if p.kind == "w":
            lab = labels[p.layer][p.row]
            src = N.value_name(p.layer - 1, labels[p.layer - 1][p.col])
            inputs = [x for s in sfx for x in (f"delta_{lab}{s}", f"{src}{s}")]
            fn = _grad_weight(nb, spec.reduction)
        elif p.row is not None:
            lab = labels[p.layer][p.row]
            inputs = [f"delta_{lab}{s}" for s in sfx]
            fn = lambda v: R.reduce(list(v), spec.reduction)  # noqa: E731
        else:
            size = spec.sizes[p.layer]
            inputs = [f"delta_{m}{s}" for s in sfx for m in labels[p.layer]]
            fn = _grad_shared_bias(size, spec.reduction)
        add(f"grad_{p.name}", "grad", "gradients", inputs, fn, layer=p.layer, param=p)
    for p in params:
        if R.trained(spec, p):
            add(f"new_{p.name}", "new", "update", [p.name, "eta", f"grad_{p.name}"],
                lambda v: v[0] - v[1] * v[2], layer=p.layer, param=p)
        else:
            add(f"new_{p.name}", "new", "update", [p.name], lambda v: float(v[0]), layer=p.layer, param=p)

    missing = set(reference) - set(givens) - set(rules)
    assert not missing, f"no local rule for {sorted(missing)}"
    return Network(spec, tuple(givens), rules, reference, tuple(tuple(x) for x in labels), tuple(sfx))


def own_values(net: Network, student: Mapping[str, float]) -> dict[str, float]:
    """The student's value of every quantity, where the student has a usable one; else what
    the student's own earlier values give (else the reference, for a given value)."""
    own: dict[str, float] = {}
    for name in net.givens:
        own[name] = student[name] if name in student else net.reference[name]
    for name, rule in net.rules.items():
        if name in student:
            own[name] = student[name]
        else:
            value = rule.apply(own)
            own[name] = value if value is not None else net.reference[name]
    return own


# ---------------------------------------------------------------- rule bodies


def _sum(v: Sequence[float]) -> float:
    total = float(v[0])
    for x in v[1:]:
        total = total + x
    return total


def _net(n: int, has_bias: bool):
    def fn(v):
        total = v[0] * v[n]
        for i in range(1, n):
            total = total + v[i] * v[n + i]
        return total + v[2 * n] if has_bias else total
    return fn


def _dot(n: int):
    def fn(v):
        total = v[0] * v[n]
        for k in range(1, n):
            total = total + v[k] * v[n + k]
        return total
    return fn


def _softmax_delta(j: int, n: int):
    def fn(v):
        g, o = v[:n], v[n:]
        weighted = _sum([g[k] * o[k] for k in range(n)])
        return o[j] * (g[j] - weighted)
    return fn


def _grad_weight(nb: int, reduction: str):
    def fn(v):
        return R.reduce([v[2 * s] * v[2 * s + 1] for s in range(nb)], reduction)
    return fn


def _grad_shared_bias(size: int, reduction: str):
    def fn(v):
        per_sample = [_sum(v[s:s + size]) for s in range(0, len(v), size)]
        return R.reduce(per_sample, reduction)
    return fn
