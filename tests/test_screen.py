"""No engine ever evaluates a formula that reaches outside the workbook, however it is spelled.

A student's file that reads another file (another student's work, the instructor's key) through
INDIRECT, a link or a defined name must not get that file's content into any result: not with
a TAB, a no-break space, a line break or `@` before the function, not with `_xlfn.`/`_xlws.`,
not in lower case, not with a space before the bracket, not in a defined name, a conditional
format or a data validation, with any engine; `check` and `verify` say which cell and why.
"""

from __future__ import annotations

import json
import zipfile

import openpyxl
import pytest
import xlsxwriter

from sheetprop.engines import evaluate, screen
from sheetprop.engines.clean import prepare
from sheetprop.grading.grade import grade_file
from sheetprop.model.network import with_epochs
from sheetprop.model.spec import load_spec
from sheetprop.verifying.verify import verify_workbook
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice

SECRET = 987654321.0
ENGINES = ["ironcalc", "formulas", pytest.param("libreoffice", marks=[needs_libreoffice, pytest.mark.libreoffice])]

SPELLINGS = [
    '=\tINDIRECT("{target}")',
    '=\u00a0INDIRECT("{target}")',
    '=\rINDIRECT("{target}")',
    '=\nINDIRECT("{target}")',
    '=@INDIRECT("{target}")',
    '=_xlfn.INDIRECT("{target}")',
    '=_xlfn._xlws.INDIRECT("{target}")',
    '=indirect("{target}")',
    '=InDiReCt ("{target}")',
    '=1+ \t@indirect\u00a0("{target}")',
    '=OFFSET(INDIRECT("{target}"),0,0)',
    '=IF(TRUE,INDIRECT("{target}"))',
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A key in one folder and a student's workbook in another that reaches for it every way."""
    root = tmp_path_factory.mktemp("screen")
    (root / "keys").mkdir()
    (root / "class").mkdir()
    with xlsxwriter.Workbook(str(root / "keys" / "key.xlsx")) as book:
        book.add_worksheet("S").write_number("A1", SECRET)
    targets = ["'../keys/[key.xlsx]S'!A1", f"'{root}/keys/[key.xlsx]S'!A1"]
    path = root / "class" / "student.xlsx"
    cells = {}
    with xlsxwriter.Workbook(str(path)) as book:
        ws = book.add_worksheet("Sheet1")
        ws.write_number("B1", 2)
        row = 0
        for spelling in SPELLINGS:
            for target in targets:
                ref = f"A{row + 1}"
                cells[ref] = spelling.format(target=target)
                ws.write_formula(row, 0, cells[ref], None, 0)
                row += 1
        book.define_name("peek", f'=\tINDIRECT("{targets[0]}")')
        book.define_name("peek2", "=peek*1")
        ws.write_formula("C1", "=peek", None, 0)
        ws.write_formula("C2", "=peek2+1", None, 0)
        ws.write_formula("C3", "=B1*3", None, 0)  # an ordinary cell: computed as usual
        ws.write_formula("C4", f"='{root}/keys/[key.xlsx]S'!$A$1", None, 0)
        ws.conditional_format("B1", {"type": "formula", "criteria": f'=INDIRECT("{targets[0]}")>0',
                                     "format": book.add_format({"bold": True})})
        ws.data_validation("B2", {"validate": "list", "source": f'=INDIRECT("{targets[0]}")'})
    return root, path, cells


def test_the_unscreened_engine_would_read_the_key(hostile):
    """What the screen is there for: the formulas package opens the other workbook."""
    from sheetprop.engines import formulas_engine

    root, _, _ = hostile
    path = root / "class" / "plain.xlsx"
    with xlsxwriter.Workbook(str(path)) as book:
        book.add_worksheet("Sheet1").write_formula("A1", '=\tINDIRECT("\'../keys/[key.xlsx]S\'!A1")', None, 0)
    assert formulas_engine.evaluate(path) == {("Sheet1", "A1"): SECRET}
    assert evaluate(path, "formulas")[("Sheet1", "A1")] != SECRET


@pytest.mark.parametrize("engine", ENGINES)
def test_no_engine_reads_another_file(engine, hostile):
    _, path, cells = hostile
    results = evaluate(path, engine)
    assert SECRET not in results.values() and str(SECRET)[:9] not in json.dumps({str(k): str(v) for k, v in results.items()})
    for ref, formula in cells.items():
        assert ("Sheet1", ref) in results.held, (ref, formula)
        why = results.held[("Sheet1", ref)]
        assert "INDIRECT()" in why or "OFFSET()" in why or "another workbook or a file through INDIRECT" in why
    assert "peek" in results.held[("Sheet1", "C1")] and "peek2" in results.held[("Sheet1", "C2")]
    assert "another workbook" in results.held[("Sheet1", "C4")] or "file" in results.held[("Sheet1", "C4")]
    assert set(results.held_names) == {"peek", "peek2"}
    assert results[("Sheet1", "C3")] == 6.0


def test_the_engines_copy_holds_no_link_conditional_format_or_validation(hostile, tmp_path):
    _, path, _ = hostile
    screened = prepare(path, tmp_path)
    assert screened.path != path and screened.path.parent == tmp_path
    wb = openpyxl.load_workbook(screened.path)
    ws = wb["Sheet1"]
    assert not list(ws.conditional_formatting) and not ws.data_validations.dataValidation
    assert set(wb.defined_names) == set()
    with zipfile.ZipFile(screened.path) as zf:
        text = b"".join(zf.read(n) for n in zf.namelist()).decode("utf-8", "replace")
    assert "key.xlsx" not in text and "INDIRECT" not in text.upper()


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_is_held_by_the_rules(spelling):
    reason = screen.formula_problem(spelling.format(target="A1"), {})
    assert reason and ("INDIRECT()" in reason or "OFFSET()" in reason)
    assert not screen.quick_ok(spelling.format(target="A1"))


@pytest.mark.parametrize("formula", ["=w_1*i_1+w_2*i_2", "=1/(1+EXP(-net_h1))", "=B22-eta*X22",
                                     '=IF(A1>0,"INDIRECT(x)","no")', "=cellar+offsetting", "=Network!$D$7"])
def test_ordinary_formulas_pass_quickly_or_fully(formula):
    assert screen.formula_problem(formula, {}) is None


@pytest.mark.parametrize("formula, passes", [
    ("=Network!$D$7", True), ("Training!$21:$22", True), ("='My sheet'!A1:C3", True), ("=Sheet1!$A:$A", False),
    ("=Sheet1!1:100", False), ("=Sheet1!A1:Z9999", False), ("=[1]Sheet1!A1", False), ("='a:b'!A1", False),
    ("=Sheet1!A1:B2:C3", False), ("='x[1]y'!A1", False)])
def test_one_reference_passes_quickly_exactly_when_the_full_screen_passes_it(formula, passes):
    assert (screen.formula_problem(formula, {}) is None) == passes
    assert screen.quick_ok(formula) == passes


def test_a_held_name_spelled_like_a_sheet_holds_no_reference_to_that_sheet():
    names = {"training": '=INDIRECT("B1")', "r": "Training!$A$1:$B$2", "c": "=Training!$A$1",
             "_xlnm.print_titles": "Training!$21:$22", "uses": "=training*2"}
    assert set(screen.name_problems(names)) == {"training", "uses"}


def test_the_screen_reads_each_cell_of_a_shared_formula_as_its_first(tmp_path):
    """A column filled down with INDIRECT: every cell is held, without moving the formula to each."""
    from sheetprop.engines.openbook import load, sheet_cells

    path = tmp_path / "shared.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    rows = ['<row r="1"><c r="A1"><f t="shared" ref="A1:A3" si="0">INDIRECT("B"&amp;ROW())+C1</f><v>0</v></c></row>'] + [
        f'<row r="{r}"><c r="A{r}"><f t="shared" si="0"/><v>0</v></c></row>' for r in (2, 3)]
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    assert "<sheetData></sheetData>" in sheet
    parts["xl/worksheets/sheet1.xml"] = sheet.replace("<sheetData></sheetData>",
                                                      "<sheetData>" + "".join(rows) + "</sheetData>").encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    book = load(path, read_only=True)
    texts = [c["value"] for c in sheet_cells(book["Sheet1"], moved=False)]
    assert texts == ['=INDIRECT("B"&ROW())+C1'] * 3
    moved = [c["value"] for c in sheet_cells(load(path, read_only=True)["Sheet1"])]
    assert moved == [f'=INDIRECT("B"&ROW())+C{r}' for r in (1, 2, 3)]  # what a reader shows
    screened = prepare(path, tmp_path)
    assert set(screened.held) == {("Sheet1", "A1"), ("Sheet1", "A2"), ("Sheet1", "A3")}
    assert screened.cells == [("Sheet1", 1, 1), ("Sheet1", 2, 1), ("Sheet1", 3, 1)]


