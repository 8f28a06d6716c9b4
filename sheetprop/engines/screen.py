"""What no engine may evaluate: formulas that reach outside the workbook.

Every formula and defined name of a workbook is screened before an engine recomputes it
(`sheetprop.engines.evaluate` does it for every engine). A formula is held back, with the
reason in words, when it

- refers to another workbook or a file (`[1]Sheet1!A1`, `'file:///…'#$Sheet1.A1`), calls
  another program (DDE: `=cmd|' /c calc'!A0`) or uses a table reference (`Table1[x]`);
- calls a function that reaches outside the workbook (WEBSERVICE, FILTERXML, RTD, IMAGE,
  CALL, a macro's function, …), builds a reference while calculating (INDIRECT, OFFSET)
  or reads facts about the computer (INFO, CELL), whatever the spacing, case or prefix
  (`=<TAB>INDIRECT(…)`, `=@indirect (…)`, `=_xlfn._xlws.OFFSET(…)`);
- covers more than MAX_RANGE_CELLS cells (`A:A` is 1,048,576), or several sheets at once;
- is longer than Excel allows, or cannot be read as a formula;
- uses a defined name that is held back for one of these reasons (to any depth).

openpyxl's tokenizer glues a leading TAB, no-break space, line break or `@` onto a function
token, and takes `INDIRECT (…)` for a name followed by brackets: function names are
normalised before they are judged, and the text (without its string constants) is also
searched for a listed function followed by a bracket, whatever lies between.
"""

from __future__ import annotations

import bisect
import re
from collections import deque
from typing import Hashable, Mapping, TypeVar

from sheetprop.limits import MAX_FORMULA_CHARS, MAX_RANGE_CELLS

DATA_TABLE = "=TABLE()"  # what a What-If data table cell reads as
HELD_VALUE = "#N/A"  # what a held-back cell holds in the engine's copy

OUTSIDE = {"WEBSERVICE", "FILTERXML", "RTD", "IMAGE", "STOCKHISTORY", "SQL.REQUEST", "DDE", "DDEAUTO",
           "HYPERLINK.OPEN"}
CODE = {"CALL", "REGISTER", "REGISTER.ID", "EXEC", "EVALUATE", "SHELL"}
DYNAMIC = {"INDIRECT", "OFFSET"}
MACHINE = {"INFO", "CELL"}
LISTED = OUTSIDE | CODE | DYNAMIC | MACHINE

_CELL = r"\$?[A-Za-z]{1,3}\$?\d+"
_COLS = r"\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3}"
_ROWS = r"\$?\d+:\$?\d+"
_NAME = re.compile(r"[A-Za-z_\\][\w.\\?]*")
ROWS, COLS = 1_048_576, 16_384
K = TypeVar("K", bound=Hashable)

_STRINGS = re.compile(r'"(?:[^"]|"")*"')
_PREFIXES = re.compile(r"^(?:_XLFN\.|_XLWS\.)+")
_LEADING = "\t\r\n \u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u202f\u205f\u3000\ufeff@+"
_WORDS = "|".join(re.escape(w) for w in sorted(LISTED, key=len, reverse=True))
# A listed function (or a macro's or a cube function), any prefix, any spacing, then a bracket.
_CALL = re.compile(rf"(?<![\w.])(?:_xlfn\.|_xlws\.)*(_xludf\.[\w.]+|cube\w*|{_WORDS})[\s\u00a0\u200b\ufeff]*\(",
                   re.IGNORECASE)
# What a formula needs to contain before the full screen is worth running.
_SUSPECT_CHARS = re.compile(r"[\[\]|#!:'{}]")
_ONE_REFERENCE = re.compile(  # one reference to a sheet: `=Network!$D$7`, `Training!$21:$22` (print titles)
    r"^=?(?:'[^'\[\]#|:]{1,31}'|[A-Za-z_][A-Za-z0-9_.]{0,30})!"
    r"(\$?[A-Za-z]{1,3}\$?[0-9]{1,7}(?::\$?[A-Za-z]{1,3}\$?[0-9]{1,7})?|\$?[0-9]{1,7}:\$?[0-9]{1,7}"
    r"|\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3})$")
