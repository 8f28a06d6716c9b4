"""Values and functions the compiled engine's generated code calls, with Excel's semantics.

During evaluation a cell's value is a `float`, `str`, `XLBool` (TRUE/FALSE), `CellError`,
or `PENDING` (a formula cell not computed yet); an empty cell is absent (None). Booleans
are not Python's bool on purpose: `True * "ab"` is "ab" in Python, while `XTRUE * "ab"`
raises, so plain float arithmetic in the generated fast code can never turn a non-number
into a wrong number. It either computes what Excel computes or raises, and the cell is
computed again by the generated safe code, which calls the helpers here for every step.

Errors travel as exceptions (`XLError`) in the safe code, so the first error met from
left to right wins, as in Excel; `NeedCell` says which PENDING cells a formula needs.

Every helper takes values that may be any of the above and either returns the Excel
result or raises: XLError (an Excel error), NeedCell, or ZeroDivisionError /
OverflowError / ValueError from Python's float and math functions, which `error_of`
maps to #DIV/0! and #NUM!.
"""

from __future__ import annotations

import bisect
import math
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Context, Decimal

from sheetprop.engines import CellError
from sheetprop.engines.xlsxread import COL_MASK, ROW_MASK, ROW_SHIFT, SHEET_SHIFT


class XLBool:
    """Excel's TRUE or FALSE; exactly two instances, XTRUE and XFALSE."""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = value

    def __repr__(self) -> str:
        return "TRUE" if self.value else "FALSE"


XTRUE, XFALSE = XLBool(True), XLBool(False)


class _Pending:
    __slots__ = ()

    def __repr__(self) -> str:
        return "PENDING"


PENDING = _Pending()


class XLError(Exception):
    """An Excel error value raised through the safe code."""

    def __init__(self, error: CellError):
        super().__init__(error.code)
        self.error = error


class NeedCell(Exception):
    """The formula read PENDING cells: compute `keys` first, then try again."""

    def __init__(self, keys):
        super().__init__(len(keys))
        self.keys = keys


ERROR = {code: CellError(code) for code in (
    "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!",
    "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#UNKNOWN!", "#BUSY!", "#CIRC!")}
DIV0, VALUE, NUM, NA, REF, NAME, CIRC = (ERROR[c] for c in ("#DIV/0!", "#VALUE!", "#NUM!", "#N/A", "#REF!",
                                                            "#NAME?", "#CIRC!"))

# What IFERROR, ISERROR and the engine itself turn into an error value.
CAUGHT = (XLError, ZeroDivisionError, OverflowError, ValueError, TypeError)


def error_of(exc: BaseException) -> CellError:
    if isinstance(exc, XLError):
        return exc.error
    if isinstance(exc, ZeroDivisionError):
        return DIV0
    if isinstance(exc, (OverflowError, ValueError)):
        return NUM
    return VALUE


def fail(error: CellError):
    raise XLError(error)


class Slow(Exception):
    """Raised by the fast code where only the safe code knows what to do."""


def slow():
    raise Slow


def _bad(v):
    """Raise what a value that is neither a number, text, boolean nor empty calls for."""
    if v.__class__ is CellError:
        raise XLError(v)
    if v is PENDING:
        raise NeedCell(())
    raise XLError(VALUE)


# --- reading cells (safe code) ------------------------------------------------------------

def get(V, key):
    """A cell's value in value context: None when empty; errors and PENDING raise."""
    v = V.get(key)
    c = v.__class__
    if c is float or c is str or c is XLBool or v is None:
        return v
    if v is PENDING:
        raise NeedCell((key,))
    if c is CellError:
        raise XLError(v)
    return v


def getn(V, key) -> float:
    """A cell's value as a number (empty is 0)."""
    v = V.get(key)
    if v.__class__ is float:
        return v
    if v is None:
        return 0.0
    if v is PENDING:
        raise NeedCell((key,))
    return num(v)


# --- coercion ---------------------------------------------------------------------------

def num(v) -> float:
    """Excel's conversion to a number in arithmetic: text that reads as a number converts."""
    c = v.__class__
    if c is float:
        return v
    if v is None:
        return 0.0
    if c is XLBool:
        return 1.0 if v.value else 0.0
    if c is str:
        return text_number(v)
    if c is int:
        return float(v)
    return _bad(v)


