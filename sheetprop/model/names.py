"""The one vocabulary that workbook, reference and grader share (BRIEF, "Names").

Neurons are labelled `i1..in` (inputs), `h1..hm` (one hidden layer) or `h{l}_{j}` (several),
and `o1..ok` (outputs). Weights are numbered w1, w2, … layer by layer, neuron by neuron,
input by input. Every quantity's name is a legal Excel name: never a cell reference,
hence `i_1`, `w_5`, `b_1`.
"""

from __future__ import annotations

from dataclasses import dataclass


def neuron_labels(sizes: list[int]) -> list[list[str]]:
    """Labels per layer, input layer first: [["i1", "i2"], ["h1", "h2"], ["o1"]]."""
    n_hidden = len(sizes) - 2
    labels = [[f"i{j}" for j in range(1, sizes[0] + 1)]]
    for layer in range(1, len(sizes) - 1):
        if n_hidden == 1:
            labels.append([f"h{j}" for j in range(1, sizes[layer] + 1)])
        else:
            labels.append([f"h{layer}_{j}" for j in range(1, sizes[layer] + 1)])
    labels.append([f"o{j}" for j in range(1, sizes[-1] + 1)])
    return labels


def input_name(j: int) -> str:
    """Name of input value j (1-based): `i_1`."""
    return f"i_{j}"


def target_name(output_label: str) -> str:
    return f"target_{output_label}"


def value_name(layer: int, label: str) -> str:
    """The value a neuron passes on: `i_1` for an input, `out_h1` otherwise."""
    return f"i_{label[1:]}" if layer == 0 else f"out_{label}"


@dataclass(frozen=True)
class Param:
    """One trainable-or-frozen parameter of the network."""

    name: str  # w_5, b_1, b_h1
    kind: str  # "w" or "b"
    layer: int  # non-input layer index, 1-based
    row: int | None  # neuron index in `layer` (0-based); None for a shared bias
    col: int | None  # input index (0-based) for a weight
    symbol: str  # w5, b1, b_h1 as a tutorial writes it


def weight_params(sizes: list[int]) -> list[Param]:
    params, k = [], 0
    for layer in range(1, len(sizes)):
        for j in range(sizes[layer]):
            for i in range(sizes[layer - 1]):
                k += 1
                params.append(Param(f"w_{k}", "w", layer, j, i, f"w{k}"))
    return params


def bias_params(sizes: list[int], modes: list[str]) -> list[Param]:
    """`modes[l-1]` is the bias mode of non-input layer l."""
    labels = neuron_labels(sizes)
    params = []
    for layer in range(1, len(sizes)):
        mode = modes[layer - 1]
        if mode == "shared":
            params.append(Param(f"b_{layer}", "b", layer, None, None, f"b{layer}"))
        elif mode == "per_neuron":
            for j, label in enumerate(labels[layer]):
                params.append(Param(f"b_{label}", "b", layer, j, None, f"b_{label}"))
    return params


def sample_suffix(s: int, n_samples: int) -> str:
    """`_s2` for sample 2 when the first batch holds several samples, else ``""``."""
    return f"_s{s + 1}" if n_samples > 1 else ""
