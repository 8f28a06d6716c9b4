"""Keep from the engine what it must never evaluate: formulas that reach outside the workbook.

Before a student's workbook is recomputed, every formula and every defined name is
screened. A formula is held back, with the reason in words, when it

- refers to another workbook or a file (`[1]Sheet1!A1`, `'file:///…'#$Sheet1.A1`), calls
  another program (DDE: `=cmd|' /c calc'!A0`) or uses a table reference (`Table1[x]`);
- calls a function that reaches outside the workbook (WEBSERVICE, FILTERXML, RTD, IMAGE,
  CALL, a macro's function, …), builds a reference while calculating (INDIRECT, OFFSET)
  or reads facts about the computer (INFO, CELL);
- covers more than MAX_RANGE_CELLS cells (`A:A` is 1,048,576), or several sheets at once;
- is longer than Excel allows, or cannot be read as a formula;
- uses a defined name that is held back for one of these reasons.

When anything is held back, or the zip holds links, data connections, macros or embedded
objects, the engine gets a private copy (`engine_copy`) in which held cells are #N/A and
all of that is dropped; the rest of the file is still graded. The file itself is never
written.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

from sheetprop.locate import DATA_TABLE, Formula, StudentBook

MAX_RANGE_CELLS = 100_000  # cells one reference may cover
MAX_FORMULA_CHARS = 8192  # Excel's own limit
HELD_VALUE = "#N/A"  # what a held-back cell holds in the engine's copy

OUTSIDE = {"WEBSERVICE", "FILTERXML", "RTD", "IMAGE", "STOCKHISTORY", "SQL.REQUEST", "DDE", "DDEAUTO",
           "HYPERLINK.OPEN"}
CODE = {"CALL", "REGISTER", "REGISTER.ID", "EXEC", "EVALUATE", "SHELL"}
DYNAMIC = {"INDIRECT", "OFFSET"}
MACHINE = {"INFO", "CELL"}

_CELL = r"\$?[A-Za-z]{1,3}\$?\d+"
_COLS = r"\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3}"
_ROWS = r"\$?\d+:\$?\d+"
_NAME = re.compile(r"[A-Za-z_\\][\w.\\?]*")
ROWS, COLS = 1_048_576, 16_384


def screen(book: StudentBook, bad: dict[str, str] | None = None) -> dict[tuple[str, int, int], str]:
    """Cells whose formula the engine must not see → why, as a phrase ("calls WEBSERVICE(), …").

    `bad` is `bad_names(book.names)` when the caller has it already."""
    bad = bad_names(book.names) if bad is None else bad
    held = {}
    for key, raw in book.cells.items():
        if isinstance(raw, Formula):
            reason = formula_problem(raw, book.names, bad)
            if reason:
                held[key] = reason
    return held


def bad_names(names: dict[str, str]) -> dict[str, str]:
    """Defined names (lower case) held back → why; a name that uses such a name is held back too."""
    bad: dict[str, str] = {}
    operands: dict[str, list[str]] = {}
    for name, text in names.items():
        problem, ops = _problems("=" + text if not text.startswith("=") else text, names, {})
        if problem:
            bad[name] = problem
        operands[name] = ops
    changed = True
    while changed:  # names that use held names, to any depth
        changed = False
        for name, ops in operands.items():
            if name in bad:
                continue
            for op in ops:
                target = op.split("!")[-1].lower()
                if target in bad:
                    bad[name] = f"uses the name {op}, which {bad[target]}"
                    changed = True
                    break
    return bad


def formula_problem(formula: str, names: dict[str, str], bad: dict[str, str]) -> str | None:
    """Why a cell's formula must not reach the engine, or None."""
    return _problems(formula, names, bad)[0]


def _problems(formula: str, names: dict[str, str], bad: dict[str, str]) -> tuple[str | None, list[str]]:
    """(the first problem or None, the formula's names and references)."""
    from openpyxl.formula.tokenizer import Token, Tokenizer

    if formula == DATA_TABLE:
        return "is a What-If data table, which the grader does not evaluate; write a formula in the cell", []
    if len(formula) > MAX_FORMULA_CHARS:
        return f"is longer than the {MAX_FORMULA_CHARS:,} characters Excel allows", []
    bare = re.sub(r'"(?:[^"]|"")*"', '""', formula)  # without its text constants
    if re.search(r"[\w']\|", bare):
        return "calls another program (DDE: a name followed by |); the grader never does", []
    if re.search(r"'#\$|file:", bare, re.IGNORECASE):
        return "refers to a file: copy the value into this workbook or compute it here", []
    try:
        tokens = Tokenizer(formula).items
    except Exception:  # noqa: BLE001 - the tokenizer's errors on malformed text
        return "cannot be read as a formula; check its brackets and quotes", []
    operands = []
    for token in tokens:
        if token.type == Token.FUNC and token.subtype == Token.OPEN:
            problem = _function_problem(token.value[:-1])
            if problem:
                return problem, operands
        elif token.type == Token.OPERAND and token.subtype == Token.RANGE:
            operands.append(token.value)
            problem = _operand_problem(token.value, names, bad)
            if problem:
                return problem, operands
    return None, operands


