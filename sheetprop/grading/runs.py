"""Check a row-per-iteration table update by update, as the student's own run.

Once the first update's quantities are found in a table's first rows, every later row holds
the same quantities one row down. Each row is judged against the student's own previous
row: every quantity must follow, by its rule, from the student's own values in its row (and
each new weight from the row above), so one wrong formula copied down is one mistake, named
where it first appears. The student's loss curve is also set beside the correct run with the
student's own learning rate and given values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from sheetprop.cells import Ref
from sheetprop.grading.readbook import Formula, StudentBook, number
from sheetprop.grading.tables import Pasted, Table
from sheetprop.model import reference as R


@dataclass
class TableCheck:
    sheet: str
    eta: float | None
    rows: int
    status: str  # correct, incorrect, pasted, unmatched (no column known to hold a computed quantity)
    first_wrong: dict | None = None  # {"update", "name", "cell", "expected", "got"}
    loss: dict[int, float] = field(default_factory=dict)  # the student's E_total, by update
    correct_loss: list[float] = field(default_factory=list)  # the correct run's, same learning rate and values
    cell: str | None = None  # where the table starts

    def to_json(self) -> dict:
        """The table's verdict, its last losses beside the correct run's, and both curves whole:
        `loss` as [update, E_total] pairs (a row may lack its loss), `correct_loss` by update."""
        pairs = {k: (v, self.correct_loss[k]) for k, v in self.loss.items() if k < len(self.correct_loss)}
        worst = max((abs(a - b) / abs(b) for a, b in pairs.values() if b), default=None)
        last = max(pairs, default=None)
        return {"sheet": self.sheet, "cell": self.cell, "eta": self.eta, "rows": self.rows, "status": self.status,
                "first_wrong": self.first_wrong, "loss_last": pairs[last][0] if last is not None else None,
                "correct_last": pairs[last][1] if last is not None else None, "max_rel_deviation": worst,
                "loss": [[k, v] for k, v in sorted(self.loss.items())], "correct_loss": list(self.correct_loss)}


@dataclass
class Run:
    """A training run laid out as one update repeated: update k's cells are update 0's, shifted."""

    sheet: str  # where update 0 is
    cell: str  # where the run starts, for the report
    rows: int  # updates shown
    shift: Callable[[Ref, int, str], Ref]  # where a quantity of update 0 (its cell, its name) is in update k
    eta_cell: Callable[[int], Ref | None]  # the learning rate of update k


def table_run(table: Table) -> Run:
    """A row-per-iteration table as a run: one row down per update."""
    return Run(table.sheet, str(Ref(table.sheet, table.first, min(table.columns or [0]))), table.rows,
               lambda cell, k, name: _shifted(table, cell, k, name), table.eta_cell)


def check_table(table: Table, book: StudentBook, values: Mapping, sol: R.Solution, found: Mapping[str, Ref],
                close, factors: Mapping[str, float] | None = None) -> TableCheck:
    """Judge every row of `table`; `found` holds where the first update's quantities are."""
    return check_run(table_run(table), book, values, sol, found, close, factors)


def check_run(run: Run, book: StudentBook, values: Mapping, sol: R.Solution, found: Mapping[str, Ref],
              close, factors: Mapping[str, float] | None = None) -> TableCheck:
    """Judge every update of `run`; `found` holds where the first update's quantities are, `factors`
    the forms they are written in (a loss without its ½ is twice the spec's: `conventions`)."""
    graph = sol.graph
    factors = factors or {}
    eta_cell = run.eta_cell(0)
    eta = _number(book, values, eta_cell) if eta_cell else None
    check = TableCheck(run.sheet, eta, run.rows, "correct", cell=run.cell)
    located = {name: cell for name, cell in found.items() if name in graph.quantities}
    if not any(not graph[name].given and name != "E_total" for name in located):
        check.status = "unmatched"  # nothing computed is known to be in it: no verdict rather than a vacuous one
        return check
    batches = sol.spec.batches()
    for k in range(run.rows):
        batch = batches[k % len(batches)]
        student = {}
        for name, cell in located.items():
            value = _number(book, values, run.shift(cell, k, name))
            if value is not None:
                student[name] = value / factors.get(name, 1.0)
        if k and len(batches) > 1:
            student.update(_scheduled(sol, located, run, k, batch))
        if "E_total" in located and "E_total" in student and run.shift(located["E_total"], k, "E_total") \
                in book.cells:
            check.loss[k] = student["E_total"]
        if check.first_wrong is not None or len(batch) != len(batches[0]):
            continue  # a last, smaller batch has other formulas: the rows after it are still judged
        own = sol.own_values(student)
        scaled = None  # the student's own step when a gradient is in a scaled form (no ½: twice the spec's)
        if any(abs(f) != 1 for f in factors.values()):
            scaled = sol.own_values({n: v * abs(factors.get(n, 1.0)) for n, v in student.items()})
        for name, cell in located.items():
            q = graph[name]
            if q.given or (q.kind == "new" and k == run.rows - 1):
                continue
            got_cell = run.shift(cell, k, name)
            if got_cell not in book.cells:
                continue  # a row that shows only some quantities (the new weights of a single update)
            got = _number(book, values, got_cell)
            if got is not None:
                got /= factors.get(name, 1.0)
            expected = q.apply(own)
            if expected is None:
                continue
            if got is not None and scaled is not None and q.kind == "new" and not close(got, expected):
                expected = q.apply(scaled) or expected
            if got is None or not close(got, expected):
                shown = _raw(book, values, got_cell)
                check.status = "incorrect"
                check.first_wrong = {"update": k, "name": name, "cell": str(got_cell), "expected": expected,
                                     "got": shown}
                break
    check.correct_loss = _correct_run(sol, located, book, values, run.rows)
    if "E_total" in factors:
        check.loss = {k: v * factors["E_total"] for k, v in check.loss.items()}  # as the student shows it
        check.correct_loss = [v * factors["E_total"] for v in check.correct_loss]
    return check


