"""The command line: exit codes, messages, files written or left alone."""

import json

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.model import reference as R
from sheetprop.model.spec import load_spec


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_presets_lists_one_line_each(run):
    result = run("presets")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["hmkcode", "mazur", "mazur-nobias", "perceptron", "vandermerwe", "xor"]
    assert "2-2-2 sigmoid, half_sse, η = 0.5, 1 sample" in lines[1]


def test_reference_json_has_names_and_losses(run):
    result = run("reference", "mazur", "--epochs", "3", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["names"]["E_total"] == R.first_update_names(load_spec("mazur"))["E_total"]
    assert data["names"]["net_h1"] == pytest.approx(0.3775)
    assert len(data["loss"]) == 4 and data["updates"] == 3
    assert data["loss"][0] == data["names"]["E_total"]


def test_reference_text(run):
    result = run("reference", "perceptron")
    assert result.exit_code == 0
    assert "w_1" in result.output and "loss after 0 updates" in result.output


def test_generate_writes_a_workbook_with_names(run, tmp_path):
    out = tmp_path / "m.xlsx"
    result = run("generate", "mazur", "-o", out, "--epochs", "5")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {out}: ")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Network", "Training", "About"]
    dn = wb.defined_names
    assert dn["net_h1"].attr_text.startswith("Network!$D$")
    sheet, cell = dn["net_h1"].attr_text.split("!")
    assert wb[sheet][cell.replace("$", "")].value == "=w_1*i_1+w_2*i_2+b_1"
    sheet, cell = dn["new_w_5"].attr_text.split("!")
    assert wb[sheet][cell.replace("$", "")].value == "=w_5-eta*grad_w_5"
    sheet, cell = dn["grad_w_5"].attr_text.split("!")
    assert wb[sheet][cell.replace("$", "")].value == "=delta_o1*out_h1"
    assert [p.name for p in tmp_path.iterdir()] == ["m.xlsx"]  # no temporary file left behind


def test_generate_json(run, tmp_path):
    result = run("generate", "xor", "-o", tmp_path / "x.xlsx", "--json")
    data = json.loads(result.output)
    assert data["file"].endswith("x.xlsx") and data["updates"] == 20 and data["formulas"] > 1000


def test_bad_spec_is_one_line_exit_2_and_no_file(run, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("layers: [2, 1]\nactivation: sigmod\nlearning_rate: 1\ndata: [{inputs: [1, 2], targets: [1]}]\n")
    out = tmp_path / "out.xlsx"
    result = run("generate", spec, "-o", out)
    assert result.exit_code == 2
    assert result.output == f"Error: {spec}: activation: unknown value 'sigmod' (did you mean 'sigmoid'?); " \
                            "allowed: identity, sigmoid, tanh, relu, leaky_relu, softplus, silu, softmax\n"
    assert not out.exists()


def test_bad_spec_leaves_an_existing_output_untouched(run, tmp_path):
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"precious")
    result = run("generate", "nosuchpreset", "-o", out)
    assert result.exit_code == 2 and "no such file or preset" in result.output
    assert out.read_bytes() == b"precious"


def test_generate_refuses_non_xlsx_output(run, tmp_path):
    result = run("generate", "mazur", "-o", tmp_path / "m.xls")
    assert result.exit_code == 2 and "must end in .xlsx" in result.output


def test_spec_text_is_written_as_text_never_as_a_formula(run, tmp_path):
    spec = tmp_path / "evil.yaml"
    spec.write_text('name: "=HYPERLINK(\\"http://x\\",\\"click\\")"\nlayers: [1, 1]\nlearning_rate: 0.1\n'
                    "data: [{inputs: [1], targets: [1]}]\n")
    out = tmp_path / "e.xlsx"
    assert run("generate", spec, "-o", out).exit_code == 0
    cell = openpyxl.load_workbook(out)["Network"]["A1"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")


def test_module_entry_point_runs():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "sheetprop", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("sheetprop, version")


def test_cli_docs_are_current():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "docs" / "make_cli_docs.py"
    spec = importlib.util.spec_from_file_location("make_cli_docs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.OUT.read_text(encoding="utf-8") == module.render(), "run: python docs/make_cli_docs.py"


def test_epochs_beyond_the_cell_budget_are_refused(run, tmp_path):
    out = tmp_path / "m.xlsx"
    result = run("generate", "mazur", "--epochs", "1000000", "-o", out)
    assert result.exit_code == 2
    assert "preset mazur: epochs: this spec makes about 30,000,076 formula cells, over the limit of 2,000,000" \
        in result.output
    assert not out.exists()
    assert run("reference", "mazur", "--epochs", "1000000", "--json").exit_code == 2
    # an exercise with --epochs asks for the training run, whose rows count; without, it has no Training sheet
    assert run("generate", "mazur", "--epochs", "1000000", "--exercise", "-o", out).exit_code == 2 and not out.exists()
    assert run("generate", "mazur", "--exercise", "-o", out).exit_code == 0
