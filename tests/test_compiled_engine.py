"""The compiled engine: Excel's semantics, bit-exact arithmetic, hostile files, speed.

Workbooks are written here either with XlsxWriter or, where the XML itself is the point
(shared formulas, odd but valid XML, hostile names), part by part with `make_xlsx`.
Expectations are computed with Python's own float arithmetic and math module.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import zipfile
from xml.sax.saxutils import escape, quoteattr

import pytest

from sheetprop.engines import CellError, EngineError, evaluate, formula_cells, is_available, soffice
from sheetprop.engines import compiled, xlparse, xlsxread

LIBREOFFICE = [
    pytest.mark.libreoffice,
    pytest.mark.skipif(soffice() is None, reason="LibreOffice (soffice) is not installed: "
                                                 "apt-get install libreoffice-calc-nogui"),
]
DIV0, VALUE, NUM, NA, NAME, REF, CIRC = (CellError(c) for c in ("#DIV/0!", "#VALUE!", "#NUM!", "#N/A", "#NAME?",
                                                                 "#REF!", "#CIRC!"))


# --- writing workbooks part by part ------------------------------------------------------

STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
          '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
          '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
          '<borders count="1"><border/></borders>'
          '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
          '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs></styleSheet>')
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


class F(str):
    """A formula (without "=") for `cells_xml`."""


def cells_xml(cells: dict[str, object]) -> str:
    """<sheetData> content for {"A1": value}: float, str, bool, CellError or F(formula)."""
    rows: dict[int, list] = {}
    for ref, value in cells.items():
        col, row = re.fullmatch(r"([A-Z]+)(\d+)", ref).groups()
        rows.setdefault(int(row), []).append((xlsxread.COLUMN[col], ref, value))
    out = []
    for row in sorted(rows):
        out.append(f'<row r="{row}">')
        for _, ref, value in sorted(rows[row]):
            if isinstance(value, F):
                out.append(f'<c r="{ref}"><f>{escape(value)}</f><v>999</v></c>')
            elif isinstance(value, bool):
                out.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, (int, float)):
                out.append(f'<c r="{ref}"><v>{float(value)!r}</v></c>')
            elif isinstance(value, CellError):
                out.append(f'<c r="{ref}" t="e"><v>{escape(value.code)}</v></c>')
            else:
                out.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>')
        out.append("</row>")
    return "".join(out)


def worksheet(data: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN}">'
            f"<sheetData>{data}</sheetData></worksheet>")


def make_xlsx(path, sheets, names=(), strings=None, raw=False):
    """An .xlsx of `sheets` [(name, sheetData content or, with raw, the whole sheet XML)],
    defined `names` [(name, text, local sheet index or None)] and shared `strings`."""
    ct = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" '
          'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          '<Override PartName="/xl/styles.xml" '
          'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>']
    rels = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rIdS" Target="styles.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"/>']
    wb = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{MAIN}" '
          'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>']
    for i, (name, _) in enumerate(sheets, 1):
        ct.append(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                  'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
        rels.append(f'<Relationship Id="rId{i}" Target="worksheets/sheet{i}.xml" '
                    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>')
        wb.append(f'<sheet name={quoteattr(name)} sheetId="{i}" r:id="rId{i}"/>')
    wb.append("</sheets>")
    if names:
        wb.append("<definedNames>")
        for name, text, local in names:
            scope = "" if local is None else f' localSheetId="{local}"'
            wb.append(f"<definedName name={quoteattr(name)}{scope}>{escape(text)}</definedName>")
        wb.append("</definedNames>")
    wb.append("</workbook>")
    if strings is not None:
        ct.append('<Override PartName="/xl/sharedStrings.xml" '
                  'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
        rels.append('<Relationship Id="rIdT" Target="sharedStrings.xml" '
                    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>')
    ct.append("</Types>")
    rels.append("</Relationships>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "".join(ct))
        z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Target="xl/workbook.xml" '
                   'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
                   "</Relationships>")
        z.writestr("xl/workbook.xml", "".join(wb))
        z.writestr("xl/_rels/workbook.xml.rels", "".join(rels))
        z.writestr("xl/styles.xml", STYLES)
        for i, (_, data) in enumerate(sheets, 1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", data if raw else worksheet(data))
        if strings is not None:
            z.writestr("xl/sharedStrings.xml", strings)
    return path


def left_sum(values):
    total = 0.0
    for v in values:
        total += v
    return total


def same(got, want) -> bool:
    """Bit for bit: same type, same value (floats compared exactly)."""
    return type(got) is type(want) and got == want


# --- Excel's semantics, one formula at a time ---------------------------------------------

CONTEXT = {
    "A1": 2.5, "A2": "abc", "A3": True, "A5": "  3 ", "A6": CellError("#N/A"), "A7": 0.0, "A8": -1.0,
    "B1": 0.15, "B2": -0.4, "B3": 0.05, "B4": 0.1,
    "D1": 1.5, "D2": "x", "D3": True, "D5": "2", "D6": 0.25,
    "G1": 1.0, "G2": 2.0, "G3": 3.0, "G1000000": 4.0,
}
E = math.exp(1)
CASES = [
    # literals
    ("1E3", 1000.0), ("1e-5", 1e-05), (".5", 0.5), ("1.5E+2", 150.0), ('"a""b"', 'a"b'), ('""""', '"'),
    ("TRUE", True), ("FALSE()", False), ("#DIV/0!", DIV0), ("#N/A", NA),
    # precedence
    ("-2^2", 4.0), ("2^3^2", 64.0), ("2^-1", 0.5), ("-A1^2", 6.25), ("1-2-3", -4.0), ("8/2/2", 2.0),
    ('"a"&1+1', "a2"), ("1+1=2", True), ("2*3%", 2 * (3 / 100)), ("-(1)--1", 0.0), ("(1+2)*3", 9.0),
    ("0.1+0.2", 0.1 + 0.2), ("A1*0.999+B1/3", 2.5 * 0.999 + 0.15 / 3), ("1-0.9-0.1", 1 - 0.9 - 0.1),
    # empty cells
    ("A4", 0.0), ("A4+1", 1.0), ('A4&"x"', "x"), ("A4=0", True), ('A4=""', True), ("-A4", -0.0),
    # text and booleans in arithmetic
    ("A2+1", VALUE), ("A5+1", 4.0), ('"3"*"4"', 12.0), ("-A2", VALUE), ('A2&A2', "abcabc"), ("A2+A2", VALUE),
    ("A3+1", 2.0), ("A3*A3", 1.0), ('"1,000"+1', 1001.0), ('"50%"*2', 1.0), ('""+1', VALUE),
    # errors
    ("1/0", DIV0), ("1/A4", DIV0), ("MOD(1,0)", DIV0), ("LN(0)", NUM), ("LN(A8)", NUM), ("LOG(-1)", NUM),
    ("LOG10(0)", NUM), ("SQRT(-1)", NUM), ("EXP(1000)", NUM), ("1E308*10", NUM), ("1/(1E308*10)", NUM),
    ("SINH(1000)", NUM), ("0^0", NUM), ("0^-1", DIV0), ("(-8)^(1/3)", NUM), ("(-8)^3", -512.0),
    ("POWER(2,0.5)", 2 ** 0.5), ("ASIN(2)", NUM), ("10^400", NUM), ("EXP(-(1E308*10))", NUM),
    ("TANH(1E308*10)", NUM), ("(1E308*10)>1", NUM), ("IF(1E308*10,1,2)", NUM), ("MAX(1E308*10,1)", NUM),
    ("1E308+1E308-1E308", NUM), ("1/(1/1E-308/1E-10)", NUM), ("1/DEGREES(1E307)", NUM),
    ("A6+1", NA), ("1/0+A6", DIV0), ("A6+1/0", NA), ("SUM(B1:B4,A6)", NA), ("IF(A6,1,2)", NA), ("A6", NA),
    # aggregates: references skip text, booleans and empty cells; direct arguments count
    ("SUM(D1:D6)", 1.75), ("AVERAGE(D1:D6)", 1.75 / 2), ("COUNT(D1:D6)", 2.0), ("COUNTA(D1:D6)", 5.0),
    ("MAX(D1:D6)", 1.5), ("MIN(D1:D6)", 0.25), ("PRODUCT(D1:D6)", 0.375), ("SUMSQ(D1:D6)", 1.5 * 1.5 + 0.25 * 0.25),
    ("SUM(D2)", 0.0), ('SUM("2")', 2.0), ("SUM(TRUE,1)", 2.0), ('SUM("x")', VALUE), ("AVERAGE(D2)", DIV0),
    ("AVERAGE(D4)", DIV0), ("MAX(D2:D4)", 0.0), ('COUNT(1,"2",TRUE,"x")', 3.0), ("SUM(D5,1)", 1.0),
    ("SUM(A2,A2)", 0.0), ("MAX(A2,1)", 1.0), ("MIN(A3,5)", 5.0), ("PRODUCT(D2,D2)", 0.0), ("AVERAGE(A2,A1)", 2.5),
    ("SUM(A1,A4)", 2.5), ("MAX(A6,1)", NA),
    ("SUM(B1:B4)", left_sum([0.15, -0.4, 0.05, 0.1])), ("AVERAGE(B1,B2)", (0.15 + -0.4) / 2),
    ("AVERAGE(B1*B3,B2*B4)", (0.15 * 0.05 + -0.4 * 0.1) / 2), ("MAX(0,B2)", 0.0), ("MIN(B1:B4)", -0.4),
    ("SUMPRODUCT(B1:B2,B3:B4)", 0.15 * 0.05 + -0.4 * 0.1), ("SUMPRODUCT(B1:B2,B1:B3)", VALUE),
    ("SUM(G:G)", 10.0), ("COUNT(G:G)", 4.0), ("SUM(1:1)", left_sum([2.5, 0.15, 1.5, 1.0])), ("MAX(B:H)", 4.0),
    ("MAX(A:H)", NA),
    # IF and friends evaluate only what they need
    ("IF(A8>0,LN(A8),0)", 0.0), ('IF(A7>0,1/A7,"none")', "none"), ("IF(TRUE,1,NOSUCH())", 1.0),
    ("IF(FALSE,1)", False), ("IF(FALSE,1,)", 0.0), ("IF(A4,1,2)", 2.0), ('IF("TRUE",1,2)', 1.0),
    ('IF("x",1,2)', VALUE), ("IF(A1,A4,1)", 0.0), ("IFERROR(1/0,5)", 5.0), ('IFERROR(A6,"e")', "e"),
    ("IFERROR(A1,0)", 2.5), ("IFNA(A6,1)", 1.0), ("IFNA(1/0,1)", DIV0), ("ISERROR(1/0)", True),
    ("ISNUMBER(A1)", True), ("ISNUMBER(A5)", False), ("ISTEXT(A2)", True), ("ISBLANK(A4)", True),
    ("ISBLANK(A7)", False), ("ISNA(A6)", True), ("ISERR(A6)", False), ("ISLOGICAL(A3)", True),
    # comparisons: numbers < text < booleans, text case-insensitive, numbers exact
    ('1<"a"', True), ('"a"<TRUE', True), ("FALSE>1", True), ('"abc"="ABC"', True), ('"a"<"B"', True),
    ('A2="ABC"', True), ("0.1+0.2=0.3", False), ("A3=1", False), ('1="1"', False), ("A1<>2.5", False),
    ("B2<=B1", True), ("B1>=B1", True), ("(1<2)=TRUE", True),
    # functions
    ("ROUND(2.675,2)", 2.68), ("ROUND(-2.5,0)", -3.0), ("ROUND(1234.5,-2)", 1200.0), ("ROUNDUP(1.21,1)", 1.3),
    ("ROUNDDOWN(-1.29,1)", -1.2), ("TRUNC(-1.7)", -1.0), ("MOD(-7,3)", 2.0), ("MOD(7,-3)", -2.0),
    ("MOD(5.5,2)", 1.5), ("INT(-1.5)", -2.0), ("SIGN(-2)", -1.0), ("PI()", math.pi), ("TANH(0.5)", math.tanh(0.5)),
    ("SINH(0.5)", math.sinh(0.5)), ("COSH(0.5)", math.cosh(0.5)), ("ABS(B2)", 0.4), ("EXP(1)", E),
    ("LN(2.5)", math.log(2.5)), ("LOG(8,2)", math.log(8) / math.log(2)), ("LOG(1000)", 3.0),
    ("LOG10(2.5)", math.log10(2.5)), ("SQRT(2)", math.sqrt(2)), ("ATAN2(1,2)", math.atan2(2, 1)),
    ("AND(TRUE,1)", True), ("AND(D1:D6)", True), ("OR(FALSE,0)", False), ("NOT(0)", True), ("XOR(TRUE,TRUE)", False),
    ('CONCATENATE("a",1,TRUE)', "a1TRUE"), ('1/3&""', "0.333333333333333"), ('1E20&""', "1E+20"),
    ('0.00001&""', "0.00001"), ('-2.5&""', "-2.5"), ("SUM(1,2,3)", 6.0), ("_xlfn.SINGLE(A1)", 2.5),
    # not supported: an error for the cell, never a crash
    ("NOSUCH(1)", NAME), ('INDIRECT("A1")', NAME), ("OFFSET(A1,1,1)", NAME), ('WEBSERVICE("http://x")', NAME),
    ("RAND()", NAME), ("NOW()", NAME), ("nosuchname+1", NAME), ("[1]Sheet1!A1", REF), ("NoSheet!A1", REF),
    ("Sheet1:Sheet2!A1", REF), ("{1,2}", NAME), ("A1 B1", NAME), ("SUM(", NAME), ("1+", NAME),
    ("B1:B4*2", VALUE),  # implicit intersection from row 20 finds no cell of B1:B4
]


