"""`sheetprop check`: students' workbooks built the way students build them, graded.

Three kinds of student file: formulas typed over the exercise's names; a free layout
with labels and plain cell references and no names at all; and either of them saved by
LibreOffice (stored results present). Every mistake of the BRIEF is injected and must be
diagnosed, with the cells after it carried forward.
"""

import json
import pickle
import re
import shutil
import subprocess
import uuid
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.grading import candidates as C
from sheetprop.grading import mistakes as M
from sheetprop.grading.grade import GradeOptions, grade_file
from sheetprop.grading.judge import points_for
from sheetprop.grading.locate import parse_map
from sheetprop.grading.vocabulary import aliases, normalise
from sheetprop.model import graph as G
from sheetprop.model import reference as R
from sheetprop.model.network import with_epochs
from sheetprop.model.randomspec import random_spec
from sheetprop.model.spec import load_spec, validate
from sheetprop.reports.text import exit_code
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice

MAZUR = load_spec("mazur")


# ---------------------------------------------------------------- building students' files


def formulas_of(spec) -> dict[str, str]:
    """The right formula of every answer, written with the BRIEF names (as the layout has them)."""
    return G.build(spec).formulas()


def cell_of(wb, name):
    sheet, ref = wb.defined_names[name].attr_text.split("!")
    return wb[sheet][ref.replace("$", "")]


def solve(exercise, out, spec, changes=None, clear=()):
    """Fill the exercise's answer cells with formulas over its names; `changes` types other contents."""
    wb = openpyxl.load_workbook(exercise)
    for name, text in formulas_of(spec).items():
        cell_of(wb, name).value = "=" + text
    for name, value in (changes or {}).items():
        cell_of(wb, name).value = value
    for name in clear:
        cell_of(wb, name).value = None
    wb.save(out)
    return out


def tutorial_label(name: str, k: int) -> str:
    """How a student might label a quantity: "net h1", "NET_H1", "δo1", "∂E/∂w5", "new w5"…"""
    m = re.fullmatch(r"(grad|new)_([wb])_(\w+)", name)
    if k % 3 == 1:
        return name.upper()
    if m:
        return f"∂E/∂{m[2]}{m[3]}" if m[1] == "grad" else f"new {m[2]}{m[3]}"
    m = re.fullmatch(r"([wbi])_(\w+)", name)
    if m:
        return f"{m[1]}{m[2]}"
    for prefix, shown in (("delta_", "δ"), ("dE_dout_", "∂E/∂out_"), ("E_total", "E total")):
        if name.startswith(prefix):
            return shown + name[len(prefix):]
    if name.startswith("dout_dnet_"):
        lab = name[len("dout_dnet_"):]
        return f"∂out_{lab}/∂net_{lab}"
    return "learning rate η" if name == "eta" else name.replace("_", " ")


def free_layout(spec, out, changes=None, drop=()):
    """A student's own sheet: labels in column A, values in C, plain cell references, no names.

    The weights sit in a header row with their values below it. `changes` replaces a
    quantity's formula (written with names, translated to cells); `drop` leaves a label out.
    """
    net = R.solve(spec)
    formulas = {**formulas_of(spec), **(changes or {})}
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "My work"
    ws["A1"] = "Backpropagation homework"
    where: dict[str, str] = {}
    weights = [n for n in net.graph.givens if n.startswith("w_")]
    for k, name in enumerate(weights):
        ws.cell(3, 1 + k, tutorial_label(name, 0))
        ws.cell(4, 1 + k, net.values[name])
        where[name] = ws.cell(4, 1 + k).coordinate
    rest = [n for n in net.graph.worked if n not in weights and n not in drop]
    for row, name in enumerate(rest, start=6):
        where[name] = f"C{row}"
    for k, name in enumerate(rest):
        row = 6 + k
        ws.cell(row, 1, tutorial_label(name, k))
        if k % 4 == 2:
            ws.cell(row, 2, "→")  # text between a label and its value is passed over
        value = net.values[name] if name in net.graph.givens else "=" + re.sub(
            r"\b[A-Za-z_][A-Za-z0-9_]*\b(?!\()", lambda m: where.get(m[0], m[0]), formulas[name])
        ws.cell(row, 3, value)
    wb.save(out)
    return out


