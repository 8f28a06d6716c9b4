"""A worked solution: every quantity of the first update written out the way a tutorial does.

Each quantity of the worked example (`Quantity.worked`) gets one line: its formula in symbols,
the same formula with the numbers put in, and the result,

    net_h1 = w1·i1 + w2·i2 + b1 = 0.15·0.05 + 0.2·0.1 + 0.35 = 0.3775

Every number is the reference's (`sheetprop.model.reference.solve`): nothing is typed, and nothing is
recomputed here. The network is never walked either: each line is read off one Quantity, its
formula from the graph's `maths`, the numbers put into a template per kind (the activations'
and losses' own symbols from `sheetprop.model.ops`), so the lines say what the workbook computes.

The order is the tutorial's (Mazur's): given values, forward pass, loss, then the output layer's
backward pass, gradients and update, then each hidden layer's, from the top down. With several
samples in the first batch each sample has a subsection of its own (its names end in _s1, _s2, …).

`markdown` writes GitHub markdown with `$…$` maths; `html` one self-contained page (no script,
no link, nothing fetched) with the maths written as HTML.
"""

from __future__ import annotations

import html as html_
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from sheetprop.model import ops
from sheetprop.model.graph import Quantity
from sheetprop.model.reference import Solution
from sheetprop.solution.notation import HTML, TEX

FORMATS = ("md", "html")
PLACES = 9  # decimal places, as Mazur's tutorial prints its numbers (1.105905967)


# ---------------------------------------------------------------- numbers


def number(x: float) -> str:
    """A computed value as the tutorials print it: rounded to 9 decimal places, trailing zeros
    dropped (1.105905967, 0.75136507, 0.191). Below 1e-4 that would lose digits and from 1e6 up
    it would invent them, so there the value has 9 significant digits (2.0169896e-11)."""
    if x == 0:
        return "0"
    size = abs(x)
    text = f"{size:.{PLACES}f}".rstrip("0").rstrip(".") if 1e-4 <= size < 1e6 else f"{size:.9g}"
    return ("−" if x < 0 else "") + text


def written(x: float) -> str:
    """A given value as the spec writes it: 0.15, 2, −0.3 (the shortest text that reads back as it)."""
    text = repr(abs(float(x)))
    text = text[:-2] if text.endswith(".0") else text
    return ("−" if x < 0 else "") + text


# ---------------------------------------------------------------- the lines


@dataclass(frozen=True)
class Line:
    """One quantity worked out, in the graph's notation (w1·i1, ∂E/∂out_h1, e^(−net_h1))."""

    name: str  # net_h1_s2: the workbook's and the reference's name
    label: str  # net input of h1
    formula: str  # net_h1 = w1·i1 + w2·i2 + b1
    numbers: str  # 0.15·0.05 + 0.2·0.1 + 0.35 ("" when it would only repeat the result)
    result: str  # 0.3775
    given: bool = False  # a given value (η, a parameter, an input, a target): no formula

    @property
    def parts(self) -> list[str]:
        """formula = numbers = result, leaving out what would only say the result again."""
        parts = [self.formula] + ([self.numbers] if self.numbers else [])
        return parts if parts[-1].endswith(f"= {self.result}") else parts + [self.result]

    @property
    def text(self) -> str:
        return " = ".join(self.parts)


@dataclass(frozen=True)
class Section:
    """A heading and the lines under it; level 2 is a part of the solution, 3 and 4 lie within one."""

    level: int
    title: str
    lines: tuple[Line, ...] = ()

    @property
    def anchor(self) -> str:
        """The title's words before any bracket or colon, for an HTML id: 3-output-layer, sample-2."""
        return re.sub(r"[^a-z0-9]+", "-", re.split(r" \(|:", self.title)[0].lower()).strip("-")


def sections(solution: Solution) -> list[Section]:
    """The worked solution in the tutorial's order: given values, forward pass, loss, then per
    layer from the output down: its backward pass, its gradients, its update."""
    graph = solution.graph
    worked = [q for q in graph if q.worked]
    parts = _part(solution, 2, "Given values", [q for q in worked if q.given])
    parts += _part(solution, 2, "1. Forward pass", [q for q in worked if q.section == "forward"])
    parts += _part(solution, 2, "2. Loss", [q for q in worked if q.section == "loss"])
    for n, layer in enumerate(range(len(graph.labels) - 1, 0, -1), start=3):
        parts.append(Section(2, f"{n}. {_layer_title(solution, layer)}"))
        for section, title in (("backward", "Backward pass"), ("gradients", "Gradients"), ("update", "Update")):
            parts += _part(solution, 3, title, [q for q in worked if q.section == section and q.layer == layer])
    return parts


