"""Grade one student's workbook: read it, recompute it, find each quantity, judge it, check its tables.

`grade_file(path, spec, options)` is a pure function of picklable values, so a caller can
run files in worker processes (`sheetprop.grading.batch`). The student's file is read (never
written, never run), its formulas screened and recomputed by the engine; the quantities of
the first update are found (`sheetprop.grading.locate`) and judged (`sheetprop.grading.judge`); every
row-per-iteration table is checked update by update (`sheetprop.grading.runs`). Without a spec the
network and its given values are read from the workbook (`sheetprop.grading.infer`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from sheetprop.cells import Ref
from sheetprop.engines import Results
from sheetprop.engines.openbook import WorkbookError
from sheetprop.engines.screen import screen_book
from sheetprop.errors import one_line
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.judge import STATUSES, Item, close, judge_items
from sheetprop.grading.locate import locate
from sheetprop.grading.provenance import written_by_sheetprop
from sheetprop.grading.readbook import Formula, StudentBook, read_book
from sheetprop.grading.runs import TableCheck, check_table, pasted
from sheetprop.grading.tables import Table, find_pasted, find_tables
from sheetprop.jsonout import finite
from sheetprop.limits import LIBREOFFICE_GRACE, MAX_CELLS, MAX_UNCOMPRESSED
from sheetprop.model import reference as R
from sheetprop.model.network import Spec

__all__ = ["STATUSES", "FileReport", "GradeOptions", "Item", "grade_file"]


@dataclass(frozen=True)
class GradeOptions:
    tol: float = 1e-9  # relative tolerance: Excel's doubles agree to 1e-15; a carried-forward slip can be 1e-7
    points: Mapping[str, float] = field(default_factory=dict)  # name, section or glob pattern → points
    carried_forward_credit: float = 1.0  # fraction of the points
    hardcoded_credit: float = 0.0
    cell_map: Mapping[str, tuple] = field(default_factory=dict)  # name → (sheet or None, "B7")
    engine: str = "ironcalc"
    timeout: float | None = None  # seconds for the engine (then it runs in a child process)
    max_memory: int | None = None  # bytes for the engine's child process
    max_uncompressed: int = MAX_UNCOMPRESSED  # bytes of the zip once expanded
    max_cells: int = MAX_CELLS  # cells of the workbook
    engine_in_child: bool = True  # False when the caller already isolates the whole file (sheetprop.batch)
    scratch: str | None = None  # folder for the engine's copies (the caller removes it), else a temporary one


@dataclass
class FileReport:
    file: str
    score: float = 0.0
    max_score: float = 0.0
    error: str | None = None
    items: list[Item] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what was ignored, held back or assumed, in words
    training: list[dict] = field(default_factory=list)  # one entry per table (`runs.TableCheck.to_json`)
    provenance: str | None = None  # for the instructor: written by `sheetprop generate`, and what shows it

    @property
    def student(self) -> str:
        return Path(self.file).stem

    @property
    def all_right(self) -> bool:
        """Every answer correct (a given value the grader did not find is not an answer), and no
        training table with a wrong row."""
        return self.error is None and all(
            i.status == "correct" or (i.section == "given" and i.status == "missing") for i in self.items) \
            and not self.wrong_tables

    @property
    def wrong_tables(self) -> list[dict]:
        """The training tables with a wrong row."""
        return [t for t in self.training if t["status"] == "incorrect"]

    def first_mistake(self) -> Item | None:
        """The first named mistake, else the first error, typed answer or missing answer."""
        for status in ("incorrect", "error", "hardcoded", "missing"):
            for item in self.items:
                if item.status == status and not (item.section == "given" and status == "missing"):
                    return item
        return None

    def to_json(self) -> dict:
        return finite({"file": self.file, "score": self.score, "max_score": self.max_score, "error": self.error,
                        "notes": self.notes, "items": [asdict(i) for i in self.items], "training": self.training,
                        "provenance": self.provenance})


# ---------------------------------------------------------------- one file


def grade_file(path: str | Path, spec: Spec | None, options: GradeOptions = GradeOptions()) -> FileReport:
    """Grade one student's workbook against `spec` (None: the network the workbook shows); a file
    that cannot be used gives a report with `error` set.

    The file is read within the limits of `options`, its formulas screened (`sheetprop.engines.screen`)
    and recomputed by the engine; nothing is written next to it and no macro is run.
    """
    start = time.perf_counter()
    report = FileReport(file=str(path))
    held: dict = {}
    try:
        book = read_book(path, options.max_uncompressed, options.max_cells)
        formulas = {key: str(v) for key, v in book.cells.items() if isinstance(v, Formula)}
        held, _ = screen_book(formulas, book.names)  # the engine screens too; these are the file's own words
        results = _evaluate(path, options) if formulas else Results()
        for key, why in results.held.items():
            held.setdefault(Ref.from_key(key), why)
        report.notes = _notes(book, held)
        report.provenance = written_by_sheetprop(book)
    except WorkbookError as exc:
        report.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the engine's EngineError, or whatever a hostile file provokes in it
        report.error = _engine_failure(path, exc)
    if report.error is None:
        _grade(report, book, results, spec, options, held)
    report.seconds = time.perf_counter() - start
    return report


def _grade(report: FileReport, book: StudentBook, results: Results, spec: Spec | None, options: GradeOptions,
           held: dict) -> None:
    deps = Dependencies(book)
    tables = find_tables(book, deps)
    if spec is None:
        from sheetprop.grading.infer import infer_spec

        spec, assumed = infer_spec(book, deps, results, tables[0] if tables else None)
        report.notes.append(assumed)
    sol = R.solve(spec)
    table = main_table(tables, sol, results, book) if tables else None
    found = locate(book, sol.graph.names, dict(options.cell_map), sol=sol, deps=deps, values=results, table=table)
    cells = {name: loc.cell for name, loc in found.items()}
    results, substituted = _substitute_broken(report, book, results, sol, cells, deps, options)
    names_of = {cell: name for name, cell in cells.items()}
    stop = set(cells.values())
    sources = {name: deps.sources(cell, stop) for name, cell in cells.items() if deps.is_formula(cell)}
    uses = {name: {names_of[c] for c in traced if c in names_of} for name, traced in sources.items()}
    report.items = judge_items(sol, book, found, results, options, held, uses, sources)
    for item in report.items:
        cell = cells.get(item.name)
        if cell in substituted and item.status != "error":
            item.diagnosis = (item.diagnosis + "; " if item.diagnosis else "") + substituted[cell]
    report.max_score = round(sum(i.max_points for i in report.items), 6)
    report.score = round(sum(i.points for i in report.items), 6)
    near = lambda a, b: close(a, b, options.tol)  # noqa: E731
    checks: list[TableCheck] = []
    for other in tables:
        if other is table:
            from sheetprop.grading.structure import locate_structure

            cells = {name: loc.cell for name, loc in found.items()}
            if not _mostly_in(table, cells, sol):  # the worked step elsewhere (a Network sheet), the run here
                cells = locate_structure(book, sol, deps, results, {}, table)
            else:  # a quantity computed outside the table is not a column of its rows: look for it in them
                cells = {name: cell for name, cell in cells.items() if sol.graph[name].given or _in_rows(table, cell)}
                cells.update(locate_structure(book, sol, deps, results, cells, table))
            checks.append(check_table(other, book, results, sol, cells, near))
        else:
            checks.append(_check_other(other, table, book, results, sol, deps, found, near))
    checks += [pasted(p) for p in find_pasted(book, deps, tables)]
    report.training = [c.to_json() for c in checks]


def _substitute_broken(report: FileReport, book: StudentBook, results: Results, sol: R.Solution,
                       cells: dict[str, Ref], deps: Dependencies, options: GradeOptions) -> tuple[Results, dict]:
    """When a quantity's cell is an error (a cycle, a held link, a function the engine lacks), the
    workbook is recomputed with the correct value in its place, so that every cell that depends
    on it is judged on its own formula; those cells say so. Returns the values to judge with and
    {cell: what was substituted}."""
    from sheetprop.engines import CellError

    errors = {name: cell for name, cell in cells.items()
              if deps.is_formula(cell) and isinstance(results.get(cell.key), CellError)}
    stop = set(cells.values())
    bad = set(errors.values())
    broken = {name: cell for name, cell in errors.items()  # the first in each chain of errors
              if not any(c in bad and c != cell for c in deps.sources(cell, stop))}
    if not broken:
        return results, {}
    student = {}
    for name, cell in cells.items():
        raw = book.cells.get(cell)
        value = results.get(cell.key) if isinstance(raw, Formula) else raw
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            student[name] = float(value)
    own = sol.own_values(student)
    values = {cell: own[name] for name, cell in broken.items()}
    depends: dict[Ref, list[str]] = {}
    for name, cell in broken.items():
        todo, seen = list(deps.users.get(cell, ())), set()
        while todo:
            user = todo.pop()
            if user in seen:
                continue
            seen.add(user)
            depends.setdefault(user, []).append(name)
            todo.extend(deps.users.get(user, ()))
    if not depends:
        return results, {}
    import tempfile

    from sheetprop.engines.clean import copy_with_values

    try:
        with tempfile.TemporaryDirectory(prefix="sheetprop-", dir=options.scratch) as folder:
            fixed = _evaluate(copy_with_values(Path(report.file), values, Path(folder)), options)
    except Exception:  # noqa: BLE001 - without the second reading the dependants stay errors, as before
        return results, {}
    merged = Results(results, results.held, results.held_names)
    notes = {}
    for user, names in depends.items():
        if user.key in fixed and user not in values:
            merged[user.key] = fixed[user.key]
            shown = ", ".join(f"{n} ({results.get(broken[n].key)})" for n in names)
            notes[user] = f"judged with the correct value in place of the error in {shown}"
    return merged, notes


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
    """The table whose learning rate is the spec's, else the first with live formulas."""
    eta = sol.values["eta"]
    for table in tables:
        cell = table.eta_cell(0)
        raw = book.cells.get(cell) if cell else None
        value = results.get(cell.key) if isinstance(raw, Formula) and cell else raw
        if isinstance(value, (int, float)) and not isinstance(value, bool) and close(float(value), eta, 1e-9):
            return table
    return tables[0]


