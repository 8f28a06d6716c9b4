"""Verify a generated workbook: recompute it with an engine, compare every cell with the reference.

The given values are read from the workbook's own input cells (a user who changed a weight
can still verify the maths); the reference is computed from them, laid out again, and each
formula cell's engine value is compared with the value the layout expects there.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

from sheetprop.cells import Ref, a1
from sheetprop.engines.openbook import WorkbookError, check_container, load, sheet_cells
from sheetprop.isolate import IsolationError, Job
from sheetprop.limits import LIBREOFFICE_GRACE, VERIFY_MAX_MEMORY, VERIFY_TIMEOUT
from sheetprop.model import graph as G
from sheetprop.model import reference as R
from sheetprop.model.network import Sample, Spec, SpecError
from sheetprop.model.spec import count_formulas, validate
from sheetprop.writing import layout as L
from sheetprop.writing import training as T
from sheetprop.writing.workbook import ETA_CELL, SPEC_MARKER, SWEEP, SWEEP_TABLE, build, training_sheet


@dataclass
class Mismatch:
    what: str
    cell: str
    expected: object
    got: object


@dataclass
class VerifyReport:
    file: str
    engine: str
    tolerance: float
    cells: int = 0
    names: int = 0
    worst_rel_error: float = 0.0
    seconds: float = 0.0
    input_changes: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches

    def to_json(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def agree(expected, got, tol: float) -> tuple[bool, float]:
    """(agrees, relative error) for one cell; text and errors must match exactly."""
    if isinstance(expected, str) or isinstance(got, str) or got is None or isinstance(got, bool):
        return expected == got, 0.0
    if not isinstance(got, (int, float)) or not math.isfinite(got):
        return False, math.inf
    diff = abs(got - expected)
    scale = max(abs(expected), abs(got))
    rel = diff / scale if scale else 0.0
    return diff <= tol * scale or diff <= tol * 1e-3, rel


def read_embedded(path: str | Path):
    """The workbook's embedded spec, its Network values by cell, and its defined names."""
    container = check_container(path)
    if container.needs_copy and container.xlsx_name:
        raise WorkbookError(f"{path}: holds {', '.join(container.dropped or ('macros',))}, which sheetprop never "
                            "writes; refused: verify checks workbooks made by `sheetprop generate`")
    wb = load(path, read_only=True, checked=True)
    try:
        if L.ABOUT not in wb.sheetnames or L.NETWORK not in wb.sheetnames:
            raise WorkbookError(
                f"{path}: holds no embedded spec (no {L.ABOUT} sheet): verify checks workbooks made by "
                "`sheetprop generate`; to grade an exercise or a student's file use `sheetprop check`"
            )
        lines, found = [], False
        for cell in sheet_cells(wb[L.ABOUT]):  # the cells the file holds, none made up
            value = cell["value"] if cell["column"] == 1 else None
            if found and isinstance(value, str):
                lines.append(value)
            found = found or value == SPEC_MARKER
        if not lines:
            raise WorkbookError(f"{path}: the {L.ABOUT} sheet holds no sheetprop spec; generate the workbook again")
        try:
            raw = json.loads("\n".join(lines))
            spec = validate(raw, where=f"{path} ({L.ABOUT} sheet)")
        except (json.JSONDecodeError, SpecError, RecursionError) as exc:
            raise WorkbookError(f"{path}: the embedded spec is damaged ({exc}); generate the workbook again") from None
        values: dict[tuple[int, int] | tuple[str, int, int], object] = {}
        for cell in sheet_cells(wb[L.NETWORK]):
            if cell["value"] is not None:
                values[(cell["row"] - 1, cell["column"] - 1)] = cell["value"]
        for eta in spec.sweep:  # a sweep: each Training sheet's own learning rate
            sheet = training_sheet(spec, eta)
            if sheet in wb.sheetnames:
                for cell in sheet_cells(wb[sheet]):
                    if (cell["row"] - 1, cell["column"] - 1) == ETA_CELL:
                        values[(sheet, *ETA_CELL)] = cell["value"]
        names = {name: dn.attr_text for name, dn in wb.defined_names.items()}
    finally:
        wb.close()
    return spec, values, names


def given_spec(spec, values: dict, path) -> tuple[Spec, list[str]]:
    """The spec with the given values the workbook holds now, and what changed."""
    network = build(spec).network
    changes: list[str] = []
    given = R.Params.of(spec)
    data = [[list(s.inputs), list(s.targets)] for s in spec.data]
    eta = spec.learning_rate
    params = {p.name: p for p in R.parameters(spec)}
    for cell in network.cells:
        if cell.style != "input":
            continue
        ref = f"{L.NETWORK}!{a1(cell.row, cell.col)}"
        got = values.get((cell.row, cell.col))
        if isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isfinite(got):
            raise WorkbookError(f"{path}: {ref} ({cell.what}) must hold a number, found {got!r}; type a number there")
        got = float(got)
        if got != cell.value:
            changes.append(f"{cell.what} {cell.value!r} -> {got!r}")
        key = cell.key
        assert key is not None  # every input cell says which given value it holds
        if key == ("eta",):
            eta = got
        elif key[0] == "data":
            _, s, field_, j = key
            data[s][0 if field_ == "inputs" else 1][j] = got
        else:
            given.set(params[key[0]], got)
    data_ = tuple(Sample(tuple(i), tuple(t)) for i, t in data)
    sweep = list(spec.sweep)
    for k, old in enumerate(spec.sweep):
        sheet = training_sheet(spec, old)
        got = values.get((sheet, *ETA_CELL))
        if isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isfinite(got) or got <= 0:
            raise WorkbookError(f"{path}: {Ref(sheet, *ETA_CELL)} (the learning rate) must hold a number greater "
                                f"than 0, found {got!r}; type one there")
        if float(got) != old:
            changes.append(f"{sheet} η {old!r} -> {float(got)!r}")
        sweep[k] = float(got)
    spec = replace(given.apply_to(spec), learning_rate=eta, data=data_)
    return (replace(spec, sweep=tuple(sweep)) if sweep else spec), changes