def statuses(report):
    return {i.name: i.status for i in report.items}


def item(report, name):
    return next(i for i in report.items if i.name == name)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("students")


@pytest.fixture(scope="module")
def exercises(folder):
    paths = {}
    for name in ("mazur", "xor", "perceptron", "vandermerwe"):
        paths[name] = folder / f"{name}-exercise.xlsx"
        write_workbook(load_spec(name), paths[name], exercise=set(G.SECTIONS))
    return paths


@pytest.fixture(scope="module")
def good(exercises, folder):
    return solve(exercises["mazur"], folder / "good.xlsx", MAZUR)


@pytest.fixture(scope="module")
def good_report(good):
    return grade_file(good, MAZUR)


# ---------------------------------------------------------------- a right solution


def test_a_right_solution_typed_over_the_names_is_all_correct(good_report):
    r = good_report
    assert r.error is None and r.all_right
    assert set(statuses(r).values()) == {"correct"}
    answers = [i for i in r.items if i.section != "given"]
    assert len(answers) == 43 and r.score == r.max_score == 39  # the frozen biases' 4 cells count no points
    assert all(i.found_by == "name" and i.cell.startswith("Network!D") for i in r.items)
    assert item(r, "net_h1").got == pytest.approx(0.3775)
    assert item(r, "new_w_5").got == pytest.approx(0.35891648)


def test_the_generated_workbook_itself_grades_as_right(folder):
    key = folder / "key.xlsx"
    write_workbook(with_epochs(MAZUR, 1), key)
    report = grade_file(key, MAZUR)
    assert report.all_right and not any(i.stale for i in report.items)


@pytest.mark.parametrize("preset", ["xor", "vandermerwe", "perceptron"])
def test_right_solutions_of_other_presets(exercises, folder, preset):
    spec = load_spec(preset)
    report = grade_file(solve(exercises[preset], folder / f"{preset}-good.xlsx", spec), spec)
    assert report.all_right, [(i.name, i.status, i.diagnosis) for i in report.items if i.status != "correct"]
    if preset == "vandermerwe":
        assert "net_h1_s4" in statuses(report) and "E_s2" in statuses(report)


@pytest.mark.parametrize("seed", [0, 6, 10])  # softmax + cross-entropy; two hidden layers, several samples
def test_random_specs_typed_over_names_and_in_a_free_layout(folder, seed):
    spec = validate(random_spec(seed))
    exercise = folder / f"random{seed}-exercise.xlsx"
    write_workbook(spec, exercise, exercise=set(G.SECTIONS))
    for path in (solve(exercise, folder / f"random{seed}.xlsx", spec), free_layout(spec, folder / f"random{seed}-free.xlsx")):
        report = grade_file(path, spec)
        assert report.all_right, [(i.name, i.status, i.cell) for i in report.items if i.status != "correct"][:5]


# ---------------------------------------------------------------- every BRIEF mistake