def _notes(book: StudentBook, held: dict) -> list[str]:
    notes = []
    if book.container.macros:
        notes.append("the file's macros (VBA) were ignored: sheetprop never runs them")
    if book.container.dropped:
        notes.append(f"ignored: {', '.join(book.container.dropped)} (the grader uses only this workbook's cells)")
    if held:
        shown = [str(cell) for cell in list(held)[:3]]
        first = next(iter(held.values()))
        if len(held) == 1:
            notes.append(f"the formula in {shown[0]} was not evaluated: it {first}")
        else:
            more = f" and {len(held) - 3} more" if len(held) > 3 else ""
            notes.append(f"{len(held)} formulas were not evaluated ({', '.join(shown)}{more}); the first {first}")
    return notes


def _evaluate(path, options: GradeOptions) -> Results:
    """The engine's value of every formula cell (screened first: `sheetprop.engines.evaluate`),
    in a child process of its own when there are limits and no caller isolates the file."""
    from sheetprop.engines import evaluate

    if not options.engine_in_child or (options.timeout is None and options.max_memory is None):
        return evaluate(path, options.engine, timeout=options.timeout)
    from functools import partial

    from sheetprop.isolate import Job

    grace = None if options.timeout is None else options.timeout + LIBREOFFICE_GRACE  # LibreOffice stops itself at `timeout`
    job = Job(partial(evaluate, timeout=options.timeout), path, options.engine, timeout=grace,
              max_memory=options.max_memory, what=f"the {options.engine} engine")
    return job.result()


def _engine_failure(path, exc: Exception) -> str:
    import tempfile

    from sheetprop.engines import EngineError
    from sheetprop.files import NEARLY_FULL, full_disk, no_space
    from sheetprop.isolate import IsolationError

    text = one_line(exc, kind=False)
    if isinstance(exc, MemoryError) or isinstance(exc.__cause__, MemoryError):
        return f"{path}: the engine ran out of memory; raise the limit with --max-memory if the file is genuine"
    if isinstance(exc, RecursionError) or isinstance(exc.__cause__, RecursionError):
        return f"{path}: the formulas are nested or chained too deeply for the engine; try --engine ironcalc"
    if isinstance(exc, EngineError):
        return text
    if isinstance(exc, IsolationError):
        return f"{path}: {text}"
    if no_space(exc):  # not the file's fault: the disk of the temporary files is full
        full = full_disk(tempfile.gettempdir(), margin=NEARLY_FULL) or "no space left on the disk"
        return f"{path}: could not be recomputed: {full}, where the engine's copies go; free some space or set TMPDIR"
    return f"{path}: cannot recompute the workbook ({one_line(exc)})"


