"""Judge each quantity of a student's workbook: right, carried forward, wrong (and which mistake),
missing, typed in, or an error; and its points.

- `correct`: equals the reference;
- `carried_forward`: differs from the reference but is right given the student's own
  values of its inputs (an earlier mistake, carried forward), through factors the student
  folds into the formula (a gradient is judged on the student's own ∂E/∂out, δ, …);
- `incorrect`: neither; the mistake is named when one of `mistakes` fits;
- `missing`: not found, or its cell is empty (only for what the student must show);
- `hardcoded`: a number typed where a formula belongs, or a formula that uses no quantity;
- `error`: the formula cannot be evaluated (circular, external link, unknown function…).
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from typing import Mapping, Protocol, TypeGuard

from sheetprop.cells import Ref
from sheetprop.grading import mistakes as M
from sheetprop.grading.locate import Location, map_problem
from sheetprop.grading.readbook import Formula, StudentBook
from sheetprop.model import graph as G
from sheetprop.model import reference as R
from sheetprop.model.graph import Quantity

STATUSES = ("correct", "carried_forward", "incorrect", "missing", "hardcoded", "error")


class Marking(Protocol):
    """What judging needs of the grading options (`grade.GradeOptions` has it), read only."""

    @property
    def tol(self) -> float: ...

    @property
    def points(self) -> Mapping[str, float]: ...

    @property
    def carried_forward_credit(self) -> float: ...

    @property
    def hardcoded_credit(self) -> float: ...

    @property
    def cell_map(self) -> Mapping[str, tuple]: ...

    @property
    def engine(self) -> str: ...


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
    form: str | None = None  # the convention it is written in ("as the negative, the t − o convention …")
    # in the student's own terms (`words.student_terms`), for the student's view of the report:
    word: str | None = None  # the student's own header word or label for the cell ("a_h1", "∂E/∂w5")
    formula: str | None = None  # the student's formula, as written ("=K6-B2*K6*(1-K6)*F6")
    shows: float | str | None = None  # what the student's sheet shows, when it is not `got` ("#NAME?")
    substituted: list[str] = field(default_factory=list)  # judged with these quantities' correct values in place
    should: str | None = None  # what it should compute, in the student's words ("(a_o1-t1)*a_o1*(1-a_o1)*a_h1")
    should_cells: str | None = None  # the same as a formula of the student's cells ("=(K6-B2)*K6*(1-K6)*F6")


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


def full_marks(sol: R.Solution, points: Mapping[str, float]) -> float:
    """The points of a worked solution that shows every quantity of the worked example (sheetprop's own):
    what an assignment's total is set to."""
    return sum(points_for(q.name, q.section, points) for q in sol.graph if q.worked and answer(sol, q.name))


def points_problems(points: Mapping[str, float], sol: R.Solution, strict: bool = True) -> list[str]:
    """What in a points file would do nothing: a key that names no answer, a pattern that matches
    none, a given or frozen value (never an answer), or points that add up to nothing. `strict`
    False when the network is read from each workbook: only unknown names are problems then."""
    from sheetprop.model.validate import did_you_mean

    answers = [q.name for q in sol.graph if answer(sol, q.name)]
    problems = []
    for key in points:
        if key == "default" or key in G.SECTIONS:
            continue
        if any(ch in key for ch in "*?["):
            if strict and not any(fnmatch.fnmatchcase(name, key) for name in answers):
                problems.append(f"{key}: the pattern matches no answer of this exercise")
        elif key not in sol.graph.quantities and key != "given":
            problems.append(f"{key}: no such quantity or section{did_you_mean(key, [*sol.graph.names, *G.SECTIONS])}")
        elif strict and (key == "given" or sol.graph[key].given):
            problems.append(f"{key}: a given value is never an answer and earns no points")
        elif strict and not answer(sol, key):
            problems.append(f"{key}: the spec does not train it, so it is not an answer and earns no points")
    if strict and answers and not any(points_for(name, sol.graph[name].section, points) > 0 for name in answers):
        problems.append("every answer is worth 0 points; give some of them points")
    return problems


ESSENTIAL = ("net", "out", "E_total", "grad", "new")  # what every worked solution shows; the rest may be folded


def essential(sol: R.Solution, name: str) -> bool:
    """Must the student show this quantity? The forward pass, the loss, the gradients and the new
    values of what the spec trains; the chain-rule factors (∂E/∂out, ∂out/∂net, δ, the loss terms)
    may be folded into the formulas that use them."""
    q = sol.graph[name]
    return q.kind in ESSENTIAL and answer(sol, name)


def answer(sol: R.Solution, name: str) -> bool:
    """Is this an answer cell of the exercise (not a given value, not a parameter the spec keeps frozen)?"""
    q = sol.graph[name]
    if q.given:
        return False
    return not (q.kind in ("grad", "new") and q.param is not None and not G.trained(sol.spec, q.param))


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


def _number(r: _Read) -> float:
    """The number a read holds once it is neither missing, an error nor text: typed, or a formula's result."""
    assert isinstance(r.value, (int, float)), r.value
    return r.value


def _same(cached, value, tol: float) -> bool:
    if _is_number(cached) and _is_number(value):
        return close(float(cached), float(value), tol)
    return str(cached) == str(value)


def _is_number(x: object) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def judge_items(sol: R.Solution, book: StudentBook, found: dict[str, Location], results: dict,
                 options: Marking, held: dict, uses: Mapping[str, set[str]] | None = None,
                 sources: Mapping[str, set[Ref]] | None = None) -> list[Item]:
    """Judge every quantity. `uses` says which found quantities each found formula leads back to
    (to confirm a mistake by its precedents), `sources` which cells (to tell a formula that only
    points at a typed number)."""
    uses = uses or {}
    sources = sources or {}
    tol = options.tol
    near = lambda a, b: close(a, b, tol)  # noqa: E731
    reads = {name: _read(book, found.get(name), results, tol, held) for name in sol.graph.names}
    defined = set(book.names)
    factor = {name: loc.form.factor for name, loc in found.items()}
    student: dict[str, float] = {}
    for name, r in reads.items():
        if r.kind in ("number", "formula") and _is_number(r.value):
            student[name] = float(r.value) / factor.get(name, 1.0)  # in the spec's form
    own = sol.own_values(student)
    signs = {name: float(r.value) / (-1.0 if factor.get(name, 1.0) < 0 else 1.0) for name, r in reads.items()
             if r.kind in ("number", "formula") and _is_number(r.value)}
    own_scaled = sol.own_values(signs) if any(abs(f) != 1 for f in factor.values()) else None
    # An empty cell that a later formula refers to counts as 0 there: the second reading.
    empties = {name: 0.0 for name, r in reads.items() if r.kind == "empty"}
    own0 = sol.own_values({**student, **empties}) if empties else own
    items: list[Item] = []
    status_of: dict[str, Item] = {}
    folded = {x for q in sol.graph if q.name in found for x in q.inputs}  # what a found formula takes in
    for name in sol.graph.names:
        r = reads[name]
        if r.kind == "absent" and (not essential(sol, name) or name in folded):
            continue  # a factor (a gradient in its update) folded into a later formula: not shown is no mistake
        section = sol.graph.section(name)
        item = Item(name, r.loc.ref if r.loc else None, "", sol.values[name], _plain(r.value),
                    section=section, found_by=r.loc.how if r.loc else None,
                    form=r.loc.form.text or None if r.loc else None)
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
                                           held, r.loc.cell.sheet if r.loc else None)
        elif r.kind == "text" or (r.kind == "formula" and not _is_number(r.value)):
            item.status = "incorrect"
            item.diagnosis = "the formula gives an empty value" if r.value is None else f"holds {_plain(r.value)!r}, not a number"
        elif rule is not None and rule.inputs and (r.kind == "number" or not _references(r.formula)
                                                   or _points_at_a_number(book, sources.get(name), found)):
            item.status = "hardcoded"
            right = "" if near(r.value, sol.values[name]) else " (and it is not the right value)"
            item.diagnosis = (f"typed the number {r.value:g}{right}: write a formula that computes it from "
                              + ", ".join(_unique(rule.inputs)))
        elif near(_number(r) / factor.get(name, 1.0), sol.values[name]):
            item.status = "correct"
        elif rule is None:
            item.status = "incorrect"
            d = M.given_diagnosis(sol, name, _number(r), student, near)
            item.diagnosis, item.mistake = d.text, d.mistake
        else:
            _judge(item, sol, rule, _number(r) / factor.get(name, 1.0), own, own0, near, uses.get(name), set(student),
                   own_scaled)
        if item.form:
            item.diagnosis = _join(f"written {item.form}", item.diagnosis)
        _mixing(item, sol, found, factor)
        if r.stale is not None:
            item.stale = True
            item.diagnosis = _join(item.diagnosis, f"the file stores {_plain(r.stale)!r} here but the formula gives "
                                   f"{_plain(r.value)!r}: the stored result is stale; recalculate and save again")
        item.max_points = points_for(name, section, options.points) if answer(sol, name) else 0.0
        credit = {"correct": 1.0, "carried_forward": options.carried_forward_credit,
                  "hardcoded": options.hardcoded_credit}.get(item.status, 0.0)
        item.points = round(item.max_points * credit, 6)
        items.append(item)
        status_of[name] = item
    return items