def test_sheetprops_own_names_need_no_tokenizer(tmp_path):
    """Every defined name sheetprop writes, print titles included, passes the quick test: screening
    them costs no import of openpyxl in the engine's process."""
    path = tmp_path / "book.xlsx"
    write_workbook(with_epochs(load_spec("mazur"), 3), path)
    wb = openpyxl.load_workbook(path)
    texts = [dn.attr_text for dn in wb.defined_names.values()]
    texts += [dn.attr_text for ws in wb.worksheets for dn in ws.defined_names.values()]
    texts += [f"{wb.worksheets[1].title}!{wb.worksheets[1].print_title_rows}"]
    assert len(texts) > 50 and all(screen.quick_ok(t) for t in texts), [t for t in texts if not screen.quick_ok(t)]


def test_held_names_cost_linear_time_and_memory():
    """12,000 names, each using the one before, the first reaching outside: each reason is short."""
    import tracemalloc

    names = {"b_0": '=INDIRECT("A1")', **{f"b_{i}": f"=b_{i - 1}+b_{i - 1}" for i in range(1, 12_000)}}
    tracemalloc.start()
    held = screen.name_problems(names)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(held) == 12_000 and peak < 100 * 2**20
    assert max(len(why) for why in held.values()) < 300 and "INDIRECT()" in held["b_11999"]


def test_check_says_which_cell_was_held_and_why(hostile):
    _, path, _ = hostile
    report = grade_file(path, load_spec("mazur"))
    assert report.error is None
    assert any("were not evaluated" in note and "INDIRECT" in note for note in report.notes)
    assert "987654321" not in json.dumps(report.to_json())


def test_verify_screens_the_same_way(tmp_path):
    path = tmp_path / "mazur.xlsx"
    write_workbook(with_epochs(load_spec("mazur"), 1), path)
    wb = openpyxl.load_workbook(path)
    sheet, ref = wb.defined_names["net_h1"].attr_text.split("!")
    wb[sheet][ref.replace("$", "")] = '=\tINDIRECT("\'[key.xlsx]S\'!A1")+0*w_1'
    doctored = tmp_path / "doctored.xlsx"
    wb.save(doctored)
    report = verify_workbook(doctored)
    net_h1 = next(m for m in report.mismatches if m.what == "net_h1")
    assert "not evaluated" in net_h1.got and "another workbook or a file through INDIRECT" in net_h1.got
