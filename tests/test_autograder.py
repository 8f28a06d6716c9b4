"""The Gradescope autograder bundle, run the way Gradescope runs it, in a temporary /autograder.

Gradescope unzips the bundle into /autograder/source, copies run_autograder to /autograder,
puts the submission in /autograder/submission and reads /autograder/results/results.json.
Each test here does the same under AUTOGRADER_ROOT and checks results.json against the
format Gradescope documents.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from sheetprop import __version__
from sheetprop.cli import main
from sheetprop.model.reference import solve
from sheetprop.model.spec import load_spec

from conftest import slow_workbook
from students import Sheet, workbook

NOBIAS = load_spec("mazur-nobias")
TOP_LEVEL = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
             "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


def check_results(results: dict) -> None:
    """results.json as Gradescope's specification has it."""
    assert set(results) <= TOP_LEVEL, set(results) - TOP_LEVEL
    assert isinstance(results["score"], (int, float)) and math.isfinite(results["score"]) and results["score"] >= 0
    assert isinstance(results["output"], str) and results["output"].strip()
    assert results.get("visibility", "visible") in VISIBILITIES
    assert isinstance(results["tests"], list)
    for test in results["tests"]:
        assert set(test) <= TEST_KEYS, set(test) - TEST_KEYS
        assert isinstance(test["name"], str) and test["name"]
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert test["status"] == "failed" or test["score"] == test["max_score"]
        assert isinstance(test["output"], str) and test["output"]
        assert test["visibility"] in VISIBILITIES
    json.dumps(results, allow_nan=False)  # no NaN or infinity anywhere


def make_bundle(folder: Path, *options: str) -> Path:
    out = folder / "autograder.zip"
    result = CliRunner().invoke(main, ["autograder", "--spec", "mazur-nobias", "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {out}: a Gradescope autograder for Mazur 2-2-2 without biases")
    assert "give the assignment " in result.output
    return out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle"))


def install(bundle: Path, root: Path) -> Path:
    """What Gradescope does with the zip: unzip it into source/, copy run_autograder to the root."""
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
        for info in z.infolist():  # zipfile does not restore permissions
            (root / "source" / info.filename).chmod((info.external_attr >> 16) & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    return root


def gradescope(bundle: Path, root: Path, files: dict[str, Path | bytes], env=None) -> tuple[dict, str]:
    """Run the bundle on a submission of `files`; results.json and the autograder's stdout."""
    if not (root / "source").exists():
        install(bundle, root)
    for name, content in files.items():
        target = root / "submission" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_bytes(content)
    done = subprocess.run([str(root / "run_autograder")], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root), **(env or {})})
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_results(results)
    return results, done.stdout


def by_name(results: dict) -> dict[str, dict]:
    return {t["name"]: t for t in results["tests"]}


# ---------------------------------------------------------------- the bundle itself


def test_the_bundle_holds_gradescopes_entry_points_and_this_sheetprop(bundle):
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
        config = json.loads(z.read("sheetprop-autograder.json"))
        requirements = z.read("requirements.txt").decode().split()
        bundled = z.read("sheetprop/__init__.py")
    assert {"setup.sh", "run_autograder", "requirements.txt", "sheetprop-autograder.json"} <= names
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert "sheetprop/templates/mazur-nobias.yaml" in names and "sheetprop/reports/autograder.py" in names
    assert not any("__pycache__" in n for n in names)
    assert bundled == (Path(__file__).parent.parent / "sheetprop" / "__init__.py").read_bytes()
    assert config["sheetprop"] == __version__ and config["spec"] == NOBIAS.to_dict()
    assert config["options"]["tol"] == 1e-9 and config["options"]["tests"] == "quantity"
    from importlib import metadata
    assert f"openpyxl=={metadata.version('openpyxl')}" in requirements
    assert f"ironcalc=={metadata.version('ironcalc')}" in requirements
    assert not any(r.startswith(("pytest", "hypothesis")) for r in requirements)  # no test extras


@pytest.mark.slow
def test_setup_installs_into_a_virtual_environment_and_checks_itself(bundle, tmp_path):
    """setup.sh as Gradescope runs it (apt-get skipped; the venv sees this machine's packages, so pip
    finds every pinned requirement satisfied without a download); then a submission uses that venv."""
    root = install(bundle, tmp_path / "autograder")
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "AUTOGRADER_ROOT": str(root), "SHEETPROP_NO_APT": "1",
                               "SHEETPROP_VENV_OPTIONS": "--system-site-packages"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"self-test: sheetprop {__version__} grades the solution of Mazur 2-2-2 without biases 39 / 39" in done.stdout
    venv_python = root / "sheetprop-venv" / "bin" / "python"
    assert venv_python.exists()
    right = workbook(tmp_path / "hw.xlsx", Sheet())
    results, stdout = gradescope(bundle, root, {"hw.xlsx": right})
    assert results["score"] == 39
    assert f"(from {root / 'source' / 'sheetprop'})" in stdout


