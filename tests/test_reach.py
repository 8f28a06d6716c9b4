"""Each engine computes what real workbooks hold, within bounds, and reads nothing outside them.

IronCalc runs in the process and reads no file: it is given INDIRECT, OFFSET, whole columns,
array formulas and spills, each reference bounded as it is built (a reference over the cell
bound is an error of its own cell, with its reason). What IronCalc cannot load (a sheet named
`Net!work`, cells without `r`, a data table) is normalised; what it still cannot load goes to
another engine, named. Every workbook here is built by the test (openpyxl, or raw XML in a zip).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.formula import ArrayFormula

from sheetprop.engines import CellError, evaluate, guard, screen
from sheetprop.engines.base import soffice
from sheetprop.isolate import run
from sheetprop.limits import MAX_RANGE_CELLS

LIBREOFFICE = [pytest.mark.libreoffice,
               pytest.mark.skipif(soffice() is None, reason="LibreOffice (soffice) is not installed: "
                                                            "apt-get install libreoffice-calc-nogui")]
ALL = ["ironcalc", "formulas", pytest.param("libreoffice", marks=LIBREOFFICE)]
SECRET = 987654321.0


def patch(path: Path, part: str, edit) -> Path:
    """Rewrite one part of the zip at `path` in place with `edit(text) -> text`."""
    with zipfile.ZipFile(path) as zf:
        parts = {info.filename: zf.read(info) for info in zf.infolist()}
    parts[part] = edit(parts[part].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


# ---------------------------------------------------------------- what IronCalc is now given


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """INDIRECT, OFFSET, whole columns and rows, array formulas as real workbooks write them."""
    path = tmp_path_factory.mktemp("reach") / "real.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    for r in range(1, 41):
        ws.cell(r, 1, r)  # A1:A40 = 1..40
        ws.cell(r, 2, r * r)  # B1:B40 = squares
    ws["D1"] = '=SUM(INDIRECT(ADDRESS(2,1)):INDIRECT(ADDRESS(11,1)))'  # 2..11
    ws["D2"] = "=SUM(OFFSET($A$1,COLUMNS($A$1:B1),0,5,1))"  # A3:A7
    ws["D3"] = "=SUM(A:A)"
    ws["D4"] = "=VLOOKUP(7,A:B,2,FALSE)"
    ws["D5"] = "=COUNTIF(40:40,\">0\")"  # a whole row: A40 and B40
    ws["D6"] = ArrayFormula("D6", "=INDEX(B:B,14+INT((ROW()-6)/8)*8)")  # the XOR workbook's forward cells
    ws["D7"] = ArrayFormula("D7", "=SUM((A1:A10-1)^2)")
    ws["F1"] = ArrayFormula("F1:F3", "=A1:A3*10")  # a multi-cell array
    ws["F2"], ws["F3"] = 999, 999  # what Excel stores in the other cells: never trusted
    ws["D8"] = "=ROWS(A:A)+COUNTBLANK(C1:C3)"
    ws["D9"] = "=SUMPRODUCT(A:A,B:B)"
    wb.save(path)
    return path


def test_ironcalc_evaluates_indirect_offset_whole_columns_and_arrays(real):
    got = evaluate(real)
    assert not got.held, got.held
    assert got[("Data", "D1")] == sum(range(2, 12))
    assert got[("Data", "D2")] == sum(range(3, 8))
    assert got[("Data", "D3")] == sum(range(1, 41))
    assert got[("Data", "D4")] == 49
    assert got[("Data", "D5")] == 2
    assert got[("Data", "D6")] == 14 * 14
    assert got[("Data", "D7")] == sum((a - 1) ** 2 for a in range(1, 11))
    assert [got[("Data", f"F{r}")] for r in (1, 2, 3)] == [10, 20, 30]
    assert got.arrays == {("Data", "F2"): ("Data", "F1"), ("Data", "F3"): ("Data", "F1")}
    assert got[("Data", "D8")] == 1_048_576 + 3  # where the empty rest counts, it is counted
    assert got[("Data", "D9")] == sum(a ** 3 for a in range(1, 41))


@pytest.mark.parametrize("engine", ["formulas", pytest.param("libreoffice", marks=LIBREOFFICE)])
def test_the_other_engines_screen_strictly_and_read_array_cells(engine, real):
    got = evaluate(real, engine)
    for ref in ("D1", "D2"):
        assert got[("Data", ref)] == CellError("#N/A") and "builds a reference" in got.held[("Data", ref)]
    assert "1,048,576 cells" in got.held[("Data", "D3")]
    assert [got[("Data", f"F{r}")] for r in (1, 2, 3)] == [10, 20, 30]


@pytest.fixture(scope="module")
def vast(tmp_path_factory):
    """References that would cover the whole sheet, however built, beside ordinary cells."""
    path = tmp_path_factory.mktemp("reach") / "vast.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws["A1"], ws["A2"] = 2, 3
    ws["B1"] = "=COUNT(near:far)"  # two names: the bound holds for a range between them
    ws["B2"] = '=COUNT(INDIRECT("A1:XFD"&ROWS(A:A)))'  # a reference built from text
    ws["B3"] = "=COUNT(OFFSET(A1,0,0,1048576,16384))"
    ws["B4"] = "=MAX(A1:XFD1048576)"
    ws["B5"] = "=COUNT(INDIRECT(spot):INDIRECT(\"XFD1048576\"))"
    ws["B6"] = "=A1*A2"  # ordinary: computed
    ws["B7"] = "=B6+COUNT(A1:near)"  # a range from a cell to a name: measured
    wb.defined_names["near"] = DefinedName("near", attr_text="S!$A$1")
    wb.defined_names["far"] = DefinedName("far", attr_text="S!$XFD$1048576")
    wb.defined_names["spot"] = DefinedName("spot", attr_text='"A1"')
    wb.save(path)
    return path


def test_no_reference_escapes_the_cell_bound_however_it_is_built(vast):
    """IronCalc would need gigabytes for each (COUNT over A1:XFD1048576 asks for 3 GB); within a
    512 MiB child each is an error with its reason and the rest is computed."""
    got = run(evaluate, vast, timeout=60, max_memory=512 * 2**20, what="ironcalc")
    assert got[("S", "B6")] == 6 and got[("S", "B7")] == 7
    assert "near:far" in got.held[("S", "B1")] and "17,179,869,184 cells" in got.held[("S", "B1")]
    for ref in ("B2", "B3", "B5"):
        assert got[("S", ref)] == CellError("#N/A") and got.held[("S", ref)] == guard.TRIPPED_REASON
    assert "A1:XFD1048576" in got.held[("S", "B4")]
    assert set(got.held) == {("S", r) for r in ("B1", "B2", "B3", "B4", "B5")}


@pytest.mark.parametrize("formula, held", [
    ("=SUM(A:A)", False), ("=SUM(A:Z)", False), ("=COUNTBLANK(A:A)", True), ("=ROWS(A1:XFD1048576)", False),
    ("=SUM(near:far)", True), ("=SUM(near:mid)", False), ('=INDIRECT("A1")', False), ("=OFFSET(A1,1,1)", False),
    ("='HW #1'!A1*2", False), ("='A|B'!A1+'Net!work'!B2", False), ("='it''s'!A1", False),
    ("='WEBSERVICE (x)'!A1", False), ("=cmd|' /c calc'!A0", True), ("='[other.xlsx]S'!A1", True),
    ('=INDIRECT("\'[other.xlsx]S\'!A1")', True), ("='file:///tmp/x.ods'#$Sheet1.A1", True),
])
def test_ironcalcs_reach(formula, held):
    names = {"near": "S!$A$1", "far": "S!$XFD$1048576", "mid": "S!$B$20"}
    reach = screen.reach_of("ironcalc", (200, 30))
    assert (screen.formula_problem(formula, {}, reach, names) is not None) == held


@pytest.mark.parametrize("formula", ["='HW #1'!A1*2", "='A|B'!A1+'Net!work'!B2", "='it''s'!A1", "='my sheet'!A1:B2"])
def test_sheet_names_are_sheets_for_every_engine(formula):
    assert screen.formula_problem(formula, {}) is None


@pytest.mark.parametrize("formula, bounded", [
    ("=INDEX(H:H,14+INT((ROW()-14)/8)*8)", "=INDEX($H$1:$H$200,14+INT((ROW()-14)/8)*8)"),
    ("=SUM('HW #1'!A:A)+COUNTIF(B:B,1)+ROWS(C:C)", "=SUM('HW #1'!$A$1:$A$200)+COUNTIF(B:B,1)+ROWS(C:C)"),
    ("=SUM(1:3)", "=SUM($A$1:$AD$3)"),
    ('=SUM(INDIRECT("A1:A3"))', f'=SUM(LET(_sp0,INDIRECT("A1:A3"),IF(ROWS(_sp0)*COLUMNS(_sp0)>{MAX_RANGE_CELLS},'
                                f'NA(),_sp0)))'),
    ('=ROW(INDIRECT("A4"))', None), ("=A1+B2", None), ("=SUM(A1:B9)", None),
])
def test_the_guard_clips_whole_columns_and_measures_built_references(formula, bounded):
    got = guard.bound(formula, (200, 30))
    assert (got and got.formula) == bounded


def test_a_probe_measures_the_references_again_pinned_to_the_cell():
    got = guard.bound('=COUNT(OFFSET(B2,ROW(),0,C3,1))', (200, 30), ("HW #1", 5, 7))
    assert got is not None and got.probe == (
        f"=OR(IFERROR(ROWS(OFFSET('HW #1'!$B$2,5,0,'HW #1'!$C$3,1))*COLUMNS(OFFSET('HW #1'!$B$2,5,0,'HW #1'!$C$3,1))"
        f">{MAX_RANGE_CELLS},FALSE))")


# ---------------------------------------------------------------- what IronCalc cannot load


@pytest.mark.parametrize("engine", ["ironcalc", pytest.param("libreoffice", marks=LIBREOFFICE)])
def test_sheet_names_and_cells_without_r_are_read(engine, tmp_path):
    """(The formulas package itself reads no sheet named with a quote: it gives #REF! there.)"""
    path = tmp_path / "odd.xlsx"
    wb = openpyxl.Workbook()
    names = ["Net!work", "HW #1", "A|B", "it's", "my sheet"]
    for k, name in enumerate(names):
        ws = wb.active if k == 0 else wb.create_sheet()
        ws.title = name
        ws["A1"] = k + 1
        ws["B1"] = "=A1*10"
    quoted = ["'" + n.replace("'", "''") + "'" for n in names]
    wb.active["C1"] = "=" + "+".join(f"{q}!A1" for q in quoted)
    wb.save(path)
    patch(path, "xl/worksheets/sheet2.xml", lambda x: re.sub(r' r="[A-Z]+\d+"', "", re.sub(r'<row r="\d+"', "<row", x)))
    got = evaluate(path, engine)
    assert {k: got[k] for k in got if k[1] == "B1"} == {(n, "B1"): 10.0 * (k + 1) for k, n in enumerate(names)}
    assert got[("Net!work", "C1")] == 15 and not got.held and not got.notes and got.engine == engine


def test_a_data_table_costs_only_its_own_cells(tmp_path):
    path = tmp_path / "notes.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Network"
    ws["A1"], ws["B1"] = 0.5, "=A1*2"
    what_if = wb.create_sheet("What if")
    what_if["A2"], what_if["A3"], what_if["B1"] = 0.1, 0.2, "=Network!B1"
    what_if["B2"], what_if["B3"] = 7, 7  # a data table's results, as Excel stores them
    wb.save(path)
    patch(path, "xl/worksheets/sheet2.xml", lambda x: x.replace(
        '<c r="B2" t="n"><v>7</v></c>', '<c r="B2"><f t="dataTable" ref="B2:B3" dt2D="0" dtr="0" r1="A1"/><v>7</v></c>'))
    got = evaluate(path)
    assert got[("Network", "B1")] == 1.0 and got[("What if", "B1")] == 1.0
    assert got[("What if", "B2")] == CellError("#N/A") and "data table" in got.held[("What if", "B2")]
    assert got.engine == "ironcalc" and not got.notes


def test_what_ironcalc_cannot_load_is_evaluated_by_another_engine_named(tmp_path, monkeypatch):
    from sheetprop.engines import ironcalc_engine

    path = tmp_path / "fine.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"], wb.active["B1"] = 2, "=A1*21"
    wb.save(path)

    def refuse(_path):
        raise ValueError("Not Implemented Error: something new")

    monkeypatch.setattr(ironcalc_engine.ironcalc, "load_from_xlsx", refuse)
    monkeypatch.setattr("sheetprop.engines.is_available", lambda engine: engine != "libreoffice")
    got = evaluate(path)
    assert got[("Sheet", "B1")] == 42 and got.engine == "formulas"
    assert got.notes == ["IronCalc cannot load this workbook (Not Implemented Error: something new); "
                         "it was evaluated with the formulas engine instead"]


