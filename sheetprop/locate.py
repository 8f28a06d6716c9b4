"""Find each quantity in a student's workbook (`readbook.StudentBook`): by defined name, by map,
or by a label beside it.

1. A defined name (`net_h1`, any case) on one cell: the exercise's names, or the student's.
2. The map file an instructor wrote for a layout: `net_h1: Sheet1!B7`.
3. A label: a text cell that reads like the name ("net h1", "NET_H1", "E total",
   "new w5", "w5", "∂E/∂w5", "δo1", "target o1"), with the value beside it (the first number
   or formula to its right, passing over other text) or, failing that, below it.

"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from sheetprop.cells import Ref, a1, parse_cell
from sheetprop.readbook import Formula, StudentBook

MAX_RIGHT = 6  # columns to the right of a label where its value may sit
MAX_DOWN = 3  # rows below a label (a header row over its values)



@dataclass(frozen=True)
class Location:
    cell: Ref
    how: str  # "name", "map", "label 'net h1' at Sheet1!A5", "structure"

    @property
    def ref(self) -> str:
        return str(self.cell)


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


def _value_near(book: StudentBook, label: Ref, index: dict[str, str]) -> Ref | None:
    """The value cell of a label: beside it to the right, else below it."""
    sheet, row, col = label
    for c in range(col + 1, col + 1 + MAX_RIGHT):
        raw = book.cells.get(Ref(sheet, row, c))
        if raw is None:
            continue
        if is_value(raw):
            return Ref(sheet, row, c)
        if isinstance(raw, str) and normalise(raw) in index:
            break  # the next quantity's label: this one has no value beside it
    for r in range(row + 1, row + 1 + MAX_DOWN):
        raw = book.cells.get(Ref(sheet, r, col))
        if raw is None:
            continue
        return Ref(sheet, r, col) if is_value(raw) else None
    return None


# ---------------------------------------------------------------- locating


def locate(book: StudentBook, names: list[str], cell_map: dict | None = None) -> dict[str, Location]:
    """Where each quantity is; names not found are left out."""
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
    taken = {loc.cell for loc in found.values()}
    index = label_index(names)
    order = {s: i for i, s in enumerate(book.sheets)}
    texts = sorted(((k, v) for k, v in book.cells.items() if isinstance(v, str) and not isinstance(v, Formula)),
                   key=lambda kv: (order.get(kv[0].sheet, 0), kv[0].row, kv[0].col))
    for label, text in texts:
        name = index.get(normalise(text))
        if name is None or name in found:
            continue
        spot = _value_near(book, label, index)
        if spot and spot not in taken:
            found[name] = Location(spot, f"label {text.strip()!r} at {label}")
            taken.add(spot)
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
        where_ = parse_cell(str(value)) if isinstance(value, str) else None
        if where_ is None:
            raise ValueError(f"{where}: {key}: {value!r} is not one cell like Sheet1!B7 or B7")
        sheet, row, col = where_
        result[name] = (sheet, a1(row, col))
    return result
