"""How a student writes each quantity of one update, for any spec: forms, slips, labels, values.

`Student(spec, style, slips)` decides which quantities get a cell of their own (the rest are
folded into the formulas that use them), writes each formula in the student's conventions
(t − o with w + η·…, Han & Kamber's Err = −δ, the loss without ½ and its derivative with the
2, a cost summed over the samples, η typed into every update) from the spec's quantity graph,
with one of the mistakes the grader names in place of a right formula where a `Slip` says,
and labels each quantity in the student's own words (English, symbols, Korean, Portuguese).
It also works out, in floats, what each cell of the first update holds and so the truth a
grader must reach: right, carried forward (right given the student's own earlier values) or
wrong with the mistake named. Where the cells go is the layouts' business (`layouts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable

from openpyxl.utils import get_column_letter, quote_sheetname
from xlsxwriter.utility import quote_sheetname as excel_quoted  # quotes a name only where Excel does

from studentformulas import NEGATED, SCALED, Render
from mistakes import mistaken_value
from sheetprop.model.graph import Quantity
from sheetprop.model.network import Spec
from sheetprop.model.reference import solve


@dataclass(frozen=True)
class Pos:
    """A cell, 1-based as openpyxl counts."""

    sheet: str
    row: int
    col: int
    fixed: bool = field(default=False, compare=False)  # formulas refer to it absolutely ($C$4): copied blocks keep it

    def __str__(self) -> str:  # as the grader reports it, the sheet quoted as Excel writes it: `'iter 1'!C5`
        return f"{excel_quoted(self.sheet)}!{get_column_letter(self.col)}{self.row}"

    def text(self, sheet: str, absolute: bool = False) -> str:
        """The reference a formula on `sheet` writes."""
        a = "$" if absolute or self.fixed else ""
        ref = f"{a}{get_column_letter(self.col)}{a}{self.row}"
        return ref if sheet == self.sheet else f"{quote_sheetname(self.sheet)}!{ref}"

    def at(self, rows: int = 0, cols: int = 0) -> "Pos":
        return Pos(self.sheet, self.row + rows, self.col + cols)


@dataclass(frozen=True)
class Style:
    """The student's own way of writing the update."""

    convention: str = "spec"  # spec | t_minus_o | err (Han & Kamber) | no_half (loss and derivative as for (t − o)²)
    summed_cost: bool = False  # the batch's cost is the SUM of the samples' losses; the gradients average
    eta_typed: bool = False  # η typed into every update formula, no cell of its own
    by_input: bool = False  # the labels number the weights input by input (w1..w4 from input A)
    bias_input: bool = False  # a bias is the weight of a constant input 1
    labels: str = "english"  # english | symbols | korean | portuguese
    factors: str = "none"  # which chain-rule factors get cells: none | delta | all
    grads: bool = True  # gradient cells (else folded into the updates: w + η·Err·O)
    negated_layers: tuple[int, ...] = ()  # layers written in the t − o form whatever the convention (a mix)
    spelling: str = "plain"  # plain | textbook: `=+C9*C19+…`, EXP(-1*x), POWER(t-o,2)/2 as some sheets write them


@dataclass(frozen=True)
class Slip:
    """One mistake: the cell of `cell` holds it; `at` is the quantity whose rule is changed, folded
    into `cell`'s formula (the cell itself by default); from update `update` on (later ones copy it)."""

    cell: str
    mistake: str
    at: str | None = None
    update: int = 0
    typed: float | None = None  # a given value typed wrong

    @property
    def where(self) -> str:
        return self.at or self.cell


Where = Callable[[str], "Pos | None"]


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    return abs(a - b) <= tol * max(abs(a), abs(b)) or abs(a - b) <= 1e-12