# ---------------------------------------------------------------- submissions


def test_a_right_submission_gets_every_point(bundle, tmp_path):
    sheet = Sheet()
    right = workbook(tmp_path / "hw.xlsx", sheet)
    results, stdout = gradescope(bundle, tmp_path / "autograder", {"homework.xlsx": right})
    tests = by_name(results)
    assert sum(t["max_score"] for t in tests.values()) == 27  # the factors folded into the gradients cost nothing
    assert results["score"] == 39  # the assignment's total: what a sheet showing every quantity earns
    assert "Your sheet shows answers worth 27 points (a factor folded into a later formula costs nothing): " \
           "27 / 27 counts as 39 / 39." in results["output"]
    assert all(t["status"] == "passed" for t in tests.values())
    assert tests["grad_w_5"]["output"] == f"correct: {solve(NOBIAS).values['grad_w_5']:.9g} in {sheet.cell('grad_w_5')}"
    assert tests["grad_w_5"]["tags"] == ["Gradients"]
    assert results["output"].startswith("homework.xlsx: 39 / 39 points (every answer is right)")
    assert "table Sheet1!A6 (30 rows, η = 0.5): correct: every update right" in results["output"]
    assert f"(from {tmp_path / 'autograder' / 'source' / 'sheetprop'})" in stdout  # the bundled sheetprop


def test_a_slip_loses_its_points_and_is_named(bundle, tmp_path):
    slip = workbook(tmp_path / "hw.xlsx", Sheet(mistakes={"grad_w_5": "missing_brackets"}))
    results, _ = gradescope(bundle, tmp_path / "autograder", {"hw.xlsx": slip})
    tests = by_name(results)
    grad = tests["grad_w_5"]
    assert grad["status"] == "failed" and grad["score"] == 0 and grad["max_score"] == 1
    expected = solve(NOBIAS).values["grad_w_5"]
    assert grad["output"].startswith("incorrect: your value ") and f"expected {expected:.9g}" in grad["output"]
    assert "bracket" in grad["output"]
    assert results["score"] == round(26 * 39 / 27, 2)  # the new w5 that uses it is right given the student's own gradient
    assert tests["new_w_5"]["status"] == "passed" and "carried forward" in tests["new_w_5"]["output"]
    assert "first wrong at update 0: grad_w_5" in results["output"]


def test_a_typed_in_number_is_flagged_hardcoded(bundle, tmp_path):
    value = solve(NOBIAS).values["grad_w_5"]
    sheet = Sheet()

    def type_it(wb):
        wb["Sheet1"][sheet.cell("grad_w_5").split("!")[1]] = value

    book = workbook(tmp_path / "hw.xlsx", sheet, extra=type_it)
    results, _ = gradescope(bundle, tmp_path / "autograder", {"hw.xlsx": book})
    grad = by_name(results)["grad_w_5"]
    assert grad["status"] == "failed" and grad["score"] == 0
    assert grad["output"].startswith("hardcoded: ")


def test_tests_per_section_when_the_points_are_by_section(tmp_path):
    points = tmp_path / "points.yaml"
    points.write_text("forward: 2\ngradients: 3\nupdate: 1\nloss: 1\nbackward: 1\n")
    bundle = make_bundle(tmp_path, "--points", str(points), "--visibility", "after_due_date")
    book = workbook(tmp_path / "hw.xlsx", Sheet(mistakes={"grad_w_5": "missing_brackets"}))
    results, _ = gradescope(bundle, tmp_path / "autograder", {"hw.xlsx": book})
    tests = by_name(results)
    assert list(tests) == ["Forward pass", "Loss", "Gradients", "Update"]  # the sheet shows no δ cells
    assert tests["Forward pass"]["max_score"] == 8 * 2 and tests["Forward pass"]["status"] == "passed"
    assert tests["Gradients"]["max_score"] == 8 * 3 and tests["Gradients"]["score"] == 7 * 3
    assert "grad_w_5: incorrect" in tests["Gradients"]["output"]
    assert all(t["visibility"] == "after_due_date" for t in tests.values())
    assert results["visibility"] == "after_due_date"


