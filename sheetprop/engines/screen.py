"""What an engine may not evaluate: formulas that reach outside the workbook, or too far inside it.

Every formula and defined name of a workbook is screened before an engine recomputes it
(`sheetprop.engines.evaluate` does it for every engine). A formula is held back, with the
reason in words, when it

- refers to another workbook or a file (`[1]Sheet1!A1`, `'file:///…'#$Sheet1.A1`), calls
  another program (DDE: `=cmd|' /c calc'!A0`) or uses a table reference (`Table1[x]`);
  a sheet's own name may hold `#`, `|`, `!`, spaces or quotes (`'HW #1'!A1`): that is a sheet;
- calls a function that reaches outside the workbook (WEBSERVICE, FILTERXML, RTD, IMAGE,
  CALL, a macro's function, …) or reads facts about the computer (INFO, CELL), whatever the
  spacing, case or prefix (`=<TAB>INDIRECT(…)`, `=@indirect (…)`, `=_xlfn._xlws.OFFSET(…)`);
- builds a reference while calculating (INDIRECT, OFFSET), unless the engine reaches nothing
  outside the workbook (`Reach.dynamic`: IronCalc, in process, reads no file), which then
  bounds each such reference as it is built (`sheetprop.engines.guard`); a literal text naming
  another workbook or file inside INDIRECT is held all the same, with that reason;
- covers more than MAX_RANGE_CELLS cells, however the reference is written: a range, a whole
  column, two names (`near:far`), several sheets at once. With `Reach.extent` (IronCalc) a
  whole column or row counts the rows or columns the workbook uses, to which the engine clips
  it, except where the empty rest matters (COUNTBLANK, ISBLANK: counted in full) or is never
  read (ROWS, COLUMNS, ROW, COLUMN, COUNTIF, COUNTIFS: not counted);
- is longer than Excel allows, or cannot be read as a formula;
- uses a defined name that is held back for one of these reasons (to any depth).

openpyxl's tokenizer glues a leading TAB, no-break space, line break or `@` onto a function
token, and takes `INDIRECT (…)` for a name followed by brackets: function names are
normalised before they are judged, and the text (without its string constants and its
quoted sheet names) is also searched for a listed function followed by a bracket.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections import deque
from dataclasses import dataclass
from typing import Hashable, Mapping, TypeVar

from sheetprop.limits import MAX_FORMULA_CHARS, MAX_RANGE_CELLS

DATA_TABLE = "=TABLE()"  # what a What-If data table cell reads as
DATA_TABLE_REASON = "is a What-If data table, which the grader does not evaluate; write a formula in the cell"
HELD_VALUE = "#N/A"  # what a held-back cell holds in the engine's copy

OUTSIDE = {"WEBSERVICE", "FILTERXML", "RTD", "IMAGE", "STOCKHISTORY", "SQL.REQUEST", "DDE", "DDEAUTO",
           "HYPERLINK.OPEN"}
CODE = {"CALL", "REGISTER", "REGISTER.ID", "EXEC", "EVALUATE", "SHELL"}
DYNAMIC = {"INDIRECT", "OFFSET"}
MACHINE = {"INFO", "CELL"}
LISTED = OUTSIDE | CODE | DYNAMIC | MACHINE
READS_NOTHING = {"ROWS", "COLUMNS", "AREAS", "ISREF"}  # a reference given to these is never read
SPARSE = {"ROW", "COLUMN", "COUNTIF", "COUNTIFS"}  # IronCalc takes a whole column here without filling it
COUNTS_BLANKS = {"COUNTBLANK", "ISBLANK"}  # the empty rest of a whole column changes the result
WHOLE_KEPT = READS_NOTHING | SPARSE | COUNTS_BLANKS  # where a whole column is never clipped

_CELL = r"\$?[A-Za-z]{1,3}\$?\d+"
_COLS = r"\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3}"
_ROWS = r"\$?\d+:\$?\d+"
_NAME = re.compile(r"[A-Za-z_\\][\w.\\?]*")
ROWS, COLS = 1_048_576, 16_384
K = TypeVar("K", bound=Hashable)

_STRINGS = re.compile(r'"(?:[^"]|"")*"')
_QUOTED_SHEET = re.compile(r"'((?:[^']|'')*)'(?=!)")  # a quoted sheet name: `'HW #1'!A1`
_PREFIXES = re.compile(r"^(?:_XLFN\.|_XLWS\.)+")
_LEADING = "\t\r\n \u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u202f\u205f\u3000\ufeff@+:"
_WORDS = "|".join(re.escape(w) for w in sorted(LISTED, key=len, reverse=True))
# A listed function (or a macro's or a cube function), any prefix, any spacing, then a bracket.
_CALL = re.compile(rf"(?<![\w.])(?:_xlfn\.|_xlws\.)*(_xludf\.[\w.]+|cube\w*|{_WORDS})[\s\u00a0\u200b\ufeff]*\(",
                   re.IGNORECASE)
_OUTSIDE_TEXT = re.compile(r"[\[\]]|file:|://|'#\$|\|", re.IGNORECASE)  # a workbook, file, URL or DDE in a text
# What a formula needs to contain before the full screen is worth running.
_SUSPECT_CHARS = re.compile(r"[\[\]|#:'{}]")  # a sheet's `!` alone is harmless
_ONE_REFERENCE = re.compile(  # one reference to a sheet: `=Network!$D$7`, `Training!$21:$22` (print titles)
    r"^=?(?:'[^'\[\]#|:!]{1,31}'|[A-Za-z_][A-Za-z0-9_.]{0,30})!"
    r"(\$?[A-Za-z]{1,3}\$?[0-9]{1,7}(?::\$?[A-Za-z]{1,3}\$?[0-9]{1,7})?|\$?[0-9]{1,7}:\$?[0-9]{1,7}"
    r"|\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3})$")
_SUSPECT_LIST = sorted(LISTED | {"_XL", "FILE", "CUBE"}, key=len, reverse=True)
_SUSPECT_WORDS = re.compile("|".join(re.escape(w) for w in _SUSPECT_LIST))
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_\\][\w.\\?]*)(?![\w.\\?]*(?:\s*\(|\$))")


@dataclass(frozen=True)
class Reach:
    """What an engine may be given. `dynamic`: INDIRECT and OFFSET, each reference they build
    bounded by the engine; `extent`: (rows, columns) the workbook uses, to which the engine clips
    whole columns and rows (None: they count in full)."""

    dynamic: bool = False
    extent: tuple[int, int] | None = None


STRICT = Reach()  # formulas (it opens linked workbooks) and LibreOffice


def reach_of(engine: str | None, extent: tuple[int, int] = (1, 1)) -> Reach:
    """How far `engine` may be let go: IronCalc (the default) runs in process and reads no file."""
    return Reach(True, (max(1, extent[0]), max(1, extent[1]))) if engine in (None, "ironcalc") else STRICT


def quick_ok(formula: str, bad: Mapping[str, str] | None = None, bad_pattern: re.Pattern | None = None,
             reach: Reach = STRICT) -> bool:
    """True when `formula` certainly passes the screen: no reference to another sheet, range,
    link, string or listed function, and no held name; or it is one reference to a sheet
    (`=Network!$D$7`, what most defined names hold; `Training!$21:$22`, print titles) of no
    more than MAX_RANGE_CELLS cells. Cheap: the rest go through `formula_problem`."""
    one = _ONE_REFERENCE.match(formula)
    if one:
        area = reference_area(one.group(1), reach)
        if area is not None and area <= MAX_RANGE_CELLS:
            return True
    if len(formula) > MAX_FORMULA_CHARS or _SUSPECT_CHARS.search(formula):
        return False
    if _SUSPECT_WORDS.search(formula.upper()):
        return False
    return not bad or bad_pattern is None or not bad_pattern.search(formula)


def screen_book(formulas: Mapping[K, str], names: Mapping[str, str], reach: Reach = STRICT
                ) -> tuple[dict[K, str], dict[str, str]]:
    """(held formulas → why, held names → why) of a workbook, given its formulas by any key
    (with or without the `=`) and its defined names (lower case → what they refer to)."""
    bad = name_problems(names, reach)
    keys = list(formulas)
    texts = [t if t.startswith("=") else "=" + t for t in formulas.values()]
    held = {}
    for k in suspects(texts, bad):
        reason = formula_problem(texts[k], bad, reach, names)
        if reason:
            held[keys[k]] = reason
    return held, bad


def suspects(formulas: list[str], bad: Mapping[str, str] | None = None) -> list[int]:
    """The positions of the formulas that `quick_ok` would not pass, found with one search over
    all of them joined (a formula holds no line break that matters: it is replaced)."""
    pattern = names_pattern(bad or {})
    blob = "\n".join(formulas)  # a line break inside a formula is fine: positions come from lengths
    upper = blob.upper()
    hits = {m.start() for m in _SUSPECT_CHARS.finditer(blob)}
    for word in _SUSPECT_LIST:  # one scan in C per word: most are in no formula
        at = upper.find(word)
        while at >= 0:
            hits.add(at)
            at = upper.find(word, at + 1)
    if pattern is not None:
        hits.update(m.start() for m in pattern.finditer(blob))
    found = {k for k, text in enumerate(formulas) if len(text) > MAX_FORMULA_CHARS}
    if hits:
        starts, at = [], 0
        for text in formulas:
            starts.append(at)
            at += len(text) + 1
        found.update(bisect.bisect_right(starts, hit) - 1 for hit in hits)
    return sorted(found)


def names_pattern(bad: Mapping[str, str]) -> re.Pattern | None:
    """A pattern finding any of the held names in a formula (for `quick_ok`)."""
    if not bad:
        return None
    words = "|".join(re.escape(n) for n in sorted(bad, key=len, reverse=True))
    return re.compile(rf"(?<![\w.\\]){words}(?![\w.\\(])", re.IGNORECASE)


def name_problems(names: Mapping[str, str], reach: Reach = STRICT) -> dict[str, str]:
    """Defined names (lower case) held back → why; a name that uses such a name is held too.

    Linear in the names: each is tokenised once, and a held name's reason is passed on to
    the names that use it by a walk over who-uses-whom (a reason says which name it came
    through and the first cause, never a chain of reasons)."""
    bad: dict[str, str] = {}
    users: dict[str, list[tuple[str, str]]] = {}  # name → (name that uses it, as written there)
    for name, text in names.items():
        formula = text if text.startswith("=") else "=" + text
        if quick_ok(formula, reach=reach):  # most names: a cell, a number, a sum of other names
            problem = None  # a cell or range of a sheet uses no name (its sheet is not one)
            operands = [] if _ONE_REFERENCE.match(formula) else _IDENTIFIER.findall(_bare(formula))
        else:
            problem, operands = _problems(formula, {}, reach, names)
        if problem:
            bad[name] = problem
        for op in operands:
            for part in op.split(":"):
                target = part.split("!")[-1].lower()
                if target in names and target != name:
                    users.setdefault(target, []).append((name, op))
    cause = dict(bad)
    queue = deque(bad)
    while queue:
        held = queue.popleft()
        for user, written in users.get(held, ()):
            if user not in bad:
                cause[user] = cause[held]
                bad[user] = f"uses the name {written}, which is held back: it {_root(cause[held])}"
                queue.append(user)
    return bad


def _root(reason: str) -> str:
    """The first cause inside a passed-on reason."""
    marker = "which is held back: it "
    return reason.split(marker, 1)[1] if marker in reason else reason


def formula_problem(formula: str, bad: Mapping[str, str], reach: Reach = STRICT,
                    names: Mapping[str, str] | None = None) -> str | None:
    """Why a cell's formula must not reach the engine, or None. `bad` is `name_problems(...)`;
    `names` (lower case → text) lets a range between two names (`near:far`) be measured."""
    if not bad and _fast_problem(formula, reach) is False:
        return None
    return _problems(formula, bad, reach, names or {})[0]


_RANGE = re.compile(r"(?<![\w.$!:])(?:[A-Za-z_][\w.]*!)?(\$?[A-Za-z]{1,3}\$?\d+:\$?[A-Za-z]{1,3}\$?\d+"
                    r"|\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3}|\$?\d+:\$?\d+)(?![\w.(:!])")
_NOT_PLAIN = re.compile(r"""['"\[\]|#{}@]""")
_CONTEXT = re.compile(r"([A-Za-z_][\w.]*)\($")


@functools.lru_cache(maxsize=1024)  # the screen and the guard ask of the same formula in turn
def plain_ranges(formula: str) -> tuple[tuple[tuple[int, int, int, int], str], ...] | None:
    """(rectangle, the function it is the first argument of, or "?") of every range of a formula
    that holds nothing else the screen looks at (no quote, string, bracket, `#`, `|`, `@`, no
    range between names or calls), found without the tokenizer; None for any other formula."""
    if _NOT_PLAIN.search(formula):
        return None
    found = []
    for match in _RANGE.finditer(formula):
        box = rectangle(match.group(1))
        if box is None:
            return None
        context = _CONTEXT.search(formula, 0, match.start())
        found.append((box, context.group(1).upper() if context and context.end() == match.start() else "?"))
    return tuple(found) if formula.count(":") == len(found) else None


def _fast_problem(formula: str, reach: Reach) -> bool | None:
    """False when the formula certainly passes the screen (only plain ranges within the bound, no
    listed function but those `reach` allows), None when the full screen must tell."""
    ranges = plain_ranges(formula)
    if ranges is None or len(formula) > MAX_FORMULA_CHARS:
        return None
    for word in _SUSPECT_WORDS.finditer(formula.upper()):
        if not (reach.dynamic and word.group(0) in DYNAMIC):
            return None
    for box, context in ranges:
        if context == "?" and whole(box):
            return None
        if context not in READS_NOTHING and _area(box, reach, context) > MAX_RANGE_CELLS:
            return None
    return False


def _bare(formula: str) -> str:
    """The formula without its text constants and with every quoted sheet name blanked (`'S'!A1`)."""
    return _QUOTED_SHEET.sub(lambda m: m.group(0) if "[" in m.group(1) else "'S'", _STRINGS.sub('""', formula))


def _problems(formula: str, bad: Mapping[str, str], reach: Reach, names: Mapping[str, str]
              ) -> tuple[str | None, list[str]]:
    """(the first problem or None, the formula's names and references)."""
    from openpyxl.formula.tokenizer import Token, Tokenizer

    if formula == DATA_TABLE:
        return DATA_TABLE_REASON, []
    if len(formula) > MAX_FORMULA_CHARS:
        return f"is longer than the {MAX_FORMULA_CHARS:,} characters Excel allows", []
    bare = _bare(formula)
    if re.search(r"[\w']\|", bare):
        return "calls another program (DDE: a name followed by |); the grader never does", []
    if re.search(r"'#\$|file:", bare, re.IGNORECASE):
        return "refers to a file: copy the value into this workbook or compute it here", []
    for call in _CALL.finditer(bare):
        problem = _function_problem(call.group(1), reach)
        if problem:
            return problem, []
    try:
        tokens = Tokenizer(formula).items
    except Exception:  # noqa: BLE001 - the tokenizer's errors on malformed text
        return "cannot be read as a formula; check its brackets and quotes", []
    operands: list[str] = []
    calls: list[str] = []  # the functions (or "" for a bracket) each token sits in
    for token in tokens:
        if token.type == Token.FUNC and token.subtype == Token.OPEN:
            name = function_name(token.value[:-1])
            problem = _function_problem(name, reach)
            if problem:
                return problem, operands
            calls.append(name)
        elif token.type in (Token.FUNC, Token.PAREN) and token.subtype == Token.CLOSE:
            if calls:
                calls.pop()
        elif token.type == Token.PAREN and token.subtype == Token.OPEN:
            calls.append("")
        elif token.type == Token.OPERAND and token.subtype == Token.RANGE:
            operands.append(token.value)
            problem = _operand_problem(token.value.lstrip(":"), bad, reach, calls[-1] if calls else "", names)
            if problem:
                return problem, operands
        elif token.type == Token.OPERAND and token.subtype == Token.TEXT and "INDIRECT" in calls \
                and _OUTSIDE_TEXT.search(token.value):
            return f"refers to another workbook or a file through INDIRECT({token.value}); compute it here", operands
    return None, operands


def function_name(token: str) -> str:
    """A function token as Excel reads it: `\\t@_xlfn.indirect` → `INDIRECT`."""
    return _PREFIXES.sub("", token.lstrip(_LEADING).upper())


def _function_problem(name: str, reach: Reach = STRICT) -> str | None:
    upper = function_name(name)
    if upper.startswith("_XLUDF."):
        return f"calls {upper[len('_XLUDF.'):]}(), a macro's function; macros are never run"
    if upper in OUTSIDE or upper.startswith("CUBE"):
        return f"calls {upper}(), which reaches outside the workbook; compute the value in this workbook"
    if upper in CODE:
        return f"calls {upper}(), which runs code outside the workbook; the grader never does"
    if upper in DYNAMIC and not reach.dynamic:
        return f"uses {upper}(), which builds a reference while calculating; refer to the cells directly (B7)"
    if upper in MACHINE:
        return f"uses {upper}(), which reads facts about the computer or the file; refer to cells instead"
    return None


def split_sheet(reference: str) -> tuple[str | None, str]:
    """(the sheet name, unquoted, or None; the rest) of a reference: `'HW #1'!A1` → ("HW #1", "A1")."""
    quoted = _QUOTED_SHEET.match(reference)
    if quoted:
        return quoted.group(1).replace("''", "'"), reference[quoted.end() + 1:]
    sheet, bang, rest = reference.partition("!")
    return (sheet, rest) if bang else (None, reference)


def _operand_problem(operand: str, bad: Mapping[str, str], reach: Reach, context: str,
                     names: Mapping[str, str]) -> str | None:
    """Why a reference or name must not reach the engine, or None; `context` is the function it is
    an argument of ("" for none)."""
    sheet, ref = split_sheet(operand)
    if "#REF!" in ref.upper():
        return None  # a deleted reference: the engine gives #REF!
    outside = operand if sheet is None else ref  # what lies outside a quoted sheet name
    if "|" in outside or (sheet is not None and "|" in sheet and not operand.startswith("'")):
        return f"calls another program ({operand}); the grader never does"
    if re.match(r"\[\d+\]", operand) or (sheet is not None and ("[" in sheet or "]" in sheet)):
        return f"refers to another workbook ({operand}): copy the value into this workbook or compute it here"
    if "[" in ref:
        return f"uses a table reference ({operand}); refer to cells (B7) or names instead"
    if "#" in outside or (sheet is not None and "#" in sheet and not operand.startswith("'")):
        return f"refers to a file ({operand}): copy the value into this workbook or compute it here"
    if sheet is not None and ":" in sheet:
        return f"refers to several sheets at once ({operand}); refer to one sheet's cells"
    parts = [split_sheet(p)[1] for p in _range_parts(ref)]
    if len(parts) > 2 or not all(_NAME.fullmatch(p) or re.fullmatch(_CELL, p) or re.fullmatch(r"\$?\d+|\$?[A-Za-z]{1,3}", p)
                                 for p in parts):
        return f"uses {operand}, which is not a reference the grader follows; refer to cells (B7) or names"
    for part in parts:
        if _NAME.fullmatch(part) and not re.fullmatch(_CELL, part) and part.lower() in bad:
            return f"uses the name {part}, which is held back: it {_root(bad[part.lower()])}"
    if context in READS_NOTHING:
        return None
    area = reference_area(ref, reach, context)
    if area is None and len(parts) == 2:
        area = _names_area(ref, names, context)
        if area is None:
            if reach.dynamic:
                return None  # measured when the engine builds it (sheetprop.engines.guard)
            return (f"uses {operand}, a range between names whose size the grader cannot tell; refer to the "
                    "cells (A1:B9)")
    if area is not None and area > MAX_RANGE_CELLS:
        return (f"refers to {operand}, {area:,} cells (a whole column or sheet?); refer to just the cells "
                "you need, such as A1:A10")
    return None


def _range_parts(ref: str) -> list[str]:
    """`A1:near` → ["A1", "near"]; a sheet-qualified corner (`S!A1:S!B2`) keeps its sheet."""
    return [p for p in re.split(r":(?=(?:[^']*'[^']*')*[^']*$)", ref) if p] or [ref]


def _names_area(ref: str, names: Mapping[str, str], context: str) -> int | None:
    """The cells of a range whose corners are names or cells (`near:far`, `A1:far`), or None when a
    corner is neither a cell nor a name of one sheet's cells."""
    box = None
    sheets = set()
    for part in _range_parts(ref):
        sheet, corner = split_sheet(part)
        if not re.fullmatch(_CELL, corner):
            target = names.get(corner.lower())
            if target is None:
                return None
            sheet, corner = split_sheet(target.lstrip("="))
            if rectangle(corner) is None:
                return None
        sheets.add(sheet)
        r1, c1, r2, c2 = rectangle(corner)  # type: ignore[misc]
        box = (r1, c1, r2, c2) if box is None else (min(box[0], r1), min(box[1], c1), max(box[2], r2), max(box[3], c2))
    if box is None or len(sheets - {None}) > 1:
        return None
    return _area(box, STRICT, context)  # the engine never clips a range between names: it counts in full


@functools.lru_cache(maxsize=65536)  # the same references recur down a column
def rectangle(ref: str) -> tuple[int, int, int, int] | None:
    """(first row, first column, last row, last column), 1-based, of `A1`, `A1:C3`, `A:C` or `1:3`."""
    from xlsxwriter.utility import xl_cell_to_rowcol  # type: ignore[import-untyped]

    if re.fullmatch(_CELL, ref):
        r, c = xl_cell_to_rowcol(ref.replace("$", "").upper())
        return r + 1, c + 1, r + 1, c + 1
    if re.fullmatch(f"{_CELL}:{_CELL}", ref):
        (r1, c1), (r2, c2) = (xl_cell_to_rowcol(p.replace("$", "").upper()) for p in ref.split(":"))
        return min(r1, r2) + 1, min(c1, c2) + 1, max(r1, r2) + 1, max(c1, c2) + 1
    if re.fullmatch(_COLS, ref):
        c1, c2 = (xl_cell_to_rowcol(p.strip("$").upper() + "1")[1] + 1 for p in ref.split(":"))
        return 1, min(c1, c2), ROWS, max(c1, c2)
    if re.fullmatch(_ROWS, ref):
        a, b = (int(p.strip("$")) for p in ref.split(":"))
        return min(a, b), 1, max(a, b), COLS
    return None


def whole(box: tuple[int, int, int, int]) -> str | None:
    """"columns" when the rectangle spans every row, "rows" when it spans every column, else None."""
    if box[0] == 1 and box[2] == ROWS:
        return "columns"
    if box[1] == 1 and box[3] == COLS:
        return "rows"
    return None


def reference_area(ref: str, reach: Reach = STRICT, context: str = "") -> int | None:
    """How many cells `A1`, `A1:C3`, `A:C` or `1:3` covers for the engine; None when it is no such
    reference. With `reach.extent`, a whole column or row counts only the rows or columns used."""
    box = rectangle(ref)
    return None if box is None else _area(box, reach, context)


def _area(box: tuple[int, int, int, int], reach: Reach, context: str) -> int:
    r1, c1, r2, c2 = box
    kind = whole(box)
    if kind and reach.extent and context not in COUNTS_BLANKS:
        if context in SPARSE:
            return 0
        rows, cols = reach.extent
        return (c2 - c1 + 1) * rows if kind == "columns" else (r2 - r1 + 1) * cols
    return (r2 - r1 + 1) * (c2 - c1 + 1)
