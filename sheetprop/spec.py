"""Network specs: load (YAML or JSON, safely), validate, fill in from `init`.

Every problem is a `SpecError` whose text is one line naming the file, the field and
what is allowed. Nothing here knows about spreadsheets.
"""

from __future__ import annotations

import difflib
import json
import math
import random
import re
from pathlib import Path
from typing import Any, NoReturn

import yaml

from sheetprop import layout as L
from sheetprop import ops
from sheetprop.network import Layer, Sample, Spec, SpecError
from sheetprop.files import InputError, read_text
from sheetprop.limits import MAX_FORMULA_CELLS, MAX_SPEC_BYTES, MAX_YAML_ALIASES

ACTIVATIONS = tuple(ops.ACTIVATIONS)
LOSSES = tuple(ops.LOSSES)
BIAS_MODES = ("none", "shared", "per_neuron")
INIT_METHODS = ("xavier", "he", "uniform")
KEYS = (
    "name", "layers", "activation", "bias", "train_biases", "loss", "weights", "biases",
    "init", "learning_rate", "data", "batch", "reduction", "epochs",
)
PRESET_DIRS = (
    Path(__file__).resolve().parent / "templates",  # installed wheel
    Path(__file__).resolve().parent.parent / "templates",  # source checkout
)


# ---------------------------------------------------------------- loading

class _SafeLoader(yaml.SafeLoader):
    """SafeLoader that reads `1e-3` as a number and refuses alias bombs."""

    def compose_node(self, parent, index):  # noqa: D401 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            self._aliases = getattr(self, "_aliases", 0) + 1
            if self._aliases > MAX_YAML_ALIASES:
                event = self.peek_event()
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_YAML_ALIASES} aliases (*name)", event.start_mark
                )
        return super().compose_node(parent, index)


_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def preset_names() -> list[str]:
    names: set[str] = set()
    for folder in PRESET_DIRS:
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def preset_path(name: str) -> Path | None:
    for folder in PRESET_DIRS:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def load_spec(ref: str | Path, max_cells: int | None = None) -> Spec:
    """Load a spec from a file path or a preset name (`mazur`)."""
    path = Path(ref)
    if not path.exists():
        preset = preset_path(str(ref)) if re.fullmatch(r"[A-Za-z0-9_-]+", str(ref)) else None
        if preset is None:
            hint = _did_you_mean(str(ref), preset_names())
            raise SpecError(
                f"{ref}: no such file or preset{hint}; presets: {', '.join(preset_names())}"
            )
        path = preset
        where = f"preset {ref}"
    else:
        where = str(ref)
    try:
        text = read_text(path, MAX_SPEC_BYTES, "spec file (YAML or JSON)")
    except InputError as exc:
        raise SpecError(str(exc).replace(str(path), where, 1)) from None
    return parse_spec(text, where=where, default_name=path.stem, is_json=path.suffix.lower() == ".json",
                      max_cells=max_cells)


def parse_spec(text: str, where: str = "<spec>", default_name: str = "network", is_json: bool = False,
               max_cells: int | None = None) -> Spec:
    raw = _parse_text(text, where, is_json)
    return validate(raw, where=where, default_name=default_name, max_cells=max_cells)


def _parse_text(text: str, where: str, is_json: bool) -> Any:
    if is_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"{where}: JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        except RecursionError:
            raise SpecError(f"{where}: JSON nested too deeply") from None
    return load_yaml(text, where)


def load_yaml(text: str, where: str) -> Any:
    """Parse YAML safely (no tags that build objects, at most MAX_YAML_ALIASES aliases);
    every failure is a one-line SpecError. Used for specs, maps and points files."""
    try:
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - _SafeLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"{where}: YAML syntax error{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: YAML error: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise SpecError(f"{where}: YAML nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value PyYAML cannot build, e.g. the date 2024-13-45
        text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"{where}: YAML value that cannot be read ({text})") from None


# ---------------------------------------------------------------- validation

