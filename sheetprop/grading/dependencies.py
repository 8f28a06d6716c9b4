"""Which cells each formula of a student's workbook uses, read with openpyxl's tokenizer.

`Dependencies(book)` gives, for every formula cell, its direct precedents (cells it refers
to, defined names followed to their cells, ranges of up to MAX_EXPANDED cells expanded),
its shape (the formula with every relative reference written as an offset, R1C1 style, so
that one formula copied down a column has one shape), and whether it is a copy of a
single cell (`=B49`, `=$B$5`) or a constant (`=0.5`). Given the engine's values, the cells
that INDEX, OFFSET and INDIRECT fetch are precedents too (`sheetprop.grading.dynamic`).

`sources(cell, stop)` follows precedents through cells not in `stop`, which is how a folded
formula is traced back to the quantities it really uses; `Sources` does the same for every
cell at once, sharing what each precedent reaches, as the locator needs it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Mapping

from xlsxwriter.utility import xl_cell_to_rowcol  # type: ignore[import-untyped]

from sheetprop.cells import Ref
from sheetprop.engines.screen import function_name
from sheetprop.grading import dynamic
from sheetprop.grading import terms as terms_
from sheetprop.grading.readbook import Formula, StudentBook
from sheetprop.engines.tokens import tokenize

MAX_EXPANDED = 400  # cells of one range followed as precedents (SUM(B2:B5)); larger ranges are left out
MAX_SOURCES = 5000  # cells one trace may visit

_CELL = re.compile(r"^(\$?)([A-Za-z]{1,3})(\$?)(\d+)$")
_NUMBER = re.compile(r"^=\s*[-+]?\s*(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")


class Dependencies:
    def __init__(self, book: StudentBook, values: Mapping[tuple[str, str], object] | None = None):
        """`values`: the engine's value of each formula cell, to resolve dynamic references with."""
        self.book = book
        self.precedents: dict[Ref, tuple[Ref, ...]] = {}
        self.shapes: dict[Ref, str] = {}
        self.functions: dict[Ref, tuple[str, ...]] = {}
        names = {name: Ref.parse(text) for name, text in book.names.items()}
        self.names = {name.lower(): ref for name, ref in names.items()}
        calls: list[dynamic.Call] = []
        self.fetched: dict[tuple[Ref, int], list[Ref]] = {}  # (host, k) → the cells its k-th dynamic call fetches
        self._terms: dict[Ref, list | None] = {}
        self.located: dict[tuple, tuple] = {}  # `structure.locate_with_labels` of this book, once per question
        self._fetched_by_host: dict[Ref, dict[int, list[Ref]]] = {}
        for cell, raw in book.cells.items():
            if isinstance(raw, Formula):
                refs, shape, functions = _parse(str(raw), cell, names, calls if values is not None else None)
                self.precedents[cell] = refs
                self.shapes[cell] = shape
                self.functions[cell] = functions
        if calls and values is not None:
            def value_of(ref: Ref) -> object:
                raw = book.cells.get(ref)
                return values.get(ref.key) if isinstance(raw, Formula) else raw

            self.fetched = dynamic.resolve(calls, value_of, self.names)
            for (host, k), cells in self.fetched.items():
                self.precedents[host] = tuple(dict.fromkeys((*self.precedents[host], *cells)))
                self._fetched_by_host.setdefault(host, {})[k] = cells
        self.users: dict[Ref, list[Ref]] = {}
        for cell, refs in self.precedents.items():
            for ref in refs:
                self.users.setdefault(ref, []).append(cell)

    def is_formula(self, cell: Ref) -> bool:
        return cell in self.precedents

    def terms(self, cell: Ref) -> list[terms_.Term] | None:
        """The formula of `cell` as a sum of products of cells (`sheetprop.grading.terms`), or None."""
        if cell not in self._terms:
            raw = self.book.cells.get(cell)
            try:
                tokens = tokenize(str(raw)) if isinstance(raw, Formula) else None
            except Exception:  # noqa: BLE001 - a formula the tokenizer cannot read
                tokens = None
            fetched = self._fetched_by_host.get(cell, {})
            self._terms[cell] = None if tokens is None else terms_.expand(tokens, cell, fetched, self.cells_of)
        return self._terms[cell]

    def cells_of(self, text: str, at: Ref) -> list[Ref] | None:
        """The cells one reference operand written in `at` covers (a name: its cell), at most MAX_EXPANDED."""
        found, _ = _reference(text, at, self.names)
        return found or None

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


