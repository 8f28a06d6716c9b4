"""Validate a parsed spec: check every field, resolve the defaults, draw the weights `init` asks for.

Every problem is recorded, not only the first: `validate` raises one SpecError whose
`problems` are one line each, naming the file, the field and what is allowed. A field that
depends on one with a problem is checked as far as it can be without it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from functools import partial
from typing import Any, NoReturn, TypeVar

from sheetprop.limits import MAX_FORMULA_CELLS
from sheetprop.model import ops
from sheetprop.model.budget import count_formulas
from sheetprop.model.initial import drawer
from sheetprop.model.network import ETA_DIGITS, Layer, Sample, Spec, SpecError
from sheetprop.model.shown import HugeNumber, brief

ACTIVATIONS = tuple(ops.ACTIVATIONS)
LOSSES = tuple(ops.LOSSES)
BIAS_MODES = ("none", "shared", "per_neuron")
INIT_METHODS = ("xavier", "he", "uniform")
KEYS = (
    "name", "layers", "activation", "bias", "train_biases", "loss", "weights", "biases",
    "init", "learning_rate", "data", "batch", "reduction", "epochs",
)
MAX_SWEEP = 20  # learning rates of one sweep
T = TypeVar("T")


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word).lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Problem(SpecError):
    """One field's problem: `_Checker.field` records it and validation goes on with the next field."""


