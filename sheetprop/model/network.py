"""The network a spec describes, fully resolved: layers, samples, every weight and bias a number.

`sheetprop.model.spec` makes a Spec from a file (parse, validate, fill in from `init`); everything
else reads it. SpecError is what a spec that cannot be used raises: a line per problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sheetprop.errors import SheetpropError
from sheetprop.model.ops import INPUT_ACTIVATION


class SpecError(SheetpropError, ValueError):
    """A spec that cannot be used: one line per problem (`problems`), each naming the file and field."""

    def __init__(self, *problems: str):
        super().__init__("\n".join(problems))
        self.problems = problems


ETA_DIGITS = 10  # the learning rates of a sweep must differ within this many significant digits


@dataclass(frozen=True)
class Layer:
    size: int
    activation: str = INPUT_ACTIVATION  # ignored for the input layer
    bias: str = "none"  # none | shared | per_neuron


@dataclass(frozen=True)
class Sample:
    inputs: tuple[float, ...]
    targets: tuple[float, ...]


@dataclass(frozen=True)
class Spec:
    """A fully resolved spec: every weight and bias is a number."""

    name: str
    layers: tuple[Layer, ...]
    loss: str
    weights: tuple[tuple[tuple[float, ...], ...], ...]  # per non-input layer: [neuron][input]
    biases: tuple[Any, ...]  # per non-input layer: None | float | tuple[float, ...]
    learning_rate: float
    data: tuple[Sample, ...]
    train_biases: bool = True
    batch: str | int = "full"
    reduction: str = "mean"
    epochs: int = 1
    source: str = field(default="<spec>", compare=False)
    sweep: tuple[float, ...] = ()  # a learning-rate sweep: every η, the first being learning_rate
    notes: tuple[str, ...] = field(default=(), compare=False)  # what validation decided for the user, in words
    eta_changed: bool = field(default=False, compare=False)  # learning_rate set on the command line, not the file's

    @property
    def etas(self) -> tuple[float, ...]:
        """The learning rates the Training sheets run: the sweep, or the one learning rate."""
        return self.sweep or (self.learning_rate,)

    def eta_text(self, eta: float) -> str:
        """η as sheet names, legends and messages write it: 6 significant digits, more when the
        sweep needs them to tell its rates apart (validation refuses rates equal to ETA_DIGITS)."""
        rates = self.etas
        digits = next((p for p in range(6, ETA_DIGITS) if len({f"{r:.{p}g}" for r in rates}) == len(rates)),
                      ETA_DIGITS)
        return f"{eta:.{digits}g}"

    @property
    def sizes(self) -> list[int]:
        return [layer.size for layer in self.layers]

    @property
    def bias_modes(self) -> list[str]:
        return [layer.bias for layer in self.layers[1:]]

    @property
    def batch_size(self) -> int:
        if self.batch == "full":
            return len(self.data)
        if self.batch == "online":
            return 1
        return int(self.batch)

    def batches(self) -> list[list[int]]:
        """Sample indices of each batch, in file order (consecutive chunks)."""
        m, n = self.batch_size, len(self.data)
        return [list(range(start, min(start + m, n))) for start in range(0, n, m)]

    @property
    def n_updates(self) -> int:
        return self.epochs * len(self.batches())

    def to_dict(self) -> dict:
        """The explicit spec: loading it back gives an equal Spec."""
        return {
            "name": self.name,
            "layers": [{"size": self.layers[0].size}]
            + [{"size": l.size, "activation": l.activation, "bias": l.bias} for l in self.layers[1:]],
            "train_biases": self.train_biases,
            "loss": self.loss,
            "weights": [[list(row) for row in matrix] for matrix in self.weights],
            "biases": [list(b) if isinstance(b, tuple) else b for b in self.biases],
            "learning_rate": list(self.sweep) if self.sweep else self.learning_rate,
            "data": [{"inputs": list(s.inputs), "targets": list(s.targets)} for s in self.data],
            "batch": self.batch,
            "reduction": self.reduction,
            "epochs": self.epochs,
        }


def with_epochs(spec: Spec, epochs: int | None) -> Spec:
    return spec if epochs is None else replace(spec, epochs=epochs)
