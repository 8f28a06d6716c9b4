"""Excel formulas (as stored in .xlsx) to a small AST of tuples, relative references as offsets.

`parse(text, row, col)` reads a formula (without its "=") written in the cell at (row, col)
and returns `Parsed(ast, holes)`. The AST holds every relative row or column as an offset
from the cell (`B23` in B24 is one row up), so all the cells of a filled-down column
parse to the same AST: the AST is the formula's *shape*, and is hashable.

Nodes (tuples, first item the kind):

    ("num", float)   ("str", str)   ("bool", bool)   ("err", "#DIV/0!")   ("missing",)
    ("ref", sheet, row, row_abs, col, col_abs)          one cell; sheet None = the cell's own
    ("area", sheet, r1, r1_abs, c1, c1_abs, r2, r2_abs, c2, c2_abs)
    ("name", sheet, NAME)                               a defined name, upper-cased
    ("ext", text)                                       another workbook: #REF!
    ("neg", x)  ("pct", x)  ("pos", x)
    ("chain", op_level, first, ((op, x), ...))          left-associative run: "+-", "*/", "^", "&", "cmp"
    ("range", a, b)                                     the ":" operator between two references
    ("call", NAME, (args...))                           NAME upper-cased, "_xlfn." dropped

`holes` lists where the text holds a relative row number or column letters, so a later
cell can be checked against the same shape by rebuilding its text (`predictor_source`).
A syntax error, or anything this grammar leaves out (array constants `{1,2}`, the space
and union operators, structured references `Table1[Col]`), raises FormulaSyntaxError:
the engine makes that cell #NAME?.

Precedence, highest first, as in Excel: ":" ; unary "-" "+" ; "%" ; "^" ; "* /" ; "+ -" ;
"&" ; "= <> < > <= >=". Unary minus binds tighter than "^": `-2^2` is 4. Nesting (brackets,
function calls, unary operators) is limited to 64 levels, Excel's own limit, so the
recursive descent can never exhaust Python's stack; a longer run of one operator is a
flat "chain" node however long it is.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from sheetprop.engines.xlsxread import COLUMN, MAX_COL, MAX_ROW

MAX_DEPTH = 64
MAX_LENGTH = 16_384  # characters; Excel stops at 8,192

ERRORS = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
          "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#UNKNOWN!", "#BUSY!")


class FormulaSyntaxError(ValueError):
    """The text is not a formula this parser understands."""


class Parsed(NamedTuple):
    ast: tuple
    holes: tuple  # ((start, end, "r" or "c", offset), ...) sorted by start


_WORD = r"(?:[^\W\d]|\\)[\w.]*"  # an unquoted sheet name (\w: any Unicode letter or digit)
_SHEET = rf"""(?:(?P<book>\[[^\]]*\])?(?P<sheet>'(?:[^']|'')+'|{_WORD}(?::{_WORD})?)?!)"""
def _cell(p: str) -> str:
    return rf"(?P<{p}ca>\$?)(?P<{p}c>[A-Za-z]{{1,3}})(?P<{p}ra>\$?)(?P<{p}r>[0-9]{{1,7}})"


_END = r"(?![\w.(!?\\$])"
_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r'|(?P<str>"(?:[^"]|"")*")'
    r"|(?P<err>" + "|".join(re.escape(e) for e in ERRORS) + ")"
    r"|(?P<func>(?:_xlfn\.|_xlws\.)?[A-Za-z_][\w.]*)\("
    rf"|(?P<pre>{_SHEET})?(?:"
    rf"(?P<area>{_cell('a')}:{_cell('b')}){_END}"
    rf"|(?P<cell>{_cell('x')}){_END}"
    r"|(?P<cols>(?P<kca>\$?)(?P<kc>[A-Za-z]{1,3}):(?P<lca>\$?)(?P<lc>[A-Za-z]{1,3}))" + _END +
    r"|(?P<rows>(?P<kra>\$?)(?P<kr>[0-9]{1,7}):(?P<lra>\$?)(?P<lr>[0-9]{1,7}))" + _END +
    r"|(?P<refErr>#REF!)"
    r"|(?P<name>(?:[^\W\d]|\\)[\w.?\\]*))"
    r"|(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<op><>|<=|>=|[-+*/^&=<>%,():])"
)