def text_number(text: str) -> float:
    s = text.strip().replace(",", "") if "," in text else text.strip()
    percent = s.endswith("%")
    if percent:
        s = s[:-1].rstrip()
    if not s or not (s[0].isdigit() or s[0] in "+-.") or "_" in s or not s.isascii():
        raise XLError(VALUE)
    try:
        value = float(s)
    except ValueError:
        raise XLError(VALUE) from None
    if value - value != 0.0:
        raise XLError(VALUE)
    return value / 100.0 if percent else value


def text(v) -> str:
    """Excel's conversion to text, as `&` does it."""
    c = v.__class__
    if c is str:
        return v
    if c is float:
        return number_text(v)
    if v is None:
        return ""
    if c is XLBool:
        return "TRUE" if v.value else "FALSE"
    return _bad(v)


def number_text(x: float) -> str:
    """A number as Excel's General format writes it in text: at most 15 significant digits.

    1/3 -> "0.333333333333333", 1E20 -> "1E+20", 0.00001 -> "0.00001", 1E-10 -> "1E-10".
    """
    if x == 0.0:
        return "0"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    mantissa, _, exponent = f"{x:.14e}".partition("e")
    exp = int(exponent)
    if -10 < exp < 15:
        digits = mantissa.replace("-", "").replace(".", "").rstrip("0") or "0"
        sign = "-" if x < 0 else ""
        if exp < 0:
            return f"{sign}0.{'0' * (-exp - 1)}{digits}"
        whole, frac = digits[:exp + 1].ljust(exp + 1, "0"), digits[exp + 1:]
        return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}E{'+' if exp >= 0 else '-'}{abs(exp):02d}"


def truth(v) -> bool:
    """A value as a condition (IF, AND, NOT): numbers are TRUE unless 0."""
    c = v.__class__
    if c is float:
        return v != 0.0
    if c is XLBool:
        return v.value
    if v is None:
        return False
    if c is str:
        upper = v.upper()
        if upper == "TRUE":
            return True
        if upper == "FALSE":
            return False
        raise XLError(VALUE)
    return _bad(v)


def xbool(b: bool) -> XLBool:
    return XTRUE if b else XFALSE


# --- operators ----------------------------------------------------------------------------

def finite(x):
    """x itself if it is a finite number; an overflowed intermediate result is #NUM!."""
    if x - x == 0.0:
        return x
    raise XLError(NUM)


def fold(ops: str, operands: tuple) -> float:
    """operands[0] op[0] operands[1] op[1] ... left to right, each step as Excel does it."""
    acc = finite(num(operands[0]))
    for op, x in zip(ops, operands[1:]):
        x = num(x)
        if x - x != 0.0:
            raise XLError(NUM)
        if op == "+":
            acc = acc + x
        elif op == "-":
            acc = acc - x
        elif op == "*":
            acc = acc * x
        else:
            if x == 0.0:
                raise XLError(DIV0)
            acc = acc / x
        if acc - acc != 0.0:
            raise XLError(NUM)
    return acc


def power(a, b) -> float:
    """a ^ b: 0^0 is #NUM!, 0^-1 #DIV/0!, a negative number to a fractional power #NUM!."""
    a, b = num(a), num(b)
    if a == 0.0:
        if b == 0.0:
            raise XLError(NUM)
        if b < 0.0:
            raise XLError(DIV0)
        return 0.0
    if a < 0.0 and b != math.floor(b):
        raise XLError(NUM)
    try:
        result = a ** b
    except OverflowError:
        raise XLError(NUM) from None
    if result - result != 0.0:
        raise XLError(NUM)
    return result


def concat(*values) -> str:
    return "".join([text(v) for v in values])


_RANK = {float: 0, str: 1, XLBool: 2}


