"""Write the fixtures of tests/test_unchanged.py: workbooks written by the code before the
refactoring of issue 9 (commit 1cdc6c3), with the specs they came from.

Run once, from the project root, with that code checked out: python tests/data/make_before.py
"""

import json
from pathlib import Path

from sheetprop.model.randomspec import random_spec
from sheetprop.model.spec import load_spec, validate, with_epochs
from sheetprop.writing.workbook import write_workbook

HERE = Path(__file__).parent / "before"
PRESETS = ["mazur", "hmkcode", "vandermerwe", "perceptron", "xor"]
EXERCISES = {"mazur-exercise": ("mazur", ["forward", "loss", "backward", "gradients", "update"]),
             "mazur-blank-backward-update": ("mazur", ["backward", "gradients", "update"]),
             "vandermerwe-exercise": ("vandermerwe", ["forward", "loss", "backward", "gradients", "update"])}


def main() -> None:
    HERE.mkdir(exist_ok=True)
    specs = {}
    for name in PRESETS:
        spec = with_epochs(load_spec(name), 3)
        specs[name] = {"spec": spec.to_dict(), "source": spec.source}
        write_workbook(spec, HERE / f"{name}.xlsx")
    for name, (preset, blank) in EXERCISES.items():
        spec = load_spec(preset)
        specs[name] = {"spec": spec.to_dict(), "source": spec.source, "exercise": blank}
        write_workbook(spec, HERE / f"{name}.xlsx", exercise=blank)
    for seed in range(30):
        raw = random_spec(seed)
        spec = validate(raw)
        specs[f"random{seed}"] = {"spec": spec.to_dict(), "source": spec.source}
        write_workbook(spec, HERE / f"random{seed}.xlsx")
    (HERE / "specs.json").write_text(json.dumps(specs, indent=1) + "\n")


if __name__ == "__main__":
    main()