@pytest.fixture(scope="module")
def semantics(tmp_path_factory):
    cells = dict(CONTEXT)
    formulas = {}
    for i, (formula, _) in enumerate(CASES):
        ref = f"{xlsxread.LETTERS[10 + i % 20]}{20 + i // 20}"
        cells[ref] = F(formula)
        formulas[formula] = ref
    path = make_xlsx(tmp_path_factory.mktemp("semantics") / "semantics.xlsx", [("Sheet", cells_xml(cells))])
    return evaluate(path, "compiled"), formulas


@pytest.mark.parametrize("formula, want", CASES, ids=[c[0] for c in CASES])
def test_semantics(semantics, formula, want):
    got, where = semantics
    value = got[("Sheet", where[formula])]
    assert same(value, want), f"={formula}: got {value!r}, want {want!r}"


def test_every_kind_of_value_comes_back_as_the_contract_says(semantics):
    got, _ = semantics
    assert {type(v) for v in got.values()} <= {float, str, bool, CellError}


def test_implicit_intersection(tmp_path):
    cells = {"B1": 1.0, "B2": 2.0, "B3": 3.0, "C1": 10.0, "D1": 20.0,
             "E2": F("B1:B3*2"), "E9": F("B1:B3*2"), "C5": F("C1:D1+1"), "F2": F("SUM(B1:B3)")}
    got = evaluate(make_xlsx(tmp_path / "ii.xlsx", [("S", cells_xml(cells))]), "compiled")
    assert got[("S", "E2")] == 4.0 and got[("S", "E9")] == VALUE
    assert got[("S", "C5")] == 11.0 and got[("S", "F2")] == 6.0