def compare(a, b) -> int:
    """-1, 0 or 1: numbers < text < booleans; text case-insensitive; empty as 0, "" or FALSE."""
    ca, cb = a.__class__, b.__class__
    if a is None:
        a, ca = (0.0, float) if b is None or cb is float else ("", str) if cb is str else (XFALSE, XLBool)
    if b is None:
        b, cb = (0.0, float) if ca is float else ("", str) if ca is str else (XFALSE, XLBool)
    ra, rb = _RANK.get(ca), _RANK.get(cb)
    if ra is None:
        _bad(a)
    if rb is None:
        _bad(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ca is str:
        a, b = a.lower(), b.lower()
    elif ca is XLBool:
        a, b = a.value, b.value
    return -1 if a < b else (1 if a > b else 0)


def lt(a, b) -> bool:
    if a.__class__ is float and b.__class__ is float:
        return a < b
    return compare(a, b) < 0


def le(a, b) -> bool:
    if a.__class__ is float and b.__class__ is float:
        return a <= b
    return compare(a, b) <= 0


def gt(a, b) -> bool:
    if a.__class__ is float and b.__class__ is float:
        return a > b
    return compare(a, b) > 0


def ge(a, b) -> bool:
    if a.__class__ is float and b.__class__ is float:
        return a >= b
    return compare(a, b) >= 0


def eq(a, b) -> bool:
    if a.__class__ is float and b.__class__ is float:
        return a == b
    return compare(a, b) == 0


def ne(a, b) -> bool:
    if a.__class__ is float and b.__class__ is float:
        return a != b
    return compare(a, b) != 0


COMPARISONS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "=": "eq", "<>": "ne"}


# --- ranges -------------------------------------------------------------------------------

class Ranges:
    """The cells that exist in a rectangle, in row-major order, without visiting empty ones.

    A whole column (A:A, a million rows) costs what the cells it holds cost: a small
    rectangle is scanned position by position, a large one through a per-column index
    of the rows that hold something, built once, the first time a large range is used.
    """

    SMALL = 256

    def __init__(self, V):
        self.V = V
        self._cache: dict[tuple[int, int], list[int]] = {}
        self._columns = None  # sheet -> sorted columns; (sheet, col) -> sorted rows

    def cells(self, k1: int, k2: int) -> list[int]:
        found = self._cache.get((k1, k2))
        if found is None:
            found = self._cache[(k1, k2)] = self._find(k1, k2)
        return found

    @staticmethod
    def box(k1: int, k2: int) -> tuple[int, int, int, int, int]:
        sheet = k1 >> SHEET_SHIFT
        r1, r2 = (k1 >> ROW_SHIFT) & ROW_MASK, (k2 >> ROW_SHIFT) & ROW_MASK
        c1, c2 = k1 & COL_MASK, k2 & COL_MASK
        return sheet, min(r1, r2), max(r1, r2), min(c1, c2), max(c1, c2)

    def _find(self, k1, k2):
        sheet, r1, r2, c1, c2 = self.box(k1, k2)
        V = self.V
        base = sheet << SHEET_SHIFT
        if (r2 - r1 + 1) * (c2 - c1 + 1) <= self.SMALL:
            rows = [base | r << ROW_SHIFT for r in range(r1, r2 + 1)]
            return [k for row in rows for k in range(row + c1, row + c2 + 1) if k in V]
        columns = self._index()
        present = columns.get(sheet, [])
        found = []
        for col in present[bisect.bisect_left(present, c1):bisect.bisect_right(present, c2)]:
            rows = columns[(sheet, col)]
            inside = rows[bisect.bisect_left(rows, r1):bisect.bisect_right(rows, r2)]
            found += [base | r << ROW_SHIFT | col for r in inside]
        found.sort()
        return found

    def _index(self):
        if self._columns is None:
            columns: dict = {}
            for k in self.V:
                columns.setdefault((k >> SHEET_SHIFT, k & COL_MASK), []).append((k >> ROW_SHIFT) & ROW_MASK)
            sheets: dict = {}
            for (sheet, col), rows in columns.items():
                rows.sort()
                sheets.setdefault(sheet, []).append(col)
            for cols in sheets.values():
                cols.sort()
            columns.update(sheets)
            self._columns = columns
        return self._columns


def values_of(R, k1, k2):
    """Values of the existing cells of a range, PENDING ones raising NeedCell all together."""
    V = R.V
    keys = R.cells(k1, k2)
    found = [V[k] for k in keys]
    if PENDING in found:
        raise NeedCell([k for k, v in zip(keys, found) if v is PENDING])
    return found