def _mixing(item: Item, sol: R.Solution, found: Mapping[str, Location], factor: Mapping[str, float]) -> None:
    """Tell a student who mixes the two sign conventions along one chain where: a factor written as
    t − o computed from one written as o − t, or an update that adds a gradient of the spec's sign."""
    from sheetprop.grading.conventions import SIGNED, mixed

    q = sol.graph[item.name]
    if item.name not in found:
        return
    own = factor.get(item.name, 1.0)
    inputs = {x: factor.get(x, 1.0) for x in q.inputs if x in found and sol.graph[x].kind in SIGNED}
    others = mixed(q.kind, own, inputs)
    if others:
        shown = ", ".join(f"{x} ({found[x].ref})" for x in others)
        first, second = ("o − t", "t − o") if own > 0 else ("t − o", "o − t")
        item.diagnosis = _join(item.diagnosis, f"you mix two conventions here: {item.name} is written with {first} "
                                               f"but {shown} with {second}")
    if q.kind == "new" and item.status == "incorrect" and item.mistake == "update_sign":
        grad = next((x for x in q.inputs if sol.graph[x].kind == "grad"), "")
        if grad in found and factor.get(grad, 1.0) < 0:
            item.mistake = "mixed_conventions"
            item.diagnosis = (f"your {grad} ({found[grad].ref}) is written as the negative (t − o), so the update "
                              f"adds it: {item.name} = {q.param.name if q.param else 'w'} + eta·{grad}")


