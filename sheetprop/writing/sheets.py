"""The Training sheets' header, their charts and the Sweep sheet: what the worked example
(`workbook`) and the handout (`handout`) write alike.

A Training sheet has a title, a line on what its rows hold, in a sweep its own learning rate in
ETA_CELL, then a row of column groups and a header row over the updates (`layout.TRAIN_HEADER_ROW`).
Its chart and the Sweep sheet's chart read each sheet's E_total column from the first update row
to the last: a handout's blank rows draw as the student fills them in.
"""

from __future__ import annotations

from sheetprop.cells import a1
from sheetprop.model.network import Spec
from sheetprop.writing import layout as L
from sheetprop.writing import printing
from sheetprop.writing import training as T

SWEEP = "Sweep"
ETA_CELL = (2, 1)  # a sweep's Training sheet: its own learning rate, in B3 (0-based row, column)
SWEEP_TABLE = 26  # the Sweep sheet's table of each η's first and last loss: its header row


def training_sheet(spec: Spec, eta: float) -> str:
    """`Training`, or `Training η=0.1` in a sweep."""
    return f"Training η={spec.eta_text(eta)}" if spec.sweep else L.TRAINING


def training_header(ws, spec: Spec, cols: T.TrainingColumns, fmt, eta: float, own_cell: bool,
                    subtitle: str | None = None) -> None:
    """Title, what the rows hold, the sheet's own η (a sweep), the column groups and the header row."""
    ws.write_string(0, 0, f"Training: {spec.n_updates} updates of {spec.name}"
                    + (f", η = {spec.eta_text(eta)}" if own_cell else ""), fmt["title"])
    ws.write_string(1, 0, subtitle or "Row k holds the parameters after k updates, the batch that update k+1 uses, "
                    "its loss and gradients. Each row is computed from the row above.", fmt["subtitle"])
    if own_cell:  # a sweep: this sheet's own learning rate, an input like the Network sheet's
        ws.write_string(ETA_CELL[0], 0, "learning rate η", fmt["label"])
        ws.write_number(*ETA_CELL, eta, fmt["input"])
    group_row, header_row = L.TRAIN_HEADER_ROW - 1, L.TRAIN_HEADER_ROW
    last_group = None
    for col, group, header in cols.headers:
        if group != last_group:
            ws.write_string(group_row, col, group, fmt["group"])
            last_group = group
        ws.write_string(header_row, col, header, fmt["header"])
    ws.set_column(0, 0, INDEX_WIDTH)
    ws.set_column(1, cols.width, COLUMN_WIDTH)
    ws.freeze_panes(L.TRAIN_FIRST_ROW, 1)


INDEX_WIDTH, COLUMN_WIDTH = 8, 12  # a Training sheet's columns: the update number, every other
CHART_WIDTH = 600  # pixels: a Training sheet's chart, from column B (within the first page's columns)
CHART_OFFSET = 12  # pixels right of column B's edge: a chart touching the repeated column A prints on every page


def print_training(ws, cols: T.TrainingColumns, paper: str = "a4") -> None:
    """A Training sheet prints readably: its columns in page-wide groups, the update number and the
    header rows on every page (`sheetprop.writing.printing`)."""
    printing.page_setup(ws, paper)
    ws.set_print_scale(printing.PRINT_SCALE)
    ws.repeat_rows(L.TRAIN_HEADER_ROW - 1, L.TRAIN_HEADER_ROW)
    ws.repeat_columns(0, 0)
    widths = [INDEX_WIDTH] + [COLUMN_WIDTH] * (cols.width - 1)
    groups = [col for k, (col, group, _h) in enumerate(cols.headers) if k and group != cols.headers[k - 1][1]]
    # the chart is anchored to the cells it covers in Excel: the first column right of it
    chart_end = 1 + -(-(CHART_OFFSET + CHART_WIDTH) // int(COLUMN_WIDTH * 7 + 5))
    breaks = printing.column_breaks(widths, groups, chart_end, paper)
    if breaks:
        ws.set_v_pagebreaks(breaks)


def loss_chart(wb, spec: Spec):
    """A chart of E_total against the update number: lines through the points, a numeric x axis."""
    chart = wb.add_chart({"type": "scatter", "subtype": "straight"})
    chart.set_x_axis({"name": "update", "min": 0, "max": max(1, spec.n_updates)})
    chart.set_y_axis({"name": "E_total", "major_gridlines": {"visible": True}})
    return chart


def training_chart(wb, ws, spec: Spec, cols: T.TrainingColumns, sheet: str, own_cell: bool) -> None:
    """The sheet's own loss chart, above its table."""
    chart = loss_chart(wb, spec)
    first, last = L.TRAIN_FIRST_ROW, L.TRAIN_FIRST_ROW + spec.n_updates
    chart.add_series({
        "name": "E_total",
        "categories": [sheet, first, 0, last, 0],
        "values": [sheet, first, cols.E_total, last, cols.E_total],
        "line": {"color": "#1F3864", "width": 1.5},
    })
    chart.set_title({"name": "Loss during training"})
    chart.set_legend({"none": True})
    chart.set_size({"width": CHART_WIDTH, "height": 330})
    ws.insert_chart(3 if own_cell else 2, 1, chart, {"x_offset": CHART_OFFSET})


def sweep_sheet(wb, ws, spec: Spec, runs: list[tuple[str, float]], cols: T.TrainingColumns, fmt,
                ends: list[tuple[float, float]] | None = None) -> int:
    """The Sweep sheet: one chart of every η's loss curve, and each η's first and last loss (live).
    `runs` are (Training sheet, η); `ends` each run's first and last loss, stored as the formulas'
    results (None: a handout, which stores none). Returns the number of formulas written."""
    from xlsxwriter.utility import quote_sheetname  # type: ignore[import-untyped]

    ws.write_string(0, 0, f"Learning-rate sweep: {spec.n_updates} updates of {spec.name}", fmt["title"])
    ws.write_string(1, 0, "Each learning rate has a Training sheet of its own, from the same given values; "
                    "change η in a sheet's yellow cell and its curve moves.", fmt["subtitle"])
    chart = loss_chart(wb, spec)
    first, last = L.TRAIN_FIRST_ROW, L.TRAIN_FIRST_ROW + spec.n_updates
    for sheet, eta in runs:
        chart.add_series({"name": f"η = {spec.eta_text(eta)}", "categories": [sheet, first, 0, last, 0],
                          "values": [sheet, first, cols.E_total, last, cols.E_total]})
    chart.set_title({"name": "Loss during training, one curve per learning rate"})
    chart.set_legend({"position": "right"})
    chart.set_size({"width": 820, "height": 420})
    ws.insert_chart(3, 0, chart)
    top = SWEEP_TABLE
    for col, text in enumerate(["learning rate η", "loss before training", f"loss after {spec.n_updates} updates"]):
        ws.write_string(top, col, text, fmt["header"])
    formulas = 0
    for k, (sheet, eta) in enumerate(runs):
        start, end = ends[k] if ends is not None else ("", "")
        quoted = quote_sheetname(sheet)
        ws.write_formula(top + 1 + k, 0, f"={quoted}!{a1(*ETA_CELL, True)}", fmt["number"], eta)
        ws.write_formula(top + 1 + k, 1, f"={quoted}!{a1(first, cols.E_total, True)}", fmt["formula"], start)
        ws.write_formula(top + 1 + k, 2, f"={quoted}!{a1(last, cols.E_total, True)}", fmt["formula"], end)
        formulas += 3
    ws.set_column(0, 2, 22)
    return formulas
