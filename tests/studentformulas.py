"""How a student's formula is written: the cells it refers to, the factors it folds in, the form.

`Render(student, k, where, sheet, cell)` writes the formula of one cell of update k from the
spec's quantity graph: an input with a cell of its own (`where` says which) is referred to,
any other is folded in, bracketed; each quantity is written in the student's form (∂E/∂out as
t − o with w + η·… updates, the loss without ½ and its derivative with the 2, a summed cost, η
typed in, a bias as the weight of a constant input 1), and a slip (`mistakes`) replaces the
right rule where the student made it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from mistakes import mistaken_formula
from sheetprop.model.graph import Quantity

if TYPE_CHECKING:
    from sheetwork import Pos, Student

NEGATED = ("dE_dout", "delta", "grad")  # what t − o negates
SCALED = ("E_o", "E_sample", "E_total", "dE_dout", "delta", "grad")  # what the loss without ½ doubles
ABSOLUTE = ("eta",)


def _bare(text: str) -> bool:
    """A reference or a number: no brackets needed around it."""
    return text.replace("$", "").replace("!", "").replace("'", "").replace(".", "").replace(" ", "").isalnum() \
        and "-" not in text


def wrap(text: str) -> str:
    """`text` bracketed, unless it is one reference or number, or bracketed already."""
    if _bare(text):
        return text
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += (ch == "(") - (ch == ")")
            if depth == 0 and i < len(text) - 1:
                break
        else:
            return text
    return f"({text})"


class Render:
    """Writes one cell's formula: inputs with a cell are referenced, the others folded in."""

    def __init__(self, st: Student, k: int, where: Callable[[str], Pos | None], sheet: str, cell: str):
        self.st, self.k, self.where, self.sheet, self.cell = st, k, where, sheet, cell
        self.slip = st.slip_in(cell, k)
        self.deep: dict[str, str] = {}  # quantities replaced everywhere in the fold (E with the new weights)

    def ref(self, name: str) -> str | None:
        if name in self.deep:
            name = self.deep[name]
        elif self.deep and set(self.deep) & self.upstream(name):
            return None  # computed again from the replaced values
        alias = self.st.alias(name)
        pos = self.where(name) or (self.where(alias) if alias else None)
        return pos.text(self.sheet, name in ABSOLUTE) if pos else None

    def upstream(self, name: str) -> set[str]:
        seen, todo = set(), list(self.st.q(name).inputs)
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo.extend(self.st.q(x).inputs)
        return seen

    def expr(self, name: str) -> str:
        """How `name` enters a formula: its cell, η typed, or its own formula folded in brackets."""
        if name == "eta" and self.st.style.eta_typed:
            return repr(self.st.sol.values["eta"])
        ref = self.ref(name)
        return ref if ref is not None else wrap(self.body(name))

    def body(self, name: str) -> str:
        st, q = self.st, self.st.q(name)
        if self.slip is not None and self.slip.where == name:
            if self.slip.mistake == "hardcoded":
                return repr(st.values[name])
            return mistaken_formula(self, q, self.slip)
        return self.right(q)

    def refs(self, q: Quantity, swap: dict[str, str] | None = None) -> dict[str, str]:
        swap = swap or {}
        return {x: self.expr(swap.get(x, x)) for x in q.inputs}

    def right(self, q: Quantity, swap: dict[str, str] | None = None) -> str:
        """The right formula of q in the student's form (inputs swapped as `swap` says)."""
        st = self.st
        formula = self._right(q, self.refs(q, swap))
        if q.kind in NEGATED and st.q(q.inputs[0]).kind != "target":
            first = next(x for x in q.inputs if st.q(x).kind in NEGATED)  # the factor it takes the sign from
            if (st.factor(first) < 0) != (st.factor(q.name) < 0):  # a layer in the other form: turned back
                return f"-({formula})"
        return formula

    def _right(self, q: Quantity, r: dict[str, str]) -> str:
        st, style = self.st, self.st.style
        if q.kind == "net" and style.bias_input and st.q(q.inputs[-1]).kind == "param" \
                and st.q(q.inputs[-1]).param.kind == "b":  # type: ignore[union-attr]
            n = (len(q.inputs) - 1) // 2
            terms = [f"{r[q.inputs[i]]}*{r[q.inputs[n + i]]}" for i in range(n)]
            return "+".join(terms + [f"{r[q.inputs[-1]]}*{self.one(q)}"])
        if q.kind == "E_o" and style.convention == "no_half":
            t, o = (r[x] for x in q.inputs)
            return f"({t}-{o})^2"
        if q.kind == "dE_dout" and st.q(q.inputs[0]).kind == "target":
            return self.output_error(q, r)
        if q.kind == "delta" and st.activation(q) == "identity" and not st.shown(q.inputs[1]):
            return r[q.inputs[0]]  # ∂out/∂net is 1: δ is ∂E/∂out
        if q.kind == "E_total" and st.nb > 1:
            return self.reduce([r[x] for x in q.inputs], q)
        if q.kind == "grad" and st.nb > 1:
            return self.reduce(self.contributions(q, r), q)
        if q.kind == "grad" and q.param is not None and q.param.kind == "b" and style.bias_input:
            return f"{r[q.inputs[0]]}*{self.one(q)}"
        if q.kind == "new" and len(q.inputs) == 3:
            w, eta, g = (r[x] for x in q.inputs)
            sign = "+" if st.factor(q.inputs[2]) < 0 else "-"
            return f"{w}{sign}{eta}*{g}"
        return q.formula(r)

    def output_error(self, q: Quantity, r: dict[str, str]) -> str:
        t, o = (r[x] for x in q.inputs)
        f = self.st.factor(q.name)
        if self.st.spec.loss == "sse":
            f *= 2
        assert self.st.spec.loss in ("half_sse", "sse") or f == 1, "forms of the squared errors only"
        if self.st.spec.loss not in ("half_sse", "sse"):
            return q.formula(r)
        diff = f"{o}-{t}" if f > 0 else f"{t}-{o}"
        return diff if abs(f) == 1 else f"{abs(f):g}*({diff})"

    def one(self, q: Quantity) -> str:
        slot = q.slot or 0
        pos = self.where(f"one_s{slot}") or self.where("one")
        assert pos is not None, "a bias input needs its cell of 1"
        return pos.text(self.sheet)

    def contributions(self, q: Quantity, r: dict[str, str]) -> list[str]:
        """Each sample's part of a gradient: a cell of its own where the layout has one, else written out."""
        p = q.param
        assert p is not None
        parts = []
        for slot in range(self.st.nb):
            pos = self.where(f"c:{p.name}:{slot}")
            if pos is not None:
                parts.append(pos.text(self.sheet))
            elif p.kind == "w":
                parts.append(f"{r[q.inputs[2 * slot]]}*{r[q.inputs[2 * slot + 1]]}")
            elif p.row is not None:
                parts.append(r[q.inputs[slot]])
            else:
                size = len(q.inputs) // self.st.nb
                parts.append("+".join(r[x] for x in q.inputs[slot * size:(slot + 1) * size]))
        return parts

    def contribution(self, name: str) -> str:
        """The formula of a sample's part of a gradient (`c:w_1:0`)."""
        _, param, slot = name.split(":")
        q = self.st.q(f"grad_{param}")
        r = self.refs(q)
        p = q.param
        assert p is not None
        s = int(slot)
        if p.kind == "w":
            return f"{r[q.inputs[2 * s]]}*{r[q.inputs[2 * s + 1]]}"
        if p.row is not None:
            d = r[q.inputs[s]]
            return f"{d}*{self.one(self.st.q(q.inputs[s]))}" if self.st.style.bias_input else d
        size = len(q.inputs) // self.st.nb
        return "+".join(r[x] for x in q.inputs[s * size:(s + 1) * size])

    def reduce(self, parts: list[str], q: Quantity) -> str:
        st = self.st
        how = "sum" if st.spec.reduction == "sum" or (q.kind == "E_total" and st.style.summed_cost) else "mean"
        fn = "SUM" if how == "sum" else "AVERAGE"
        return f"{fn}({_span(parts)})"


def _span(parts: list[str]) -> str:
    """`R15:R18` when the references run down a column or along a row, else a list."""
    from openpyxl.utils.cell import coordinate_from_string, column_index_from_string

    try:
        cells = [coordinate_from_string(p.replace("$", "")) for p in parts]
    except Exception:  # openpyxl's CellCoordinatesException: an expression, not a cell
        return ",".join(parts)
    cols = [column_index_from_string(c) for c, _ in cells]
    rows = [r for _, r in cells]
    n = len(parts)
    down = len(set(cols)) == 1 and rows == list(range(rows[0], rows[0] + n))
    along = len(set(rows)) == 1 and cols == list(range(cols[0], cols[0] + n))
    return f"{parts[0]}:{parts[-1]}" if n > 1 and (down or along) else ",".join(parts)