def expected_cells(spec, sheets: list[str] | None = None):
    """Every formula cell with its reference value: (sheet, row, col, value, what).

    Training cells are named only when reported (`what` is None), which keeps a
    10,000-row sheet cheap.
    """
    built = build(spec, sheets)
    ends = []
    for run in built.runs:
        first: R.Step | None = None
        last: R.Step | None = None
        for step in run.steps:
            first, last = first or step, step
            row = L.TRAIN_FIRST_ROW + step.index
            for col, value in T.training_values(built.graph, built.cols, step).items():
                yield run.sheet, row, col, value, None
        assert first is not None and last is not None  # every run has row 0 at least
        ends.append((run, first, last))
    L.checks(built.network, ends[0][1], ends[0][2], built.cols.E_total, built.runs[0].sheet)
    for cell in built.network.cells:
        if cell.style == "formula":
            yield L.NETWORK, cell.row, cell.col, cell.value, cell.what
    if spec.sweep:
        for k, (run, first, last) in enumerate(ends):
            for col, value in enumerate((run.eta, first.E_total, last.E_total)):
                yield SWEEP, SWEEP_TABLE + 1 + k, col, value, f"Sweep: η = {spec.eta_text(run.eta)}"
    yield "names", built.names, None, None, None


def verify_workbook(path: str | Path, engine: str | None = None, tol: float = 1e-9,
                    timeout: float | None = VERIFY_TIMEOUT, max_memory: int | None = VERIFY_MAX_MEMORY,
                    status=None) -> VerifyReport:
    """Recompute `path` with `engine` (None: the default, ironcalc) and compare every formula
    cell with the reference.

    The engine runs in a child process, within the time limit and memory bound, while this
    process computes what every cell should hold.
    """
    from sheetprop.engines import DEFAULT_ENGINE, EngineError, evaluate

    engine = engine or DEFAULT_ENGINE
    start = time.perf_counter()
    report = VerifyReport(file=str(path), engine=engine, tolerance=tol)
    job = None
    try:
        check_container(path)  # before an engine sees it: zip bombs, entity attacks, other formats
        grace = None if timeout is None else timeout + LIBREOFFICE_GRACE  # LibreOffice stops itself at `timeout`
        # The engine starts at once; this process reads the given values and lays the reference out meanwhile.
        job = Job(partial(evaluate, timeout=timeout), path, engine, timeout=grace,
                  what=f"the {engine} engine", max_memory=max_memory)
        spec0, values, workbook_names = read_embedded(path)
        spec, report.input_changes = given_spec(spec0, values, path)
        if status:
            n = count_formulas(spec)
            status(f"recomputing about {n:,} formula cells with {engine}, and the reference…")
        expected = list(expected_cells(spec, [training_sheet(spec0, eta) for eta in spec0.etas]))
        if status:
            status(f"reference ready; waiting for {engine}…")
        results = job.result()
        if status:
            status("comparing…")
    except (WorkbookError, EngineError, IsolationError) as exc:
        report.error = str(exc)
        report.seconds = time.perf_counter() - start
        return report
    finally:
        if job is not None:
            job.stop()

    cols = T.training_columns(G.build(spec))
    trainings = {training_sheet(spec0, eta) for eta in spec0.etas}
    for sheet, row, col, value, what in expected:
        if sheet == "names":
            names = row
            continue
        ref = a1(row, col)
        got = results.get((sheet, ref), "no formula here")
        report.cells += 1
        if got == value and type(got) is float:  # most cells agree to the last bit: the fast path
            continue
        ok, rel = agree(value, got, tol)
        if not ok:
            what = what or (T.training_what(cols, row, col, sheet) if sheet in trainings else ref)
            if (sheet, ref) in results.held:
                got = f"not evaluated: the formula {results.held[(sheet, ref)]}"
            report.mismatches.append(Mismatch(what, str(Ref.from_key((sheet, ref))), value, _plain(got)))
        if math.isfinite(rel) and rel > report.worst_rel_error:
            report.worst_rel_error = rel
    for name, (row, col) in names.items():
        target = f"{L.NETWORK}!{a1(row, col, True)}"
        report.names += 1
        if workbook_names.get(name, "").replace("'", "") != target:
            report.mismatches.append(Mismatch(name, target, f"the name {name} on {target}",
                                              workbook_names.get(name, "no such name")))
    report.seconds = time.perf_counter() - start
    return report


def _plain(value):
    return value if isinstance(value, (int, float, str, type(None))) else str(value)