def test_the_formulas_engine_takes_a_name_on_column_xfd(tmp_path):
    path = tmp_path / "xfd.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"], ws["B1"], ws["B2"] = 2, "=A1*3", "=edge+1"
    wb.defined_names["unused"] = DefinedName("unused", attr_text="Sheet!$XFD$1048576")
    wb.defined_names["edge"] = DefinedName("edge", attr_text="Sheet!$XFD$1")
    wb.save(path)
    got = evaluate(path, "formulas")
    assert got[("Sheet", "B1")] == 6 and got[("Sheet", "B2")] == CellError("#N/A")
    assert "edge" in got.held[("Sheet", "B2")] and "--engine ironcalc" in got.held[("Sheet", "B2")]
    assert evaluate(path)[("Sheet", "B2")] == 1.0


# ---------------------------------------------------------------- nothing outside is read


@pytest.fixture(scope="module")
def reaching(tmp_path_factory):
    """A key workbook holding SECRET, and a workbook reaching for it every way a formula can."""
    root = tmp_path_factory.mktemp("outside")
    (root / "keys").mkdir()
    key = root / "keys" / "key.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "S"
    wb.active["A1"] = SECRET
    wb.save(key)
    path = root / "student.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws["B1"] = 2
    cells = {
        "A1": "=INDIRECT(\"'[key.xlsx]S'!A1\")",
        "A2": "=INDIRECT(\"'\"&\"keys/[key.xlsx]S'!A1\")",  # built from pieces: no literal to see
        "A3": f"=INDIRECT(\"'{key.parent}/[key.xlsx]S'!A1\")",
        "A4": f"='{key.parent}/[key.xlsx]S'!$A$1",  # a path in a link
        "A5": "=peek",  # a path in a name
        "A6": "=INDIRECT(\"'\"&\"" + key.as_uri() + "'#$S.A1\")",  # LibreOffice's form, built
        "A7": "=B1*3",
    }
    for ref, text in cells.items():
        ws[ref] = text
    wb.defined_names["peek"] = DefinedName("peek", attr_text=f"'{key.parent}/[key.xlsx]S'!$A$1")
    wb.save(path)
    patch(path, "xl/worksheets/sheet1.xml", lambda x: x.replace(
        '<c r="A7">', f"<c r=\"A8\"><f>'{key.as_uri()}'#$S.A1</f><v>0</v></c><c r=\"A7\">"))
    return path