class Student:
    """One student's way through the first update of `spec` (and the same formulas in every later one)."""

    def __init__(self, spec: Spec, style: Style = Style(), slips: tuple[Slip, ...] = ()):
        self.spec, self.style = spec, style
        self.sol = solve(spec)
        self.graph = self.sol.graph
        self.nb = len(self.graph.suffixes)
        self.slips = tuple(one for slip in slips for one in every_sample(self, slip))
        for slip in self.slips:
            assert slip.where in self.graph.quantities and slip.cell in self.graph.quantities, slip
            assert slip.where == slip.cell or not self.shown(slip.where), f"{slip}: {slip.where} has its own cell"
            assert style.convention == "spec" or slip.mistake == "update_sign", "slips are written in the spec's form"
        self.values = self._values()
        self.check_slips()

    # ------------------------------------------------------------ what gets a cell

    def q(self, name: str) -> Quantity:
        return self.graph[name]

    def activation(self, q: Quantity) -> str:
        assert q.layer is not None
        return self.spec.layers[q.layer].activation

    def alias(self, name: str) -> str | None:
        """The quantity whose cell also holds this one: no activation (out = net), a total of one term."""
        q = self.q(name)
        if q.kind == "out" and self.activation(q) == "identity":
            return q.inputs[0]
        if q.kind == "E_sample" and len(q.inputs) == 1:
            return q.inputs[0]
        if q.kind == "E_total" and self.nb == 1 and len(q.inputs) == 1:
            return q.inputs[0]
        if q.kind == "grad" and q.param is not None and q.param.kind == "b" and q.param.row is not None \
                and self.nb == 1 and not self.style.bias_input and self.shown(q.inputs[0]):
            return q.inputs[0]  # a bias's gradient is its δ: H&K's θ + η·Err
        return None

    def shown(self, name: str) -> bool:
        """Does the student give this quantity a cell of its own (not folded, not sharing another's)?"""
        q = self.q(name)
        if not q.worked or (name == "eta" and self.style.eta_typed):
            return False
        if q.given:
            return True
        if q.kind in ("out", "E_sample", "E_total", "grad") and self.alias(name):
            return False
        if q.kind in ("dE_dout", "dout_dnet", "delta"):
            if q.kind == "dout_dnet" and self.activation(q) == "identity":
                return False
            if self.style.factors == "all":
                return True
            return self.style.factors == "delta" and q.kind == "delta"
        if q.kind == "grad":
            return self.style.grads
        if q.kind == "new":
            return q.param is not None and (q.param.kind == "w" or self.spec.train_biases)
        return True

    def factor(self, name: str) -> float:
        """The student's value is this times the spec's (the form it is written in)."""
        kind = self.q(name).kind
        f = 1.0
        negated = self.style.convention in ("t_minus_o", "err") or self.q(name).layer in self.style.negated_layers
        if negated and kind in NEGATED:
            f = -f
        if self.style.convention == "no_half" and kind in SCALED:
            f *= 2
        if self.style.summed_cost and kind == "E_total" and self.nb > 1:
            f *= self.nb
        return f

    # ------------------------------------------------------------ formulas

    def formula(self, name: str, k: int, where: Where, sheet: str) -> str:
        """The formula of `name`'s cell in update k (where: the cells of update k)."""
        text = Render(self, k, where, sheet, name).body(name)
        return "=" + (textbook(text) if self.style.spelling == "textbook" else text)

    # ------------------------------------------------------------ values of the first update

    def _values(self) -> dict[str, float]:
        """What the student's cells hold in update 0, in the spec's form (divided by `factor`). Two
        passes: a slip may read a quantity computed after it (E_total with the updated weights)."""
        return self._pass(self._pass({}))

    def _pass(self, before: dict[str, float]) -> dict[str, float]:
        values: dict[str, float] = dict(before)
        typed = {s.cell: s.typed for s in self.slips if s.typed is not None and s.update == 0}
        for q in self.graph:
            if q.given:
                values[q.name] = typed.get(q.name, self.sol.values[q.name])
                continue
            slip = self.slip_in(q.name, 0)
            try:
                values[q.name] = self.rule(q.name, values) if slip is None or slip.mistake == "hardcoded" \
                    else self.slipped(slip, values)
            except KeyError:
                if before:
                    raise
                # the first pass leaves it for the second
        return values

    def rule(self, name: str, values: dict[str, float]) -> float:
        """The right rule on the student's own values, as the student writes it (the update's step
        is η times the student's own gradient, whatever its form)."""
        q = self.q(name)
        if q.kind == "new" and len(q.inputs) == 3:
            w, eta, grad = q.inputs
            f = self.factor(grad)
            sign = 1.0 if f < 0 else -1.0
            return values[w] + sign * values[eta] * f * values[grad]
        result = q.apply(values)
        if result is None:
            raise KeyError(f"{name} cannot be computed from the values so far")
        return result

    def slip_in(self, cell: str, k: int) -> Slip | None:
        for slip in self.slips:
            if slip.cell == cell and slip.update <= k and slip.typed is None:
                return slip
        return None

    def slipped(self, slip: Slip, values: dict[str, float]) -> float:
        """The value of the slip's cell: its mistaken rule (at a factor folded into it: carried through)."""
        local = dict(values)
        local[slip.where] = mistaken_value(self, slip, local)
        if slip.where == slip.cell:
            return local[slip.cell]
        between = self.graph.downstream(slip.where)
        for q in self.graph:
            if q.name in between and not q.given and not self.shown(q.name) and q.name != slip.cell:
                local[q.name] = self.rule(q.name, local)
        return self.rule(slip.cell, local)

    def check_slips(self) -> None:
        """A slip must change its cell's value: else no grader could see it (a test that cannot fail)."""
        for slip in self.slips:
            if slip.update or slip.mistake == "hardcoded":
                continue
            right = self.sol.values[slip.cell] if slip.typed is not None else \
                self.rule(slip.cell, {**self.values, **self._unslipped(slip)})
            assert not close(self.values[slip.cell], right), f"{slip} makes no difference"

    def _unslipped(self, slip: Slip) -> dict[str, float]:
        """The student's values with this slip's folded factor right (for `check_slips`)."""
        if slip.where == slip.cell:
            return {}
        local = dict(self.values)
        local[slip.where] = self.rule(slip.where, local)
        between = self.graph.downstream(slip.where)
        for q in self.graph:
            if q.name in between and not self.shown(q.name) and q.name != slip.cell:
                local[q.name] = self.rule(q.name, local)
        return {name: local[name] for name in between | {slip.where} if name != slip.cell}

    def truth(self, placed: dict[str, Pos]) -> dict[str, tuple[str, str, str | None]]:
        """name → (cell, the grader's status, the mistake) for every quantity with a cell in update 0
        (`placed`: where the layout put them; a quantity sharing another's cell is there too)."""
        found = {}
        for name in self.graph.names:
            alias = self.alias(name) if self.q(name).kind in ("out", "E_sample", "E_total") else None
            pos = placed.get(name) or (placed.get(alias) if alias else None)
            if pos is None:
                continue
            slip = next((s for s in self.slips if s.cell == name and s.update == 0), None)
            if slip is not None and slip.mistake == "hardcoded":
                found[name] = (str(pos), "hardcoded", None)
            elif slip is not None:
                found[name] = (str(pos), "incorrect", slip.mistake)
            elif close(self.values[name], self.sol.values[name]):
                found[name] = (str(pos), "correct", None)
            else:
                found[name] = (str(pos), "carried_forward", None)
        return found

    def placed_new(self, name: str) -> bool:
        """Does the update of this parameter get a cell (a frozen bias: only when a slip updates it)?"""
        return self.shown(name) or any(s.cell == name for s in self.slips)

    def student_value(self, name: str) -> float:
        return self.values[name] * self.factor(name)

    # ------------------------------------------------------------ labels

    def label(self, name: str) -> str:
        from labels import label

        return label(self, name)


def every_sample(st: Student, slip: Slip) -> list[Slip]:
    """A slip in a sample's quantity is in every sample's: the student copies the formula down."""
    q = st.graph[slip.cell]
    if q.slot is None or st.nb == 1:
        return [slip]
    base = lambda name: name.rsplit("_s", 1)[0]  # noqa: E731
    return [replace(slip, cell=base(slip.cell) + sfx, at=slip.at and base(slip.at) + sfx) for sfx in st.graph.suffixes]


def textbook(text: str) -> str:
    """The same formula as a tutorial's sheet spells it: `+` first, EXP(-1*x), POWER(t-o,2)/2."""
    text = text.replace("EXP(-", "EXP(-1*")
    text = re.sub(r"^0\.5\*\(([^()]*)\)\^2$", r"POWER(\1,2)/2", text)
    return "+" + text
