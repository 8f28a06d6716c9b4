"""The networks real workbooks of other shapes hold, as specs (the values are the textbooks' or our own).

- `mazur_*`: Mazur's 2-2-2 sigmoid network with its biases shared and frozen (the tutorial), shared
  and trained, per neuron (trained or frozen), or none (the course assignment);
- `xor`: 2-2-1 sigmoid, biases per neuron, the four XOR samples in one full batch, the squared
  error without ½ averaged over the samples;
- `hk`: Han & Kamber's 3-2-1 sigmoid example (Figure 9.5: x = (1, 0, 1), w14 = 0.2, …, η = 0.9);
- `adaline`: one linear neuron with a bias, the online delta rule on bipolar OR;
- `sigmoid_neuron`, `tanh_neuron`: a single neuron with a bias, one sample;
- `n241`: 2-4-1 sigmoid without biases, one sample;
- `relu`: 2-3-1, a ReLU hidden layer (one neuron dead: net < 0) and a linear output;
- `deep`: 2-3-2-1, two hidden layers (sigmoid, then tanh), biases per neuron, one sample;
- `tanh221`: 2-2-1 tanh throughout, no biases, two samples in one batch;
- `vandermerwe`: 2-2-1, a linear output whose bias is a constant input 1, the loss summed (a preset);
- `perceptron`: 1-1, no activation, the squared error without ½ (a preset).
"""

from __future__ import annotations

from functools import cache

from sheetprop.model.network import Spec
from sheetprop.model.spec import load_spec
from sheetprop.model.validate import validate

MAZUR = {"layers": [2, {"size": 2, "activation": "sigmoid"}, {"size": 2, "activation": "sigmoid"}],
         "loss": "half_sse", "weights": [[[0.15, 0.2], [0.25, 0.3]], [[0.4, 0.45], [0.5, 0.55]]],
         "learning_rate": 0.5, "data": [{"inputs": [0.05, 0.1], "targets": [0.01, 0.99]}]}

