"""The training run of a handout: a Training sheet per learning rate to fill in, and the Sweep sheet.

Most courses set the run as homework too ("train 50 updates, chart η = 0.1 … 2"). Each
Training sheet of the handout is the worked example's with its answers left blank: the same
title, header rows and columns, in a sweep its own learning rate in its yellow cell; row 0
starts from the given weights (`=w_1`, the Network sheet's given values), and every other cell
of the update rows (0 … `epochs` passes over the data) is green and empty. The charts read
the E_total column, so the Sweep chart draws each curve as the student fills it in. Nothing is
stored that the student must compute.
"""

from __future__ import annotations

from sheetprop.model import graph as G
from sheetprop.model.network import Spec
from sheetprop.writing import layout as L
from sheetprop.writing import training as T
from sheetprop.writing import xlsx
from sheetprop.writing.sheets import SWEEP, print_training, sweep_sheet, training_chart, training_header, \
    training_sheet

SUBTITLE = ("Fill one row per update. Row 0: the given weights (filled in), this row's forward pass, loss and "
            "gradients; row k: the weights after k updates, computed from the row above, and the same for them.")


def training_sheets(spec: Spec) -> list[str]:
    """The names of the handout's Training sheets, one per learning rate."""
    return [training_sheet(spec, eta) for eta in spec.etas]


def write_training(wb, spec: Spec, fmt, paper: str = "a4") -> dict:
    """Write the Training sheets (and with a sweep the Sweep sheet) of a handout; returns
    {"answers": cells to fill in, "formulas": formulas written}."""
    graph = G.build(spec)
    cols = T.training_columns(graph)
    given = _given_params(graph)
    answers = formulas = 0
    runs = []
    for eta in spec.etas:
        sheet = training_sheet(spec, eta)
        ws = xlsx.add_sheet(wb, sheet)
        training_header(ws, spec, cols, fmt, eta, bool(spec.sweep), SUBTITLE)
        for k in range(spec.n_updates + 1):
            row = L.TRAIN_FIRST_ROW + k
            ws.write_number(row, 0, k, fmt["index"])
            for col in range(1, cols.width):
                name = next((n for n, c in cols.params.items() if c == col), None) if k == 0 else None
                if name is not None:  # the given weights: not an answer, so their values are stored
                    ws.write_formula(row, col, f"={name}", fmt["formula"], given[name])
                    formulas += 1
                else:
                    ws.write_blank(row, col, None, fmt["answer"])
                    answers += 1
        training_chart(wb, ws, spec, cols, sheet, bool(spec.sweep))
        print_training(ws, cols, paper)
        runs.append((sheet, eta))
    if spec.sweep:
        ws = xlsx.add_sheet(wb, SWEEP)
        formulas += sweep_sheet(wb, ws, spec, runs, cols, fmt)
        xlsx.print_setup(ws, paper=paper)
    return {"answers": answers, "formulas": formulas}


def _given_params(graph: G.Graph) -> dict[str, float]:
    """Each trained parameter's given starting value."""
    from sheetprop.model import reference as R

    params = R.Params.of(graph.spec)
    return {p.name: params.value(p) for p in graph.params}
