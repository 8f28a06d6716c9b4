"""A typed number wrapped in a formula is `hardcoded` (issue 21, row 1); a learning-rate sweep is
graded rate by rate and the report says which rates it covers (issue 19, item 4)."""

from __future__ import annotations

import json

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.grading.grade import GradeOptions, grade_file
from sheetprop.model import graph as G
from sheetprop.model.network import with_epochs
from sheetprop.model.spec import load_spec, with_sweep
from sheetprop.writing.workbook import write_workbook

MAZUR = load_spec("mazur")


def _solved(folder, changes: dict[str, str]):
    exercise = folder / "exercise.xlsx"
    write_workbook(MAZUR, exercise, exercise={"forward", "loss", "backward", "gradients", "update"})
    wb = openpyxl.load_workbook(exercise)
    for name, text in {**{n: "=" + f for n, f in G.build(MAZUR).formulas().items()}, **changes}.items():
        sheet, ref = wb.defined_names[name].attr_text.split("!")
        wb[sheet][ref.replace("$", "")].value = text
    out = folder / "student.xlsx"
    wb.save(out)
    return out


@pytest.mark.parametrize("typed", ["=0.3775+0*w_1", "=IF(w_1>0,0.3775,0)", "=MAX(w_1*0,0.3775)"])
def test_a_typed_number_wrapped_in_a_formula_is_hardcoded(tmp_path, typed):
    report = grade_file(_solved(tmp_path, {"net_h1": typed}), MAZUR)
    item = next(i for i in report.items if i.name == "net_h1")
    assert item.status == "hardcoded" and item.points == 0
    assert "does not follow from its inputs" in item.diagnosis
    downstream = next(i for i in report.items if i.name == "out_h1")
    assert downstream.status == "correct"  # the value is right: what uses it is judged on its own formula


def test_a_formula_that_holds_a_constant_of_its_own_is_no_typed_number(tmp_path):
    """½ in the loss, 1 in σ, a learning rate typed into an update: numbers a formula holds for its own sake."""
    report = grade_file(_solved(tmp_path, {"E_o1": "=0.5*(target_o1-out_o1)^2", "new_w_5": "=w_5-0.5*grad_w_5"}),
                        MAZUR)
    assert {i.name: i.status for i in report.items}["E_o1"] == "correct"
    assert report.score == report.max_score


def _sweep_workbook(folder, rates):
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 3), rates)
    path = folder / "sweep.xlsx"
    write_workbook(spec, path)
    return path


def test_each_run_of_a_sweep_is_judged_with_its_own_rate(tmp_path):
    path = _sweep_workbook(tmp_path, (0.1, 0.5, 2.0))
    spec = with_sweep(load_spec("mazur-nobias"), (0.1, 0.5, 2.0, 0.8))
    report = grade_file(path, spec, GradeOptions())
    runs = {t["eta"]: t["status"] for t in report.training if t["status"] != "pasted"}
    assert runs == {0.1: "correct", 0.5: "correct", 2.0: "correct"}
    assert report.sweep == {"rates": [0.1, 0.5, 2.0, 0.8], "covered": [0.1, 0.5, 2.0], "missing": [0.8]}
    assert any("missing: 0.8" in n for n in report.notes)
    assert not [i for i in report.items if i.status != "correct" and i.section != "given"]


def test_check_takes_the_sweep_on_the_command_line(tmp_path):
    path = _sweep_workbook(tmp_path, (0.1, 0.5))
    done = CliRunner().invoke(main, ["check", str(path), "--spec", "mazur-nobias", "--eta", "0.1,0.5,1", "--json"])
    assert done.exit_code in (0, 1), done.output
    report = json.loads(done.output)[0]
    assert report["sweep"] == {"rates": [0.1, 0.5, 1.0], "covered": [0.1, 0.5], "missing": [1.0]}
    alone = CliRunner().invoke(main, ["check", str(path), "--eta", "0.1,0.5"])
    assert alone.exit_code == 2 and "pass --spec too" in alone.output