CASES = [
    # (preset, mistake id, formulas typed instead of the right ones, a cell after it)
    ("mazur", "updated_weights", {"dE_dout_h1": "delta_o1*new_w_5+delta_o2*new_w_7"}, "new_w_1"),
    ("mazur", "derivative_left_out", {"delta_o1": "dE_dout_o1"}, "dE_dout_h1"),
    ("mazur", "derivative_of_net", {"dout_dnet_o1": "net_o1*(1-net_o1)"}, "new_w_5"),
    ("mazur", "derivative_of_net", {"delta_h2": "dE_dout_h2*net_h2*(1-net_h2)"}, "new_w_4"),
    ("mazur", "update_sign", {"new_w_5": "w_5+eta*grad_w_5"}, None),
    ("mazur", "target_minus_output", {"dE_dout_o1": "target_o1-out_o1"}, "grad_w_5"),
    ("mazur", "half_dropped_in_loss", {"E_o1": "(target_o1-out_o1)^2"}, "E_total"),
    ("mazur", "half_dropped_in_gradient", {"dE_dout_o2": "2*(out_o2-target_o2)"}, "new_w_8"),
    ("mazur", "one_output_only", {"dE_dout_h1": "delta_o1*w_5"}, "new_w_2"),
    ("mazur", "weights_swapped", {"net_h1": "w_1*i_1+w_3*i_2+b_1", "net_h2": "w_2*i_1+w_4*i_2+b_1"}, "E_total"),
    ("mazur", "weights_swapped", {"dE_dout_h1": "delta_o1*w_5+delta_o2*w_6"}, "new_w_1"),
    ("mazur", "eta_left_out", {"new_w_5": "w_5-grad_w_5"}, None),
    ("mazur", "frozen_bias_updated", {"new_b_2": "b_2-eta*grad_b_2"}, None),
    ("xor", "bias_not_trained", {"new_b_h1": "b_h1"}, None),
    ("perceptron", "half_added_to_loss", {"E_o1": "0.5*(target_o1-out_o1)^2"}, "E_total"),
    ("perceptron", "half_added_to_gradient", {"dE_dout_o1": "out_o1-target_o1"}, "new_w_1"),
    ("mazur", "activation_left_out", {"out_h1": "net_h1"}, "net_o2"),
    ("mazur", "wrong_neuron", {"grad_w_6": "delta_o2*out_h2"}, "new_w_6"),
    ("mazur", "net_instead_of_out", {"net_o1": "w_5*net_h1+w_6*net_h2+b_2"}, "E_total"),
    ("mazur", "dE_dout_instead_of_delta", {"dE_dout_h2": "dE_dout_o1*w_6+dE_dout_o2*w_8"}, "grad_w_3"),
    ("xor", "sum_for_mean", {"grad_w_5": "SUM(delta_o1_s1*out_h1_s1,delta_o1_s2*out_h1_s2,"
                                         "delta_o1_s3*out_h1_s3,delta_o1_s4*out_h1_s4)"}, "new_w_5"),
]