def intersect(R, k, k1, k2):
    """A range in a single-value context: the cell in the formula's row or column (Excel's
    implicit intersection), else #VALUE!."""
    sheet, r1, r2, c1, c2 = R.box(k1, k2)
    row, col = (k >> ROW_SHIFT) & ROW_MASK, k & COL_MASK
    if r1 == r2 and c1 == c2:
        pass
    elif c1 == c2 and r1 <= row <= r2:
        r1 = row
    elif r1 == r2 and c1 <= col <= c2:
        c1 = col
    else:
        raise XLError(VALUE)
    return get(R.V, sheet << SHEET_SHIFT | r1 << ROW_SHIFT | c1)


# --- functions over values and references -----------------------------------------------
# An argument given as a reference arrives as a (k1, k2) tuple (one cell: k1 == k2): its
# numbers count, its text, booleans and empty cells are skipped. Any other argument is a
# value and counts as Excel converts it (TRUE is 1, "3" is 3, "x" is #VALUE!).

def numbers(R, args):
    """Every number the arguments give, in order; errors raise."""
    out = []
    for a in args:
        if a.__class__ is tuple:
            for v in values_of(R, *a):
                c = v.__class__
                if c is float:
                    out.append(v)
                elif c is CellError:
                    raise XLError(v)
        elif a.__class__ is float:
            out.append(a)
        elif a is not None:
            out.append(num(a))
    return out


def xsum(R, *args) -> float:
    total = 0.0
    for x in numbers(R, args):
        total += x
    return finite(total)


def average(R, *args) -> float:
    xs = numbers(R, args)
    if not xs:
        raise XLError(DIV0)
    total = 0.0
    for x in xs:
        total += x
    return finite(finite(total) / len(xs))


def xmax(R, *args) -> float:
    xs = numbers(R, args)
    return max(xs) if xs else 0.0


def xmin(R, *args) -> float:
    xs = numbers(R, args)
    return min(xs) if xs else 0.0


def product(R, *args) -> float:
    xs = numbers(R, args)
    if not xs:
        return 0.0
    result = 1.0
    for x in xs:
        result = finite(result * x)
    return result


def sumsq(R, *args) -> float:
    total = 0.0
    for x in numbers(R, args):
        total = finite(total + x * x)
    return total


def count(R, *args) -> float:
    n = 0
    for a in args:
        if a.__class__ is tuple:
            n += sum(1 for v in values_of(R, *a) if v.__class__ is float)
        elif a.__class__ is float or a.__class__ is XLBool:
            n += 1
        elif a.__class__ is str:
            try:
                text_number(a)
                n += 1
            except XLError:
                pass
        elif a is PENDING:
            raise NeedCell(())
    return float(n)


def counta(R, *args) -> float:
    n = 0
    for a in args:
        if a.__class__ is tuple:
            n += len(values_of(R, *a))
        elif a is PENDING:
            raise NeedCell(())
        elif a is not None:
            n += 1
    return float(n)


def sumproduct(R, *args) -> float:
    """Σ of the element-wise products of same-sized ranges; non-numbers count as 0."""
    boxes = []
    for a in args:
        if a.__class__ is not tuple:
            if a is None or a.__class__ in (float, str, XLBool):
                raise XLError(VALUE)  # an array expression: not supported
            _bad(a)
        boxes.append(R.box(*a))
    shape = (boxes[0][2] - boxes[0][1], boxes[0][4] - boxes[0][3])
    if any((b[2] - b[1], b[4] - b[3]) != shape for b in boxes):
        raise XLError(VALUE)
    for a in args:
        for v in values_of(R, *a):
            if v.__class__ is CellError:
                raise XLError(v)
    V = R.V
    first = boxes[0]
    shifts = [((b[0] - first[0]) << SHEET_SHIFT) + ((b[1] - first[1]) << ROW_SHIFT) + (b[3] - first[3])
              for b in boxes[1:]]
    start = first[0] << SHEET_SHIFT | first[1] << ROW_SHIFT | first[3]
    total = 0.0
    for k in R.cells(start, first[0] << SHEET_SHIFT | first[2] << ROW_SHIFT | first[4]):
        p = V[k]
        if p.__class__ is not float:
            continue
        for shift in shifts:
            v = V.get(k + shift)
            if v.__class__ is not float:
                break
            p = p * v
        else:
            total = finite(total + finite(p))
    return total