def pasted(p: Pasted) -> TableCheck:
    """A loss curve typed in as values: reported, never graded as right."""
    return TableCheck(p.sheet, None, p.rows, "pasted", cell=str(Ref(p.sheet, p.first, min(p.columns))))


def _shifted(table: Table, cell: Ref, k: int, name: str) -> Ref:
    """Where a quantity of the first update is in update k: one row down per update when it is in
    the table's first rows, the same cell when it is outside (η above the table, a block of givens)."""
    if name == "eta":
        return table.eta_cell(k) or cell
    if cell.sheet == table.sheet and table.first <= cell.row <= table.first + 1:
        return Ref(cell.sheet, cell.row + k, cell.col)
    return cell


def _scheduled(sol: R.Solution, located: Mapping[str, Ref], run: Run, k: int, batch: list[int]) -> dict:
    """The inputs and targets of update k's samples, for those not in the table's own rows.

    Online and mini-batch runs move on to the next sample (or batch) at each update: a row whose
    formulas read the samples from a block of given values (one column per sample, say) reads
    other cells than the first row does, so its inputs are the spec's, in the spec's order.
    """
    values = {}
    for q in sol.graph:
        cell = located.get(q.name)
        if q.kind in ("input", "target") and q.slot is not None and q.slot < len(batch) and q.index is not None \
                and (cell is None or run.shift(cell, k, q.name) == cell):
            sample = sol.spec.data[batch[q.slot]]
            values[q.name] = (sample.inputs if q.kind == "input" else sample.targets)[q.index]
    return values


def _number(book: StudentBook, values: Mapping, cell: Ref | None) -> float | None:
    if cell is None:
        return None
    raw = book.cells.get(cell)
    return number(values.get(cell.key) if isinstance(raw, Formula) else raw)


def _raw(book: StudentBook, values: Mapping, cell: Ref):
    raw = book.cells.get(cell)
    value = values.get(cell.key) if isinstance(raw, Formula) else raw
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)


def _correct_run(sol: R.Solution, located: Mapping[str, Ref], book: StudentBook, values: Mapping,
                 rows: int) -> list[float]:
    """E_total of the correct run, from the student's own first-row values and learning rate."""
    from dataclasses import replace

    from sheetprop.model.network import Sample

    spec = sol.spec
    given = {name: v for name, cell in located.items() if sol.graph[name].given
             and (v := _number(book, values, cell)) is not None}
    params = R.Params.of(spec)
    for p in sol.graph.params:
        if p.name in given:
            params.set(p, given[p.name])
    eta = given.get("eta", spec.learning_rate)
    data = list(spec.data)
    if len(data) == 1 and len(sol.graph.suffixes) == 1:
        inputs = tuple(given.get(f"i_{j + 1}", x) for j, x in enumerate(data[0].inputs))
        targets = tuple(given.get(f"target_{lab}", t) for lab, t in zip(sol.graph.labels[-1], data[0].targets))
        data = [Sample(inputs, targets)]
    try:
        spec_run = replace(params.apply_to(spec), learning_rate=eta, data=tuple(data), epochs=max(1, rows - 1))
        return R.losses(spec_run, rows - 1)
    except (ValueError, ArithmeticError):  # a run that overflows has no curve to compare
        return []
