"""Find each quantity in a student's workbook (`readbook.StudentBook`): by defined name, by map,
or by a label beside it.

1. A defined name (`net_h1`, any case) on one cell: the exercise's names, or the student's.
2. The map file an instructor wrote for a layout: `net_h1: Sheet1!B7`.
3. A label: a text cell that reads like the name ("net h1", "NET_H1", "E total",
   "new w5", "w5", "∂E/∂w5", "δo1", "target o1"), with the value beside it (the first number
   or formula to its right, passing over other text) or, failing that, below it.

"""

from __future__ import annotations

from dataclasses import dataclass

from sheetprop.cells import Ref, a1, parse_cell
from sheetprop.grading.conventions import SPEC, Form
from sheetprop.grading.readbook import Formula, StudentBook
from sheetprop.grading.labels import label_text, value_near
from sheetprop.grading.structure import locate_with_labels, same_cell
from sheetprop.grading.vocabulary import label_index, read_label


@dataclass(frozen=True)
class Location:
    cell: Ref
    how: str  # "name", "map", "label 'net h1' at Sheet1!A5", "structure"
    form: Form = SPEC  # the form the student writes it in (`sheetprop.grading.conventions`)

    @property
    def ref(self) -> str:
        return str(self.cell)


# ---------------------------------------------------------------- locating


def locate(book: StudentBook, names: list[str], cell_map: dict | None = None, *, sol=None, deps=None, values=None,
           table=None) -> dict[str, Location]:
    """Where each quantity is; names not found are left out. With the solution `sol`, the book's
    dependencies and the engine's values, quantities are found by structure too
    (`sheetprop.grading.structure`), before labels."""
    found: dict[str, Location] = {}
    for name in names:
        target = book.names.get(name.lower())
        cell = Ref.parse(target) if target else None
        if cell and cell.sheet in book.sheets:
            found[name] = Location(cell, "name")
    for name, (sheet, ref) in (cell_map or {}).items():
        if name in found or name not in names:
            continue
        cell = Ref.parse(ref, sheet or book.sheets[0])
        if cell and cell.sheet in book.sheets:
            found[name] = Location(cell, "map")
    if sol is not None and deps is not None:
        more = locate_with_labels(book, sol, deps, values or {}, {n: loc.cell for n, loc in found.items()}, table)
        found.update((name, Location(cell, how, form)) for name, (cell, how, form) in more.items() if name in names)
    taken = {loc.cell for loc in found.values()}
    index = label_index(names)
    order = {s: i for i, s in enumerate(book.sheets)}
    texts = sorted(((k, v) for k, v in book.cells.items() if isinstance(v, str) and not isinstance(v, Formula)),
                   key=lambda kv: (order.get(kv[0].sheet, 0), kv[0].row, kv[0].col))
    for label, text in texts:
        labelled = read_label(label_text(book, label, text), index)
        if labelled is None or labelled in found:
            continue
        spot = value_near(book, label, index)
        if spot and spot not in taken:
            found[labelled] = Location(spot, f"label {text.strip()!r} at {label}")
            taken.add(spot)
    if sol is not None:
        for q in sol.graph:  # one cell for a quantity and its one input under another name
            if q.name not in found and same_cell(sol, q) and q.inputs[0] in found:
                found[q.name] = found[q.inputs[0]]
    return found


def map_problem(book: StudentBook, name: str, cell_map: dict) -> str | None:
    """Why a mapped cell could not be used in this book (its sheet is missing)."""
    if name not in cell_map:
        return None
    sheet, ref = cell_map[name]
    if sheet and sheet not in book.sheets:
        return f"the map points to {sheet}!{ref}, but this file has no sheet {sheet!r}"
    return None


def parse_map(text: str, names: list[str], where: str = "map") -> dict[str, tuple[str | None, str]]:
    """A YAML map `name: Sheet!B7` → {name: (sheet or None, "B7")}; ValueError with one line."""
    import difflib

    from sheetprop.model.spec import load_yaml

    raw = load_yaml(text, where)  # a SpecError is a ValueError
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must map names to cells, e.g. `net_h1: Sheet1!B7`")
    lower = {n.lower(): n for n in names}
    result = {}
    for key, value in raw.items():
        name = lower.get(str(key).lower())
        if name is None:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"{where}: {key}: not a quantity of this spec{hint}")
        where_ = parse_cell(str(value)) if isinstance(value, str) else None
        if where_ is None:
            raise ValueError(f"{where}: {key}: {value!r} is not one cell like Sheet1!B7 or B7")
        sheet, row, col = where_
        result[name] = (sheet, a1(row, col))
    return result
