"""Mistakes students (and tutorial authors) make, as alternative local rules.

For a quantity the student got wrong, each candidate recomputes it the mistaken way from
the student's *own* values of its inputs; the first candidate that reproduces the
student's number names the mistake, in plain words, with what to do instead.

The BRIEF's list comes first (updated weights in the hidden sum, derivative left out or
taken of net, sign flips, the ½ of the loss, one output's contribution, swapped weights,
η left out, biases frozen/trained against the spec), then others seen in students' work
(activation or bias left out, net used for out, the wrong neuron's delta, sum for mean).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from sheetprop import names as N
from sheetprop import reference as R
from sheetprop.layout import ACT_TEXT, DERIV_TEXT, LOSS_TEXT
from sheetprop.local import Network, Rule


@dataclass(frozen=True)
class Diagnosis:
    mistake: str  # a stable id: "updated_weights", "derivative_left_out", …
    text: str  # what the student did and what to do instead


Candidate = tuple[str, "float | None", str]


def diagnose(net: Network, rule: Rule, got: float, own: Mapping[str, float],
             close: Callable[[float, float], bool]) -> Diagnosis | None:
    """The mistake that turns the student's inputs into `got`, if one does."""
    right = rule.apply(own)
    for mistake, value, text in candidates(net, rule, own):
        if value is None or (right is not None and close(value, right)):
            continue  # this mistake makes no difference here
        if close(value, got):
            return Diagnosis(mistake, text)
    return None


def given_diagnosis(net: Network, name: str, got: float, student: Mapping[str, float],
                    close: Callable[[float, float], bool]) -> Diagnosis:
    """A given value typed differently from the spec: swapped with another, or mistyped."""
    ref = net.reference
    params = {p.name: p for p in _params(net)}
    for other in net.givens:
        if other != name and close(got, ref[other]) and other in student and close(student[other], ref[name]):
            if name in params and other in params:
                return Diagnosis("weights_swapped", f"{name} and {other} are swapped: {_conn(net, params[name])} "
                                 f"is {ref[name]:g}, {_conn(net, params[other])} is {ref[other]:g}")
            return Diagnosis("given_swapped", f"{name} and {other} are swapped: {name} is {ref[name]:g}, "
                             f"{other} is {ref[other]:g}")
    return Diagnosis("given_mistyped", f"{name} is {got:g} here but the exercise gives {ref[name]:g}: "
                     "copy the given values exactly")


# ---------------------------------------------------------------- candidates per kind of quantity


def candidates(net: Network, rule: Rule, own: Mapping[str, float]) -> Iterator[Candidate]:
    yield from _BY_KIND.get(rule.kind, _none)(net, rule, own)


def _none(net, rule, own):
    return iter(())


def _with(rule: Rule, own: Mapping[str, float], **changed: float) -> float | None:
    """The rule applied to the student's values with some inputs replaced."""
    return rule.apply({**own, **changed})


def _net_candidates(net: Network, rule: Rule, own) -> Iterator[Candidate]:
    yield from _swapped_weights(net, rule, own, f"{rule.name} takes the weights into {rule.label}")
    bias = rule.inputs[-1] if rule.inputs[-1].startswith("b_") else None
    if bias:
        yield ("bias_left_out", _with(rule, own, **{bias: 0.0}),
               f"left out the bias {bias}: add it to {rule.name}")
    if rule.layer and rule.layer > 1:
        outs = [x for x in rule.inputs if x.startswith("out_")]
        swapped = {x: own.get("net_" + x[4:]) for x in outs}
        if None not in swapped.values():
            yield ("net_instead_of_out", _with(rule, own, **swapped),
                   f"used the net inputs {_and(['net_' + x[4:] for x in outs])} where the outputs "
                   f"{_and(outs)} belong: a layer passes on its activations")


def _out_candidates(net: Network, rule: Rule, own) -> Iterator[Candidate]:
    kind = net.spec.layers[rule.layer].activation
    if kind not in ("identity", "softmax"):
        yield ("activation_left_out", own[rule.inputs[0]],
               f"left out the activation: {rule.name} = " + ACT_TEXT[kind].format(net=rule.inputs[0]))


