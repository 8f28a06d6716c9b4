"""Round two of untrusted input and busy instructors (issue 13): outputs, signals, odd files,
specs that overflow, options that are not numbers.

Commands run in a real child process (`python -m sheetprop`), as a user runs them. Tests that
need file permissions to count run the command with the capability to override them dropped
(`setpriv`), so they hold when the tests run as root, as CI does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.engines import ENGINES, evaluate
from sheetprop.grading.grade import FileReport, GradeOptions, grade_file
from sheetprop.model import graph as G
from sheetprop.model.network import with_epochs
from sheetprop.model.spec import load_spec, validate
from sheetprop.reports.text import student_names, summary_table
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice

MAZUR = load_spec("mazur")
SETPRIV = shutil.which("setpriv")


def sheetprop(*args, env=None, cwd=None, timeout=120, honour_permissions=False, **kw):
    command = [sys.executable, "-m", "sheetprop", *map(str, args)]
    if honour_permissions and os.geteuid() == 0:
        if not SETPRIV:
            pytest.skip("setpriv is needed to make root obey file permissions")
        command = [SETPRIV, "--bounding-set=-dac_override,-dac_read_search", *command]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, **kw)


def right_formulas() -> dict[str, str]:
    return {name: "=" + text for name, text in G.build(MAZUR).formulas().items()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("robust")


@pytest.fixture(scope="module")
def good(folder):
    """A right solution of the Mazur exercise."""
    exercise = folder / "exercise.xlsx"
    write_workbook(MAZUR, exercise, exercise={"forward", "loss", "backward", "gradients", "update"})
    wb = openpyxl.load_workbook(exercise)
    for name, formula in right_formulas().items():
        sheet, ref = wb.defined_names[name].attr_text.split("!")
        wb[sheet][ref.replace("$", "")] = formula
    path = folder / "alice.xlsx"
    wb.save(path)
    return path


def slow_file(path: Path, rows: int = 40_000) -> Path:
    """A workbook that keeps the formulas engine busy for minutes."""
    with xlsxwriter.Workbook(str(path)) as book:
        ws = book.add_worksheet("Network")
        ws.write_number("A1", 0)
        for r in range(1, rows):
            ws.write_formula(r, 0, f"=A{r}+1")
    return path


# ---------------------------------------------------------------- outputs (item 2, 12)


def test_csv_to_a_device_writes_through_it(good):
    done = sheetprop("check", good, "--spec", "mazur", "--csv", "/dev/stdout")
    assert done.returncode == 0, done.stderr
    assert "student,file,score" in done.stdout and "alice" in done.stdout
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    done = sheetprop("check", good, "--spec", "mazur", "--csv", "/dev/null", "--gradescope", "/dev/null")
    assert done.returncode == 2 and "must be different files" in done.stderr
    done = sheetprop("check", good, "--spec", "mazur", "--csv", "/dev/null")
    assert done.returncode == 0 and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_symlinked_gradebook_is_refused_and_left_as_it_was(good, folder):
    """Never written through a link (issue 21: one planted in a shared folder redirected the write)."""
    real = folder / "shared" / "grades.csv"
    real.parent.mkdir()
    real.write_text("old grades\n")
    os.chmod(real, 0o600)
    link = folder / "grades-link.csv"
    link.symlink_to(real)
    done = sheetprop("check", good, "--spec", "mazur", "--csv", link)
    assert done.returncode == 2 and "is a symbolic link" in done.stderr and done.stdout == ""
    assert link.is_symlink() and real.read_text() == "old grades\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert [p.name for p in real.parent.iterdir()] == ["grades.csv"]  # no temporary file left


def test_generate_follows_the_umask_and_keeps_an_existing_files_mode(folder):
    out = folder / "umask.xlsx"
    done = sheetprop("generate", "perceptron", "-o", out, env={**os.environ}, preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    os.chmod(out, 0o640)
    assert sheetprop("generate", "perceptron", "-o", out).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_an_unwritable_output_folder_is_refused_before_grading(good, folder):
    locked = folder / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)
    done = sheetprop("check", good, "--spec", "mazur", "--csv", locked / "grades.csv", honour_permissions=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"the folder {locked} cannot be written" in done.stderr and ".tmp" not in done.stderr
    assert done.stdout == ""  # nothing was graded
    done = sheetprop("check", good, "--spec", "mazur", "--csv", folder / "nowhere" / "g.csv")
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_one_unreadable_file_gets_its_own_error_and_the_others_are_graded(good, folder):
    secret = folder / "bob.xlsx"
    shutil.copy(good, secret)
    os.chmod(secret, 0o000)
    try:
        done = sheetprop("check", good, secret, "--spec", "mazur", honour_permissions=True)
    finally:
        os.chmod(secret, 0o644)
    assert done.returncode == 2, done.stderr
    assert "bob.xlsx: could not be graded: cannot read: Permission denied" in done.stdout
    assert "alice.xlsx: 39 / 39 points" in done.stdout


def test_files_of_one_name_from_different_folders_are_told_apart(good, folder):
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    shutil.copy(good, folder / "a" / "alice.xlsx")
    shutil.copy(good, folder / "b" / "alice.xlsx")
    reports = [FileReport(str(folder / "a" / "alice.xlsx")), FileReport(str(folder / "b" / "alice.xlsx")),
               FileReport("carol.xlsx")]
    assert student_names(reports) == ["a/alice", "b/alice", "carol"]
    table = "\n".join(summary_table(reports))
    assert "a/alice" in table and "b/alice" in table


def test_a_memory_limit_too_small_to_grade_at_all_is_refused(good):
    done = sheetprop("check", good, "--spec", "mazur", "--max-memory", "1M")
    assert done.returncode == 2 and "--max-memory" in done.stderr and "too small" in done.stderr
    assert good.name not in done.stderr  # the limit is to blame, not the file


# ---------------------------------------------------------------- stopping (item 3)


def _descendants(pid: int) -> set[int]:
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.add(int(entry.name))
    found = set(children)
    for child in children:
        found |= _descendants(child)
    return found


def _alive(pids) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait_for_children(proc, n: int = 1, seconds: float = 30) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        kids = _descendants(proc.pid)
        if len(kids) >= n:
            return kids
        time.sleep(0.1)
    raise AssertionError("the command started no child process")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stopped_check_leaves_no_process_and_no_file(folder, how, tmp_path):
    slow = slow_file(folder / f"slow-{how}.xlsx")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "sheetprop", "check", str(slow), str(slow), "--spec", "mazur",
                             "--engine", "formulas", "--csv", str(tmp_path / "grades.csv")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    kids = _wait_for_children(proc, 2)
    time.sleep(1.0)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (128 + how, 130), err
    assert "no output file was written or changed" in err and err.count("\n") == 1
    deadline = time.monotonic() + 10
    while _alive(kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kids)
    assert list(scratch.iterdir()) == [] and not (tmp_path / "grades.csv").exists()


def test_a_killed_check_takes_its_children_with_it(folder, tmp_path):
    slow = slow_file(folder / "slow-kill.xlsx")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "sheetprop", "check", str(slow), "--spec", "mazur",
                             "--engine", "formulas"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TMPDIR": str(scratch)})
    kids = _wait_for_children(proc)
    time.sleep(1.0)
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 15
    while _alive(kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kids)  # the parent-death signal reached them


@needs_libreoffice
@pytest.mark.libreoffice
def test_a_stopped_check_with_libreoffice_leaves_no_soffice(good, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "sheetprop", "check", str(good), "--spec", "mazur",
                             "--engine", "libreoffice"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = _descendants(proc.pid)
        names = {Path(f"/proc/{k}/comm").read_text().strip() for k in _alive(kids)}
        if any(n.startswith(("soffice", "oosplash")) for n in names):
            break
        time.sleep(0.05)
    else:
        pytest.fail("LibreOffice never started")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    deadline = time.monotonic() + 15
    while _alive(kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kids)
    assert list(scratch.iterdir()) == []


def test_a_stopped_generate_leaves_no_file_behind(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out" / "big.xlsx"
    out.parent.mkdir()
    out.write_bytes(b"the old workbook")
    proc = subprocess.Popen([sys.executable, "-m", "sheetprop", "generate", "mazur", "--epochs", "60000", "-o",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 30
    while not list(scratch.iterdir()) and time.monotonic() < deadline:  # XlsxWriter has started spooling
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert list(scratch.iterdir()) == []
    assert [p.name for p in out.parent.iterdir()] == ["big.xlsx"] and out.read_bytes() == b"the old workbook"


# ---------------------------------------------------------------- odd workbooks (items 5, 6, 10)


def _rows_reversed(src: Path, out: Path) -> Path:
    """The same workbook with each sheet's rows written last first (well-formed XML)."""
    import re
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.startswith("xl/worksheets/sheet"):
                rows = re.findall(rb"<row [^>]*>.*?</row>|<row [^>]*/>", data, flags=re.DOTALL)
                start, end = data.index(b"<sheetData>") + len(b"<sheetData>"), data.index(b"</sheetData>")
                data = data[:start] + b"".join(reversed(rows)) + data[end:]
            zout.writestr(info.filename, data)
    return out