@pytest.mark.parametrize("preset,mistake,changes,after", CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_each_mistake_is_named_and_the_cells_after_it_carried_forward(exercises, folder, preset, mistake, changes, after):
    spec = load_spec(preset)
    path = solve(exercises[preset], folder / f"{preset}-{mistake}-{len(changes)}-{abs(hash(str(changes)))}.xlsx",
                 spec, {k: "=" + v for k, v in changes.items()})
    report = grade_file(path, spec)
    for name in changes:
        it = item(report, name)
        assert it.status == "incorrect" and it.mistake == mistake, (it.status, it.mistake, it.diagnosis)
        assert it.points == 0
    others = {n: s for n, s in statuses(report).items() if n not in changes}
    assert set(others.values()) <= {"correct", "carried_forward"}, others
    if after:
        assert others[after] == "carried_forward"
        assert item(report, after).points == item(report, after).max_points
    assert not report.all_right and exit_code([report]) == 1


def test_diagnosis_reads_as_advice(exercises, folder):
    path = solve(exercises["mazur"], folder / "advice.xlsx", MAZUR,
                 {"dE_dout_h1": "=delta_o1*new_w_5+delta_o2*new_w_7"})
    it = item(grade_file(path, MAZUR), "dE_dout_h1")
    assert it.diagnosis == ("used the updated weights new_w_5 and new_w_7; "
                            "use the weights from before the update (w_5 and w_7)")


# ---------------------------------------------------------------- statuses other than mistakes


@pytest.fixture(scope="module")
def odd_report(exercises, folder):
    """One file with a typed answer, a number-only formula, a cleared cell and broken formulas."""
    path = solve(exercises["mazur"], folder / "odd.xlsx", MAZUR, {
        "net_h1": 0.3775,  # typed
        "out_o2": "=0.7729284653",  # a formula of numbers only
        "grad_w_1": "=delta_h1*i_1+[1]Sheet1!A1",  # external link
        "grad_w_3": "=GAUSSIFY(delta_h2)*i_1",  # no such function
        "grad_w_4": "=delta_h2*i_2*fudge",  # undefined name
        "new_w_7": "=new_w_8+0",  # circular: new_w_8 refers back
        "new_w_8": "=new_w_7-eta*grad_w_8",
        "new_w_3": "=w_3-eta*grad_w_3",  # refers to the broken grad_w_3
    }, clear=["dE_dout_h1"])
    return grade_file(path, MAZUR)


def test_typed_numbers_are_hardcoded_and_earn_nothing(odd_report):
    it = item(odd_report, "net_h1")
    assert it.status == "hardcoded" and it.points == 0 and it.max_points == 1
    assert "write a formula" in it.diagnosis and "w_1" in it.diagnosis
    assert item(odd_report, "out_o2").status == "hardcoded"
    assert item(odd_report, "w_1").status == "correct"  # given values are typed numbers, rightly
    assert item(odd_report, "out_h1").status == "correct"  # computed from the typed value


def test_a_cleared_cell_is_missing_and_the_formulas_that_read_it_carry_forward(odd_report):
    it = item(odd_report, "dE_dout_h1")
    assert it.status == "missing" and "empty" in it.diagnosis
    assert item(odd_report, "delta_h1").status == "carried_forward"  # dE_dout_h1 read as 0
    assert item(odd_report, "delta_h1").got == 0
    assert item(odd_report, "new_w_2").status == "carried_forward"


def test_formulas_that_cannot_be_evaluated_say_why(odd_report):
    why = {n: item(odd_report, n).diagnosis for n in ("grad_w_1", "grad_w_3", "grad_w_4", "new_w_7")}
    assert all(item(odd_report, n).status == "error" for n in why), why
    assert "another workbook" in why["grad_w_1"]
    assert "GAUSSIFY" in why["grad_w_3"]
    assert "fudge" in why["grad_w_4"] and "not a name" in why["grad_w_4"]
    assert "circular" in why["new_w_7"]
    new_w_3 = item(odd_report, "new_w_3")  # judged on its own formula, with the right grad_w_3 substituted
    assert new_w_3.status == "correct" and "in place of the error in grad_w_3 (#NAME?)" in new_w_3.diagnosis


def test_given_values_swapped_are_named_and_everything_after_carries_forward(exercises, folder):
    path = solve(exercises["mazur"], folder / "swapped-givens.xlsx", MAZUR, {"w_2": 0.25, "w_3": 0.20})
    report = grade_file(path, MAZUR)
    for name in ("w_2", "w_3"):
        it = item(report, name)
        assert it.status == "incorrect" and it.mistake == "weights_swapped" and it.max_points == 0
    assert item(report, "net_h1").status == "carried_forward"
    assert {s for n, s in statuses(report).items() if n not in ("w_2", "w_3")} <= {"correct", "carried_forward"}
    assert report.score == report.max_score  # carried-forward work earns full credit by default


def test_stale_stored_results_are_reported(folder):
    key = folder / "stale-key.xlsx"
    write_workbook(with_epochs(MAZUR, 1), key)
    stale = folder / "stale.xlsx"
    with zipfile.ZipFile(key) as src, zipfile.ZipFile(stale, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'(<c r="D29"[^>]*><f>[^<]*</f><v>)[^<]*(</v>)', rb"\g<1>0.5\g<2>", data)
            dst.writestr(info, data)
    it = item(grade_file(stale, MAZUR), "net_h1")
    assert it.stale and it.status == "correct" and it.got == pytest.approx(0.3775)
    assert "stale" in it.diagnosis and "0.5" in it.diagnosis


# ---------------------------------------------------------------- a free layout: labels, cell references, no names


@pytest.fixture(scope="module")
def free(folder):
    return free_layout(MAZUR, folder / "free.xlsx")


def test_a_free_layout_is_found_by_labels_and_graded(free):
    report = grade_file(free, MAZUR)
    assert report.all_right, [(i.name, i.status, i.cell, i.diagnosis) for i in report.items if i.status != "correct"]
    assert all(i.found_by.startswith(("structure, label", "label")) for i in report.items)
    assert item(report, "w_5").cell == "'My work'!E4"  # below its label in a header row (quoted, as Excel writes it)
    assert item(report, "net_h1").found_by == "structure, label 'NET_H1' at 'My work'!A13"
    assert item(report, "E_total").found_by.startswith("structure, label 'E total'")


def test_a_mistake_in_a_free_layout_is_diagnosed_and_carried_forward(folder):
    path = free_layout(MAZUR, folder / "free-bad.xlsx", {"dE_dout_h2": "delta_o1*new_w_6+delta_o2*new_w_8"})
    report = grade_file(path, MAZUR)
    assert item(report, "dE_dout_h2").mistake == "updated_weights"
    assert item(report, "new_w_4").status == "carried_forward"
    assert {s for n, s in statuses(report).items() if n != "dE_dout_h2"} <= {"correct", "carried_forward"}


def test_a_map_finds_what_labels_cannot(folder):
    path = free_layout(MAZUR, folder / "free-unlabelled.xlsx", drop=["E_total"])
    wb = openpyxl.load_workbook(path)
    ws = wb["My work"]
    ws["F1"] = "=" + "+".join(ws.cell(r, 3).coordinate for r in range(1, ws.max_row + 1)
                              if ws.cell(r, 1).value in ("E o1", "E O1", "E_O1", "E o2", "E O2", "E_O2"))
    wb.save(path)
    unlabelled = item(grade_file(path, MAZUR), "E_total")  # its formula shows what it is
    assert (unlabelled.status, unlabelled.cell, unlabelled.found_by) == ("correct", "'My work'!F1", "structure")
    ws["F2"] = "=F1"
    wb.save(path)  # a copy of it elsewhere: the instructor's map says which cell is the answer
    cell_map = parse_map("E_total: \"'My work'!F2\"", G.build(MAZUR).names)
    it = item(grade_file(path, MAZUR, GradeOptions(cell_map=cell_map)), "E_total")
    assert (it.status, it.cell, it.found_by) == ("correct", "'My work'!F2", "map")


def test_labels_are_matched_loosely():
    for text, name in [("net h1", "net_h1"), ("NET_H1", "net_h1"), ("E total", "E_total"), ("new w5", "new_w_5"),
                       ("w5", "w_5"), ("target o1", "target_o1"), ("∂E/∂w5", "grad_w_5"), ("δo1", "delta_o1"),
                       ("w₅⁺", "new_w_5"), ("Learning rate:", "eta"), ("∂E/∂out_h1", "dE_dout_h1")]:
        assert normalise(text) in aliases(name), (text, name)


# ---------------------------------------------------------------- mistakes on values alone (every preset)


def close(a, b):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-9)