def test_mixed_and_cross_sheet_references_filled_down(tmp_path):
    """$A1, A$1 and Data!A1 in a block filled down and across: one shape per column."""
    main = {f"{c}{r}": float(r * 10 + i) for i, c in enumerate("ABC") for r in range(1, 6)}
    data = {f"{c}{r}": float(r * 100 + i) / 7 for i, c in enumerate("ABC") for r in range(1, 6)}
    cells = dict(main)
    for target, c in zip("DEF", "ABC"):
        for r in range(1, 5):
            cells[f"{target}{r}"] = F(f"$A{r}*{c}$1+Data!{c}{r}-{c}{r + 1}")
    got = evaluate(make_xlsx(tmp_path / "mixed.xlsx", [("Main", cells_xml(cells)), ("Data", cells_xml(data))]),
                   "compiled")
    for target, c in zip("DEF", "ABC"):
        for r in range(1, 5):
            want = main[f"A{r}"] * main[f"{c}1"] + data[f"{c}{r}"] - main[f"{c}{r + 1}"]
            assert got[("Main", f"{target}{r}")] == want, f"{target}{r}"


def test_errors_reach_every_dependent(tmp_path):
    cells = {"A1": F("NOSUCH(1)"), "A2": F("A1+1"), "A3": F("SUM(A1:A2)"), "A4": F("IFERROR(A3,7)"),
             "B1": F("1/0"), "B2": F("B1*2"), "B3": F("MAX(B2,1)")}
    got = evaluate(make_xlsx(tmp_path / "errors.xlsx", [("S", cells_xml(cells))]), "compiled")
    assert [got[("S", r)] for r in ("A1", "A2", "A3", "A4")] == [NAME, NAME, NAME, 7.0]
    assert [got[("S", r)] for r in ("B1", "B2", "B3")] == [DIV0, DIV0, DIV0]


