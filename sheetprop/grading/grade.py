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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Mapping

from sheetprop.cells import Ref
from sheetprop.engines import Results
from sheetprop.engines.openbook import WorkbookError
from sheetprop.engines.screen import reach_of, screen_book
from sheetprop.errors import one_line
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.judge import STATUSES, Item, judge_items
from sheetprop.grading.locate import locate
from sheetprop.grading.provenance import written_by_sheetprop
from sheetprop.grading.readbook import Formula, StudentBook, number, read_book
from sheetprop.grading.tables import find_tables
from sheetprop.grading.words import student_terms
from sheetprop.grading.workbook_runs import check_runs, main_table, sweep_rate
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
    sweep: dict | None = None  # with a learning-rate sweep: {"rates", "covered", "missing"}
    total: float = 0.0  # the assignment's total: what a sheet showing every quantity earns (`judge.full_marks`)
    given_read: bool = False  # no spec: the given values were read from this workbook (so they agree with it)
    words: dict[str, str] = field(default_factory=dict)  # name → the student's own word for it (see `Item.word`)
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
                        "total": self.total, "given_read": self.given_read, "words": self.words,
                        "provenance": self.provenance, **({"sweep": self.sweep} if self.sweep is not None else {})})


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
        reach = reach_of(options.engine, (max((r.row for r in book.cells), default=0) + 1,
                                          max((r.col for r in book.cells), default=0) + 1))
        held, _ = screen_book(formulas, book.names, reach)  # the engine screens too; these are the file's own words
        results = _evaluate(path, options) if formulas else Results()
        for key, why in results.held.items():
            held.setdefault(Ref.from_key(key), why)
        _array_cells(book, results)
        report.notes = _notes(book, held) + results.notes
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
    deps = Dependencies(book, results)
    tables = find_tables(book, deps)
    if spec is None:
        from sheetprop.grading.infer import infer_spec

        spec, assumed = infer_spec(book, deps, results, tables[0] if tables else None)
        report.notes.append(assumed)
        report.given_read = True
    sol = R.solve(spec)
    table = main_table(tables, sol, results, book) if tables else None
    found = locate(book, sol.graph.names, dict(options.cell_map), sol=sol, deps=deps, values=results, table=table)
    rate = sweep_rate(spec, found, book, results)
    if rate is not None and rate != sol.spec.learning_rate:  # a sweep: the first update is judged with its own η
        sol = R.solve(replace(spec, learning_rate=rate, sweep=()))
        found = locate(book, sol.graph.names, dict(options.cell_map), sol=sol, deps=deps, values=results, table=table)
    report.notes += _settle_forms(found, sol, book, results)
    cells = {name: loc.cell for name, loc in found.items()}
    shown = results
    results, substituted = _substitute_broken(report, book, results, sol, cells, deps, options)
    names_of = {cell: name for name, cell in cells.items()}
    stop = set(cells.values())
    sources = {name: deps.sources(cell, stop) for name, cell in cells.items() if deps.is_formula(cell)}
    uses = {name: {names_of[c] for c in traced if c in names_of} for name, traced in sources.items()}
    report.items = judge_items(sol, book, found, results, options, held, uses, sources)
    _typed_in_formulas(report, found, book, deps, results, sol, options)
    for item in report.items:
        cell = cells.get(item.name)
        if cell in substituted and item.status != "error":
            item.diagnosis = (item.diagnosis + "; " if item.diagnosis else "") + substituted[cell]
    student_terms(report, book, sol, found, shown, table, options)
    report.max_score = round(sum(i.max_points for i in report.items), 6)
    report.score = round(sum(i.points for i in report.items), 6)
    report.training, report.sweep, coverage = check_runs(book, deps, results, sol, spec, tables, table, found,
                                                         options.tol)
    if coverage:
        report.notes.append(coverage)


def _array_cells(book: StudentBook, results: Results) -> None:
    """A cell filled by a multi-cell array formula or a spill (`{=MMULT(…)}` over net_h1:net_h2) is
    computed by that formula, never typed: it reads as the formula, its value the engine's, and
    whatever value the file stored there is forgotten."""
    for member, anchor in results.arrays.items():
        formula = book.cells.get(Ref.from_key(anchor))
        if isinstance(formula, Formula) and member in results:
            book.cells[Ref.from_key(member)] = formula
            book.cached.pop(Ref.from_key(member), None)


def _cycles(errors: dict[str, Ref], deps: Dependencies, stop: set[Ref]) -> set[Ref]:
    """The cells among `errors` that lie on a reference cycle of quantities (net_h1 ↔ out_h1): each
    reaches itself through the others' formulas."""
    bad = set(errors.values())
    uses = {cell: {c for c in deps.sources(cell, stop) if c in bad} for cell in bad}
    cyclic = set()
    for cell in bad:
        todo, seen = list(uses[cell]), set()
        while todo:
            other = todo.pop()
            if other == cell:
                cyclic.add(cell)
                break
            if other not in seen:
                seen.add(other)
                todo.extend(uses.get(other, ()))
    return cyclic


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
    cyclic = _cycles(errors, deps, stop)  # a cycle costs only its own cells, which say what they are
    if any(results.get(cell.key) != CellError("#CIRC!") for cell in cyclic):  # LibreOffice's Err:522 reads #VALUE!
        results = results.copy()
        results.update((cell.key, CellError("#CIRC!")) for cell in cyclic)
    broken = {name: cell for name, cell in errors.items()  # the first in each chain of errors, and each cycle
              if cell in cyclic or not any(c in bad and c != cell for c in deps.sources(cell, stop))}
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
    merged = results.copy()
    notes = {}
    for user, names in depends.items():
        if user.key in fixed and user not in values:
            merged[user.key] = fixed[user.key]
            shown = ", ".join(f"{n} ({results.get(broken[n].key)})" for n in names)
            notes[user] = f"judged with the correct value in place of the error in {shown}"
    return merged, notes


def _settle_forms(found: dict, sol: R.Solution, book: StudentBook, results: Results) -> list[str]:
    """A form read where a convention does not hold all the way is a slip: judged in the spec's form
    (`conventions.settle`); returns the notes on the rest."""
    from sheetprop.grading.conventions import SPEC, settle, updates_compensate

    forms_of = {name: loc.form for name, loc in found.items() if loc.form.factor != 1}
    if not forms_of:
        return []
    student = {}
    for name, loc in found.items():
        raw = book.cells.get(loc.cell)
        value = number(results.get(loc.cell.key) if isinstance(raw, Formula) else raw)
        if value is not None:
            student[name] = value
    labelled = {name: "label" in loc.how for name, loc in found.items()}
    mistakes, notes = settle(sol.graph, forms_of, labelled, updates_compensate(sol, forms_of, student))
    for name in mistakes:
        found[name] = replace(found[name], form=SPEC)
    return notes


def _typed_in_formulas(report: FileReport, found, book: StudentBook, deps: Dependencies, results: Results,
                       sol: R.Solution, options: GradeOptions) -> None:
    """A number typed inside a formula (`=0.3775+0*w_1`) is `hardcoded`: recomputed with the given
    values nudged, it does not move (`sheetprop.grading.hardcoded`)."""
    from sheetprop.grading import hardcoded

    suspected = hardcoded.suspects(report.items, found, book, deps, results)
    if not suspected:
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sheetprop-", dir=options.scratch) as folder:
        hardcoded.confirm(suspected, found, book, results, sol, lambda copy: _evaluate(copy, options),
                          Path(report.file), Path(folder))
    for item in suspected:
        if item.status == "hardcoded":
            item.points = round(item.max_points * options.hardcoded_credit, 6)


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


