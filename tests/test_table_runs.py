"""Training tables judged row by row for every kind of run: online and mini-batch runs move
to the next sample at each update; a table whose first update is partly worked elsewhere;
the same maximum for the solution and a filled exercise."""

from __future__ import annotations

import json

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.formula.tokenizer import Token, Tokenizer

from sheetprop import grade_file, load_spec
from sheetprop.cli import main
from sheetprop.model.spec import validate
from sheetprop.writing.exercise import parse_blank
from sheetprop.writing.workbook import write_workbook

XOR = {"name": "xor", "layers": [2, 2, 1], "activation": "sigmoid", "loss": "half_sse", "learning_rate": 0.5,
       "init": {"method": "xavier", "seed": 1}, "epochs": 2,
       "data": [{"inputs": [0, 0], "targets": [0]}, {"inputs": [0, 1], "targets": [1]},
                {"inputs": [1, 0], "targets": [1]}, {"inputs": [1, 1], "targets": [0]}]}


def table_of(report) -> dict:
    (table,) = report.training
    return table


@pytest.mark.parametrize("batch", ["online", 1, 2, 3, "full"])  # 3 of 4 samples: a last batch of one
def test_every_run_of_sheetprops_own_training_sheet_is_correct(tmp_path, batch):
    spec = validate({**XOR, "batch": batch})
    book = tmp_path / "run.xlsx"
    write_workbook(spec, book)
    report = grade_file(book, spec)
    table = table_of(report)
    assert table["status"] == "correct", table["first_wrong"]
    assert table["rows"] == spec.n_updates + 1
    assert report.all_right
    assert table["loss"][-1][1] == pytest.approx(table["correct_loss"][-1], rel=1e-12)


def test_a_wrong_formula_in_an_online_run_is_found_where_it_first_appears(tmp_path):
    spec = validate({**XOR, "batch": "online"})
    book, bad = tmp_path / "run.xlsx", tmp_path / "slip.xlsx"
    write_workbook(spec, book)
    wb = openpyxl.load_workbook(book)
    ws = wb["Training"]
    header = [c.value for c in ws[22]]
    col = header.index("net_h1") + 1
    cell = ws.cell(26, col)  # update 3: the fourth sample
    assert cell.value.startswith("=B26*")
    cell.value = cell.value.replace("=B26*", "=C26*", 1)  # w2 where w1 belongs
    wb.save(bad)
    table = table_of(grade_file(bad, spec))
    assert table["status"] == "incorrect"
    assert table["first_wrong"]["update"] == 3
    assert table["first_wrong"]["name"] == "net_h1"
    assert table["first_wrong"]["cell"] == cell.coordinate.join(["Training!", ""])

    spec_file = tmp_path / "xor.json"
    spec_file.write_text(json.dumps(spec.to_dict()), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(bad), str(book), "--spec", str(spec_file)])
    assert result.exit_code == 1, result.output  # a wrong row is a wrong answer
    assert "1 training table with a wrong row" in result.output
    assert "net_h1: incorrect in Training at update 3 (Training!" in result.output


def without_names(src, dst) -> None:
    """The workbook as a student who types references would write it: every defined name replaced
    by the cell it refers to, and the names deleted."""
    wb = openpyxl.load_workbook(src)
    refs = {name.lower(): dn.attr_text for name, dn in wb.defined_names.items()}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    tokens = Tokenizer(cell.value).items
                    for t in tokens:
                        if t.type == Token.OPERAND and t.subtype == Token.RANGE and t.value.lower() in refs:
                            t.value = refs[t.value.lower()]
                    cell.value = "=" + "".join(t.value for t in tokens)
    for name in list(wb.defined_names):
        del wb.defined_names[name]
    wb.save(dst)


def test_references_instead_of_names_and_the_worked_step_split_between_sheets(tmp_path):
    spec = load_spec("mazur")
    book, plain = tmp_path / "m.xlsx", tmp_path / "plain.xlsx"
    write_workbook(spec, book)
    without_names(book, plain)
    wb = openpyxl.load_workbook(plain)
    assert not list(wb.defined_names) and "Network!$D$" in wb["Training"]["K24"].value
    report = grade_file(plain, spec)
    assert report.score == report.max_score
    table = table_of(report)
    assert table["status"] == "correct", table["first_wrong"]
    assert report.all_right


def test_the_solution_and_a_filled_exercise_have_the_same_maximum(tmp_path):
    """∂net/∂out of a hidden neuron is a weight: a Training sheet's copies of the weights are not it."""
    spec = load_spec("mazur")
    solution, exercise, filled = tmp_path / "m.xlsx", tmp_path / "ex.xlsx", tmp_path / "filled.xlsx"
    write_workbook(spec, solution)
    write_workbook(spec, exercise, exercise=parse_blank("all"))
    sol_book = openpyxl.load_workbook(solution)
    wb = openpyxl.load_workbook(exercise)
    ws, src = wb["Network"], sol_book["Network"]
    filled_in = 0
    for row in ws.iter_rows():
        for cell in row:
            answer = src[cell.coordinate].value
            if cell.value is None and isinstance(answer, str) and answer.startswith("="):
                cell.value = answer
                filled_in += 1
    wb.save(filled)
    assert filled_in > 30
    graded = grade_file(solution, spec), grade_file(filled, spec)
    assert [r.score for r in graded] == [r.max_score for r in graded]
    assert graded[0].max_score == graded[1].max_score
    assert not [i.cell for i in graded[0].items if i.name.startswith("dnet_")]