# --- names and sheets -----------------------------------------------------------------------

def test_names_sheets_and_scopes(tmp_path):
    sheets = [("Network", cells_xml({"A1": 0.5, "A2": 2.0, "A3": 3.0, "B1": F("rate*2"), "B2": F("RATE+local"),
                                     "B3": F("SUM(nums)"), "B4": F("half*3"), "B5": F("alias"), "B6": F("loop+1"),
                                     "B7": F("'My sheet'!A1+'O''Neil'!A1"), "B8": F("Other!local"),
                                     "B9": F("Network!rate"), "B10": F("SUM(first:last)")})),
              ("My sheet", cells_xml({"A1": 10.0, "B1": F("local")})),
              ("O'Neil", cells_xml({"A1": 100.0})),
              ("Other", cells_xml({"A1": 7.0}))]
    names = [("rate", "Network!$A$1", None), ("local", "Network!$A$2", 0), ("local", "'My sheet'!$A$1", 1),
             ("Local", "Other!$A$1", 3), ("nums", "Network!$A$1:$A$3", None), ("half", "0.5", None),
             ("alias", "rate", None), ("loop", "loop+1", None), ("first", "Network!$A$1", None),
             ("last", "Network!$A$3", None)]
    got = evaluate(make_xlsx(tmp_path / "names.xlsx", sheets, names), "compiled")
    assert got[("Network", "B1")] == 1.0
    assert got[("Network", "B2")] == 2.5  # names are case-insensitive; the sheet's own "local" first
    assert got[("Network", "B3")] == 5.5
    assert got[("Network", "B4")] == 1.5  # a name holding a constant
    assert got[("Network", "B5")] == 0.5  # a name standing for a name
    assert got[("Network", "B6")] == NAME  # defined through itself
    assert got[("Network", "B7")] == 110.0
    assert got[("Network", "B8")] == 7.0
    assert got[("Network", "B9")] == 0.5
    assert got[("Network", "B10")] == 5.5  # name:name is a range
    assert got[("My sheet", "B1")] == 10.0


