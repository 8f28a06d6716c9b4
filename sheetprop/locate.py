"""Find each quantity in a student's workbook: by defined name, by map, or by a label beside it.

1. A defined name (`net_h1`, any case) on one cell: the exercise's names, or the student's.
2. The map file an instructor wrote for a layout: `net_h1: Sheet1!B7`.
3. A label: a text cell that reads like the name ("net h1", "NET_H1", "E total",
   "new w5", "w5", "∂E/∂w5", "δo1", "target o1"), with the value beside it (the first number
   or formula to its right, passing over other text) or, failing that, below it.

The book is read once with `readbook.load` (the container is checked first); nothing is
ever written back and no macro is run.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from sheetprop.limits import MAX_CELLS, MAX_UNCOMPRESSED
from sheetprop.screen import DATA_TABLE
from sheetprop.readbook import (CellCount, Container, WorkbookError, check_container,
                                load, sheet_cells)

MAX_RIGHT = 6  # columns to the right of a label where its value may sit
MAX_DOWN = 3  # rows below a label (a header row over its values)

SPREAD = 10  # a sheet's cells may span at most this many positions per cell allowed (--max-cells)


class Formula(str):
    """The text of a formula cell, with its leading `=`."""


@dataclass
class StudentBook:
    path: str
    sheets: list[str]
    cells: dict[tuple[str, int, int], object]  # (sheet, row, col) 1-based → number, text, bool or Formula
    cached: dict[tuple[str, int, int], object]  # stored results of formula cells, as the file holds them
    names: dict[str, str] = field(default_factory=dict)  # defined name (lower case) → what it refers to
    container: Container = field(default_factory=Container)


@dataclass(frozen=True)
class Location:
    sheet: str
    row: int  # 1-based
    col: int  # 1-based
    how: str  # "name", "map", "label 'net h1' at Sheet1!A5"

    @property
    def a1(self) -> str:
        return a1(self.row, self.col)

    @property
    def ref(self) -> str:
        return f"{self.sheet}!{self.a1}"

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.sheet, self.row, self.col)


def a1(row: int, col: int) -> str:
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row}"


_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Za-z]{1,3})\$?(\d+)$")
_A1 = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


def parse_ref(text: str) -> tuple[str | None, int, int] | None:
    """`Sheet1!$B$7` or `'My sheet'!B7` or `B7` → (sheet or None, row, col); None if not one cell."""
    text = text.strip().lstrip("=")
    m = _REF.match(text)
    if m:
        sheet = (m.group(1) or "").replace("''", "'") or m.group(2)
        letters, row = m.group(3), m.group(4)
    else:
        m = _A1.match(text)
        if not m:
            return None
        sheet, (letters, row) = None, m.groups()
    col = 0
    for ch in letters.upper():
        col = col * 26 + ord(ch) - 64
    return sheet, int(row), col


# ---------------------------------------------------------------- reading


def read_book(path: str | Path, max_uncompressed: int = MAX_UNCOMPRESSED, max_cells: int = MAX_CELLS) -> StudentBook:
    """Every cell the file holds, the stored results of formulas and the defined names.

    Sheets are parsed lazily while their cells are read, so a damaged sheet fails here:
    every failure is a one-line WorkbookError. openpyxl's warnings are kept quiet.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read_book(path, max_uncompressed, max_cells)
    except WorkbookError:
        raise
    except RecursionError:
        raise WorkbookError(f"{path}: cannot read the workbook (nested too deeply); open it and save it again "
                            "as .xlsx") from None
    except Exception as exc:  # noqa: BLE001 - malformed XML inside a sheet, bad cell values, …
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise WorkbookError(f"{path}: cannot read the workbook ({reason}); open it and save it again as .xlsx") from None