def _loss_candidates(net: Network, rule: Rule, own) -> Iterator[Candidate]:
    right = rule.apply(own)
    if right is None:
        return
    loss = net.spec.loss
    if loss == "half_sse":
        yield ("half_dropped_in_loss", 2 * right,
               f"dropped the ½ of the loss: {_loss_text(net, rule)} (the gradient out − target assumes the ½)")
    elif loss == "sse":
        yield ("half_added_to_loss", right / 2,
               f"added a ½ the loss does not have: {_loss_text(net, rule)} (loss sse, its gradient is 2·(out − target))")
    if rule.kind == "E_total":
        K = net.spec.sizes[-1]
        if rule.inputs and rule.inputs[0].startswith("E_") and K > 1:
            yield ("averaged_outputs", right / K,
                   "averaged the outputs' loss terms: E_total is their sum")
        if len(net.suffixes) > 1:
            yield from _reduction(net, rule, right, "the samples' losses")
        yield ("loss_after_update", _loss_with_new_params(net, own),
               "computed E_total with the updated weights (new_…): the loss of this step uses the "
               "weights from before the update")


def _dE_dout_candidates(net: Network, rule: Rule, own) -> Iterator[Candidate]:
    right = rule.apply(own)
    if right is None:
        return
    if rule.layer == len(net.spec.sizes) - 1:  # an output
        loss = net.spec.loss
        shown = _grad_text(net, rule)
        yield ("target_minus_output", -right,
               f"wrote ∂E/∂out as (target − out); the sign is the other way round: {shown}")
        if loss == "half_sse":
            yield ("half_dropped_in_gradient", 2 * right,
                   f"differentiated (t − o)² although the loss is ½·(t − o)²: {shown}")
            yield ("half_dropped_in_gradient", -2 * right,
                   f"wrote 2·(target − out): the sign is flipped and the ½ of the loss dropped; {shown}")
        elif loss == "sse":
            yield ("half_added_to_gradient", right / 2,
                   f"left out the factor 2 of the derivative of (t − o)² (as if the loss had a ½): {shown}")
            yield ("half_added_to_gradient", -right / 2,
                   f"wrote (target − out): the sign is flipped and the factor 2 left out; {shown}")
        return
    n = len(rule.inputs) // 2
    deltas, weights = rule.inputs[:n], rule.inputs[n:]
    new = {w: own.get("new_" + w) for w in weights}
    if None not in new.values():
        yield ("updated_weights", _with(rule, own, **new),
               f"used the updated weights {_and(['new_' + w for w in weights])}; "
               f"use the weights from before the update ({_and(weights)})")
    if n > 1:
        for d, w in zip(deltas, weights):
            yield ("one_output_only", own[d] * own[w],
                   f"summed only {d}·{w}: {rule.name} adds the contribution of every neuron it feeds, "
                   + " + ".join(f"{a}·{b}" for a, b in zip(deltas, weights)))
    grads = {d: own.get("dE_dout_" + d[6:]) for d in deltas}
    if None not in grads.values():
        yield ("dE_dout_instead_of_delta", _with(rule, own, **grads),
               f"used {_and(['dE_dout_' + d[6:] for d in deltas])} where the deltas {_and(deltas)} "
               "belong (the activation derivative of the next layer is missing)")
    yield from _swapped_weights(net, rule, own, f"{rule.name} takes the weights out of {rule.label}")


def _dout_dnet_candidates(net: Network, rule: Rule, own) -> Iterator[Candidate]:
    kind = net.spec.layers[rule.layer].activation
    tail = rule.name[len("dout_dnet_"):]
    out, net_ = f"out_{tail}", f"net_{tail}"
    shown = f"{rule.name} = " + DERIV_TEXT[kind].format(out=out, net=net_)
    if kind in ("sigmoid", "tanh"):
        yield ("derivative_of_net", R.derivative(kind, own[net_], own[net_]),
               f"took the derivative of {net_} instead of {out}: {shown}")
    if kind != "sigmoid":
        yield ("wrong_derivative", own[out] * (1 - own[out]),
               f"used the sigmoid's derivative out·(1 − out), but {rule.label}'s activation is {kind}: {shown}")


