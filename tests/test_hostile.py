"""Untrusted input: broken and hostile workbooks and specs never crash, hang, leak or lose anything.

The hostile corpus is made here, from a right Mazur solution: damaged zips, zip bombs,
XML entity attacks, old and foreign formats, a million rows, cells far apart, formulas
that reach the network, other files or other programs, circular and whole-column
references, a file that hangs the engine. Each gets an error of its own (the whole file,
or just the affected cells with the rest graded), in one line, and the batch goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.engines.openbook import WorkbookError, check_container
from sheetprop.engines.screen import formula_problem
from sheetprop.grading.batch import grade_files
from sheetprop.grading.grade import GradeOptions, grade_file
from sheetprop.model import graph as G
from sheetprop.model.spec import SpecError, load_spec, parse_spec
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice, slow_workbook

MAZUR = load_spec("mazur")
SECRET = 987654321.0
# Limits far above what any file of the corpus needs, even on a busy machine: only a real hang would
# reach the time limit, and each refusal (by size, by cells) is checked on its own, not raced against it.
LIMITS = GradeOptions(timeout=600, max_memory=2 * 2**30)


# ---------------------------------------------------------------- making the corpus


def right_formulas() -> dict[str, str]:
    return {name: "=" + text for name, text in G.build(MAZUR).formulas().items()}


def solve(exercise: Path, out: Path, changes=None) -> Path:
    """The exercise filled in with the right formulas; `changes` puts other contents in named cells."""
    wb = openpyxl.load_workbook(exercise)
    for name, value in {**right_formulas(), **(changes or {})}.items():
        sheet, ref = wb.defined_names[name].attr_text.split("!")
        wb[sheet][ref.replace("$", "")].value = value
    wb.save(out)
    return out


def rezip(src: Path, out: Path, replace=None, add=None) -> Path:
    """A copy of the zip `src` with some parts replaced (name → bytes) or added."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = replace(info.filename, zin.read(info)) if callable(replace) else replace.get(
                info.filename, zin.read(info))
            new = zipfile.ZipInfo(info.filename, info.date_time)
            new.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(new, data)
        for name, data in add.items():
            zout.writestr(name, data)
    return out


def network_part(path: Path) -> str:
    """The zip part that holds the Network sheet."""
    import re

    with zipfile.ZipFile(path) as zf:
        book, rels = zf.read("xl/workbook.xml").decode(), zf.read("xl/_rels/workbook.xml.rels").decode()
    rid = re.search(r'<sheet [^>]*name="Network"[^>]*r:id="([^"]+)"', book)[1]
    target = re.search(rf'<Relationship [^>]*Id="{rid}"[^>]*Target="([^"]+)"|'
                       rf'<Relationship [^>]*Target="([^"]+)"[^>]*Id="{rid}"', rels)
    return "xl/" + (target[1] or target[2]).removeprefix("/xl/")