@pytest.mark.parametrize("engine", [e if e != "libreoffice" else pytest.param(e, marks=[needs_libreoffice])
                                    for e in ENGINES])
def test_rows_written_out_of_order_change_nothing(good, folder, engine):
    shuffled = _rows_reversed(good, folder / f"reversed-{engine}.xlsx")
    assert evaluate(shuffled, engine) == pytest.approx(evaluate(good, engine), rel=1e-12)
    report = grade_file(shuffled, MAZUR, GradeOptions(engine=engine))
    assert report.error is None and report.score == report.max_score == 39


def test_one_formula_the_formulas_engine_cannot_read_costs_only_its_dependants(good, folder):
    wb = openpyxl.load_workbook(good)
    ws = wb["Network"]
    ws["H1"], ws["H2"], ws["H3"] = "=SUM (1,2)", "=1E308*10", "=H1+1"
    sheet, ref = wb.defined_names["net_h1"].attr_text.split("!")
    wb[sheet][ref.replace("$", "")] = "=_xlfn.LET(_xlpm.x,w_1*i_1,_xlpm.x+w_2*i_2+b_1)"  # LET, as Excel 365 stores it
    path = folder / "scratch-cells.xlsx"
    wb.save(path)
    report = grade_file(path, MAZUR, GradeOptions(engine="ironcalc"))  # IronCalc computes LET
    assert report.error is None and report.score == report.max_score
    report = grade_file(path, MAZUR, GradeOptions(engine="formulas"))  # formulas has no LET: that cell alone
    assert report.error is None
    net_h1 = next(i for i in report.items if i.name == "net_h1")
    assert net_h1.status == "error" and "LET" in net_h1.diagnosis and "formulas engine" in net_h1.diagnosis
    assert {i.name for i in report.items if i.status == "correct"} >= {"net_h2", "out_h2", "w_5"}