def _read_book(path: str | Path, max_uncompressed: int, max_cells: int) -> StudentBook:
    book = StudentBook(str(path), [], {}, {}, container=check_container(path, max_uncompressed))
    count = CellCount(path, max_cells)
    wb = load(path, read_only=True, checked=True)
    try:
        book.sheets = list(wb.sheetnames)
        for ws in wb.worksheets:
            box = Extent(ws.title)
            for cell in sheet_cells(ws):
                count.add(ws.title)
                box.add(cell["row"], cell["column"])
                value = cell["value"]
                if value is None:
                    continue
                if cell["data_type"] == "f":
                    value = _formula(value)
                book.cells[(ws.title, cell["row"], cell["column"])] = value
            box.check(path, count.limit * SPREAD)
            for name, dn in getattr(ws, "defined_names", {}).items():
                book.names.setdefault(name.lower(), dn.attr_text or "")
        for name, dn in wb.defined_names.items():
            book.names[name.lower()] = dn.attr_text or ""  # workbook scope wins over sheet scope
    finally:
        wb.close()
    formulas = {k for k, v in book.cells.items() if isinstance(v, Formula)}
    if formulas:
        wb = load(path, read_only=True, data_only=True, checked=True)
        try:
            for ws in wb.worksheets:
                for cell in sheet_cells(ws):
                    key = (ws.title, cell["row"], cell["column"])
                    if key in formulas and cell["value"] is not None:
                        book.cached[key] = cell["value"]
        finally:
            wb.close()
    return book


class Extent:
    """The rectangle a sheet's cells span: an engine may fill every position of it."""

    def __init__(self, sheet: str):
        self.sheet, self.top, self.bottom, self.left, self.right = sheet, None, 0, None, 0

    def add(self, row: int, col: int) -> None:
        self.top = row if self.top is None else min(self.top, row)
        self.left = col if self.left is None else min(self.left, col)
        self.bottom, self.right = max(self.bottom, row), max(self.right, col)

    def check(self, path, limit: int) -> None:
        if self.top is None:
            return
        area = (self.bottom - self.top + 1) * (self.right - self.left + 1)
        if area > limit:
            span = f"{a1(self.top, self.left)}:{a1(self.bottom, self.right)}"
            raise WorkbookError(
                f"{path}: the cells of sheet {self.sheet!r} spread over {span} ({area:,} positions, which an engine "
                "would fill); delete the stray cells far from the work (Ctrl+End shows the last one)")


def _formula(value) -> Formula:
    """A formula cell's text with its `=`; an array formula's text; a data table is `=TABLE()`."""
    text = getattr(value, "text", value)  # ArrayFormula has .text
    if not isinstance(text, str):
        return Formula(DATA_TABLE)  # a What-If data table (DataTableFormula): no formula text
    return Formula(text if text.startswith("=") else "=" + text)


# ---------------------------------------------------------------- labels

_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_GREEK = {"δ": "delta", "Δ": "delta", "η": "eta", "∂": "d", "α": "alpha"}


def normalise(text: str) -> str:
    """Lower case, letters and digits only: "∂E/∂w5" → "dedw5", "w5⁺" → "w5new", "NET_H1" → "neth1"."""
    text = text.strip().translate(_SUBSCRIPTS)
    for greek, word in _GREEK.items():
        text = text.replace(greek, word)
    text = re.sub(r"(⁺|\+|'|’|\*)\s*:?\s*$", " new", text)
    return re.sub(r"[^a-z0-9]", "", text.lower())


def aliases(name: str) -> set[str]:
    """Every normalised way a student may label the quantity `name`."""
    m = re.fullmatch(r"(.*?)(_s\d+)?", name)
    base, suffix = m.group(1), normalise(m.group(2) or "")
    forms = {normalise(base)}
    parts = base.split("_")
    head, rest = parts[0], "".join(parts[1:])
    if base == "eta":
        forms |= {"learningrate", "learningrateeta", "lr", "alpha"}
    elif head in ("w", "b") and rest:
        word = "weight" if head == "w" else "bias"
        forms |= {f"{word}{rest}", f"{word}{head}{rest}", f"{word}of{rest}"}
    elif head == "i":
        forms |= {f"input{rest}", f"inputi{rest}", f"x{rest}"}
    elif head == "target":
        index = rest.lstrip("o")
        forms |= {f"targetof{rest}", f"t{rest}", f"y{rest}", f"target{index}", f"t{index}", f"y{index}"}
    elif head == "net":
        forms |= {f"{rest}net", f"netinput{rest}", f"netinputof{rest}", f"netof{rest}"}
    elif head == "out":
        forms |= {f"{rest}out", f"output{rest}", f"outputof{rest}", f"outof{rest}"}
    elif base == "E_total":
        forms |= {"totalerror", "totalloss", "errortotal", "losstotal", "batchloss", "etot"}
    elif head == "E" and rest:
        forms |= {f"error{rest}", f"loss{rest}", f"lossterm{rest}", f"losstermof{rest}"}
    elif base == "E":
        forms |= {"error", "loss"} if suffix else set()
    elif base.startswith("dE_dout_"):
        lab = normalise(base[len("dE_dout_"):])
        forms |= {f"dedout{lab}", f"dedoutof{lab}", f"dedout{lab}"}
    elif base.startswith("dout_dnet_"):
        lab = normalise(base[len("dout_dnet_"):])
        forms |= {f"dout{lab}dnet{lab}", f"doutdnetof{lab}"}
        if suffix:  # ∂out_o1_s2/∂net_o1_s2
            return {form + suffix for form in forms} | {f"dout{lab}{suffix}dnet{lab}{suffix}"}
    elif head == "delta":
        forms |= {f"deltaof{rest}", f"dednet{rest}", f"delta{rest}"}
    elif head in ("grad", "new"):
        sym = "".join(parts[1:])  # w5, b1, bh1
        if head == "grad":
            forms |= {f"gradient{sym}", f"gradientof{sym}", f"ded{sym}", f"grad{sym}"}
        else:
            forms |= {f"{sym}new", f"updated{sym}", f"{sym}updated", f"newweight{sym}"}
    return {form + suffix for form in forms if form}


