"""The cell budget: how many formula cells a spec's workbook will hold, from the network's shape.

Counted before any weight is drawn or any data read, so an absurd spec is refused before it
costs anything: the Network sheet exactly, the Training sheets' rows as if every batch were
full (the last mini-batch may be smaller). `sheetprop.writing.layout` lays the cells out;
tests hold the count and the written workbook together.
"""

from __future__ import annotations

from typing import Sequence

from sheetprop.model import ops

N_CHECKS = 3  # the checks area at the foot of the Network sheet


def count_formulas(sizes: Sequence[int], activations: Sequence[str], bias_modes: Sequence[str], batch_size: int,
                   n_updates: int, train_biases: bool, training: bool = True, sheets: int = 1) -> int:
    """The formula cells of a spec's workbook: the Network sheet (with its checks) exactly, and
    the Training sheet's rows as if every batch were full (the last mini-batch may be smaller).
    `activations` and `bias_modes` are per non-input layer."""
    neurons = sum(sizes[1:])
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    biases = sum(size if mode == "per_neuron" else 1 if mode == "shared" else 0
                 for size, mode in zip(sizes[1:], bias_modes))
    derivatives = sum(size for size, act in zip(sizes[1:], activations) if not ops.activation(act).layerwise)
    trained = weights + (biases if train_biases else 0)
    per_sample = 4 * neurons + derivatives + sizes[-1] + (1 if batch_size > 1 else 0)  # net, out, ∂E/∂out, δ, ∂out/∂net
    network = batch_size * per_sample + 1 + 2 * (weights + biases)  # E_total, gradients, new values
    if not training:
        return network
    row = 2 * trained + batch_size * (3 * neurons + 1) + 1  # parameters, net/out/δ and E per sample, E_total, gradients
    sweep = 3 * sheets if sheets > 1 else 0  # the Sweep sheet's table: each η, its first and last loss
    return network + N_CHECKS + sheets * (n_updates + 1) * row + sweep
