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
    "Spec": "sheetprop.model.network",
    "SpecError": "sheetprop.model.network",
    "load_spec": "sheetprop.model.spec",
    "parse_spec": "sheetprop.model.spec",
    "write_workbook": "sheetprop.writing.workbook",
    "VerifyReport": "sheetprop.verifying.verify",
    "verify_workbook": "sheetprop.verifying.verify",
    "CellError": "sheetprop.engines",
    "EngineError": "sheetprop.engines",
    "evaluate": "sheetprop.engines",
    "GradeOptions": "sheetprop.grading.grade",
    "FileReport": "sheetprop.grading.grade",
    "Item": "sheetprop.grading.grade",
    "grade_file": "sheetprop.grading.grade",
    "grade_files": "sheetprop.grading.batch",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # what type checkers and editors see; at run time each name is imported on first use
    from sheetprop.engines import CellError as CellError
    from sheetprop.engines import EngineError as EngineError
    from sheetprop.engines import evaluate as evaluate
    from sheetprop.errors import SheetpropError as SheetpropError
    from sheetprop.grading.batch import grade_files as grade_files
    from sheetprop.grading.grade import FileReport as FileReport
    from sheetprop.grading.grade import GradeOptions as GradeOptions
    from sheetprop.grading.grade import Item as Item
    from sheetprop.grading.grade import grade_file as grade_file
    from sheetprop.model.network import Spec as Spec
    from sheetprop.model.network import SpecError as SpecError
    from sheetprop.model.spec import load_spec as load_spec
    from sheetprop.model.spec import parse_spec as parse_spec
    from sheetprop.verifying.verify import VerifyReport as VerifyReport
    from sheetprop.verifying.verify import verify_workbook as verify_workbook
    from sheetprop.writing.workbook import write_workbook as write_workbook


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sheetprop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