def logical(R, args, combine) -> XLBool:
    found = []
    for a in args:
        if a.__class__ is tuple:
            for v in values_of(R, *a):
                c = v.__class__
                if c is float or c is XLBool:
                    found.append(truth(v))
                elif c is CellError:
                    raise XLError(v)
        elif a is not None:
            found.append(truth(a))
    if not found:
        raise XLError(VALUE)
    return xbool(combine(found))


def and_(R, *args) -> XLBool:
    return logical(R, args, all)


def or_(R, *args) -> XLBool:
    return logical(R, args, any)


def xor_(R, *args) -> XLBool:
    return logical(R, args, lambda xs: sum(xs) % 2 == 1)


def xnot(v) -> XLBool:
    return XFALSE if truth(v) else XTRUE


def iferror_fast(v, fallback):
    """IFERROR in the fast code: `v` already computed (an error value, or a value)."""
    c = v.__class__
    if c is CellError:
        return fallback()
    if v is PENDING:
        raise NeedCell(())
    return v


def iferror_safe(value, fallback):
    try:
        return value()
    except CAUGHT:
        return fallback()


def iferror_na(value, fallback):
    """IFNA: only #N/A is replaced."""
    try:
        v = value()
    except CAUGHT as exc:
        if error_of(exc) == NA:
            return fallback()
        raise
    if v.__class__ is CellError and v == NA:
        return fallback()
    return v


def is_kind(value, kind: str) -> XLBool:
    """ISERROR, ISNUMBER, ... of a thunk: errors are caught, PENDING raises."""
    try:
        v = value()
    except CAUGHT as exc:
        err = error_of(exc)
        return xbool(kind == "error" or (kind == "na" and err == NA) or (kind == "err" and err != NA))
    c = v.__class__
    if v is PENDING:
        raise NeedCell(())
    if c is CellError:
        return xbool(kind == "error" or (kind == "na" and v == NA) or (kind == "err" and v != NA))
    return xbool((kind == "number" and c is float) or (kind == "text" and c is str)
                 or (kind == "logical" and c is XLBool) or (kind == "blank" and v is None)
                 or (kind == "nontext" and c is not str))


# --- arithmetic functions ---------------------------------------------------------------

def xint(x) -> float:
    return float(math.floor(num(x)))


def sign(x) -> float:
    x = num(x)
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


def mod(a, b) -> float:
    """MOD: the remainder with the divisor's sign (Python's float %, which is exact)."""
    a, b = num(a), num(b)
    if b == 0.0:
        raise XLError(DIV0)
    return a % b


def log(x, base=10.0) -> float:
    x, base = num(x), num(base)
    if x <= 0.0 or base <= 0.0:
        raise XLError(NUM)
    if base == 10.0:
        return math.log10(x)
    denominator = math.log(base)
    if denominator == 0.0:
        raise XLError(DIV0)
    return math.log(x) / denominator


def atan2(x, y) -> float:
    x, y = num(x), num(y)
    if x == 0.0 and y == 0.0:
        raise XLError(DIV0)
    return math.atan2(y, x)


_WIDE = Context(prec=1000, Emin=-1000, Emax=1000)  # ROUND(1E300, 300) fits


def _digits(n) -> int:
    n = num(n)
    return int(max(-330.0, min(330.0, math.trunc(n))))


def _decimal_round(x, n, mode) -> float:
    x, n = num(x), _digits(n)
    if x == 0.0:
        return 0.0
    # Excel rounds the number it shows: its 15 significant digits, so ROUND(2.675, 2) is 2.68.
    d = Decimal(f"{x:.15g}")
    result = float(d.quantize(Decimal(1).scaleb(-n), rounding=mode, context=_WIDE))
    if result - result != 0.0:
        raise XLError(NUM)
    return result


def xround(x, n=0.0) -> float:
    return _decimal_round(x, n, ROUND_HALF_UP)


def roundup(x, n=0.0) -> float:
    return _decimal_round(x, n, ROUND_UP)


def rounddown(x, n=0.0) -> float:
    return _decimal_round(x, n, ROUND_DOWN)


def trunc(x, n=0.0) -> float:
    return _decimal_round(x, n, ROUND_DOWN)


__all__ = [name for name in dir() if not name.startswith("_")]
