"""Read the network and its given values from a student's workbook, when no spec is given.

The assignment sets Mazur's 2-2-2 sigmoid network with half the sum of squared errors,
with or without biases. Each shape (`SHAPES`) is tried: its given values are anchored in the
workbook by structure (`sheetprop.grading.structure`), its forward pass is looked for, and the
shape whose quantities the workbook shows best wins; the given values are then the ones
the workbook holds (the student's inputs, targets, weights and learning rate). What was
assumed is said in words, for the report.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from sheetprop.cells import Ref
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.readbook import Formula, StudentBook, number
from sheetprop.grading.tables import Table
from sheetprop.model import reference as R
from sheetprop.model.network import Sample, Spec
from sheetprop.model.spec import load_spec

SHAPES = ("mazur-nobias", "mazur")  # presets the assignment's sheets are built on


def infer_spec(book: StudentBook, deps: Dependencies, values: Mapping, table: Table | None) -> tuple[Spec, str]:
    """The spec the workbook shows, and a sentence saying what was assumed and read."""
    from sheetprop.grading.structure import locate_structure

    best: tuple[int, Spec, dict[str, Ref], str | None] | None = None
    overflow: set[str] = set()  # the shapes whose update overflows with the workbook's given values
    read = _read(book, deps, values)
    shown_networks: list[Spec] = []  # the network the formulas show, whatever its shape
    if read is not None:
        shown_networks.append(read[0])
        if len(read[0].data) > 1:  # the gradients decide whether the samples' losses are summed or averaged
            other = "sum" if read[0].reduction == "mean" else "mean"
            shown_networks.append(replace(read[0], reduction=other))  # type: ignore[arg-type]
    tries = [*((s, None) for s in SHAPES), *((None, n) for n in shown_networks)]
    tries += [(s, None) for s in SHAPES]  # when every network read overflows, the assignment's after all
    for attempt, (shape, shown_network) in enumerate(tries):
        if attempt >= len(tries) - len(SHAPES) and best is not None:
            break
        if shape is None:
            assert shown_network is not None
            spec = shown_network
        else:
            template = load_spec(shape)
            if read is not None and read[2] and attempt < len(SHAPES) and \
                    (read[0].sizes[0], read[0].sizes[-1]) != (template.sizes[0], template.sizes[-1]):
                continue  # the formulas show all of a network with other inputs or outputs than the assignment's
            sol = R.solve(template)
            found = locate_structure(book, sol, deps, values, {}, table)
            given = {name: v for name, cell in found.items() if sol.graph[name].given
                     and (v := _number(book, values, cell)) is not None}
            spec = with_given(template, sol, given)
        try:
            sol = R.solve(spec)
        except R.OverflowSpecError:  # the workbook's own values overflow: judge it against the assignment's
            if shape is None:
                continue
            spec = template
            overflow.add(shape)
            sol = R.solve(spec)
        if shown_network is not None and shown_network is not shown_networks[0] and best is not None \
                and best[3] is None:
            found = best[2]  # the same network but for its reduction: the same cells, other values expected
        else:
            found = locate_structure(book, sol, deps, values, {}, table)
        student = {name: v for name, cell in found.items() if (v := _number(book, values, cell)) is not None}
        shown = [name for name in found if not sol.graph[name].given]
        right = sum(1 for name in shown if name in student and abs(student[name] - sol.values[name]) <= 1e-9 * max(
            1e-300, abs(sol.values[name]), abs(student[name])))  # what this network gives from the given values
        complete = all(q.name in found for q in sol.graph if q.given)
        score = 100 * complete + 2 * right + len(shown)
        if best is None or score > best[0]:
            best = (score, spec, found, shape)
    assert best is not None
    _, spec, found, shape = best
    givens = ", ".join(f"{name} = {_show(_number(book, values, found[name]))} ({found[name]})"
                       for name in R.solve(spec).graph.givens if name in found)
    biases = "with biases" if any(b is not None for b in spec.biases) else "no biases"
    if shape is None and read is not None:
        where = "; ".join(f"{what} from {cell}" for what, cell in read[1].items())
        each = [layer.activation for layer in spec.layers[1:]]
        activations = each[0] if len(set(each)) == 1 else "/".join(each)  # per layer when they differ
        if biases == "with biases" and not spec.train_biases:
            biases = "with frozen biases"
        samples = f"{len(spec.data)} sample{'s' if len(spec.data) > 1 else ''}"
        if len(spec.data) > 1:
            samples += f", their losses {'summed' if spec.reduction == 'sum' else 'averaged'}"
        text = (f"no spec given: read the network from the workbook's formulas, {'-'.join(map(str, spec.sizes))} "
                f"{activations}, {biases}, loss {spec.loss}, η = {spec.learning_rate:g}, {samples} ({where}); "
                f"given values: {givens or 'none found'}")
    else:
        text = (f"no spec given: assumed the assignment's network, {'-'.join(map(str, spec.sizes))} sigmoid, "
                f"{biases}, loss ½Σ(t − o)²; given values read from the workbook: {givens or 'none found'}")
    if shape in overflow:
        text += ("; with them the first update makes numbers beyond ±1.8e308 (Excel shows #NUM!), so every answer is "
                 f"judged against the assignment's own given values, as with --spec {shape}")
    return replace(spec, name="the workbook's own network", source="the workbook"), text


def _read(book: StudentBook, deps: Dependencies, values: Mapping) -> tuple[Spec, dict[str, Ref], bool] | None:
    """The network the formulas show (`sheetprop.grading.shape`), validated, where it was read and
    whether all of it was; None when none is read."""
    from sheetprop.grading.shape import read_spec
    from sheetprop.model.network import SpecError
    from sheetprop.model.validate import validate

    found = read_spec(book, deps, values)
    if found is None:
        return None
    raw, where, whole = found
    try:
        return validate({"name": "the workbook's own network", **raw}, where="the workbook"), where, whole
    except (SpecError, ValueError, ArithmeticError):
        return None


def with_given(spec: Spec, sol: R.Solution, given: Mapping[str, float]) -> Spec:
    """`spec` with the given values replaced by `given` (name → value) where it has them."""
    params = R.Params.of(spec)
    for p in sol.graph.params:
        if p.name in given:
            params.set(p, given[p.name])
    data = list(spec.data)
    if len(data) == 1:
        inputs = tuple(given.get(f"i_{j + 1}", x) for j, x in enumerate(data[0].inputs))
        targets = tuple(given.get(f"target_{lab}", t) for lab, t in zip(sol.graph.labels[-1], data[0].targets))
        data = [Sample(inputs, targets)]
    return replace(params.apply_to(spec), learning_rate=given.get("eta", spec.learning_rate), data=tuple(data))


def _number(book: StudentBook, values: Mapping, cell: Ref) -> float | None:
    raw = book.cells.get(cell)
    return number(values.get(cell.key) if isinstance(raw, Formula) else raw)


def _show(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"
