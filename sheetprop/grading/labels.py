"""Where a student's labels sit: the value cell each label names, and which quantity it stands for.

A label is a text cell; its value is the first number or formula to its right in the same row
(up to MAX_RIGHT columns, stopping at the next label), else the first cell below it (a header
row over its values). A fraction split over two header rows (`𝛿C/` over a group of columns,
`𝛿w_1` `𝛿w_2` under it) is read whole. A label is only ever a hint: the structure decides.
"""

from __future__ import annotations

from sheetprop.cells import Ref
from sheetprop.grading.readbook import Formula, StudentBook, number
from sheetprop.grading.tables import Table
from sheetprop.grading.vocabulary import label_index, read_label
from sheetprop.model import reference as R

MAX_RIGHT = 6  # columns to the right of a label where its value may sit
MAX_DOWN = 3  # rows below a label (a header row over its values)
MAX_GROUP = 12  # columns a header over a group of columns may span


def label_text(book: StudentBook, cell: Ref, text: str) -> str:
    """A label as the student wrote it, its first part included when a fraction is split over two
    header rows (`𝛿C/` over a group of columns, `𝛿w_1` `𝛿w_2` under it)."""
    for col in range(cell.col, max(-1, cell.col - MAX_GROUP), -1):
        above = book.cells.get(Ref(cell.sheet, cell.row - 1, col))
        if isinstance(above, str) and not isinstance(above, Formula) and above.strip():
            return above.strip() + text.strip() if above.strip().endswith("/") else text
    return text


def is_value(raw) -> bool:
    return isinstance(raw, Formula) or number(raw) is not None


def value_near(book: StudentBook, label: Ref, index: dict[str, str]) -> Ref | None:
    """The value cell of a label: beside it to the right, else below it."""
    sheet, row, col = label
    for c in range(col + 1, col + 1 + MAX_RIGHT):
        raw = book.cells.get(Ref(sheet, row, c))
        if raw is None:
            continue
        if is_value(raw):
            return Ref(sheet, row, c)
        if isinstance(raw, str) and read_label(raw, index) is not None:
            break  # the next quantity's label: this one has no value beside it
    for r in range(row + 1, row + 1 + MAX_DOWN):
        raw = book.cells.get(Ref(sheet, r, col))
        if raw is None:
            continue
        return Ref(sheet, r, col) if is_value(raw) else None
    return None




def labels_of(book: StudentBook, sol: R.Solution, table: Table | None) -> dict[Ref, tuple[str, str]]:
    """Which name the label of each value cell stands for: a table's header over its column (for
    the table's first two rows), or a text cell to the left in the same row."""
    index = label_index(sol.graph.names)
    labels: dict[Ref, tuple[str, str]] = {}
    if table is not None and table.header is not None:
        for col, text in table.labels.items():
            name = read_label(text, index)
            if name:
                for row in (table.first, table.first + 1):
                    labels[Ref(table.sheet, row, col)] = (name, f"label {text!r} at {Ref(table.sheet, table.header, col)}")
    for cell, raw in book.cells.items():
        if isinstance(raw, str) and not isinstance(raw, Formula):
            name = read_label(label_text(book, cell, raw), index)
            spot = value_near(book, cell, index) if name else None
            if name and spot is not None:
                labels.setdefault(spot, (name, f"label {raw.strip()!r} at {cell}"))
    return labels
