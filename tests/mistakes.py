"""The mistakes the grader names (`sheetprop.grading.candidates`), written into a student's formula.

Each mistake is either a swap (the right rule with some of its inputs replaced: another
weight, the updated weights, the net input for the output, the wrong neuron's δ) or a formula
of its own (the ½ dropped, the derivative left out, the update's sign flipped, …). Both give
the formula the cell holds and, in floats, the value it takes on the student's own inputs, so
the builder knows what every cell after it holds (carried forward) without any engine.
"""

from __future__ import annotations

from typing import Callable

from sheetprop.model.graph import Quantity

SWAPS = ("weights_swapped", "net_instead_of_out", "wrong_activation", "updated_weights", "dE_dout_instead_of_delta",
         "derivative_of_net", "wrong_neuron_derivative", "wrong_neuron", "wrong_gradient")


def _twin(st, name: str, kind: str) -> str:
    q = st.q(name)
    twin = st.graph.of(kind, neuron=q.neuron, slot=q.slot)
    assert twin is not None, (name, kind)
    return twin.name


def _new(st, name: str) -> str:
    new = st.graph.of("new", param=st.q(name).param)
    assert new is not None
    return new.name


def _weights(st, q: Quantity) -> list[str]:
    return [x for x in q.inputs if st.q(x).kind == "param" and st.q(x).param.kind == "w"]


def swaps(st, q: Quantity, mistake: str) -> dict[str, str]:
    """Which inputs of q the mistake replaces, and by what."""
    graph = st.graph
    if mistake == "weights_swapped":
        params = {p.name: p for p in graph.params if p.kind == "w"}
        for x in reversed(_weights(st, q)):
            p = params[x]
            same = [o for o in params.values() if o.layer == p.layer and o.name not in q.inputs]
            same.sort(key=lambda o: (o.row, o.col) != (p.col, p.row))  # the transposed one: w2 ↔ w3, w6 ↔ w7
            if same:
                return {x: same[0].name}
        raise AssertionError(f"no weight to swap in {q.name}")
    if mistake == "net_instead_of_out":
        return {x: _twin(st, x, "net") for x in q.inputs if st.q(x).kind == "out"}
    if mistake == "wrong_activation":
        x = next(x for x in q.inputs if st.q(x).kind == "out")
        return {x: graph.siblings(x)[0]}
    if mistake == "updated_weights":
        return {x: _new(st, x) for x in _weights(st, q)}
    if mistake == "dE_dout_instead_of_delta":
        return {x: _twin(st, x, "dE_dout") for x in q.inputs if st.q(x).kind == "delta"}
    if mistake in ("derivative_of_net", "wrong_neuron_derivative"):
        out, net = q.inputs
        if mistake == "derivative_of_net":
            return {out: net}
        other = graph.siblings(out)[0]
        return {out: other, net: _twin(st, other, "net")}
    if mistake == "wrong_neuron":
        return {x: graph.siblings(x)[0] for x in q.inputs if st.q(x).kind == "delta"}
    if mistake == "wrong_gradient":
        p = q.param
        others = [o for o in graph.params if o.kind == p.kind and o.layer == p.layer and o != p]
        before = [o for o in others if graph.params.index(o) < graph.params.index(p)]
        return {f"grad_{p.name}": f"grad_{(before[-1] if before else others[0]).name}"}
    raise KeyError(mistake)


# ---------------------------------------------------------------- mistakes with a formula of their own


def _output(q: Quantity, r: dict[str, str]) -> tuple[str, str]:
    t, o = q.inputs
    return r[t], r[o]


def _loss_after_update(render, q: Quantity) -> str:
    st = render.st
    render.deep = {p.name: _new(st, p.name) for p in st.graph.params if st.q(_new(st, p.name)).inputs != (p.name,)}
    try:
        return render.right(q)
    finally:
        render.deep = {}


def _loss_after_update_value(st, q: Quantity, values: dict[str, float]) -> float:
    local = dict(values)
    for p in st.graph.params:
        local[p.name] = values[_new(st, p.name)]
    for x in st.graph:
        if x.kind in ("net", "out", "E_o", "E_sample", "E_total"):
            local[x.name] = st.rule(x.name, local)
    return local[q.name]


def _without_bias(render, q: Quantity) -> str:
    r = render.refs(q)
    n = (len(q.inputs) - 1) // 2
    return "+".join(f"{r[q.inputs[i]]}*{r[q.inputs[n + i]]}" for i in range(n))


def _missing_brackets(render, q: Quantity) -> str:
    st = render.st
    delta, x = q.inputs
    dE, _ = st.q(delta).inputs
    t, o = (render.expr(v) for v in st.q(dE).inputs)
    return f"{o}-{t}*{o}*(1-{o})*{render.expr(x)}"


def _missing_brackets_value(st, q: Quantity, v: dict[str, float]) -> float:
    delta, x = q.inputs
    dE, d = st.q(delta).inputs
    t, o = st.q(dE).inputs
    return v[o] - v[t] * v[o] * (1 - v[o]) * v[x]


