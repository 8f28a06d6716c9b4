"""Which cells each formula of a student's workbook uses, read with openpyxl's tokenizer.

`Dependencies(book)` gives, for every formula cell, its direct precedents (cells it refers
to, defined names followed to their cells, ranges of up to MAX_EXPANDED cells expanded),
its shape (the formula with every relative reference written as an offset, R1C1 style, so
that one formula copied down a column has one shape), and whether it is a copy of a
single cell (`=B49`, `=$B$5`) or a constant (`=0.5`). `sources(cell, stop)` follows
precedents through cells not in `stop`, which is how a folded formula is traced back to
the quantities it really uses.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from xlsxwriter.utility import xl_cell_to_rowcol  # type: ignore[import-untyped]

from sheetprop.cells import Ref
from sheetprop.engines.screen import function_name
from sheetprop.grading.readbook import Formula, StudentBook

MAX_EXPANDED = 400  # cells of one range followed as precedents (SUM(B2:B5)); larger ranges are left out
MAX_SOURCES = 5000  # cells one trace may visit

_CELL = re.compile(r"^(\$?)([A-Za-z]{1,3})(\$?)(\d+)$")
_NUMBER = re.compile(r"^=\s*[-+]?\s*(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")


class Dependencies:
    def __init__(self, book: StudentBook):
        self.book = book
        self.precedents: dict[Ref, tuple[Ref, ...]] = {}
        self.shapes: dict[Ref, str] = {}
        self.functions: dict[Ref, tuple[str, ...]] = {}
        names = {name: Ref.parse(text) for name, text in book.names.items()}
        self.names = {name.lower(): ref for name, ref in names.items()}
        for cell, raw in book.cells.items():
            if isinstance(raw, Formula):
                refs, shape, functions = _parse(str(raw), cell, names)
                self.precedents[cell] = refs
                self.shapes[cell] = shape
                self.functions[cell] = functions
        self.users: dict[Ref, list[Ref]] = {}
        for cell, refs in self.precedents.items():
            for ref in refs:
                self.users.setdefault(ref, []).append(cell)

    def is_formula(self, cell: Ref) -> bool:
        return cell in self.precedents

    def copy_of(self, cell: Ref) -> Ref | None:
        """The one cell a formula such as `=B49`, `=$B$5` or `=w_1` (a defined name) copies, else None."""
        raw = self.book.cells.get(cell)
        if not isinstance(raw, Formula):
            return None
        text = str(raw)[1:].strip().lstrip("+")
        if not text or "(" in text:
            return None
        return Ref.parse(text, cell.sheet) or self.names.get(text.lower())

    def is_constant(self, cell: Ref) -> bool:
        """A number typed as a formula (`=0.5`)."""
        raw = self.book.cells.get(cell)
        return isinstance(raw, Formula) and bool(_NUMBER.match(str(raw)))

    def origin(self, cell: Ref) -> Ref:
        """Where a chain of copies (`=B49` → B49 …) ends."""
        seen = {cell}
        while (target := self.copy_of(cell)) is not None and target not in seen:
            seen.add(target)
            cell = target
        return cell

    def sources(self, cell: Ref, stop: Iterable[Ref] | set[Ref]) -> set[Ref]:
        """The cells of `stop` (and the typed numbers) that `cell`'s formula uses, following the
        formulas of every other cell it uses."""
        stop = stop if isinstance(stop, (set, frozenset)) else set(stop)
        found: set[Ref] = set()
        seen: set[Ref] = set()
        todo = list(self.precedents.get(cell, ()))
        while todo and len(seen) < MAX_SOURCES:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            if ref in stop or ref not in self.precedents:
                found.add(ref)
            else:
                todo.extend(self.precedents[ref])
        return found


def _parse(formula: str, at: Ref, names: dict[str, Ref | None]) -> tuple[tuple[Ref, ...], str, tuple[str, ...]]:
    """(precedents, shape, functions) of one formula written in cell `at`."""
    from openpyxl.formula.tokenizer import Token, Tokenizer

    try:
        tokens = Tokenizer(formula).items
    except Exception:  # noqa: BLE001 - a formula the tokenizer cannot read: no precedents
        return (), formula, ()
    refs: list[Ref] = []
    shape: list[str] = []
    functions: list[str] = []
    for token in tokens:
        value = token.value
        if token.type == Token.FUNC and token.subtype == Token.OPEN:
            functions.append(function_name(value[:-1]))
            shape.append(functions[-1] + "(")
        elif token.type == Token.OPERAND and token.subtype == Token.RANGE:
            found, relative = _reference(value, at, names)
            refs.extend(found)
            shape.append(relative)
        elif token.type == Token.WSPACE:
            continue
        else:
            shape.append(value.upper() if token.type == Token.OPERAND and token.subtype == Token.NUMBER else value)
    return tuple(dict.fromkeys(refs)), "".join(shape), tuple(functions)


def _reference(text: str, at: Ref, names: dict[str, Ref | None]) -> tuple[list[Ref], str]:
    """The cells one reference operand covers, and its shape (relative parts as offsets)."""
    sheet, _, ref = text.rpartition("!")
    sheet = sheet.strip("'").replace("''", "'") or at.sheet
    parts = ref.split(":")
    cells = [_cell(p) for p in parts]
    if all(c is not None for c in cells):
        corners = [(r, c) for (_, r, _, c) in cells]  # type: ignore[misc]
        shape = ":".join(_offset(p, at) for p in cells)  # type: ignore[arg-type]
        prefix = "" if sheet == at.sheet else f"{sheet}!"
        if len(corners) == 1:
            return [Ref(sheet, *corners[0])], prefix + shape
        (r1, c1), (r2, c2) = corners
        if (abs(r2 - r1) + 1) * (abs(c2 - c1) + 1) > MAX_EXPANDED:
            return [], prefix + shape
        return [Ref(sheet, r, c) for r in range(min(r1, r2), max(r1, r2) + 1)
                for c in range(min(c1, c2), max(c1, c2) + 1)], prefix + shape
    target = names.get(ref.lower())
    return ([target] if target is not None else []), ref.lower()


@lru_cache(maxsize=4096)
def _cell(text: str) -> tuple[bool, int, bool, int] | None:
    m = _CELL.match(text)
    if not m:
        return None
    row, col = xl_cell_to_rowcol((m.group(2) + m.group(4)).upper())
    return bool(m.group(3)), row, bool(m.group(1)), col


def _offset(cell: tuple[bool, int, bool, int], at: Ref) -> str:
    absolute_row, row, absolute_col, col = cell
    r = f"R{row + 1}" if absolute_row else f"R[{row - at.row}]"
    c = f"C{col + 1}" if absolute_col else f"C[{col - at.col}]"
    return r + c