def test_a_given_value_shown_as_a_time_is_its_number(good, folder):
    wb = openpyxl.load_workbook(good)
    sheet, ref = wb.defined_names["w_1"].attr_text.split("!")
    wb[sheet][ref.replace("$", "")].number_format = "hh:mm:ss"  # 0.15 of a day is 03:36:00
    path = folder / "time-format.xlsx"
    wb.save(path)
    report = grade_file(path, MAZUR)
    w_1 = next(i for i in report.items if i.name == "w_1")
    assert w_1.status == "correct" and w_1.got == 0.15 and report.score == report.max_score


# ---------------------------------------------------------------- specs that overflow (item 8)


OVERFLOWS = {
    "sigmoid, net of -1000": ({"layers": [1, {"size": 1, "activation": "sigmoid"}], "weights": [[[-1000]]],
                               "biases": [None]}, "weights"),
    "softplus, net of +1000": ({"layers": [1, {"size": 1, "activation": "softplus"}], "weights": [[[1000]]],
                                "biases": [None]}, "weights"),
    "softmax, logits of ±1000": ({"layers": [1, {"size": 2, "activation": "softmax"}], "loss": "cross_entropy",
                                  "weights": [[[1000], [-1000]]], "biases": [None],
                                  "data": [{"inputs": [1], "targets": [1, 0]}]}, "weights"),
    "η = 1e300": ({"layers": [1, {"size": 1, "activation": "identity"}], "learning_rate": 1e300}, "learning_rate"),
    "bce, saturated sigmoid": ({"layers": [1, {"size": 1, "activation": "sigmoid"}], "loss": "bce",
                                "weights": [[[40]]], "biases": [None], "data": [{"inputs": [1], "targets": [0]}]},
                               "weights"),
    "uniform init ±1e308": ({"layers": [2, {"size": 2, "activation": "identity"}, {"size": 1, "activation": "identity"}],
                             "init": {"method": "uniform", "low": -1e308, "high": 1e308}, "biases": None,
                             "data": [{"inputs": [1, 1], "targets": [1]}]}, "weights"),
    "identity network that diverges": ({"layers": [1, {"size": 1, "activation": "identity"}], "weights": [[[1]]],
                                        "learning_rate": 1e150, "epochs": 5, "biases": [None]}, "learning_rate"),
}


