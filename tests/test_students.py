"""The grader on workbooks built as real students build the assignment (tests/students.py).

Every layout family the real sheets show (a classic table, columns grouped, a table that
starts elsewhere, given values as constants or in a block of their own, a row of formula
texts under the header, local-gradient columns, a single update, a sheet per learning rate,
a pasted loss curve), every header vocabulary, and the mistakes real students make: each
quantity must be found at the cell the builder put it in, judged right, carried forward or
wrong with the mistake named, and every table checked update by update.
"""

from __future__ import annotations

import openpyxl
import pytest

from sheetprop.grading.grade import GradeOptions, grade_file
from sheetprop.grading.infer import with_given
from sheetprop.model.reference import solve
from sheetprop.model.spec import load_spec

from students import GIVEN, GROUPED, MISTAKE_TARGET, VOCABULARIES, Sheet, workbook

NOBIAS = load_spec("mazur-nobias")


def spec_for(sheet: Sheet):
    """The assignment's spec with this sheet's own given values and learning rate."""
    sol = solve(NOBIAS)
    return with_given(NOBIAS, sol, {**sheet.given, "eta": sheet.eta})


def grade(tmp_path, *sheets, spec="own", extra=None, name="student.xlsx"):
    path = workbook(tmp_path / name, *sheets, extra=extra)
    chosen = spec_for(sheets[0]) if spec == "own" else spec
    return grade_file(path, chosen, GradeOptions())


def statuses(report):
    return {i.name: i.status for i in report.items}


def assert_found_where_built(report, sheet):
    items = {i.name: i for i in report.items}
    for name, cell in sheet.places.items():
        if name in items:
            assert items[name].cell == cell, (name, items[name].cell, cell, items[name].found_by)
    assert report.error is None


FAMILIES = {
    "classic": Sheet(),
    "grouped columns": Sheet(columns=list(GROUPED)),
    "elsewhere": Sheet(top=37, left=3),
    "constants": Sheet(constants=True),
    "a block of givens": Sheet(block=True, copies=False),
    "formula texts under the header": Sheet(notes_row=True, copies=False),
    "retyped inputs": Sheet(copies=False),
    "local gradients": Sheet(local=True),
    "one update": Sheet(next_only=True, rows=2),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_layout_family_is_found_and_all_correct(tmp_path, family):
    sheet = FAMILIES[family]
    report = grade(tmp_path, sheet)
    assert_found_where_built(report, sheet)
    wrong = {n: s for n, s in statuses(report).items() if s != "correct"}
    assert not wrong, wrong
    assert report.score == report.max_score and report.max_score >= 27
    table = report.training[0]
    assert table["status"] == "correct" and table["first_wrong"] is None
    assert table["rows"] == sheet.rows and table["eta"] == sheet.eta
    if table["rows"] > 1:
        assert table["loss_last"] == pytest.approx(table["correct_last"], rel=1e-12)


@pytest.mark.parametrize("vocabulary", sorted(VOCABULARIES))
def test_every_vocabulary_is_read_and_labels_only_support_the_structure(tmp_path, vocabulary):
    sheet = Sheet(vocabulary=vocabulary)
    report = grade(tmp_path, sheet)
    assert_found_where_built(report, sheet)
    assert report.all_right
    # `h1` is the net input in this vocabulary: the structure says so, the label agrees
    net_h1 = next(i for i in report.items if i.name == "net_h1")
    assert net_h1.found_by.startswith("structure")


def test_a_students_own_given_values_are_graded_against_themselves(tmp_path):
    sheet = Sheet(given={**GIVEN, "i_1": 1.0, "i_2": 5.0}, eta=2.0)
    assert grade(tmp_path, sheet).all_right  # the spec carries the student's values
    report = grade(tmp_path, sheet, spec=NOBIAS)  # the class's values: the givens differ, the rest carries forward
    status = statuses(report)
    assert status["i_1"] == status["i_2"] == status["eta"] == "incorrect"
    assert status["net_h1"] == "carried_forward" and status["grad_w_1"] == "carried_forward"


@pytest.mark.parametrize("mistake", sorted(MISTAKE_TARGET))
def test_real_mistakes_are_named_where_they_sit_and_the_table_says_where_first(tmp_path, mistake):
    target = MISTAKE_TARGET[mistake]
    sheet = Sheet(mistakes={target: mistake})
    report = grade(tmp_path, sheet)
    assert_found_where_built(report, sheet)
    items = {i.name: i for i in report.items}
    assert items[target].status == "incorrect" and items[target].mistake == mistake, items[target].diagnosis
    new = f"new_{target[len('grad_'):]}"
    assert items[new].status == "carried_forward"  # its own update is right given the wrong gradient
    assert {s for n, s in statuses(report).items() if n not in (target, new)} == {"correct"}
    table = report.training[0]
    assert table["status"] == "incorrect"
    assert table["first_wrong"]["update"] == 0 and table["first_wrong"]["name"] == target
    assert table["first_wrong"]["cell"] == sheet.cell(target)


def test_an_update_with_another_weights_gradient_is_named(tmp_path):
    sheet = Sheet()
    path = workbook(tmp_path / "student.xlsx", sheet)
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet.title]
    for r in range(sheet.first + 1, sheet.first + sheet.rows):  # w4 updated with ∂E/∂w3, copied down
        ws[f"{sheet.col('w_4')}{r}"] = f"={sheet.col('w_4')}{r - 1}-$B${sheet.top - 2}*{sheet.col('grad_w_3')}{r - 1}"
    wb.save(path)
    report = grade_file(path, spec_for(sheet))
    new_w_4 = next(i for i in report.items if i.name == "new_w_4")
    assert new_w_4.status == "incorrect" and new_w_4.mistake == "wrong_gradient"
    assert report.training[0]["first_wrong"]["name"] == "new_w_4"


