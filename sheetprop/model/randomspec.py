"""Random but valid specs, for tests and benchmarks: every activation, loss, bias mode and batching."""

from __future__ import annotations

import random

from sheetprop.model import ops

ELEMENTWISE = tuple(a.name for a in ops.ACTIVATIONS.values() if not a.layerwise and a.losses is None)
LAYERWISE = tuple(a.name for a in ops.ACTIVATIONS.values() if a.layerwise)


def random_spec(seed: int, max_layers: int = 3, max_width: int = 4, max_samples: int = 4, epochs: int = 2) -> dict:
    """A spec dict (as a YAML file would hold) drawn from `seed`."""
    rng = random.Random(seed)
    n_layers = rng.randint(1, max_layers)
    sizes = [rng.randint(1, max_width) for _ in range(n_layers + 1)]
    loss = ops.loss(rng.choice(tuple(ops.LOSSES)))
    layerwise = [a for a in LAYERWISE if loss.name in (ops.activation(a).losses or ())]
    if layerwise and rng.random() < 0.7:
        sizes[-1] = max(2, sizes[-1])
        out_act = rng.choice(layerwise)
    elif loss.needs_probabilities:
        out_act = rng.choice([a for a in ELEMENTWISE if ops.activation(a).bounded01])
    else:
        out_act = rng.choice(ELEMENTWISE)
    layers: list[int | dict[str, int | str]] = [sizes[0]]
    for layer in range(1, n_layers + 1):
        act = out_act if layer == n_layers else rng.choice(ELEMENTWISE)
        layers.append({"size": sizes[layer], "activation": act, "bias": rng.choice(("none", "shared", "per_neuron"))})
    n_samples = rng.randint(1, max_samples)
    data = []
    for _ in range(n_samples):
        inputs = [round(rng.uniform(-1, 1), 3) for _ in range(sizes[0])]
        if out_act in LAYERWISE:  # one-hot targets, as for a classifier
            hot = rng.randrange(sizes[-1])
            targets = [1.0 if j == hot else 0.0 for j in range(sizes[-1])]
        elif loss.needs_probabilities:
            targets = [round(rng.uniform(0, 1), 3) for _ in range(sizes[-1])]
        else:
            targets = [round(rng.uniform(-1, 1), 3) for _ in range(sizes[-1])]
        data.append({"inputs": inputs, "targets": targets})
    batch = rng.choice(("full", "online", rng.randint(1, n_samples)))
    return {
        "name": f"random spec {seed}",
        "layers": layers,
        "loss": loss.name,
        "train_biases": rng.random() < 0.7,
        "init": {"method": rng.choice(("xavier", "he", "uniform")), "seed": seed},
        "learning_rate": round(rng.uniform(0.01, 1.0), 3),
        "data": data,
        "batch": batch,
        "reduction": rng.choice(("mean", "sum")),
        "epochs": epochs,
    }
