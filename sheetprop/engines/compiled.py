"""The `compiled` engine: pure Python, each distinct formula shape compiled once.

    evaluate(path, timeout=None) -> dict[(sheet, "A1"), value]

1. Read the .xlsx (`xlsxread`: sheets, defined names, constants, formulas, shared and
   array formulas), without trusting it: sizes checked, no DTD, no recursion.
2. Parse each formula (`xlparse`) into an AST whose relative references are offsets from
   the cell, so the 10,000 cells of a filled-down column share one AST: one *shape*.
   Most cells are not even parsed: the text of a cell is compared with the text the
   shape of the cell above (or to the left) would have there, rebuilt by a generated
   function from the row and column, and a row laid out like an earlier one is checked
   in one go, its texts joined against the text its pattern rebuilds for the row.
3. Generate Python source for each shape, twice, and compile it with `compile()`:
   - *fast*: plain float arithmetic on the cells' values, e.g. for `=B23-eta*X23` in B24
     `V[k - 32768] - V[1236] * V[k - 32746]`, where `V` maps a cell's integer key to its
     value and `k` is the key of the cell computed. Booleans are not Python bools and
     empty cells are absent, so anything that is not a number makes this raise (a
     TypeError, a KeyError) rather than compute something else;
   - *safe*: the same formula through the helpers of `xlruntime`, which implement
     Excel's rules for empty cells, text, booleans, errors and the order they come in.
   Source is built only from the validated AST: numbers and strings go through repr(),
   references become integers, functions come from a fixed table. Nothing from the file
   is ever pasted into code.
4. Evaluate every formula cell in file order with its fast function. A cell whose fast
   function raises (or returns something that is not a finished value) is computed
   again, after the first pass, with its safe function; if that needs cells not
   computed yet, they are computed first by an explicit-stack depth-first walk (no
   recursion: a 100,000-cell chain is fine), and a cell met again while it waits for
   itself is in a reference cycle: every cell of the cycle gets #CIRC!.

Semantics (Excel's): empty is 0 in arithmetic and "" in text; text that reads as a number
converts in arithmetic ("3"+1 is 4), other text is #VALUE!; TRUE is 1; errors propagate,
the leftmost first; x/0 is #DIV/0!; LN, LOG, SQRT out of their domain, 0^0, a negative
number to a fractional power and any overflow (EXP(1000), 1E308*10, even as an
intermediate result) are #NUM!; SUM, AVERAGE, MIN, MAX, COUNT, PRODUCT, SUMSQ, AND, OR
skip text, booleans and empty cells in references, but count direct arguments; IF,
IFERROR evaluate only what they need; comparisons order numbers < text < booleans, text
case-insensitively, numbers exactly (Python's <, not LibreOffice's or IronCalc's
tolerance); a range where one value is wanted is the cell in the formula's row or
column (implicit intersection).

Deliberately unsupported (the cell, and what depends on it, gets an error, never a
crash): functions outside the table in `FUNCTIONS` (#NAME?), among them the volatile
and external ones (INDIRECT, OFFSET, NOW, RAND, WEBSERVICE, ...); references to other
workbooks (`[1]Sheet1!A1`) and 3D references (`Sheet1:Sheet3!A1`) (#REF!); array
arithmetic (`{=SUM(A1:A3*B1:B3)}`, array constants `{1,2}`) (#VALUE! or #NAME?); the
intersection (space) and union operators; multi-cell array formulas are computed in
their first cell only.
"""

from __future__ import annotations

import gc
import math
import time

from sheetprop.engines import CellError, EngineError, one_line
from sheetprop.engines import xlruntime as X
from sheetprop.engines.xlparse import FormulaSyntaxError, joined, parse, predictor_source
from sheetprop.engines.xlsxread import (
    COL_MASK, LETTERS, MAX_COL, MAX_ROW, ROW_MASK, ROW_SHIFT, SHEET_SHIFT, key as cell_key, read_book,
)

ROW_BITS = ROW_MASK << ROW_SHIFT
MAX_AST_DEPTH = 100  # nodes from the root, names expanded: beyond, the formula is #VALUE!
LONG_CHAIN = 32  # a longer run of + - * / goes through xlruntime.fold: Python's compiler
#                  recurses on long expressions, and each term is an operand anyway
MRU = 4  # shapes remembered per column and per row for the text comparison


