"""What a student and an instructor read: the student's view (the verdict, what to fix first, each
cell to fix in the student's own words), one total for the class in every report, and the small
things of issue 22 (numbers as a spreadsheet shows them, where the output goes)."""

from __future__ import annotations

import csv
import io
import json
import re

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.grading.grade import grade_file
from sheetprop.model import graph as G
from sheetprop.model import reference as R
from sheetprop.model.spec import load_spec
from sheetprop.reports.student import brief_lines, student_view
from sheetprop.reports.text import gradescope

from students import Sheet, workbook

NOBIAS = load_spec("mazur-nobias")
SHEETPROP_NAMES = re.compile(r"\b(?:grad_w_\d|delta_\w+|dE_dout_\w+|dout_dnet_\w+|new_w_\d|target_o\d)\b")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("view")


@pytest.fixture(scope="module")
def copied(folder):
    """A student who copied an example with b_1 into a handout without biases, used i_1 twice in
    net_h2, and stepped with the gradient in new_w_5."""
    handout = folder / "handout.xlsx"
    assert run("generate", "mazur-nobias", "--exercise", "-o", handout).exit_code == 0
    wb = openpyxl.load_workbook(handout)
    formulas = {n: "=" + f for n, f in G.build(NOBIAS).formulas().items()}
    formulas |= {"net_h1": "=w_1*i_1+w_2*i_2+b_1", "net_h2": "=w_3*i_1+w_4*i_1", "new_w_5": "=w_5+eta*grad_w_5"}
    for name, text in formulas.items():
        sheet, ref = wb.defined_names[name].attr_text.split("!")
        wb[sheet][ref.replace("$", "")].value = text
    wb.save(folder / "copied.xlsx")
    return folder / "copied.xlsx"


@pytest.fixture(scope="module")
def priya(folder):
    """A real student's layout: a row per update under a header of their own words, factors folded."""
    return workbook(folder / "priya.xlsx", Sheet(mistakes={"grad_w_5": "missing_brackets"}))


def cell_of(book, name):
    return openpyxl.load_workbook(book).defined_names[name].attr_text.replace("$", "")


def test_the_brief_view_gives_each_cell_to_fix_with_the_students_formula(copied):
    result = run("check", copied, "--spec", "mazur-nobias", "--brief")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{copied}: 36 / 39 points (34 carried forward, 2 incorrect, 1 error)"
    net_h1, net_h2 = cell_of(copied, "net_h1"), cell_of(copied, "net_h2")
    assert lines[1].startswith(f"Fix first: net_h1 ({net_h1}): Your sheet shows #NAME? here.")
    assert "b_1, which is not a name defined in this workbook" in lines[1]
    text = result.output
    # each cell to fix: the student's formula, what it should be (words and cells), expected and got
    assert "your formula:  =w_1*i_1+w_2*i_2+b_1" in text and "should be:     =w_1*i_1+w_2*i_2   i.e. =" in text
    assert "expected 0.0275, got #NAME?" in text
    # "you used i_1 twice" is the point, not "check the formula"
    assert f"You used i_1 ({net_h2.split('!')[1][:1]}" in text and "twice" in text
    assert "does not use i_2" in text and "check the formula" not in text
    # got is what the sheet shows; judged with net_h1's correct value in its place, the line says both
    new_w_5 = next(k for k, line in enumerate(lines) if line.strip().startswith("new_w_5 ("))
    got = next(line for line in lines[new_w_5:] if "expected" in line)
    assert re.search(r"got #NAME\? \(0\.43\d+ when judged with correct values in place of the errors before it\)",
                     got)
    assert any("because net_h1 is an error" in line for line in lines[new_w_5:])
    # only what is to fix: the three cells, no right quantity
    listed = [m[1] for line in lines if (m := re.match(r"^  (\S+) \(\S+\)  [a-z_ ]+$", line))]
    assert listed == ["net_h1", "net_h2", "new_w_5"]


def test_the_full_report_leads_with_the_students_view(copied):
    brief = run("check", copied, "--spec", "mazur-nobias", "--only-wrong").output.splitlines()
    full = run("check", copied, "--spec", "mazur-nobias").output.splitlines()
    assert full[:len(brief)] == brief and "Every quantity:" in full
    # the sheet shows #NAME? in out_h1: the full list says so beside the value it was judged with
    out_h1 = next(line for line in full if line.strip().startswith("out_h1 "))
    assert "got #NAME? (0.506874567 judged)" in out_h1


