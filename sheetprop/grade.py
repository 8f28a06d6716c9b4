"""Grade one student's workbook: find each quantity, recompute it, compare, diagnose, score.

`grade_file(path, spec, options)` is a pure function of picklable values, so a caller can
run files in worker processes. The student's file is read (never written, never run),
its formulas are recomputed by the engine, and each quantity gets a status:

- `correct`: equals the reference;
- `carried_forward`: differs from the reference but is right given the student's own
  values of its inputs (an earlier mistake, carried forward);
- `incorrect`: neither; the mistake is named when one of `mistakes` fits;
- `missing`: not found, or its cell is empty;
- `hardcoded`: a number typed where a formula belongs (given values excepted);
- `error`: the formula cannot be evaluated (circular, external link, unknown function…).
"""

from __future__ import annotations

import fnmatch
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from sheetprop import mistakes as M
from sheetprop import reference as R
from sheetprop.cells import Ref
from sheetprop.errors import one_line
from sheetprop.locate import Location, locate, map_problem
from sheetprop.readbook import Formula, StudentBook, read_book
from sheetprop.limits import LIBREOFFICE_GRACE, MAX_CELLS, MAX_UNCOMPRESSED
from sheetprop.readbook import WorkbookError
from sheetprop.engines import Results
from sheetprop.graph import Quantity
from sheetprop.jsonout import finite
from sheetprop.screen import screen_book
from sheetprop.network import Spec

STATUSES = ("correct", "carried_forward", "incorrect", "missing", "hardcoded", "error")


@dataclass(frozen=True)
class GradeOptions:
    tol: float = 1e-6  # relative tolerance
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
class Item:
    name: str
    cell: str | None
    status: str
    expected: float
    got: float | str | None
    diagnosis: str = ""
    points: float = 0.0
    max_points: float = 1.0
    section: str = ""
    found_by: str | None = None
    mistake: str | None = None  # the id of the diagnosed mistake
    stale: bool = False


@dataclass
class FileReport:
    file: str
    score: float = 0.0
    max_score: float = 0.0
    error: str | None = None
    items: list[Item] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what was ignored or held back, in words

    @property
    def student(self) -> str:
        return Path(self.file).stem

    @property
    def all_right(self) -> bool:
        """Every answer correct (a given value the grader did not find is not an answer)."""
        return self.error is None and all(
            i.status == "correct" or (i.section == "given" and i.status == "missing") for i in self.items)

    def first_mistake(self) -> Item | None:
        """The first named mistake, else the first error, typed answer or missing answer."""
        for status in ("incorrect", "error", "hardcoded", "missing"):
            for item in self.items:
                if item.status == status and not (item.section == "given" and status == "missing"):
                    return item
        return None

    def to_json(self) -> dict:
        return finite({"file": self.file, "score": self.score, "max_score": self.max_score, "error": self.error,
                        "notes": self.notes, "items": [asdict(i) for i in self.items]})


def close(a: float, b: float, tol: float) -> bool:
    diff = abs(a - b)
    return diff <= tol * max(abs(a), abs(b)) or diff <= 1e-12


def points_for(name: str, section: str, points: Mapping[str, float]) -> float:
    """A quantity's points: by its name, its section, a glob pattern, `default`; else 1 (0 for a given)."""
    if name in points:
        return float(points[name])
    if section in points:
        return float(points[section])
    for pattern, value in points.items():
        if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(name, pattern):
            return float(value)
    if section == "given":
        return 0.0
    return float(points.get("default", 1.0))


# ---------------------------------------------------------------- one file


def grade_file(path: str | Path, spec: Spec, options: GradeOptions = GradeOptions()) -> FileReport:
    """Grade one student's workbook; a file that cannot be used gives a report with `error` set.

    The file is read within the limits of `options`, its formulas screened (`sheetprop.screen`)
    and recomputed by the engine; nothing is written next to it and no macro is run.
    """
    start = time.perf_counter()
    report = FileReport(file=str(path))
    sol = R.solve(spec)
    held: dict = {}
    try:
        book = read_book(path, options.max_uncompressed, options.max_cells)
        formulas = {key: str(v) for key, v in book.cells.items() if isinstance(v, Formula)}
        held, _ = screen_book(formulas, book.names)  # the engine screens too; these are the file's own words
        results = _evaluate(path, options) if formulas else Results()
        for key, why in results.held.items():
            held.setdefault(Ref.from_key(key), why)
        report.notes = _notes(book, held)
    except WorkbookError as exc:
        report.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the engine's EngineError, or whatever a hostile file provokes in it
        report.error = _engine_failure(path, exc)
    if report.error is None:
        found = locate(book, sol.graph.names, dict(options.cell_map))
        report.items = _grade_items(sol, book, found, results, options, held)
        report.max_score = round(sum(i.max_points for i in report.items), 6)
        report.score = round(sum(i.points for i in report.items), 6)
    report.seconds = time.perf_counter() - start
    return report


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
    from sheetprop.engines import EngineError

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
    return f"{path}: cannot recompute the workbook ({one_line(exc)})"