def _parse(formula: str, at: Ref, names: dict[str, Ref | None], calls: list | None = None) \
        -> tuple[tuple[Ref, ...], str, tuple[str, ...]]:
    """(precedents, shape, functions) of one formula written in cell `at`; its dynamic calls are
    added to `calls` when it is given."""
    from openpyxl.formula.tokenizer import Token

    try:
        tokens = tokenize(formula)
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
    if calls is not None and any(f in dynamic.FUNCTIONS for f in functions):
        calls.extend(dynamic.calls(tokens, at))
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


OVERFLOW = Ref("", -1, -1)  # stands for "more sources than MAX_SHARED_SOURCES": no quantity's formula
MAX_SHARED_SOURCES = 300


class Sources:
    """`Dependencies.sources(cell, stop)` for many cells and a growing `stop`, walked once.

    Each formula's sources are the union of its precedents' (a stop cell or a typed number stands
    for itself), computed once and kept as a bit set; when a cell becomes a stop (a quantity was
    found there), only what was computed through it is forgotten. So locating a hundred
    quantities among thousands of formulas walks the workbook's precedents about once, not once
    per candidate. A formula that leads back to more than MAX_SHARED_SOURCES cells gets {OVERFLOW}.
    """

    def __init__(self, deps: Dependencies, stop: Iterable[Ref] = ()):
        self.deps = deps
        self.stop: set[Ref] = set()
        self.stop_mask = 0
        self._index: dict[Ref, int] = {OVERFLOW: 0}
        self._cells: list[Ref] = [OVERFLOW]
        self._memo: dict[Ref, int] = {}
        for cell in stop:
            self.add(cell)

    def bit(self, cell: Ref) -> int:
        index = self._index.get(cell)
        if index is None:
            index = self._index[cell] = len(self._cells)
            self._cells.append(cell)
        return 1 << index

    def bits(self, cells: Iterable[Ref]) -> int:
        mask = 0
        for cell in cells:
            mask |= self.bit(cell)
        return mask

    def cells(self, mask: int) -> list[Ref]:
        found = []
        while mask:
            low = mask & -mask
            found.append(self._cells[low.bit_length() - 1])
            mask ^= low
        return found

    def add(self, cell: Ref) -> None:
        """`cell` is a stop from now on."""
        if cell in self.stop:
            return
        self.stop.add(cell)
        self.stop_mask |= self.bit(cell)
        users, memo = self.deps.users, self._memo
        todo = [u for u in users.get(cell, ()) if u in memo]
        while todo:
            user = todo.pop()
            if memo.pop(user, None) is not None:
                todo.extend(u for u in users.get(user, ()) if u in memo)

    def of(self, cell: Ref) -> frozenset[Ref]:
        """The stop cells and typed numbers that `cell`'s formula uses, through every other formula."""
        return frozenset(self.cells(self.mask(cell)))

    @property
    def known(self):
        """`mask` when already worked out (the memo's own lookup, for a caller's inner loop), else None."""
        return self._memo.get

    def mask(self, cell: Ref) -> int:
        """`of(cell)` as a bit set (`bit`)."""
        memo = self._memo
        found = memo.get(cell)
        if found is not None:
            return found
        stop, precedents, bit = self.stop, self.deps.precedents, self.bit
        visiting = {cell}
        stack = [cell]
        while stack:
            top = stack[-1]
            pending = [p for p in precedents.get(top, ()) if p in precedents and p not in stop and p not in memo
                       and p not in visiting]
            if pending:
                visiting.update(pending)
                stack.extend(pending)
                continue
            stack.pop()
            visiting.discard(top)
            mask = 0
            for p in precedents.get(top, ()):
                mask |= bit(p) if p in stop or p not in precedents else memo.get(p, 0)  # a cycle adds nothing
            if mask & 1 or mask.bit_count() > MAX_SHARED_SOURCES:
                mask = 1  # OVERFLOW alone
            memo[top] = mask
        return memo[cell]
