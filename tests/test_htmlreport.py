"""`sheetprop check --html`: the class page, on a small class graded for real.

The class: a right and a wrong Mazur exercise (the wrong one twice, under a hostile file name),
a file that is not a workbook, and two row-per-iteration sheets built as students build them
(tests/students.py), one right and one with a real mistake on a sheet with a hostile name.
The page is read back with the standard library's HTML parser, and rendered by headless
Chromium (skipped when it is not installed).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.grading.batch import grade_files
from sheetprop.grading.grade import FileReport, Item
from sheetprop.jsonout import dumps
from sheetprop.model import graph as G
from sheetprop.model import reference as R
from sheetprop.model.spec import load_spec
from sheetprop.reports.classpage import MAX_CURVE_POINTS, class_page, downsample, ranked_mistakes
from sheetprop.reports.text import student_names
from sheetprop.writing.workbook import write_workbook

import browser
from students import Sheet, workbook

MAZUR = load_spec("mazur")
HOSTILE_FILE = "<script>alert(1)</script>.xlsx"  # a folder `<script>alert(1)<` holding `script>.xlsx`
HOSTILE_SHEET = "<img src=x onerror=alert(1)>"

needs_chromium = pytest.mark.skipif(browser.CHROMIUM is None,
                                    reason="Chromium is not installed (apt-get install -y chromium): "
                                           "the page is not rendered")


# ---------------------------------------------------------------- the class


def solved(exercise: Path, out: Path, changes: dict | None = None) -> Path:
    """The exercise with every answer a right formula over its names; `changes` typed over some."""
    wb = openpyxl.load_workbook(exercise)
    for name, text in {**{n: "=" + f for n, f in G.build(MAZUR).formulas().items()}, **(changes or {})}.items():
        sheet, ref = wb.defined_names[name].attr_text.split("!")
        wb[sheet][ref.replace("$", "")].value = text
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("html")


@pytest.fixture(scope="module")
def paths(folder):
    exercise = folder / "exercise.xlsx"
    write_workbook(MAZUR, exercise, exercise={"forward", "loss", "backward", "gradients", "update"})
    right = solved(exercise, folder / "a" / "alice.xlsx")
    wrong = solved(exercise, folder / "bob.xlsx", {"dE_dout_h1": "=delta_o1*new_w_5+delta_o2*new_w_7",
                                                   "net_h2": 0.3925})
    hostile = folder / HOSTILE_FILE
    hostile.parent.mkdir()
    shutil.copy(wrong, hostile)
    broken = folder / "carol.xlsx"
    broken.write_text("name,score\ncarol,10\n")
    mistaken = Sheet(title=HOSTILE_SHEET, mistakes={"grad_w_5": "missing_brackets"})
    (folder / "b").mkdir()
    table_wrong = workbook(folder / "b" / "alice.xlsx", mistaken)
    table_right = workbook(folder / "dan.xlsx", Sheet())
    return [right, wrong, hostile, broken, table_wrong, table_right]


@pytest.fixture(scope="module")
def reports(paths):
    """Graded without a spec: each workbook's own network (the exercise's biases or the assignment's none)."""
    return grade_files(paths, None)


@pytest.fixture(scope="module")
def page(reports):
    return class_page(reports, title="Backprop <week 3>")


# ---------------------------------------------------------------- reading the page


class Node:
    """An element: its tag, attributes and children (elements and text)."""

    def __init__(self, tag: str, attrs: dict, parent: Node | None):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def all(self, tag: str, **wanted) -> list[Node]:
        """Every element below with this tag (and these attributes; `cls` is one of its classes)."""
        found = []
        for child in self.children:
            if isinstance(child, Node):
                classes = (child.attrs.get("class") or "").split()
                if child.tag == tag and all(v in classes if k == "cls" else child.attrs.get(k) == v
                                            for k, v in wanted.items()):
                    found.append(child)
                found += child.all(tag, **wanted)
        return found

    def one(self, tag: str, **wanted) -> Node:
        found = self.all(tag, **wanted)
        assert len(found) == 1, (tag, wanted, len(found))
        return found[0]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def elements(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.elements()


VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track",
                  "wbr"})  # elements without an end tag