@dataclass
class _Read:
    """What the student's cell for one quantity holds."""

    loc: Location | None
    kind: str  # absent, empty, number, formula, text
    value: object = None  # the number (typed or recomputed), text, or CellError
    formula: str | None = None
    stale: object = None  # the stored result, when it disagrees with the recomputed one
    held: str | None = None  # why the formula was not evaluated (sheetprop.screen)


def _read(book: StudentBook, loc: Location | None, results: dict, tol: float, held: dict) -> _Read:
    if loc is None:
        return _Read(None, "absent")
    raw = book.cells.get(loc.cell)
    if raw is None:
        return _Read(loc, "empty")
    if isinstance(raw, Formula) and loc.cell in held:
        return _Read(loc, "held", None, str(raw), held=held[loc.cell])
    if isinstance(raw, Formula):
        value = results.get(loc.cell.key)
        cached = book.cached.get(loc.cell)
        stale = cached if cached is not None and not _same(cached, value, tol) else None
        return _Read(loc, "formula", value, str(raw), stale)
    if isinstance(raw, bool):
        return _Read(loc, "text", raw)
    if isinstance(raw, (int, float)):
        return _Read(loc, "number", float(raw))
    text = str(raw).strip()
    try:
        return _Read(loc, "number", float(text))  # a number typed as text
    except ValueError:
        return _Read(loc, "text", text)


def _same(cached, value, tol: float) -> bool:
    if _is_number(cached) and _is_number(value):
        return close(float(cached), float(value), tol)
    return str(cached) == str(value)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _grade_items(sol: R.Solution, book: StudentBook, found: dict[str, Location], results: dict,
                 options: GradeOptions, held: dict) -> list[Item]:
    tol = options.tol
    near = lambda a, b: close(a, b, tol)  # noqa: E731
    reads = {name: _read(book, found.get(name), results, tol, held) for name in sol.graph.names}
    defined = set(book.names)
    student: dict[str, float] = {}
    for name, r in reads.items():
        if r.kind in ("number", "formula") and _is_number(r.value):
            student[name] = float(r.value)
    own = sol.own_values(student)
    # An empty cell that a later formula refers to counts as 0 there: the second reading.
    empties = {name: 0.0 for name, r in reads.items() if r.kind == "empty"}
    own0 = sol.own_values({**student, **empties}) if empties else own
    items: list[Item] = []
    status_of: dict[str, Item] = {}
    for name in sol.graph.names:
        r = reads[name]
        section = sol.graph.section(name)
        item = Item(name, r.loc.ref if r.loc else None, "", sol.values[name], _plain(r.value),
                    section=section, found_by=r.loc.how if r.loc else None)
        rule = None if sol.graph[name].given else sol.graph[name]
        if r.kind in ("absent", "empty"):
            item.status = "missing"
            item.diagnosis = (map_problem(book, name, dict(options.cell_map)) or
                              (f"the cell {r.loc.ref} is empty" if r.loc else _not_found(name)))
        elif r.kind == "held":
            item.status = "error"
            item.diagnosis = f"not evaluated: the formula {r.held}"
        elif r.kind == "formula" and not _is_number(r.value) and not isinstance(r.value, (str, bool, type(None))):
            item.status = "error"
            item.diagnosis = explain_error(r.value, r.formula, rule, status_of, defined, options.engine,
                                           held, r.loc.cell.sheet)
        elif r.kind == "text" or (r.kind == "formula" and not _is_number(r.value)):
            item.status = "incorrect"
            item.diagnosis = "the formula gives an empty value" if r.value is None else f"holds {r.value!r}, not a number"
        elif rule is not None and rule.inputs and (r.kind == "number" or not _references(r.formula)):
            item.status = "hardcoded"
            right = "" if near(r.value, sol.values[name]) else " (and it is not the right value)"
            item.diagnosis = (f"typed the number {r.value:g}{right}: write a formula that computes it from "
                              + ", ".join(_unique(rule.inputs)))
        elif near(r.value, sol.values[name]):
            item.status = "correct"
        elif rule is None:
            item.status = "incorrect"
            d = M.given_diagnosis(sol, name, r.value, student, near)
            item.diagnosis, item.mistake = d.text, d.mistake
        else:
            _judge(item, sol, rule, r.value, own, own0, near)
        if r.stale is not None:
            item.stale = True
            item.diagnosis = _join(item.diagnosis, f"the file stores {_plain(r.stale)!r} here but the formula gives "
                                   f"{_plain(r.value)!r}: the stored result is stale; recalculate and save again")
        item.max_points = points_for(name, section, options.points)
        credit = {"correct": 1.0, "carried_forward": options.carried_forward_credit,
                  "hardcoded": options.hardcoded_credit}.get(item.status, 0.0)
        item.points = round(item.max_points * credit, 6)
        items.append(item)
        status_of[name] = item
    return items


