"""Mistakes students (and tutorial authors) make, as alternative rules of a quantity.

Each candidate recomputes a quantity the mistaken way from the student's own values of its
inputs: (mistake id, value or None, text) or, when the mistake implies a precedent the
formula must use, (…, names). Every name a text uses comes from the quantity graph, every
formula's words from `sheetprop.model.ops`.

The BRIEF's list comes first (updated weights in the hidden sum, derivative left out or
taken of net, sign flips, the ½ of the loss, one output's contribution, swapped weights,
η left out, biases frozen/trained against the spec), then others seen in students' work
(activation or bias left out, net used for out, the wrong neuron's delta, sum for mean).
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping

from sheetprop.model import names as N
from sheetprop.model import ops
from sheetprop.model import reference as R
from sheetprop.model.graph import Quantity

Candidate = tuple  # (mistake, value or None, text) or (mistake, value, text, names the formula must use)


def candidates(sol: R.Solution, q: Quantity, own: Mapping[str, float]) -> Iterator[Candidate]:
    yield from _BY_KIND.get(q.kind, _none)(sol, q, own)


def _none(sol, q, own):
    return iter(())


def _with(q: Quantity, own: Mapping[str, float], **changed: float | None) -> float | None:
    """The rule applied to the student's values with some inputs replaced."""
    replaced = {name: v for name, v in changed.items() if v is not None}
    if len(replaced) < len(changed):
        return None
    return q.apply({**own, **replaced})


def _twin(sol: R.Solution, name: str, kind: str) -> str | None:
    """The quantity of another kind for the same neuron and sample: `net_h1_s2` for `out_h1_s2`."""
    q = sol.graph[name]
    twin = sol.graph.of(kind, neuron=q.neuron, slot=q.slot)
    return twin.name if twin is not None and q.neuron is not None else None


def _new(sol: R.Solution, name: str) -> str:
    p = sol.graph[name].param
    new = sol.graph.of("new", param=p)
    assert new is not None
    return new.name


def _net_candidates(sol: R.Solution, q: Quantity, own) -> Iterator[Candidate]:
    yield from _swapped_weights(sol, q, own, f"{q.name} takes the weights into {q.neuron}")
    last = sol.graph[q.inputs[-1]]
    bias = q.inputs[-1] if last.kind == "param" and last.param is not None and last.param.kind == "b" else None
    if bias:
        yield ("bias_left_out", _with(q, own, **{bias: 0.0}), f"left out the bias {bias}: add it to {q.name}")
    if q.layer and q.layer > 1:
        outs = [x for x in q.inputs if sol.graph[x].kind == "out"]
        nets = {x: _twin(sol, x, "net") for x in outs}
        yield ("net_instead_of_out", _with(q, own, **{x: own.get(n) for x, n in nets.items() if n}),
               f"used the net inputs {_and([n for n in nets.values() if n])} where the outputs "
               f"{_and(outs)} belong: a layer passes on its activations", {n for n in nets.values() if n})
        for x in outs:
            for other in sol.graph.siblings(x):
                yield ("wrong_activation", _with(q, own, **{x: own.get(other)}),
                       f"used {sol.graph[other].base} where {sol.graph[x].base} belongs in {q.name}", {other})


def _out_candidates(sol: R.Solution, q: Quantity, own) -> Iterator[Candidate]:
    act = ops.activation(sol.spec.layers[_layer(q)].activation)
    if not (act.constant_derivative or act.layerwise):
        yield ("activation_left_out", own[q.inputs[0]],
               f"left out the activation: {q.name} = " + act.symbols.format(net=q.inputs[0]))


def _loss_candidates(sol: R.Solution, q: Quantity, own) -> Iterator[Candidate]:
    right = q.apply(own)
    if right is None:
        return
    loss = ops.loss(sol.spec.loss)
    if loss.half is True:
        yield ("half_dropped_in_loss", 2 * right,
               f"dropped the ½ of the loss: {_loss_text(sol, q)} (the gradient out − target assumes the ½)")
    elif loss.half is False:
        yield ("half_added_to_loss", right / 2,
               f"added a ½ the loss does not have: {_loss_text(sol, q)} (loss {loss.name}, its gradient is "
               + loss.gradient_symbols.format(t="target", o="out", k=sol.spec.sizes[-1]) + ")")
    if q.kind == "E_total":
        K = sol.spec.sizes[-1]
        if q.inputs and sol.graph[q.inputs[0]].kind == "E_o" and K > 1:
            yield ("averaged_outputs", right / K, "averaged the outputs' loss terms: E_total is their sum")
        if len(sol.graph.suffixes) > 1:
            yield from _reduction(sol, right, "the samples' losses")
        yield ("loss_after_update", _loss_with_new_params(sol, own),
               "computed E_total with the updated weights (new_…): the loss of this step uses the "
               "weights from before the update")