def test_a_formula_that_only_points_at_a_typed_number_is_hardcoded(tmp_path):
    def typed(wb):
        ws = wb["Sheet1"]
        ws["AZ1"] = 0.0275  # net_h1 worked out by hand
        ws["I6"] = "=AZ1"

    sheet = Sheet()
    report = grade(tmp_path, sheet, extra=typed)
    net_h1 = next(i for i in report.items if i.name == "net_h1")
    assert net_h1.cell == "Sheet1!I6" and net_h1.status == "hardcoded" and net_h1.points == 0


def test_without_a_spec_the_network_and_values_are_read_from_the_workbook(tmp_path):
    sheet = Sheet(given={**GIVEN, "i_1": 0.6, "i_2": 0.25}, eta=0.1, vocabulary="upper")
    path = workbook(tmp_path / "student.xlsx", sheet)
    report = grade_file(path, None)
    assert report.all_right and report.score == report.max_score
    assert any("no spec given" in note and "i_1 = 0.6" in note and "eta = 0.1" in note for note in report.notes)
    assert report.training[0]["eta"] == 0.1 and report.training[0]["status"] == "correct"


def test_one_sheet_per_learning_rate_each_graded_with_its_own(tmp_path):
    sheets = [Sheet(title=f"η = {eta:g}", eta=eta) for eta in (0.1, 0.5, 2.0)]
    sheets[2] = Sheet(title="η = 2", eta=2.0, mistakes={"grad_w_3": "wrong_neuron_derivative"})
    spec = with_given(NOBIAS, solve(NOBIAS), {"eta": 0.5})
    report = grade(tmp_path, *sheets, spec=spec)
    assert [(t["sheet"], t["eta"], t["status"]) for t in report.training] == [
        ("η = 0.1", 0.1, "correct"), ("η = 0.5", 0.5, "correct"), ("η = 2", 2.0, "incorrect")]
    assert all(i.cell.startswith("'η = 0.5'!") for i in report.items)  # the main table: the spec's η
    assert report.score == report.max_score  # its items make the score
    assert not report.all_right  # but the η = 2 sheet has a wrong row: the file is not all right (exit 1)


def test_a_pasted_loss_curve_is_reported_not_graded(tmp_path):
    def pasted(wb):
        ws = wb.create_sheet("lr_charts")
        ws["B1"] = "Total Error"
        for col, eta in enumerate((0.1, 0.2, 0.5), start=2):
            ws.cell(2, col, eta)
            for k in range(10):
                ws.cell(3 + k, col, 0.2425 * (1 - eta * k / 20))
        for col in range(2, 5):
            ws.cell(3, col, 0.2425)

    report = grade(tmp_path, Sheet(), extra=pasted)
    assert report.training[-1]["sheet"] == "lr_charts" and report.training[-1]["status"] == "pasted"
    assert report.training[-1]["rows"] == 10 and report.all_right


@pytest.mark.slow
def test_formatting_that_runs_far_is_no_reason_to_refuse(tmp_path):
    """Whole columns formatted down to row 200,000 hold no content: only cells with content count."""
    from openpyxl.styles import Font

    def formatted(wb):
        ws = wb["Sheet1"]
        bold = Font(bold=True)
        for r in range(1, 200_001):
            ws.cell(r, 60).font = bold

    report = grade(tmp_path, Sheet(), extra=formatted)
    assert report.error is None and report.all_right


def test_a_broken_cell_is_an_error_and_what_depends_on_it_is_judged_on_its_own(tmp_path):
    def circular(wb):
        ws = wb["Sheet1"]
        ws["I6"] = "=I6*0+E6*C6+F6*D6"  # net_h1 refers to itself

    report = grade(tmp_path, Sheet(), extra=circular)
    items = {i.name: i for i in report.items}
    assert items["net_h1"].status == "error" and "circular" in items["net_h1"].diagnosis
    assert items["out_h1"].status == "correct" and "in place of the error in net_h1" in items["out_h1"].diagnosis
    assert items["grad_w_1"].status == "correct"


def test_a_table_none_of_whose_columns_is_matched_gets_no_verdict(tmp_path):
    """Nothing computed found in it: neither right nor wrong (a vacuous "correct" would be a lie)."""
    from sheetprop.engines import evaluate
    from sheetprop.grading.dependencies import Dependencies
    from sheetprop.grading.readbook import read_book
    from sheetprop.grading.runs import check_table
    from sheetprop.grading.tables import find_tables

    sheet = Sheet()
    path = workbook(tmp_path / "student.xlsx", sheet)
    book = read_book(path)
    table, = find_tables(book, Dependencies(book))
    values = evaluate(path)
    sol = solve(spec_for(sheet))
    eta = table.eta_cell(0)
    check = check_table(table, book, values, sol, {"eta": eta}, lambda a, b: abs(a - b) <= 1e-9 * abs(b))
    assert check.status == "unmatched" and check.first_wrong is None
    full = grade(tmp_path, sheet)
    assert [t["status"] for t in full.training] == ["correct"]