@pytest.mark.parametrize("preset", ["mazur", "hmkcode", "xor", "vandermerwe", "perceptron"])
def test_every_rule_reproduces_the_reference(preset):
    net = R.solve(load_spec(preset))
    for name, rule in net.rules.items():
        assert rule.apply(net.values) == pytest.approx(net.values[name], rel=1e-15, abs=1e-300)
        assert M.diagnose(net, rule, net.values[name] * 1.3719 + 0.01234567, net.values, close) is None


def test_total_error_with_the_updated_weights_is_named():
    net = R.solve(MAZUR)
    wrong = C._loss_with_new_params(net, net.values)
    found = M.diagnose(net, net.rules["E_total"], wrong, net.values, close)
    assert found.mistake == "loss_after_update" and "before the update" in found.text


def test_sum_over_outputs_averaged_is_named():
    net = R.solve(MAZUR)
    ref = net.values
    found = M.diagnose(net, net.rules["E_total"], (ref["E_o1"] + ref["E_o2"]) / 2, ref, close)
    assert found.mistake == "averaged_outputs"


# ---------------------------------------------------------------- points, options, purity


def test_points_by_name_section_pattern_and_default():
    points = {"net_h1": 3, "loss": 0, "new_*": 2, "default": 0.5}
    assert points_for("net_h1", "forward", points) == 3
    assert points_for("E_total", "loss", points) == 0
    assert points_for("new_w_5", "update", points) == 2
    assert points_for("delta_o1", "backward", points) == 0.5
    assert points_for("w_1", "given", points) == 0