def _dE_dout_candidates(sol: R.Solution, q: Quantity, own) -> Iterator[Candidate]:
    right = q.apply(own)
    if right is None:
        return
    if q.layer == len(sol.spec.sizes) - 1:  # an output
        loss = ops.loss(sol.spec.loss)
        shown = _grad_text(sol, q)
        yield ("target_minus_output", -right,
               f"wrote ∂E/∂out as (target − out); the sign is the other way round: {shown}")
        t, o = q.inputs
        yield ("error_as_product", own[o] * own[t], f"wrote the output error as a product {o}·{t}: {shown}")
        if loss.half is True:
            yield ("half_dropped_in_gradient", 2 * right,
                   f"differentiated (t − o)² although the loss is ½·(t − o)²: {shown}")
            yield ("half_dropped_in_gradient", -2 * right,
                   f"wrote 2·(target − out): the sign is flipped and the ½ of the loss dropped; {shown}")
        elif loss.half is False:
            yield ("half_added_to_gradient", right / 2,
                   f"left out the factor 2 of the derivative of (t − o)² (as if the loss had a ½): {shown}")
            yield ("half_added_to_gradient", -right / 2,
                   f"wrote (target − out): the sign is flipped and the factor 2 left out; {shown}")
        return
    n = len(q.inputs) // 2
    deltas, weights = q.inputs[:n], q.inputs[n:]
    new = {w: _new(sol, w) for w in weights}
    yield ("updated_weights", _with(q, own, **{w: own.get(new[w]) for w in weights}),
           f"used the updated weights {_and(list(new.values()))}; use the weights from before the update "
           f"({_and(list(weights))})", set(new.values()))
    if n > 1:
        for d, w in zip(deltas, weights):
            yield ("one_output_only", own[d] * own[w],
                   f"summed only {d}·{w}: {q.name} adds the contribution of every neuron it feeds, "
                   + " + ".join(f"{a}·{b}" for a, b in zip(deltas, weights)))
    grads = {d: _twin(sol, d, "dE_dout") for d in deltas}
    if all(grads.values()):
        yield ("dE_dout_instead_of_delta", _with(q, own, **{d: own.get(g) for d, g in grads.items() if g}),
               f"used {_and([g for g in grads.values() if g])} where the deltas {_and(deltas)} "
               "belong (the activation derivative of the next layer is missing)")
    yield from _swapped_weights(sol, q, own, f"{q.name} takes the weights out of {q.neuron}")


def _dout_dnet_candidates(sol: R.Solution, q: Quantity, own) -> Iterator[Candidate]:
    act = ops.activation(sol.spec.layers[_layer(q)].activation)
    out, net_ = _twin(sol, q.name, "out"), _twin(sol, q.name, "net")
    if out is None or net_ is None:
        return
    shown = f"{q.name} = " + act.derivative_symbols.format(out=out, net=net_)
    if "{out}" in act.derivative_symbols:  # written with out: taking it of net is the mistake
        yield ("derivative_of_net", act.derivative(own[net_], own[net_]),
               f"took the derivative of {net_} instead of {out}: {shown}", {net_})
    for other in sol.graph.siblings(out):  # the commonest slip: a_h1·(1 − a_h1) for every hidden weight
        other_net = _twin(sol, other, "net")
        if other_net is None:
            continue
        uses = {other} if "{out}" in act.derivative_symbols else {other_net}
        yield ("wrong_neuron_derivative", act.derivative(own[other], own[other_net]),
               f"took the derivative of the wrong neuron: {act.derivative_symbols.format(out=other, net=other_net)} "
               f"where {act.derivative_symbols.format(out=out, net=net_)} belongs", uses)
    if act is not ops.SIGMOID:
        yield ("wrong_derivative", ops.SIGMOID.derivative(own[out], own[net_]),
               f"used the sigmoid's derivative out·(1 − out), but {q.neuron}'s activation is {act.name}: {shown}")


