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
            found.append(Form(-scale, f"{NEGATED}" + (f", {words[scale]}" if scale != 1 else "")))
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