@pytest.mark.parametrize("text, says", [
    ("net_hx: 1", ["net_hx: no such quantity or section (did you mean 'net_h2'?)"]),
    ("given: 1\nw_1: 3", ["given: a given value is never an answer and earns no points",
                          "w_1: a given value is never an answer and earns no points"]),
    ("'zzz*': 2", ["zzz*: the pattern matches no answer of this exercise"]),
    ("default: 0", ["every answer is worth 0 points; give some of them points"]),
    ("grad_b_1: 2", ["grad_b_1: the spec does not train it, so it is not an answer and earns no points"]),
])
def test_a_points_file_that_would_do_nothing_is_refused_key_by_key(tmp_path, text, says):
    points = tmp_path / "points.yaml"
    points.write_text(text + "\n", encoding="utf-8")
    for command in (["check", tmp_path / "none.xlsx", "--spec", "mazur"],
                    ["autograder", "--spec", "mazur", "-o", tmp_path / "ag.zip"]):
        result = run(*command, "--points", points)
        assert result.exit_code == 2
        assert result.output.splitlines() == [f"Error: {points}: {line}" for line in says]
    assert not (tmp_path / "ag.zip").exists()


def test_credit_for_carried_forward_and_hardcoded_work_is_configurable(exercises, folder):
    path = solve(exercises["mazur"], folder / "credit.xlsx", MAZUR,
                 {"delta_o1": "=dE_dout_o1", "net_h2": 0.3925})
    report = grade_file(path, MAZUR, GradeOptions(carried_forward_credit=0.5, hardcoded_credit=0.25,
                                                  points={"backward": 2}))
    cf = [i for i in report.items if i.status == "carried_forward"]
    assert cf and all(i.points == i.max_points / 2 for i in cf)
    assert item(report, "net_h2").points == 0.25
    assert item(report, "delta_o1").max_points == 2
    assert report.score == pytest.approx(sum(i.points for i in report.items))


def test_grade_file_takes_and_returns_picklable_values(good, good_report):
    options = GradeOptions(points={"default": 2}, cell_map={"net_h1": (None, "B2")})
    assert pickle.loads(pickle.dumps((good, MAZUR, options)))[1] == MAZUR
    assert pickle.loads(pickle.dumps(good_report)).to_json() == good_report.to_json()
    json.dumps(good_report.to_json())


def test_unreadable_files_are_errors_not_crashes(folder):
    text = folder / "notes.xlsx"
    text.write_text("not a workbook")
    for path in (text, folder / "nowhere.xlsx"):
        report = grade_file(path, MAZUR)
        assert report.error and "\n" not in report.error and report.items == []
        assert exit_code([report]) == 2


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def bad(exercises, folder):
    return solve(exercises["mazur"], folder / "bob.xlsx", MAZUR, {"new_w_5": "=w_5+eta*grad_w_5"})


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_check_one_right_file_exits_0(good):
    result = run("check", good, "--spec", "mazur")
    assert result.exit_code == 0, result.output
    assert "39 / 39 points (every answer is right)" in result.output.splitlines()[0]
    assert "found: 58 by name" in result.output


def test_check_one_wrong_file_exits_1_and_names_the_mistake(bad):
    result = run("check", bad, "--spec", "mazur")
    assert result.exit_code == 1
    assert "new_w_5" in result.output and "incorrect" in result.output
    assert "an update steps against the gradient" in result.output