def _delta_candidates(sol: R.Solution, q: Quantity, own) -> Iterator[Candidate]:
    right = q.apply(own)
    act = ops.activation(sol.spec.layers[_layer(q)].activation)
    if act.layerwise or right is None:
        if right is not None:
            yield ("sign_flipped", -right, f"the sign of {q.name} is flipped")
        return
    g, d = q.inputs
    if not act.constant_derivative:
        yield ("derivative_left_out", own[g], f"left out the activation derivative: {q.name} = {g}·{d}")
    if "{out}" in act.derivative_symbols:
        net_ = _twin(sol, q.name, "net")
        if net_ is not None:
            yield ("derivative_of_net", own[g] * act.derivative(own[net_], own[net_]),
                   f"took the activation derivative of {net_} instead of out: {q.name} = {g}·{d}")
    yield ("sign_flipped", -right, f"the sign of {q.name} is flipped: {q.name} = {g}·{d}")
    hidden = sol.graph[g]
    if _layer(q) < len(sol.spec.sizes) - 1:  # the hidden sum done inline
        n = len(hidden.inputs) // 2
        weights = hidden.inputs[n:]
        new = {w: _new(sol, w) for w in weights}
        wrong_sum = _with(hidden, own, **{w: own.get(new[w]) for w in weights})
        yield ("updated_weights", None if wrong_sum is None else wrong_sum * own[d],
               f"used the updated weights {_and(list(new.values()))}; use the weights from before the update "
               f"({_and(weights)})")


def _grad_candidates(sol: R.Solution, q: Quantity, own) -> Iterator[Candidate]:
    right = q.apply(own)
    if right is None:
        return
    p = q.param
    assert p is not None
    yield ("sign_flipped", -right, f"the sign of {q.name} is flipped")
    nb = len(sol.graph.suffixes)
    if nb > 1:
        yield from _reduction(sol, right, "the samples' gradients")
    if p.kind == "w":
        over = f"{sol.spec.reduction} over the samples of " if nb > 1 else ""
        base = lambda x: sol.graph[x].base  # noqa: E731
        shown = f"{q.name} = {over}{base(q.inputs[0])}·{base(q.inputs[1])} ({connection(sol, p)})"
        for position in (0, 1):  # the delta, the value the weight carries
            first = q.inputs[position]
            per_slot = [sol.graph.siblings(q.inputs[2 * s + position]) for s in range(nb)]
            for k, other in enumerate(per_slot[0]):
                changed = {q.inputs[2 * s + position]: own[per_slot[s][k]] for s in range(nb)}
                yield ("wrong_neuron", _with(q, own, **changed),
                       f"used {base(other)} where {base(first)} belongs: {shown}",
                       {per_slot[s][k] for s in range(nb)} if position == 1 else None)
        if nb == 1:
            yield from _missing_brackets(sol, q, own)
        if p.layer > 1:
            outs = [x for x in q.inputs if sol.graph[x].kind == "out"]
            nets = {x: _twin(sol, x, "net") for x in outs}
            if all(nets.values()):
                yield ("net_instead_of_out", _with(q, own, **{x: own.get(n) for x, n in nets.items() if n}),
                       f"used {base(nets[outs[0]] or '')} where {base(outs[0])} belongs: "
                       "a weight's gradient is δ times the activation it carries", {n for n in nets.values() if n})
    yield ("eta_in_gradient", own["eta"] * right, f"multiplied {q.name} by eta: eta belongs in the update only")


def _new_candidates(sol: R.Solution, q: Quantity, own) -> Iterator[Candidate]:
    p = q.param
    assert p is not None
    name, grad = p.name, f"grad_{p.name}"
    eta = own["eta"]
    if len(q.inputs) == 1:  # a frozen bias
        yield ("frozen_bias_updated", own[name] - eta * own[grad],
               f"updated {name}, but the spec keeps the biases frozen (train_biases: false): {q.name} = {name}")
        return
    shown = f"{q.name} = {name} − eta·{grad}"
    yield ("update_sign", own[name] + eta * own[grad], f"added eta·{grad}: an update steps against the gradient, {shown}")
    yield ("eta_left_out", own[name] - own[grad], f"left out the learning rate: {shown}")
    if p.kind == "b":
        yield ("bias_not_trained", own[name], f"left {name} unchanged, but the biases are trained here: {shown}")
    mistake = "weights_swapped" if p.kind == "w" else "wrong_parameter"
    for other in sol.graph.params:
        if other.kind == p.kind and other != p:
            yield (mistake, own[other.name] - eta * own[f"grad_{other.name}"],
                   f"computed {q.name} from {other.name} and grad_{other.name}: {shown}",
                   {other.name, f"grad_{other.name}"})
            yield ("wrong_gradient", own[name] - eta * own[f"grad_{other.name}"],
                   f"updated {name} with grad_{other.name}, the gradient of another weight: {shown}",
                   {f"grad_{other.name}"})


