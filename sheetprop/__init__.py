"""sheetprop: backpropagation as live spreadsheet formulas.

The library under the `sheetprop` command::

    import sheetprop

    spec = sheetprop.load_spec("mazur")                      # a preset, or a YAML/JSON file
    sheetprop.write_workbook(spec, "mazur.xlsx")             # every quantity a live formula
    assert sheetprop.verify_workbook("mazur.xlsx").ok         # recomputed by IronCalc, checked
    values = sheetprop.evaluate("mazur.xlsx")                # {(sheet, "A1"): value}
    report = sheetprop.grade_file("student.xlsx", spec)      # a FileReport: score, items, mistakes

Names are imported when first used, so `import sheetprop` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "SheetpropError": "sheetprop.errors",
    "Spec": "sheetprop.spec",
    "SpecError": "sheetprop.spec",
    "load_spec": "sheetprop.spec",
    "parse_spec": "sheetprop.spec",
    "write_workbook": "sheetprop.workbook",
    "VerifyReport": "sheetprop.verify",
    "verify_workbook": "sheetprop.verify",
    "CellError": "sheetprop.engines",
    "EngineError": "sheetprop.engines",
    "evaluate": "sheetprop.engines",
    "GradeOptions": "sheetprop.grade",
    "FileReport": "sheetprop.grade",
    "Item": "sheetprop.grade",
    "grade_file": "sheetprop.grade",
    "grade_files": "sheetprop.batch",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from sheetprop.batch import grade_files
    from sheetprop.engines import CellError, EngineError, evaluate
    from sheetprop.errors import SheetpropError
    from sheetprop.grade import FileReport, GradeOptions, Item, grade_file
    from sheetprop.spec import Spec, SpecError, load_spec, parse_spec
    from sheetprop.verify import VerifyReport, verify_workbook
    from sheetprop.workbook import write_workbook


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sheetprop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