class Deadline:
    def __init__(self, timeout: float | None, path):
        self.path = path
        self.timeout = timeout
        self.end = None if timeout is None else time.monotonic() + timeout

    def check(self):
        if self.end is not None and time.monotonic() > self.end:
            raise EngineError(f"the compiled engine did not finish {self.path} within {self.timeout:g} s; "
                              "raise the timeout")


def evaluate(path, timeout=None) -> dict[tuple[str, str], object]:
    from sheetprop.readbook import WorkbookError, check_container

    deadline = Deadline(timeout, path)
    try:
        check_container(path)
    except WorkbookError as exc:
        raise EngineError(str(exc)) from None
    # Hundreds of thousands of tuples, none in a reference cycle: the cyclic garbage
    # collector would only walk them again and again (a quarter of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        book = read_book(path, deadline)
        return _Evaluation(book, deadline).run()
    except (MemoryError, RecursionError) as exc:
        raise EngineError(f"the compiled engine could not evaluate {path} ({one_line(exc)}); "
                          "try engine 'ironcalc' or 'libreoffice'") from None
    finally:
        if collecting:
            gc.enable()


# --- generated code -----------------------------------------------------------------------

# Names the generated code may use, all bound in its globals.
def _globals() -> dict:
    g = {
        "XT": X.XTRUE, "XF": X.XFALSE,
        "exp": math.exp, "log": math.log, "log10": math.log10, "sqrt": math.sqrt, "abs": abs, "max": max,
        "tanh": math.tanh, "sinh": math.sinh, "cosh": math.cosh, "sin": math.sin, "cos": math.cos,
        "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
        "degrees": math.degrees, "radians": math.radians, "min": min,
        "_get": X.get, "_getn": X.getn, "_num": X.num, "_fin": X.finite, "_fold": X.fold, "_pow": X.power,
        "_cat": X.concat, "_truth": X.truth, "_ii": X.intersect,
        "_fail": X.fail, "_iferror_fast": X.iferror_fast, "_iferror": X.iferror_safe, "_ifna": X.iferror_na,
        "_is": X.is_kind,
        "__builtins__": {},
    }
    for op, name in X.COMPARISONS.items():
        g["_" + name] = getattr(X, name)
    for code, error in X.ERROR.items():
        g[_ERROR_NAMES[code]] = error
    for spec in FUNCTIONS.values():
        if spec.style in ("values", "references"):
            g["_" + spec.helper] = getattr(X, spec.helper)
    g["_slow"] = X.slow
    return g


_ERROR_NAMES = {code: f"E{i}" for i, code in enumerate(X.ERROR)}


class FunctionSpec:
    """How a function compiles: `style` picks the generator, `helper` is an xlruntime function."""

    def __init__(self, style: str, lo: int, hi: int, helper: str | None = None, c_name: str | None = None):
        self.style, self.lo, self.hi, self.helper, self.c_name = style, lo, hi, helper, c_name


def _table() -> dict[str, FunctionSpec]:
    t = {}
    for name, c_name in (("EXP", "exp"), ("LN", "log"), ("LOG10", "log10"), ("SQRT", "sqrt"), ("ABS", "abs"),
                         ("TANH", "tanh"), ("SINH", "sinh"), ("COSH", "cosh"), ("SIN", "sin"), ("COS", "cos"),
                         ("TAN", "tan"), ("ASIN", "asin"), ("ACOS", "acos"), ("ATAN", "atan"),
                         ("DEGREES", "degrees"), ("RADIANS", "radians")):
        t[name] = FunctionSpec("math", 1, 1, c_name=c_name)
    for name, helper, lo, hi in (("INT", "xint", 1, 1), ("SIGN", "sign", 1, 1), ("MOD", "mod", 2, 2),
                                 ("POWER", "power", 2, 2), ("LOG", "log", 1, 2), ("ATAN2", "atan2", 2, 2),
                                 ("ROUND", "xround", 1, 2), ("ROUNDUP", "roundup", 1, 2),
                                 ("ROUNDDOWN", "rounddown", 1, 2), ("TRUNC", "trunc", 1, 2), ("NOT", "xnot", 1, 1),
                                 ("CONCATENATE", "concat", 1, 255)):
        t[name] = FunctionSpec("values", lo, hi, helper=helper)
    for name, helper in (("SUM", "xsum"), ("AVERAGE", "average"), ("MIN", "xmin"), ("MAX", "xmax"),
                         ("COUNT", "count"), ("COUNTA", "counta"), ("PRODUCT", "product"), ("SUMSQ", "sumsq"),
                         ("AND", "and_"), ("OR", "or_"), ("XOR", "xor_"), ("SUMPRODUCT", "sumproduct")):
        t[name] = FunctionSpec("references", 1, 255, helper=helper)
    t["IF"] = FunctionSpec("if", 2, 3)
    t["IFERROR"] = FunctionSpec("iferror", 2, 2)
    t["IFNA"] = FunctionSpec("ifna", 2, 2)
    for name, kind in (("ISERROR", "error"), ("ISERR", "err"), ("ISNA", "na"), ("ISNUMBER", "number"),
                       ("ISTEXT", "text"), ("ISNONTEXT", "nontext"), ("ISLOGICAL", "logical"), ("ISBLANK", "blank")):
        t[name] = FunctionSpec("is:" + kind, 1, 1)
    t["PI"] = FunctionSpec("constant", 0, 0, helper=repr(math.pi))
    t["TRUE"] = FunctionSpec("constant", 0, 0, helper="XT")
    t["FALSE"] = FunctionSpec("constant", 0, 0, helper="XF")
    t["NA"] = FunctionSpec("constant", 0, 0, helper="#N/A")
    t["SINGLE"] = FunctionSpec("single", 1, 1)
    return t