def _update(render, q: Quantity, flip: bool, eta: bool) -> str:
    st = render.st
    r = render.refs(q)
    w, e, g = (r[x] for x in q.inputs)
    sign = "+" if (st.factor(q.inputs[2]) < 0) != flip else "-"
    return f"{w}{sign}{e}*{g}" if eta else f"{w}{sign}{g}"


def _update_value(st, q: Quantity, v: dict[str, float], flip: bool, eta: bool) -> float:
    w, e, g = q.inputs
    f = st.factor(g)
    sign = (1.0 if f < 0 else -1.0) * (-1.0 if flip else 1.0)
    return v[w] + sign * (v[e] if eta else 1.0) * f * v[g]


Formula = Callable[..., str]
Value = Callable[..., float]

OWN: dict[str, tuple[Formula, Value]] = {
    "bias_left_out": (_without_bias, lambda st, q, v: q.apply({**v, q.inputs[-1]: 0.0})),
    "activation_left_out": (lambda render, q: render.expr(q.inputs[0]), lambda st, q, v: v[q.inputs[0]]),
    "half_dropped_in_loss": (lambda render, q: "({}-{})^2".format(*_output(q, render.refs(q))),
                             lambda st, q, v: 2 * st.rule(q.name, v)),
    "half_added_to_loss": (lambda render, q: "0.5*({}-{})^2".format(*_output(q, render.refs(q))),
                           lambda st, q, v: st.rule(q.name, v) / 2),
    "averaged_outputs": (lambda render, q: "AVERAGE({})".format(",".join(render.refs(q).values())),
                         lambda st, q, v: st.rule(q.name, v) / len(q.inputs)),
    "loss_after_update": (_loss_after_update, _loss_after_update_value),
    "target_minus_output": (lambda render, q: "{}-{}".format(*_output(q, render.refs(q))),
                            lambda st, q, v: -st.rule(q.name, v)),
    "error_as_product": (lambda render, q: "{1}*{0}".format(*_output(q, render.refs(q))),
                         lambda st, q, v: v[q.inputs[1]] * v[q.inputs[0]]),
    "half_dropped_in_gradient": (lambda render, q: "2*({1}-{0})".format(*_output(q, render.refs(q))),
                                 lambda st, q, v: 2 * st.rule(q.name, v)),
    "half_added_to_gradient": (lambda render, q: "{1}-{0}".format(*_output(q, render.refs(q))),
                               lambda st, q, v: st.rule(q.name, v) / 2),
    "one_output_only": (lambda render, q: "{}*{}".format(*(render.refs(q)[x] for x in q.inputs[::len(q.inputs) // 2])),
                        lambda st, q, v: v[q.inputs[0]] * v[q.inputs[len(q.inputs) // 2]]),
    "wrong_derivative": (lambda render, q: "{0}*(1-{0})".format(render.refs(q)[q.inputs[0]]),
                         lambda st, q, v: v[q.inputs[0]] * (1 - v[q.inputs[0]])),
    "derivative_left_out": (lambda render, q: render.refs(q)[q.inputs[0]], lambda st, q, v: v[q.inputs[0]]),
    "sign_flipped": (lambda render, q: f"-({render.right(q)})", lambda st, q, v: -st.rule(q.name, v)),
    "missing_brackets": (_missing_brackets, _missing_brackets_value),
    "eta_in_gradient": (lambda render, q: f"{render.expr('eta')}*({render.right(q)})",
                        lambda st, q, v: v["eta"] * st.rule(q.name, v)),
    "sum_for_mean": (lambda render, q: render.right(q).replace("AVERAGE(", "SUM("),
                     lambda st, q, v: len(st.graph.suffixes) * st.rule(q.name, v)),
    "mean_for_sum": (lambda render, q: render.right(q).replace("SUM(", "AVERAGE("),
                     lambda st, q, v: st.rule(q.name, v) / len(st.graph.suffixes)),
    "update_sign": (lambda render, q: _update(render, q, True, True),
                    lambda st, q, v: _update_value(st, q, v, True, True)),
    "eta_left_out": (lambda render, q: _update(render, q, False, False),
                     lambda st, q, v: _update_value(st, q, v, False, False)),
    "frozen_bias_updated": (lambda render, q: "{}-{}*{}".format(render.expr(q.inputs[0]), render.expr("eta"),
                                                              render.expr(f"grad_{q.inputs[0]}")),
                            lambda st, q, v: v[q.inputs[0]] - v["eta"] * v[f"grad_{q.inputs[0]}"]),
    "bias_not_trained": (lambda render, q: render.expr(q.inputs[0]), lambda st, q, v: v[q.inputs[0]]),
}

MISTAKES = set(SWAPS) | set(OWN) | {"given_mistyped", "hardcoded"}


def mistaken_formula(render, q: Quantity, slip) -> str:
    if slip.mistake in OWN:
        return OWN[slip.mistake][0](render, q)
    return render.right(q, swaps(render.st, q, slip.mistake))


def mistaken_value(st, slip, values: dict[str, float]) -> float:
    q = st.q(slip.where)
    if slip.mistake in OWN:
        return OWN[slip.mistake][1](st, q, values)
    swap = swaps(st, q, slip.mistake)
    return st.rule(q.name, {**values, **{x: values[by] for x, by in swap.items()}})