class Tree(HTMLParser):
    """The page as a tree of `Node`s, text unescaped (what a browser shows)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(text: str) -> Node:
    tree = Tree()
    tree.feed(text)
    tree.close()
    return tree.root


def table_rows(doc: Node, table_id: str) -> list[list[Node]]:
    return [row.all("td") for row in doc.one("table", id=table_id).one("tbody").all("tr")]


def answers(report: FileReport) -> list[Item]:
    return [i for i in report.items if i.section != "given"]


# ---------------------------------------------------------------- the data behind the curves


def test_a_tables_json_holds_both_loss_curves_and_keeps_its_old_keys(reports):
    table = reports[5].training[0]  # dan: right
    assert {"sheet", "cell", "eta", "rows", "status", "first_wrong", "loss_last", "correct_last",
            "max_rel_deviation"} <= set(table)
    assert table["status"] == "correct" and table["rows"] == 30
    assert [k for k, _ in table["loss"]] == list(range(30))
    assert len(table["correct_loss"]) == 30
    assert [v for _, v in table["loss"]] == pytest.approx(table["correct_loss"], rel=1e-12)
    assert table["loss_last"] == table["loss"][-1][1] and table["correct_last"] == table["correct_loss"][-1]
    assert table["loss"][0][1] == pytest.approx(R.first_update_names(load_spec("mazur-nobias"))["E_total"])
    wrong = reports[4].training[0]  # b/alice: grad_w_5 missing its brackets, copied down
    assert wrong["status"] == "incorrect" and wrong["first_wrong"]["name"] == "grad_w_5"
    assert wrong["loss"][-1][1] != pytest.approx(wrong["correct_loss"][-1], rel=1e-3)
    assert json.loads(dumps(reports[4].to_json()))["training"][0]["loss"] == wrong["loss"]


# ---------------------------------------------------------------- the page as text


def test_the_page_is_self_contained(page):
    doc = parse(page)
    tags = {node.tag for node in doc.elements()}
    assert tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "b", "code", "div", "span",
                    "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "figure", "figcaption",
                    "svg", "rect", "line", "polyline", "text"}, tags
    assert not {"script", "link", "img", "iframe", "object", "embed"} & tags
    attributes = {name for node in doc.elements() for name in node.attrs}
    assert not {"src", "href", "srcset", "xlink:href", "action"} & attributes
    assert not any(name.startswith("on") for name in attributes)
    assert "http://" not in page and "https://" not in page  # nor the SVG namespace: HTML needs none
    assert not re.search(r"url\s*\(|@import|@font-face", page, re.IGNORECASE)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert len(doc.all("svg")) == 3  # the histogram and two loss curves


def test_student_text_is_escaped(page):
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.xlsx" in page  # the hostile file's path, as its row's tooltip
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the sheet name, in diagnoses and captions
    doc = parse(page)
    assert doc.one("h1").text() == "Backprop <week 3>" and doc.one("head").one("title").text() == "Backprop <week 3>"
    rows = doc.one("table", id="class").one("tbody").all("tr")
    assert rows[2].all("td")[0].attrs["title"].endswith(HOSTILE_FILE)


def test_hostile_text_anywhere_in_a_report_stays_text():
    evil = '"><script src="https://evil.example/x.js"></script>'
    item = Item(name="net_h1", cell=f"'{evil}'!B7", status="incorrect", expected=0.3775, got=evil,
                diagnosis=f"label {evil} \u202e reversed", mistake=evil, section="forward")
    table = {"sheet": evil, "cell": f"{evil}!A1", "eta": 0.5, "rows": 2, "status": "incorrect",
             "first_wrong": {"update": 1, "name": "E_total", "cell": evil, "expected": 1.0, "got": evil},
             "loss": [[0, 1.0], [1, 2.0]], "correct_loss": [1.0, 0.5]}
    page = class_page([FileReport(file=f"{evil}.xlsx", items=[item], training=[table]),
                       FileReport(file="x.xlsx", error=f"x.xlsx: {evil}")], title=evil)
    doc = parse(page)
    assert not doc.all("script") and "\u202e" not in page
    assert not {"src", "href"} & {name for node in doc.elements() for name in node.attrs}
    assert page.count("https://evil.example") == page.count("&quot;https://evil.example/x.js&quot;&gt;")
    cell = doc.one("td", cls="incorrect")
    assert f"got: {evil}" in cell.attrs["title"] and f"label {evil} ? reversed" in cell.attrs["title"]


def test_the_class_table_has_one_row_per_file(page, reports):
    rows = table_rows(parse(page), "class")
    names = student_names(reports)
    assert [r[0].text() for r in rows] == names == ["a/alice", "bob", "script>", "carol", "b/alice", "dan"]
    # one total for the class: the folded sheets (26 of the 27 points they show) are scored out of 39 too,
    # and a file that could not be graded scores 0 of it
    assert [r[1].text() for r in rows] == ["39 / 39", "37 / 39", "37 / 39", "0 / 39", "37.56 / 39", "39 / 39"]
    assert rows[0][2].text() == "-" and rows[5][2].text() == "-"
    assert rows[1][2].text().startswith("dE_dout_h1: incorrect: used the updated weights new_w_5 and new_w_7")
    assert rows[4][2].text().startswith("grad_w_5: incorrect: missing brackets")
    assert [r[3].text() for r in rows if r[3].text()] == [rows[3][3].text()]  # only carol's file has an error
    assert rows[3][3].text().startswith("could not be graded: a text file") and "not an .xlsx workbook" \
        in rows[3][3].text()


def test_the_heat_map_shows_every_answer_by_status(page, reports):
    doc = parse(page)
    heat = doc.one("table", id="heatmap")
    columns = [th.text() for th in heat.all("th", cls="q")]
    assert columns[:3] == ["net_h1", "net_h2", "out_h1"] and "dE_dout_h1" in columns and "new_b_2" in columns
    assert not {"eta", "w_1", "i_1", "target_o1"} & set(columns)  # given values are not answers
    rows = table_rows(doc, "heatmap")
    assert [r[0].text() for r in rows] == student_names(reports)
    for row, report in zip(rows, reports):
        cells = row[1:]
        if report.error:
            assert len(cells) == 1 and cells[0].text() == "could not be graded"
            continue
        assert len(cells) == len(columns)
        shown = {col: cell.attrs.get("data-status") for col, cell in zip(columns, cells)}
        assert {col: s for col, s in shown.items() if s} == {i.name: i.status for i in answers(report)}
    bob = dict(zip(columns, rows[1][1:]))
    assert bob["net_h2"].attrs["data-status"] == "hardcoded" and bob["net_h2"].text() == "#"
    tip = bob["dE_dout_h1"].attrs["title"].split("\n")
    assert tip[0] == "bob · dE_dout_h1 (Network!D55)" and tip[1] == "status: incorrect"
    assert tip[2] == "got: 0.0302297395" and tip[3] == "expected: 0.0363503064"
    assert tip[4].startswith("used the updated weights new_w_5 and new_w_7")
    assert bob["delta_h1"].attrs["data-status"] == "carried_forward"
    table = dict(zip(columns, rows[4][1:]))  # a student's table folds ∂E/∂out and δ into the gradients
    assert "data-status" not in table["delta_o1"].attrs and table["delta_o1"].text() == ""
    assert table["grad_w_5"].attrs["data-status"] == "incorrect"
    legend = doc.one("ul", cls="legend").text()
    total = sum(1 for r in reports for i in answers(r) if i.status == "incorrect")
    assert f"incorrect ({total})" in legend and "carried forward" in legend and "blank" in legend


def test_the_mistakes_are_ranked_by_how_many_students_made_them(page, reports):
    rows = table_rows(parse(page), "mistakes")
    shown = [(r[0].text(), r[1].text(), r[3].text(), r[4].text()) for r in rows]
    assert shown[0] == ("2", "updated_weights", "dE_dout_h1", "bob, script>")
    assert ("1", "missing_brackets", "grad_w_5", "b/alice") in shown
    assert [int(n) for n, *_ in shown] == sorted((int(n) for n, *_ in shown), reverse=True)
    first = next(i for i in reports[1].items if i.mistake == "updated_weights")
    assert rows[0][2].text() == first.diagnosis
    ids = {i.mistake for r in reports for i in r.items if i.mistake}
    assert {m.id for m in ranked_mistakes(reports, student_names(reports))} == ids == {r[1] for r in shown}


def test_the_scores_are_a_histogram(page, reports):
    svg = parse(page).one("svg", id="scores")
    bars = svg.all("rect")
    assert len(bars) == 11  # ten tenths of the maximum, and full marks
    counts = [int(bar.one("title").text().split()[0]) for bar in bars]
    assert counts == [0] * 9 + [3, 2]  # carol could not be graded
    assert [bar.one("title").text() for bar in bars[9:]] == ["3 students scored 90% to under 100%",
                                                             "2 students scored 100%"]
    heights = [float(bar.attrs["height"]) for bar in bars]
    assert heights[9] == 1.5 * heights[10] > 0 and heights[:9] == [0.0] * 9


def points(polyline: Node) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in polyline.attrs["points"].split()]


def test_each_table_has_its_loss_curve_beside_the_correct_one(page):
    doc = parse(page)
    figures = doc.all("figure", cls="curve")
    assert [f.one("figcaption").text().split(":")[0] for f in figures] == ["b/alice", "dan"]
    wrong, right = ([points(f.one("polyline", cls=c)) for c in ("student-run", "correct-run")] for f in figures)
    assert len(right[0]) == len(right[1]) == 30 and right[0] == right[1]  # dan's run is the correct run
    assert len(wrong[0]) == 30 and wrong[0] != wrong[1]
    assert wrong[0][-1][1] > wrong[1][-1][1]  # b/alice's loss ends below the correct run's (y grows downwards)
    assert HOSTILE_SHEET in figures[0].one("figcaption").text()
    assert "first wrong at update 0: grad_w_5" in figures[0].one("figcaption").text()


def test_long_curves_are_downsampled():
    assert downsample(list(range(10)), 200) == list(range(10))
    thin = downsample(list(range(10_001)), 200)
    assert len(thin) == 200 and thin[0] == 0 and thin[-1] == 10_000 and thin == sorted(set(thin))
    table = {"sheet": "Training", "cell": "Training!A2", "eta": 0.5, "rows": 10_001, "status": "correct",
             "first_wrong": None, "loss": [[k, 1 / (k + 1)] for k in range(10_001)],
             "correct_loss": [1 / (k + 1) for k in range(10_001)]}
    doc = parse(class_page([FileReport(file="long.xlsx", training=[table])]))
    for line in doc.all("polyline"):
        assert len(points(line)) == MAX_CURVE_POINTS
    assert "10000" in doc.one("svg", cls="loss").text()  # the x axis ends at the last update


# ---------------------------------------------------------------- the command


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_check_writes_the_page_after_grading(paths, folder):
    out = folder / "out" / "class.html"
    out.parent.mkdir()
    result = run("check", paths[0], paths[3], "--spec", "mazur", "--html", out, "--csv", folder / "out" / "g.csv")
    assert result.exit_code == 2  # carol's file cannot be used
    doc = parse(out.read_text(encoding="utf-8"))
    assert doc.one("h1").text() == "Mazur 2-2-2 (step by step backpropagation): class report"
    assert [r[0].text() for r in table_rows(doc, "class")] == ["alice", "carol"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["class.html", "g.csv"]  # no temporary file left


def test_an_unusable_html_output_is_refused_before_grading(paths, folder):
    result = run("check", paths[0], "--spec", "mazur", "--html", folder / "nowhere" / "class.html")
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and "the folder" in result.output and "does not exist" in result.output
    assert "39 / 39" not in result.output  # nothing was graded
    result = run("check", paths[0], "--spec", "mazur", "--html", paths[0])
    assert result.exit_code == 2 and "--html: that is one of the input files" in result.output
    same = folder / "same.out"
    result = run("check", paths[0], "--spec", "mazur", "--html", same, "--csv", same)
    assert result.exit_code == 2 and "must be different files" in result.output and not same.exists()


# ---------------------------------------------------------------- in a browser


PROBE = """<script>
const cell = s => document.querySelector(`#heatmap td[data-status="${s}"]`);
const size = e => { const r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
document.getElementById("probe").textContent = JSON.stringify({
  colours: Object.fromEntries(["correct", "incorrect", "hardcoded", "carried_forward"].map(
    s => [s, getComputedStyle(cell(s)).backgroundColor])),
  heatmap: size(document.getElementById("heatmap")),
  svgs: [...document.querySelectorAll("svg")].map(size),
});
</script>"""


@pytest.fixture(scope="module")
def html_file(folder, page):
    path = folder / "class.html"
    path.write_text(page, encoding="utf-8")
    return path


@pytest.mark.chromium
@needs_chromium
def test_chromium_renders_the_page_to_a_picture(folder, html_file):
    png = browser.screenshot(html_file, folder / "class.png", 1400, 1800)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1400, 1800)
    empty = folder / "empty.html"
    empty.write_text("<!DOCTYPE html><title>empty</title>", encoding="utf-8")
    blank = browser.screenshot(empty, folder / "empty.png", 1400, 1800).read_bytes()
    assert len(data) > 10 * len(blank)  # tables, colours and charts, not a white page


@pytest.mark.chromium
@needs_chromium
def test_chromium_builds_the_dom_we_wrote(html_file, reports):
    doc = parse(browser.dump_dom(html_file))
    assert not doc.all("script") and not doc.all("img")  # the hostile names stayed text
    assert len(table_rows(doc, "class")) == len(reports) == 6
    assert len(table_rows(doc, "heatmap")) == len(reports)
    cells = doc.one("table", id="heatmap").all("td")
    statuses = [td.attrs["data-status"] for td in cells if "data-status" in td.attrs]
    assert len(statuses) == sum(len(answers(r)) for r in reports)
    assert statuses.count("incorrect") == sum(1 for r in reports for i in answers(r) if i.status == "incorrect")
    assert len(doc.all("svg")) == 3 and len(doc.all("polyline")) == 4
    assert HOSTILE_SHEET in doc.all("figcaption")[0].text()


@pytest.mark.chromium
@needs_chromium
def test_chromium_lays_out_the_colours_and_charts(folder, page):
    probed = folder / "probed.html"  # the page with a probe script added here, for the test only
    probed.write_text(page.replace("</body>", '<pre id="probe"></pre>' + PROBE + "</body>"), encoding="utf-8")
    found = json.loads(parse(browser.dump_dom(probed)).one("pre", id="probe").text())
    assert found["colours"] == {"correct": "rgb(165, 214, 167)", "incorrect": "rgb(239, 83, 80)",
                                "hardcoded": "rgb(255, 183, 77)", "carried_forward": "rgb(220, 237, 200)"}
    width, height = found["heatmap"]
    assert width > 43 * 18 and height > 6 * 20  # 43 answers of at least 18 px, six students
    assert found["svgs"] == [[500, 200], [310, 170], [310, 170]]