def _missing_brackets(sol: R.Solution, q: Quantity, own) -> Iterator[Candidate]:
    """A gradient written without the brackets that make one factor scale the whole sum:
    `a_o1-t1*a_o1*(1-a_o1)*a_h1`, or `(…)*w5+(…)*w7*a_h1*(1-a_h1)*i1`."""
    p = q.param
    assert p is not None
    graph = sol.graph
    delta, x = q.inputs[0], q.inputs[1]
    rule = graph[delta]
    if rule.kind != "delta" or len(rule.inputs) != 2:
        return
    g, d = rule.inputs
    grad = graph[g]
    if p.layer == len(sol.spec.sizes) - 1 and ops.loss(sol.spec.loss).half is True:
        t, o = grad.inputs
        yield ("missing_brackets", own[o] - own[t] * own[d] * own[x],
               f"missing brackets: only the target is scaled; {q.name} = (out − target)·∂out/∂net·{graph[x].base}")
    elif grad.kind == "dE_dout" and p.layer < len(sol.spec.sizes) - 1:
        n = len(grad.inputs) // 2
        terms = [own[grad.inputs[k]] * own[grad.inputs[n + k]] for k in range(n)]
        if n > 1:
            rest = own[d] * own[x]
            yield ("missing_brackets", ops.total(terms[:-1]) + terms[-1] * rest,
                   f"missing brackets: only the last term of the sum is scaled by ∂out/∂net·{graph[x].base}; "
                   f"bracket the whole sum Σk δk·wk")
            yield ("missing_brackets", terms[0] * rest + ops.total(terms[1:]),
                   f"missing brackets: only the first term of the sum is scaled by ∂out/∂net·{graph[x].base}; "
                   f"bracket the whole sum Σk δk·wk")


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


def _layer(q: Quantity) -> int:
    """The layer of a neuron's quantity: every quantity whose candidates read it has one."""
    assert q.layer is not None, q.name
    return q.layer


def connection(sol: R.Solution, p: N.Param) -> str:
    """`w_2 (i2 → h1)`: a parameter and the connection it sits on."""
    labels = sol.graph.labels
    if p.kind == "w":
        assert p.row is not None and p.col is not None, p.name
        return f"{p.name} ({labels[p.layer - 1][p.col]} → {labels[p.layer][p.row]})"
    where = f"layer {p.layer}" if p.row is None else labels[p.layer][p.row]
    return f"{p.name} (bias of {where})"


def _swapped_weights(sol: R.Solution, q: Quantity, own, why: str) -> Iterator[Candidate]:
    """One weight of the rule replaced by another weight of the same layer."""
    params = {p.name: p for p in sol.graph.params if p.kind == "w"}
    pairs = [(params[x], other) for x in q.inputs if x in params for other in params.values()
             if other.layer == params[x].layer and other.name not in q.inputs]
    # the transposed pair (w_2 ↔ w_3: into h1 from i2, into h2 from i1) first: it is the classic
    pairs.sort(key=lambda pq: (pq[1].row, pq[1].col) != (pq[0].col, pq[0].row))
    for p, other in pairs:
        yield ("weights_swapped", _with(q, own, **{p.name: own[other.name]}),
               f"used {connection(sol, other)} where {connection(sol, p)} belongs: {p.name} and {other.name} are swapped; {why}",
               {other.name})


def _reduction(sol: R.Solution, right: float, what: str) -> Iterator[Candidate]:
    nb = len(sol.graph.suffixes)
    if sol.spec.reduction == "mean":
        yield ("sum_for_mean", right * nb, f"summed {what}; the spec averages them (reduction: mean)")
    else:
        yield ("mean_for_sum", right / nb, f"averaged {what}; the spec sums them (reduction: sum)")


def _loss_with_new_params(sol: R.Solution, own) -> float | None:
    """E_total computed with the student's updated parameters (a tutorial mistake)."""
    spec = sol.spec
    params = R.Params.of(spec)
    try:
        for p in sol.graph.params:
            params.set(p, own[_new(sol, p.name)])
        losses = []
        for s in sol.graph.suffixes:
            inputs = [own[N.input_name(j + 1) + s] for j in range(spec.sizes[0])]
            targets = [own[N.target_name(lab) + s] for lab in sol.graph.labels[-1]]
            losses.append(R.run_sample(spec, params, inputs, targets).E)
        return ops.reduce(losses, spec.reduction)
    except (KeyError, ArithmeticError, ValueError):
        return None


def _loss_text(sol: R.Solution, q: Quantity) -> str:
    loss = ops.loss(sol.spec.loss)
    K = sol.spec.sizes[-1]
    if q.kind == "E_o":
        t, o = q.inputs
        return f"{q.name} = " + loss.symbols.format(t=t, o=o, k=K)
    return f"{q.name} = Σ " + loss.symbols.format(t="target", o="out", k=K)


def _grad_text(sol: R.Solution, q: Quantity) -> str:
    t, o = q.inputs
    return f"{q.name} = " + ops.loss(sol.spec.loss).gradient_symbols.format(t=t, o=o, k=sol.spec.sizes[-1])


def _and(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
