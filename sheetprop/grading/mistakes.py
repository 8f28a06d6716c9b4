"""Name the mistake behind a wrong value: the candidate rule that reproduces the student's number.

For a quantity the student got wrong, each candidate of `sheetprop.grading.candidates`
recomputes it the mistaken way from the student's *own* values of its inputs; the first that
reproduces the student's number names the mistake, in plain words, with what to do instead.
A mistake in a factor the student folded into a later formula is found by carrying each
candidate through to the cell that shows it. A given value typed wrong is swapped or mistyped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from sheetprop.grading.candidates import Candidate, candidates, connection
from sheetprop.model import reference as R
from sheetprop.model.graph import Quantity


@dataclass(frozen=True)
class Diagnosis:
    mistake: str  # a stable id: "updated_weights", "derivative_left_out", …
    text: str  # what the student did and what to do instead


Close = Callable[[float, float], bool]


def diagnose(sol: R.Solution, q: Quantity, got: float, own: Mapping[str, float], close: Close,
             used: set[str] | None = None, shown: set[str] | frozenset[str] = frozenset()) -> Diagnosis | None:
    """The mistake that turns the student's inputs into `got`, if one does.

    `used` is what the student's formula uses (the quantities found that its precedents lead
    to): a mistake that implies a precedent (the updated weights, the wrong neuron's
    activation) is named only when the formula has it. Factors the student does not show
    (`shown` lacks them: ∂E/∂out, ∂out/∂net, δ folded into a gradient) are tried too: a
    mistake in one of them, carried through to `q`, names it.
    """
    right = q.apply(own)
    for candidate in _confirmed(candidates(sol, q, own), used):
        mistake, value, text = candidate[:3]
        if value is None or (right is not None and close(value, right)):
            continue  # this mistake makes no difference here
        if close(value, got):
            return Diagnosis(mistake, text)
    for upstream in _folded(sol, q, shown):
        u = sol.graph[upstream]
        u_right = u.apply(own)
        for candidate in _confirmed(candidates(sol, u, own), used):
            mistake, value, text = candidate[:3]
            if value is None or (u_right is not None and close(value, u_right)):
                continue
            carried = _carry(sol, upstream, value, q, own, shown)
            if carried is not None and close(carried, got) and not (right is not None and close(carried, right)):
                return Diagnosis(mistake, f"in {upstream} (folded into {q.name}): {text}")
    return None


def _confirmed(found: Iterator[Candidate], used: set[str] | None) -> Iterator[Candidate]:
    """The candidates whose implied precedents the formula has (all of them when unknown)."""
    for candidate in found:
        needs = candidate[3] if len(candidate) > 3 else None
        if used is None or not needs or set(needs) <= used:
            yield candidate


def _folded(sol: R.Solution, q: Quantity, shown: set[str] | frozenset[str]) -> list[str]:
    """The quantities `q`'s rule uses through factors the student does not show, nearest first."""
    graph, order, todo, seen = sol.graph, [], list(q.inputs), set()
    while todo:
        name = todo.pop(0)
        if name in seen or name in shown or graph[name].given:
            continue
        seen.add(name)
        order.append(name)
        todo.extend(graph[name].inputs)
    return order


def _carry(sol: R.Solution, upstream: str, value: float, q: Quantity, own: Mapping[str, float],
           shown: set[str] | frozenset[str]) -> float | None:
    """`q` recomputed with `upstream` at `value`, and everything in between that is not shown."""
    values = dict(own)
    values[upstream] = value
    between = sol.graph.downstream(upstream)
    for x in sol.graph:
        if x.name in between and x.name not in shown and x.name != q.name and not x.given:
            result = x.apply(values)
            if result is not None:
                values[x.name] = result
    return q.apply(values)


def given_diagnosis(sol: R.Solution, name: str, got: float, student: Mapping[str, float], close: Close) -> Diagnosis:
    """A given value typed differently from the spec: swapped with another, or mistyped."""
    ref = sol.values
    params = {p.name: p for p in sol.graph.params}
    for other in sol.graph.givens:
        if other != name and close(got, ref[other]) and other in student and close(student[other], ref[name]):
            if name in params and other in params:
                return Diagnosis("weights_swapped", f"{name} and {other} are swapped: {connection(sol, params[name])} "
                                 f"is {ref[name]:g}, {connection(sol, params[other])} is {ref[other]:g}")
            return Diagnosis("given_swapped", f"{name} and {other} are swapped: {name} is {ref[name]:g}, "
                             f"{other} is {ref[other]:g}")
    return Diagnosis("given_mistyped", f"{name} is {got:g} here but the exercise gives {ref[name]:g}: "
                     "copy the given values exactly")