def test_check_many_files_json_csv_and_a_broken_one(good, bad, folder):
    broken = folder / "carol.xlsx"
    broken.write_bytes(b"PK\x03\x04 truncated")
    csv_path = folder / "grades.csv"
    result = run("check", good, bad, broken, "--spec", "mazur", "--json", "--csv", csv_path)
    assert result.exit_code == 2
    data = json.loads(result.output)
    assert [d["file"] for d in data] == [str(good), str(bad), str(broken)]
    assert set(data[0]) >= {"file", "score", "max_score", "error", "items"}
    assert set(data[0]["items"][0]) >= {"name", "cell", "status", "expected", "got", "diagnosis"}
    assert data[1]["score"] == 38 and data[2]["error"] and data[2]["items"] == []
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("student,file,score,max_score,percent,correct,carried_forward")
    assert rows[2].startswith("bob,") and "new_w_5: incorrect" in rows[2]
    assert rows[3].startswith("carol,") and "zip" in rows[3]


def test_check_many_files_prints_a_summary_table(good, bad):
    result = run("check", good, bad, "--spec", "mazur")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("student")))
    assert "first mistake" in lines[header]
    assert lines[header + 1].split()[:3] == ["good", "39/39", "-"]
    assert lines[header + 2].split()[:3] == ["bob", "38/39", "new_w_5:"]
    detailed = run("check", good, bad, "--spec", "mazur", "--details").output
    assert detailed.count("found: 58 by name") == 2 and "against the gradient" in detailed


def test_check_writes_gradescope_results(bad, folder):
    out = folder / "results.json"
    result = run("check", bad, "--spec", "mazur", "--gradescope", out)
    assert result.exit_code == 1
    data = json.loads(out.read_text())
    assert data["score"] == 38
    tests = {t["name"]: t for t in data["tests"]}
    assert tests["new_w_5"]["status"] == "failed" and tests["new_w_5"]["max_score"] == 1
    assert "against the gradient" in tests["new_w_5"]["output"]
    assert tests["net_h1"]["status"] == "passed" and "w_1" not in tests  # given values are not tests
    broken = folder / "empty.xlsx"
    broken.write_bytes(b"")
    assert run("check", broken, "--spec", "mazur", "--gradescope", out).exit_code == 2
    data = json.loads(out.read_text())
    assert data["score"] == 0 and data["tests"] == [] and "the file is empty" in data["output"]


def test_check_usage_errors_exit_2(good, folder):
    assert run("check", good, good, "--spec", "mazur", "--gradescope", folder / "r.json").exit_code == 2
    bad_map = folder / "bad-map.yaml"
    bad_map.write_text("net_hl: Sheet1!B7\n")
    result = run("check", good, "--spec", "mazur", "--map", bad_map)
    assert result.exit_code == 2 and "did you mean net_h" in result.output
    bad_map.write_text("net_h1: B7:C9\n")
    assert "is not one cell" in run("check", good, "--spec", "mazur", "--map", bad_map).output
    points = folder / "points.yaml"
    points.write_text("net_h1: lots\n")
    assert run("check", good, "--spec", "mazur", "--points", points).exit_code == 2
    assert run("check", good, "--spec", "nosuchpreset").exit_code == 2


# ---------------------------------------------------------------- files saved by LibreOffice


