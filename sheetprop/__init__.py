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
    "Spec": "sheetprop.network",
    "SpecError": "sheetprop.network",
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

if TYPE_CHECKING:  # what type checkers and editors see; at run time each name is imported on first use
    from sheetprop.batch import grade_files as grade_files
    from sheetprop.engines import CellError as CellError
    from sheetprop.engines import EngineError as EngineError
    from sheetprop.engines import evaluate as evaluate
    from sheetprop.errors import SheetpropError as SheetpropError
    from sheetprop.grade import FileReport as FileReport
    from sheetprop.grade import GradeOptions as GradeOptions
    from sheetprop.grade import Item as Item
    from sheetprop.grade import grade_file as grade_file
    from sheetprop.network import Spec as Spec
    from sheetprop.network import SpecError as SpecError
    from sheetprop.spec import load_spec as load_spec
    from sheetprop.spec import parse_spec as parse_spec
    from sheetprop.verify import VerifyReport as VerifyReport
    from sheetprop.verify import verify_workbook as verify_workbook
    from sheetprop.workbook import write_workbook as write_workbook


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sheetprop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