def _part(solution: Solution, level: int, title: str, quantities: list[Quantity]) -> list[Section]:
    """A part's lines; with several samples, what precedes the samples (η, the parameters) under
    the part's own heading, then a subsection per sample, then what the batch shares (E_total)."""
    if not quantities:
        return []
    graph = solution.graph
    if len(graph.suffixes) == 1:
        return [Section(level, title, tuple(line(q, solution) for q in quantities))]
    first = next((i for i, q in enumerate(quantities) if q.slot is not None), len(quantities))
    head, rest = quantities[:first], quantities[first:]
    parts = [Section(level, title, tuple(line(q, solution) for q in head))]
    for slot, suffix in enumerate(graph.suffixes):
        mine = tuple(line(q, solution) for q in rest if q.slot == slot)
        if mine:
            parts.append(Section(level + 1, f"Sample {graph.batch[slot] + 1} (names ending {suffix})", mine))
    shared = tuple(line(q, solution) for q in rest if q.slot is None)
    if shared:
        parts.append(Section(level + 1, "The whole batch", shared))
    return parts


def _layer_title(solution: Solution, layer: int) -> str:
    """Output layer (o1, o2), Hidden layer (h1, h2), or Hidden layer 2 (h2_1, h2_2) when there are several."""
    labels = solution.graph.labels
    shown = labels[layer] if len(labels[layer]) <= 4 else (labels[layer][0], "…", labels[layer][-1])
    neurons = ", ".join(shown)
    if layer == len(labels) - 1:
        return f"Output layer ({neurons}): backward pass and update"
    which = "Hidden layer" if len(labels) == 3 else f"Hidden layer {layer}"
    return f"{which} ({neurons}): backward pass and update"


def line(q: Quantity, solution: Solution) -> Line:
    """The line of quantity `q`: its formula, the formula with the numbers put in, its value."""
    value = solution.values[q.name]
    if q.given:
        return Line(q.name, q.label, _given_symbol(q), "", written(value), given=True)
    result = number(value)
    numbers = _DOUBLED.sub(r"\1", _TEMPLATES[q.kind](q, [_shown(solution, name) for name in q.inputs], solution))
    if numbers in (result, f"({result})"):  # out = net (no activation), ∂E/∂b = δ: nothing to work out
        numbers = ""
    return Line(q.name, q.label, _formula(q, solution), numbers, result)


def _given_symbol(q: Quantity) -> str:
    """How the maths writes a given value: η, w5, b_h1, i1, target_o1."""
    if q.param is not None:
        return q.param.symbol
    if q.kind == "eta":
        return "η"
    return q.neuron if q.kind == "input" and q.neuron else q.base


def _formula(q: Quantity, solution: Solution) -> str:
    """The graph's maths; for a sample's loss and a batch's loss, written out from the inputs (the
    graph says these in words)."""
    graph = solution.graph
    if q.kind == "E_sample":
        return f"{q.base} = " + " + ".join(graph[name].base for name in q.inputs)
    if q.kind == "E_total" and len(graph.suffixes) > 1:
        return "E_total = " + _reduce(q.inputs, solution.spec.reduction)
    return q.maths


def _shown(solution: Solution, name: str) -> str:
    """An input's value as it is put into a formula: given ones as written, computed ones rounded,
    a negative one in brackets."""
    q, value = solution.graph[name], solution.values[name]
    text = written(value) if q.given else number(value)
    return f"({text})" if text.startswith("−") else text


# ---------------------------------------------------------------- the numbers put in, per kind

_DOUBLED = re.compile(r"\((\(−[^()]*\))\)")  # tanh((−0.2)): a template's brackets around a bracketed value
_REMARK = re.compile(r"\s*\((?:[a-z]+ )*[a-z]+\)$")  # "(no activation)": says something of the symbols only


def _activation(q: Quantity, solution: Solution) -> ops.Activation:
    assert q.layer is not None  # a neuron's quantity
    return ops.activation(solution.spec.layers[q.layer].activation)


def _loss(solution: Solution) -> ops.Loss:
    return ops.loss(solution.spec.loss)


def _outputs(solution: Solution) -> int:
    return len(solution.graph.labels[-1])