def _points_at_a_number(book: StudentBook, cells: set[Ref] | None, found: Mapping[str, Location]) -> bool:
    """A formula that only points at one typed number (`=Z1`, Z1 holding 0.3775), none of the given values."""
    if not cells or len(cells) != 1:
        return False
    cell = next(iter(cells))
    raw = book.cells.get(cell)
    given = any(loc.cell == cell for loc in found.values())
    return isinstance(raw, (int, float)) and not isinstance(raw, bool) and not given


def _judge(item: Item, sol: R.Solution, rule: Quantity, got: float, own, own0, near,
           used: set[str] | None = None, shown: set[str] | frozenset[str] = frozenset(), own_scaled=None) -> None:
    mine = rule.apply(own)
    if not (mine is not None and near(got, mine)) and own0 is not own:
        with_zeros = rule.apply(own0)
        if with_zeros is not None and near(got, with_zeros):
            own, mine = own0, with_zeros
    if not (mine is not None and near(got, mine)) and own_scaled is not None and rule.kind == "new":
        scaled = rule.apply(own_scaled)  # an update with a gradient in a scaled form (no ½): its own step
        if scaled is not None and near(got, scaled):
            own, mine = own_scaled, scaled
    differing = [x for x in _unique(rule.inputs) if not near(own[x], sol.values[x])]
    if mine is not None and near(got, mine):
        item.status = "carried_forward"
        item.diagnosis = (f"right given your own {', '.join(differing)} (an earlier difference carried forward)"
                          if differing else "right given your own inputs")
        return
    item.status = "incorrect"
    found = M.diagnose(sol, rule, got, own, near, used, shown)
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
    from openpyxl.formula.tokenizer import Token

    from sheetprop.engines.tokens import tokenize

    try:
        tokens = tokenize(formula)
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


MAX_SHOWN = 80  # characters of a student's text shown in a report (a cell may hold 32,767)


def _plain(value):
    """The student's value as reports show it: a number, a truth value, or text cut to MAX_SHOWN."""
    if isinstance(value, str):
        return value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN - 1] + "…"
    if value is None or isinstance(value, bool):
        return value
    if _is_number(value):
        return float(value)
    return str(value)


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