def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word).lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker:
    def __init__(self, where: str):
        self.where = where

    def fail(self, fieldname: str, message: str) -> NoReturn:
        raise SpecError(f"{self.where}: {fieldname}: {message}")

    def number(self, value, fieldname: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(fieldname, f"must be a number, not {_show(value)}")
        try:
            value = float(value)
        except OverflowError:  # an integer with hundreds of digits
            value = math.inf
        if not math.isfinite(value):
            self.fail(fieldname, f"must be a finite number, not {value}")
        return value

    def integer(self, value, fieldname: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(fieldname, f"must be a whole number, not {_show(value)}")
        if value < minimum:
            self.fail(fieldname, f"must be at least {minimum}, not {value}")
        return value

    def choice(self, value, fieldname: str, choices, aliases=None) -> str:
        if not isinstance(value, str):
            self.fail(fieldname, f"must be one of {', '.join(choices)}, not {_show(value)}")
        key = value.strip().lower()
        key = (aliases or {}).get(key, key)
        if key not in choices:
            self.fail(
                fieldname,
                f"unknown value {value!r}{_did_you_mean(key, choices)}; allowed: {', '.join(choices)}",
            )
        return key

    def vector(self, value, fieldname: str, length: int) -> tuple[float, ...]:
        if not isinstance(value, list):
            self.fail(fieldname, f"must be a list of {length} numbers, not {_show(value)}")
        if len(value) != length:
            self.fail(fieldname, f"must hold {length} numbers, not {len(value)}")
        return tuple(self.number(v, f"{fieldname}[{i}]") for i, v in enumerate(value))


def _show(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def count_formulas(spec: Spec, training: bool = True) -> int:
    """The formula cells of the spec's workbook (`sheetprop.layout.count_formulas`)."""
    return L.count_formulas(spec.sizes, [l.activation for l in spec.layers[1:]], spec.bias_modes, spec.batch_size,
                            spec.n_updates, spec.train_biases, training)


def check_budget(spec: Spec, max_cells: int) -> None:
    """Refuse a spec whose workbook would exceed `max_cells` formula cells (after --epochs)."""
    cells = count_formulas(spec)
    if cells > max_cells:
        raise SpecError(f"{spec.source}: epochs: this spec makes about {cells:,} formula cells, over the limit of "
                        f"{max_cells:,}; use fewer epochs, or raise the limit with --max-cells {cells}")


def validate(raw: Any, where: str = "<spec>", default_name: str = "network",
             max_cells: int | None = None) -> Spec:
    """Check a parsed spec and resolve defaults; raise SpecError on the first problem."""
    c = _Checker(where)
    max_cells = MAX_FORMULA_CELLS if max_cells is None else max_cells
    if raw is None:
        raise SpecError(f"{where}: the spec is empty; it needs at least `layers` and `data`")
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: the spec must be a mapping of fields (layers, data, …), not {_show(raw)}")
    for key in raw:
        if key not in KEYS:
            c.fail(str(key), f"unknown field{_did_you_mean(key, KEYS)}; allowed: {', '.join(KEYS)}")

    name = raw.get("name", default_name)
    if not isinstance(name, (str, int, float)) or isinstance(name, bool):
        c.fail("name", "must be text")
    name = str(name)
    if len(name) > 200:
        c.fail("name", "must be at most 200 characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        c.fail("name", "holds a character no file can store (a lone surrogate such as \\ud800); remove it")

    default_activation = c.choice(raw.get("activation", "sigmoid"), "activation", ACTIVATIONS, ops.ACTIVATION_ALIASES)
    default_bias = c.choice(raw.get("bias", "per_neuron"), "bias", BIAS_MODES)
    loss = c.choice(raw.get("loss", "half_sse"), "loss", LOSSES, ops.LOSS_ALIASES)
    train_biases = raw.get("train_biases", True)
    if not isinstance(train_biases, bool):
        c.fail("train_biases", f"must be true or false, not {_show(train_biases)}")

    if "layers" not in raw:
        c.fail("layers", "missing; list the layer sizes, input layer first, e.g. [2, 2, 2]")
    raw_layers = raw["layers"]
    if not isinstance(raw_layers, list) or len(raw_layers) < 2:
        c.fail("layers", "must be a list of at least two layers (inputs and outputs), e.g. [2, 2, 2]")
    raw_biases = raw.get("biases")
    if raw_biases is not None and (not isinstance(raw_biases, list) or len(raw_biases) != len(raw_layers) - 1):
        c.fail("biases", f"must be a list with one entry per non-input layer ({len(raw_layers) - 1})")

    layers = []
    for index, entry in enumerate(raw_layers):
        f = f"layers[{index}]"
        if isinstance(entry, dict):
            for key in entry:
                if key not in ("size", "activation", "bias"):
                    c.fail(f"{f}.{key}", f"unknown field{_did_you_mean(key, ('size', 'activation', 'bias'))}; allowed: size, activation, bias")
            if "size" not in entry:
                c.fail(f"{f}.size", "missing; give the number of neurons")
            size = c.integer(entry["size"], f"{f}.size", 1)
        else:
            size, entry = c.integer(entry, f, 1), {}
        if index == 0:
            for key in ("activation", "bias"):
                if key in entry:
                    c.fail(f"{f}.{key}", "the input layer has no activation or bias; set them on later layers")
            layers.append(Layer(size, "identity", "none"))
            continue
        activation = c.choice(entry.get("activation", default_activation), f"{f}.activation", ACTIVATIONS, ops.ACTIVATION_ALIASES)
        if "bias" in entry:
            bias = c.choice(entry["bias"], f"{f}.bias", BIAS_MODES)
        elif raw_biases is not None and "bias" not in raw:
            given = raw_biases[index - 1]
            bias = "none" if given is None else "per_neuron" if isinstance(given, list) else "shared"
        else:
            bias = default_bias
        layers.append(Layer(size, activation, bias))
    sizes = [layer.size for layer in layers]
    n_out = len(layers) - 1

    def budget(batch_size: int) -> None:
        """The worked step alone (check_budget counts the Training rows once --epochs is known):
        absurd layers are refused before a weight is drawn or data of absurd width is read."""
        cells = L.count_formulas(sizes, [l.activation for l in layers[1:]], [l.bias for l in layers[1:]], batch_size,
                                 0, train_biases)
        if cells > max_cells:
            c.fail("layers", f"this network makes about {cells:,} formula cells, over the limit of {max_cells:,}; "
                             f"use smaller layers, or raise the limit with --max-cells {cells}")

    budget(1)

    for index, lay in enumerate(layers[1:], start=1):
        act = ops.activation(lay.activation)
        if act.output_only and index != n_out:
            c.fail(f"layers[{index}].activation", f"{act.name} is allowed on the output layer only")
        if act.losses is not None and loss not in act.losses:
            c.fail("loss", f"{act.name} outputs go with loss {' or '.join(act.losses)}, not {loss}")
        if act.layerwise and lay.size < 2:
            c.fail(f"layers[{index}].size", f"a {act.name} layer needs at least 2 neurons")
    out_activation = ops.activation(layers[-1].activation)
    if ops.loss(loss).needs_probabilities and not out_activation.bounded01:
        fits = [a.name for a in ops.ACTIVATIONS.values() if a.bounded01 and (a.losses is None or loss in a.losses)]
        c.fail("loss", f"{loss} needs outputs between 0 and 1: use activation {' or '.join(fits)} on the output "
                       f"layer, not {out_activation.name}")

    init = raw.get("init") or {}
    if not isinstance(init, dict):
        c.fail("init", "must be a mapping like {method: xavier, seed: 0}")
    for key in init:
        if key not in ("method", "seed", "low", "high", "decimals"):
            c.fail(f"init.{key}", f"unknown field{_did_you_mean(key, ('method', 'seed', 'low', 'high', 'decimals'))}; allowed: method, seed, low, high, decimals")
    method = c.choice(init.get("method", "xavier"), "init.method", INIT_METHODS)
    seed = c.integer(init.get("seed", 0), "init.seed", 0)
    decimals = c.integer(init.get("decimals", 4), "init.decimals", 1)
    low = c.number(init.get("low", -0.5), "init.low")
    high = c.number(init.get("high", 0.5), "init.high")
    if method == "uniform" and not low < high:
        c.fail("init.high", f"must be greater than init.low ({low})")
    rng = random.Random(seed)

    def draw(fan_in: int, fan_out: int) -> float:
        if method == "xavier":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            value = rng.uniform(-limit, limit)
        elif method == "he":
            limit = math.sqrt(6.0 / fan_in)
            value = rng.uniform(-limit, limit)
        else:
            value = rng.uniform(low, high)
        return round(value, decimals)

    if "learning_rate" not in raw:
        c.fail("learning_rate", "missing; give the learning rate η, e.g. 0.5")
    learning_rate = c.number(raw["learning_rate"], "learning_rate")
    if learning_rate <= 0:
        c.fail("learning_rate", f"must be greater than 0, not {learning_rate}")

    raw_data = raw.get("data")
    if raw_data is None:
        c.fail("data", "missing; give at least one sample: [{inputs: [...], targets: [...]}]")
    if isinstance(raw_data, dict):
        raw_data = [raw_data]
    if not isinstance(raw_data, list) or not raw_data:
        c.fail("data", "must be a non-empty list of samples: [{inputs: [...], targets: [...]}]")
    data = []
    for s, sample in enumerate(raw_data):
        f = f"data[{s}]"
        if not isinstance(sample, dict):
            c.fail(f, f"must be a mapping {{inputs: [...], targets: [...]}}, not {_show(sample)}")
        for key in sample:
            if key not in ("inputs", "targets"):
                c.fail(f"{f}.{key}", f"unknown field{_did_you_mean(key, ('inputs', 'targets'))}; allowed: inputs, targets")
        for key in ("inputs", "targets"):
            if key not in sample:
                c.fail(f"{f}.{key}", "missing")
        inputs = c.vector(sample["inputs"], f"{f}.inputs", sizes[0])
        targets = c.vector(sample["targets"], f"{f}.targets", sizes[-1])
        least, most = ops.loss(loss).target_range
        if any(not least <= t <= most for t in targets):
            between = "must not be negative" if most == math.inf else f"must lie between {least:g} and {most:g}"
            c.fail(f"{f}.targets", f"{loss} targets {between}")
        data.append(Sample(inputs, targets))

    batch = raw.get("batch", "full")
    if isinstance(batch, str):
        batch = c.choice(batch, "batch", ("full", "online"))
    else:
        batch = c.integer(batch, "batch", 1)
        if batch > len(data):
            c.fail("batch", f"a mini-batch of {batch} is larger than the {len(data)} samples; use full")
    reduction = c.choice(raw.get("reduction", "mean"), "reduction", ("mean", "sum"))
    epochs = c.integer(raw.get("epochs", 1), "epochs", 0)

    m = len(data) if batch == "full" else 1 if batch == "online" else batch
    budget(m)  # the worked step with the whole first batch

    raw_weights = raw.get("weights")
    if raw_weights is not None and (not isinstance(raw_weights, list) or len(raw_weights) != n_out):
        c.fail("weights", f"must be a list with one matrix per non-input layer ({n_out})")
    weights: list[tuple[tuple[float, ...], ...]] = []
    biases: list[float | tuple[float, ...] | None] = []
    for layer in range(1, len(sizes)):
        rows, cols = sizes[layer], sizes[layer - 1]
        f = f"weights[{layer - 1}]"
        given = raw_weights[layer - 1] if raw_weights is not None else None
        if given is None:
            matrix = tuple(tuple(draw(cols, rows) for _ in range(cols)) for _ in range(rows))
        else:
            if not isinstance(given, list) or len(given) != rows:
                c.fail(f, f"must be {rows} rows (one per neuron of layer {layer}) of {cols} weights, got {_shape(given)}")
            given_rows = []
            for j, row in enumerate(given):
                if not isinstance(row, list) or len(row) != cols:
                    c.fail(f"{f}[{j}]", f"must hold {cols} weights (one per input of layer {layer}), got {_shape(row)}")
                given_rows.append(tuple(c.number(v, f"{f}[{j}][{i}]") for i, v in enumerate(row)))
            matrix = tuple(given_rows)
        weights.append(matrix)

        mode = layers[layer].bias
        f = f"biases[{layer - 1}]"
        given = raw_biases[layer - 1] if raw_biases is not None else None
        if mode == "none":
            if given is not None:
                c.fail(f, f"layer {layer} has bias none; give null here or set its bias mode")
            biases.append(None)
        elif mode == "shared":
            if isinstance(given, list):
                c.fail(f, f"layer {layer} has one shared bias: give a single number, not a list")
            biases.append(draw(cols, rows) if given is None else c.number(given, f))
        else:
            if given is None:
                biases.append(tuple(draw(cols, rows) for _ in range(rows)))
            elif not isinstance(given, list):
                c.fail(f, f"layer {layer} has one bias per neuron: give a list of {rows} numbers")
            else:
                biases.append(c.vector(given, f, rows))

    return Spec(
        name=name,
        layers=tuple(layers),
        loss=loss,
        weights=tuple(weights),
        biases=tuple(biases),
        learning_rate=learning_rate,
        data=tuple(data),
        train_biases=train_biases,
        batch=batch,
        reduction=reduction,
        epochs=epochs,
        source=where,
    )


def _shape(value) -> str:
    if isinstance(value, list):
        inner = {len(v) if isinstance(v, list) else 0 for v in value}
        if value and inner and inner != {0}:
            return f"{len(value)}x{max(inner)}"
        return f"a list of {len(value)}"
    return _show(value)