def test_hostile_names_and_texts_are_data_not_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"__import__('os').system('touch {marker}')"
    sheet_names = ["Sheet'); import os #", "{x}\\n\"'", "Ünïcødé ∑", "a" * 31]
    texts = ['"}{', "'''", '"""', "\\", "\n", evil, "{0}{1}", "%s%d", " "]
    cells = {"A1": 1.0}
    expected = {}
    for i, text in enumerate(texts, start=2):
        cells[f"A{i}"] = text
        cells[f"B{i}"] = F(f"A{i}")
        cells[f"C{i}"] = F('"' + text.replace('"', '""') + '"&"!"')
        expected[f"B{i}"] = text
        expected[f"C{i}"] = text + "!"
    cells["D1"] = F(evil)
    cells["D2"] = F("__class__+1")
    cells["D3"] = F("'" + sheet_names[0].replace("'", "''") + "'!A1*2")
    cells["D4"] = F("'" + sheet_names[1].replace("'", "''") + "'!A1+'" + sheet_names[2] + "'!A1")
    cells["D5"] = F("weird.name?\\x+_x")
    sheets = [("Main", cells_xml(cells))]
    sheets += [(name, cells_xml({"A1": float(i + 1)})) for i, name in enumerate(sheet_names)]
    names = [("weird.name?\\x", "Main!$A$1", None), ("_x", "2", None), ("__class__", "Main!$A$1", None)]
    got = evaluate(make_xlsx(tmp_path / "hostile.xlsx", sheets, names), "compiled")
    for ref, want in expected.items():
        assert got[("Main", ref)] == want, ref
    assert got[("Main", "D1")] == NAME
    assert got[("Main", "D2")] == 2.0
    assert got[("Main", "D3")] == 2.0
    assert got[("Main", "D4")] == 5.0
    assert got[("Main", "D5")] == 3.0
    assert not marker.exists()


# --- cycles and deep chains ------------------------------------------------------------------

def test_cycles(tmp_path):
    cells = {"C1": F("A2*2"),  # depends on a cycle, comes before it in file order
             "A2": F("B2+1"), "B2": F("A2+1"), "D1": F("D1"), "E1": F("IF(TRUE,1,E2)"), "E2": F("E1+1"),
             "F1": F("SUM(F2:F3)"), "F2": F("F3"), "F3": F("F1"), "G1": F("1+2")}
    got = evaluate(make_xlsx(tmp_path / "cycles.xlsx", [("S", cells_xml(cells))]), "compiled")
    assert [got[("S", r)] for r in ("A2", "B2", "C1", "D1", "F1", "F2", "F3")] == [CIRC] * 7
    assert got[("S", "E1")] == 1.0 and got[("S", "E2")] == 2.0  # IF never asks for E2: no cycle
    assert got[("S", "G1")] == 3.0


DEEP = 100_000


def chain_rows(order):
    rows = ['<row r="1"><c r="A1"><v>0</v></c></row>']
    rows += [f'<row r="{r}"><c r="A{r}"><f>A{r - 1}*0.999+0.001</f></c></row>' for r in range(2, DEEP + 1)]
    return "".join(rows if order == "forward" else rows[:1] + rows[:0:-1])


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_chain_100000_deep(tmp_path, order):
    """Each cell needs the one above; in reverse file order every cell waits for the next."""
    path = make_xlsx(tmp_path / "chain.xlsx", [("S", chain_rows(order))])
    got = evaluate(path, "compiled")
    a = 0.0
    for r in range(2, DEEP + 1):
        a = a * 0.999 + 0.001
        assert got[("S", f"A{r}")] == a
    assert len(got) == DEEP - 1


def test_cycle_100000_long(tmp_path):
    rows = "".join(f'<row r="{r}"><c r="A{r}"><f>A{r % DEEP + 1}+1</f></c></row>' for r in range(1, DEEP + 1))
    got = evaluate(make_xlsx(tmp_path / "cycle.xlsx", [("S", rows)]), "compiled")
    assert set(got.values()) == {CIRC} and len(got) == DEEP