def _delta_candidates(net: Network, rule: Rule, own) -> Iterator[Candidate]:
    right = rule.apply(own)
    kind = net.spec.layers[rule.layer].activation
    if kind == "softmax" or right is None:
        if right is not None:
            yield ("sign_flipped", -right, f"the sign of {rule.name} is flipped")
        return
    g, d = rule.inputs
    if kind != "identity":
        yield ("derivative_left_out", own[g],
               f"left out the activation derivative: {rule.name} = {g}·{d}")
    if kind in ("sigmoid", "tanh"):
        net_ = "net_" + d[len("dout_dnet_"):]
        yield ("derivative_of_net", own[g] * R.derivative(kind, own[net_], own[net_]),
               f"took the activation derivative of {net_} instead of out: {rule.name} = {g}·{d}")
    yield ("sign_flipped", -right, f"the sign of {rule.name} is flipped: {rule.name} = {g}·{d}")
    hidden = net.rules.get(g)
    if hidden is not None and rule.layer < len(net.spec.sizes) - 1:  # the hidden sum done inline
        n = len(hidden.inputs) // 2
        weights = hidden.inputs[n:]
        new = {w: own.get("new_" + w) for w in weights}
        if None not in new.values():
            wrong_sum = _with(hidden, own, **new)
            yield ("updated_weights", None if wrong_sum is None else wrong_sum * own[d],
                   f"used the updated weights {_and(['new_' + w for w in weights])}; "
                   f"use the weights from before the update ({_and(weights)})")


def _grad_candidates(net: Network, rule: Rule, own) -> Iterator[Candidate]:
    right = rule.apply(own)
    if right is None:
        return
    p = rule.param
    yield ("sign_flipped", -right, f"the sign of {rule.name} is flipped")
    if len(net.suffixes) > 1:
        yield from _reduction(net, rule, right, "the samples' gradients")
    if p.kind == "w":
        nb = len(net.suffixes)
        over = f"{net.spec.reduction} over the samples of " if nb > 1 else ""
        shown = f"{rule.name} = {over}{_base(net, rule.inputs[0])}·{_base(net, rule.inputs[1])} ({_conn(net, p)})"
        for position in (0, 1):  # the delta, the value the weight carries
            firsts = rule.inputs[position]
            per_slot = [_siblings(net, rule.inputs[2 * s + position]) for s in range(nb)]
            for k, other in enumerate(per_slot[0]):
                changed = {rule.inputs[2 * s + position]: own[per_slot[s][k]] for s in range(nb)}
                yield ("wrong_neuron", _with(rule, own, **changed),
                       f"used {_base(net, other)} where {_base(net, firsts)} belongs: {shown}")
        if p.layer > 1:
            outs = [x for x in rule.inputs if x.startswith("out_")]
            nets = {x: own.get("net_" + x[4:]) for x in outs}
            if None not in nets.values():
                yield ("net_instead_of_out", _with(rule, own, **nets),
                       f"used {_base(net, 'net_' + outs[0][4:])} where {_base(net, outs[0])} belongs: "
                       "a weight's gradient is δ times the activation it carries")
    yield ("eta_in_gradient", own["eta"] * right, f"multiplied {rule.name} by eta: eta belongs in the update only")


def _new_candidates(net: Network, rule: Rule, own) -> Iterator[Candidate]:
    p = rule.param
    name, grad = p.name, f"grad_{p.name}"
    eta = own["eta"]
    if len(rule.inputs) == 1:  # a frozen bias
        yield ("frozen_bias_updated", own[name] - eta * own[grad],
               f"updated {name}, but the spec keeps the biases frozen (train_biases: false): {rule.name} = {name}")
        return
    shown = f"{rule.name} = {name} − eta·{grad}"
    yield ("update_sign", own[name] + eta * own[grad],
           f"added eta·{grad}: an update steps against the gradient, {shown}")
    yield ("eta_left_out", own[name] - own[grad], f"left out the learning rate: {shown}")
    if p.kind == "b":
        yield ("bias_not_trained", own[name], f"left {name} unchanged, but the biases are trained here: {shown}")
    mistake = "weights_swapped" if p.kind == "w" else "wrong_parameter"
    for q in _params(net):
        if q.kind == p.kind and q.layer == p.layer and q != p:
            yield (mistake, own[q.name] - eta * own[f"grad_{q.name}"],
                   f"computed {rule.name} from {q.name} and grad_{q.name}: {shown}")
            yield (mistake, own[name] - eta * own[f"grad_{q.name}"],
                   f"used grad_{q.name} where grad_{name} belongs: {shown}")