def soffice_convert(files, outdir):
    """Open and save each file with LibreOffice (stored results written), as a student would."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    profile = f"file:///tmp/sheetprop-lo-{uuid.uuid4().hex}"
    outdir.mkdir(exist_ok=True)
    subprocess.run([exe, "--headless", f"-env:UserInstallation={profile}", "--convert-to", "xlsx",
                    "--outdir", str(outdir), *map(str, files)], check=True, capture_output=True, timeout=180)
    shutil.rmtree(profile[len("file://"):], ignore_errors=True)
    return [outdir / f.name for f in files]


@pytest.fixture(scope="module")
def saved_by_libreoffice(good, bad, free, folder):
    return dict(zip(("good", "bad", "free"), soffice_convert([good, bad, free], folder / "libreoffice")))


@pytest.mark.libreoffice
@needs_libreoffice
def test_files_saved_by_libreoffice_grade_the_same(saved_by_libreoffice, good, bad, free):
    for key, original in (("good", good), ("bad", bad), ("free", free)):
        path = saved_by_libreoffice[key]
        assert openpyxl.load_workbook(path, data_only=True).worksheets[-1].max_row > 20
        before, after = grade_file(original, MAZUR), grade_file(path, MAZUR)
        assert statuses(after) == statuses(before), key
        assert not any(i.stale for i in after.items), key
    assert item(grade_file(saved_by_libreoffice["bad"], MAZUR), "new_w_5").mistake == "update_sign"


@pytest.mark.libreoffice
@needs_libreoffice
def test_stored_results_of_libreoffice_files_are_present(saved_by_libreoffice):
    wb = openpyxl.load_workbook(saved_by_libreoffice["good"], data_only=True)
    assert cell_of(wb, "net_h1").value == pytest.approx(0.3775)


@pytest.mark.libreoffice
@needs_libreoffice
def test_libreoffice_as_the_grading_engine(bad):
    report = grade_file(bad, MAZUR, GradeOptions(engine="libreoffice", timeout=120))
    assert report.error is None
    assert item(report, "new_w_5").mistake == "update_sign"
    assert {s for n, s in statuses(report).items() if n != "new_w_5"} == {"correct"}


def test_with_a_time_limit_the_engine_runs_in_a_child_process(good):
    report = grade_file(good, MAZUR, GradeOptions(timeout=60))
    assert report.all_right


def test_lock_files_are_noted_and_not_graded(tmp_path):
    from sheetprop.writing.workbook import write_workbook

    book = tmp_path / "alice.xlsx"
    write_workbook(MAZUR, book)
    lock = tmp_path / "~$alice.xlsx"
    lock.write_bytes(b"\x0balice")  # what Excel leaves beside an open workbook
    result = CliRunner().invoke(main, ["check", str(book), str(lock), "--spec", "mazur", "--json"])
    assert result.exit_code == 0, result.output
    assert f"note: skipped {lock}: Excel's lock file of an open workbook, not a submission" in result.output
    assert len(json.loads(result.output[result.output.index("["):])) == 1
    only = CliRunner().invoke(main, ["check", str(lock)])
    assert only.exit_code == 2
    assert only.output.endswith("Error: no workbook to grade: every file given is a lock file (~$…); pass the workbooks\n")


def test_a_long_text_is_cut_short_in_every_report(tmp_path):
    import openpyxl

    from sheetprop.writing.workbook import write_workbook

    book, long = tmp_path / "m.xlsx", tmp_path / "long.xlsx"
    write_workbook(MAZUR, book)
    wb = openpyxl.load_workbook(book)
    cell = next(c for row in wb["Network"].iter_rows() for c in row if c.value == "=w_1*i_1+w_2*i_2+b_1")
    cell.value = "x" * 32_000
    wb.save(long)
    it = item(grade_file(long, MAZUR), "net_h1")
    assert it.status == "incorrect" and it.got == "x" * 79 + "…"
    assert it.diagnosis == f"holds {'x' * 79 + '…'!r}, not a number"


@pytest.mark.parametrize("cell", ["Network!XFE1", "Network!A0", "A1048577", "B7:C9"])
def test_a_map_cell_off_excels_grid_is_refused(cell):
    with pytest.raises(ValueError, match=rf"map: net_h1: '{re.escape(cell)}' is not one cell like Sheet1!B7 or B7"):
        parse_map(f"net_h1: '{cell}'", G.build(MAZUR).names)
    assert parse_map("net_h1: Network!XFD1048576", G.build(MAZUR).names) == {"net_h1": ("Network", "XFD1048576")}
