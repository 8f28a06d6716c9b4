"""`sheetprop generate --exercise`: the worked example with the answers left blank, leaking nothing."""

import re
import shutil
import subprocess
import uuid
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.grading.grade import grade_file
from sheetprop.model import graph as G
from sheetprop.model import reference as R
from sheetprop.model.spec import load_spec
from sheetprop.writing.exercise import parse_blank
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice

MAZUR = load_spec("mazur")
NET = R.solve(MAZUR)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("exercises")


@pytest.fixture(scope="module")
def blank_all(folder):
    path = folder / "all.xlsx"
    assert run("generate", "mazur", "--exercise", "-o", path).exit_code == 0
    return path


@pytest.fixture(scope="module")
def blank_back(folder):
    path = folder / "back.xlsx"
    assert run("generate", "mazur", "--blank", "backward,update", "-o", path).exit_code == 0
    return path


def by_name(path):
    wb = openpyxl.load_workbook(path)
    cells = {}
    for name, dn in wb.defined_names.items():
        sheet, ref = dn.attr_text.split("!")
        cells[name] = (sheet, wb[sheet][ref.replace("$", "")])
    return wb, cells


def test_an_exercise_has_the_layout_names_and_empty_highlighted_answers(blank_all):
    wb, cells = by_name(blank_all)
    assert wb.sheetnames == ["Instructions", "Network"]
    assert all(ws.sheet_state == "visible" for ws in wb.worksheets)
    assert set(cells) == set(NET.graph.worked)
    assert {sheet for sheet, _ in cells.values()} == {"Network"}
    for name in NET.graph.givens:
        assert cells[name][1].value == NET.values[name]
    fills = set()
    for name in NET.rules:
        cell = cells[name][1]
        assert cell.value is None, name
        fills.add(cell.fill.fgColor.rgb)
    assert fills == {"FFE2EFDA"}
    # the same labels as the worked example
    ws = wb["Network"]
    assert ws[cells["net_h1"][1].coordinate.replace("D", "A")].value == "net input of h1"
    assert ws[cells["net_h1"][1].coordinate.replace("D", "B")].value == "net_h1"


def test_the_file_leaks_no_answer(blank_back):
    """Unzipped, no part holds a stored result or the value of any answer."""
    answers = {name: NET.values[name] for name in NET.rules}
    given_values = {NET.values[name] for name in NET.graph.givens}
    with zipfile.ZipFile(blank_back) as zf:
        parts = {name: zf.read(name).decode("utf-8") for name in zf.namelist()}
    assert not any(re.search(r'state="(?:very)?[hH]idden"|hidden="(?:1|true)"', t) for t in parts.values())
    assert not [p for p in parts if "calcChain" in p or "externalLink" in p or "chart" in p]
    for part, text in parts.items():
        assert not re.search(r"<f>[^<]*</f><v>[^<]+</v>", text), part  # no formula has a stored result
        for name, value in answers.items():
            if value in given_values or len(repr(value)) < 7:
                continue  # 1, 0.35 (a frozen bias's new value is its given value) …
            for shown in (repr(value), f"{value:.9f}", f"{value:.6g}"):
                assert shown not in text, (part, name, shown)


def test_blank_sections_choose_what_the_student_fills(blank_back, folder):
    _, cells = by_name(blank_back)
    for name, rule in NET.rules.items():
        value = cells[name][1].value
        if rule.section in ("forward", "loss"):
            assert isinstance(value, str) and value.startswith("="), name
        else:
            assert value is None, name
    path = folder / "grads.xlsx"
    write_workbook(MAZUR, path, exercise=parse_blank("gradients"))
    _, cells = by_name(path)
    assert cells["grad_w_5"][1].value is None
    assert cells["new_w_5"][1].value == "=w_5-eta*grad_w_5"
    assert cells["delta_o1"][1].value.startswith("=")


def test_parse_blank():
    assert parse_blank(None) == parse_blank("all") == frozenset(G.SECTIONS)
    assert parse_blank("update") == {"gradients", "update"}
    assert parse_blank(" Forward , loss") == {"forward", "loss"}
    with pytest.raises(ValueError, match="unknown section 'backwards'"):
        parse_blank("backwards")


def test_the_instructions_say_what_to_do_and_how_to_check(blank_back):
    wb = openpyxl.load_workbook(blank_back)
    text = "\n".join(str(c.value) for row in wb["Instructions"].iter_rows() for c in row if c.value)
    assert "sheetprop check YOUR_FILE.xlsx --spec mazur" in text
    assert "To fill in: 4. Backward pass, 5. Gradients, 6. Update" in text
    assert "=w_1*i_1+w_2*i_2+b_1" in text


def test_a_student_who_fills_the_blank_sections_is_right(blank_back, folder):
    formulas = G.build(MAZUR).formulas()
    wb, cells = by_name(blank_back)
    for name, (_, cell) in cells.items():
        if cell.value is None:
            cell.value = "=" + formulas[name]
    out = folder / "filled.xlsx"
    wb.save(out)
    report = grade_file(out, MAZUR)
    assert report.all_right, [(i.name, i.status) for i in report.items if i.status != "correct"]


def test_exercises_of_several_samples_name_each_sample(folder):
    spec = load_spec("vandermerwe")
    path = folder / "vdm.xlsx"
    write_workbook(spec, path, exercise=parse_blank("all"))
    _, cells = by_name(path)
    assert cells["net_h1_s3"][1].value is None and cells["i_1_s3"][1].value == 0.9


def test_generate_exercise_from_the_command_line(folder):
    out = folder / "cli.xlsx"
    result = run("generate", "mazur", "--exercise", "-o", out)
    assert result.exit_code == 0
    assert result.output.startswith(f"Wrote exercise {out}: 43 cells to fill in, 0 formulas given, 58 names")
    result = run("generate", "mazur", "--blank", "forwards", "-o", out)
    assert result.exit_code == 2 and "unknown section 'forwards'" in result.output
    result = run("verify", out)
    assert result.exit_code == 2 and "sheetprop check" in result.output


@pytest.mark.libreoffice
@needs_libreoffice
def test_libreoffice_computes_an_exercise_without_stored_results(blank_back, folder):
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    profile = f"/tmp/sheetprop-lo-{uuid.uuid4().hex}"
    outdir = folder / "lo"
    subprocess.run([exe, "--headless", f"-env:UserInstallation=file://{profile}", "--convert-to", "xlsx",
                    "--outdir", str(outdir), str(blank_back)], check=True, capture_output=True, timeout=180)
    shutil.rmtree(profile, ignore_errors=True)
    wb = openpyxl.load_workbook(outdir / blank_back.name, data_only=True)
    _, cells = by_name(outdir / blank_back.name)
    ws = wb["Network"]
    assert ws[cells["net_h1"][1].coordinate].value == pytest.approx(0.3775)
    assert ws[cells["E_total"][1].coordinate].value == pytest.approx(NET.values["E_total"])
    assert ws[cells["delta_o1"][1].coordinate].value is None