SHAPES: dict[str, dict] = {
    "mazur_shared_frozen": {**MAZUR, "bias": "shared", "biases": [0.35, 0.6], "train_biases": False},
    "mazur_shared_trained": {**MAZUR, "bias": "shared", "biases": [0.35, 0.6], "train_biases": True},
    "mazur_per_neuron": {**MAZUR, "bias": "per_neuron", "biases": [[0.35, 0.3], [0.6, 0.65]], "train_biases": True},
    "mazur_per_neuron_frozen": {**MAZUR, "bias": "per_neuron", "biases": [[0.35, 0.3], [0.6, 0.65]],
                                "train_biases": False},
    "mazur_nobias": {**MAZUR, "bias": "none"},
    "xor": {"layers": [2, {"size": 2, "activation": "sigmoid"}, {"size": 1, "activation": "sigmoid"}],
            "bias": "per_neuron", "loss": "sse", "weights": [[[4, 0], [-4, -4]], [[-4, -4]]], "biases": [[-6, 5], [0]],
            "learning_rate": 5, "batch": "full", "reduction": "mean",
            "data": [{"inputs": [0, 0], "targets": [0]}, {"inputs": [0, 1], "targets": [1]},
                     {"inputs": [1, 0], "targets": [1]}, {"inputs": [1, 1], "targets": [0]}]},
    "xor_half": {"layers": [2, {"size": 2, "activation": "sigmoid"}, {"size": 1, "activation": "sigmoid"}],
                 "bias": "per_neuron", "loss": "half_sse", "weights": [[[0.5, -0.4], [0.3, 0.8]], [[0.7, -0.6]]],
                 "biases": [[0.1, -0.2], [0.05]], "learning_rate": 2, "batch": "full", "reduction": "mean",
                 "data": [{"inputs": [0, 0], "targets": [0]}, {"inputs": [0, 1], "targets": [1]},
                          {"inputs": [1, 0], "targets": [1]}, {"inputs": [1, 1], "targets": [0]}]},
    # Han & Kamber: w_1..w_3 = w14, w24, w34 (into node 4), w_4..w_6 = w15, w25, w35, w_7, w_8 = w46, w56
    "hk": {"layers": [3, {"size": 2, "activation": "sigmoid"}, {"size": 1, "activation": "sigmoid"}],
           "bias": "per_neuron", "loss": "half_sse", "weights": [[[0.2, 0.4, -0.5], [-0.3, 0.1, 0.2]], [[-0.3, -0.2]]],
           "biases": [[-0.4, 0.2], [0.1]], "learning_rate": 0.9, "data": [{"inputs": [1, 0, 1], "targets": [1]}]},
    "adaline": {"layers": [2, {"size": 1, "activation": "identity"}], "bias": "per_neuron", "loss": "half_sse",
                "weights": [[[0.1, 0.1]]], "biases": [[0.1]], "learning_rate": 0.1, "batch": "online", "epochs": 2,
                "data": [{"inputs": [1, 1], "targets": [1]}, {"inputs": [1, -1], "targets": [1]},
                         {"inputs": [-1, 1], "targets": [1]}, {"inputs": [-1, -1], "targets": [-1]}]},
    "sigmoid_neuron": {"layers": [2, {"size": 1, "activation": "sigmoid"}], "bias": "per_neuron", "loss": "half_sse",
                       "weights": [[[0.4, -0.7]]], "biases": [[0.2]], "learning_rate": 0.5,
                       "data": [{"inputs": [0.6, 0.2], "targets": [0.9]}]},
    "tanh_neuron": {"layers": [3, {"size": 1, "activation": "tanh"}], "bias": "per_neuron", "loss": "half_sse",
                    "weights": [[[0.1, -0.2, 0.3]]], "biases": [[0.05]], "learning_rate": 0.2,
                    "data": [{"inputs": [0.5, -0.3, 0.8], "targets": [0.2]}]},
    "n241": {"layers": [2, {"size": 4, "activation": "sigmoid"}, {"size": 1, "activation": "sigmoid"}], "bias": "none",
             "loss": "half_sse", "weights": [[[0.2, 0.6], [0.5, 0.7], [0.4, 0.9], [0.8, 0.3]], [[0.6, 0.7, 0.3, 0.4]]],
             "learning_rate": 0.25, "data": [{"inputs": [0.4, 0.9], "targets": [1]}]},
    "relu": {"layers": [2, {"size": 3, "activation": "relu"}, {"size": 1, "activation": "identity"}],
             "bias": "per_neuron", "loss": "half_sse",
             "weights": [[[0.3, -0.2], [-0.4, 0.5], [0.6, 0.1]], [[0.7, -0.5, 0.4]]],
             "biases": [[0.1, -0.1, 0.05], [0.2]], "learning_rate": 0.1,
             "data": [{"inputs": [0.5, -0.4], "targets": [0.3]}]},
    "deep": {"layers": [2, {"size": 3, "activation": "sigmoid"}, {"size": 2, "activation": "tanh"},
                        {"size": 1, "activation": "sigmoid"}], "bias": "per_neuron", "loss": "half_sse",
             "weights": [[[0.1, -0.2], [0.3, 0.4], [-0.5, 0.2]], [[0.6, -0.1, 0.2], [-0.3, 0.5, 0.4]], [[0.7, -0.6]]],
             "biases": [[0.1, 0.0, -0.1], [0.05, -0.05], [0.2]], "learning_rate": 0.5,
             "data": [{"inputs": [0.3, 0.8], "targets": [0.6]}]},
    "tanh221": {"layers": [2, {"size": 2, "activation": "tanh"}, {"size": 1, "activation": "tanh"}], "bias": "none",
                "loss": "half_sse", "weights": [[[0.3, -0.1], [0.2, 0.4]], [[0.5, -0.3]]], "learning_rate": 0.3,
                "batch": "full", "reduction": "mean",
                "data": [{"inputs": [0.2, 0.7], "targets": [0.5]}, {"inputs": [-0.6, 0.1], "targets": [-0.2]}]},
}


@cache
def shape(name: str) -> Spec:
    if name in ("vandermerwe", "perceptron"):
        return load_spec(name)
    return validate(dict(SHAPES[name]), where=f"<{name}>")
