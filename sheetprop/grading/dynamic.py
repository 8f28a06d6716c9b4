"""Where a dynamic reference points: the cells INDEX, OFFSET and INDIRECT fetch in each formula.

Real students fetch a block's weights with `=INDEX(B:B, 14+INT((ROW()-14)/8)*8)*J15`: the text
names a whole column, the formula uses one cell of it. Read statically, such a formula uses
nothing, and the grader cannot see that it computes a net input from a weight. So each call's
position arguments (the row and column of INDEX, the offsets and size of OFFSET, the text of
INDIRECT) are written out with every cell they read replaced by the value the engine gave it,
`ROW()` and `COLUMN()` by the host cell's own place, and evaluated together as constants
(`sheetprop.engines.constants`); what they give says which cell, or which few, the call fetches.

A call whose arguments read a range, or fetch more than `MAX_CELLS` cells, or whose result is
not a place in the workbook, is left unresolved: the formula keeps only its static precedents.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from xlsxwriter.utility import xl_cell_to_rowcol  # type: ignore[import-untyped]

from sheetprop.cells import Ref
from sheetprop.engines.screen import function_name

FUNCTIONS = ("INDEX", "OFFSET", "INDIRECT")
MAX_CELLS = 400  # cells one resolved call may fetch (an OFFSET of a block); more are not followed
LAST_ROW, LAST_COL = 1_048_575, 16_383  # 0-based

_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")
_COL = re.compile(r"^\$?([A-Za-z]{1,3})$")
_ROW = re.compile(r"^\$?(\d+)$")


@dataclass(frozen=True)
class Call:
    """One call of a dynamic function in the formula of `host`: its name and its arguments' tokens."""

    host: Ref
    function: str
    args: tuple[tuple, ...]
    index: int = 0  # the how-manieth dynamic call of the formula, counted where each opens


@dataclass(frozen=True)
class Area:
    sheet: str
    top: int
    left: int
    bottom: int
    right: int

    def cells(self) -> list[Ref] | None:
        count = (self.bottom - self.top + 1) * (self.right - self.left + 1)
        if count <= 0 or count > MAX_CELLS:
            return None
        return [Ref(self.sheet, r, c) for r in range(self.top, self.bottom + 1)
                for c in range(self.left, self.right + 1)]


def calls(tokens: Sequence, host: Ref) -> list[Call]:
    """The dynamic calls among a formula's tokens (openpyxl's), in the order they close."""
    from openpyxl.formula.tokenizer import Token

    toks = [t for t in tokens if t.type != Token.WSPACE]
    found: list[Call] = []
    stack: list[tuple[str, int, int | None]] = []  # (function, position of its opening, index if dynamic)
    opened = 0
    for pos, token in enumerate(toks):
        if token.type == Token.FUNC and token.subtype == Token.OPEN:
            name = function_name(token.value[:-1])
            stack.append((name, pos, opened if name in FUNCTIONS else None))
            opened += name in FUNCTIONS
        elif token.type == Token.FUNC and token.subtype == Token.CLOSE and stack:
            name, start, index = stack.pop()
            if index is not None:
                found.append(Call(host, name, _arguments(toks[start + 1:pos]), index))
    return found


def _arguments(inner: Sequence) -> tuple[tuple, ...]:
    """A call's tokens split into its arguments at its own commas."""
    args: list[list] = [[]]
    depth = 0
    for token in inner:
        if token.type in ("FUNC", "PAREN", "ARRAY"):
            depth += 1 if token.subtype == "OPEN" else -1
        if depth == 0 and token.type == "SEP" and token.subtype == "ARG":
            args.append([])
        else:
            args[-1].append(token)
    return tuple(tuple(a) for a in args)


def resolve(found: Sequence[Call], value_of: Callable[[Ref], object],
            names: Mapping[str, Ref | None]) -> dict[tuple[Ref, int], list[Ref]]:
    """The cells each call fetches, by (host, index), from its arguments evaluated as constants."""
    from sheetprop.engines.constants import evaluate_constants

    plans: list[tuple[Call, Area | None, list[int]]] = []
    texts: list[str] = []
    for call in found:
        base = _area(call.args[0], call.host, names) if call.function != "INDIRECT" else None
        if call.function != "INDIRECT" and base is None:
            continue
        slots = []
        for arg in call.args[1:] if call.function != "INDIRECT" else call.args[:1]:
            text = _constant(arg, call.host, value_of, names)
            if text is None:
                break
            slots.append(len(texts))
            texts.append("=" + text if text else "=0")
        else:
            plans.append((call, base, slots))
    values = evaluate_constants(texts)
    resolved: dict[tuple[Ref, int], list[Ref]] = {}
    for call, base, slots in plans:
        args = [values[k] for k in slots]
        area = _fetched(call, base, args)
        cells = area.cells() if area is not None else None
        if cells:
            resolved[(call.host, call.index)] = cells
    return resolved


