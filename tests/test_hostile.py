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
    assert reports[3].error.endswith(": internal error (RuntimeError: a bug); please report it with the file")


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
    ("epochs: 1" + "0" * 5000, "epochs: must be a whole number, not a number of 5,001 digits"),
    ("name: 2024-13-45", "cannot be read"),
    ("name: !!python/object/apply:os.system ['echo hi']", "YAML"),
    ("layers: DEEP", "nested too deeply"),
    ("layers: [2, 100000, 100000, 1]", "--max-cells"),
    ("epochs: 1000000000", "--max-cells"),
    ("init: {seed: -1}", "at least 0"),
    # issue 21, row 5: what YAML builds that JSON cannot say, named with its field
    ("learning_rate: 2001-12-14", "learning_rate: must be a number, not the date 2001-12-14"),
    ("learning_rate: !!binary aGVsbG8=", "learning_rate: must be a number, not binary data (!!binary)"),
    ("learning_rate: !!set {a, b}", "learning_rate: must be a number, not a set (!!set)"),
    ("init: {seed: 2001-12-14 10:00:00}", "init.seed: must be a whole number, not the date 2001-12-14T10:00:00"),
    ("data: [{inputs: [0.1, !!binary aGk=], targets: [1]}]", "data[0].inputs[1]: must be a number, not binary"),
    ("layers: &a [2, *a]", "layers[1]: must be a whole number, not [2, a list that holds itself]"),
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


# ================================================================ round three (issue 21, and issue 20's item 5)
# Each test builds the case the probe found and fails on the code before the fix.


