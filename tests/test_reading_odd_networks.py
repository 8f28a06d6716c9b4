"""Reading a network without a spec from workbooks that break the usual patterns (a review's
findings, each a workbook built here): the grader never fails on them, and reads what they show.

Each workbook is a small sheet of plain formulas: a square among the products, a constant 1 as
the only input, weights that overflow, cells written without their `r` attribute, a wrong cell
labelled as a quantity computed from a right one, a σ(x) table for a chart beside the givens,
net inputs echoed elsewhere, a constant-1 input per layer or per sample, a bias weight of 1, a
training table recomputing one sample from copies of the weights.
"""

from __future__ import annotations

import re
import zipfile

import openpyxl
import pytest

from sheetprop.grading.grade import grade_file
from sheetprop.model.spec import load_spec


def sig(cell: str) -> str:
    return f"=1/(1+EXP(-{cell}))"


def book(path, cells: dict, more: dict | None = None):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    for key, value in cells.items():
        ws[key] = value
    for sheet, sheet_cells in (more or {}).items():
        other = wb.create_sheet(sheet)
        for key, value in sheet_cells.items():
            other[key] = value
    wb.save(path)
    return path


MAZUR = {  # the course assignment's network (2-2-2 sigmoid, no biases) on one row
    "A1": 0.05, "B1": 0.1, "C1": 0.15, "D1": 0.2, "E1": 0.25, "F1": 0.3, "G1": 0.4, "H1": 0.45, "I1": 0.5, "J1": 0.55,
    "K1": 0.5, "L1": 0.01, "M1": 0.99,
    "N1": "=C1*A1+D1*B1", "O1": "=E1*A1+F1*B1", "P1": sig("N1"), "Q1": sig("O1"),
    "R1": "=G1*P1+H1*Q1", "S1": "=I1*P1+J1*Q1", "T1": sig("R1"), "U1": sig("S1"),
    "V1": "=0.5*(L1-T1)^2", "W1": "=0.5*(M1-U1)^2", "X1": "=V1+W1",
}
BACKWARD = {
    "Y1": "=(T1-L1)*T1*(1-T1)", "Z1": "=(U1-M1)*U1*(1-U1)",
    "AA1": "=G1-K1*Y1*P1", "AB1": "=H1-K1*Y1*Q1", "AC1": "=I1-K1*Z1*P1", "AD1": "=J1-K1*Z1*Q1",
    "AE1": "=(Y1*G1+Z1*I1)*P1*(1-P1)", "AF1": "=(Y1*H1+Z1*J1)*Q1*(1-Q1)",
    "AG1": "=C1-K1*AE1*A1", "AH1": "=D1-K1*AE1*B1", "AI1": "=E1-K1*AF1*A1", "AJ1": "=F1-K1*AF1*B1",
}


def graded(path, spec=None):
    report = grade_file(path, spec)
    assert report.error is None, report.error
    return report


def note(report) -> str:
    return next(n for n in report.notes if n.startswith("no spec given"))


@pytest.mark.parametrize("cells", [
    {"A1": 0.5, "B1": 0.2, "C1": 0.3, "D1": "=A1*A1+B1*C1", "E1": sig("D1"), "F1": 0.9, "G1": "=0.5*(F1-E1)^2"},
    {"A1": 1, "B1": 0.5, "C1": 0.3, "D1": 0.2, "E1": "=B1*A1", "F1": sig("E1"), "G1": "=C1*F1+D1*A1",
     "H1": sig("G1"), "I1": 0.9, "J1": "=0.5*(I1-H1)^2", "K1": 0.5, "L1": "=C1-K1*(H1-I1)*F1"},
    {"A1": 1.0, "A2": 2.0, "A3": 3.0, **{c: 1e200 for c in ("B1", "B2", "B3", "C1", "C2", "C3", "D1", "D2")},
     "E1": "=B1*A1+B2*A2+B3*A3", "E2": "=C1*A1+C2*A2+C3*A3", "F1": "=E1", "F2": "=E2", "G1": "=D1*F1+D2*F2",
     "H1": "=G1", "I1": 0.5, "J1": "=0.5*(I1-H1)^2", "K1": 0.1, "L1": "=D1-K1*(H1-I1)*F1", "L2": "=D2-K1*(H1-I1)*F2"},
    {"C1": 0.15, "D1": 0.2, "E1": 0.25, "F1": 0.3, "K1": 0.5,
     **{k: v for r, (a, b, t) in ((4, (0.05, 0.1, 0.2)), (5, (0.3, 0.6, 0.8))) for k, v in {
         f"A{r}": a, f"B{r}": b, f"G{r}": t, f"N{r}": f"=$C$1*A{r}+$D$1*B{r}", f"O{r}": f"=$E$1*A{r}+$F$1*B{r}",
         f"P{r}": sig(f"N{r}"), f"Q{r}": sig(f"O{r}"), f"R{r}": f"=0.5*(G{r}-P{r})^2"}.items()},
     "C10": "=C1", "D10": "=D1", "E10": "=E1", "F10": "=F1", "N10": "=C10*A5+D10*B5", "O10": "=E10*A5+F10*B5",
     "C11": "=C1-K1*(P4-G4)*P4*(1-P4)*A4"},
], ids=["a square among the products", "the constant 1 the only input", "weights that overflow",
        "one sample recomputed from copies of the weights"])