def _judge(item: Item, sol: R.Solution, rule: Quantity, got: float, own, own0, near) -> None:
    mine = rule.apply(own)
    if not (mine is not None and near(got, mine)) and own0 is not own:
        with_zeros = rule.apply(own0)
        if with_zeros is not None and near(got, with_zeros):
            own, mine = own0, with_zeros
    differing = [x for x in _unique(rule.inputs) if not near(own[x], sol.values[x])]
    if mine is not None and near(got, mine):
        item.status = "carried_forward"
        item.diagnosis = (f"right given your own {', '.join(differing)} (an earlier difference carried forward)"
                          if differing else "right given your own inputs")
        return
    item.status = "incorrect"
    found = M.diagnose(sol, rule, got, own, near)
    if found:
        item.mistake, item.diagnosis = found.mistake, found.text
    elif mine is not None:
        item.diagnosis = (f"from your own values of {', '.join(_unique(rule.inputs))} it should be {mine:.10g}; "
                          "check the formula")
    else:
        item.diagnosis = "cannot be computed from your own values of " + ", ".join(_unique(rule.inputs))


def _not_found(name: str) -> str:
    return (f"not found: give the cell the name {name}, or label it (e.g. {name.replace('_', ' ')!r}) "
            "with the value beside it, or map it with --map")


# ---------------------------------------------------------------- formulas that cannot be evaluated


def formula_tokens(formula: str) -> tuple[list[str], list[str]]:
    """(functions, operands that are references or names) of a formula."""
    from openpyxl.formula.tokenizer import Token, Tokenizer

    try:
        tokens = Tokenizer(formula).items
    except Exception:  # an unparsable formula: no tokens
        return [], []
    functions = [t.value[:-1].upper() for t in tokens if t.type == Token.FUNC and t.subtype == Token.OPEN]
    operands = [t.value for t in tokens if t.type == Token.OPERAND and t.subtype == Token.RANGE]
    return functions, operands


def _references(formula: str | None) -> bool:
    """Does the formula refer to any cell or name (else it is a number typed as a formula)?"""
    if not formula:
        return False
    return bool(formula_tokens(formula)[1])


def explain_error(value, formula: str | None, rule, status_of: dict[str, Item], defined: set[str],
                  engine: str, held: dict | None = None, sheet: str | None = None) -> str:
    """Why a formula gives an error, in words; `held` are the cells not evaluated (sheetprop.screen)."""
    from sheetprop.engines import unsupported_functions

    code = str(value)
    functions, operands = formula_tokens(formula or "")
    external = [op for op in operands if "[" in op]
    if external:
        return f"refers to another workbook ({external[0]}): copy the value into this workbook or compute it here"
    if code == "#CIRC!":
        return "circular reference: the formula depends on its own result"
    unknown = unsupported_functions(engine, functions) or []
    if unknown:
        return f"uses {unknown[0]}(), which the {engine} engine cannot compute; use basic functions (EXP, LN, SUM, …)"
    cell = re.compile(r"^(?:.+!)?\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?$")
    undefined = [op for op in operands if not cell.match(op) and op.split("!")[-1].lower() not in defined
                 and op.upper() not in ("TRUE", "FALSE")]
    if undefined:
        return f"uses {undefined[0]}, which is not a name defined in this workbook"
    for op in operands:
        where = Ref.parse(op, sheet)
        if held and where in held:
            return f"gives {code} because it uses {op}, which was not evaluated (the formula there {held[where]})"
    if rule is not None:
        for x in rule.inputs:
            if x in status_of and status_of[x].status == "error":
                return f"gives {code} because {x} ({status_of[x].cell}) is an error"
    return f"the formula gives {code}"


# ---------------------------------------------------------------- small helpers


def _plain(value):
    if value is None or isinstance(value, (str, bool)):
        return value
    if _is_number(value):
        return float(value)
    return str(value)


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


