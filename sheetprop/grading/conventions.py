"""The forms students and textbooks write a quantity in, and what each is in the spec's terms.

A convention is not a mistake. The same backward pass is written

- with ∂E/∂out as t − o (the negative) and the update as w + η·…: ∂E/∂out, δ and the gradient
  are each −1 times the spec's;
- with Han & Kamber's error term Err = out(1 − out)(t − out), which is −δ;
- with the loss without its ½ and the derivative with the 2 (or a ½ the spec lacks): the loss,
  ∂E/∂out, δ and the gradient scaled by 2 (or ½);
- with a cost that sums the samples' losses while the gradients average them (or the reverse):
  the batch loss scaled by the number of samples.

A found cell whose value is the spec's times one of its kind's factors is in that form: it is
reported so ("δ_o1 as −δ (t − o convention)") and judged in it, and what uses it is judged with
its value brought back to the spec's form. The forms a student uses are told apart from slips
by the structure: a form is only read where the cell's formula has what the quantity's rule uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Form:
    factor: float  # the student's value is factor × the spec's
    text: str  # how the report names it

    @property
    def sign(self) -> float:
        return -1.0 if self.factor < 0 else 1.0


SPEC = Form(1.0, "")
NEGATED = "as the negative, the t − o convention (w + η·… updates)"
_SCALED = {2.0: "without the ½ of the loss", 0.5: "with a ½ the spec's loss lacks"}
_SCALED_DERIVATIVE = {2.0: "with the 2 of the loss without its ½", 0.5: "with a ½ the spec's loss lacks"}
_KINDS_SIGNED = ("dE_dout", "delta", "grad")  # the chain-rule factors that t − o negates
SIGNED = _KINDS_SIGNED
_KINDS_SCALED = ("E_o", "E_sample", "E_total", "dE_dout", "delta", "grad")


def forms(kind: str, samples: int = 1, reduction: str = "mean", loss_scales: bool = True) -> list[Form]:
    """The forms a quantity of `kind` may be written in besides the spec's, most likely first.
    `samples` and `reduction`: the first batch's (a cost summed instead of averaged, or the reverse)."""
    found: list[Form] = []
    scales = [1.0]
    if loss_scales and kind in _KINDS_SCALED:
        scales += [2.0, 0.5]
    words = _SCALED_DERIVATIVE if kind in _KINDS_SIGNED else _SCALED
    for scale in scales:
        if kind in _KINDS_SIGNED:
            negated = "as −δ (Han & Kamber's Err): the t − o convention (w + η·… updates)" if kind == "delta" \
                else NEGATED
            found.append(Form(-scale, negated + (f", {words[scale]}" if scale != 1 else "")))
        if scale != 1:
            found.append(Form(scale, words[scale]))
    if kind == "E_total" and samples > 1:
        n, text = ((samples, "summed over the samples (the gradients average them)") if reduction == "mean"
                   else (1 / samples, "averaged over the samples (the spec sums them)"))
        for scale in scales:
            found.append(Form(scale * n, text + (f", {_SCALED[scale]}" if scale != 1 else "")))
    return found


def mixed(kind: str, factor: float, inputs: dict[str, float]) -> list[str]:
    """The inputs of a chain-rule factor (by name, with their forms' factors) written in the other
    sign convention than it is: a student who mixes t − o and o − t along one chain."""
    if kind not in _KINDS_SIGNED:
        return []
    return [name for name, other in inputs.items() if (other < 0) != (factor < 0)]


# ---------------------------------------------------------------- a convention, or a mistake?

LOSS_KINDS = ("E_o", "E_sample", "E_total")
DERIVATIVE_KINDS = _KINDS_SIGNED


def settle(graph, forms_of: dict[str, Form], labelled: Mapping[str, bool], updates_compensate: bool | None) \
        -> tuple[set[str], list[str]]:
    """Which forms read in a workbook are mistakes rather than conventions, and notes for the rest.

    A convention holds all the way: the t − o sign only where the updates add the gradient
    (`updates_compensate`: True they do, False they subtract it, None no update shows it); a loss
    without its ½ only with a derivative with the 2. Where the two scales differ, the one that is
    not the spec's is the slip (`half_dropped_in_loss`, `half_dropped_in_gradient`), unless it is a
    loss cell nobody labelled as the loss (a squared error shown beside an ADALINE's rows): that one
    gets a note. Returns (the quantities whose form is a mistake, the notes)."""
    mistakes: set[str] = set()
    notes: list[str] = []
    signed = [n for n, f in forms_of.items() if graph[n].kind in DERIVATIVE_KINDS and f.factor < 0]
    if signed and updates_compensate is False:
        mistakes.update(signed)
    scale = lambda n: abs(forms_of[n].factor) if n in forms_of else 1.0  # noqa: E731
    losses = [n for n in forms_of if graph[n].kind == "E_o"]
    derivatives = [n for n in forms_of if graph[n].kind in DERIVATIVE_KINDS]
    loss_scale = {scale(n) for n in losses} or {1.0}
    derivative_scale = {scale(n) for n in derivatives} or {1.0}
    if loss_scale != derivative_scale:
        if loss_scale != {1.0}:
            said = any(labelled.get(name) for name in losses)  # one sample's loss labelled: all are the loss
            if said:  # the slip, and the totals made of them carry it forward in the spec's form
                mistakes.update(losses)
                mistakes.update(n for n in forms_of if graph[n].kind in ("E_sample", "E_total")
                                and scale(n) in {s * k for s in loss_scale for k in (1, len(graph.batch))})
            else:
                notes.extend(f"{name} is shown {forms_of[name].text} while the gradients follow the spec's loss: "
                             "a squared error shown for its own sake, not graded as the loss" for name in losses)
        if derivative_scale != {1.0}:
            mistakes.update(n for n in derivatives if scale(n) != 1.0)
    for name, form in forms_of.items():  # a batch loss of another scale than its terms (outputs averaged)
        if graph[name].kind == "E_total" and any(n in forms_of or graph[n].kind in LOSS_KINDS
                                                 for n in graph[name].inputs):
            terms = {scale(n) for n in graph[name].inputs if n in forms_of} or {1.0}
            if abs(form.factor) not in {t * k for t in terms for k in (1.0, len(graph.batch), 1 / len(graph.batch))}:
                mistakes.add(name)
    return mistakes, notes


def updates_compensate(sol, forms_of: Mapping[str, Form], student: Mapping[str, float]) -> bool | None:
    """Do the student's updates add a gradient written as t − o (True), or subtract it as if it were
    the spec's (False)? None when no update tells. `student`: the found values, as the sheet has them."""
    if not any(f.factor < 0 for f in forms_of.values()):
        return None
    normalised = sol.own_values({n: v / forms_of[n].factor if n in forms_of else v for n, v in student.items()})
    raw = sol.own_values(student)
    votes = 0
    for q in sol.graph:
        if q.kind != "new" or q.name not in student:
            continue
        inputs = {x: normalised[x] for x in q.inputs}
        as_spec, as_is = q.apply(inputs), q.apply({x: raw[x] for x in q.inputs})
        got = student[q.name]
        near = lambda a, b: a is not None and abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)  # noqa: E731
        if near(as_spec, got) and not near(as_is, got):
            votes += 1
        elif near(as_is, got) and not near(as_spec, got):
            votes -= 1
    return None if votes == 0 else votes > 0