def _function_problem(name: str) -> str | None:
    upper = name.upper()
    if upper.startswith("_XLUDF."):
        return f"calls {name[7:]}(), a macro's function; macros are never run"
    upper = re.sub(r"^(_XLFN\.|_XLWS\.)+", "", upper)
    if upper in OUTSIDE or upper.startswith("CUBE"):
        return f"calls {upper}(), which reaches outside the workbook; compute the value in this workbook"
    if upper in CODE:
        return f"calls {upper}(), which runs code outside the workbook; the grader never does"
    if upper in DYNAMIC:
        return f"uses {upper}(), which builds a reference while calculating; refer to the cells directly (B7)"
    if upper in MACHINE:
        return f"uses {upper}(), which reads facts about the computer or the file; refer to cells instead"
    return None


def _operand_problem(operand: str, names: dict[str, str], bad: dict[str, str]) -> str | None:
    """Why a reference or name must not reach the engine, or None."""
    if "|" in operand:
        return f"calls another program ({operand}); the grader never does"
    prefix, _, ref = operand.rpartition("!")
    if "[" in prefix or "]" in prefix or re.match(r"\[\d+\]", operand):
        return f"refers to another workbook ({operand}): copy the value into this workbook or compute it here"
    if "[" in ref:
        return f"uses a table reference ({operand}); refer to cells (B7) or names instead"
    if "#" in operand:
        return f"refers to a file ({operand}): copy the value into this workbook or compute it here"
    sheet = prefix.strip("'")
    if prefix and ":" in sheet:
        return f"refers to several sheets at once ({operand}); refer to one sheet's cells"
    area = reference_area(ref)
    if area is not None:
        if area > MAX_RANGE_CELLS:
            return (f"refers to {operand}, {area:,} cells (a whole column or sheet?); refer to just the cells "
                    "you need, such as A1:A10")
        return None
    parts = ref.split(":")
    if all(_NAME.fullmatch(p) or re.fullmatch(_CELL, p) for p in parts) and len(parts) <= 2:
        for part in parts:
            if part.lower() in bad:
                return f"uses the name {part}, which {bad[part.lower()]}"
        return None
    return f"uses {operand}, which is not a reference the grader follows; refer to cells (B7) or names"


def reference_area(ref: str) -> int | None:
    """How many cells `A1`, `A1:C3`, `A:C` or `1:3` covers; None when it is no such reference."""
    if re.fullmatch(_CELL, ref):
        return 1
    if re.fullmatch(f"{_CELL}:{_CELL}", ref):
        a, b = (re.fullmatch(r"\$?([A-Za-z]+)\$?(\d+)", p).groups() for p in ref.split(":"))
        return (abs(int(a[1]) - int(b[1])) + 1) * (abs(_column(a[0]) - _column(b[0])) + 1)
    if re.fullmatch(_COLS, ref):
        a, b = (p.strip("$") for p in ref.split(":"))
        return ROWS * (abs(_column(a) - _column(b)) + 1)
    if re.fullmatch(_ROWS, ref):
        a, b = (int(p.strip("$")) for p in ref.split(":"))
        return COLS * (abs(a - b) + 1)
    return None


def _column(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


# ---------------------------------------------------------------- the engine's copy


def engine_copy(path: str | Path, held, names_held, folder: str | Path) -> Path:
    """Write a copy of the workbook for the engine into `folder`: held cells are #N/A, held names
    are gone, and links to other workbooks, data connections, macros and embedded objects are
    dropped (openpyxl keeps none of them). Returns the copy's path."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(io.BytesIO(Path(path).read_bytes()), keep_links=False, keep_vba=False)
        for sheet, row, col in held:
            wb[sheet].cell(row, col).value = HELD_VALUE
        for name in list(wb.defined_names):
            if name.lower() in names_held:
                del wb.defined_names[name]
        for ws in wb.worksheets:
            for name in list(ws.defined_names):
                if name.lower() in names_held:
                    del ws.defined_names[name]
        out = Path(folder) / "book.xlsx"
        wb.save(out)
    return out
