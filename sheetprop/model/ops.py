"""Every activation and every loss, each defined once: its value and derivative in floats, the
same two as Excel formulas, how the sheet shows them in symbols and words, and the facts the
spec's validation needs. Nothing else in sheetprop spells an activation's or a loss's name.

Forward sits next to backward, as in micrograd. Excel formulas take cell references or
defined names and return an expression without the leading `=`; operands are always
references, so Excel's unary-minus rule (`-2^2` is 4) never changes a result. The float
functions compute in the order the Excel formulas do, so values agree to the last bit.

Adding an activation or a loss is adding one object to ACTIVATIONS or LOSSES below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@dataclass(frozen=True)
class Activation:
    """An elementwise activation out = f(net), or softmax over a layer (`layerwise`)."""

    name: str
    value: Callable[[float], float]  # out = f(net)
    derivative: Callable[[float, float], float]  # d out / d net, given (out, net)
    excel: Callable[[str], str]  # the formula of out, given net's reference
    excel_derivative: Callable[[str, str], str]  # the formula of d out / d net, given (out, net)
    symbols: str  # out in symbols, `{net}` standing for the net input
    derivative_symbols: str  # d out / d net in symbols, with `{out}` and `{net}`
    words: str  # what it is, for a reader: "the logistic sigmoid"
    aliases: tuple[str, ...] = ()
    layerwise: bool = False  # softmax: out_j depends on every net of the layer
    output_only: bool = False  # may only be the activation of the output layer
    losses: tuple[str, ...] | None = None  # the only losses it goes with (None: any)
    bounded01: bool = False  # outputs lie strictly between 0 and 1 (what bce and cross_entropy need)
    constant_derivative: bool = False  # the derivative is a constant (typing it is no mistake)
    passes_through: bool = False  # out = net: one cell may hold both

    def layer_values(self, nets: Sequence[float]) -> list[float]:
        """The outputs of a whole layer."""
        if self.layerwise:
            return softmax(nets)
        return [self.value(x) for x in nets]

    def layer_excel(self, j: int, nets: Sequence[str]) -> str:
        """The formula of out_j of a layer, given every net of the layer."""
        if self.layerwise:
            return f"EXP({nets[j]})/(" + "+".join(f"EXP({n})" for n in nets) + ")"
        return self.excel(nets[j])


def softmax(nets: Sequence[float]) -> list[float]:
    exps = [math.exp(n) for n in nets]
    total = 0.0
    for e in exps:
        total += e
    return [e / total for e in exps]


def softmax_delta(j: int, grads: Sequence[float], outs: Sequence[float]) -> float:
    """δj = outj · (gj − Σk gk·outk): the softmax Jacobian applied to dE/dout."""
    weighted = grads[0] * outs[0]
    for k in range(1, len(outs)):
        weighted = weighted + grads[k] * outs[k]
    return outs[j] * (grads[j] - weighted)


def softmax_delta_excel(j: int, grads: Sequence[str], outs: Sequence[str]) -> str:
    weighted = "+".join(f"{g}*{o}" for g, o in zip(grads, outs))
    return f"{outs[j]}*({grads[j]}-({weighted}))"


SOFTMAX_DELTA_SYMBOLS = "δ{lab} = out_{lab}·(∂E/∂out_{lab} − Σk ∂E/∂out_k·out_k)"


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation(
        "identity", lambda x: x, lambda out, net: 1.0,
        lambda net: net, lambda out, net: "1",
        "{net} (no activation)", "1", "no activation (out = net)",
        aliases=("linear", "none"), constant_derivative=True, passes_through=True),
    Activation(
        "sigmoid", _sigmoid, lambda out, net: out * (1 - out),
        lambda net: f"1/(1+EXP(-{net}))", lambda out, net: f"{out}*(1-{out})",
        "1 / (1 + e^(−{net}))", "{out}·(1 − {out})", "the logistic sigmoid",
        aliases=("logistic",), bounded01=True),
    Activation(
        "tanh", math.tanh, lambda out, net: 1 - out**2,
        lambda net: f"TANH({net})", lambda out, net: f"1-{out}^2",
        "tanh({net})", "1 − {out}²", "the hyperbolic tangent"),
    Activation(
        "relu", lambda x: max(0.0, x), lambda out, net: 1.0 if net > 0 else 0.0,
        lambda net: f"MAX(0,{net})", lambda out, net: f"IF({net}>0,1,0)",
        "max(0, {net})", "1 if {net} > 0, else 0", "the rectified linear unit (derivative 0 at 0)"),
    Activation(
        "leaky_relu", lambda x: x if x > 0 else 0.01 * x, lambda out, net: 1.0 if net > 0 else 0.01,
        lambda net: f"IF({net}>0,{net},0.01*{net})", lambda out, net: f"IF({net}>0,1,0.01)",
        "{net} if {net} > 0, else 0.01·{net}", "1 if {net} > 0, else 0.01", "the leaky ReLU (slope 0.01)"),
    Activation(
        "softplus", lambda x: math.log(1 + math.exp(x)), lambda out, net: 1 / (1 + math.exp(-net)),
        lambda net: f"LN(1+EXP({net}))", lambda out, net: f"1/(1+EXP(-{net}))",
        "ln(1 + e^{net})", "1 / (1 + e^(−{net}))", "softplus, a smooth ReLU"),
    Activation(
        "silu", lambda x: x / (1 + math.exp(-x)), lambda out, net: _sigmoid(net) * (1 + net * (1 - _sigmoid(net))),
        lambda net: f"{net}/(1+EXP(-{net}))",
        lambda out, net: f"1/(1+EXP(-{net}))*(1+{net}*(1-1/(1+EXP(-{net}))))",
        "{net}·σ({net})", "σ({net})·(1 + {net}·(1 − σ({net})))", "SiLU (swish), x·σ(x)"),
    Activation(
        "softmax", lambda x: x, lambda out, net: 1.0,  # per layer: see layer_values, softmax_delta
        lambda net: net, lambda out, net: "1",
        "e^{net} / Σk e^net_k (softmax over the layer)", "", "softmax over the layer",
        layerwise=True, output_only=True, losses=("cross_entropy",), bounded01=True),
)}

ACTIVATION_ALIASES = {alias: a.name for a in ACTIVATIONS.values() for alias in a.aliases}
DEFAULT_ACTIVATION = "sigmoid"  # a spec's layers without an activation
INPUT_ACTIVATION = "identity"  # the input layer passes its values on


@dataclass(frozen=True)
class Loss:
    """A per-sample loss E = Σ_o term(t, o); K is the number of outputs."""

    name: str
    term: Callable[[float, float, int], float]  # E_o = term(target, out, K)
    gradient: Callable[[float, float, int], float]  # ∂E_o/∂out
    excel: Callable[[str, str, int], str]  # the formula of E_o, given (target, out, K)
    excel_gradient: Callable[[str, str, int], str]  # the formula of ∂E_o/∂out
    symbols: str  # E_o with {t}, {o}, {k}
    gradient_symbols: str
    words: str
    aliases: tuple[str, ...] = ()
    half: bool | None = None  # half_sse has the ½ (True), sse does not (False); the others: None
    needs_probabilities: bool = False  # outputs must lie between 0 and 1 (logarithms of o and 1 − o)
    target_range: tuple[float, float] = field(default=(-math.inf, math.inf))


LOSSES: dict[str, Loss] = {l.name: l for l in (
    Loss("half_sse", lambda t, o, k: 0.5 * (t - o) ** 2, lambda t, o, k: o - t,
         lambda t, o, k: f"0.5*({t}-{o})^2", lambda t, o, k: f"{o}-{t}",
         "½·({t} − {o})²", "{o} − {t}", "half the sum of squared errors", aliases=("half_mse",), half=True),
    Loss("sse", lambda t, o, k: (t - o) ** 2, lambda t, o, k: 2 * (o - t),
         lambda t, o, k: f"({t}-{o})^2", lambda t, o, k: f"2*({o}-{t})",
         "({t} − {o})²", "2·({o} − {t})", "the sum of squared errors", half=False),
    Loss("mse", lambda t, o, k: (t - o) ** 2 / k, lambda t, o, k: 2 * (o - t) / k,
         lambda t, o, k: f"({t}-{o})^2/{k}", lambda t, o, k: f"2*({o}-{t})/{k}",
         "({t} − {o})² / {k}", "2·({o} − {t}) / {k}", "the mean of squared errors over the outputs"),
    Loss("bce", lambda t, o, k: -(t * math.log(o) + (1 - t) * math.log(1 - o)),
         lambda t, o, k: -t / o + (1 - t) / (1 - o),
         lambda t, o, k: f"-({t}*LN({o})+(1-{t})*LN(1-{o}))", lambda t, o, k: f"-{t}/{o}+(1-{t})/(1-{o})",
         "−[{t}·ln {o} + (1 − {t})·ln(1 − {o})]", "−{t}/{o} + (1 − {t})/(1 − {o})", "binary cross-entropy",
         needs_probabilities=True, target_range=(0.0, 1.0)),
    Loss("cross_entropy", lambda t, o, k: -t * math.log(o), lambda t, o, k: -t / o,
         lambda t, o, k: f"-{t}*LN({o})", lambda t, o, k: f"-{t}/{o}",
         "−{t}·ln {o}", "−{t}/{o}", "cross-entropy", aliases=("ce",),
         needs_probabilities=True, target_range=(0.0, math.inf)),
)}

LOSS_ALIASES = {alias: l.name for l in LOSSES.values() for alias in l.aliases}
DEFAULT_LOSS = "half_sse"  # a spec without a loss


def activation(name: str) -> Activation:
    return ACTIVATIONS[name]


def loss(name: str) -> Loss:
    return LOSSES[name]


def reduce(values: Sequence[float], reduction: str) -> float:
    """A batch's mean or sum, added left to right as SUM and AVERAGE do."""
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total / len(values) if reduction == "mean" else total


def reduce_excel(terms: Sequence[str], reduction: str) -> str:
    """A batch's mean or sum; a single term stands alone."""
    if len(terms) == 1:
        return terms[0]
    return ("AVERAGE(" if reduction == "mean" else "SUM(") + ",".join(terms) + ")"


def total(values: Sequence[float]) -> float:
    """A sum added left to right, as Excel's + does."""
    result = float(values[0])
    for v in values[1:]:
        result = result + v
    return result


SIGMOID = ACTIVATIONS["sigmoid"]  # the activation whose derivative students write from memory
