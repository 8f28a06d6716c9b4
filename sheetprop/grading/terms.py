"""A formula read as a sum of products: which cells it multiplies together, with what sign.

A net input is a weight times an input plus a weight times an input (plus a bias), whatever
the student writes: `=w1*i1+w2*i2`, `=(C5*C3+C6*C4)+C13`, `=SUMPRODUCT(B2:C2,B3:C3)`,
`=INDEX(B:B,14)*J14+…`. Which weight a cell holds is read from what it multiplies, not from
its label: a student may number the weights by input instead of by neuron. And ∂E/∂out written
`=Q14-C4` or `=-(C4-Q14)` is one sign, `=C4-Q14` the other.

`expand(tokens, host, fetched)` parses the formula (openpyxl's tokens) with Excel's precedence
(negation binds tighter than ^: `-2^2` is 4) and multiplies it out into terms, each a
coefficient times a product of cells. A factor that is neither a number nor a cell (EXP(x),
x/y, a comparison) is `OPAQUE`. Nothing is evaluated here. Large expansions give None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from sheetprop.cells import Ref
from sheetprop.engines.screen import function_name

OPAQUE = Ref("", -2, -2)  # a factor that is not a cell
MAX_TERMS = 64
_INFIX = {"=": 1, "<": 1, ">": 1, "<=": 1, ">=": 1, "<>": 1, "&": 2, "+": 3, "-": 3, "*": 4, "/": 4, "^": 5}
_NEGATION = 6


@dataclass(frozen=True)
class Term:
    coef: float
    cells: tuple[Ref, ...]  # sorted; OPAQUE for a factor that is not a cell

    @property
    def plain(self) -> bool:
        """A product of cells alone (no opaque factor)."""
        return OPAQUE not in self.cells


Fetched = Mapping[int, Sequence[Ref]]  # the k-th dynamic call of the formula (by opening order) → its cells


def expand(tokens: Sequence, host: Ref, fetched: Fetched | None = None,
           area: Callable[[str, Ref], list[Ref] | None] | None = None) -> list[Term] | None:
    """The formula as a sum of products of cells, like terms merged; None when it cannot be read
    or grows beyond MAX_TERMS. `area(text, host)` gives the cells of a range operand."""
    try:
        tree = _Parser([t for t in tokens if t.type != "WHITE-SPACE"]).parse()
    except (IndexError, ValueError):
        return None
    try:
        raw = _expand(tree, host, fetched or {}, area)
    except _TooBig:
        return None
    merged: dict[tuple[Ref, ...], float] = {}
    for coef, cells in raw:
        key = tuple(sorted(cells))
        merged[key] = merged.get(key, 0.0) + coef
    return [Term(coef, cells) for cells, coef in merged.items() if coef != 0]


class _TooBig(Exception):
    pass


class _Parser:
    """Excel's precedence over openpyxl's tokens, as nested tuples:
    ("num", v), ("ref", text), ("fn", NAME, [args], k or None), ("bin", op, a, b), ("neg", a), ("other",)."""

    def __init__(self, tokens: Sequence):
        self.tokens, self.pos, self.dynamic = tokens, 0, 0

    def parse(self):
        node = self.expression(0)
        if self.pos != len(self.tokens):
            raise ValueError("trailing tokens")
        return node

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expression(self, least: int):
        node = self.prefix()
        while (token := self.peek()) is not None:
            if token.type == "OPERATOR-POSTFIX":
                self.take()
                node = ("bin", "/", node, ("num", 100.0))
                continue
            if token.type != "OPERATOR-INFIX" or token.value not in _INFIX:
                break
            power = _INFIX[token.value]
            if power < least:
                break
            self.take()
            node = ("bin", token.value, node, self.expression(power + 1))
        return node

    def prefix(self):
        token = self.take()
        kind, sub = token.type, token.subtype
        if kind == "OPERATOR-PREFIX":
            inner = self.expression(_NEGATION)
            return ("neg", inner) if token.value == "-" else inner
        if kind == "OPERAND":
            if sub == "NUMBER":
                return ("num", float(token.value))
            if sub == "RANGE":
                return ("ref", token.value)
            return ("other",)
        if kind == "PAREN" and sub == "OPEN":
            node = self.expression(0)
            if self.take().type != "PAREN":
                raise ValueError("unbalanced")
            return node
        if kind == "FUNC" and sub == "OPEN":
            from sheetprop.grading.dynamic import FUNCTIONS

            name = function_name(token.value[:-1])
            index = None
            if name in FUNCTIONS:
                index, self.dynamic = self.dynamic, self.dynamic + 1
            args = []
            if (nxt := self.peek()) is not None and nxt.type == "FUNC" and nxt.subtype == "CLOSE":
                self.take()
                return ("fn", name, args, index)
            while True:
                args.append(self.argument())
                closing = self.take()
                if closing.type == "FUNC" and closing.subtype == "CLOSE":
                    return ("fn", name, args, index)
                if closing.type != "SEP":
                    raise ValueError("bad argument list")
        if kind == "ARRAY" and sub == "OPEN":
            depth = 1
            while depth:
                t = self.take()
                depth += (t.type == "ARRAY" and t.subtype == "OPEN") - (t.type == "ARRAY" and t.subtype == "CLOSE")
            return ("other",)
        raise ValueError(f"unexpected {token.value!r}")

    def argument(self):
        token = self.peek()
        if token is not None and (token.type == "SEP" or (token.type == "FUNC" and token.subtype == "CLOSE")):
            return ("other",)  # an empty argument
        return self.expression(0)


_Raw = list[tuple[float, tuple[Ref, ...]]]


def _expand(node, host: Ref, fetched: Fetched, area) -> _Raw:
    kind = node[0]
    if kind == "num":
        return [(node[1], ())]
    if kind == "ref":
        cells = _cells(node[1], host, area)
        return [(1.0, (cells[0],))] if cells and len(cells) == 1 else [(1.0, (OPAQUE,))]
    if kind == "neg":
        return [(-c, f) for c, f in _expand(node[1], host, fetched, area)]
    if kind == "bin":
        op, a, b = node[1], node[2], node[3]
        if op in "+-":
            right = _expand(b, host, fetched, area)
            return _capped(_expand(a, host, fetched, area) + ([(-c, f) for c, f in right] if op == "-" else right))
        if op == "*":
            left, right = _expand(a, host, fetched, area), _expand(b, host, fetched, area)
            if len(left) * len(right) > MAX_TERMS:
                raise _TooBig
            return [(c1 * c2, f1 + f2) for c1, f1 in left for c2, f2 in right]
        if op == "/" and b[0] == "num" and b[1] != 0:
            return [(c / b[1], f) for c, f in _expand(a, host, fetched, area)]
        return [(1.0, (OPAQUE,))]
    if kind == "fn":
        name, args, index = node[1], node[2], node[3]
        if index is not None:
            cells = list(fetched.get(index, ()))
            return [(1.0, (cells[0],))] if len(cells) == 1 else [(1.0, (OPAQUE,))]
        if name == "SUM":
            out: _Raw = []
            for arg in args:
                if arg[0] == "ref" and (cells := _cells(arg[1], host, area)) is not None and len(cells) > 1:
                    out += [(1.0, (cell,)) for cell in cells]
                else:
                    out += _expand(arg, host, fetched, area)
            return _capped(out)
        if name == "SUMPRODUCT" and len(args) == 2 and all(a[0] == "ref" for a in args):
            first, second = _cells(args[0][1], host, area), _cells(args[1][1], host, area)
            if first and second and len(first) == len(second):
                return _capped([(1.0, (x, y)) for x, y in zip(first, second)])
        return [(1.0, (OPAQUE,))]
    return [(1.0, (OPAQUE,))]


def _capped(raw: _Raw) -> _Raw:
    if len(raw) > MAX_TERMS:
        raise _TooBig
    return raw


def _cells(text: str, host: Ref, area) -> list[Ref] | None:
    if area is not None:
        return area(text, host)
    cell = Ref.parse(text, host.sheet)
    return [cell] if cell is not None else None
