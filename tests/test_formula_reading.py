"""How the grader reads a formula: tokens once per shape, dynamic references followed to the cells
they fetch, a formula as a sum of products of cells, shared sources, and a typed number wrapped
in a formula told from a formula (issue 19's reading, issue 21's row 1)."""

from __future__ import annotations

import itertools
import random

import openpyxl
import pytest
from openpyxl.formula.tokenizer import Tokenizer

from sheetprop.cells import Ref
from sheetprop.engines import evaluate
from sheetprop.grading import dynamic
from sheetprop.grading.dependencies import Dependencies, Sources
from sheetprop.grading.readbook import read_book
from sheetprop.grading.terms import OPAQUE, expand
from sheetprop.engines.tokens import tokenize

FORMULAS = [
    "=A1", "=-A1", "=$A$1*B$2+$C3", "=SUM(A1:A3)*3%", "='My sheet'!B7-Sheet2!$C$9", '=IF(A1>=0,"A1",B2)',
    "=LOG10(A1)+EXP(-B2)", "=1E5*A1", "=A1:B2 C1", "={1,2;3,4}", "=INDEX(B:B,14+INT((ROW()-14)/8)*8)*J15",
    "=net_h1*w_5+XFD1048576", "=(C5*C3+C6*C4)+C13", "=@SUM(A1)", "=\tA1+B1", '="x"&A1&"B2"',
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_tokens_once_per_shape_are_openpyxls_own(formula):
    shifted = formula.replace("1", "7").replace("2", "9")  # another cell's copy of the same shape
    for text in (formula, shifted):
        assert [(t.value, t.type, t.subtype) for t in tokenize(text)] == \
               [(t.value, t.type, t.subtype) for t in Tokenizer(text).items]


def test_tokens_of_random_formulas_match_openpyxl():
    rng = random.Random(7)
    parts = ["A1", "$B$2", "C$3", "w_1", "SUM(", "EXP(", "(", ")", "+", "-", "*", "/", "^", "0.5", "2", ",", '"A9"']
    for _ in range(300):
        text = "=" + "".join(rng.choice(parts) for _ in range(rng.randint(1, 12)))
        try:
            want = [(t.value, t.type, t.subtype) for t in Tokenizer(text).items]
        except Exception:  # noqa: BLE001 - the same refusal either way
            with pytest.raises(Exception):
                tokenize(text)
            continue
        assert [(t.value, t.type, t.subtype) for t in tokenize(text)] == want, text


def _area(text: str, at: Ref):
    found = dynamic._area_text(text, at)
    return found.cells() if found else None


def _terms(formula: str, at: Ref = Ref("S", 0, 0)):
    return {(t.coef, tuple("?" if c == OPAQUE else str(c) for c in t.cells))
            for t in expand(Tokenizer(formula).items, at, area=_area) or []}


def test_a_formula_as_a_sum_of_products():
    assert _terms("=(C5*C3+C6*C4)+C13") == {(1.0, ("S!C3", "S!C5")), (1.0, ("S!C4", "S!C6")), (1.0, ("S!C13",))}
    assert _terms("=2*(Q14-C4)") == {(2.0, ("S!Q14",)), (-2.0, ("S!C4",))}
    assert _terms("=-(C4-Q14)") == {(-1.0, ("S!C4",)), (1.0, ("S!Q14",))}
    assert _terms("=0.3775+0*A1") == {(0.3775, ())}  # a typed number wrapped in a formula: no cell left
    assert _terms("=SUMPRODUCT(A1:B1,A2:B2)") == {(1.0, ("S!A1", "S!A2")), (1.0, ("S!B1", "S!B2"))}
    assert _terms("=1/(1+EXP(-A1))") == {(1.0, ("?",))}


def test_excel_negation_binds_tighter_than_a_power():
    (term,) = expand(Tokenizer("=-2^2").items, Ref("S", 0, 0))
    assert term.coef == 1.0 and term.cells == (OPAQUE,)  # (−2)^2: a power is no product of cells


@pytest.fixture
def dynamic_book(tmp_path):
    """INDEX over a whole column, OFFSET and INDIRECT, as real students' blocks fetch their weights."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws["B14"], ws["C14"], ws["J15"] = 4, 0.5, 2
    ws["L15"] = "=INDEX(B:B, 14 + INT((ROW()-14)/8)*8)*J15"
    ws["L16"] = "=OFFSET($B$14,0,1)*J15"
    ws["L17"] = '=INDIRECT("B"&(ROW()-3))+1'
    ws["L18"] = "=INDEX(B14:C14,1,Z1+2)"  # the column read from a cell (Z1 empty: 0)
    path = tmp_path / "dynamic.xlsx"
    wb.save(path)
    return path


def test_dynamic_references_are_followed_to_the_cells_they_fetch(dynamic_book):
    book = read_book(dynamic_book)
    deps = Dependencies(book, evaluate(dynamic_book))
    cell = lambda a1: Ref.parse(a1, "S")  # noqa: E731
    assert cell("B14") in deps.precedents[cell("L15")]
    assert cell("C14") in deps.precedents[cell("L16")]
    assert cell("B14") in deps.precedents[cell("L17")]
    assert cell("C14") in deps.precedents[cell("L18")]
    assert {(c.coef, c.cells) for c in deps.terms(cell("L15"))} == {(1.0, (cell("B14"), cell("J15")))}
    assert Dependencies(book).precedents[cell("L15")] == (cell("J15"),)  # without values: the static ones only


def test_a_call_whose_position_reads_a_range_is_left_unresolved():
    tokens = Tokenizer("=INDEX(B:B, MATCH(1, A1:A9, 0))").items
    assert dynamic.resolve(dynamic.calls(tokens, Ref("S", 0, 3)), lambda ref: 0, {}) == {}


def test_shared_sources_follow_new_stops(dynamic_book):
    book = read_book(dynamic_book)
    deps = Dependencies(book, evaluate(dynamic_book))
    cell = lambda a1: Ref.parse(a1, "S")  # noqa: E731
    sources = Sources(deps)
    assert sources.of(cell("L15")) == {cell("B14"), cell("J15")}
    for stop in itertools.permutations([cell("B14"), cell("J15")]):
        fresh = Sources(deps, stop)
        assert fresh.of(cell("L15")) == deps.sources(cell("L15"), set(stop))


# ---------------------------------------------------------------- what real files hold (issue 19, item 6)


def _prefixed(source, target, style: bytes = b' s="999"') -> None:
    """`source` rewritten as some other tools write SpreadsheetML: every element of the main namespace
    with a prefix (`<x:c>`), and each cell's style an index the file's styles do not have."""
    import re
    import zipfile

    main = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet") or item.filename == "xl/workbook.xml":
                data = data.replace(b'xmlns="' + main + b'"', b'xmlns:x="' + main + b'"')
                data = re.sub(rb"<(/?)([A-Za-z]\w*)([ >/])", rb"<\1x:\2\3", data)
                data = re.sub(rb' s="\d+"', style, data)
            zout.writestr(item, data)


def test_prefixed_spreadsheetml_with_styles_out_of_range_is_read_and_graded(tmp_path):
    from sheetprop.grading.grade import grade_file
    from sheetprop.model.spec import load_spec
    from sheetprop.writing.workbook import write_workbook

    source, odd = tmp_path / "plain.xlsx", tmp_path / "prefixed.xlsx"
    write_workbook(load_spec("mazur-nobias"), source)
    _prefixed(source, odd)
    assert b"<x:c " in __import__("zipfile").ZipFile(odd).read("xl/worksheets/sheet1.xml")
    plain, prefixed = read_book(source), read_book(odd)
    assert prefixed.cells == plain.cells and prefixed.names == plain.names and prefixed.cached == plain.cached
    report = grade_file(odd, load_spec("mazur-nobias"))
    assert report.error is None and report.all_right and report.score == report.max_score == 39


def test_numbers_stored_as_text_that_formulas_use_count_as_numbers(tmp_path):
    """A given weight typed as text ("0.15", as a CSV import leaves it): the formulas use it as the
    number it shows, and so does the grader; it is the given value, found and right."""
    from sheetprop.grading.grade import grade_file
    from sheetprop.model.spec import load_spec
    from sheetprop.writing.workbook import write_workbook

    path = tmp_path / "text.xlsx"
    write_workbook(load_spec("mazur-nobias"), path)
    book = openpyxl.load_workbook(path)
    cell = book.defined_names["w_1"].attr_text.split("!")[1].replace("$", "")
    book["Network"][cell].value = " 0.15"
    book["Network"][cell].data_type = "s"
    book.save(path)
    assert read_book(path).cells[Ref.parse(f"Network!{cell}")] == " 0.15"
    report = grade_file(path, load_spec("mazur-nobias"))
    items = {i.name: i for i in report.items}
    assert items["w_1"].status == "correct" and items["w_1"].got == pytest.approx(0.15)
    assert items["net_h1"].status == "correct" and report.score == report.max_score
