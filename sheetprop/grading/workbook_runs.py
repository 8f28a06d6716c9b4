"""Every training run a workbook shows, checked update by update, and a sweep's coverage.

The run the first update starts (a row-per-iteration table it sits in, blocks down a sheet, a
sheet per update: `iterations`), every other table (another learning rate's, a second run
beside the first) with its own learning rate and given values, and the loss curves pasted in
as values. With a learning-rate sweep, which of its rates the runs use.
"""

from __future__ import annotations

from typing import Mapping

from sheetprop.cells import Ref
from sheetprop.engines import Results
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.judge import close
from sheetprop.grading.readbook import Formula, StudentBook, number
from sheetprop.grading.runs import TableCheck, check_run, check_table, pasted
from sheetprop.grading.tables import Table, find_pasted
from sheetprop.model import reference as R
from sheetprop.model.network import Spec


def check_runs(book: StudentBook, deps: Dependencies, results: Results, sol: R.Solution, spec: Spec,
               tables: list[Table], table: Table | None, found: Mapping, tol: float) \
        -> tuple[list[dict], dict | None, str | None]:
    """(each run's verdict, the sweep's coverage or None, a note on it or None)."""
    near = lambda a, b: close(a, b, tol)  # noqa: E731
    checks: list[TableCheck] = []
    located = {name: loc.cell for name, loc in found.items()}
    factors = {name: loc.form.factor for name, loc in found.items() if loc.form.factor != 1}
    if table is None or not _mostly_in(table, located, sol):  # blocks down a sheet, a sheet per update
        from sheetprop.grading.iterations import find_run

        run = find_run(book, deps, sol, located)
        if run is not None:
            checks.append(check_run(run, book, results, sol, located, near, factors))
    for other in tables:
        if other is table:
            from sheetprop.grading.structure import locate_structure

            cells = {name: loc.cell for name, loc in found.items()}
            kept = factors  # the forms of the cells found in the table's rows
            if not _mostly_in(table, cells, sol):  # the worked step elsewhere (a Network sheet), the run here
                cells = locate_structure(book, sol, deps, results, {}, table)
                kept = {}
            else:  # a quantity computed outside the table is not a column of its rows: look for it in them
                cells = {name: cell for name, cell in cells.items() if sol.graph[name].given or _in_rows(table, cell)}
                cells.update(locate_structure(book, sol, deps, results, cells, table))
            checks.append(check_table(other, book, results, sol, cells, near,
                                      {n: f for n, f in kept.items() if cells.get(n) == located.get(n)}))
        else:
            checks.append(_check_other(other, table, book, results, sol, deps, found, near))
    checks += [pasted(p) for p in find_pasted(book, deps, tables)]
    training = [c.to_json() for c in checks]
    if not spec.sweep:
        return training, None, None
    coverage = _coverage(spec, checks)
    return training, coverage, _coverage_text(spec, coverage)


def _in_rows(table: Table, cell: Ref) -> bool:
    """Is the cell in the table's first two rows (update 0 and its new weights)?"""
    return cell.sheet == table.sheet and table.first <= cell.row <= table.first + 1


def _mostly_in(table: Table, cells: dict[str, Ref], sol: R.Solution) -> bool:
    """Are most of the computed quantities found in the table's first rows?"""
    computed = [cell for name, cell in cells.items() if not sol.graph[name].given]
    return 2 * sum(_in_rows(table, c) for c in computed) >= len(computed)


def _check_other(other: Table, main: Table | None, book: StudentBook, results: Results, sol: R.Solution,
                 deps: Dependencies, found, near) -> TableCheck:
    """Another table (one sheet per learning rate, a second run beside the first): its quantities
    sit where the main table's do when it is laid out the same, else they are found again; it is
    judged with its own learning rate and given values."""
    from sheetprop.grading.infer import with_given
    from sheetprop.grading.structure import locate_structure

    main_cells = {name: loc.cell for name, loc in found.items()}
    if main is not None and other.labels == main.labels and other.params == main.params \
            and _mostly_in(main, main_cells, sol):
        shift = other.first - main.first
        cells = {name: (Ref(other.sheet, loc.cell.row + shift, loc.cell.col) if _in_rows(main, loc.cell) else loc.cell)
                 for name, loc in found.items() if sol.graph[name].given or _in_rows(main, loc.cell)}
        if other.eta is not None:
            cells["eta"] = other.eta
    else:
        cells = locate_structure(book, sol, deps, results, {}, other)
    given = {}
    for name, cell in cells.items():
        raw = book.cells.get(cell)
        value = results.get(cell.key) if isinstance(raw, Formula) else raw
        if sol.graph[name].given and isinstance(value, (int, float)) and not isinstance(value, bool):
            given[name] = float(value)
    try:
        own = R.solve(with_given(sol.spec, sol, given))
    except R.OverflowSpecError:  # its given values overflow (Excel shows #NUM!): judged with the exercise's, its η
        own = R.solve(with_given(sol.spec, sol, {k: v for k, v in given.items() if k == "eta"}))
    return check_table(other, book, results, own, cells, near)


def main_table(tables: list[Table], sol: R.Solution, results, book: StudentBook) -> Table:
    """The table whose learning rate is the spec's (the first of a sweep's, else any of them), else the first."""
    rates = [sol.values["eta"], *sol.spec.etas]
    for eta in rates:
        for table in tables:
            cell = table.eta_cell(0)
            raw = book.cells.get(cell) if cell else None
            value = number(results.get(cell.key) if isinstance(raw, Formula) and cell else raw)
            if value is not None and close(value, eta, 1e-9):
                return table
    return tables[0]


def sweep_rate(spec: Spec, found, book: StudentBook, results) -> float | None:
    """With a learning-rate sweep, the rate of the sweep the first update found uses (None: no sweep,
    or a rate that is none of them, which judging then calls wrong)."""
    if not spec.sweep or "eta" not in found:
        return None
    cell = found["eta"].cell
    raw = book.cells.get(cell)
    value = number(results.get(cell.key) if isinstance(raw, Formula) else raw)
    return next((rate for rate in spec.etas if value is not None and close(value, rate, 1e-9)), None)


def _coverage(spec: Spec, checks: list[TableCheck]) -> dict:
    """Which learning rates of the sweep the workbook's live training runs use, and which it lacks."""
    used = [c.eta for c in checks if c.eta is not None and c.status in ("correct", "incorrect")]
    covered = [rate for rate in spec.etas if any(close(rate, eta, 1e-9) for eta in used)]
    return {"rates": list(spec.etas), "covered": covered, "missing": [r for r in spec.etas if r not in covered]}


def _coverage_text(spec: Spec, sweep: dict) -> str:
    show = lambda rates: ", ".join(spec.eta_text(r) for r in rates) or "none"  # noqa: E731
    text = f"learning rates of the sweep with a training run here: {show(sweep['covered'])}"
    return text + (f"; missing: {show(sweep['missing'])}" if sweep["missing"] else " (all of them)")