def ole2(*streams: str) -> bytes:
    """Enough of an OLE2 (old Office) file to be recognised: the magic and directory names in UTF-16."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + b"".join(s.encode("utf-16-le") + bytes(16) for s in streams)


SHEET = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dimension}'
         '<sheetData>{rows}</sheetData></worksheet>')
LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + ']>\n<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&lol9;</workbook>')
XXE = ('<?xml version="1.0"?>\n<!-- a comment first -->\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
       '<c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row></sheetData></worksheet>')


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def good(folder):
    exercise = folder / "exercise.xlsx"
    write_workbook(MAZUR, exercise, exercise=set(G.SECTIONS))
    return solve(exercise, folder / "good.xlsx")


@pytest.fixture(scope="module")
def web(folder):
    """A listening socket that no grading may connect to."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def broken(folder, good):
    """Files that cannot be graded at all → what their error must say."""
    f = folder
    data = good.read_bytes()
    (f / "empty.xlsx").write_bytes(b"")
    (f / "notes.xlsx").write_text("student,net_h1\nalice,0.3775\n")
    (f / "scan.xlsx").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(100))
    (f / "cut.xlsx").write_bytes(data[: len(data) * 2 // 3])
    (f / "old.xls").write_bytes(ole2("Root Entry", "Workbook", "SummaryInformation"))
    (f / "locked.xlsx").write_bytes(ole2("Root Entry", "EncryptionInfo", "EncryptedPackage"))
    (f / "dir.xlsx").mkdir()
    os.mkfifo(f / "pipe.xlsx")
    with zipfile.ZipFile(f / "bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w") as part:
            for _ in range(120):
                part.write(bytes(2**20))
    rezip(good, f / "laughs.xlsx", {"xl/workbook.xml": LAUGHS.encode()})
    rezip(good, f / "xxe.xlsx", {network_part(good): XXE.encode("utf-16")})
    rezip(good, f / "crc.xlsx", lambda name, b: b.replace(b"Network", b"Netwerk") if name == "xl/workbook.xml" else b)
    _damage_crc(f / "crc.xlsx")
    _flag_encrypted(rezip(good, f / "zipcrypto.xlsx"))
    with zipfile.ZipFile(f / "sheet.ods", "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "<office:document-content/>")
    with zipfile.ZipFile(f / "book.xlsb", "w") as zf:
        zf.writestr("xl/workbook.bin", b"\x83\x01")
    with zipfile.ZipFile(f / "photos.xlsx", "w") as zf:
        zf.writestr("photo.jpg", b"\xff\xd8\xff")
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 1_000_001))
    rezip(good, f / "million.xlsx", {network_part(good): SHEET.format(
        dimension='<dimension ref="A1:A1000000"/>', rows=rows).encode()})
    rezip(good, f / "stray.xlsx", {network_part(good): SHEET.format(dimension="", rows=(
        '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>')).encode()})
    return {
        "empty.xlsx": "the file is empty",
        "notes.xlsx": "a text file (a CSV?)",
        "scan.xlsx": "a PDF document",
        "cut.xlsx": "a damaged or incomplete zip file",
        "old.xls": "an old Excel 97-2003 (.xls) workbook; open it in Excel or LibreOffice and save it as Excel 2007-365 (.xlsx)",
        "locked.xlsx": "password-protected",
        "dir.xlsx": "is a folder",
        "pipe.xlsx": "not a regular file",
        "bomb.xlsx": "expands to 120 MiB, over the limit of 100 MiB",
        "laughs.xlsx": "declares a DOCTYPE",
        "xxe.xlsx": "declares a DOCTYPE",
        "crc.xlsx": "CRC",
        "zipcrypto.xlsx": "locked with a password",
        "sheet.ods": "File > Save As, file type 'Excel 2007-365 (.xlsx)'",
        "book.xlsb": "Excel binary workbook (.xlsb)",
        "photos.xlsx": "not an .xlsx workbook (no xl/workbook.xml)",
        "million.xlsx": "holds more than 100,000 cells",
        "stray.xlsx": "spread over A1:XFD1048576",
        "missing.xlsx": "no such file",
    }


def _flag_encrypted(path: Path) -> None:
    """Mark every part of the zip as encrypted (ZipCrypto), as a zip tool's password does."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        data[at + 8] |= 0x1
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def _damage_crc(path: Path) -> None:
    """Change a stored byte of the workbook part, so its CRC no longer matches (Bad CRC-32)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/workbook.xml")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x55
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def cellwise(folder, good, web):
    """Files whose bad formulas are errors of their own while the rest is graded → (name, status, words)."""
    f = folder
    secret = f / "secret.xlsx"
    with xlsxwriter.Workbook(str(secret)) as book:
        book.add_worksheet("Sheet1").write_number("A1", SECRET)
    port = web.getsockname()[1]
    cases = {
        "column.xlsx": ({"net_h1": "=SUM(A1:XFD1048576)+w_1*i_1+w_2*i_2+b_1"}, "net_h1", "whole column"),
        "webservice.xlsx": ({"net_h1": f'=WEBSERVICE("http://127.0.0.1:{port}/grade")'}, "net_h1",
                            "reaches outside the workbook"),
        "indirect.xlsx": ({"net_h2": '=SUM(INDIRECT("A1:XFD"&ROWS(A:A)))+w_3*i_1+w_4*i_2+b_1'}, "net_h2",
                          "builds a reference"),
        "link.xlsx": ({"net_h1": "='[secret.xlsx]Sheet1'!$A$1"}, "net_h1", "refers to another workbook"),
        "dde.xlsx": ({"net_h1": "=cmd|' /c calc'!A0"}, "net_h1", "calls another program"),
        "circular.xlsx": ({"net_h1": "=net_h1*0+w_1*i_1+w_2*i_2+b_1"}, "net_h1", "circular reference"),
        "long.xlsx": ({"net_h1": "=" + "+".join(["0"] * 5000) + "+w_1*i_1+w_2*i_2+b_1"}, "net_h1",
                      "longer than the 8,192 characters"),
    }
    for name, (changes, *_rest) in cases.items():
        solve(f / "exercise.xlsx", f / name, changes)
    # a workbook naming another one as a link: the part is dropped, the cell held back
    rezip(f / "link.xlsx", f / "link.xlsx.tmp", add={"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    os.replace(f / "link.xlsx.tmp", f / "link.xlsx")
    return {name: (quantity, words) for name, (_changes, quantity, words) in cases.items()}


@pytest.fixture(scope="module")
def fine(folder, good):
    """Files that are right although odd → what their report notes."""
    f = folder
    rezip(good, f / "macros.xlsm", add={"xl/vbaProject.bin": os.urandom(512)})
    (f / "alice.xlsx.download").write_bytes(good.read_bytes())
    rezip(good, f / "dimension.xlsx", lambda name, data: data.replace(
        b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>', 1) if name == network_part(good) else data)
    return {"macros.xlsm": "macros (VBA) were ignored", "alice.xlsx.download": None, "dimension.xlsx": None}


@pytest.fixture(scope="module")
def everything(folder, good, broken, cellwise, fine):
    """The whole corpus graded in one batch, as a class would be; with the inputs' bytes before."""
    paths = [folder / name for name in [*broken, *cellwise, *fine]] + [good]
    before = _fingerprint(folder)
    reports = grade_files(paths, MAZUR, LIMITS, jobs=2)
    return {Path(r.file).name: r for r in reports}, before, _fingerprint(folder)


def _fingerprint(folder: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.is_fifo():
            st = p.stat()
            out[p.name] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_mode)
        else:
            out[p.name] = ("special", p.is_dir())
    return out


# ---------------------------------------------------------------- whole files


def test_each_unusable_file_is_one_line_saying_what_it_is(everything, broken):
    reports, *_ = everything
    for name, words in broken.items():
        report = reports[name]
        assert report.error and "\n" not in report.error, name
        assert words in report.error, (name, report.error)
        assert report.items == [] and report.score == 0


def test_no_local_file_reaches_a_report(everything):
    reports, *_ = everything
    text = json.dumps([r.to_json() for r in reports.values()])
    assert "root:" not in text  # /etc/passwd, asked for by the XXE file
    assert str(SECRET)[:9] not in text and "987654321" not in text  # the linked secret.xlsx


def test_entity_parsing_is_refused_before_any_parser_sees_it(broken, folder):
    for name in ("laughs.xlsx", "xxe.xlsx"):
        with pytest.raises(WorkbookError, match="DOCTYPE"):
            check_container(folder / name)


def test_a_smaller_size_limit_refuses_an_ordinary_file(good):
    report = grade_file(good, MAZUR, GradeOptions(max_uncompressed=10_000))
    assert "over the limit of 0.0 MiB" in report.error and "--max-size" in report.error


def test_fewer_cells_allowed_refuses_the_exercise(good):
    report = grade_file(good, MAZUR, GradeOptions(max_cells=50))
    assert "holds more than 50 cells" in report.error and "--max-cells" in report.error


# ---------------------------------------------------------------- single cells


def test_bad_formulas_are_errors_of_their_own_and_the_rest_is_graded(everything, cellwise):
    reports, *_ = everything
    for name, (quantity, words) in cellwise.items():
        report = reports[name]
        assert report.error is None, (name, report.error)
        items = {i.name: i for i in report.items}
        assert items[quantity].status == "error" and words in items[quantity].diagnosis, (name, items[quantity])
        assert "\n" not in items[quantity].diagnosis
        other = "net_h1" if quantity == "net_h2" else "net_h2"
        assert items[other].status == "correct" and items["w_5"].status == "correct", name
        assert {i.status for i in report.items} <= {"correct", "error"}, name


def test_what_depends_on_a_held_cell_says_why(everything):
    items = {i.name: i for i in everything[0]["column.xlsx"].items}
    # judged on its own formula, with the right net_h1 in place of the held cell
    assert items["out_h1"].status == "correct"
    assert "judged with the correct value in place of the error in net_h1 (#N/A)" in items["out_h1"].diagnosis
    notes = everything[0]["column.xlsx"].notes
    assert notes and "Network!D" in notes[0] and "was not evaluated" in notes[0]


def test_the_network_is_never_contacted(everything, web):
    assert everything  # the batch above graded webservice.xlsx
    with pytest.raises(BlockingIOError):
        web.accept()


def test_links_macros_and_odd_names_are_ignored_and_graded(everything, fine, cellwise):
    reports, *_ = everything
    for name, note in fine.items():
        report = reports[name]
        assert report.error is None and report.all_right, (name, report.error)
        if note:
            assert any(note in n for n in report.notes), report.notes
    assert any("links to other workbooks" in n for n in reports["link.xlsx"].notes)


@pytest.mark.parametrize("formula, words", [
    ("=SUM(A1:XFD1048576)", "17,179,869,184 cells"),
    ("=SUM(1:100)", "1,638,400 cells"),
    ("=Sheet1:Sheet3!A1", "several sheets"),
    ("=SUM(Table1[Col])", "table reference"),
    ("='file:///etc/passwd'#$Sheet1.A1", "refers to a file"),
    ("=[1]!secret", "another workbook"),
    ("=_xlfn.WEBSERVICE(\"http://x\")", "WEBSERVICE()"),
    ("=FILTERXML(A1,\"//a\")", "reaches outside"),
    ("=_xludf.EVIL(1)", "macro's function"),
    ("=CALL(\"kernel32\",\"x\")", "runs code outside"),
    ("=OFFSET(A1,0,0,1048576,1)", "builds a reference"),
    ("=INFO(\"directory\")", "facts about the computer"),
    ("=SUM(bigname)", "uses the name bigname, which is held back: it refers to Sheet1!$A:$A"),
    ('="unclosed', "cannot be read as a formula"),
])
def test_screened_formulas(formula, words):
    problem = formula_problem(formula, {"bigname": "refers to Sheet1!$A:$A, …"})
    assert problem and words in problem


@pytest.mark.parametrize("formula", ["=w_1*i_1+w_2*i_2+b_1", "=1/(1+EXP(-net_h1))", "=SUM(B2:B5)*0.5",
                                     "=SUMPRODUCT($D$15:$D$16,D7:D8)", '="a|b"&A1', "=HYPERLINK(\"x\",1)",
                                     "='My sheet'!$A$1^2", "=SUM(1:2)"])
def test_ordinary_formulas_pass(formula):
    assert formula_problem(formula, {}) is None


# ---------------------------------------------------------------- the batch goes on


def test_a_file_that_hangs_the_engine_is_stopped_and_the_next_is_graded(folder, good):
    # a real hang: a minute of the formulas engine's work, stopped at 20 s (load only slows it further),
    # while the good file needs a second or two of the same engine
    slow = slow_workbook(folder / "slow.xlsx")
    reports = grade_files([slow, good], MAZUR, GradeOptions(engine="formulas", timeout=20, max_memory=2 * 2**30), jobs=1)
    assert "took longer than 20 s and was stopped" in reports[0].error and "--timeout" in reports[0].error
    assert reports[1].all_right


@pytest.mark.slow
def test_a_chain_thirty_thousand_deep_is_graded(folder, good):
    path = solve(folder / "exercise.xlsx", folder / "chain.xlsx",
                 {"net_h1": "=Chain!A30000+w_1*i_1+w_2*i_2+b_1"})
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet("Chain")
    ws["A1"] = 0
    for r in range(1, 30_000):
        ws.cell(r + 1, 1, f"=A{r}*1")
    wb.save(path)
    report, = grade_files([path], MAZUR, GradeOptions(engine="ironcalc", timeout=600, max_memory=2 * 2**30))  # only a hang stops it
    assert report.error is None and report.all_right


def _eat_memory_for_bob(path, spec, options):
    if "bob" in str(path):
        blocks = []
        while True:
            blocks.append(bytearray(50 * 2**20))
    if "carl" in str(path):
        import faulthandler

        faulthandler.disable()  # pytest's would print the crash to the terminal
        os.abort()
    if "dan" in str(path):
        raise RuntimeError("a bug\nwith two lines")
    return grade_file(path, spec, options)


def test_memory_bound_crash_and_bugs_are_per_file(good, folder, monkeypatch):
    import sheetprop.grading.grade

    monkeypatch.setattr(sheetprop.grading.grade, "grade_file", _eat_memory_for_bob)  # the children inherit it
    paths = [good, folder / "bob.xlsx", folder / "carl.xlsx", folder / "dan.xlsx", good]
    reports = grade_files(paths, MAZUR, GradeOptions(timeout=30, max_memory=512 * 2**20), jobs=2)
    assert [r.file for r in reports] == [str(p) for p in paths]  # input order
    assert reports[0].all_right and reports[4].all_right
    assert "needed more than 512 MiB of memory" in reports[1].error and "--max-memory" in reports[1].error
    assert "stopped unexpectedly (signal 6)" in reports[2].error
    assert reports[3].error.endswith("(internal error: RuntimeError: a bug)")


# ---------------------------------------------------------------- nothing lost


def test_inputs_are_never_modified_and_nothing_is_left_beside_them(everything):
    _, before, after = everything
    assert after == before


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_outputs_are_written_whole_or_not_at_all(good, folder, monkeypatch):
    out = folder / "out" / "grades.csv"
    out.parent.mkdir()
    out.write_text("the old gradebook\n")
    import sheetprop.files

    def fail(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sheetprop.files.os, "replace", fail)
    result = run("check", good, "--spec", "mazur", "--csv", out)
    assert result.exit_code == 130
    assert result.output.splitlines()[-1] == "Error: interrupted; no output file was written or changed"
    assert out.read_text() == "the old gradebook\n"
    assert [p.name for p in out.parent.iterdir()] == ["grades.csv"]  # no temporary file left
    monkeypatch.undo()
    assert run("check", good, "--spec", "mazur", "--csv", out).exit_code == 0
    assert out.read_text().startswith("student,file,score")


def test_an_output_that_is_an_input_is_refused(good, folder):
    before = good.read_bytes()
    for option in ("--csv", "--gradescope"):
        result = run("check", good, "--spec", "mazur", option, good)
        assert result.exit_code == 2 and "that is one of the input files" in result.output
    assert good.read_bytes() == before
    assert "must be different files" in run("check", good, "--spec", "mazur", "--csv", folder / "r.json",
                                             "--gradescope", folder / "r.json").output


def test_ctrl_c_stops_the_batch_and_writes_nothing(folder, good):
    slow = folder / "hang.xlsx"
    with xlsxwriter.Workbook(str(slow)) as book:
        ws = book.add_worksheet("S")
        ws.write_number("A1", 0)
        for r in range(1, 20_000):
            ws.write_formula(f"A{r + 1}", f"=A{r}+1")
    out = folder / "interrupted.csv"
    proc = subprocess.Popen([sys.executable, "-m", "sheetprop", "check", str(slow), str(good), "--spec", "mazur",
                             "--csv", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 30
    while not children.read_text().split() and time.monotonic() < deadline:  # grading has begun
        time.sleep(0.1)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal does: the whole group
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert stderr.decode().strip() == "Error: interrupted; no output file was written or changed"
    assert not out.exists() and not list(folder.glob(".interrupted.csv.*"))


# ---------------------------------------------------------------- what is printed


def test_student_text_cannot_redraw_the_terminal(folder):
    path = folder / "bidi.xlsx"
    solve(folder / "exercise.xlsx", path, {"net_h1": "0.3775 \u202e\u2066 looks fine"})
    result = run("check", path, "--spec", "mazur")
    assert "looks fine" in result.output and "\u202e" not in result.output and "\u2066" not in result.output


def test_a_file_name_that_is_a_formula_stays_text_in_the_gradebook(good, folder):
    evil = folder / '=HYPERLINK("http:evil","x").xlsx'
    evil.write_bytes(good.read_bytes())
    out = folder / "names.csv"
    assert run("check", evil, "--spec", "mazur", "--csv", out).exit_code == 0
    row = out.read_text().splitlines()[1]
    assert row.startswith("\"'=HYPERLINK(")


def test_the_cli_prints_one_line_errors_never_a_traceback(folder, everything, broken):
    paths = [folder / name for name in ("empty.xlsx", "old.xls", "million.xlsx")]
    result = subprocess.run([sys.executable, "-m", "sheetprop", "check", *map(str, paths), "--spec", "mazur"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr == ""
    assert "Traceback" not in result.stdout
    assert len(result.stdout.splitlines()) == 3 + 1 + 4  # headlines, blank line, table


# ---------------------------------------------------------------- specs, maps and points


@pytest.mark.parametrize("text, words", [
    ("learning_rate: .nan", "finite"),
    ("learning_rate: .inf", "finite"),
    ("learning_rate: -.inf", "finite"),
    ("learning_rate: '0.5'", "must be a number"),
    ("learning_rate: [[0.5]]", "must be a number"),
    ("learning_rate: []", "a list of numbers for a sweep"),
    ("learning_rate: true", "must be a number"),
    ("learning_rate: 1e999", "finite"),
    ("learning_rate: 1" + "0" * 400, "finite"),
    ("epochs: 1" + "0" * 5000, "cannot be read"),
    ("name: 2024-13-45", "cannot be read"),
    ("name: !!python/object/apply:os.system ['echo hi']", "YAML"),
    ("layers: DEEP", "nested too deeply"),
    ("layers: [2, 100000, 100000, 1]", "--max-cells"),
    ("epochs: 1000000000", "--max-cells"),
    ("init: {seed: -1}", "at least 0"),
])
def test_hostile_spec_values_are_one_line_errors(text, words):
    from sheetprop.model.spec import check_budget

    base = "layers: [2, 2, 1]\nlearning_rate: 0.5\ndata: [{inputs: [0.1, 0.2], targets: [1]}]\n"
    key = text.split(":")[0]
    lines = [line for line in base.splitlines() if not line.startswith(key)]
    text = text.replace("DEEP", "[" * 3000 + "]" * 3000)
    with pytest.raises(SpecError) as caught:
        check_budget(parse_spec("\n".join(lines + [text])), 2_000_000)
    message = str(caught.value)
    assert words in message and "\n" not in message


def test_absurd_but_valid_init_values_still_give_a_spec():
    spec = parse_spec("layers: [2, 1]\nlearning_rate: 0.5\ndata: [{inputs: [1, 2], targets: [1]}]\n"
                      "init: {decimals: 100000000000000000000, seed: 100000000000000000000000000000}\n")
    assert all(abs(w) < 2 for row in spec.weights[0] for w in row)


def test_hostile_json_specs(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"layers": ' + "[" * 100_000 + "]" * 100_000 + "}")
    nan = tmp_path / "nan.json"
    nan.write_text('{"layers": [1, 1], "learning_rate": NaN, "data": [{"inputs": [1], "targets": [1]}]}')
    for path, words in ((deep, "nested too deeply"), (nan, "finite")):
        with pytest.raises(SpecError, match=words):
            load_spec(path)


def test_alias_bombs_in_map_and_points_files_are_refused(good, folder):
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join('*' + chr(97 + i) for _ in range(9))}]\n" for i in range(12))
    path = folder / "bomb.yaml"
    path.write_text(bomb)
    for option in ("--map", "--points"):
        result = run("check", good, "--spec", "mazur", option, path)
        assert result.exit_code == 2 and "aliases" in result.output and len(result.output.splitlines()) == 1
    path.write_text("net_h1: .nan\n")
    result = run("check", good, "--spec", "mazur", "--points", path)
    assert result.exit_code == 2 and "from 0 to 1e9" in result.output


def test_a_spec_beyond_the_cell_budget_of_check_is_refused_with_the_flag(good, folder):
    spec = folder / "wide.yaml"
    spec.write_text("layers: [50, 50, 50]\nlearning_rate: 0.1\ndata: [{inputs: [" + ", ".join(["0.1"] * 50)
                    + "], targets: [" + ", ".join(["1"] * 50) + "]}]\n")
    result = run("check", good, "--spec", spec, "--max-cells", "1000")
    assert result.exit_code == 2 and "raise the limit with --max-cells" in result.output


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","click")', "=cmd|' /C calc'!A0", "@SUM(1+1)",
                                  "+1+1", "-2+3"])
def test_spec_text_that_looks_like_a_formula_is_written_as_text(tmp_path, name):
    spec = parse_spec(f"name: {json.dumps(name)}\nlayers: [1, 1]\nlearning_rate: 0.1\n"
                      "data: [{inputs: [1], targets: [1]}]\n")
    for exercise in (None, set(G.SECTIONS)):
        path = tmp_path / f"book{bool(exercise)}.xlsx"
        write_workbook(spec, path, exercise=exercise)
        wb = openpyxl.load_workbook(path)
        cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
        assert any(c.value == name and c.data_type == "s" for c in cells)
        assert not any(c.data_type == "f" and ("HYPERLINK" in str(c.value) or "cmd|" in str(c.value))
                       for c in cells)


# ---------------------------------------------------------------- LibreOffice as the engine


@pytest.mark.libreoffice
@needs_libreoffice
def test_libreoffice_gets_no_link_and_no_web_request(everything, folder, web):
    paths = [folder / "link.xlsx", folder / "webservice.xlsx"]
    reports = grade_files(paths, MAZUR, GradeOptions(engine="libreoffice", timeout=120), jobs=2)
    text = json.dumps([r.to_json() for r in reports])
    assert "987654321" not in text
    assert all(r.error is None for r in reports)
    with pytest.raises(BlockingIOError):
        web.accept()


# ---------------------------------------------------------------- progress on a terminal, quiet otherwise


def _check_with_stderr_on_a_terminal(*args) -> tuple[str, str]:
    import pty

    master, slave = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "sheetprop", "check", *map(str, args)], stdout=subprocess.PIPE,
                                stderr=slave, timeout=120)
    finally:
        os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal is closed and read
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return result.stdout.decode(), shown.decode()


def test_progress_shows_on_a_terminal_and_never_in_the_output(good):
    stdout, terminal = _check_with_stderr_on_a_terminal(good, good, "--spec", "mazur")
    assert "files graded: 2/2" in terminal
    assert "\r" not in stdout and "graded:" not in stdout and stdout.count("39 / 39 points") == 2
    stdout, terminal = _check_with_stderr_on_a_terminal(good, "--spec", "mazur", "--json")
    assert terminal == "" and len(json.loads(stdout)) == 1
    # piped: test_the_cli_prints_one_line_errors_never_a_traceback finds stderr empty
