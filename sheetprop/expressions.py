"""Excel expressions for each piece of the maths, mirroring `reference` function by function.

Every builder takes cell references or defined names as strings and returns an expression
without the leading `=`. Operands are always references, so Excel's unary-minus rule
(`-2^2` is 4) never changes a result.
"""

from __future__ import annotations


def net(weights: list[str], inputs: list[str], bias: str | None) -> str:
    """net = w1·x1 + w2·x2 + … (+ b)."""
    terms = [f"{w}*{x}" for w, x in zip(weights, inputs)]
    if bias is not None:
        terms.append(bias)
    return "+".join(terms)


def activate(kind: str, net_ref: str, layer_nets: list[str]) -> str:
    if kind == "sigmoid":
        return f"1/(1+EXP(-{net_ref}))"
    if kind == "tanh":
        return f"TANH({net_ref})"
    if kind == "relu":
        return f"MAX(0,{net_ref})"
    if kind == "leaky_relu":
        return f"IF({net_ref}>0,{net_ref},0.01*{net_ref})"
    if kind == "softplus":
        return f"LN(1+EXP({net_ref}))"
    if kind == "softmax":
        return f"EXP({net_ref})/(" + "+".join(f"EXP({n})" for n in layer_nets) + ")"
    return net_ref


def derivative(kind: str, out_ref: str, net_ref: str) -> str:
    """d out / d net for an elementwise activation."""
    if kind == "sigmoid":
        return f"{out_ref}*(1-{out_ref})"
    if kind == "tanh":
        return f"1-{out_ref}^2"
    if kind == "relu":
        return f"IF({net_ref}>0,1,0)"
    if kind == "leaky_relu":
        return f"IF({net_ref}>0,1,0.01)"
    if kind == "softplus":
        return f"1/(1+EXP(-{net_ref}))"
    return "1"


def loss_term(loss: str, target: str, out: str, k: int) -> str:
    if loss == "half_sse":
        return f"0.5*({target}-{out})^2"
    if loss == "sse":
        return f"({target}-{out})^2"
    if loss == "mse":
        return f"({target}-{out})^2/{k}"
    if loss == "bce":
        return f"-({target}*LN({out})+(1-{target})*LN(1-{out}))"
    return f"-{target}*LN({out})"


def loss_gradient(loss: str, target: str, out: str, k: int) -> str:
    """dE/dout of one output's loss term."""
    if loss == "half_sse":
        return f"{out}-{target}"
    if loss == "sse":
        return f"2*({out}-{target})"
    if loss == "mse":
        return f"2*({out}-{target})/{k}"
    if loss == "bce":
        return f"-{target}/{out}+(1-{target})/(1-{out})"
    return f"-{target}/{out}"


def softmax_delta(j: int, grads: list[str], outs: list[str]) -> str:
    """δj = outj · (gj − Σk gk·outk): the softmax Jacobian applied to dE/dout."""
    weighted = "+".join(f"{g}*{o}" for g, o in zip(grads, outs))
    return f"{outs[j]}*({grads[j]}-({weighted}))"


def weighted_sum(deltas: list[str], weights: list[str]) -> str:
    """dE/dout of a hidden neuron: Σk δk · wk (weights from before the update)."""
    return "+".join(f"{d}*{w}" for d, w in zip(deltas, weights))


def reduce(terms: list[str], reduction: str) -> str:
    """A batch's mean or sum; a single term stands alone."""
    if len(terms) == 1:
        return terms[0]
    return ("AVERAGE(" if reduction == "mean" else "SUM(") + ",".join(terms) + ")"


def update(param: str, eta: str, grad: str) -> str:
    return f"{param}-{eta}*{grad}"