@pytest.mark.parametrize("engine", ALL)
def test_no_engine_reads_a_file_through_indirect_a_link_or_a_name(engine, reaching):
    got = evaluate(reaching, engine)
    shown = json.dumps({str(k): str(v) for k, v in got.items()})
    assert SECRET not in got.values() and "987654321" not in shown
    assert got[("S", "A7")] == 6
    for ref in ("A1", "A2", "A3", "A4", "A5", "A6"):
        assert isinstance(got[("S", ref)], CellError), (ref, got[("S", ref)])
    assert not isinstance(got.get(("S", "A8")), float)  # IronCalc takes LibreOffice's form for no formula at all


def test_names_written_into_the_formulas_mean_what_they_meant(tmp_path):
    """IronCalc loads a copy whose formulas use the cells their names stand for: a sheet's own name
    before the workbook's, a name in a text or beside `:` left as it is."""
    from sheetprop.engines.package import inline_names

    path = tmp_path / "names.xlsx"
    wb = openpyxl.Workbook()
    one, two = wb.active, wb.create_sheet("Two")
    one.title = "One"
    one["A1"], two["A1"], one["A2"] = 1, 2, 5
    one["B1"] = '=rate*10+LEN("rate")+SUM(rate:last_one)'
    two["B1"] = "=rate*10+1"
    wb.defined_names["rate"] = DefinedName("rate", attr_text="One!$A$1")
    wb.defined_names["last_one"] = DefinedName("last_one", attr_text="One!$A$2")
    two.defined_names["rate"] = DefinedName("rate", attr_text="Two!$A$1", localSheetId=1)
    wb.save(path)
    copy = inline_names(path, tmp_path)
    assert copy is not None
    with zipfile.ZipFile(copy) as zf:
        sheets = [zf.read(f"xl/worksheets/sheet{k}.xml").decode() for k in (1, 2)]
    assert 'One!$A$1*10+LEN("rate")+SUM(rate:last_one)' in sheets[0].replace("&quot;", '"')
    assert "Two!$A$1*10+1" in sheets[1]
    got = evaluate(path)
    assert got[("One", "B1")] == 10 + 4 + 6 and got[("Two", "B1")] == 20 + 1