def label_index(names: Iterable[str]) -> dict[str, str]:
    """Normalised label → the one name it stands for (labels that fit two names are dropped)."""
    owners: dict[str, set[str]] = {}
    for name in names:
        for form in aliases(name):
            owners.setdefault(form, set()).add(name)
    return {form: next(iter(who)) for form, who in owners.items() if len(who) == 1}


def is_value(raw) -> bool:
    return isinstance(raw, Formula) or (isinstance(raw, (int, float)) and not isinstance(raw, bool))


def _value_near(book: StudentBook, sheet: str, row: int, col: int, index: dict[str, str]):
    """The value cell of a label: beside it to the right, else below it."""
    for c in range(col + 1, col + 1 + MAX_RIGHT):
        raw = book.cells.get((sheet, row, c))
        if raw is None:
            continue
        if is_value(raw):
            return row, c
        if isinstance(raw, str) and normalise(raw) in index:
            break  # the next quantity's label: this one has no value beside it
    for r in range(row + 1, row + 1 + MAX_DOWN):
        raw = book.cells.get((sheet, r, col))
        if raw is None:
            continue
        return (r, col) if is_value(raw) else None
    return None


# ---------------------------------------------------------------- locating


def locate(book: StudentBook, names: list[str], cell_map: dict | None = None) -> dict[str, Location]:
    """Where each quantity is; names not found are left out."""
    found: dict[str, Location] = {}
    for name in names:
        target = book.names.get(name.lower())
        where = parse_ref(target) if target else None
        if where and where[0] in book.sheets:
            found[name] = Location(where[0], where[1], where[2], "name")
    for name, (sheet, ref) in (cell_map or {}).items():
        if name in found or name not in names:
            continue
        where = parse_ref(ref)
        sheet = sheet or book.sheets[0]
        if where and sheet in book.sheets:
            found[name] = Location(sheet, where[1], where[2], "map")
    taken = {loc.key for loc in found.values()}
    index = label_index(names)
    order = {s: i for i, s in enumerate(book.sheets)}
    texts = sorted(((k, v) for k, v in book.cells.items() if isinstance(v, str) and not isinstance(v, Formula)),
                   key=lambda kv: (order.get(kv[0][0], 0), kv[0][1], kv[0][2]))
    for (sheet, row, col), text in texts:
        name = index.get(normalise(text))
        if name is None or name in found:
            continue
        spot = _value_near(book, sheet, row, col, index)
        if spot and (sheet, *spot) not in taken:
            found[name] = Location(sheet, spot[0], spot[1], f"label {text.strip()!r} at {sheet}!{a1(row, col)}")
            taken.add((sheet, *spot))
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

    from sheetprop.spec import load_yaml

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
        where_ = parse_ref(str(value)) if isinstance(value, str) else None
        if where_ is None:
            raise ValueError(f"{where}: {key}: {value!r} is not one cell like Sheet1!B7 or B7")
        sheet, row, col = where_
        result[name] = (sheet, a1(row, col))
    return result