_LEVELS = {"=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1, "&": 2, "+": 3, "-": 3, "*": 4, "/": 4, "^": 5}
_LEVEL_NAME = {1: "cmp", 2: "&", 3: "+-", 4: "*/", 5: "^"}


def _sheet_name(pre: str | None) -> str | None:
    if not pre:
        return None
    if pre.startswith("'"):
        return pre[1:-1].replace("''", "'")
    return pre


class _Parser:
    """Recursive descent over the token list; depth bounded by MAX_DEPTH."""

    def __init__(self, text: str, row: int, col: int):
        self.text, self.row, self.col = text, row, col
        self.tokens = []
        self.holes = []
        pos, n = 0, len(text)
        while pos < n:
            m = _TOKEN.match(text, pos)
            if not m:
                raise FormulaSyntaxError(f"unexpected {text[pos:pos + 10]!r}")
            pos = m.end()
            kind = m.lastgroup
            if kind == "ws":
                continue
            self.tokens.append(m)
        self.tokens.append(None)
        self.i = 0
        self.depth = 0

    # --- tokens ----------------------------------------------------------------------
    def peek_op(self):
        m = self.tokens[self.i]
        return m.group("op") if m is not None and m.lastgroup == "op" else None

    def expect(self, op: str):
        if self.peek_op() != op:
            raise FormulaSyntaxError(f"expected {op!r}")
        self.i += 1

    # --- grammar -------------------------------------------------------------------
    def formula(self):
        node = self.expression()
        if self.tokens[self.i] is not None:
            raise FormulaSyntaxError(f"unexpected {self.tokens[self.i].group(0)!r}")
        return node

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaSyntaxError(f"nested more than {MAX_DEPTH} levels deep")

    def expression(self, level: int = 1):
        """Operators of `level` and above; each level's run is one flat chain node."""
        if level > 5:
            return self.unary()
        first = self.expression(level + 1)
        rest = []
        while True:
            op = self.peek_op()
            if op is None or _LEVELS.get(op) != level:
                break
            self.i += 1
            rest.append((op, self.expression(level + 1)))
        if not rest:
            return first
        return ("chain", _LEVEL_NAME[level], first, tuple(rest))

    def unary(self):
        op = self.peek_op()
        if op in ("-", "+"):
            self.i += 1
            self.enter()
            node = ("neg" if op == "-" else "pos", self.unary())
            self.depth -= 1
            return node
        node = self.postfix()
        return node

    def postfix(self):
        node = self.range_operand()
        while self.peek_op() == "%":
            self.i += 1
            node = ("pct", node)
        return node

    def range_operand(self):
        node = self.primary()
        while self.peek_op() == ":":
            self.i += 1
            node = ("range", node, self.primary())
        return node

    def primary(self):
        m = self.tokens[self.i]
        if m is None:
            raise FormulaSyntaxError("the formula ends too soon")
        kind = m.lastgroup
        self.i += 1
        if kind == "num":
            value = float(m.group("num"))
            if value - value != 0.0:
                return ("err", "#NUM!")
            return ("num", value)
        if kind == "str":
            return ("str", m.group("str")[1:-1].replace('""', '"'))
        if kind == "err":
            return ("err", m.group("err").upper())
        if kind == "op":
            if m.group("op") == "(":
                self.enter()
                node = self.expression()
                self.expect(")")
                self.depth -= 1
                return node
            raise FormulaSyntaxError(f"unexpected {m.group('op')!r}")
        if kind == "func":
            return self.call(m)
        return self.reference(m, kind)

    def call(self, m):
        name = m.group("func").upper()
        for prefix in ("_XLFN.", "_XLWS."):
            if name.startswith(prefix):
                name = name[len(prefix):]
        self.enter()
        args = []
        if self.peek_op() == ")":
            self.i += 1
        else:
            while True:
                if self.peek_op() in (",", ")"):
                    args.append(("missing",))
                else:
                    args.append(self.expression())
                op = self.peek_op()
                self.i += 1
                if op == ")":
                    break
                if op != ",":
                    raise FormulaSyntaxError("expected ',' or ')' in the arguments of " + name)
        self.depth -= 1
        return ("call", name, tuple(args))

    def reference(self, m, kind):
        if m.group("book") is not None:
            return ("ext", m.group(0))
        sheet = _sheet_name(m.group("sheet"))
        if sheet is not None and ":" in sheet:
            return ("ext", m.group(0))  # a 3D reference (Sheet1:Sheet3!A1): not supported
        if kind == "cell":
            found = self._place(m, "x")
            if found is None:
                return self._as_name(m, sheet)
            return ("ref", sheet, *found)
        if kind == "area":
            one, two = self._place(m, "a"), self._place(m, "b")
            if one is None or two is None:
                raise FormulaSyntaxError(f"a range outside the sheet: {m.group(0)}")
            return ("area", sheet, *one, *two)
        if kind == "cols":
            c1, c2 = self._column(m, "kc"), self._column(m, "lc")
            if c1 is None or c2 is None:
                raise FormulaSyntaxError(f"a column outside the sheet: {m.group(0)}")
            return ("area", sheet, 1, True, *self._hole(m, "kc", c1, "c"), MAX_ROW, True, *self._hole(m, "lc", c2, "c"))
        if kind == "rows":
            r1, r2 = self._row(m, "kr"), self._row(m, "lr")
            if r1 is None or r2 is None:
                raise FormulaSyntaxError(f"a row outside the sheet: {m.group(0)}")
            return ("area", sheet, *self._hole(m, "kr", r1, "r"), 1, True, *self._hole(m, "lr", r2, "r"), MAX_COL, True)
        if kind == "refErr":
            return ("err", "#REF!")
        return self._as_name(m, sheet)

    def _as_name(self, m, sheet):
        name = (m.group("name") or m.group("cell")).upper()
        if name in ("TRUE", "FALSE") and sheet is None:
            return ("bool", name == "TRUE")
        return ("name", sheet, name)

    def _place(self, m, p):
        """(row, row_abs, col, col_abs) of the cell in groups p+"c", p+"r"; None if off the sheet."""
        col, row = self._column(m, p + "c"), self._row(m, p + "r")
        if col is None or row is None:
            return None
        return (*self._hole(m, p + "r", row, "r"), *self._hole(m, p + "c", col, "c"))

    @staticmethod
    def _column(m, group):
        return COLUMN.get(m.group(group).upper())

    @staticmethod
    def _row(m, group):
        row = int(m.group(group))
        return row if 0 < row <= MAX_ROW else None

    def _hole(self, m, group, number, kind):
        """(offset, False) for a relative row or column, recording its hole; (number, True) if absolute."""
        if m.group(group + "a"):
            return number, True
        offset = number - (self.row if kind == "r" else self.col)
        self.holes.append((m.start(group), m.end(group), kind, offset))
        return offset, False


def parse(text: str, row: int = 1, col: int = 1) -> Parsed:
    """The AST of `text` (no leading "=") written in the cell at (row, col)."""
    if len(text) > MAX_LENGTH:
        raise FormulaSyntaxError(f"longer than {MAX_LENGTH} characters")
    parser = _Parser(text, row, col)
    ast = parser.formula()
    return Parsed(ast, tuple(sorted(parser.holes)))


def predictor_source(text: str, holes: tuple, name: str, rows_only: bool = False) -> str:
    """Python source of `def name(r, c)`: the text this formula has in the cell (r, c).

    The function returns None for a cell where a relative reference would fall off the
    sheet. With `rows_only`, column holes keep the letters the text has (for the cells
    of the same column: cheaper). The text's pieces between holes go into the source
    through repr(), never pasted raw.
    """
    if rows_only:
        holes = tuple(h for h in holes if h[2] == "r")
    rows = sorted({off for _, _, kind, off in holes if kind == "r"})
    cols = sorted({off for _, _, kind, off in holes if kind == "c"})
    pieces, pos = [], 0
    for start, end, kind, offset in holes:
        if start > pos:
            pieces.append(repr(text[pos:start].replace("{", "{{").replace("}", "}}")))
        if kind == "r":
            pieces.append(f"'{{r{rows.index(offset)}}}'")
        else:
            pieces.append(f"'{{L[c + {offset}]}}'" if offset else "'{L[c]}'")
        pos = end
    if pos < len(text):
        pieces.append(repr(text[pos:].replace("{", "{{").replace("}", "}}")))
    strings = "".join(f"        r{i} = str(r + {off})\n" for i, off in enumerate(rows))
    check = f"{1 - min(rows, default=0)} <= r <= {MAX_ROW - max(rows, default=0)}"
    if cols:
        check += f" and {1 - cols[0]} <= c <= {MAX_COL - cols[-1]}"
    return (f"def {name}(r, c):\n"
            f"    if {check}:\n"
            f"{strings}"
            f"        return {'f' + ' f'.join(pieces) if pieces else repr('')}\n")


def joined(texts_and_holes) -> tuple[str, tuple]:
    """Several formulas' (text, holes) as one text joined by NUL, and its holes."""
    texts, holes, pos = [], [], 0
    for text, own in texts_and_holes:
        texts.append(text)
        holes += [(start + pos, end + pos, kind, off) for start, end, kind, off in own]
        pos += len(text) + 1
    return "\x00".join(texts), tuple(holes)


__all__ = ["ERRORS", "FormulaSyntaxError", "Parsed", "joined", "parse", "predictor_source"]