def test_an_odd_network_is_graded_never_failed(tmp_path, cells):
    report = graded(book(tmp_path / "odd.xlsx", cells))
    assert report.max_score > 0


def test_cells_without_their_r_attribute_are_read_where_they_are(tmp_path):
    """Some tools write `<c>` without `r`: each cell follows the one before, the stored results too."""
    plain = book(tmp_path / "plain.xlsx", {**MAZUR, **BACKWARD})
    bare = tmp_path / "bare.xlsx"
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(bare, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(rb'(<c\b[^>]*?) r="[A-Z]+\d+"', rb"\1", data)
            zout.writestr(item, data)
    assert b' r="B1"' not in zipfile.ZipFile(bare).read("xl/worksheets/sheet1.xml")
    for path in (plain, bare):
        report = graded(path, load_spec("mazur-nobias"))
        assert report.all_right and report.score == report.max_score == 23, path  # 23 quantities shown


def test_a_wrong_cell_labelled_as_the_quantity_is_judged_wrong_even_when_made_from_a_right_one(tmp_path):
    wrong = graded(book(tmp_path / "wrong.xlsx", {**MAZUR, **BACKWARD, "A3": "E_total", "B3": "=X1+0.1"}))
    items = {i.name: i for i in wrong.items}
    assert items["E_total"].cell == "Sheet1!B3" and items["E_total"].status == "incorrect"
    shown = graded(book(tmp_path / "shown.xlsx", {**MAZUR, **BACKWARD, "A3": "E_total", "B3": "=ROUND(X1,12)"}))
    assert shown.all_right


def test_a_chart_table_beside_the_givens_does_not_crowd_the_backward_pass_out(tmp_path):
    """455 formulas of σ(x) for a chart next to the givens; the backward pass on a sheet of its own."""
    chart = {f"A{r}": (r - 230) / 20 for r in range(5, 460)} | {f"B{r}": sig(f"A{r}") for r in range(5, 460)}
    back = {k: "=" + re.sub(r"\b([A-Z]{1,2}1)\b", lambda m: m.group(1) if m.group(1) in BACKWARD else "Sheet1!"
                            + m.group(1), v[1:]) for k, v in BACKWARD.items()}
    report = graded(book(tmp_path / "plot.xlsx", {**MAZUR, **chart}, {"Back": back}))
    assert report.all_right and report.score == report.max_score == 23


def test_net_inputs_echoed_elsewhere_do_not_hide_the_activation(tmp_path):
    cells = {"A1": 0.05, "B1": 0.1, "C1": 0.2, "D1": 0.15, "E1": 0.2, "F1": 0.25, "G1": 0.3, "H1": 0.35, "I1": 0.4,
             "J1": 0.45, "K1": 0.5, "L1": 0.5, "M1": 0.7,
             "N1": "=D1*A1+E1*B1+F1*C1", "O1": "=G1*A1+H1*B1+I1*C1", "P1": sig("N1"), "Q1": sig("O1"),
             "R1": "=J1*P1+K1*Q1", "S1": sig("R1"), "T1": "=0.5*(M1-S1)^2",
             "U1": "=(S1-M1)*S1*(1-S1)", "V1": "=J1-L1*U1*P1", "W1": "=K1-L1*U1*Q1",
             "A4": "net h1", "B4": "=N1", "A5": "net h2", "B5": "=O1"}
    assert "formulas, 3-2-1 sigmoid, no biases" in note(graded(book(tmp_path / "echo.xlsx", cells)))


THREE_TWO_ONE = {  # a textbook's 3-2-1 sigmoid network, one update on one row
    "A1": 0.05, "B1": 0.1, "C1": 0.2, "D1": 0.15, "E1": 0.2, "F1": 0.25, "G1": 0.3, "H1": 0.35, "I1": 0.4,
    "J1": 0.45, "K1": 0.5, "L1": 0.5, "M1": 0.7,
    "N1": "=D1*A1+E1*B1+F1*C1", "O1": "=G1*A1+H1*B1+I1*C1", "P1": sig("N1"), "Q1": sig("O1"),
    "R1": "=J1*P1+K1*Q1", "S1": sig("R1"), "T1": "=0.5*(M1-S1)^2",
    "U1": "=(S1-M1)*S1*(1-S1)", "V1": "=J1-L1*U1*P1", "W1": "=K1-L1*U1*Q1",
    "X1": "=U1*J1*P1*(1-P1)", "Y1": "=U1*K1*Q1*(1-Q1)",
    "Z1": "=D1-L1*X1*A1", "AA1": "=E1-L1*X1*B1", "AB1": "=F1-L1*X1*C1",
    "AC1": "=G1-L1*Y1*A1", "AD1": "=H1-L1*Y1*B1", "AE1": "=I1-L1*Y1*C1",
}


SHOWN_AGAIN = {"N1": "net h1", "P1": "out h1", "R1": "net o1", "T1": "out o1", "V1": "E o1", "X1": "E total",
               "Y1": "delta o1", "AE1": "delta h1", "AA1": "new w5", "AG1": "new w1"}


@pytest.mark.parametrize("work, echo", [
    *[({**MAZUR, **BACKWARD}, {"B8": f"={cell}"}) for cell in SHOWN_AGAIN],  # below the work, unlabelled
    *[({**MAZUR, **BACKWARD}, {"A8": label, "B8": f"={cell}"}) for cell, label in SHOWN_AGAIN.items()],
    ({**MAZUR, **BACKWARD}, {"A8": "net h1", "B8": "=N1", "P1": sig("B8")}),  # the work goes on from the copy
    ({**MAZUR, **BACKWARD}, {"B8": "=N1", "B9": "=B8", "B10": "=B9"}),  # a chain of copies
    ({**MAZUR, **BACKWARD}, {"B8": "=N1", "A9": "net h1", "B9": "=B8"}),  # its last one labelled
    ({**MAZUR, **BACKWARD}, {"A8": "out h1", "B8": "=N1"}),  # labelled as the quantity computed from it
    ({**MAZUR, **BACKWARD}, {"A8": "net h1", "B8": "=P1"}),  # labelled as the quantity it is computed from
    (THREE_TWO_ONE, {"A4": "net h1", "B4": "=N1", "A5": "net h2", "B5": "=O1"}),
], ids=[*(f"{cell} unlabelled" for cell in SHOWN_AGAIN), *(f"{cell} labelled" for cell in SHOWN_AGAIN),
        "used by the work", "a chain", "a chain labelled", "mislabelled as out", "mislabelled as net",
        "3-2-1 labelled"])
def test_a_quantity_shown_again_is_neither_another_quantity_nor_hides_the_one_the_work_uses(tmp_path, work, echo):
    """`=N1` beside the work: not a wrong ∂out/∂net (it holds net_h1's value); labelled, it names the
    net input the work computes, so what uses N1 (or the copy) is still found."""
    plain = graded(book(tmp_path / "plain.xlsx", work))
    report = graded(book(tmp_path / "echo.xlsx", {**work, **echo}))
    assert plain.all_right and plain.score == plain.max_score > 15
    assert report.all_right and report.score == report.max_score == plain.score, [
        (i.name, i.cell, i.status) for i in report.items if i.status != "correct"]


def test_a_labelled_copy_the_work_goes_on_from_in_place_of_a_quantity_is_that_quantity_done_wrong(tmp_path):
    """`out h1: =N1` (σ forgotten) with the output layer computed from it: out_h1 is that cell,
    incorrect, and what uses it is carried forward."""
    work = {k: v for k, v in {**MAZUR, **BACKWARD}.items() if k != "P1"}
    work = {k: v.replace("P1", "B8") if isinstance(v, str) else v for k, v in work.items()}
    report = graded(book(tmp_path / "slip.xlsx", {**work, "A8": "out h1", "B8": "=N1"}))
    items = {i.name: i for i in report.items}
    assert (items["out_h1"].cell, items["out_h1"].status) == ("Sheet1!B8", "incorrect")
    assert items["net_o1"].status == items["out_o1"].status == "carried_forward"
    assert [i.name for i in report.items if i.status == "incorrect"] == ["out_h1"]


@pytest.mark.parametrize("copied", ["C17", "C10", "E17"])
def test_a_copy_of_a_cell_that_is_several_quantities_leaves_each_where_it_is(tmp_path, copied):
    """ADALINE, a sheet per update: without an activation ∂E/∂out, δ and the bias's gradient are one
    number, in the cell labelled ∂E/∂b (C17). A copy of it (or of another cell) shown beside the work
    moves none of them: the bias's gradient stays at C17, the next update's cells stay the next's."""
    from layouts import build
    from shapes import shape
    from sheetwork import Student, Style

    student = Student(shape("adaline"), Style())
    path = build(tmp_path / "adaline.xlsx", student, "sheets", 4).path
    wb = openpyxl.load_workbook(path)
    wb["iter 1"]["AD21"] = f"={copied}"
    wb.save(path)
    report = graded(path, student.spec)
    items = {i.name: i for i in report.items}
    assert report.all_right and report.score == report.max_score, [
        (i.name, i.cell, i.status) for i in report.items if i.status != "correct"]
    assert items["grad_b_o1"].cell == "'iter 1'!C17"


def _units(per_sample: bool, two: bool, bias_weight: float = 0.2) -> dict:
    """2-2-1 sigmoid with its biases as weights on constant-1 inputs, two samples: one 1 for every
    layer and sample, one per layer (x0 and h0), or one per sample (a column of ones)."""
    cells = {"I10": 0.1, "J10": 0.2, "K10": 0.3, "L10": -0.1, "M10": 0.4, "N10": 0.5, "O10": bias_weight,
             "P10": 0.6, "Q10": -0.7, "R10": 0.5, "A10": 1, "B10": 1}
    for r, (x1, x2, t) in zip((1, 2), ((0, 1, 1), (1, 1, 0))):
        x0 = f"A{r}" if per_sample else "$A$10"
        h0 = x0 if per_sample or not two else "$B$10"
        if per_sample:
            cells[f"A{r}"] = 1
        cells.update({f"B{r}": x1, f"C{r}": x2, f"D{r}": t,
                      f"E{r}": f"=I$10*{x0}+J$10*B{r}+K$10*C{r}", f"F{r}": f"=L$10*{x0}+M$10*B{r}+N$10*C{r}",
                      f"G{r}": sig(f"E{r}"), f"H{r}": sig(f"F{r}"),
                      f"I{r}": f"=O$10*{h0}+P$10*G{r}+Q$10*H{r}", f"J{r}": sig(f"I{r}"),
                      f"K{r}": f"=0.5*(D{r}-J{r})^2", f"L{r}": f"=(J{r}-D{r})*J{r}*(1-J{r})"})
    cells.update({"K3": "=SUM(K1:K2)", "P11": "=P10-R10*(L1*G1+L2*G2)", "Q11": "=Q10-R10*(L1*H1+L2*H2)",
                  "O11": "=O10-R10*(L1+L2)"})
    return cells


@pytest.mark.parametrize("per_sample, two", [(False, False), (False, True), (True, False)],
                         ids=["one constant 1", "one per layer", "one per sample"])
def test_biases_on_constant_1_inputs_are_read_and_located(tmp_path, per_sample, two):
    report = graded(book(tmp_path / "units.xlsx", _units(per_sample, two)))
    assert "formulas, 2-2-1 sigmoid, with biases" in note(report) and "2 samples" in note(report)
    items = {i.name: i for i in report.items}
    assert items["net_h1_s1"].cell == "Sheet1!E1" and items["net_h1_s1"].status == "correct"
    assert items["out_o1_s2"].cell == "Sheet1!J2" and items["b_o1"].cell == "Sheet1!O10"
    assert not [i for i in report.items if i.status == "incorrect"]


def test_a_bias_weight_of_1_on_a_constant_1_is_still_the_bias(tmp_path):
    cells = {"A1": 0.05, "B1": 0.1, "C1": 0.15, "D1": 0.2, "E1": 0.25, "F1": 0.3, "G1": 0.4, "H1": 0.45,
             "X5": 1, "Y5": 1.0, "K1": 0.5, "L1": 0.01,
             "N1": "=C1*A1+D1*B1", "O1": "=E1*A1+F1*B1", "P1": sig("N1"), "Q1": sig("O1"),
             "R1": "=G1*P1+H1*Q1+Y5*X5", "T1": sig("R1"), "V1": "=0.5*(L1-T1)^2",
             "Y1": "=(T1-L1)*T1*(1-T1)", "AA1": "=G1-K1*Y1*P1", "AB1": "=H1-K1*Y1*Q1", "AC1": "=Y5-K1*Y1*X5"}
    report = graded(book(tmp_path / "bias1.xlsx", cells))
    assert "formulas, 2-2-1 sigmoid, with biases" in note(report)
    items = {i.name: i for i in report.items}
    assert (items["net_o1"].cell, items["net_o1"].status) == ("Sheet1!R1", "correct")
    assert (items["new_b_o1"].cell, items["new_b_o1"].status) == ("Sheet1!AC1", "correct")