def _reduce(terms: Sequence[str], reduction: str) -> str:
    """A batch's mean or sum, as ops.reduce computes it: the sum first, then the division."""
    if len(terms) == 1:
        return terms[0]
    total = " + ".join(terms)
    return f"({total}) / {len(terms)}" if reduction == "mean" else total


def _dot(xs: Sequence[str]) -> str:
    """Σk a_k·b_k over the two halves of `xs`."""
    n = len(xs) // 2
    return " + ".join(f"{xs[k]}·{xs[n + k]}" for k in range(n))


def _net(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    """Σ w·x (+ b): the inputs are the weights, the values they carry, then the bias if any."""
    n = len(xs) // 2
    return " + ".join([_dot(xs[:2 * n]), *xs[2 * n:]])


def _out(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    act = _activation(q, solution)
    if act.layerwise:  # softmax: the inputs are every net of the layer
        assert q.index is not None
        return f"e^{xs[q.index]} / (" + " + ".join(f"e^{x}" for x in xs) + ")"
    return _REMARK.sub("", act.symbols).format(net=xs[0])


def _loss_term(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    return _loss(solution).symbols.format(t=xs[0], o=xs[1], k=_outputs(solution))


def _sum(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    return " + ".join(xs)


def _total(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    """One sample: the sum of its loss terms; several: the batch's mean or sum of their losses."""
    if solution.graph[q.inputs[0]].kind == "E_sample":
        return _reduce(xs, solution.spec.reduction)
    return " + ".join(xs)


def _dE_dout(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    """An output: the loss's gradient; a hidden neuron: Σ δ·w over the layer above."""
    if solution.graph[q.inputs[0]].kind == "target":
        return _loss(solution).gradient_symbols.format(t=xs[0], o=xs[1], k=_outputs(solution))
    return _dot(xs)


def _dout_dnet(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    if not xs:  # a constant derivative (identity): nothing to put in
        return ""
    return _activation(q, solution).derivative_symbols.format(out=xs[0], net=xs[1])


def _delta(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    if not _activation(q, solution).layerwise:
        return f"{xs[0]}·{xs[1]}"
    assert q.index is not None  # softmax: the inputs are the layer's ∂E/∂out, then its outs
    n, j = len(xs) // 2, q.index
    return f"{xs[n + j]}·({xs[j]} − ({_dot(xs)}))"


def _grad(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    """Per sample δ·x (a weight) or δ, Σδ (a bias), then the batch's mean or sum of those."""
    assert q.param is not None
    per_sample: dict[int | None, list[str]] = {}
    for name, x in zip(q.inputs, xs):
        per_sample.setdefault(solution.graph[name].slot, []).append(x)
    join = "·" if q.param.kind == "w" else " + "
    terms = [join.join(values) for values in per_sample.values()]
    if len(terms) > 1:
        terms = [f"({t})" if " + " in t else t for t in terms]
    return _reduce(terms, solution.spec.reduction)


def _new(q: Quantity, xs: Sequence[str], solution: Solution) -> str:
    """w − η·∂E/∂w; a frozen bias is what it was."""
    if len(xs) == 1:
        return xs[0]
    parameter, eta, gradient = xs
    return f"{parameter} − {eta}·{gradient}"


_TEMPLATES: dict[str, Callable[[Quantity, Sequence[str], Solution], str]] = {
    "net": _net, "out": _out, "E_o": _loss_term, "E_sample": _sum, "E_total": _total, "dE_dout": _dE_dout,
    "dout_dnet": _dout_dnet, "delta": _delta, "grad": _grad, "new": _new,
}


# ---------------------------------------------------------------- the documents


def title(solution: Solution) -> str:
    return f"Worked solution: {' '.join(solution.spec.name.split())}"


def introduction(solution: Solution) -> list[str]:
    """What the reader is looking at, in plain sentences (each renderer escapes them)."""
    spec, graph = solution.spec, solution.graph
    sizes = "-".join(str(s) for s in spec.sizes)
    intro = [f"The first update of this {sizes} network ({_loss(solution).words}, learning rate η = "
             f"{written(spec.learning_rate)}), worked out as a tutorial does: for every quantity its formula, "
             "the same formula with the numbers put in, and the result.",
             "Every number is computed by sheetprop's reference: given values are shown as the spec writes them, "
             f"computed ones rounded to {PLACES} decimal places. Each line starts with the quantity's name, the "
             "same in the workbook (sheetprop generate) and the reference (sheetprop reference)."]
    if len(graph.suffixes) > 1:
        intro.append(f"The first batch holds {len(graph.suffixes)} samples: each has a subsection of its own, where "
                     f"the names end in _s1, _s2, …; E_total and the gradients are the {spec.reduction} over the "
                     "batch.")
    if len(graph.labels) > 2:
        intro.append("The output layer comes first in the backward pass; the hidden layers' deltas use the weights "
                     "from before the update.")
    if not spec.train_biases and any(mode != "none" for mode in spec.bias_modes):
        intro.append("The biases are frozen: the update leaves them as they are.")
    return intro


def markdown(solution: Solution) -> str:
    """GitHub markdown: a heading per part, a list item per quantity, the maths in `$…$`."""
    out = [f"# {_md(title(solution))}", ""]
    for paragraph in introduction(solution):
        out += [_md(paragraph), ""]
    for section in sections(solution):
        out += [f"{'#' * section.level} {_md(section.title)}", ""]
        out += [f"- `{ln.name}` {_md(ln.label)}: ${TEX.render(ln.text).strip()}$" for ln in section.lines]
        out += [""] if section.lines else []
    return "\n".join(out).rstrip() + "\n"


def _md(text: str) -> str:
    """Plain text for markdown: one line, every character markdown would read escaped."""
    return re.sub(r"([\\`*_{}\[\]<>#|$~!])", r"\\\1", " ".join(text.split()))


_CSS = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       max-width: 62rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; background: #fff; }
h1 { font-size: 1.7rem; margin-bottom: .5rem; }
h2 { font-size: 1.35rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { font-size: 1.1rem; margin-top: 1.4rem; }
h4 { font-size: 1rem; margin-top: 1rem; color: #444; }
p.intro { color: #444; margin: .4rem 0; }
ul.lines { list-style: none; padding: 0; margin: .4rem 0; }
ul.lines li { margin: .35rem 0; padding: .35rem .7rem; background: #f6f8fa; border-radius: 6px; }
ul.given { display: flex; flex-wrap: wrap; gap: .4rem; }
ul.given li { margin: 0; }
code { font: .85em ui-monospace, "DejaVu Sans Mono", monospace; color: #0550ae; }
.label { color: #57606a; font-size: .9em; }
.maths { display: block; font-family: "STIX Two Math", "Cambria Math", "Latin Modern Math", "DejaVu Serif", serif;
         font-size: 1.1em; overflow-wrap: anywhere; }
.maths .w { font-family: system-ui, sans-serif; font-size: .85em; color: #444; }
.maths .result { font-weight: bold; }
sub, sup { font-size: .72em; line-height: 0; }
@media print { ul.lines li { break-inside: avoid; background: none; } }
"""


def html(solution: Solution) -> str:
    """One HTML page that needs nothing else: the maths as HTML, the style inline, no script."""
    esc = html_.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{esc(title(solution))}</title>", f"<style>{_CSS}</style>", "</head>", "<body>", "<main>",
           f"<h1>{esc(title(solution))}</h1>"]
    out += [f'<p class="intro">{esc(paragraph)}</p>' for paragraph in introduction(solution)]
    path: dict[int, str] = {}  # the anchors of the headings above, by level: ids are unique
    for section in sections(solution):
        level = section.level
        path = {above: anchor for above, anchor in path.items() if above < level} | {level: section.anchor}
        out.append(f'<h{level} id="{"-".join(path.values())}">{esc(section.title)}</h{level}>')
        if section.lines:
            given = all(ln.given for ln in section.lines)  # short: side by side
            out.append(f'<ul class="lines{" given" * given}">')
            out += [_html_line(ln) for ln in section.lines]
            out.append("</ul>")
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _html_line(ln: Line) -> str:
    parts = [HTML.render(part) for part in ln.parts]
    if ln.parts[-1] == ln.result:
        parts[-1] = f'<span class="result">{parts[-1]}</span>'
    return (f'<li id="q-{html_.escape(ln.name)}"><code>{html_.escape(ln.name)}</code> '
            f'<span class="label">{html_.escape(ln.label)}</span>'
            f'<span class="maths">{" = ".join(parts)}</span></li>')


def render(solution: Solution, fmt: str = "md") -> str:
    """The worked solution as `fmt` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return markdown(solution) if fmt == "md" else html(solution)
