"""Find the quantities of the first update in a student's workbook by the structure of its formulas.

First the given values (inputs, targets, weights, biases, η) are anchored: cells that hold a
number (typed, `=0.5`, or a copy such as `=$B$5`) that the formulas consume, recognised by the
label over or beside them, by the value the spec gives, and by their role (in a table, the
weights are the columns updated from the row above, η the cell every update uses). Then, in
the order a worked example computes them, each quantity is the formula cell that

- uses what the quantity's rule uses (`sheetprop.model.graph`): its precedents, followed through
  helper cells to the quantities already found, are the rule's inputs, or what those are
  made of when the student folds a factor (∂E/∂out, ∂out/∂net, δ) into the formula;
- holds the value the rule gives from the student's own values (right, or carried forward);
- carries a label that reads like it.

Structure comes first; a value and a label only decide between cells the structure allows,
so the mirror images h1/h2 and o1/o2 are told apart by the weights each uses.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from sheetprop.cells import Ref
from sheetprop.grading import anchors, gaps
from sheetprop.grading.conventions import SPEC, Form, forms
from sheetprop.grading.dependencies import Dependencies, Sources
from sheetprop.grading.labels import labels_of
from sheetprop.grading.readbook import Formula, StudentBook, number
from sheetprop.grading.tables import Table
from sheetprop.model import ops
from sheetprop.model import reference as R
from sheetprop.model.graph import Quantity

MAX_CANDIDATES = 1500  # formula cells considered outside a table, the nearest to the given values
CANDIDATES_PER_QUANTITY = 6  # and at most this many per quantity of the network (the first update's cells, and some)


@dataclass
class Context:
    """What the locator knows about the book while it works."""

    book: StudentBook
    deps: Dependencies
    values: Mapping[tuple[str, str], object]  # the engine's value of every formula cell
    sol: R.Solution
    labels: dict[Ref, tuple[str, str]]  # value cell → (the name its label stands for, where the label is)
    found: dict[str, Ref]
    table: Table | None = None
    sources: Sources | None = None  # what each formula leads back to, the found cells being stops
    candidates: list[Ref] | None = None  # the formula cells a computed quantity may be in, in order
    forms: dict[str, Form] = field(default_factory=dict)  # quantities written in another form than the spec's
    closures: dict[str, set[str]] = field(default_factory=dict)  # what each rule is made of (`_closure`)
    _numbers: dict[Ref, float | None] = field(default_factory=dict)  # `value`, once per cell

    def place(self, name: str, cell: Ref) -> None:
        """`name` is at `cell`."""
        self.found[name] = cell
        if self.sources is not None:
            self.sources.add(cell)

    def own(self) -> dict[str, float]:
        """Every quantity from the student's own values found so far, each brought back to the spec's form."""
        student = {}
        for name, cell in self.found.items():
            value = self.value(cell)
            if value is not None:
                student[name] = value / self.forms.get(name, SPEC).factor
        return self.sol.own_values(student)

    def value(self, cell: Ref) -> float | None:
        """The number the cell shows (its formula's value, as the engine computed it), else None."""
        try:
            return self._numbers[cell]
        except KeyError:
            raw = self.book.cells.get(cell)
            found = self._numbers[cell] = number(self.values.get(cell.key) if isinstance(raw, Formula) else raw)
            return found


def locate_structure(book: StudentBook, sol: R.Solution, deps: Dependencies, values, found: dict[str, Ref],
                     table: Table | None = None) -> dict[str, Ref]:
    """Where each quantity not in `found` is, by structure; returns only what it finds."""
    return {name: cell for name, (cell, _how, _form) in
            locate_with_labels(book, sol, deps, values, found, table).items()}


def locate_with_labels(book: StudentBook, sol: R.Solution, deps: Dependencies, values, found: dict[str, Ref],
                       table: Table | None = None) -> dict[str, tuple[Ref, str, Form]]:
    """As `locate_structure`, with how each was found ("structure", or "structure, label 'h1' at
    Sheet1!J48" when its label agrees) and the form it is written in (`sheetprop.grading.conventions`).
    The same question of the same book (no spec: the network inferred, then graded) is answered once."""
    names = sol.graph.names
    key = (tuple(names), tuple(sol.values.get(n) for n in names), frozenset(found.items()), id(table), id(values))
    kept = deps.located.get(key)
    if kept is None or kept[0] is not values or kept[1] is not table:  # the very same objects, not an address reused
        kept = deps.located[key] = (values, table, _locate_with_labels(book, sol, deps, values, found, table))
    return dict(kept[2])


def _locate_with_labels(book: StudentBook, sol: R.Solution, deps: Dependencies, values, found: dict[str, Ref],
                        table: Table | None = None) -> dict[str, tuple[Ref, str, Form]]:
    ctx = Context(book, deps, values, sol, labels_of(book, sol, table), dict(found), table)
    before = set(ctx.found)
    ctx.sources = Sources(deps, ctx.found.values())
    for name, cell in anchors.first_layer(ctx).items():
        ctx.place(name, cell)
    for name, cell in gaps.fill(ctx).items():  # a weight the net inputs never use, where its siblings are
        ctx.place(name, cell)
    later = {q.name for q in sol.graph if (q.kind == "param" and (q.layer or 0) > 1)
             or (q.kind == "input" and (q.slot or 0) > 0)}  # anchored when their layer or sample is reached
    for name, cell in anchors.scored(ctx, skip=later).items():
        ctx.place(name, cell)
    ctx.candidates = _candidates(ctx)
    reached: set[tuple] = set()
    for q in sol.graph:
        if q.kind == "net" and (q.layer, q.slot) not in reached:
            reached.add((q.layer, q.slot))
            for name, cell in anchors.layer(ctx, q.layer or 1, q.slot or 0).items():
                ctx.place(name, cell)
            rest = {x for n in sol.graph if n.kind == "net" and n.layer == q.layer and n.slot == q.slot
                    for x in n.inputs if sol.graph[x].given} - set(ctx.found)
            if rest:  # what the net inputs do not show: by label and value
                for name, cell in anchors.scored(ctx, skip=set(sol.graph.givens) - rest).items():
                    ctx.place(name, cell)
        if q.kind in ("E_o", "dE_dout") and ("target", q.slot) not in reached:
            reached.add(("target", q.slot))
            for name, cell in anchors.targets(ctx, q.slot or 0).items():
                ctx.place(name, cell)
        if q.given or q.name in ctx.found:
            continue
        computed = _computed(ctx, q)
        if computed is not None:
            ctx.place(q.name, computed)
        elif q.kind == "out" and same_cell(sol, q) and q.inputs[0] in ctx.found:
            ctx.found[q.name] = ctx.found[q.inputs[0]]  # no activation: the net input's cell is the output too
    for name, cell in anchors.learning_rate(ctx).items():
        ctx.place(name, cell)
    for name, cell in gaps.fill(ctx).items():  # a cell whose formula matches no rule, where the layout puts it
        ctx.place(name, cell)
    for name, cell in anchors.scored(ctx).items():  # givens no formula reached: by label and value alone
        ctx.place(name, cell)
    hows = {}
    for name, cell in ctx.found.items():
        if name in before:
            continue
        label = ctx.labels.get(cell)
        hows[name] = (cell, f"structure, {label[1]}" if label and label[0] == name else "structure",
                      ctx.forms.get(name, SPEC))
    return hows


# ---------------------------------------------------------------- computed quantities


def _computed(ctx: Context, q: Quantity) -> Ref | None:
    """The formula cell that computes `q`, if one scores high enough."""
    table = ctx.table
    if table is not None and q.kind == "new" and q.param is not None:
        weight = ctx.found.get(q.param.name)
        if weight is not None and weight.sheet == table.sheet and weight.col in table.params \
                and weight.row == table.first:
            return Ref(table.sheet, table.first + 1, weight.col)
    expected = _expand(ctx, q)
    own = ctx.own()
    target = own.get(q.name)
    graph = ctx.sol.graph
    others = [v * f.factor for name, v in own.items() if name != q.name and name not in ctx.found and v
              and not graph[name].given and graph[name].kind != "dnet_dout"  # a computed quantity's value
              for f in (SPEC, *forms(graph[name].kind, len(graph.batch), ctx.sol.spec.reduction))]
    spec = ctx.sol.spec
    options = forms(q.kind, len(ctx.sol.graph.batch), spec.reduction) if target else []
    assert ctx.sources is not None and ctx.candidates is not None
    stop = ctx.sources.stop
    names_of = {cell: name for name, cell in ctx.found.items()}
    bits = ctx.sources.bits
    wanted = bits(ctx.found[name] for name in expected if name in ctx.found)
    outside_rule = ctx.sources.stop_mask & ~bits(ctx.found[n] for n in _closure(ctx, q) if n in ctx.found)
    best: tuple[float, Ref, Form] | None = None
    right_cells: set[Ref] = set()  # candidates that fit the rule and give its value
    mask, labels, known = ctx.sources.mask, ctx.labels, ctx.sources.known
    for cell in ctx.candidates:
        if cell in stop:
            continue
        sources = known(cell)
        if sources is None:
            sources = mask(cell)
        if not sources & wanted:
            continue  # uses none of the rule's inputs
        labelled = labels.get(cell, ("",))[0] == q.name
        if not labelled and sources & outside_rule and not (
                target and (v := ctx.value(cell)) is not None and _close(v, target)):
            continue  # uses what the rule does not: only a label or the right value could make it this quantity
        used = {names_of[c] for c in ctx.sources.cells(sources & ctx.sources.stop_mask) if c in names_of}
        inside = len(used & expected)
        if not inside:
            continue
        share = inside / len(used | expected)  # how much of the rule's inputs, and only them
        fits = _fits(ctx, q, used, sources & ~ctx.sources.stop_mask)
        value = ctx.value(cell)
        right = value is not None and target is not None and _close(value, target) and (bool(target) or fits)
        # (a zero, a ReLU's δ say, proves nothing unless the formula is the rule's)
        origin = ctx.deps.origin(cell)  # the cell it copies, through a chain of copies; itself when none
        if not labelled and _echo(ctx, cell, origin, right):
            continue  # `=N1`, N1 a quantity found: that one shown again, not this one
        form = SPEC if right or value is None else next(
            (f for f in options if _close(value, f.factor * target)), None)  # type: ignore[operator]
        if fits and form is None and origin in stop:
            fits = False  # a bare copy of a quantity found, not holding this one's value: that one again
        if fits and q.kind == "dout_dnet":
            share = 1.0  # σ'(net) takes out or net: one of them is all of it
        if fits:  # what the rule is made of, and nothing else: the value or the label decides
            accept = right or form is not None or labelled or (share >= 0.6 and not _another(value, others)) \
                or (q.kind == "net" and _all_weights(ctx, q, used))
        else:  # it uses something the rule does not: its label, or its value with most of the inputs
            accept = (labelled and share >= 0.3) or (right and share >= 0.6 and not _another(value, others))
        if q.kind == "dnet_dout":  # ∂net/∂out is a weight: only a label tells the factor from a copy of it
            accept = accept and labelled
        if accept and not labelled and _labelled_other(ctx, cell, q, value, own):
            continue  # labelled as another quantity that its value fits: that one's cell
        if not accept:
            continue
        if right and fits:
            right_cells.add(cell)
        extraneous = len(used - _closure(ctx, q))  # what the formula uses that the rule is not made of at all
        score = (8 * share + 10 * labelled + 9 * right + 8 * (form is not None and not right) + 3 * fits
                 - 6 * (not fits) - 2 * extraneous)
        if best is None or score > best[0]:
            best = (score, cell, form or SPEC)
    if best is None:
        return None
    if right_cells and best[1] not in right_cells and _another(ctx.value(best[1]), others) \
            and (before := right_cells & _reached(ctx.deps.precedents, [best[1]], limit=64)):
        return min(before, key=lambda c: (c.sheet, c.row, c.col))  # the label is on the next quantity, made from it
    if best[2] is not SPEC:
        ctx.forms[q.name] = best[2]
    origin = ctx.deps.origin(best[1])
    if origin != best[1] and origin not in stop and origin in ctx.candidates \
            and ctx.labels.get(best[1], ("",))[0] == q.name and ctx.labels.get(origin, (q.name,))[0] == q.name:
        return origin  # a labelled copy (`net h1: =N1`) shows the quantity its origin computes
    return best[1]


def _echo(ctx: Context, cell: Ref, origin: Ref, right: bool) -> bool:
    """Is `cell` a bare copy (`=N1`, or a chain of them) shown again beside the work? So it is when no
    formula uses it but copies of it: its origin is the quantity's cell if any is, even when it holds
    the value sought (δ, ∂E/∂out and a bias's gradient are one number without an activation). A copy
    the work goes on from is one when it is labelled as the quantity found at its origin (`net h1:
    =N1`, σ taken of it) and its value is not this one's (without an activation, out = `=N1` is)."""
    assert ctx.sources is not None
    stop = ctx.sources.stop
    if origin == cell or not (origin in stop or ctx.deps.is_formula(origin)):
        return False
    if _shown_only(ctx, cell, set()):
        return True
    label = ctx.labels.get(cell)
    return origin in stop and not right and label is not None and ctx.found.get(label[0]) == origin


def _shown_only(ctx: Context, cell: Ref, seen: set[Ref]) -> bool:
    """Is `cell` used by no formula but bare copies of it, themselves used by nothing else?"""
    seen.add(cell)
    return all(u not in seen and ctx.deps.copy_of(u) == cell and _shown_only(ctx, u, seen)
               for u in ctx.deps.users.get(cell, ()))


def _all_weights(ctx: Context, q: Quantity, used: set[str]) -> bool:
    """Does a net input's formula use every weight of its neuron? Then it is that neuron's net
    input, whatever it multiplies them with (a net input of the layer below, say: a slip)."""
    weights = [x for x in q.inputs if ctx.sol.graph[x].kind == "param" and x.startswith("w_")]
    return bool(weights) and all(w in used for w in weights)


def same_cell(sol: R.Solution, q: Quantity) -> bool:
    """Is `q` its one input under another name, so that one cell holds both? An output without an
    activation is its net input; a total of one term (one output, one sample) is that term."""
    if len(q.inputs) != 1:
        return False
    if q.kind == "out":
        return ops.activation(sol.spec.layers[q.layer or 0].activation).passes_through
    return q.kind in ("E_total", "E_sample")


def _labelled_other(ctx: Context, cell: Ref, q: Quantity, value: float | None, own: Mapping[str, float]) -> bool:
    """Is the cell labelled as another quantity not found yet, whose value (in any of its forms) it
    holds? (A bias's gradient, δ and ∂E/∂out are one number without an activation: the label says which.)"""
    label = ctx.labels.get(cell)
    if label is None or label[0] == q.name or label[0] in ctx.found or value is None:
        return False
    other = ctx.sol.graph.quantities.get(label[0])
    if other is None or other.given or label[0] not in own:
        return False
    factors = (SPEC, *forms(other.kind, len(ctx.sol.graph.batch), ctx.sol.spec.reduction))
    return any(_close(value, f.factor * own[label[0]]) for f in factors)


def _another(value: float | None, others: list[float]) -> bool:
    """Is `value` what another quantity (made of the same inputs, say) comes to? Then a formula
    with the structure of this one but not its value is that one, not this one done wrong."""
    return value is not None and any(_close(value, v) for v in others)


def _candidates(ctx: Context) -> list[Ref]:
    table = ctx.table
    if table is not None:  # update 0's row (its new weights, in the row below, are placed directly)
        return [Ref(table.sheet, table.first, col) for col in table.columns
                if col not in table.params and ctx.deps.is_formula(Ref(table.sheet, table.first, col))]
    cells = list(ctx.deps.precedents)
    limit = min(MAX_CANDIDATES, max(400, CANDIDATES_PER_QUANTITY * len(ctx.sol.graph.names)))
    if len(cells) > limit:  # a large book: only the formulas computed from what was found, the nearest first
        anchors = list(ctx.found.values())
        reached = _reached(ctx.deps.users, anchors)
        if reached:
            cells = [c for c in cells if c in reached]  # a chart's table of σ(x) beside the givens is none of them
        cells.sort(key=lambda c: min((abs(c.row - a.row) + abs(c.col - a.col) + (0 if c.sheet == a.sheet else 10**6)
                                      for a in anchors), default=0))
        cells = cells[:limit]
    return cells


def _reached(edges: Mapping[Ref, Sequence[Ref]], cells: Sequence[Ref], limit: int | None = None) -> set[Ref]:
    """Every cell reached from `cells` along `edges` (`deps.users`: what is computed from them;
    `deps.precedents`: what they are computed from), the nearest first, at most `limit` of them."""
    reached: set[Ref] = set()
    todo = deque(x for c in cells for x in edges.get(c, ()))
    while todo and (limit is None or len(reached) < limit):
        cell = todo.popleft()
        if cell not in reached:
            reached.add(cell)
            todo.extend(edges.get(cell, ()))
    return reached


def _fits(ctx: Context, q: Quantity, used: set[str], leaves: int = 0) -> bool:
    """Does a formula that uses the found quantities `used` compute what `q`'s rule is made of, and
    nothing else? Each input of the rule must be used, or be computed from what is used (a student
    who writes δ out in full rather than pointing at its cell); a given value not found in a cell of
    its own may be typed into the formula, and one found may be taken from a typed copy of it among
    the formula's other numbers `leaves` (`=D7+…`, D7 holding w1's 0.2 again); and each quantity
    used must be one of those, not one more beside them (`out_h1` beside `out_o1` in a ∂E/∂out is
    a gradient's formula)."""
    graph = ctx.sol.graph
    if not used <= _closure(ctx, q):
        return False
    memo: dict[str, bool] = {}
    reached: set[str] = set()
    copies = [(cell, ctx.value(cell)) for cell in ctx.sources.cells(leaves)] if leaves and ctx.sources else []

    def covered(name: str) -> bool:
        if name in used:
            reached.add(name)
            return True
        if graph[name].given:
            if name not in ctx.found:
                return True
            value = ctx.value(ctx.found[name])
            for k, (cell, copy) in enumerate(copies):
                if copy is not None and value is not None and _close(copy, value):
                    del copies[k]  # each typed copy stands for one given value
                    return True
            return False
        if name not in memo:
            memo[name] = False  # a cycle covers nothing
            memo[name] = _covers(graph[name], covered)
        return memo[name]

    return _covers(q, covered) and reached == used


def _covers(q: Quantity, covered) -> bool:
    if not q.inputs:
        return True  # a constant (the identity's derivative, 1)
    if q.kind == "dout_dnet":  # σ'(net) = out(1 − out): either one is enough
        return any(covered(x) for x in q.inputs)  # in order: out first
    return all([covered(x) for x in q.inputs])  # every input visited


def _closure(ctx: Context, q: Quantity) -> set[str]:
    """Every quantity `q`'s rule is made of, directly or not."""
    cache = ctx.closures
    if q.name not in cache:
        graph, todo, seen = ctx.sol.graph, list(q.inputs), set()
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name].inputs)
        cache[q.name] = seen
    return cache[q.name]


def _expand(ctx: Context, q: Quantity) -> set[str]:
    """The quantities found so far that `q`'s rule uses, looking through the ones not found."""
    graph, out, todo, seen = ctx.sol.graph, set(), list(q.inputs), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in ctx.found or graph[name].given:
            out.add(name)  # a given value not found yet stays in: a cell that cannot use it fits less well
        else:
            todo.extend(graph[name].inputs)
    return out


def _label(ctx: Context, cell: Ref) -> str | None:
    label = ctx.labels.get(cell)
    return label[0] if label else None


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(abs(a), abs(b)) or abs(a - b) <= 1e-12