def test_whole_columns_visit_only_cells_that_exist(tmp_path):
    n = 200_000
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, n + 1))
    rows += '<row r="1048576"><c r="B1048576"><f>SUM(A:A)</f></c><c r="C1048576"><f>COUNT(A:A)+SUM($A:$A)</f></c></row>'
    start = time.perf_counter()
    got = evaluate(make_xlsx(tmp_path / "columns.xlsx", [("S", rows)]), "compiled")
    assert got[("S", "B1048576")] == float(n * (n + 1) // 2)
    assert got[("S", "C1048576")] == float(n + n * (n + 1) // 2)
    assert time.perf_counter() - start < 30


def test_long_and_deep_formulas(tmp_path):
    terms = [f"A{r}" for r in range(1, 2001)]
    cells = {f"A{r}": 0.1 * r for r in range(1, 2001)}
    cells["B1"] = F("+".join(terms))
    cells["B2"] = F("(" * 60 + "1" + ")" * 60)
    cells["B3"] = F("(" * 70 + "1" + ")" * 70)  # deeper than Excel allows
    cells["B4"] = F("-" * 60 + "1")
    cells["B5"] = F("*".join(["1.0001"] * 500))
    got = evaluate(make_xlsx(tmp_path / "long.xlsx", [("S", cells_xml(cells))]), "compiled")
    assert got[("S", "B1")] == left_sum(0.1 * r for r in range(1, 2001))
    assert got[("S", "B2")] == 1.0 and got[("S", "B3")] == NAME and got[("S", "B4")] == 1.0
    product = 1.0001
    for _ in range(499):
        product *= 1.0001
    assert got[("S", "B5")] == product


# --- shared and array formulas --------------------------------------------------------------

def share(sheet_xml: str) -> str:
    """The sheet with its formulas written as Excel writes filled-down ones: each run of
    same-shaped formulas down a column is one shared formula (master + followers)."""
    cell = re.compile(r'<c r="([A-Z]+)(\d+)"([^>]*)><f>([^<]*)</f>')
    runs: dict[str, tuple] = {}  # column -> (shape, si, master ref)
    masters: dict[int, list] = {}
    next_si = [0]

    def rewrite(m):
        col, row, attrs, text = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        from xml.sax.saxutils import unescape
        shape = xlparse.parse(unescape(text), row, xlsxread.COLUMN[col]).ast
        run = runs.get(col)
        if run and run[0] == shape and run[3] == row - 1:
            runs[col] = (shape, run[1], run[2], row)
            masters[run[1]][1] = f"{col}{row}"
            return f'<c r="{col}{row}"{attrs}><f t="shared" si="{run[1]}"/>'
        si = next_si[0]
        next_si[0] += 1
        runs[col] = (shape, si, f"{col}{row}", row)
        masters[si] = [f"{col}{row}", f"{col}{row}"]
        return f'<c r="{col}{row}"{attrs}><f t="shared" ref="@@{si}@@" si="{si}">{text}</f>'

    out = cell.sub(rewrite, sheet_xml)
    return re.sub(r"@@(\d+)@@", lambda m: "{}:{}".format(*masters[int(m.group(1))]), out)


def with_shared_training(src, dst):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet2.xml":
                data = share(data.decode()).encode()
            zout.writestr(info, data)
    return dst


@pytest.fixture(scope="module")
def mazur(tmp_path_factory):
    from sheetprop.spec import load_spec
    from sheetprop.workbook import write_workbook

    path = tmp_path_factory.mktemp("mazur") / "mazur.xlsx"
    write_workbook(load_spec("mazur"), path)
    return path


def test_shared_formulas_as_excel_writes_them(mazur, tmp_path):
    shared = with_shared_training(mazur, tmp_path / "shared.xlsx")
    text = zipfile.ZipFile(shared).read("xl/worksheets/sheet2.xml").decode()
    assert text.count('t="shared"') > 500 and text.count("<f>") == 0
    got, want = evaluate(shared, "compiled"), evaluate(mazur, "compiled")
    assert got == want
    assert set(got) == {(s, xlsxread.LETTERS[c] + str(r)) for s, r, c in formula_cells(shared)}


def test_shared_formula_corner_cases(tmp_path):
    data = ('<row r="1"><c r="A1"><v>1</v></c><c r="B1"><f t="shared" si="0"/></c></row>'  # follower first
            '<row r="2"><c r="A2"><v>2</v></c><c r="B2"><f t="shared" ref="B1:B3" si="0">A2*10</f></c>'
            '<c r="C2"><f t="shared" si="7"/></c></row>'  # no such master
            '<row r="3"><c r="A3"><v>3</v></c><c r="B3"><f t="shared" si="0"/></c>'
            '<c r="D3"><f t="array" ref="D3">SUM(A1:A3)</f></c>'
            '<c r="E3"><f t="array" ref="E3">SUM(A1:A3*2)</f></c></row>'
            '<row r="4"><c r="C4"><f t="shared" ref="C4:C5" si="1">C3+1</f></c></row>'
            '<row r="5"><c r="C1"><f t="shared" si="1"/></c></row>')  # C1 would need C0: off the sheet
    got = evaluate(make_xlsx(tmp_path / "corner.xlsx", [("S", data)]), "compiled")
    assert got[("S", "B1")] == 10.0 and got[("S", "B2")] == 20.0 and got[("S", "B3")] == 30.0
    assert got[("S", "C2")] == REF and got[("S", "C1")] == REF and got[("S", "C4")] == 1.0
    assert got[("S", "D3")] == 6.0 and got[("S", "E3")] == VALUE  # array arithmetic: not supported


# --- reading any valid XML ---------------------------------------------------------------------

def odd_forms():
    """The same small sheet as the fast reader never sees it written."""
    plain = ('<row r="1"><c r="A1"><v>1.5</v></c><c r="B1" t="s"><v>0</v></c><c r="C1"><f>A1*2</f><v>0</v></c></row>'
             '<row r="2"><c r="A2" t="b"><v>1</v></c><c r="B2" t="str"><v>x&amp;y</v></c>'
             '<c r="C2"><f>IF(A1&lt;2,B1&amp;"!",0)</f></c></row>')
    yield "plain", worksheet(plain)
    yield "pretty", worksheet(plain.replace("><", ">\n    <"))
    yield "prefixed", ('<?xml version="1.0"?><x:worksheet xmlns:x="' + MAIN + '"><x:sheetData>'
                       + re.sub(r"<(/?)(row|c|v|f)\b", r"<\1x:\2", plain) + "</x:sheetData></x:worksheet>")
    yield "no r", worksheet(re.sub(r' r="[A-Z]+\d"', "", plain))
    yield "cdata", worksheet(plain.replace("<f>A1*2</f>", "<f><![CDATA[A1*2]]></f>"))
    yield "comments", worksheet(plain.replace("</row>", "<!-- </row> --></row>"))
    yield "attributes", worksheet(plain.replace('<c r="A1">', "<c s='0' r='A1'>").replace("<f>", '<f aca="false">'))
    yield "utf-16", ('<?xml version="1.0" encoding="UTF-16"?>' + worksheet(plain).split("?>", 1)[1]).encode("utf-16")


@pytest.mark.parametrize("name, xml", list(odd_forms()), ids=[n for n, _ in odd_forms()])
def test_odd_but_valid_xml(tmp_path, name, xml):
    strings = f'<sst xmlns="{MAIN}"><si><r><t>a</t></r><r><rPr><b/></rPr><t xml:space="preserve">b_x000D_</t></r>' \
              '<rPh sb="0" eb="1"><t>ignored</t></rPh></si></sst>'
    got = evaluate(make_xlsx(tmp_path / "odd.xlsx", [("S", xml)], strings=strings, raw=True), "compiled")
    assert got == {("S", "C1"): 3.0, ("S", "C2"): "ab\r!"}


@pytest.mark.parametrize("preset", ["mazur", "xor", "perceptron"])
def test_general_reader_reads_what_the_fast_one_does(tmp_path, preset, monkeypatch):
    from sheetprop.spec import load_spec
    from sheetprop.workbook import write_workbook

    path = tmp_path / "book.xlsx"
    write_workbook(load_spec(preset), path)
    fast = xlsxread.read_book(path)
    monkeypatch.setattr(xlsxread, "_sheet_fast", lambda *a: (_ for _ in ()).throw(xlsxread._Irregular()))
    general = xlsxread.read_book(path)
    assert general.values == fast.values and general.plain == fast.plain
    assert evaluate(path, "compiled") == compiled._Evaluation(fast, compiled.Deadline(None, path)).run()


# --- untrusted files ---------------------------------------------------------------------------

def test_dtd_is_refused(tmp_path):
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c>'
            '<c r="B1"><f>A1</f></c></row></sheetData></worksheet>')
    path = make_xlsx(tmp_path / "bomb.xlsx", [("S", bomb)], raw=True)
    with pytest.raises(EngineError, match="DTD|DOCTYPE") as caught:
        evaluate(path, "compiled")
    assert "\n" not in str(caught.value)
    with pytest.raises(EngineError, match="declares a DTD"):  # the engine's own check, container checks aside
        xlsxread.read_book(path)


def test_oversized_part_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    path = make_xlsx(tmp_path / "big.xlsx", [("S", cells_xml({f"A{r}": F("1+1") for r in range(1, 2000)}))])
    monkeypatch.setattr(xlsxread, "MAX_PART", 10_000)
    with pytest.raises(EngineError, match="expands to"):
        evaluate(path, "compiled")


@pytest.mark.parametrize("content", [b"not a workbook", b"PK\x03\x04garbage", b""])
def test_bad_file_is_one_line_engine_error(tmp_path, content):
    path = tmp_path / "junk.xlsx"
    path.write_bytes(content)
    with pytest.raises(EngineError) as caught:
        evaluate(path, "compiled")
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_broken_xml_is_one_line_engine_error(tmp_path):
    path = make_xlsx(tmp_path / "broken.xlsx", [("S", worksheet("<row r='1'><c r='A1'><f>1+1</f></c>"))], raw=True)
    with pytest.raises(EngineError, match="not well-formed") as caught:
        evaluate(path, "compiled")
    assert "\n" not in str(caught.value)


def test_timeout(tmp_path):
    path = make_xlsx(tmp_path / "slow.xlsx", [("S", chain_rows("forward"))])
    with pytest.raises(EngineError, match="did not finish"):
        evaluate(path, "compiled", timeout=0.001)


# --- agreement with the other engines, and with the reference ----------------------------------

def specs():
    from sheetprop.randomspec import random_spec
    from sheetprop.spec import load_spec, preset_names, validate

    out = [(name, load_spec(name)) for name in preset_names()]
    return out + [(f"random{seed}", validate(random_spec(seed))) for seed in range(24)]


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory):
    from sheetprop.workbook import write_workbook

    folder = tmp_path_factory.mktemp("specs")
    out = {}
    for name, spec in specs():
        try:
            write_workbook(spec, folder / f"{name}.xlsx")
        except OverflowError:  # a random network whose reference training diverges
            continue
        out[name] = folder / f"{name}.xlsx"
    return out


