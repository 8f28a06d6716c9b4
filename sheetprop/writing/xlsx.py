"""The pieces of an .xlsx that the worked example (`workbook`) and the exercise (`exercise`) share.

`open_workbook(out)` gives an XlsxWriter workbook that becomes `out` atomically when the
block ends without an error (`sheetprop.files`), spooling its sheets in a folder of its own
that is removed whatever happens; `STYLES` are the cell styles; `write_network` writes the
Network sheet's cells, widths, page set-up and defined names.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from pathlib import Path
from typing import Iterator

from sheetprop import files
from sheetprop.cells import a1
from sheetprop.writing import layout as L
from sheetprop.writing import printing
from sheetprop.writing.printing import PAPERS

__all__ = ["PAPERS", "add_sheet", "formats", "open_workbook", "print_setup", "write_cell", "write_network"]

STYLES = {
    "title": {"bold": True, "font_size": 14, "font_color": "#1F3864"},
    "subtitle": {"italic": True, "font_color": "#404040"},
    "note": {"italic": True, "font_color": "#595959"},
    "section": {"bold": True, "font_size": 12, "font_color": "#1F3864", "bottom": 2, "bottom_color": "#1F3864"},
    "header": {"bold": True, "bg_color": "#DDEBF7", "bottom": 1},
    "label": {},
    "name": {"font_name": "Consolas", "font_color": "#595959"},
    "maths": {"font_color": "#375623"},
    "input": {"bg_color": "#FFF2CC", "font_color": "#0000FF", "border": 1, "border_color": "#BF9000"},
    "formula": {"num_format": "0.000000000"},
    "number": {"num_format": "General"},
    "index": {"num_format": "0", "font_color": "#595959"},
    "answer": {"bg_color": "#E2EFDA", "border": 2, "border_color": "#548235", "num_format": "0.000000000"},
    "group": {"bold": True, "italic": True, "font_color": "#1F3864"},
}


@functools.lru_cache(maxsize=None)
def plain_worksheet_class():
    """A Worksheet that writes our formulas as they are, and writes shared formulas.

    XlsxWriter runs some thirty regular expressions over every formula to prefix Excel 365
    functions with `_xlfn.`; sheetprop's formulas use only classic functions (EXP, LN,
    TANH, MAX, IF, SUM, AVERAGE, ABS), so that pass is skipped: it was 60 % of the time
    taken to write a 10,000-update Training sheet.

    `write_shared_formula` writes a cell of a shared formula, as Excel writes a column filled
    down (ECMA-376 §18.3.1.40): the first cell holds the formula and the range it covers, the
    others only its index, and each is the first's formula moved to its own row. XlsxWriter
    has no such call; its cell writer is extended for this one kind of cell.
    """
    from collections import namedtuple

    from xlsxwriter.utility import xl_rowcol_to_cell_fast  # type: ignore[import-untyped]
    from xlsxwriter.worksheet import Worksheet  # type: ignore[import-untyped]

    SharedFormula = namedtuple("SharedFormula", "formula, format, value, index, range")

    class PlainFormulaWorksheet(Worksheet):
        def _prepare_formula(self, formula, expand_future_functions=False):
            return formula[1:] if formula.startswith("=") else formula

        def write_shared_formula(self, row: int, col: int, formula: str, cell_format, value: float,
                                 index: int, cells: str | None) -> int:
            """Write one cell of shared formula `index`; `cells` ("B24:B10023") on its first cell only."""
            if self._check_dimensions(row, col):
                return -1
            if self.constant_memory and row > self.previous_row:
                self._write_single_row(row)
            value = "" if value is None else float(value)  # None: no stored result, as write_formula
            self.table[row][col] = SharedFormula(self._prepare_formula(formula), cell_format, value, index, cells)
            return 0

        def _xml_number_element(self, number, attributes=()):
            # XlsxWriter writes 16 significant digits ("%.16G"), which turns 0.30000000000000004
            # into 0.3; repr writes the shortest text that reads back as the same double.
            attr = "".join(f' {key}="{self._escape_attributes(value)}"' for key, value in attributes)
            text = repr(number) if type(number) is float else f"{number:.16G}"
            self.fh.write(f"<c{attr}><v>{text}</v></c>")

        def _write_cell(self, row, col, cell):
            if type(cell) is not SharedFormula:
                return super()._write_cell(row, col, cell)
            style = f' s="{cell.format._get_xf_index()}"' if cell.format else ""
            if cell.range is None:
                f = f'<f t="shared" si="{cell.index}"/>'
            else:
                f = f'<f t="shared" ref="{cell.range}" si="{cell.index}">{self._escape_data(cell.formula)}</f>'
            value = "" if cell.value == "" else repr(cell.value)
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}"{style}>{f}<v>{value}</v></c>')
            return None

    return PlainFormulaWorksheet


@contextlib.contextmanager
def open_workbook(out: str | Path) -> Iterator:
    """An XlsxWriter workbook in constant-memory mode that becomes `out` when the block succeeds."""
    import xlsxwriter  # type: ignore[import-untyped]  # lazily: keeps `import sheetprop` light

    with files.replacing(out, suffix=".xlsx") as tmp, tempfile.TemporaryDirectory(prefix="sheetprop-xlsx-") as spool:
        wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_formulas": False,
                                            "strings_to_numbers": False, "strings_to_urls": False,
                                            "tmpdir": spool})
        yield wb
        wb.close()  # only when every sheet is complete: a failure leaves nothing behind


def formats(wb) -> dict:
    return {name: wb.add_format(props) for name, props in STYLES.items()}


def add_sheet(wb, name: str):
    return wb.add_worksheet(name, worksheet_class=plain_worksheet_class())


def print_setup(ws, repeat_rows: tuple[int, int] | None = None, paper: str = "a4") -> None:
    """Print-ready: landscape, one page wide (as many pages down as it takes), on A4 or Letter
    (`sheetprop.writing.printing` says how each sheet prints)."""
    printing.page_setup(ws, paper)
    ws.fit_to_pages(1, 0)
    if repeat_rows is not None:
        ws.repeat_rows(*repeat_rows)


def write_network(wb, ws, network: L.SheetLayout, names: dict, fmt, paper: str = "a4") -> int:
    """Write the Network sheet's cells (in row order), widths, page set-up and names."""
    formulas = 0
    for cell in sorted(network.cells, key=lambda c: (c.row, c.col)):
        write_cell(ws, cell, fmt)
        formulas += cell.style == "formula"
    for col, width in network.widths.items():
        ws.set_column(col, col, width)
    ws.freeze_panes(0, 3)
    print_setup(ws, paper=paper)
    rows = max(c.row for c in network.cells) + 1
    headings = [c.row for c in network.cells if c.style == "section"]
    ws.set_h_pagebreaks(printing.section_breaks(rows, headings, paper))
    for name, (row, col) in names.items():
        wb.define_name(name, f"={L.NETWORK}!{a1(row, col, True)}")
    return formulas


def write_cell(ws, cell: L.Cell, fmt) -> None:
    style = fmt.get(cell.style)
    if cell.style == "formula" and cell.shared is not None:
        ws.write_shared_formula(cell.row, cell.col, cell.text or "", style, cell.value, *cell.shared)
    elif cell.style == "formula":  # a value of None stores no result (`<v></v>`): exercises
        ws.write_formula(cell.row, cell.col, "=" + (cell.text or ""), style, "" if cell.value is None else cell.value)
    elif cell.style == "answer":
        ws.write_blank(cell.row, cell.col, None, style)
    elif cell.style in ("input", "index"):
        ws.write_number(cell.row, cell.col, cell.value, style)
    else:
        ws.write_string(cell.row, cell.col, cell.text or "", style)