def _spec(fields: dict) -> dict:
    base = {"layers": [1, 1], "learning_rate": 0.5, "data": [{"inputs": [1], "targets": [0.5]}]}
    return {**base, **fields}


@pytest.mark.parametrize("case", sorted(OVERFLOWS))
def test_specs_whose_numbers_overflow_are_refused_in_one_line(case, tmp_path):
    fields, field = OVERFLOWS[case]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(_spec(fields)))
    commands = [["generate", path, "-o", tmp_path / "out.xlsx"], ["reference", path, "--json"]]
    if field == "weights":  # the first update itself overflows: check, which needs no more, refuses it too
        commands.append(["check", tmp_path / "none.xlsx", "--spec", path])
    for command in commands:
        done = sheetprop(*command)
        assert done.returncode == 2, (case, command, done.stdout, done.stderr)
        assert done.stderr.startswith(f"Error: {path}: {field}:") and done.stderr.count("\n") == 1, done.stderr
        assert "internal error" not in done.stderr
    assert not (tmp_path / "out.xlsx").exists()


def test_a_name_with_a_lone_surrogate_is_refused():
    with pytest.raises(ValueError, match="name: holds a character no file can store"):
        validate(_spec({"name": "\ud800x"}))


def test_json_output_is_always_valid_json(tmp_path):
    path = tmp_path / "mazur.xlsx"
    write_workbook(with_epochs(MAZUR, 1), path)
    wb = openpyxl.load_workbook(path)
    sheet, ref = wb.defined_names["w_5"].attr_text.split("!")
    wb[sheet][ref.replace("$", "")] = 1e308  # the engine gives #NUM!, the reference overflows
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    for command in (["verify", edited, "--json"], ["reference", "mazur", "--json"]):
        done = sheetprop(*command)
        json.loads(done.stdout, parse_constant=lambda c: pytest.fail(f"{command}: bare {c} in JSON"))


# ---------------------------------------------------------------- options (item 9) and input files (item 11)


@pytest.mark.parametrize("option, value", [("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "-5"),
                                           ("--tol", "inf"), ("--tol", "nan"), ("--carried-forward-credit", "nan"),
                                           ("--hardcoded-credit", "inf")])
def test_non_finite_options_are_refused(good, option, value):
    result = CliRunner().invoke(main, ["check", str(good), "--spec", "mazur", option, value])
    assert result.exit_code == 2 and option in result.output
    assert "finite" in result.output or "at least" in result.output or "at most" in result.output


def test_no_time_limit_must_be_asked_for_by_name(good):
    result = CliRunner().invoke(main, ["check", str(good), "--spec", "mazur", "--timeout", "none"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["verify", "nothing.xlsx", "--timeout", "inf"])
    assert result.exit_code == 2 and "not a finite number" in result.output


@pytest.mark.parametrize("option", ["--spec", "--map", "--points"])
@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_devices_and_pipes_as_input_files_are_refused_at_once(good, tmp_path, option, special):
    if special == "fifo":
        special = tmp_path / "input.yaml"
        os.mkfifo(special)
    args = ["check", good, "--spec", special if option == "--spec" else "mazur"]
    if option != "--spec":
        args += [option, special]
    done = sheetprop(*args, timeout=30)  # a FIFO opened for reading would hang: the timeout fails the test
    assert done.returncode == 2 and "not a regular file" in done.stderr and done.stderr.count("\n") == 1
