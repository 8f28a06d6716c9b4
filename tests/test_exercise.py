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


# ---------------------------------------------------------------- texts from the spec, the Maths column


def texts_of(path) -> list[str]:
    """Every text of the handout: the Instructions sheet and the Network sheet's words."""
    wb = openpyxl.load_workbook(path)
    return [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row
            if isinstance(c.value, str) and not c.value.startswith("=")]


@pytest.mark.parametrize("preset", ["mazur-nobias", "mazur", "perceptron", "vandermerwe", "xor", "hmkcode"])
def test_every_example_in_a_handout_uses_only_names_the_workbook_has(folder, preset):
    path = folder / f"{preset}-names.xlsx"
    assert run("generate", preset, "--exercise", "-o", path).exit_code == 0
    wb = openpyxl.load_workbook(path)
    names = {n.lower() for n in wb.defined_names}
    instructions = [c.value for row in wb["Instructions"].iter_rows() for c in row if c.value]
    examples = [m for text in instructions for m in re.findall(r"=[\w*+\-/().…]+", text)]
    assert examples, instructions
    for example in examples:
        used = {w.lower() for w in re.findall(r"[A-Za-z_][\w.]*", example) if not w.isupper()}
        assert used <= names, (example, used - names)
    given = next(t for t in instructions if t.startswith("1. "))
    spec = load_spec(preset)
    has_biases = any(b is not None for b in spec.biases)
    assert ("bias" in given) == has_biases, given
    for word in re.findall(r"\b[a-z]+_\w+\b", given):
        assert word.lower() in names, (word, given)


def test_the_mazur_nobias_handout_has_no_bias_anywhere(folder):
    path = folder / "nobias.xlsx"
    assert run("generate", "mazur-nobias", "--exercise", "-o", path).exit_code == 0
    texts = texts_of(path)
    text = "\n".join(texts)
    name = load_spec("mazur-nobias").name  # "Mazur 2-2-2 without biases"
    assert "b_1" not in text and not [t for t in texts if "bias" in t.lower() and name not in t and "--spec" not in t]
    assert "in net_h1 write =w_1*i_1+w_2*i_2, not the number" in text


@pytest.mark.parametrize("args, header, net_h1", [
    ([], "Maths", "net_h1 = w1·i1 + w2·i2 + b1"),
    (["--maths", "inputs"], "Computed from", "from w_1, w_2, i_1, i_2, b_1"),
    (["--no-maths"], None, None),
    (["--maths", "none"], None, None),
])
def test_the_maths_column_says_as_much_as_asked(folder, args, header, net_h1):
    path = folder / f"maths{len(args)}{args[-1] if args else ''}.xlsx"
    result = run("generate", "mazur", "--exercise", *args, "-o", path)
    assert result.exit_code == 0, result.output
    wb, cells = by_name(path)
    ws = wb["Network"]
    row = cells["net_h1"][1].row
    assert ws.cell(row, 3).value == net_h1
    computed = [ws.cell(cells[name][1].row, 3).value for name in NET.rules]
    assert all(v is None for v in computed) if net_h1 is None else all(computed)
    headers = {c.value for row_ in ws.iter_rows() for c in row_ if c.column == 3 and c.style_id and c.font.b}
    assert ("Maths" in headers) == (header == "Maths") and ("Computed from" in headers) == (header == "Computed from")
    # the given values keep their meaning, and the student still knows what to fill in
    assert ws.cell(cells["w_1"][1].row, 3).value == "from i1 to h1"
    instructions = "\n".join(c.value for row_ in wb["Instructions"].iter_rows() for c in row_ if c.value)
    assert ("=w_1*i_1+w_2*i_2+b_1" in instructions) == (header == "Maths")


def test_maths_options_are_checked(folder):
    out = folder / "x.xlsx"
    result = run("generate", "mazur", "--maths", "some", "-o", out)
    assert result.exit_code == 2 and "'some' is not one of 'formulas', 'inputs', 'none'" in result.output
    result = run("generate", "mazur", "--no-maths", "--maths", "inputs", "-o", out)
    assert result.exit_code == 2 and "--no-maths and --maths inputs say different things" in result.output
    assert run("generate", "mazur", "--maths", "inputs", "-o", out).output.startswith(f"Wrote exercise {out}")
