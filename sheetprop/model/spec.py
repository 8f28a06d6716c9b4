"""Network specs: load them (YAML or JSON, safely; a file or a preset name), count their cells.

`sheetprop.model.validate` checks the parsed fields; every problem is a line of a `SpecError`
naming the file, the field and what is allowed. Nothing here knows about spreadsheets.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from sheetprop.files import InputError, read_text
from sheetprop.limits import MAX_SPEC_BYTES, MAX_YAML_ALIASES
from sheetprop.model import budget
from sheetprop.model.network import Spec, SpecError
from sheetprop.model.shown import HugeNumber
from sheetprop.model.validate import KEYS, MAX_SWEEP, did_you_mean, validate

__all__ = ["KEYS", "MAX_SWEEP", "SpecError", "check_budget", "count_formulas", "load_spec", "load_yaml",
           "parse_spec", "preset_names", "validate", "with_sweep"]

PRESET_DIRS = (
    Path(__file__).resolve().parents[1] / "templates",  # installed wheel: sheetprop/templates
    Path(__file__).resolve().parents[2] / "templates",  # source checkout
)


# ---------------------------------------------------------------- loading

class _SafeLoader(yaml.SafeLoader):
    """SafeLoader that reads `1e-3` as a number and refuses alias bombs."""

    def compose_node(self, parent, index):  # PyYAML's hook
        if self.check_event(yaml.AliasEvent):
            self._aliases = getattr(self, "_aliases", 0) + 1
            if self._aliases > MAX_YAML_ALIASES:
                event = self.peek_event()
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_YAML_ALIASES} aliases (*name)", event.start_mark
                )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        """A key given twice in one mapping is an error, not a silent overwrite (merges `<<:` may override)."""
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice (first at line {seen[key].line + 1}); keep one",
                        key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


    def construct_yaml_int(self, node):
        """An integer; one too long for Python to read (over 4,300 digits) is a HugeNumber, which
        validation refuses naming the field."""
        text = self.construct_scalar(node)
        digits = sum(ch.isalnum() for ch in text)
        if digits > MAX_DIGITS:
            return HugeNumber(digits)
        return super().construct_yaml_int(node)


_SafeLoader.add_constructor("tag:yaml.org,2002:int", _SafeLoader.construct_yaml_int)
MAX_DIGITS = 4000  # digits of an integer read from a spec (Python refuses more than 4,300)


def _json_int(text: str) -> int | float:
    return HugeNumber(len(text.lstrip("-"))) if len(text) > MAX_DIGITS else int(text)


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
            hint = did_you_mean(str(ref), preset_names())
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
        def unique(pairs: list[tuple[str, Any]]) -> dict:
            keys = [key for key, _ in pairs]
            for key in keys:
                if keys.count(key) > 1:
                    raise SpecError(f"{where}: JSON error: the key {key!r} is given twice in one object; keep one")
            return dict(pairs)

        try:
            return json.loads(text, object_pairs_hook=unique, parse_int=_json_int)
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
        return yaml.load(text, Loader=_SafeLoader)  # _SafeLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        kind = "error" if isinstance(exc, yaml.constructor.ConstructorError) else "syntax error"
        raise SpecError(f"{where}: YAML {kind}{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: YAML error: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise SpecError(f"{where}: YAML nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value PyYAML cannot build, e.g. the date 2024-13-45
        text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"{where}: YAML value that cannot be read ({text})") from None


def count_formulas(spec: Spec, training: bool = True) -> int:
    """The formula cells of the spec's workbook (`sheetprop.model.budget.count_formulas`)."""
    return budget.count_formulas(spec.sizes, [l.activation for l in spec.layers[1:]], spec.bias_modes,
                                  spec.batch_size, spec.n_updates, spec.train_biases, training, len(spec.etas))


def check_budget(spec: Spec, max_cells: int) -> None:
    """Refuse a spec whose workbook would exceed `max_cells` formula cells (after --epochs)."""
    cells = count_formulas(spec)
    if cells > max_cells:
        raise SpecError(f"{spec.source}: epochs: this spec makes about {cells:,} formula cells, over the limit of "
                        f"{max_cells:,}; use fewer epochs, or raise the limit with --max-cells {cells}")


def with_sweep(spec: Spec, etas: tuple[float, ...] | None) -> Spec:
    """The spec with a learning-rate sweep from the command line (`--eta 0.1,0.2,0.5`)."""
    if not etas:
        return spec
    return replace(spec, learning_rate=etas[0], sweep=etas if len(etas) > 1 else (),
                   eta_changed=spec.eta_changed or etas[0] != spec.learning_rate)