@pytest.mark.parametrize("files, says", [
    ({}, "No .xlsx workbook in your submission. Submit your spreadsheet saved as .xlsx."),
    ({"report.pdf": b"%PDF-1.4"}, "No .xlsx workbook in your submission (found: report.pdf)."),
    ({"hw.ods": b"PK"}, "hw.ods is not an Excel workbook (.xlsx): open it and save it as"),
    ({"a.xlsx": "right", "sub/b.xlsx": "right"}, "Your submission holds 2 workbooks (a.xlsx, sub/b.xlsx); "
                                                 "submit only the one to be graded."),
    ({"hw.xlsx": b"student,net_h1\nalice,0.3775\n"}, "Your file could not be graded: "),
])
def test_a_submission_without_exactly_one_workbook_scores_0_with_a_message(bundle, tmp_path, files, says):
    right = workbook(tmp_path / "right.xlsx", Sheet())
    files = {name: right if content == "right" else content for name, content in files.items()}
    results, _ = gradescope(bundle, tmp_path / "autograder", files)
    assert results["score"] == 0 and results["tests"] == []
    assert says in results["output"], results["output"]


def test_excel_lock_files_and_macos_forks_are_ignored(bundle, tmp_path):
    right = workbook(tmp_path / "right.xlsx", Sheet())
    files = {"hw.xlsx": right, "~$hw.xlsx": b"\x00" * 165, "__MACOSX/._hw.xlsx": b"\x00\x05\x16\x07"}
    results, _ = gradescope(bundle, tmp_path / "autograder", files)
    assert results["score"] == 39


def test_a_hostile_file_scores_0_and_the_autograder_still_exits_0(bundle, tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\x00" * (300 * 2**20))  # 300 MiB of zeros in a small file
    assert bomb.stat().st_size < 2 * 2**20
    results, _ = gradescope(bundle, tmp_path / "autograder", {"hw.xlsx": bomb})
    assert results["score"] == 0
    assert results["output"].startswith("Your file could not be graded: ") and "zip bomb" in results["output"]
    assert str(tmp_path) not in results["output"]  # the student's own file name, not the container's path


def test_a_submission_that_takes_too_long_scores_0_with_a_message(tmp_path):
    bundle = make_bundle(tmp_path, "--engine", "formulas", "--timeout", "2")
    slow = slow_workbook(tmp_path / "slow.xlsx")
    results, _ = gradescope(bundle, tmp_path / "autograder", {"hw.xlsx": slow})
    assert results["score"] == 0
    assert "took longer than 2 s and was stopped" in results["output"]


def test_when_python_cannot_start_results_json_still_says_so(bundle, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    broken = fake / "python3"
    broken.write_text("#!/bin/sh\necho 'python3: broken' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    right = workbook(tmp_path / "right.xlsx", Sheet())
    results, _ = gradescope(bundle, tmp_path / "autograder", {"hw.xlsx": right},
                            env={"PATH": f"{fake}:/usr/bin:/bin"})
    assert results["score"] == 0 and "could not run" in results["output"]


# ---------------------------------------------------------------- the command


@pytest.mark.parametrize("args, says", [
    (["--spec", "nonesuch"], "nonesuch: no such file or preset"),
    (["--spec", "mazur", "-o", "grader.tar"], "grader.tar: the autograder must end in .zip"),
    (["--spec", "mazur", "--visibility", "sometimes"], "Invalid value for '--visibility'"),
])
def test_bad_autograder_options_are_one_line_and_exit_2(tmp_path, args, says):
    result = CliRunner().invoke(main, ["autograder", *args], catch_exceptions=False)
    assert result.exit_code == 2 and says in result.output


def test_a_map_that_names_no_quantity_is_refused_before_writing(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text("nett_h1: Sheet1!B7\n")
    out = tmp_path / "autograder.zip"
    result = CliRunner().invoke(main, ["autograder", "--spec", "mazur-nobias", "--map", str(bad), "-o", str(out)])
    assert result.exit_code == 2 and "nett_h1: not a quantity of this spec (did you mean net_h1?)" in result.output
    assert not out.exists()


def test_the_map_travels_in_the_bundle(tmp_path):
    good = tmp_path / "map.yaml"
    good.write_text('net_h1: "\'My sheet\'!C4"\n')
    bundle = make_bundle(tmp_path, "--map", str(good))
    with zipfile.ZipFile(bundle) as z:
        assert json.loads(z.read("sheetprop-autograder.json"))["options"]["cell_map"] == {"net_h1": "'My sheet'!C4"}
