"""The quantity graph of the first update: every named quantity once, with how it follows.

`build(spec)` walks the network once and lists every quantity of the first update in the
order a worked example computes it (given values; forward pass; loss; backward pass from
the output layer down; gradients; update), each before the quantities that use it. A
quantity knows its name (the BRIEF's vocabulary), the names it is computed from, its rule
in floats and as an Excel formula (`sheetprop.model.ops`), its maths in symbols, its label, its
section and where it sits in the network (layer, neuron, sample slot, parameter).

Everything that needs the first update reads it from here: the reference's names, the
Network sheet and the Training columns (`layout`), the exercise's sections, the grader's
rules for error carried forward (`grade`), the mistakes' texts (`mistakes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

from sheetprop.model import names as N
from sheetprop.model import ops
from sheetprop.model.network import Spec

SECTIONS = ("forward", "loss", "backward", "gradients", "update")
GIVEN = ("eta", "param", "input", "target")


@dataclass(frozen=True)
class Quantity:
    """One quantity of the first update."""

    name: str  # net_h1_s2
    base: str  # net_h1: the Network sheet's row (a sample slot is a column)
    kind: str  # eta, param, input, target | net, out, E_o, E_sample, E_total, dE_dout, dout_dnet, delta, grad, new
    section: str  # "given" or one of SECTIONS
    label: str  # how a reader calls it: "net input of h1"
    maths: str = ""  # its rule in symbols: "net_h1 = w1·i1 + w2·i2 + b1"
    inputs: tuple[str, ...] = ()  # the names it is computed from, in the order `fn` and `excel` take them
    fn: Callable[[Sequence[float]], float] | None = field(default=None, compare=False, repr=False)
    excel: Callable[[Sequence[str]], str] | None = field(default=None, compare=False, repr=False)
    wraps: bool = True  # an input folded into this formula (not a cell of its own) is bracketed
    worked: bool = True  # in the worked example (workbook, reference); False: a factor only the grader reads
    layer: int | None = None  # the non-input layer of the neuron or parameter
    neuron: str | None = None  # h1, o2
    index: int | None = None  # the neuron's place in its layer (0-based), or the input's / target's
    slot: int | None = None  # the sample slot in the first batch (0-based)
    param: N.Param | None = None

    @property
    def given(self) -> bool:
        return self.kind in GIVEN

    def apply(self, values: Mapping[str, float]) -> float | None:
        """The rule on `values` (name → number); None when an input is missing or the maths fails."""
        if self.fn is None:
            return None
        try:
            result = self.fn([values[name] for name in self.inputs])
        except (KeyError, ArithmeticError, ValueError, TypeError):
            return None
        if isinstance(result, bool) or not isinstance(result, (int, float)) or not math.isfinite(result):
            return None
        return float(result)

    def formula(self, refs: Mapping[str, str]) -> str:
        """The Excel formula (without `=`), each input written as `refs` says (a name by default)."""
        assert self.excel is not None, f"{self.name} is a given value"
        return self.excel([refs.get(x, x) for x in self.inputs])


@dataclass(frozen=True)
class Graph:
    spec: Spec
    quantities: dict[str, Quantity]  # in the order of a worked example
    labels: tuple[tuple[str, ...], ...]  # neuron labels per layer, inputs first
    suffixes: tuple[str, ...]  # per sample slot of the first batch: "" or "_s1", "_s2", …
    batch: tuple[int, ...]  # the sample indices of the first batch

    def __getitem__(self, name: str) -> Quantity:
        return self.quantities[name]

    def __iter__(self) -> Iterator[Quantity]:
        return iter(self.quantities.values())

    @property
    def names(self) -> list[str]:
        return list(self.quantities)

    @property
    def worked(self) -> list[str]:
        """The names of the worked example (the workbook's, the reference's): all but the factors
        only the grader reads."""
        return [q.name for q in self if q.worked]

    @property
    def givens(self) -> list[str]:
        return [q.name for q in self if q.given]

    @property
    def params(self) -> list[N.Param]:
        return [q.param for q in self if q.kind == "param" and q.param is not None]

    def formulas(self) -> dict[str, str]:
        """The right formula of every computed quantity (without `=`), written with the names."""
        return {q.name: q.formula({}) for q in self if not q.given and q.worked}

    def section(self, name: str) -> str:
        return self.quantities[name].section

    def of(self, kind: str, neuron: str | None = None, slot: int | None = None,
           param: N.Param | None = None) -> Quantity | None:
        """The quantity of this kind for this neuron / sample slot / parameter, if there is one."""
        for q in self:
            if q.kind == kind and (neuron is None or q.neuron == neuron) and (param is None or q.param == param) \
                    and (slot is None or q.slot in (slot, None)):
                return q
        return None

    def siblings(self, name: str) -> list[str]:
        """Quantities of the same kind in the same layer and sample slot (delta_o2_s1 for delta_o1_s1)."""
        q = self.quantities[name]
        if q.kind == "input":
            return [x.name for x in self if x.kind == "input" and x.slot == q.slot and x.name != name]
        return [x.name for x in self if x.kind == q.kind and x.layer == q.layer and x.slot == q.slot
                and x.name != name and q.neuron is not None]

    def downstream(self, name: str) -> set[str]:
        """Every quantity that depends on `name`, directly or not."""
        found: set[str] = set()
        for q in self:
            if name in q.inputs or found.intersection(q.inputs):
                found.add(q.name)
        return found

    def evaluate(self, given: Mapping[str, float]) -> dict[str, float]:
        """Every quantity computed from the given values, rule by rule (the reference does it
        its own way, in `sheetprop.model.reference`; the two agree to the last bit)."""
        values = dict(given)
        for q in self:
            if not q.given:
                result = q.apply(values)
                if result is None:
                    raise ArithmeticError(f"{q.name} cannot be computed")
                values[q.name] = result
        return values


def build(spec: Spec) -> Graph:
    """Every quantity of the first update of `spec`."""
    labels = N.neuron_labels(spec.sizes)
    batch = spec.batches()[0]
    nb = len(batch)
    sfx = [N.sample_suffix(slot, nb) for slot in range(nb)]
    params = N.weight_params(spec.sizes) + N.bias_params(spec.sizes, spec.bias_modes)
    w_of = {(p.layer, p.row, p.col): p for p in params if p.kind == "w"}
    symbol = {p.name: p.symbol for p in params}
    n_layers = len(labels)
    K = spec.sizes[-1]
    loss = ops.loss(spec.loss)
    quantities: dict[str, Quantity] = {}

    def add(**fields) -> None:
        quantities[fields["name"]] = Quantity(**fields)

    # given values
    add(name="eta", base="eta", kind="eta", section="given", label="learning rate η")
    for p in params:
        add(name=p.name, base=p.name, kind="param", section="given", label=f"{'weight' if p.kind == 'w' else 'bias'} "
            f"{p.symbol}", layer=p.layer, param=p)
    for slot, s in enumerate(sfx):
        for j in range(spec.sizes[0]):
            add(name=N.input_name(j + 1) + s, base=N.input_name(j + 1), kind="input", section="given",
                label=f"input {labels[0][j]}", index=j, slot=slot, neuron=labels[0][j])
        for j, lab in enumerate(labels[-1]):
            add(name=N.target_name(lab) + s, base=N.target_name(lab), kind="target", section="given",
                label=f"target of {lab}", index=j, slot=slot, neuron=lab, layer=n_layers - 1)

    def bias_of(layer: int, j: int) -> str | None:
        mode = spec.bias_modes[layer - 1]
        return None if mode == "none" else f"b_{layer}" if mode == "shared" else f"b_{labels[layer][j]}"

    def carried(layer: int, i: int, s: str) -> str:
        return N.value_name(layer, labels[layer][i]) + s

    # the rule of each quantity below: the names it takes, in floats and as an Excel formula
    inputs: Sequence[str]
    fn: Callable[[Sequence[float]], float]
    excel: Callable[[Sequence[str]], str]

    # forward pass
    for layer in range(1, n_layers):
        act = ops.activation(spec.layers[layer].activation)
        for j, lab in enumerate(labels[layer]):
            ws = [w_of[(layer, j, i)] for i in range(spec.sizes[layer - 1])]
            b = bias_of(layer, j)
            shown_xs = [labels[0][i] if layer == 1 else f"out_{labels[layer - 1][i]}" for i in range(len(ws))]
            maths = " + ".join(f"{w.symbol}·{x}" for w, x in zip(ws, shown_xs)) + (f" + {symbol[b]}" if b else "")
            for slot, s in enumerate(sfx):
                xs = [carried(layer - 1, i, s) for i in range(len(ws))]
                add(name=f"net_{lab}{s}", base=f"net_{lab}", kind="net", section="forward", label=f"net input of {lab}",
                    maths=f"net_{lab} = {maths}", inputs=tuple([w.name for w in ws] + xs + ([b] if b else [])),
                    fn=_net(len(ws), b is not None), excel=_net_excel(len(ws), b is not None),
                    layer=layer, neuron=lab, index=j, slot=slot)
        for j, lab in enumerate(labels[layer]):
            for slot, s in enumerate(sfx):
                nets = [f"net_{m}{s}" for m in labels[layer]]
                if act.layerwise:
                    inputs, fn, excel = nets, _layerwise(act, j), _layerwise_excel(act, j)
                else:
                    inputs, fn, excel = [nets[j]], _elementwise(act), _elementwise_excel(act)
                add(name=f"out_{lab}{s}", base=f"out_{lab}", kind="out", section="forward", label=f"output of {lab}",
                    maths=f"out_{lab} = " + act.symbols.format(net=f"net_{lab}"), inputs=tuple(inputs), fn=fn,
                    excel=excel, layer=layer, neuron=lab, index=j, slot=slot)

    # loss
    for j, lab in enumerate(labels[-1]):
        t, o = N.target_name(lab), f"out_{lab}"
        for slot, s in enumerate(sfx):
            add(name=f"E_{lab}{s}", base=f"E_{lab}", kind="E_o", section="loss", label=f"loss term of {lab}",
                maths=f"E_{lab} = " + loss.symbols.format(t=t, o=o, k=K), inputs=(t + s, o + s),
                fn=lambda v: loss.term(v[0], v[1], K), excel=lambda r: loss.excel(r[0], r[1], K),
                layer=n_layers - 1, neuron=lab, index=j, slot=slot)
    terms = [[f"E_{lab}{s}" for lab in labels[-1]] for s in sfx]
    if nb > 1:
        for slot, s in enumerate(sfx):
            add(name=f"E{s}", base="E", kind="E_sample", section="loss", label="loss of this sample",
                maths="E = Σ of the sample's loss terms", inputs=tuple(terms[slot]), fn=ops.total,
                excel="+".join, wraps=False, slot=slot)
        add(name="E_total", base="E_total", kind="E_total", section="loss",
            label=f"batch loss ({spec.reduction} over samples)", maths=f"E_total = {spec.reduction} of E over the batch",
            inputs=tuple(f"E{s}" for s in sfx), fn=lambda v: ops.reduce(v, spec.reduction),
            excel=lambda r: ops.reduce_excel(r, spec.reduction), wraps=False)
    else:
        add(name="E_total", base="E_total", kind="E_total", section="loss", label="total loss",
            maths="E_total = " + " + ".join(f"E_{lab}" for lab in labels[-1]), inputs=tuple(terms[0]),
            fn=ops.total, excel="+".join, wraps=False)

    # backward pass, output layer first; hidden layers use the weights from before the update
    for layer in range(n_layers - 1, 0, -1):
        act = ops.activation(spec.layers[layer].activation)
        for j, lab in enumerate(labels[layer]):
            if layer == n_layers - 1:
                t, o = N.target_name(lab), f"out_{lab}"
                maths = loss.gradient_symbols.format(t=t, o=o, k=K)
                rule = dict(fn=lambda v: loss.gradient(v[0], v[1], K), excel=lambda r: loss.excel_gradient(r[0], r[1], K))
                inputs_of = lambda s, t=t, o=o: (t + s, o + s)  # noqa: E731
            else:
                nxt = labels[layer + 1]
                wn = [w_of[(layer + 1, k, j)] for k in range(len(nxt))]
                for m, w in zip(nxt, wn):  # ∂net_o1/∂out_h1 = w5, as Mazur writes it; students show it too
                    add(name=f"dnet_{m}_dout_{lab}", base=f"dnet_{m}_dout_{lab}", kind="dnet_dout", section="backward",
                        label=f"∂net_{m}/∂out_{lab}", maths=f"∂net_{m}/∂out_{lab} = {w.symbol}", inputs=(w.name,),
                        fn=lambda v: float(v[0]), excel=lambda r: r[0], worked=False, layer=layer + 1, neuron=m,
                        index=j, param=w)
                maths = " + ".join(f"δ{m}·{w.symbol}" for m, w in zip(nxt, wn))
                rule = dict(fn=_dot(len(nxt)), excel=_dot_excel(len(nxt)))
                inputs_of = lambda s, nxt=nxt, wn=wn: tuple([f"delta_{m}{s}" for m in nxt] + [w.name for w in wn])  # noqa: E731
            for slot, s in enumerate(sfx):
                add(name=f"dE_dout_{lab}{s}", base=f"dE_dout_{lab}", kind="dE_dout", section="backward",
                    label=f"∂E/∂out of {lab}", maths=f"∂E/∂out_{lab} = {maths}", inputs=inputs_of(s),
                    layer=layer, neuron=lab, index=j, slot=slot, **rule)
            if not act.layerwise:
                shown = f"∂out_{lab}/∂net_{lab} = " + act.derivative_symbols.format(out=f"out_{lab}", net=f"net_{lab}")
                for slot, s in enumerate(sfx):
                    if act.constant_derivative:  # a constant: typing it is right, it depends on nothing
                        inputs = ()
                    else:
                        inputs = (f"out_{lab}{s}", f"net_{lab}{s}")
                    add(name=f"dout_dnet_{lab}{s}", base=f"dout_dnet_{lab}", kind="dout_dnet", section="backward",
                        label=f"∂out/∂net of {lab}", maths=shown, inputs=inputs, fn=_derivative(act),
                        excel=_derivative_excel(act), layer=layer, neuron=lab, index=j, slot=slot)
        for j, lab in enumerate(labels[layer]):
            for slot, s in enumerate(sfx):
                if act.layerwise:
                    grads = [f"dE_dout_{m}{s}" for m in labels[layer]]
                    outs = [f"out_{m}{s}" for m in labels[layer]]
                    add(name=f"delta_{lab}{s}", base=f"delta_{lab}", kind="delta", section="backward",
                        label=f"δ of {lab} (∂E/∂net)", maths=ops.SOFTMAX_DELTA_SYMBOLS.format(lab=lab),
                        inputs=tuple(grads + outs), fn=_softmax_delta(j, len(grads)),
                        excel=_softmax_delta_excel(j, len(grads)), layer=layer, neuron=lab, index=j, slot=slot)
                else:
                    add(name=f"delta_{lab}{s}", base=f"delta_{lab}", kind="delta", section="backward",
                        label=f"δ of {lab} (∂E/∂net)", maths=f"δ{lab} = ∂E/∂out_{lab} · ∂out_{lab}/∂net_{lab}",
                        inputs=(f"dE_dout_{lab}{s}", f"dout_dnet_{lab}{s}"), fn=lambda v: v[0] * v[1],
                        excel=lambda r: f"{r[0]}*{r[1]}", layer=layer, neuron=lab, index=j, slot=slot)

    # gradients, then the update
    over = f"{spec.reduction} over the batch of " if nb > 1 else ""
    for p in params:
        if p.kind == "w":
            assert p.row is not None and p.col is not None  # a weight has both
            lab = labels[p.layer][p.row]
            src = N.value_name(p.layer - 1, labels[p.layer - 1][p.col])
            inputs = tuple(x for s in sfx for x in (f"delta_{lab}{s}", f"{src}{s}"))
            shown = labels[0][p.col] if p.layer == 1 else src
            maths, fn, excel = f"∂E/∂{p.symbol} = {over}δ{lab} · {shown}", _grad_weight(spec.reduction), \
                _grad_weight_excel(spec.reduction)
        elif p.row is not None:
            lab = labels[p.layer][p.row]
            inputs = tuple(f"delta_{lab}{s}" for s in sfx)
            maths = f"∂E/∂{p.symbol} = {over}δ{lab}"
            fn = lambda v: ops.reduce(v, spec.reduction)  # noqa: E731
            excel = lambda r: ops.reduce_excel(r, spec.reduction)  # noqa: E731
        else:
            layer_labs = labels[p.layer]
            inputs = tuple(f"delta_{m}{s}" for s in sfx for m in layer_labs)
            maths = f"∂E/∂{p.symbol} = {over}" + " + ".join(f"δ{m}" for m in layer_labs)
            fn, excel = _grad_shared(len(layer_labs), spec.reduction), _grad_shared_excel(len(layer_labs), spec.reduction)
        add(name=f"grad_{p.name}", base=f"grad_{p.name}", kind="grad", section="gradients",
            label=f"gradient of {p.symbol}", maths=maths, inputs=inputs, fn=fn, excel=excel, layer=p.layer, param=p)
    for p in params:
        if p.kind == "w" or spec.train_biases:
            add(name=f"new_{p.name}", base=f"new_{p.name}", kind="new", section="update", label=f"new {p.symbol}",
                maths=f"{p.symbol}⁺ = {p.symbol} − η · ∂E/∂{p.symbol}", inputs=(p.name, "eta", f"grad_{p.name}"),
                fn=lambda v: v[0] - v[1] * v[2], excel=lambda r: f"{r[0]}-{r[1]}*{r[2]}", layer=p.layer, param=p)
        else:
            add(name=f"new_{p.name}", base=f"new_{p.name}", kind="new", section="update", label=f"new {p.symbol}",
                maths=f"{p.symbol}⁺ = {p.symbol} (biases are frozen)", inputs=(p.name,),
                fn=lambda v: float(v[0]), excel=lambda r: r[0], layer=p.layer, param=p)
    return Graph(spec, quantities, tuple(tuple(x) for x in labels), tuple(sfx), tuple(batch))


def trained(spec: Spec, p: N.Param) -> bool:
    """Does the update change this parameter? (Weights always; biases unless frozen.)"""
    return p.kind == "w" or spec.train_biases


# ---------------------------------------------------------------- rule bodies, floats beside Excel


def _net(n: int, has_bias: bool) -> Callable[[Sequence[float]], float]:
    def fn(v: Sequence[float]) -> float:
        total = v[0] * v[n]
        for i in range(1, n):
            total = total + v[i] * v[n + i]
        return total + v[2 * n] if has_bias else total
    return fn


def _net_excel(n: int, has_bias: bool) -> Callable[[Sequence[str]], str]:
    def excel(r: Sequence[str]) -> str:
        terms = [f"{r[i]}*{r[n + i]}" for i in range(n)] + ([r[2 * n]] if has_bias else [])
        return "+".join(terms)
    return excel


def _layerwise(act: ops.Activation, j: int) -> Callable[[Sequence[float]], float]:
    return lambda v: act.layer_values(v)[j]


def _layerwise_excel(act: ops.Activation, j: int) -> Callable[[Sequence[str]], str]:
    return lambda r: act.layer_excel(j, r)


def _elementwise(act: ops.Activation) -> Callable[[Sequence[float]], float]:
    return lambda v: act.value(v[0])


def _elementwise_excel(act: ops.Activation) -> Callable[[Sequence[str]], str]:
    return lambda r: act.excel(r[0])


def _derivative(act: ops.Activation) -> Callable[[Sequence[float]], float]:
    """∂out/∂net from (out, net); a constant derivative takes no inputs."""
    if act.constant_derivative:
        return lambda v: act.derivative(0.0, 0.0)
    return lambda v: act.derivative(v[0], v[1])


def _derivative_excel(act: ops.Activation) -> Callable[[Sequence[str]], str]:
    if act.constant_derivative:
        return lambda r: act.excel_derivative("", "")
    return lambda r: act.excel_derivative(r[0], r[1])


def _dot(n: int) -> Callable[[Sequence[float]], float]:
    """Σk δk·wk: ∂E/∂out of a hidden neuron."""
    def fn(v: Sequence[float]) -> float:
        total = v[0] * v[n]
        for k in range(1, n):
            total = total + v[k] * v[n + k]
        return total
    return fn


def _dot_excel(n: int) -> Callable[[Sequence[str]], str]:
    return lambda r: "+".join(f"{r[k]}*{r[n + k]}" for k in range(n))


def _softmax_delta(j: int, n: int) -> Callable[[Sequence[float]], float]:
    return lambda v: ops.softmax_delta(j, v[:n], v[n:])


def _softmax_delta_excel(j: int, n: int) -> Callable[[Sequence[str]], str]:
    return lambda r: ops.softmax_delta_excel(j, r[:n], r[n:])


def _grad_weight(reduction: str) -> Callable[[Sequence[float]], float]:
    """The batch's mean or sum of δ·(the value the weight carries), over (δ, value) pairs."""
    return lambda v: ops.reduce([v[2 * s] * v[2 * s + 1] for s in range(len(v) // 2)], reduction)


def _grad_weight_excel(reduction: str) -> Callable[[Sequence[str]], str]:
    return lambda r: ops.reduce_excel([f"{r[2 * s]}*{r[2 * s + 1]}" for s in range(len(r) // 2)], reduction)


def _grad_shared(size: int, reduction: str) -> Callable[[Sequence[float]], float]:
    def fn(v: Sequence[float]) -> float:
        per_sample = [ops.total(v[s:s + size]) for s in range(0, len(v), size)]
        return ops.reduce(per_sample, reduction)
    return fn


def _grad_shared_excel(size: int, reduction: str) -> Callable[[Sequence[str]], str]:
    return lambda r: ops.reduce_excel(["+".join(r[s:s + size]) for s in range(0, len(r), size)], reduction)