_SUSPECT_WORDS = re.compile("|".join(re.escape(w) for w in sorted(LISTED | {"_XL", "FILE", "CUBE"}, key=len, reverse=True)))
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_\\][\w.\\?]*)(?![\w.\\?]*(?:\s*\(|\$))")


def quick_ok(formula: str, bad: Mapping[str, str] | None = None, bad_pattern: re.Pattern | None = None) -> bool:
    """True when `formula` certainly passes the screen: no reference to another sheet, range,
    link, string or listed function, and no held name; or it is one reference to a sheet
    (`=Network!$D$7`, what most defined names hold; `Training!$21:$22`, print titles) of no
    more than MAX_RANGE_CELLS cells. Cheap: the rest go through `formula_problem`."""
    one = _ONE_REFERENCE.match(formula)
    if one and (reference_area(one.group(1)) or MAX_RANGE_CELLS + 1) <= MAX_RANGE_CELLS:
        return True
    if len(formula) > MAX_FORMULA_CHARS or _SUSPECT_CHARS.search(formula):
        return False
    if _SUSPECT_WORDS.search(formula.upper()):
        return False
    return not bad or bad_pattern is None or not bad_pattern.search(formula)


def screen_book(formulas: Mapping[K, str], names: Mapping[str, str]) -> tuple[dict[K, str], dict[str, str]]:
    """(held formulas → why, held names → why) of a workbook, given its formulas by any key
    (with or without the `=`) and its defined names (lower case → what they refer to)."""
    bad = name_problems(names)
    keys = list(formulas)
    texts = [t if t.startswith("=") else "=" + t for t in formulas.values()]
    held = {}
    for k in suspects(texts, bad):
        reason = formula_problem(texts[k], bad)
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
    hits.update(m.start() for m in _SUSPECT_WORDS.finditer(upper))
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


def name_problems(names: Mapping[str, str]) -> dict[str, str]:
    """Defined names (lower case) held back → why; a name that uses such a name is held too.

    Linear in the names: each is tokenised once, and a held name's reason is passed on to
    the names that use it by a walk over who-uses-whom (a reason says which name it came
    through and the first cause, never a chain of reasons)."""
    bad: dict[str, str] = {}
    users: dict[str, list[tuple[str, str]]] = {}  # name → (name that uses it, as written there)
    for name, text in names.items():
        formula = text if text.startswith("=") else "=" + text
        if quick_ok(formula):  # most names: a cell, a number, a sum of other names
            problem = None  # a cell or range of a sheet uses no name (its sheet is not one)
            operands = [] if _ONE_REFERENCE.match(formula) else _IDENTIFIER.findall(_STRINGS.sub('""', formula))
        else:
            problem, operands = _problems(formula, {})
        if problem:
            bad[name] = problem
        for op in operands:
            target = op.split("!")[-1].lower()
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


def formula_problem(formula: str, bad: Mapping[str, str]) -> str | None:
    """Why a cell's formula must not reach the engine, or None. `bad` is `name_problems(...)`."""
    return _problems(formula, bad)[0]


def _problems(formula: str, bad: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """(the first problem or None, the formula's names and references)."""
    from openpyxl.formula.tokenizer import Token, Tokenizer

    if formula == DATA_TABLE:
        return "is a What-If data table, which the grader does not evaluate; write a formula in the cell", []
    if len(formula) > MAX_FORMULA_CHARS:
        return f"is longer than the {MAX_FORMULA_CHARS:,} characters Excel allows", []
    bare = _STRINGS.sub('""', formula)  # without its text constants
    if re.search(r"[\w']\|", bare):
        return "calls another program (DDE: a name followed by |); the grader never does", []
    if re.search(r"'#\$|file:", bare, re.IGNORECASE):
        return "refers to a file: copy the value into this workbook or compute it here", []
    call = _CALL.search(bare)
    if call:
        return _function_problem(call.group(1)), []
    try:
        tokens = Tokenizer(formula).items
    except Exception:  # noqa: BLE001 - the tokenizer's errors on malformed text
        return "cannot be read as a formula; check its brackets and quotes", []
    operands: list[str] = []
    for token in tokens:
        if token.type == Token.FUNC and token.subtype == Token.OPEN:
            problem = _function_problem(token.value[:-1])
            if problem:
                return problem, operands
        elif token.type == Token.OPERAND and token.subtype == Token.RANGE:
            operands.append(token.value)
            problem = _operand_problem(token.value, bad)
            if problem:
                return problem, operands
    return None, operands


def function_name(token: str) -> str:
    """A function token as Excel reads it: `\\t@_xlfn.indirect` → `INDIRECT`."""
    return _PREFIXES.sub("", token.lstrip(_LEADING).upper())


def _function_problem(name: str) -> str | None:
    upper = function_name(name)
    if upper.startswith("_XLUDF."):
        return f"calls {upper[len('_XLUDF.'):]}(), a macro's function; macros are never run"
    if upper in OUTSIDE or upper.startswith("CUBE"):
        return f"calls {upper}(), which reaches outside the workbook; compute the value in this workbook"
    if upper in CODE:
        return f"calls {upper}(), which runs code outside the workbook; the grader never does"
    if upper in DYNAMIC:
        return f"uses {upper}(), which builds a reference while calculating; refer to the cells directly (B7)"
    if upper in MACHINE:
        return f"uses {upper}(), which reads facts about the computer or the file; refer to cells instead"
    return None


def _operand_problem(operand: str, bad: Mapping[str, str]) -> str | None:
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
                return f"uses the name {part}, which is held back: it {_root(bad[part.lower()])}"
        return None
    return f"uses {operand}, which is not a reference the grader follows; refer to cells (B7) or names"


def reference_area(ref: str) -> int | None:
    """How many cells `A1`, `A1:C3`, `A:C` or `1:3` covers; None when it is no such reference."""
    from xlsxwriter.utility import xl_cell_to_rowcol  # type: ignore[import-untyped]

    if re.fullmatch(_CELL, ref):
        return 1
    if re.fullmatch(f"{_CELL}:{_CELL}", ref):
        (r1, c1), (r2, c2) = (xl_cell_to_rowcol(p.upper()) for p in ref.split(":"))
        return (abs(r1 - r2) + 1) * (abs(c1 - c2) + 1)
    if re.fullmatch(_COLS, ref):
        (_, c1), (_, c2) = (xl_cell_to_rowcol(p.strip("$").upper() + "1") for p in ref.split(":"))
        return ROWS * (abs(c1 - c2) + 1)
    if re.fullmatch(_ROWS, ref):
        a, b = (int(p.strip("$")) for p in ref.split(":"))
        return COLS * (abs(a - b) + 1)
    return None