def sheetprop_run(*args, env=None, timeout=300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sheetprop", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, **kw)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """stderr as exactly one `Error:` line and no traceback; the line."""
    assert "Traceback" not in done.stderr + done.stdout and "Exception ignored" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def _namespaces_work() -> bool:
    """Can a test mount a tmpfs of its own (a user and mount namespace, `unshare -rm`)?"""
    try:
        return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_namespaces = pytest.mark.skipif(not _namespaces_work(), reason="`unshare -rm` cannot mount a tmpfs here "
                                      "(no user namespaces): a full disk cannot be made without root")


def in_small_disk(disk: Path, command: str, timeout=300) -> subprocess.CompletedProcess:
    """Run `command` (sh) with a full 64 KiB tmpfs mounted at `disk`, in a mount namespace of its own
    (the mount vanishes with it): a real full disk, without root."""
    disk.mkdir(exist_ok=True)
    script = (f"mount -t tmpfs -o size=64k tmpfs {disk} && (head -c 100000 /dev/zero > {disk}/filler) 2>/dev/null; "
              f"cd {Path.cwd()} && {command}")
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})


# ---------------------------------------------------------------- row 2: a workbook sheetprop wrote, handed in


@pytest.fixture(scope="module")
def generated(folder):
    path = folder / "handed-in.xlsx"
    write_workbook(load_spec("mazur-nobias"), path)
    return path


def test_a_workbook_sheetprop_wrote_is_graded_as_it_is_with_a_note_for_the_instructor(generated, good, folder):
    from sheetprop.reports.classpage import class_page
    from sheetprop.reports.text import gradescope

    csv_path, html_path = folder / "made.csv", folder / "made.html"
    done = sheetprop_run("check", generated, good, "--csv", csv_path, "--html", html_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{generated}: 39 / 39 points (every answer is right)"
    assert lines[1].startswith("  note for the instructor: written by sheetprop") and "its About sheet says " \
        "\"Generated by sheetprop" in lines[1] and "from preset mazur-nobias" in lines[1]
    assert "note for the instructor" not in "\n".join(lines[2:])  # the filled-in exercise is the student's own
    reports = {Path(r["file"]).name: r for r in json.loads(sheetprop_run("check", generated, good, "--json").stdout)}
    assert reports["handed-in.xlsx"]["provenance"].startswith("written by sheetprop")
    assert reports["handed-in.xlsx"]["score"] == 39 and reports["good.xlsx"]["provenance"] is None
    rows = {row.split(",")[0]: row for row in csv_path.read_text().splitlines()}
    assert rows["student"].endswith(",written_by_sheetprop") and "written by sheetprop" in rows["handed-in"]
    assert not rows["good"].endswith("sheetprop") and rows["good"].endswith(",")
    assert "1 written by sheetprop" in html_path.read_text() and "for the instructor: written by sheetprop" \
        in html_path.read_text()
    report = grade_files([generated], None)[0]
    results = gradescope(report)
    hidden = [t for t in results["tests"] if t["visibility"] == "hidden"]
    assert len(hidden) == 1 and hidden[0]["output"].startswith("written by sheetprop") and hidden[0]["max_score"] == 0
    assert "sheetprop" not in results["output"].replace("sheetprop check", "")  # the student's view says nothing
    assert "written by sheetprop" in class_page([report])


def test_an_exercise_filled_in_by_hand_is_not_taken_for_sheetprops_own(good):
    report, = grade_files([good], MAZUR)
    assert report.all_right and report.provenance is None


# ---------------------------------------------------------------- row 3: a file name that is not UTF-8


def test_a_file_name_that_is_not_utf8_is_graded_and_shown_escaped(good, tmp_path):
    odd = tmp_path / os.fsdecode(b"M\x81ller.xlsx")
    odd.write_bytes(good.read_bytes())
    (tmp_path / "alice.xlsx").write_bytes(good.read_bytes())
    csv_path, html_path = tmp_path / "out" / "grades.csv", tmp_path / "out" / "class.html"
    csv_path.parent.mkdir()
    done = sheetprop_run("check", odd, tmp_path / "alice.xlsx", "--spec", "mazur", "--csv", csv_path,
                         "--html", html_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert f"{tmp_path}/M\\x81ller.xlsx: 39 / 39 points (every answer is right)" in done.stdout
    assert "M\\x81ller,"in csv_path.read_text() and "M\\x81ller" in html_path.read_text()


def _autograder_root(root: Path, spec_name: str = "mazur-nobias") -> Path:
    """The layout Gradescope gives run_autograder: source/ with the bundle's options, submission/."""
    from sheetprop import __version__
    from sheetprop.reports.autograder import CONFIG, BundleOptions

    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    config = {"sheetprop": __version__, "spec": load_spec(spec_name).to_dict(), "options": {**BundleOptions().__dict__}}
    (root / "source" / CONFIG).write_text(json.dumps(config))
    return root


def test_the_autograder_grades_a_workbook_whose_name_is_not_utf8(good, tmp_path):
    from students import Sheet, workbook

    from sheetprop.reports.autograder import grade_submission, write_results

    root = _autograder_root(tmp_path / "ag")
    workbook(Path(os.fsdecode(bytes(root / "submission") + b"/M\x81ller.xlsx")), Sheet())
    results = grade_submission(root)
    assert results["score"] == 39 and results["output"].startswith("M\\x81ller.xlsx: 39 / 39 points")
    assert json.loads(write_results(root, results).read_text())["score"] == 39


# ---------------------------------------------------------------- row 4: never a child's traceback


def test_a_child_stopped_as_it_starts_prints_nothing(tmp_path):
    """The SIGTERM lands while the child is still starting (here: made slow on purpose), with the
    parent's handler inherited: it must end quietly, not print multiprocessing's traceback."""
    script = tmp_path / "start.py"
    script.write_text(f"""
import os, sys, time
sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
import sheetprop.isolate as I
I.handle_termination()  # as the CLI does
ready_r, ready_w = os.pipe()

def slow_start(parent):
    os.write(ready_w, b"x")
    time.sleep(5)

I._die_with_parent = slow_start
job = I.Job(time.sleep, 30, timeout=60)
os.read(ready_r, 1)  # the child is starting
job.stop()
print("exit code", job._process.exitcode)
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.strip() == "exit code 143"


def test_verify_of_a_refused_workbook_prints_one_line(folder):
    book = folder / "made-macros.xlsm"
    write_workbook(MAZUR, folder / "made.xlsx")
    rezip(folder / "made.xlsx", book, add={"xl/vbaProject.bin": os.urandom(512)})
    for _ in range(3):
        done = sheetprop_run("verify", book)
        assert done.returncode == 2 and "holds macros" in one_error_line(done)


# ---------------------------------------------------------------- row 5: spec values YAML or JSON cannot show


@pytest.mark.parametrize("field", ["epochs", "learning_rate", "init"])
def test_a_five_thousand_digit_integer_in_json_names_its_field(tmp_path, field):
    big = "1" + "0" * 5000
    spec = {"layers": [2, 1], "learning_rate": 0.5, "data": [{"inputs": [1, 2], "targets": [1]}]}
    text = json.dumps(spec)[:-1] + (f', "init": {{"seed": {big}}}}}' if field == "init" else f', "{field}": {big}}}')
    (tmp_path / "big.json").write_text(text.replace('"learning_rate": 0.5, ', "") if field == "learning_rate"
                                       else text)
    done = sheetprop_run("generate", tmp_path / "big.json", "-o", tmp_path / "big.xlsx")
    line = one_error_line(done)
    assert done.returncode == 2 and "a number of 5,001 digits" in line
    assert f"big.json: {'init.seed' if field == 'init' else field}: must be " in line


def test_aliases_nested_forty_deep_cost_no_more_than_a_short_list():
    """Forty aliases, each a pair of the one before: 2**40 numbers if anything looked at them all."""
    anchors = "".join(f"a{k}: &a{k} [*a{k - 1}, *a{k - 1}]\n" for k in range(1, 40))
    text = "a0: &a0 [1, 1]\n" + anchors + "learning_rate: *a39\nlayers: [1, 1]\ndata: [{inputs: [1], targets: [1]}]\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    assert "learning_rate[0]: must be a number, not [[[[" in str(caught.value)


# ---------------------------------------------------------------- row 6: explain has generate's limits


def test_explain_of_a_huge_spec_is_refused_at_once_with_the_flag_it_has(tmp_path):
    n = 490
    spec = tmp_path / "big.yaml"
    spec.write_text(f"layers: [{n}, {n}, {n}]\nlearning_rate: 0.1\n"
                    f"data: [{{inputs: [{', '.join(['0.1'] * n)}], targets: [{', '.join(['0.5'] * n)}]}}]\n")
    done = sheetprop_run("explain", spec, "-o", tmp_path / "big.md", timeout=120)
    line = one_error_line(done)
    assert done.returncode == 2 and "over the limit of 100,000; use smaller layers, or raise the limit with " \
        "--max-cells 1933056" in line
    assert not (tmp_path / "big.md").exists()
    assert "--max-cells" in sheetprop_run("explain", "--help").stdout
    small = sheetprop_run("explain", "mazur", "--max-cells", "5", "-o", tmp_path / "p.md")
    assert small.returncode == 2 and "raise the limit with --max-cells" in one_error_line(small)


def test_explain_takes_the_learning_rate_like_generate(tmp_path):
    done = sheetprop_run("explain", "perceptron", "--eta", "0.25")
    assert done.returncode == 0, done.stderr
    assert "0.8 - 0.25\\cdot" in done.stdout  # w⁺ = w − η·∂E/∂w with the rate given


# ---------------------------------------------------------------- row 7: a full disk


def test_a_full_disk_under_xlsxwriter_is_one_line_naming_it(tmp_path, monkeypatch):
    import errno
    import zipfile as zipmodule

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "m.xlsx"
    out.write_bytes(b"the old file")
    monkeypatch.setattr(zipmodule.ZipFile, "write", full)
    result = CliRunner().invoke(main, ["generate", "mazur", "-o", str(out)])
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1, result.output
    assert result.output.startswith(f"Error: {out}: cannot write: no space left on ") and "internal error" \
        not in result.output
    assert out.read_bytes() == b"the old file" and [p.name for p in tmp_path.iterdir()] == ["m.xlsx"]


@needs_namespaces
@pytest.mark.parametrize("command", ["generate mazur -o DISK/m.xlsx", "explain mazur -o DISK/m.md",
                                     "check GOOD --spec mazur --csv DISK/g.csv"])
def test_a_real_full_disk_is_one_line_naming_the_disk(good, tmp_path, command):
    disk = tmp_path / "disk"
    done = in_small_disk(disk, f"{sys.executable} -m sheetprop "
                         + command.replace("DISK", str(disk)).replace("GOOD", str(good)) + "; echo rc=$?; ls -A "
                         + str(disk))
    out = done.stdout.splitlines()
    assert out[-2:] == ["rc=2", "filler"], done.stdout + done.stderr  # nothing written beside the filler
    line = one_error_line(done)
    assert f"cannot write: no space left on tmpfs (mounted at {disk}); nothing was written or changed" in line


@needs_namespaces
@needs_libreoffice
@pytest.mark.libreoffice
def test_libreoffice_with_a_full_tmpdir_still_grades_and_never_blames_the_file(folder, good, tmp_path):
    made = folder / "made-lo.xlsx"
    write_workbook(MAZUR, made)
    disk = tmp_path / "disk"
    done = in_small_disk(disk, f"TMPDIR={disk} {sys.executable} -m sheetprop verify {made} --engine libreoffice "
                               f"--timeout 120; TMPDIR={disk} {sys.executable} -m sheetprop check {good} --spec mazur "
                               f"--engine libreoffice --timeout 120; ls -A {disk}", timeout=600)
    assert done.stderr == "" and f"{made}: OK: every cell agrees" in done.stdout, done.stdout + done.stderr
    assert f"{good}: 39 / 39 points" in done.stdout and done.stdout.splitlines()[-1] == "filler"


def test_a_disk_too_full_for_libreoffice_is_said_not_blamed_on_the_file(good, tmp_path, monkeypatch):
    import sheetprop.engines.libreoffice as lo

    monkeypatch.setattr(lo, "soffice", lambda: "soffice")
    monkeypatch.setattr(lo, "_run", lambda *args, **kw: (None, "soffice exited with status 1"))
    with pytest.raises(lo.EngineError) as caught:
        lo.convert(good, "xlsx", tmp_path)
    assert "check that the file opens in LibreOffice" in str(caught.value)  # a file LibreOffice fails on
    monkeypatch.setattr(lo, "full_disk", lambda *paths, margin=0: "no space left on /dev/sdz (mounted at /scratch)")
    (tmp_path / "again").mkdir()
    with pytest.raises(lo.EngineError) as caught:
        lo.convert(good, "xlsx", tmp_path / "again")
    assert "no space left on /dev/sdz (mounted at /scratch), where it keeps its temporary files" in str(caught.value)
    assert "check that the file opens" not in str(caught.value)


# ---------------------------------------------------------------- row 8: no --spec, and the given values overflow


def test_given_values_that_overflow_are_judged_as_with_the_spec(tmp_path):
    from students import GIVEN, Sheet, workbook

    given = {**GIVEN, "w_1": 1e300, "i_1": 1e10}
    one = workbook(tmp_path / "over.xlsx", Sheet(given=given, rows=3))
    two = workbook(tmp_path / "over2.xlsx", Sheet(rows=3), Sheet(title="Sheet2", given=given, rows=3, eta=0.1))
    alone, with_spec = grade_files([one], None)[0], grade_files([one], load_spec("mazur-nobias"))[0]
    assert alone.error is None and any("beyond ±1.8e308" in n and "--spec mazur-nobias" in n for n in alone.notes)
    assert (alone.score, alone.max_score) == (with_spec.score, with_spec.max_score) == (26, 27)
    for spec in (None, load_spec("mazur-nobias")):  # a second table whose values overflow
        report, = grade_files([two], spec)
        assert report.error is None and len(report.training) == 2


# ---------------------------------------------------------------- row 9: a loss curve at ±1e308


def test_a_loss_alternating_at_the_edge_of_floats_is_drawn_on_a_scale_that_fits():
    import re

    from sheetprop.grading.grade import FileReport
    from sheetprop.reports.classpage import class_page

    table = {"sheet": "Sheet1", "cell": "Sheet1!A6", "eta": 0.5, "rows": 10, "status": "incorrect",
             "first_wrong": {"update": 1, "name": "grad_w_5", "cell": "Sheet1!AB6", "got": 1e308, "expected": 0.07},
             "loss_last": -1.7976931348623157e308, "correct_last": 0.2, "max_rel_deviation": None,
             "loss": [[k, (-1) ** k * 1.7976931348623157e308] for k in range(10)],
             "correct_loss": [0.3 - 0.01 * k for k in range(10)]}
    page = class_page([FileReport(file="edge.xlsx", score=1, max_score=27, training=[table])])
    svg = page[page.index("<svg class=\"loss\""):]
    svg = svg[:svg.index("</svg>")]
    points = [float(v) for p in re.findall(r'points="([^"]+)"', svg) for xy in p.split() for v in xy.split(",")]
    assert len(points) == 40 and all(0 <= v <= 310 for v in points)  # both curves, every point inside the chart
    ys = set(points[21::2])  # the student's curve: the top and the bottom of the frame
    assert ys == {10.0, 142.0}
    left = float(re.search(r'<line x1="([\d.]+)"', svg)[1])
    assert left >= 8 + 7 * len("-1.8e+308")  # the longer label fits left of the axis


# ---------------------------------------------------------------- row 10: where the autograder looks


def test_the_autograder_finds_the_workbook_beside_a_crowd_and_a_deep_tree(tmp_path):
    from students import Sheet, workbook

    from sheetprop.reports.autograder import grade_submission

    root = _autograder_root(tmp_path / "ag")
    submission = root / "submission"
    for k in range(1001):
        (submission / f"a{k:04}.txt").write_text("notes")
    deep = submission / "b"
    deep.mkdir()
    here = os.getcwd()
    os.chdir(deep)
    try:
        for _ in range(1100):  # relative steps: the whole path would be longer than the system allows
            os.mkdir("d")
            os.chdir("d")
    finally:
        os.chdir(here)
    workbook(submission / "homework.xlsx", Sheet())
    try:
        results = grade_submission(root)
    finally:
        subprocess.run(["rm", "-rf", str(deep)], check=True)
    assert results["score"] == 39 and results["output"].startswith("homework.xlsx: 39 / 39 points"), results["output"]


# ---------------------------------------------------------------- row 11: a limit on processes


def _few_processes(limit: int):
    """preexec_fn: at most `limit` processes for this user. Root is exempt from the limit, so a root
    test runs the command with a real user id nobody uses and without the capabilities that exempt it
    (the effective user stays root, so the command can still read its files)."""
    import ctypes
    import resource

    def apply():
        if os.geteuid() == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            for capability in (21, 24):  # CAP_SYS_ADMIN, CAP_SYS_RESOURCE
                if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                    raise OSError(ctypes.get_errno(), "prctl")
            resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
            os.setresuid(54321, 0, 0)
        else:
            resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))

    return apply


def test_a_limit_on_processes_is_said_as_such(good):
    done = sheetprop_run("check", good, good, "--spec", "mazur", preexec_fn=_few_processes(1))
    assert done.returncode == 2 and done.stdout == ""
    assert one_error_line(done) == ("Error: cannot start a process (limit on processes: ulimit -u is 1); raise the "
                                    "limit: each file is graded in a process of its own; no file was graded")
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as shared:  # a folder the made-up user may read (pytest's is private)
        os.chmod(shared, 0o755)
        made = Path(shared) / "made.xlsx"
        write_workbook(MAZUR, made)
        os.chmod(made, 0o644)
        done = sheetprop_run("verify", made, preexec_fn=_few_processes(1))
        shutil.rmtree(shared, ignore_errors=True)
    assert done.returncode == 2 and "cannot start a process (limit on processes" in one_error_line(done)


@pytest.mark.skipif(os.geteuid() != 0, reason="a user id with no other process is needed: root makes one up")
def test_a_few_processes_are_enough_to_grade(good):
    # two files, two at a time: no warm-up, so each child imports numpy itself (whose BLAS threads,
    # one per core, once failed to start under this limit: "interrupted", exit 130)
    done = sheetprop_run("check", good, good, "--spec", "mazur", preexec_fn=_few_processes(3))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.count("39 / 39 points") == 2


# ---------------------------------------------------------------- row 12: nothing left, the solution never exposed


def test_the_warm_up_solution_is_gone_before_any_student_file_is_graded(good, monkeypatch):
    """The warm-up grades the assignment's full solution; while students' files are graded it must be
    nowhere on disk, and their scratch folder is private."""
    import stat

    import sheetprop.grading.batch as B
    from sheetprop.grading.grade import FileReport

    def look(path, spec, options):
        mode = stat.S_IMODE(os.stat(options.scratch).st_mode)
        return FileReport(file=str(path), notes=[f"{mode:o}", *(p.name for p in Path(options.scratch).rglob("*"))])

    monkeypatch.setattr(B, "_grade_quietly", look)  # the children inherit it
    reports = grade_files([good, good, good], MAZUR, GradeOptions(timeout=60, max_memory=2 * 2**30), jobs=1)
    for report in reports:
        assert report.notes[0] == "700"  # the scratch folder is this user's only
        assert not any("warm-up" in name or name.endswith(".xlsx") for name in report.notes[1:]), report.notes


def test_a_second_signal_while_stopping_leaves_nothing_behind(good, tmp_path):
    """SIGTERM, then another while the children are being stopped (a child busy in an engine takes
    its STOP_GRACE to go): the scratch folder is still removed, and no child is left."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = tmp_path / "stop.py"
    script.write_text(f"""
import os, signal, sys, threading, time
sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
import sheetprop.grading.batch as B
from sheetprop.isolate import Terminated, handle_termination
from sheetprop.grading.grade import GradeOptions
from sheetprop.model.spec import load_spec

def busy(path, spec, options):  # an engine deaf to SIGTERM, as IronCalc is while it computes
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)

B._grade_quietly = busy
handle_termination()

def signals():
    time.sleep(3)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)  # while the first stop waits for the children

threading.Thread(target=signals, daemon=True).start()
try:
    B.grade_files([{str(good)!r}] * 3, load_spec("mazur"), GradeOptions(timeout=120), jobs=2)
except Terminated:
    print("stopped")
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert "stopped" in done.stdout or done.returncode == -signal.SIGTERM, done.stderr
    time.sleep(0.5)
    assert list(scratch.iterdir()) == []


@needs_namespaces
@needs_libreoffice
@pytest.mark.libreoffice
def test_libreoffice_stopped_at_its_time_limit_leaves_nothing_in_tmp(tmp_path):
    """In a mount namespace with a /tmp of its own (LibreOffice puts its socket in /tmp, whatever
    TMPDIR says): after LibreOffice is stopped at the time limit, /tmp holds only the input."""
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from conftest import slow_workbook\n"
            "from sheetprop.engines import evaluate\n"
            "import os; os.makedirs('/tmp/in'); slow_workbook('/tmp/in/slow.xlsx', 200_000)\n"
            "try:\n    evaluate('/tmp/in/slow.xlsx', 'libreoffice', timeout=3)\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    (tmp_path / "stop.py").write_text(code)
    # The checkout may itself be under /tmp, which the new mount hides: the script, conftest and the
    # package are copied to /dev/shm first, and imported from there.
    here, root = Path(__file__).parent, Path(__file__).parent.parent
    script = (f"D=/dev/shm/sheetprop-stop-$$ && mkdir -p $D && cp {tmp_path / 'stop.py'} {here / 'conftest.py'} $D/ "
              f"&& cp -r {root / 'sheetprop'} $D/ && mount -t tmpfs tmpfs /tmp && "
              f"PYTHONPATH=$D {sys.executable} $D/stop.py $D; rm -rf $D; "
              "find /tmp -mindepth 1 -not -path '/tmp/in*'")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    lines = done.stdout.splitlines()
    assert lines and lines[0].startswith("EngineError LibreOffice did not finish"), done.stdout + done.stderr
    assert lines[1:] == [], lines  # no lu*.tmp, no OSL_PIPE_*, no folder of ours (200,000 formulas take minutes)


# ---------------------------------------------------------------- row 13: an output's owner, mode and links


def test_a_symlink_planted_in_a_shared_folder_is_refused(good, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # sticky and writable by all, as /tmp
    victim = tmp_path / "home" / ".bashrc"
    victim.parent.mkdir()
    victim.write_text("export PATH\n")
    (shared / "grades.csv").symlink_to(victim)
    for option in ("--csv", "--html", "--gradescope"):
        done = sheetprop_run("check", good, "--spec", "mazur", option, shared / "grades.csv")
        assert done.returncode == 2 and done.stdout == ""
        assert f"is a symbolic link (to {victim}); sheetprop never writes through a link" in one_error_line(done)
    done = sheetprop_run("generate", "mazur", "-o", shared / "m.xlsx")  # a link planted for generate too
    assert done.returncode == 0
    (shared / "w.xlsx").symlink_to(victim)
    assert sheetprop_run("generate", "mazur", "-o", shared / "w.xlsx").returncode == 2
    assert victim.read_text() == "export PATH\n" and (shared / "grades.csv").is_symlink()
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):  # a sticky folder under /dev: its links are no streams
        planted = shm / f"sheetprop-test-{os.getpid()}.csv"
        planted.symlink_to(victim)
        try:
            assert sheetprop_run("check", good, "--spec", "mazur", "--csv", planted).returncode == 2
        finally:
            planted.unlink()
        assert victim.read_text() == "export PATH\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_rewriting_another_users_gradebook_keeps_its_owner_and_mode(good, tmp_path):
    book = tmp_path / "grades.csv"
    book.write_text("the old grades\n")
    os.chown(book, 54321, 54322)
    os.chmod(book, 0o640)
    done = sheetprop_run("check", good, "--spec", "mazur", "--csv", book)
    assert done.returncode == 0, done.stderr
    st = book.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (54321, 54322, 0o640)
    assert book.read_text().startswith("student,file,score")


def test_a_file_that_would_change_hands_is_refused_before_grading(tmp_path, monkeypatch):
    import sheetprop.files as F

    book = tmp_path / "grades.csv"
    book.write_text("the old grades\n")
    owner = book.stat().st_uid
    monkeypatch.setattr(F.os, "geteuid", lambda: owner + 1)  # as another user who may write the folder
    with pytest.raises(F.OutputError, match="belongs to .*which would make it yours"):
        F.check_writable(book, "--csv")
    monkeypatch.undo()
    F.check_writable(book, "--csv")  # its owner may


# ---------------------------------------------------------------- issue 20, item 5: limits that fit the process


def _address_space(limit: int):
    def apply():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def test_a_hard_memory_limit_below_the_one_asked_is_used(good, folder):
    """As Gradescope's containers do (`ulimit -v`): the children take the smaller of the two."""
    made = folder / "made-as.xlsx"
    write_workbook(MAZUR, made)
    limit = 3 * 2**30
    done = sheetprop_run("verify", made, "--max-memory", "8G", preexec_fn=_address_space(limit))
    assert done.returncode == 0 and done.stderr == "" and ": OK: every cell agrees" in done.stdout, done.stderr
    done = sheetprop_run("check", good, "--spec", "mazur", "--max-memory", "8G", preexec_fn=_address_space(limit))
    assert done.returncode == 0 and done.stderr == "" and "39 / 39 points" in done.stdout, done.stderr


def test_a_child_out_of_the_processs_own_memory_says_whose_limit_it_was(good, tmp_path):
    script = tmp_path / "eat.py"
    script.write_text(f"""
import resource, sys
sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
import sheetprop.grading.batch as B
from sheetprop.grading.grade import GradeOptions
from sheetprop.model.spec import load_spec

def eat(path, spec, options):
    blocks = []
    while True:
        blocks.append(bytearray(50 * 2**20))

B._grade_quietly = eat
print(B.grade_files([{str(good)!r}], load_spec("mazur"), GradeOptions(timeout=120, max_memory=8 * 2**30))[0].error)
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.stderr == "", done.stderr
    assert "grading needed more than 2,048 MiB of memory, this process's own limit (ulimit -v)" in done.stdout


@pytest.mark.parametrize("command", [["check", "GOOD", "--spec", "mazur"], ["verify", "GOOD"],
                                     ["autograder", "--spec", "mazur", "-o", "OUT"]])
@pytest.mark.parametrize("option, value, says", [
    ("--timeout", "1e308", "must be at most 604800 (a week); give 'none' for no limit"),
    ("--timeout", "1e16", "must be at most 604800"),
    ("--max-memory", "1e16", "is more than any machine has"),
    ("--max-memory", "10000000000000000", "is more than any machine has"),
    ("--max-memory", "9000000T", "is more than any machine has"),
])
def test_absurd_limits_are_usage_errors_in_every_command(good, tmp_path, command, option, value, says):
    args = [str(good) if a == "GOOD" else str(tmp_path / "ag.zip") if a == "OUT" else a for a in command]
    result = CliRunner().invoke(main, [*args, option, value])
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1, result.output
    assert result.output.startswith(f"Error: Invalid value for '{option}': '{value}' {says}")
    assert not (tmp_path / "ag.zip").exists()


def test_a_start_refused_by_the_limit_on_processes_is_tried_again_through_the_same_link(tmp_path):
    """A file whose name is not UTF-8 is graded through a link in the scratch folder; when the
    first start is refused (ulimit -u) the next start makes no second link (nor fails on the first)."""
    from sheetprop.grading.batch import _readable

    odd = Path(os.fsdecode(bytes(tmp_path) + b"/M\x81ller.xlsx"))
    odd.write_bytes(b"PK")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    first = _readable(odd, str(scratch), 3)
    assert _readable(odd, str(scratch), 3) == first and os.path.samefile(first, odd)
    assert os.listdir(scratch) == [Path(first).name]
