"""The copy of a workbook that the formulas and LibreOffice engines may see.

`prepare(path, folder)` reads every formula and defined name with openpyxl's own sheet
parser, screens them (`sheetprop.engines.screen`) and returns the path to evaluate with what was
held back: the file itself when nothing needs to change, else a copy in `folder` in which
held cells hold #N/A and held names are gone, and from which links to other workbooks,
data connections, macros, embedded objects, conditional formats and data validation are
dropped (openpyxl keeps none of them when it saves). The copy LibreOffice opens is always
made, and rebuilt from the cells alone (`sheetprop.engines.offline`). The file itself is never
written.

IronCalc is screened inside its own wrapper, on the formulas as it parsed them, which
needs no copy (`sheetprop.engines.ironcalc_engine`).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sheetprop.engines import screen
from sheetprop.engines.base import a1
from sheetprop.engines.offline import strip
from sheetprop.engines.openbook import check_container, load, sheet_cells

_EXTRAS = (b"<conditionalFormatting", b"<dataValidation", b"<x14:conditionalFormatting", b"<x14:dataValidation")


@dataclass
class Screened:
    path: Path  # what the engine evaluates: the file, or the cleaned copy
    held: dict[tuple[str, str], str] = field(default_factory=dict)  # (sheet, "A1") → why
    held_names: dict[str, str] = field(default_factory=dict)  # defined name (lower case) → why
    cells: list[tuple[str, int, int]] | None = None  # the file's formula cells, 1-based (None: not read)


def prepare(path: str | Path, folder: str | Path, offline: bool = False) -> Screened:
    """Screen the workbook at `path`; write the cleaned copy into `folder` when one is needed, and
    always with `offline` (for LibreOffice: `sheetprop.engines.offline.strip`)."""
    path = Path(path)
    container = check_container(path)
    formulas: dict[tuple[str, int, int], str] = {}
    names: dict[str, str] = {}
    book = load(path, read_only=True, checked=True)
    try:
        for ws in book.worksheets:
            for cell in sheet_cells(ws, moved=False):  # the screen's verdict never changes as a formula moves
                if cell["data_type"] == "f":
                    value = cell["value"]
                    text = getattr(value, "text", value)  # an ArrayFormula holds its text
                    formulas[(ws.title, cell["row"], cell["column"])] = (
                        text if isinstance(text, str) else screen.DATA_TABLE)
            for name, dn in getattr(ws, "defined_names", {}).items():
                names.setdefault(name.lower(), dn.attr_text or "")
        for name, dn in book.defined_names.items():
            names[name.lower()] = dn.attr_text or ""
    finally:
        book.close()
    held, held_names = screen.screen_book(formulas, names)
    result = Screened(path, {(sheet, a1(row, col)): why for (sheet, row, col), why in held.items()}, held_names,
                      list(formulas))
    if held or held_names or container.needs_copy or (not offline and _has_extras(path)):
        result.path = copy_without(path, held, held_names, Path(folder))
    if offline:
        result.path = strip(result.path, Path(folder) / "offline.xlsx")
    return result


def _has_extras(path: Path) -> bool:
    """Does a sheet hold conditional formats or data validation (formulas an engine may evaluate)?"""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                with zf.open(info) as fh:
                    tail = b""
                    while chunk := fh.read(1 << 20):
                        block = tail + chunk
                        if any(tag in block for tag in _EXTRAS):
                            return True
                        tail = block[-32:]
    return False


def copy_without(path: Path, held, held_names, folder: Path) -> Path:
    """A copy of the workbook in `folder`: held cells #N/A, held names gone, no links, macros,
    embedded objects, conditional formats or data validation."""
    import openpyxl
    from openpyxl.formatting.formatting import ConditionalFormattingList
    from openpyxl.worksheet.datavalidation import DataValidationList

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), keep_links=False, keep_vba=False)
        for sheet, row, col in held:
            wb[sheet].cell(row, col).value = screen.HELD_VALUE
        for name in list(wb.defined_names):
            if name.lower() in held_names:
                del wb.defined_names[name]
        for ws in wb.worksheets:
            for name in list(ws.defined_names):
                if name.lower() in held_names:
                    del ws.defined_names[name]
            ws.conditional_formatting = ConditionalFormattingList()
            ws.data_validations = DataValidationList()
        out = folder / "book.xlsx"
        wb.save(out)
    return out


def copy_with_values(path: Path, values: dict, folder: Path) -> Path:
    """A copy of the workbook in `folder` with some cells ({Ref: number}) holding numbers instead of
    what they hold (a broken cell replaced by its correct value, to judge what depends on it)."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(Path(path).read_bytes()), keep_links=False, keep_vba=False)
        for cell, value in values.items():
            wb[cell.sheet].cell(cell.row + 1, cell.col + 1).value = value
        out = folder / "substituted.xlsx"
        wb.save(out)
    return out
