"""What the grader makes of cells filled by array formulas, of a reference cycle, and of a file
the default engine cannot load: with every engine, nothing stored is trusted, a cycle costs only
its own cells, and another engine grading the file is named, never blamed on the student."""

from __future__ import annotations

import openpyxl
import pytest
from openpyxl.worksheet.formula import ArrayFormula

from sheetprop.grading.grade import GradeOptions, grade_file
from sheetprop.model import graph as G
from sheetprop.model.spec import load_spec
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice
from students import Sheet, workbook
from test_grade import cell_of, solve
from test_students import spec_for

MAZUR = load_spec("mazur")
ENGINES = ["ironcalc", "formulas", pytest.param("libreoffice", marks=[needs_libreoffice, pytest.mark.libreoffice])]


@pytest.fixture(scope="module")
def array_filled(tmp_path_factory):
    """The Mazur exercise solved, net_h1:net_h2 one array formula `{=MMULT(W, i)+b_1}` over a block of
    the weights, and net_h2 holding a stale stored value (as Excel writes the cells of an array)."""
    folder = tmp_path_factory.mktemp("arrays")
    exercise = folder / "exercise.xlsx"
    write_workbook(MAZUR, exercise, exercise=set(G.SECTIONS))
    wb = openpyxl.load_workbook(solve(exercise, folder / "solved.xlsx", MAZUR))
    net_h1, net_h2 = cell_of(wb, "net_h1"), cell_of(wb, "net_h2")
    ws = net_h1.parent
    ws["H29"], ws["I29"], ws["H30"], ws["I30"], ws["J29"], ws["J30"] = "=w_1", "=w_2", "=w_3", "=w_4", "=i_1", "=i_2"
    ws[net_h1.coordinate] = ArrayFormula(f"{net_h1.coordinate}:{net_h2.coordinate}", "=MMULT(H29:I30,J29:J30)+b_1")
    ws[net_h2.coordinate] = 0.999  # stale: what the file stores is never the student's answer
    wb.save(folder / "array.xlsx")
    return folder / "array.xlsx"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cell_filled_by_an_array_formula_is_computed_not_typed(engine, array_filled):
    report = grade_file(array_filled, MAZUR, GradeOptions(engine=engine))
    items = {i.name: i for i in report.items}
    assert report.error is None and report.score == report.max_score, [i for i in report.items if i.points < i.max_points]
    assert items["net_h2"].status == "correct" and items["net_h2"].got == pytest.approx(0.3925, rel=1e-14)
    assert items["out_h2"].status == "correct"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cycle_costs_only_its_own_cells(engine, tmp_path):
    sheet = Sheet()

    def cycle(wb):  # net_h1 uses out_h1, which uses net_h1
        ws = wb["Sheet1"]
        net, out = sheet.cell("net_h1").split("!")[1], sheet.cell("out_h1").split("!")[1]
        ws[net] = ws[net].value.replace("=", f"={out}*0+", 1)

    path = workbook(tmp_path / "cycle.xlsx", sheet, extra=cycle)
    report = grade_file(path, spec_for(sheet), GradeOptions(engine=engine))
    items = {i.name: i for i in report.items}
    for name in ("net_h1", "out_h1"):
        assert items[name].status == "error" and "circular reference" in items[name].diagnosis
    others = [i for i in report.items if i.name not in ("net_h1", "out_h1")]
    assert others and all(i.status == "correct" for i in others), [(i.name, i.status) for i in others]
    assert "in place of the error in" in items["net_o1"].diagnosis and "out_h1" in items["net_o1"].diagnosis
    assert report.score == report.max_score - 2


def test_a_file_ironcalc_cannot_load_is_graded_by_another_engine_named(tmp_path, monkeypatch):
    from sheetprop.engines import ironcalc_engine

    path = workbook(tmp_path / "hw.xlsx", Sheet())

    def refuse(_path):
        raise ValueError("Not Implemented Error: a feature of tomorrow")

    monkeypatch.setattr(ironcalc_engine.ironcalc, "load_from_xlsx", refuse)
    monkeypatch.setattr("sheetprop.engines.is_available", lambda engine: engine != "libreoffice")
    report = grade_file(path, spec_for(Sheet()), GradeOptions())
    assert report.error is None and report.all_right
    assert "IronCalc cannot load this workbook (Not Implemented Error: a feature of tomorrow); it was evaluated " \
           "with the formulas engine instead" in report.notes
    assert not any("try engine" in note for note in report.notes)


@pytest.mark.parametrize("title", ["HW #1", "A|B", "Net!work", "it's mine"])
def test_a_sheet_named_with_a_hash_a_bar_a_bang_or_a_quote_is_graded_whole(title, array_filled, tmp_path):
    """Every defined name of the exercise refers to that sheet (`'HW #1'!$D$29`): a sheet, not a file."""
    wb = openpyxl.load_workbook(array_filled.parent / "solved.xlsx")
    wb["Network"].title = title
    quoted = "'" + title.replace("'", "''") + "'!"
    for name in wb.defined_names.values():
        name.attr_text = name.attr_text.replace("Network!", quoted)
    wb.save(tmp_path / "hw.xlsx")
    report = grade_file(tmp_path / "hw.xlsx", MAZUR, GradeOptions())
    assert report.error is None and report.score == report.max_score == 39 and not report.notes, report.notes