def test_bit_for_bit_with_ironcalc(workbooks):
    assert len(workbooks) > 20
    for name, path in workbooks.items():
        got, want = evaluate(path, "compiled"), evaluate(path, "ironcalc")
        assert set(got) == set(want), name
        differ = {k: (got[k], want[k]) for k in want if not same(got[k], want[k])}
        assert not differ, f"{name}: {len(differ)} cells differ, e.g. {next(iter(differ.items()))}"


def test_keys_are_the_formula_cells(workbooks):
    for path in list(workbooks.values())[:8]:
        cells = {(s, xlsxread.LETTERS[c] + str(r)) for s, r, c in formula_cells(path)}
        assert set(evaluate(path, "compiled")) == cells


def test_verify_reports_ok(workbooks):
    from sheetprop.verify import verify_workbook

    for name, path in workbooks.items():
        report = verify_workbook(path, engine="compiled")
        assert report.ok, (name, report.error, report.mismatches[:3])
        assert report.worst_rel_error == 0.0, name  # the reference is Python's arithmetic too


def test_agrees_with_formulas_engine(mazur):
    """formulas' EXP, LN and TANH are numpy's: the last bit may differ, nothing else."""
    got, want = evaluate(mazur, "compiled"), evaluate(mazur, "formulas")
    assert set(got) == set(want)
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=4e-16, abs=1e-300), key
        else:
            assert got[key] == value, key