def test_the_view_uses_the_students_own_words(priya):
    report = grade_file(priya, None)
    lines = brief_lines(report)
    text = "\n".join(lines)
    assert lines[0] == f"{priya}: 37.56 / 39 points (1 carried forward, 1 incorrect, 1 training table with a wrong row)"
    assert lines[1].startswith("Fix first: ∂E/∂w5 (Sheet1!")  # the student's header word and cell
    assert "should be:     =(a_o1-t1)*a_o1*(1-a_o1)*a_h1   i.e. =(" in text
    assert "Missing brackets: only the target is scaled." in text  # one point per sentence
    assert not SHEETPROP_NAMES.search(text), SHEETPROP_NAMES.findall(text)
    view = student_view(report).to_json()  # the same, as data (for a web page)
    entry, = view["entries"]
    assert (entry["word"], entry["status"], entry["formula"]) == ("∂E/∂w5", "incorrect", report_formula(report))
    assert entry["expected"] == pytest.approx(R.solve(NOBIAS).values["grad_w_5"])
    assert view["score"] == 37.56 and view["total"] == 39 and view["tables"]


def report_formula(report):
    return next(i.formula for i in report.items if i.name == "grad_w_5")


def test_given_values_read_from_the_workbook_are_not_listed_as_correct(priya):
    result = run("check", priya)
    assert "no spec given" in result.output
    assert not re.search(r"^\s+(eta|w_\d|i_\d|target_o\d)\s", result.output, re.MULTILINE)
    with_spec = run("check", priya, "--spec", "mazur-nobias").output
    assert re.search(r"^\s+eta\s+Sheet1!B3\s+correct", with_spec, re.MULTILINE)  # with a spec they are checked


# ---------------------------------------------------------------- one total for the class


@pytest.fixture(scope="module")
def klass(folder, copied, priya):
    empty = folder / "empty.xlsx"
    openpyxl.Workbook().save(empty)
    renamed = folder / "renamed.xlsx"
    renamed.write_text("student,score\nx,1\n")
    folded = workbook(folder / "dan.xlsx", Sheet())  # every factor folded: fewer quantities shown
    return [copied, priya, empty, renamed, folded]


def test_every_report_gives_one_total_for_the_class(folder, klass):
    out_csv, out_html = folder / "grades.csv", folder / "class.html"
    result = run("check", *klass, "--spec", "mazur-nobias", "--csv", out_csv, "--html", out_html)
    assert result.exit_code == 2
    table = result.output.splitlines()[result.output.splitlines().index("") + 1:]
    scores = [line.split()[1] for line in table[1:]]
    assert scores == ["36/39", "37.56/39", "0/39", "error", "39/39"]
    assert "nothing to grade" in table[3]
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert [(r["score"], r["max_score"], r["percent"]) for r in rows] == [
        ("36", "39", "92.31"), ("37.56", "39", "96.31"), ("0", "39", "0"), ("0", "39", "0"), ("39", "39", "100")]
    assert rows[2]["first_mistake"] == "nothing to grade"
    data = json.loads(run("check", *klass, "--spec", "mazur-nobias", "--json").output)
    assert [(d["score"], d["max_score"]) for d in data] == [(36, 39), (37.56, 39), (0, 39), (0, 39), (39, 39)]
    assert data[4]["points"] == data[4]["points_possible"] == 27  # what the folded sheet itself shows
    assert data[2]["nothing_to_grade"] and not data[1]["nothing_to_grade"]
    page = out_html.read_text()
    for shown in ("36 / 39", "37.56 / 39", "0 / 39", "39 / 39"):
        assert f"<td>{shown}</td>" in page


def test_an_empty_workbook_has_nothing_to_grade(klass):
    empty = klass[2]
    result = run("check", empty, "--spec", "mazur-nobias")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == f"{empty}: 0 / 39 points (nothing to grade)"
    assert "Nothing of the exercise was found" in result.output
    results = gradescope(grade_file(empty, NOBIAS))
    assert results["score"] == 0 and results["output"].startswith(f"{empty}: 0 / 39 points (nothing to grade)")


def test_gradescope_says_each_point_once(priya):
    results = gradescope(grade_file(priya, NOBIAS), total=39)
    assert results["score"] == 37.56
    tests = {t["name"]: t for t in results["tests"]}
    carried = tests["new_w_5"]["output"]
    assert carried.startswith("carried forward: your value") and carried.count("right given your own") == 1
    assert "an earlier difference carried forward" not in carried  # the same point, said once
    wrong = tests["grad_w_5"]["output"]
    assert wrong.count("Missing brackets") == 1 and "grad_w_5" not in wrong


# ---------------------------------------------------------------- the small ones


def test_reference_prints_numbers_as_the_workbook_shows_them():
    text = run("reference", "mazur").output
    assert re.search(r"^\s+net_h2\s+0\.3925$", text, re.MULTILINE)
    assert "0.39249999999999996" not in text
    data = json.loads(run("reference", "mazur", "--json").output)
    assert data["names"]["net_h2"] == 0.39249999999999996  # JSON keeps every digit


def test_help_says_where_the_output_goes():
    generate = " ".join(run("generate", "--help").output.split())
    assert "to a file: -o, else SPEC's name with .xlsx in the current folder" in generate
    explain = " ".join(run("explain", "--help").output.split())
    assert "markdown to standard output" in explain and "the file -o names" in explain