_BY_KIND = {
    "net": _net_candidates,
    "out": _out_candidates,
    "E_o": _loss_candidates,
    "E_sample": _loss_candidates,
    "E_total": _loss_candidates,
    "dE_dout": _dE_dout_candidates,
    "dout_dnet": _dout_dnet_candidates,
    "delta": _delta_candidates,
    "grad": _grad_candidates,
    "new": _new_candidates,
}


# ---------------------------------------------------------------- helpers


def _params(net: Network) -> list[N.Param]:
    return R.parameters(net.spec)


def _conn(net: Network, p: N.Param) -> str:
    """`w_2 (i2 → h1)`: a parameter and the connection it sits on."""
    if p.kind == "w":
        return f"{p.name} ({net.labels[p.layer - 1][p.col]} → {net.labels[p.layer][p.row]})"
    where = f"layer {p.layer}" if p.row is None else net.labels[p.layer][p.row]
    return f"{p.name} (bias of {where})"


def _swapped_weights(net: Network, rule: Rule, own, why: str) -> Iterator[Candidate]:
    """One weight of the rule replaced by another weight of the same layer."""
    params = {p.name: p for p in _params(net) if p.kind == "w"}
    pairs = [(params[x], q) for x in rule.inputs if x in params for q in params.values()
             if q.layer == params[x].layer and q.name not in rule.inputs]
    # the transposed pair (w_2 ↔ w_3: into h1 from i2, into h2 from i1) first: it is the classic
    pairs.sort(key=lambda pq: (pq[1].row, pq[1].col) != (pq[0].col, pq[0].row))
    for p, q in pairs:
        yield ("weights_swapped", _with(rule, own, **{p.name: own[q.name]}),
               f"used {_conn(net, q)} where {_conn(net, p)} belongs: {p.name} and {q.name} are swapped; {why}")


def _split(net: Network, name: str) -> tuple[str, str]:
    """`delta_o1_s2` → ("delta_o1", "_s2")."""
    for s in net.suffixes:
        if s and name.endswith(s):
            return name[: -len(s)], s
    return name, ""


def _base(net: Network, name: str) -> str:
    return _split(net, name)[0]


def _siblings(net: Network, name: str) -> list[str]:
    """Quantities of the same kind in the same layer and sample: delta_o2_s1 for delta_o1_s1."""
    base, s = _split(net, name)
    for layer, labs in enumerate(net.labels):
        if layer == 0:
            families = [[N.value_name(0, m) for m in labs]]
        else:
            families = [[f"{prefix}{m}" for m in labs] for prefix in ("out_", "delta_", "net_")]
        for family in families:
            if base in family:
                return [x + s for x in family if x != base]
    return []


def _reduction(net: Network, rule: Rule, right: float, what: str) -> Iterator[Candidate]:
    nb = len(net.suffixes)
    if net.spec.reduction == "mean":
        yield ("sum_for_mean", right * nb, f"summed {what}; the spec averages them (reduction: mean)")
    else:
        yield ("mean_for_sum", right / nb, f"averaged {what}; the spec sums them (reduction: sum)")


def _loss_with_new_params(net: Network, own) -> float | None:
    """E_total computed with the student's updated parameters (a tutorial mistake)."""
    spec = net.spec
    params = R.Params.of(spec)
    try:
        for p in _params(net):
            params.set(p, own[f"new_{p.name}"])
        labels = net.labels
        losses = []
        for s in net.suffixes:
            inputs = [own[N.input_name(j + 1) + s] for j in range(spec.sizes[0])]
            targets = [own[N.target_name(lab) + s] for lab in labels[-1]]
            losses.append(R.run_sample(spec, params, inputs, targets).E)
        return R.reduce(losses, spec.reduction)
    except (KeyError, ArithmeticError, ValueError):
        return None


def _loss_text(net: Network, rule: Rule) -> str:
    e_text, _ = LOSS_TEXT[net.spec.loss]
    K = net.spec.sizes[-1]
    if rule.kind == "E_o":
        t, o = rule.inputs
        return f"{rule.name} = " + e_text.format(t=t, o=o, k=K)
    return f"{rule.name} = Σ " + e_text.format(t="target", o="out", k=K)


def _grad_text(net: Network, rule: Rule) -> str:
    _, g_text = LOSS_TEXT[net.spec.loss]
    t, o = rule.inputs
    return f"{rule.name} = " + g_text.format(t=t, o=o, k=net.spec.sizes[-1])


def _and(items: list[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