def test_safe_code_agrees_with_fast_code(workbooks):
    """Every cell's safe function, run after the fact, gives what the fast one gave."""
    for name in ("mazur", "xor", "random3", "random7"):
        if name not in workbooks:
            continue
        book = xlsxread.read_book(workbooks[name])
        ev = compiled._Evaluation(book, compiled.Deadline(None, name))
        ev.run()
        for k, shape in zip(*ev.shapes_of_cells()):
            value = ev.V[k]
            safe = shape.safe(ev.V, k)
            assert same(safe, value) or value.__class__ is not float and safe == value, (name, k)


def test_input_is_not_modified(mazur):
    before = hashlib.sha256(mazur.read_bytes()).hexdigest()
    evaluate(mazur, "compiled")
    assert hashlib.sha256(mazur.read_bytes()).hexdigest() == before


def test_is_available():
    assert is_available("compiled")


def test_small_workbook_is_near_instant(mazur):
    evaluate(mazur, "compiled")  # imports, caches
    start = time.perf_counter()
    evaluate(mazur, "compiled")
    assert time.perf_counter() - start < 0.5


# --- LibreOffice ------------------------------------------------------------------------------

def libreoffice_save(path, out_dir):
    """The workbook opened and saved again as .xlsx by LibreOffice, recalculated."""
    import subprocess

    from sheetprop.engines.libreoffice import RECALC_ALWAYS

    profile = out_dir / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALC_ALWAYS)
    subprocess.run([soffice(), f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                    "--convert-to", "xlsx", "--outdir", str(out_dir / "saved"), str(path)],
                   check=True, capture_output=True, timeout=120)
    return out_dir / "saved" / path.name


@pytest.mark.parametrize("shared", [False, True], ids=["plain", "shared"])
@pytest.mark.libreoffice
@pytest.mark.skipif(soffice() is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_saved_workbook(mazur, tmp_path, shared):
    """LibreOffice 7.4 reads shared formulas but writes every formula out in full
    (<f aca="false">…</f>, t="n" on every cell): either way, the same results."""
    source = with_shared_training(mazur, tmp_path / "mazur.xlsx") if shared else mazur
    saved = libreoffice_save(source, tmp_path)
    assert 'aca="false"' in zipfile.ZipFile(saved).read("xl/worksheets/sheet2.xml").decode()
    assert evaluate(saved, "compiled") == evaluate(mazur, "compiled")
    from sheetprop.verify import verify_workbook
    assert verify_workbook(saved, engine="compiled").ok


@pytest.mark.libreoffice
@pytest.mark.skipif(soffice() is None, reason="LibreOffice (soffice) is not installed")
def test_agrees_with_libreoffice_on_shared_formulas(mazur, tmp_path):
    shared = with_shared_training(mazur, tmp_path / "shared.xlsx")
    got, want = evaluate(shared, "compiled"), evaluate(shared, "libreoffice")
    assert set(got) == set(want)
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-13, abs=1e-15), key  # LibreOffice: 15 digits
        else:
            assert got[key] == value, key


# --- the parser ----------------------------------------------------------------------------------

def test_a_filled_down_column_has_one_shape():
    shapes = {xlparse.parse(f"B{r - 1}-eta*X{r - 1}+$A$1+A$7+$C{r}", r, 2).ast for r in range(2, 500)}
    assert len(shapes) == 1
    assert xlparse.parse("B1", 2, 2).ast != xlparse.parse("B1", 3, 2).ast


@pytest.mark.parametrize("text", ['"{}{{"&A1', "'x''y'!A1+'\\'!B2", '"\\n\\\\"&"\'"&A1', "A1&\"}\""])
def test_predictor_rebuilds_the_text(text):
    parsed = xlparse.parse(text, 5, 3)
    namespace = {"L": xlsxread.LETTERS}
    exec(xlparse.predictor_source(text, parsed.holes, "p"), namespace)
    assert namespace["p"](5, 3) == text
    moved = namespace["p"](6, 4)
    assert xlparse.parse(moved, 6, 4).ast == parsed.ast


def test_nesting_limit():
    xlparse.parse("(" * 64 + "1" + ")" * 64)
    with pytest.raises(xlparse.FormulaSyntaxError):
        xlparse.parse("(" * 65 + "1" + ")" * 65)
    with pytest.raises(xlparse.FormulaSyntaxError):
        xlparse.parse("-" * 100 + "1")