FUNCTIONS = _table()
# Inlined as plain arithmetic in the fast code when every argument is a number or one cell.
_INLINE = {"SUM", "AVERAGE", "MIN", "MAX", "PRODUCT"}


class _Unresolved(Exception):
    """A reference that cannot be resolved: the node becomes this error."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class _Generator:
    """Python source for one shape, in the fast or the safe flavour.

    The AST has its defined names already expanded. Every method returns `(code, kind,
    overflow)`: `code` a Python expression (an atom or in brackets), `kind` "N" when it
    is surely a float if it does not raise, "S" text, "B" a boolean, "A" anything;
    `overflow` True when it may be inf or nan (plain float + - * / never raise on
    overflow), so a consumer that could hide it (x/inf is 0) checks it first. The safe
    flavour checks every step itself.
    """

    def __init__(self, sheets: dict[str, int], sheet: int, array: bool, fast: bool):
        self.sheets, self.sheet, self.array, self.fast = sheets, sheet, array, fast

    # --- references ------------------------------------------------------------------
    def key_code(self, sheet_name, row, row_abs, col, col_abs) -> str:
        sheet = self.sheet_index(sheet_name)
        if row_abs and col_abs:
            return str(cell_key(sheet, row, col))
        if not row_abs and not col_abs:
            offset = ((sheet - self.sheet) << SHEET_SHIFT) + (row << ROW_SHIFT) + col
            return f"(k + {offset})" if offset >= 0 else f"(k - {-offset})"
        if row_abs:  # the column moves with the cell
            return f"((k & {COL_MASK}) + {(sheet << SHEET_SHIFT) + (row << ROW_SHIFT) + col})"
        return f"((k & {ROW_BITS}) + {(sheet << SHEET_SHIFT) + (row << ROW_SHIFT) + col})"

    def sheet_index(self, name) -> int:
        if name is None:
            return self.sheet
        index = self.sheets.get(name.upper())
        if index is None:
            raise _Unresolved("#REF!")
        return index

    def reference(self, node):
        """("cell", key code) or ("area", key code, key code) for a reference node, else None."""
        kind = node[0]
        if kind == "ref":
            return "cell", self.key_code(*node[1:])
        if kind == "area":
            return "area", self.key_code(node[1], *node[2:6]), self.key_code(node[1], *node[6:10])
        if kind == "range":
            a, b = node[1], node[2]
            if a[0] == "ref" and b[0] == "ref" and self.sheet_index(a[1]) == self.sheet_index(b[1]):
                return "area", self.key_code(*a[1:]), self.key_code(*b[1:])
            raise _Unresolved("#VALUE!")
        if kind == "ext":
            raise _Unresolved("#REF!")
        return None

    # --- values ----------------------------------------------------------------------
    def error(self, code: str):
        name = _ERROR_NAMES.get(code, _ERROR_NAMES["#VALUE!"])
        return (name if self.fast else f"_fail({name})"), "A", False

    def slow(self):
        """In the fast code: hand the cell to the safe code (rare functions)."""
        return "_slow()", "A", False

    def value(self, node):
        try:
            return self._value(node)
        except _Unresolved as exc:
            return self.error(exc.code)

    def _value(self, node):
        kind = node[0]
        if kind == "num":
            return repr(node[1]), "N", False
        if kind == "str":
            return repr(node[1]), "S", False
        if kind == "bool":
            return ("XT" if node[1] else "XF"), "B", False
        if kind == "err":
            return self.error(node[1])
        if kind == "missing":
            return "0.0", "N", False
        ref = self.reference(node)
        if ref is not None:
            if ref[0] == "cell":
                return (f"V[{ref[1]}]" if self.fast else f"_get(V, {ref[1]})"), "A", False
            if self.array:
                return self.error("#VALUE!")  # array arithmetic is not supported
            return f"_ii(R, k, {ref[1]}, {ref[2]})", "A", False
        if kind == "neg":
            code, _, over = self.number(node[1])
            return f"(-{code})", "N", over
        if kind == "pos":
            return self.value(node[1])
        if kind == "pct":
            code, _, over = self.number(node[1])
            return f"({code} / 100.0)", "N", over
        if kind == "chain":
            return self.chain(node)
        if kind == "call":
            return self.call(node[1], node[2])
        raise AssertionError(kind)

    def number(self, node):
        """The node as an operand of arithmetic: the safe code converts it to a float."""
        if self.fast:
            return self.value(node)
        try:
            ref = self.reference(node)
        except _Unresolved as exc:
            return self.error(exc.code)
        if ref is not None and ref[0] == "cell":
            return f"_getn(V, {ref[1]})", "N", False
        code, kind, over = self.value(node)
        return (code if kind == "N" else f"_num({code})"), "N", over

    def checked(self, node):
        """Value code for a consumer that must not see an overflowed intermediate."""
        code, kind, over = self.value(node)
        return (f"_fin({code})" if over and self.fast else code), kind

    def chain(self, node):
        _, level, first, rest = node
        if level in ("+-", "*/"):
            return self.arithmetic(node)
        if level == "^":
            code, _, over = self.number(first)
            for _, operand in rest:
                exponent = operand[1] if operand[0] == "num" else None
                if self.fast and exponent is not None and exponent == int(exponent) and 1 <= exponent <= 64:
                    code = f"({code} ** {exponent!r})"  # raises OverflowError itself
                else:
                    base = f"_fin({code})" if over and self.fast else code
                    code = f"_pow({base}, {self.checked(operand)[0]})"
                    over = False
            return code, "N", over
        if level == "&":
            parts = [self.checked(first)[0]] + [self.checked(x)[0] for _, x in rest]
            return f"_cat({', '.join(parts)})", "S", False
        # comparisons, left to right: (a < b) = c compares a boolean with c
        code, _ = self.checked(first)
        for op, operand in rest:
            code = f"(XT if _{X.COMPARISONS[op]}({code}, {self.checked(operand)[0]}) else XF)"
        return code, "B", False

    def arithmetic(self, node):
        _, level, first, rest = node
        ops = "".join(op for op, _ in rest)
        operands = [self.number(first)] + [self.number(x) for _, x in rest]
        if not self.fast or len(operands) > LONG_CHAIN:
            return f"_fold({ops!r}, ({', '.join(c for c, _, _ in operands)},))", "N", False
        code = operands[0][0]
        if ops[0] == "+" and operands[0][1] != "N" and operands[1][1] != "N":
            code = "0.0 + " + code  # so that text + text raises instead of joining the texts
        for op, (operand, _, over) in zip(ops, operands[1:]):
            code += f" {op} {f'_fin({operand})' if op == '/' and over else operand}"
        return f"({code})", "N", True

    def condition(self, node) -> str:
        """Python bool code for IF's first argument."""
        if node[0] == "chain" and node[1] == "cmp" and len(node[3]) == 1:
            (op, operand), = node[3]
            return f"_{X.COMPARISONS[op]}({self.checked(node[2])[0]}, {self.checked(operand)[0]})"
        code, kind = self.checked(node)
        if kind == "N" and self.fast:
            return f"({code} != 0.0)"
        return f"_truth({code})"

    # --- functions ---------------------------------------------------------------------
    def call(self, name: str, args: tuple):
        spec = FUNCTIONS.get(name)
        if spec is None:
            return self.error("#NAME?")  # unknown, volatile or external: not supported
        if not spec.lo <= len(args) <= spec.hi:
            return self.error("#VALUE!")
        style = spec.style
        if style == "constant":
            return self.error(spec.helper) if spec.helper.startswith("#") else (spec.helper, "A", False)
        if style == "math":
            code = self.checked(args[0])[0] if self.fast else self.number(args[0])[0]
            return f"{spec.c_name}({code})", "N", spec.c_name == "degrees"  # the one that overflows quietly
        if style == "values":
            parts = [self.checked(a)[0] for a in args]
            return f"_{spec.helper}({', '.join(parts)})", ("S" if name == "CONCATENATE" else "A"), False
        if style == "references":
            return self.aggregate(name, spec, args)
        if style == "if":
            return self.if_(args)
        if style == "single":
            return self.value(args[0])
        if self.fast:  # IFERROR, IFNA, IS*: only in the safe code, which catches errors
            if style == "iferror":
                return f"_iferror_fast({self.value(args[0])[0]}, lambda: {self.value(args[1])[0]})", "A", False
            return self.slow()
        value = self.value(args[0])[0]
        if style == "iferror":
            return f"_iferror(lambda: {value}, lambda: {self.value(args[1])[0]})", "A", False
        if style == "ifna":
            return f"_ifna(lambda: {value}, lambda: {self.value(args[1])[0]})", "A", False
        if style.startswith("is:"):
            return f"_is(lambda: {value}, {style[3:]!r})", "B", False
        raise AssertionError(style)

    def if_(self, args):
        condition = self.condition(args[0])
        yes = self.value(args[1])
        no = self.value(args[2]) if len(args) > 2 else ("XF", "B", False)
        kind = yes[1] if yes[1] == no[1] else "A"
        return f"({yes[0]} if {condition} else {no[0]})", kind, yes[2] or no[2]

    def aggregate(self, name, spec, args):
        items = []  # (code, kind, overflow, key code of a single cell or None)
        for a in args:
            try:
                ref = self.reference(a)
            except _Unresolved as exc:
                items.append((*self.error(exc.code), None))
                continue
            if ref is None:
                items.append((*self.value(a), None))
            elif ref[0] == "cell":
                items.append((f"({ref[1]}, {ref[1]})", "R", False, ref[1]))
            else:
                items.append((f"({ref[1]}, {ref[2]})", "R", False, None))
        if self.fast and name in _INLINE and all(i[1] == "N" or i[3] for i in items):
            return self.inline(name, items)
        parts = [f"_fin({c})" if over and self.fast else c for c, _, over, _ in items]
        return f"_{spec.helper}(R, {', '.join(parts)})", ("B" if name in ("AND", "OR", "XOR") else "N"), False

    def inline(self, name, items):
        """SUM, AVERAGE, MIN, MAX, PRODUCT of numbers and single cells as plain Python.

        A single cell that holds anything but a number makes this raise (text + 0.0,
        max(text, 1.0), an absent key): the safe code then skips it as Excel does.
        """
        codes, kinds = [], []
        for code, kind, over, single in items:
            if single:
                codes.append(f"V[{single}]")
                kinds.append("A")
            else:
                codes.append(f"_fin({code})" if over and name in ("MIN", "MAX") else code)
                kinds.append(kind)
        if name in ("MIN", "MAX"):
            if len(codes) == 1:
                return f"(0.0 + {codes[0]})", "N", False
            return f"{name.lower()}({', '.join(codes)})", "N", False
        if name == "PRODUCT":
            body = " * ".join(codes)
            return (f"(1.0 * {body})" if len(codes) == 1 else f"({body})"), "N", True
        body = " + ".join(codes)
        if kinds[0] != "N" and (len(kinds) == 1 or kinds[1] != "N"):
            body = "0.0 + " + body
        if name == "SUM":
            return f"({body})", "N", True
        return f"(({body}) / {float(len(codes))!r})", "N", True


