"""What a workbook's formulas show of its training, when no spec is given: the loss, how the
samples' losses are combined, the learning rate and which parameters are trained.

Each is read from the cells around the network `sheetprop.grading.shape` found: the loss from
the cells that take an output and its target alone (the loss term and ∂E/∂out, voted over every
output of every sample, since one cell may hold a slip); the reduction from the cell that adds
up or averages the samples' losses; η from the update formulas (`=w − η·g`, η a cell or typed
in); a parameter is trained when a formula steps from it by η.
"""

from __future__ import annotations

import math
from typing import Sequence

from sheetprop.cells import Ref
from sheetprop.grading.dependencies import Dependencies
from sheetprop.model import ops


class SteppedFrom:
    """The cells an update formula steps from (`w − η·g`: w alone, with a coefficient of 1, beside
    other terms), asked of one cell at a time (`cell in stepped`): only its users are read."""

    def __init__(self, deps: Dependencies):
        self.deps = deps
        self._known: dict[Ref, bool] = {}

    def __contains__(self, cell: object) -> bool:
        if not isinstance(cell, Ref):
            return False
        known = self._known.get(cell)
        if known is None:
            known = self._known[cell] = any(self._steps(user, cell) for user in self.deps.users.get(cell, ()))
        return known

    def _steps(self, user: Ref, cell: Ref) -> bool:
        terms = self.deps.terms(user) if len(self.deps.precedents.get(user, ())) >= 2 else None
        if not terms or len(terms) < 2:
            return False
        alone = [t.cells[0] for t in terms if t.plain and len(t.cells) == 1 and t.coef == 1]
        return alone == [cell] and any(len(t.cells) >= 2 for t in terms)


def read_loss(outs: list[Ref], deps: Dependencies, value) -> tuple[list[Ref], list[str], list[str]]:
    """The targets (the number a formula of one output takes beside it), and for each output the
    losses its loss cell computes and those whose ∂E/∂out a cell computes (o − t or t − o alike)."""
    targets: list[Ref] = []
    for out in outs:
        counts: dict[Ref, int] = {}
        for user in deps.users.get(out, ()):
            others = [c for c in deps.precedents.get(user, ()) if c != out]
            if len(others) == 1 and not deps.is_formula(others[0]) or (len(others) == 1 and deps.copy_of(others[0])):
                counts[others[0]] = counts.get(others[0], 0) + 1
        if not counts:
            return [], [], []
        targets.append(max(counts, key=lambda c: (counts[c], [-x for x in place(c)[1:]])))
    terms: list[str] = []
    gradients: list[str] = []
    for out, target in zip(outs, targets):
        t, o = value(target), value(out)
        users = [u for u in deps.users.get(out, ()) if set(deps.precedents.get(u, ())) == {out, target}]
        for name, loss in ops.LOSSES.items():
            if loss.needs_probabilities and not all(0 < value(x) < 1 for x in outs):
                continue
            try:
                term, gradient = loss.term(t, o, len(outs)), loss.gradient(t, o, len(outs))
            except (ValueError, ArithmeticError):
                continue
            if any(close(value(u), term) for u in users):
                terms.append(name)
            if any(close(abs(value(u)), abs(gradient)) for u in users):
                gradients.append(name)
    return targets, terms, gradients


def voted_loss(terms: list[str], gradients: list[str]) -> str | None:
    """The loss most outputs of most samples compute, in their loss cells and their ∂E/∂out cells
    together (one cell may hold a slip); on a tie, what the backward pass uses, then the first listed."""
    order = list(ops.LOSSES)
    votes = terms + gradients
    if not votes:
        return None
    return max(dict.fromkeys(votes), key=lambda name: (votes.count(name), name in gradients, -order.index(name)))


def read_reduction(outputs: list[list[Ref]], targets: list[list[Ref]], loss: ops.Loss, deps: Dependencies,
               value, weights: Sequence[Ref] = ()) -> str:
    """How the samples' gradients are combined: what an update's step does with one cell per sample
    (`=w − η·Y18`, Y18 adding or averaging Y14:Y17), else what a cell does with the samples' losses;
    "mean" when nothing tells."""
    for w in weights:
        for user in deps.users.get(w, ()):
            for term in deps.terms(user) or []:
                for step in term.cells:
                    parts = [value(c) for c in deps.precedents.get(step, ()) if c != w]
                    if step == w or len(parts) != len(outputs) or not parts:
                        continue
                    if close(value(step), sum(parts)) and not close(sum(parts), sum(parts) / len(parts)):
                        return "sum"
                    if close(value(step), sum(parts) / len(parts)):
                        return "mean"
    try:
        terms = [loss.term(value(t), value(o), len(outs)) for outs, ts in zip(outputs, targets) if len(ts) == len(outs)
                 for o, t in zip(outs, ts)]
    except (ValueError, ArithmeticError):
        return "mean"
    if len(terms) != sum(len(outs) for outs in outputs):
        return "mean"
    total, mean = sum(terms), sum(terms) / len(outputs)
    seen: set[Ref] = set()
    level = {u for o in outputs[0] for u in deps.users.get(o, ())}
    for _ in range(4):  # the loss term, the sample's loss, the batch's: a few formulas up from an output
        for cell in sorted(level - seen, key=place):
            if close(value(cell), total) and not close(total, mean):
                return "sum"
            if close(value(cell), mean):
                return "mean"
        seen |= level
        level = {u for c in level for u in deps.users.get(c, ())} - seen
    return "mean"


def read_learning_rate(weights: list[Ref], inputs: set[Ref], deps: Dependencies,
                       value) -> tuple[Ref | None, float] | None:
    """η and its cell (None when typed into the formulas): the number an update formula of one of
    `weights` (`=w − η·g`, w alone beside products) multiplies every product by; never an input
    (`w + 0.1·(t − o)·x` has η typed in and x in every product)."""
    counts: dict[Ref, int] = {}
    typed: dict[float, int] = {}  # η typed into the formulas: the products' coefficient
    for w in weights:
        for user in deps.users.get(w, ()):
            terms = deps.terms(user)
            if not terms or not any(t.plain and t.cells == (w,) and t.coef == 1 for t in terms):
                continue
            products = [t for t in terms if t.cells != (w,)]
            if not products or not all(t.plain for t in terms):
                continue
            common = set.intersection(*[set(t.cells) for t in products])
            leaves = [c for c in common if c not in inputs and (not deps.is_formula(c) or deps.is_constant(c))]
            for c in leaves:
                counts[c] = counts.get(c, 0) + 1
            if not leaves and len({abs(t.coef) for t in products}) == 1 and abs(products[0].coef) != 1:
                typed[abs(products[0].coef)] = typed.get(abs(products[0].coef), 0) + 1
    if counts:
        cell = max(counts, key=counts.__getitem__)
        return cell, value(cell)
    if typed:
        return None, max(typed, key=typed.__getitem__)
    return None


def updated(cell: Ref, eta: tuple[Ref | None, float], deps: Dependencies) -> bool:
    """Does a formula step from `cell` by η times something (`=b − η·g`, η a cell or typed in)?"""
    for user in deps.users.get(cell, ()):
        terms = deps.terms(user) or []
        steps = [t for t in terms if t.cells != (cell,)]
        if steps and any(t.plain and t.cells == (cell,) and t.coef == 1 for t in terms) and all(
                eta[0] in t.cells if eta[0] is not None else close(abs(t.coef), eta[1]) for t in steps):
            return True
    return False


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def place(cell: Ref) -> tuple[str, int, int]:
    return cell.sheet, cell.row, cell.col