def _fetched(call: Call, base: Area | None, args: list[object]) -> Area | None:
    """The area a call fetches, from its base area and its evaluated arguments."""
    numbers = [_integer(a) for a in args]
    if call.function == "INDIRECT":
        text = args[0] if args else None
        if not isinstance(text, str) or len(args) > 1:
            return None
        return _area_text(text.strip(), call.host)
    assert base is not None
    if call.function == "INDEX":
        if not numbers or any(n is None or n < 0 for n in numbers) or len(numbers) > 2:
            return None
        if len(numbers) == 1:
            index = numbers[0]
            assert index is not None
            if base.left == base.right:
                row, col = index, 1
            elif base.top == base.bottom:
                row, col = 1, index
            else:
                return None
        else:
            row, col = numbers  # type: ignore[assignment]
        if row == 0 or col == 0:
            return None  # a whole row or column of the area
        top, left = base.top + row - 1, base.left + col - 1
        if top > base.bottom or left > base.right:
            return None
        return Area(base.sheet, top, left, top, left)
    # OFFSET(base, rows, cols, [height], [width])
    if len(numbers) < 2 or any(n is None for n in numbers):
        return None
    rows, cols = numbers[0], numbers[1]
    assert rows is not None and cols is not None
    height = numbers[2] if len(numbers) > 2 else base.bottom - base.top + 1
    width = numbers[3] if len(numbers) > 3 else base.right - base.left + 1
    if not height or not width or height < 0 or width < 0:
        return None
    top, left = base.top + rows, base.left + cols
    if top < 0 or left < 0 or top + height - 1 > LAST_ROW or left + width - 1 > LAST_COL:
        return None
    return Area(base.sheet, top, left, top + height - 1, left + width - 1)


def _integer(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


def _constant(arg: Sequence, host: Ref, value_of: Callable[[Ref], object],
              names: Mapping[str, Ref | None]) -> str | None:
    """An argument's text with every cell replaced by its value and ROW()/COLUMN() by the host's
    place; None when it reads a range, a nested dynamic call or a value that is an error."""
    from openpyxl.formula.tokenizer import Token

    out: list[str] = []
    k = 0
    while k < len(arg):
        token = arg[k]
        if token.type == Token.FUNC and token.subtype == Token.OPEN:
            name = function_name(token.value[:-1])
            if name in FUNCTIONS:
                return None  # a call inside a call: not followed
            if name in ("ROW", "COLUMN", "ROWS", "COLUMNS"):
                inner = arg[k + 1] if k + 1 < len(arg) else None
                area = None
                if inner is not None and inner.type == Token.OPERAND:
                    area = _area((inner,), host, names)
                    k += 1
                elif name in ("ROWS", "COLUMNS"):
                    return None
                if area is None:
                    area = Area(host.sheet, host.row, host.col, host.row, host.col)
                closing = arg[k + 1] if k + 1 < len(arg) else None
                if closing is None or closing.subtype != Token.CLOSE:
                    return None
                out.append(str({"ROW": area.top + 1, "COLUMN": area.left + 1, "ROWS": area.bottom - area.top + 1,
                                "COLUMNS": area.right - area.left + 1}[name]))
                k += 2
                continue
            out.append(token.value)
        elif token.type == Token.OPERAND and token.subtype == Token.RANGE:
            area = _area((token,), host, names)
            if area is None or (area.top, area.left) != (area.bottom, area.right):
                return None
            text = _literal(value_of(Ref(area.sheet, area.top, area.left)))
            if text is None:
                return None
            out.append(text)
        else:
            out.append(token.value)
        k += 1
    return "".join(out)


def _literal(value: object) -> str | None:
    if value is None:
        return "0"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(float(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    return None  # an error value


def _area(arg: Sequence, host: Ref, names: Mapping[str, Ref | None]) -> Area | None:
    """The area one reference operand covers (a cell, a range, whole columns or rows, a name)."""
    from openpyxl.formula.tokenizer import Token

    if len(arg) != 1 or arg[0].type != Token.OPERAND or arg[0].subtype != Token.RANGE:
        return None
    text = arg[0].value
    named = names.get(text.lower())
    if named is not None:
        return Area(named.sheet, named.row, named.col, named.row, named.col)
    return _area_text(text, host)


def _area_text(text: str, host: Ref) -> Area | None:
    sheet, bang, ref = text.rpartition("!")
    sheet = sheet.strip("'").replace("''", "'") if bang else host.sheet
    parts = ref.split(":")
    if len(parts) > 2 or not sheet:
        return None
    first, last = _corner(parts[0]), _corner(parts[-1])
    if first is None or last is None:
        return None
    (r1, c1), (r2, c2) = first, last
    if (r1 is None) != (r2 is None) or (c1 is None) != (c2 is None):
        return None
    top, bottom = (0, LAST_ROW) if r1 is None or r2 is None else (min(r1, r2), max(r1, r2))
    left, right = (0, LAST_COL) if c1 is None or c2 is None else (min(c1, c2), max(c1, c2))
    return Area(sheet, top, left, bottom, right)


def _corner(text: str) -> tuple[int | None, int | None] | None:
    """(row, col) of one side of a reference: a cell, a column (row None) or a row (col None)."""
    if m := _CELL.match(text):
        row, col = xl_cell_to_rowcol((m.group(1) + m.group(2)).upper())
        return row, col
    if m := _COL.match(text):
        return None, xl_cell_to_rowcol(m.group(1).upper() + "1")[1]
    if m := _ROW.match(text):
        return int(m.group(1)) - 1, None
    return None