# --- evaluation ----------------------------------------------------------------------------

class _Shape:
    """A compiled formula shape: its fast function, and its safe one, compiled when first needed."""

    __slots__ = ("fast", "_safe", "_source", "_namespace", "rows", "cols")

    def __init__(self, fast, safe=None, rows=(0, 0), cols=(0, 0), source=None, namespace=None):
        self.fast, self._safe = fast, safe
        self._source, self._namespace = source, namespace
        self.rows, self.cols = rows, cols  # smallest and largest relative offsets

    @property
    def safe(self):
        if self._safe is None:
            exec(_code(self._source), self._namespace)  # our own generated source, from the validated AST
            self._safe = self._namespace.pop("safe")
        return self._safe


_CODE_CACHE: dict[str, object] = {}  # generated source -> code object, across evaluations


def _code(source: str):
    found = _CODE_CACHE.get(source)
    if found is None:
        if len(_CODE_CACHE) > 50_000:
            _CODE_CACHE.clear()
        found = _CODE_CACHE[source] = compile(source, "<sheetprop formula>", "exec")
    return found


_OK = (str, X.XLBool, CellError)


class _Evaluation:
    def __init__(self, book, deadline: Deadline):
        self.book, self.deadline = book, deadline
        self.sheet_index = {name.upper(): i for i, name in enumerate(book.sheets)}
        V = dict(book.values)
        for k, v in V.items():
            if v.__class__ is bool:
                V[k] = X.XTRUE if v else X.XFALSE
        self.V = V
        self.globals = _globals()
        self.globals["R"] = X.Ranges(V)
        self.shapes: dict[tuple, _Shape] = {}
        self.by_column: dict[int, list] = {}
        self.by_row: dict[int, list] = {}
        self.last: dict[int, tuple] = {}
        self.name_cache: dict[tuple[int | None, str], tuple] = {}
        self.count = 0

    # --- shapes -----------------------------------------------------------------------
    def shape_of(self, k: int, text: str):
        """(shape, (text, holes) or None) of formula `text` in cell k: a neighbour's, or compiled."""
        row, col = (k >> ROW_SHIFT) & ROW_MASK, k & COL_MASK
        column_key, row_key = k & ~ROW_BITS, k >> ROW_SHIFT
        for known in self.by_column.get(column_key, ()):
            if known[0](row, col) == text:
                self.last[column_key] = known
                return known[1], known[2]
        for predict, shape, _ in self.by_row.get(row_key, ()):
            if predict(row, col) == text:
                return shape, None
        try:
            parsed = parse(text, row, col)
        except FormulaSyntaxError:
            return self.constant_shape(X.NAME), None
        shape = self.compiled(k >> SHEET_SHIFT, parsed.ast, False, parsed.holes)
        template = (text, parsed.holes)
        for table, where, rows_only in ((self.by_column, column_key, True), (self.by_row, row_key, False)):
            known = table.setdefault(where, [])
            known.insert(0, (self.predictor(text, parsed.holes, rows_only), shape, template))
            del known[MRU:]
        self.last[column_key] = self.by_column[column_key][0]
        return shape, template

    def predictor(self, text: str, holes: tuple, rows_only: bool):
        """A function (row, column) -> the text the same shape has there (see predictor_source)."""
        if not holes or rows_only and not any(kind == "r" for _, _, kind, _ in holes):
            return lambda r, c: text
        namespace = {"L": LETTERS, "__builtins__": {"str": str}}
        exec(_code(predictor_source(text, holes, "predict", rows_only)), namespace)  # file text only via repr()
        return namespace["predict"]

    def compiled(self, sheet: int, ast: tuple, array: bool, holes: tuple = ()) -> _Shape:
        found = self.shapes.get((sheet, ast, array))
        if found is not None:
            return found
        try:
            expanded = self.expand(ast, sheet)
            fast = _Generator(self.sheet_index, sheet, array, fast=True).value(expanded)[0]
            safe = _Generator(self.sheet_index, sheet, array, fast=False).value(expanded)[0]
            code = _code(f"def fast(V, k):\n    return {fast}\n")
            safe_source = f"def safe(V, k):\n    return {safe}\n"
        except (_TooDeep, RecursionError, SyntaxError, MemoryError):
            return self.constant_shape(X.VALUE)  # nested too deep for Python's own compiler
        namespace = self.globals
        exec(code, namespace)  # our own generated source, built from the validated AST
        rows = [off for _, _, kind, off in holes if kind == "r"] or [0]
        cols = [off for _, _, kind, off in holes if kind == "c"] or [0]
        shape = self.shapes[(sheet, ast, array)] = _Shape(
            namespace.pop("fast"), None, (min(rows), max(rows)), (min(cols), max(cols)), safe_source, namespace)
        self.count += 1
        if self.count % 256 == 0:
            self.deadline.check()
        return shape

    def constant_shape(self, value) -> _Shape:
        def constant(V, k):
            return value
        return _Shape(constant, constant)

    def definition(self, sheet: int, sheet_name, name: str):
        """((scope, NAME), AST) of a defined name as seen from `sheet`, sheet-scoped first."""
        if sheet_name is None:
            scope = sheet
        else:
            scope = self.sheet_index.get(sheet_name.upper())
            if scope is None:
                return None, ("err", "#REF!")
        for where in ((scope, name), (None, name)):
            if where in self.book.names:
                break
        else:
            return None, ("err", "#NAME?")
        found = self.name_cache.get(where)
        if found is None:
            text = self.book.names[where].strip()
            try:
                found = parse(text[1:] if text.startswith("=") else text).ast  # relative to A1
            except FormulaSyntaxError:
                found = ("err", "#NAME?")
            self.name_cache[where] = found
        return where, found

    def expand(self, node, sheet: int, names: tuple = (), depth: int = 0):
        """The AST with every defined name replaced by its definition; too deep is #VALUE!."""
        if depth > MAX_AST_DEPTH:
            raise _TooDeep
        kind = node[0]
        if kind == "name":
            where, found = self.definition(sheet, node[1], node[2])
            if where in names:
                return ("err", "#NAME?")  # a name defined through itself
            return self.expand(found, sheet, names + (where,), depth + 1)
        if kind in ("neg", "pos", "pct"):
            return (kind, self.expand(node[1], sheet, names, depth + 1))
        if kind == "chain":
            return ("chain", node[1], self.expand(node[2], sheet, names, depth + 1),
                    tuple((op, self.expand(x, sheet, names, depth + 1)) for op, x in node[3]))
        if kind == "range":
            return ("range", *(self.expand(x, sheet, names, depth + 1) for x in node[1:]))
        if kind == "call":
            return ("call", node[1], tuple(self.expand(a, sheet, names, depth + 1) for a in node[2]))
        return node

    # --- running ------------------------------------------------------------------------
    def run(self) -> dict[tuple[str, str], object]:
        V, deadline = self.V, self.deadline
        keys, shapes = self.shapes_of_cells()
        V.update(dict.fromkeys(keys, X.PENDING))
        deadline.check()

        later = []
        OK = _OK
        fasts = [shape.fast for shape in shapes]
        for start in range(0, len(keys), 256):  # a cell summing a whole column can take milliseconds
            for k, fast in zip(keys[start:start + 256], fasts[start:start + 256]):
                try:
                    v = fast(V, k)
                    c = v.__class__
                    if c is float:
                        if v - v == 0.0:
                            V[k] = v
                            continue
                    elif c in OK:
                        V[k] = v
                        continue
                except Exception:
                    pass
                later.append(k)
            deadline.check()
        if later:
            self.shape_by_key = dict(zip(keys, shapes))
        for i, k in enumerate(later):
            if V[k] is X.PENDING:
                self.careful(k)
            if i & 255 == 255:
                deadline.check()
        return self.results()

    def shapes_of_cells(self) -> tuple[list[int], list[_Shape]]:
        """The key and shape of every formula cell, in file order.

        A row whose cells sit in the same columns as a row seen before, each with the text
        that row's shape has here, takes that row's shapes: one comparison of the row's
        texts joined together with the text its pattern rebuilds for this row number.
        """
        plain = self.book.plain
        starts = sorted(set(self.book.row_starts) | {0, len(plain)})
        not_row = ~ROW_BITS
        keys: list[int] = []
        shapes: list[_Shape] = []
        patterns: dict[tuple[int, int], list] = {}  # (sheet, cells in the row) -> [(columns, predict, shapes)]
        last = self.last
        for n, (a, b) in enumerate(zip(starts, starts[1:])):
            group = plain[a:b]
            if len(group) > 1:
                row_keys, texts, _ = zip(*group)
                base = row_keys[0] & ~COL_MASK
                columns = [k - base for k in row_keys]
                where = (row_keys[0] >> SHEET_SHIFT, len(group))
                row = (row_keys[0] >> ROW_SHIFT) & ROW_MASK
                text = None
                for pattern_columns, predict, pattern_shapes in patterns.get(where, ()):
                    if pattern_columns == columns:
                        text = text or "\x00".join(texts)
                        if predict(row, 0) == text:
                            keys += row_keys
                            shapes += pattern_shapes
                            break
                else:
                    templates = self.one_by_one(group, keys, shapes)
                    if templates is not None:
                        known = patterns.setdefault(where, [])
                        combined, holes = joined(templates)
                        predict = self.predictor(combined, holes, rows_only=True)
                        known.insert(0, (columns, predict, shapes[-len(group):]))
                        del known[MRU:]
            elif group:
                k, text, _ = group[0]
                keys.append(k)
                known = last.get(k & not_row)
                if known is not None and known[0]((k >> ROW_SHIFT) & ROW_MASK, 0) == text:
                    shapes.append(known[1])
                else:
                    shapes.append(self.shape_of(k, text)[0])
            if n & 255 == 255:
                self.deadline.check()
        for k, shape in self.special():
            keys.append(k)
            shapes.append(shape)
        return keys, shapes

    def one_by_one(self, group, keys, shapes) -> list | None:
        """Append the key and shape of each cell of `group`; their (text, holes), if all known."""
        templates = []
        last = self.last
        not_row = ~ROW_BITS
        for k, text, _ in group:
            keys.append(k)
            known = last.get(k & not_row)
            if known is not None and known[0]((k >> ROW_SHIFT) & ROW_MASK, 0) == text:
                shapes.append(known[1])
                templates.append(known[2])
            else:
                shape, template = self.shape_of(k, text)
                shapes.append(shape)
                templates.append(template)
        return None if None in templates else templates

    def special(self) -> list:
        """(key, shape) of shared and array formulas; followers take their master's shape."""
        masters, out, followers = {}, [], []
        for f in self.book.special:
            sheet, row, col = f.key >> SHEET_SHIFT, (f.key >> ROW_SHIFT) & ROW_MASK, f.key & COL_MASK
            if f.text is None:
                followers.append(f)
                continue
            try:
                parsed = parse(f.text, row, col)
                shape = self.compiled(sheet, parsed.ast, f.array, parsed.holes)
            except FormulaSyntaxError:
                shape = self.constant_shape(X.NAME)
            if f.shared is not None:
                masters[(sheet, f.shared)] = shape
            out.append((f.key, shape))
        for f in followers:
            sheet, row, col = f.key >> SHEET_SHIFT, (f.key >> ROW_SHIFT) & ROW_MASK, f.key & COL_MASK
            shape = masters.get((sheet, f.shared))
            if shape is None or not (1 <= row + shape.rows[0] and row + shape.rows[1] <= MAX_ROW
                                     and 1 <= col + shape.cols[0] and col + shape.cols[1] <= MAX_COL):
                shape = self.constant_shape(X.REF)
            out.append((f.key, shape))
        return out

    def compute(self, k: int):
        """The value of formula cell k, all it needs being computed; NeedCell if not."""
        shape = self.shape_by_key[k]
        V = self.V
        try:
            v = shape.fast(V, k)
            c = v.__class__
            if c is float and v - v == 0.0 or c in _OK:
                return v
        except Exception:
            pass
        try:
            v = shape.safe(V, k)
        except X.NeedCell as need:
            if not need.keys:
                return X.VALUE
            raise
        except X.CAUGHT as exc:
            return X.error_of(exc)
        except Exception:  # RecursionError, ArithmeticError, ...: an error value, never a crash
            return X.VALUE
        c = v.__class__
        if c is float:
            return v if v - v == 0.0 else X.NUM
        if v is None:
            return 0.0  # a formula showing an empty cell shows 0
        if c is int:
            return float(v)
        if c in _OK:
            return v
        return X.VALUE

    def careful(self, k0: int) -> None:
        """Compute k0 and what it needs, depth first with an explicit stack."""
        V = self.V
        path, todo, where = [k0], [None], {k0: 0}
        steps = 0
        while path:
            steps += 1
            if steps & 255 == 0:
                self.deadline.check()
            pending = todo[-1]
            if pending:
                d = pending.pop()
                if V.get(d) is not X.PENDING:
                    continue
                if d in where:  # d waits, through this path, for itself: a cycle
                    start = where[d]
                    for c in path[start:]:
                        V[c] = X.CIRC
                        del where[c]
                    del path[start:], todo[start:]
                    continue
                where[d] = len(path)
                path.append(d)
                todo.append(None)
                continue
            k = path[-1]
            try:
                v = self.compute(k)
            except X.NeedCell as need:
                todo[-1] = list(reversed(need.keys))
                continue
            V[k] = v
            del where[k]
            path.pop()
            todo.pop()

    def results(self) -> dict[tuple[str, str], object]:
        V, sheets = self.V, self.book.sheets
        out = {}
        cells = self.book.plain + [(f.key, None, None) for f in self.book.special]
        for k, _, a1 in cells:
            v = V[k]
            c = v.__class__
            if c is not float:
                if c is X.XLBool:
                    v = v.value
                elif c is int:
                    v = float(v)
                elif v is X.PENDING:
                    v = X.CIRC
            if a1 is None:
                a1 = LETTERS[k & COL_MASK] + str((k >> ROW_SHIFT) & ROW_MASK)
            out[(sheets[k >> SHEET_SHIFT], a1)] = v
        return out


class _TooDeep(Exception):
    """A formula (its names expanded) nested deeper than MAX_AST_DEPTH."""