class _Checker:
    """Checks the fields of one spec and collects every problem, one line each."""

    def __init__(self, where: str):
        self.where = where
        self.problems: list[str] = []

    def fail(self, fieldname: str, message: str) -> NoReturn:
        raise _Problem(f"{self.where}: {fieldname}: {message}")

    def report(self, fieldname: str, message: str) -> None:
        """Record a problem and go on."""
        self.problems.append(f"{self.where}: {fieldname}: {message}")

    def field(self, check: Callable[[], T]) -> T | None:
        """`check()`, or None once its problem is recorded (so the fields after it are checked too)."""
        try:
            return check()
        except _Problem as problem:
            self.problems.append(str(problem))
            return None

    def done(self) -> None:
        if self.problems:
            raise SpecError(*self.problems)

    def number(self, value, fieldname: str) -> float:
        if isinstance(value, HugeNumber):
            self.fail(fieldname, f"must be a finite number, not {brief(value)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(fieldname, f"must be a number, not {brief(value)}")
        try:
            value = float(value)
        except OverflowError:  # an integer with hundreds of digits
            value = math.inf
        if not math.isfinite(value):
            self.fail(fieldname, f"must be a finite number, not {value}")
        return value

    def integer(self, value, fieldname: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(fieldname, f"must be a whole number, not {brief(value)}")
        if value < minimum:
            self.fail(fieldname, f"must be at least {minimum}, not {value}")
        return value

    def choice(self, value, fieldname: str, choices, aliases=None) -> str:
        if not isinstance(value, str):
            self.fail(fieldname, f"must be one of {', '.join(choices)}, not {brief(value)}")
        key = value.strip().lower()
        key = (aliases or {}).get(key, key)
        if key not in choices:
            self.fail(
                fieldname,
                f"unknown value {value!r}{did_you_mean(key, choices)}; allowed: {', '.join(choices)}",
            )
        return key

    def vector(self, value, fieldname: str, length: int | None) -> tuple[float, ...]:
        """A list of `length` numbers (any length when None: the layer it must match has a problem)."""
        if not isinstance(value, list):
            self.fail(fieldname, f"must be a list of {length or 'some'} numbers, not {brief(value)}")
        if length is not None and len(value) != length:
            self.fail(fieldname, f"must hold {length} numbers, not {len(value)}")
        return tuple(self.number(v, f"{fieldname}[{i}]") for i, v in enumerate(value))

    def keys(self, mapping: dict, fieldname: str, allowed: tuple[str, ...]) -> None:
        for key in mapping:
            if key not in allowed:
                name = str(key) if str(key).isprintable() and str(key).strip() else brief(str(key))  # "\n" stays one line
                where = f"{fieldname}.{name}" if fieldname else name
                self.report(where, f"unknown field{did_you_mean(str(key), allowed)}; allowed: {', '.join(allowed)}")


def validate(raw: Any, where: str = "<spec>", default_name: str = "network",
             max_cells: int | None = None) -> Spec:
    """Check a parsed spec and resolve defaults; raise SpecError listing every problem, a line each.

    A field that depends on another that has a problem (the data's width on the layers) is
    checked as far as it can be without it.
    """
    if raw is None:
        raise SpecError(f"{where}: the spec is empty; it needs at least `layers` and `data`")
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: the spec must be a mapping of fields (layers, data, …), not {brief(raw)}")
    c = _Checker(where)
    max_cells = MAX_FORMULA_CELLS if max_cells is None else max_cells
    c.keys(raw, "", KEYS)
    name = c.field(lambda: _name(c, raw.get("name", default_name)))
    default_activation = c.field(lambda: c.choice(raw.get("activation", ops.DEFAULT_ACTIVATION), "activation",
                                                  ACTIVATIONS, ops.ACTIVATION_ALIASES))
    default_bias = c.field(lambda: c.choice(raw.get("bias", "per_neuron"), "bias", BIAS_MODES))
    loss = c.field(lambda: c.choice(raw.get("loss", ops.DEFAULT_LOSS), "loss", LOSSES, ops.LOSS_ALIASES))
    train_biases = c.field(lambda: _boolean(c, raw.get("train_biases", True), "train_biases"))
    layers = _layers(c, raw, default_activation or ops.DEFAULT_ACTIVATION, default_bias or "per_neuron")

    def budget(batch_size: int) -> bool:
        """The worked step alone (check_budget counts the Training rows once --epochs is known):
        absurd layers are refused before a weight is drawn or data of absurd width is read."""
        assert layers is not None
        cells = count_formulas([l.size for l in layers], [l.activation for l in layers[1:]],
                               [l.bias for l in layers[1:]], batch_size, 0, bool(train_biases))
        if cells > max_cells:
            c.fail("layers", f"this network makes about {cells:,} formula cells, over the limit of {max_cells:,}; "
                             f"use smaller layers, or raise the limit with --max-cells {cells}")
        return True

    if layers is not None and not c.field(lambda: budget(1)):
        layers = None  # too big to check further: its data could be absurdly wide too
    if layers is not None and loss is not None and default_activation is not None:
        _compatible(c, layers, loss)
    draw = _init(c, raw.get("init") or {})
    sweep = c.field(lambda: learning_rates(c, raw["learning_rate"]) if "learning_rate" in raw
                    else c.fail("learning_rate", "missing; give the learning rate η, e.g. 0.5"))
    data = _data(c, raw.get("data"), layers, loss)
    batch = c.field(lambda: _batch(c, raw.get("batch", "full")))
    notes = []
    if isinstance(batch, int) and data is not None and batch > len(data):
        n = len(data)
        notes.append(f"{where}: batch: a mini-batch of {batch} is more than the {n} sample{'s' * (n != 1)}; "
                     f"each update uses {'all ' * (n != 1)}{'it' if n == 1 else n} as one full batch, "
                     "as PyTorch's DataLoader does")
        batch = "full"
    reduction = c.field(lambda: c.choice(raw.get("reduction", "mean"), "reduction", ("mean", "sum")))
    epochs = c.field(lambda: c.integer(raw.get("epochs", 1), "epochs", 0))
    if layers is not None and data is not None and batch is not None:
        m = len(data) if batch == "full" else 1 if batch == "online" else int(batch)
        if not c.field(lambda: budget(m)):  # the worked step with the whole first batch
            layers = None
    parameters = _parameters(c, raw, layers, draw or drawer({})) if layers is not None else None
    c.done()
    assert None not in (name, loss, layers, sweep, data, batch, reduction, epochs, parameters, train_biases)
    weights, biases = parameters  # type: ignore[misc]
    return Spec(
        name=name,  # type: ignore[arg-type]
        layers=tuple(layers),  # type: ignore[arg-type]
        loss=loss,  # type: ignore[arg-type]
        weights=weights,
        biases=biases,
        learning_rate=sweep[0],  # type: ignore[index]
        sweep=sweep if len(sweep) > 1 else (),  # type: ignore[arg-type]
        data=tuple(data),  # type: ignore[arg-type]
        train_biases=bool(train_biases),
        batch=batch,  # type: ignore[arg-type]
        reduction=reduction,  # type: ignore[arg-type]
        epochs=epochs,  # type: ignore[arg-type]
        source=where,
        notes=tuple(notes),
    )


def _name(c: _Checker, name) -> str:
    if not isinstance(name, (str, int, float)) or isinstance(name, bool):
        c.fail("name", "must be text")
    name = str(name)
    if len(name) > 200:
        c.fail("name", "must be at most 200 characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        c.fail("name", "holds a character no file can store (a lone surrogate such as \\ud800); remove it")
    return name


def _boolean(c: _Checker, value, fieldname: str) -> bool:
    if not isinstance(value, bool):
        c.fail(fieldname, f"must be true or false, not {brief(value)}")
    return value


def _batch(c: _Checker, batch) -> str | int:
    if isinstance(batch, str):
        return c.choice(batch, "batch", ("full", "online"))
    return c.integer(batch, "batch", 1)


def _layers(c: _Checker, raw: dict, default_activation: str, default_bias: str) -> list[Layer] | None:
    """The layers, or None when they have a problem (each is recorded)."""
    if "layers" not in raw:
        c.report("layers", "missing; list the layer sizes, input layer first, e.g. [2, 2, 2]")
        return None
    raw_layers = raw["layers"]
    if not isinstance(raw_layers, list) or len(raw_layers) < 2:
        c.report("layers", "must be a list of at least two layers (inputs and outputs), e.g. [2, 2, 2]")
        return None
    raw_biases = raw.get("biases")
    if raw_biases is not None and (not isinstance(raw_biases, list) or len(raw_biases) != len(raw_layers) - 1):
        c.report("biases", f"must be a list with one entry per non-input layer ({len(raw_layers) - 1})")
        raw_biases = None

    def layer(index: int, entry) -> Layer:
        f = f"layers[{index}]"
        if isinstance(entry, dict):
            c.keys(entry, f, ("size", "activation", "bias"))
            if "size" not in entry:
                c.fail(f"{f}.size", "missing; give the number of neurons")
            size = c.integer(entry["size"], f"{f}.size", 1)
        else:
            size, entry = c.integer(entry, f, 1), {}
        if index == 0:
            for key in ("activation", "bias"):
                if key in entry:
                    c.fail(f"{f}.{key}", "the input layer has no activation or bias; set them on later layers")
            return Layer(size, ops.INPUT_ACTIVATION, "none")
        activation = c.choice(entry.get("activation", default_activation), f"{f}.activation", ACTIVATIONS,
                              ops.ACTIVATION_ALIASES)
        if "bias" in entry:
            bias = c.choice(entry["bias"], f"{f}.bias", BIAS_MODES)
        elif raw_biases is not None and "bias" not in raw:
            given = raw_biases[index - 1]
            bias = "none" if given is None else "per_neuron" if isinstance(given, list) else "shared"
        else:
            bias = default_bias
        return Layer(size, activation, bias)

    before = len(c.problems)
    layers = [c.field(partial(layer, index, entry)) for index, entry in enumerate(raw_layers)]
    return None if len(c.problems) > before else layers  # type: ignore[return-value]


def _compatible(c: _Checker, layers: list[Layer], loss: str) -> None:
    """Activations that only fit some layers or losses."""
    n_out = len(layers) - 1
    for index, lay in enumerate(layers[1:], start=1):
        act = ops.activation(lay.activation)
        if act.output_only and index != n_out:
            c.report(f"layers[{index}].activation", f"{act.name} is allowed on the output layer only")
        if act.losses is not None and loss not in act.losses:
            c.report("loss", f"{act.name} outputs go with loss {' or '.join(act.losses)}, not {loss}")
        if act.layerwise and lay.size < 2:
            c.report(f"layers[{index}].size", f"a {act.name} layer needs at least 2 neurons")
    out_activation = ops.activation(layers[-1].activation)
    if ops.loss(loss).needs_probabilities and not out_activation.bounded01:
        fits = [a.name for a in ops.ACTIVATIONS.values() if a.bounded01 and (a.losses is None or loss in a.losses)]
        c.report("loss", f"{loss} needs outputs between 0 and 1: use activation {' or '.join(fits)} "
                                       f"on the output layer, not {out_activation.name}")


INIT_KEYS = ("method", "seed", "low", "high", "decimals")


def _init(c: _Checker, init) -> Callable[[int, int], float] | None:
    """The `init` field: how weights and biases not given are drawn (None when it has a problem)."""
    if not isinstance(init, dict):
        c.report("init", "must be a mapping like {method: xavier, seed: 0}")
        return None
    before = len(c.problems)
    c.keys(init, "init", INIT_KEYS)
    checked = {
        "method": c.field(lambda: c.choice(init.get("method", "xavier"), "init.method", INIT_METHODS)),
        "seed": c.field(lambda: c.integer(init.get("seed", 0), "init.seed", 0)),
        "decimals": c.field(lambda: c.integer(init.get("decimals", 4), "init.decimals", 1)),
        "low": c.field(lambda: c.number(init.get("low", -0.5), "init.low")),
        "high": c.field(lambda: c.number(init.get("high", 0.5), "init.high")),
    }
    if len(c.problems) > before:
        return None
    if checked["method"] == "uniform" and not checked["low"] < checked["high"]:  # type: ignore[operator]
        c.report("init.high", f"must be greater than init.low ({checked['low']})")
        return None
    return drawer(checked)


def _data(c: _Checker, raw_data, layers: list[Layer] | None, loss: str | None) -> list[Sample] | None:
    """The samples, or None when they have a problem. Without layers, their widths go unchecked."""
    if raw_data is None:
        c.report("data", "missing; give at least one sample: [{inputs: [...], targets: [...]}]")
        return None
    if isinstance(raw_data, dict):
        raw_data = [raw_data]
    if not isinstance(raw_data, list) or not raw_data:
        c.report("data", "must be a non-empty list of samples: [{inputs: [...], targets: [...]}]")
        return None

    def sample(s: int, raw_sample) -> Sample:
        f = f"data[{s}]"
        if not isinstance(raw_sample, dict):
            c.fail(f, f"must be a mapping {{inputs: [...], targets: [...]}}, not {brief(raw_sample)}")
        c.keys(raw_sample, f, ("inputs", "targets"))
        for key in ("inputs", "targets"):
            if key not in raw_sample:
                c.fail(f"{f}.{key}", "missing")
        inputs = c.vector(raw_sample["inputs"], f"{f}.inputs", layers[0].size if layers else None)
        targets = c.vector(raw_sample["targets"], f"{f}.targets", layers[-1].size if layers else None)
        least, most = ops.loss(loss).target_range if loss else (-math.inf, math.inf)
        if any(not least <= t <= most for t in targets):
            between = "must not be negative" if most == math.inf else f"must lie between {least:g} and {most:g}"
            c.fail(f"{f}.targets", f"{loss} targets {between}")
        return Sample(inputs, targets)

    before = len(c.problems)
    data = [c.field(partial(sample, s, raw_sample)) for s, raw_sample in enumerate(raw_data)]
    if len(c.problems) > before:
        return None
    return data  # type: ignore[return-value]


def _parameters(c: _Checker, raw: dict, layers: list[Layer], draw: Callable[[int, int], float]):
    """Every weight and bias: given, or drawn from `init`. None when they have a problem."""
    sizes = [layer.size for layer in layers]
    n_out = len(layers) - 1
    raw_weights, raw_biases = raw.get("weights"), raw.get("biases")
    if raw_weights is not None and (not isinstance(raw_weights, list) or len(raw_weights) != n_out):
        c.report("weights", f"must be a list with one matrix per non-input layer ({n_out})")
        return None
    if not isinstance(raw_biases, list) or len(raw_biases) != n_out:
        raw_biases = None  # reported with the layers

    def matrix(layer: int):
        rows, cols = sizes[layer], sizes[layer - 1]
        f = f"weights[{layer - 1}]"
        given = raw_weights[layer - 1] if raw_weights is not None else None
        if given is None:
            return tuple(tuple(draw(cols, rows) for _ in range(cols)) for _ in range(rows))
        if not isinstance(given, list) or len(given) != rows:
            c.fail(f, f"must be {rows} rows (one per neuron of layer {layer}) of {cols} weights, got {_shape(given)}")
        given_rows = []
        for j, row in enumerate(given):
            if not isinstance(row, list) or len(row) != cols:
                c.fail(f"{f}[{j}]", f"must hold {cols} weights (one per input of layer {layer}), got {_shape(row)}")
            given_rows.append(tuple(c.number(v, f"{f}[{j}][{i}]") for i, v in enumerate(row)))
        return tuple(given_rows)

    def bias(layer: int):
        rows, cols = sizes[layer], sizes[layer - 1]
        mode = layers[layer].bias
        f = f"biases[{layer - 1}]"
        given = raw_biases[layer - 1] if raw_biases is not None else None
        if mode == "none":
            if given is not None:
                c.fail(f, f"layer {layer} has bias none; give null here or set its bias mode")
            return None
        if mode == "shared":
            if isinstance(given, list):
                c.fail(f, f"layer {layer} has one shared bias: give a single number, not a list")
            return draw(cols, rows) if given is None else c.number(given, f)
        if given is None:
            return tuple(draw(cols, rows) for _ in range(rows))
        if not isinstance(given, list):
            c.fail(f, f"layer {layer} has one bias per neuron: give a list of {rows} numbers")
        return c.vector(given, f, rows)

    before = len(c.problems)
    weights, biases = [], []
    for layer in range(1, len(sizes)):  # drawn in this order: the weights of a layer, then its biases
        weights.append(c.field(partial(matrix, layer)))
        biases.append(c.field(partial(bias, layer)))
    if len(c.problems) > before:
        return None
    return tuple(weights), tuple(biases)




def learning_rates(c: _Checker, value, fieldname: str = "learning_rate") -> tuple[float, ...]:
    """One learning rate, or a sweep: a list of them (each gets a Training sheet of its own)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        c.fail(fieldname, "must be a number, or a list of numbers for a sweep, e.g. [0.1, 0.2, 0.5, 0.8, 1, 2]")
    if len(values) > MAX_SWEEP:
        c.fail(fieldname, f"a sweep of at most {MAX_SWEEP} learning rates, not {len(values)}")
    rates = []
    for k, v in enumerate(values):
        where = fieldname if not isinstance(value, list) else f"{fieldname}[{k}]"
        rate = c.number(v, where)
        if rate <= 0:
            c.fail(where, f"must be greater than 0, not {rate}")
        rates.append(rate)
    same = same_rates(rates)
    if same:
        c.fail(fieldname, same)
    return tuple(rates)


def same_rates(rates) -> str | None:
    """Why a sweep's rates cannot each name a sheet: two equal to ETA_DIGITS significant digits."""
    seen: dict[str, float] = {}
    for rate in rates:
        key = f"{rate:.{ETA_DIGITS}g}"
        if key in seen:
            if seen[key] == rate:
                return f"the sweep lists the learning rate {rate:g} twice"
            return (f"the learning rates {seen[key]!r} and {rate!r} are equal to {ETA_DIGITS} significant digits; "
                    "each names a Training sheet: make them differ sooner")
        seen[key] = rate
    return None


def _shape(value) -> str:
    if isinstance(value, list):
        inner = {len(v) if isinstance(v, list) else 0 for v in value}
        if value and inner and inner != {0}:
            return f"{len(value)}x{max(inner)}"
        return f"a list of {len(value)}"
    return brief(value)
