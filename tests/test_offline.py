"""LibreOffice, as sheetprop runs it, reaches nothing: no request leaves, no file is opened.

A workbook holds pictures linked to a listener on 127.0.0.1 and to a named pipe (`file://`), a
hyperlink, a link to another workbook at that pipe with an OLE and a DDE link, a web data
connection refreshed on load and a name in LibreOffice's `'file:///…'#$Sheet.A1` form. Opened
by LibreOffice itself, it makes LibreOffice send OPTIONS, HEAD and GET to the listener and open
the pipe (the first test shows the trap works). Checked, verified and graded by the autograder
with `--engine libreoffice`, the listener hears nothing and the pipe is never opened.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.engines import evaluate
from sheetprop.engines.base import soffice
from sheetprop.engines.offline import strip
from sheetprop.model.network import with_epochs
from sheetprop.model.spec import load_spec
from sheetprop.writing.workbook import write_workbook

from linked import Fifo, Listener, link_out
from students import Sheet, workbook
from test_autograder import gradescope, make_bundle

pytestmark = [pytest.mark.libreoffice,
              pytest.mark.skipif(soffice() is None, reason="LibreOffice (soffice) is not installed: "
                                                           "apt-get install libreoffice-calc-nogui")]


@pytest.fixture
def traps(tmp_path):
    listener, fifo = Listener(), Fifo(tmp_path)
    yield listener, fifo
    listener.close()
    fifo.close()


def reached(traps) -> list:
    listener, fifo = traps
    return listener.requests + (["the FIFO was opened"] if fifo.opened else [])


def test_libreoffice_itself_follows_the_links(traps, tmp_path):
    """What the copy and the profile are for: a plain headless LibreOffice reaches out."""
    path = tmp_path / "plain.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = 1
    wb.save(path)
    link_out(path, traps[0].url, traps[1].path)
    profile = tmp_path / "profile"
    subprocess.run([soffice(), f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "xlsx",
                    "--outdir", str(tmp_path / "out"), str(path)], capture_output=True, timeout=120)
    assert any(request.startswith((b"GET", b"HEAD", b"OPTIONS")) for request in traps[0].requests)
    assert traps[1].opened


def test_the_copy_holds_the_cells_and_nothing_that_points_out(traps, tmp_path):
    import zipfile

    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"], wb.active["B1"] = 2, "=A1*3"
    wb.save(path)
    link_out(path, traps[0].url, traps[1].path)
    copy = strip(path, tmp_path / "copy.xlsx")
    with zipfile.ZipFile(copy) as zf:
        text = b"".join(zf.read(n) for n in zf.namelist())
        names = set(zf.namelist())
    assert b"127.0.0.1" not in text and b"trap.fifo" not in text and b"External" not in text
    assert not any(n.startswith(("xl/drawings", "xl/externalLinks", "xl/connections")) for n in names)
    assert evaluate(path, "libreoffice")[("Sheet", "B1")] == 6
    assert not reached(traps)


def test_check_reaches_nothing(traps, tmp_path):
    sheet = Sheet()
    path = workbook(tmp_path / "hw.xlsx", sheet)
    link_out(path, traps[0].url, traps[1].path)
    result = CliRunner().invoke(main, ["check", str(path), "--engine", "libreoffice", "--timeout", "120"])
    assert result.exit_code == 0, result.output
    assert "39 / 39 points (every answer is right)" in result.output
    assert not reached(traps)


def test_verify_reaches_nothing(traps, tmp_path):
    path = tmp_path / "mazur.xlsx"
    write_workbook(with_epochs(load_spec("mazur"), 2), path)
    link_out(path, traps[0].url, traps[1].path, everything=False)  # verify refuses links and connections
    result = CliRunner().invoke(main, ["verify", str(path), "--engine", "libreoffice"])
    assert result.exit_code == 0, result.output
    assert not reached(traps)


def test_the_autograder_reaches_nothing(traps, tmp_path):
    bundle = make_bundle(tmp_path, "--engine", "libreoffice")
    path = workbook(tmp_path / "hw.xlsx", Sheet())
    link_out(path, traps[0].url, traps[1].path)
    results, _ = gradescope(bundle, tmp_path / "autograder", {"hw.xlsx": path})
    assert results["score"] == 39
    assert not reached(traps)


def test_a_built_indirect_to_a_file_reads_nothing(traps, tmp_path):
    """Held for LibreOffice, whatever the text: INDIRECT could name any file."""
    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "=INDIRECT(\"'\"&\"" + Path(traps[1].path).as_uri() + "'#$Sheet1.A1\")"
    wb.save(path)
    got = evaluate(path, "libreoffice")
    assert "INDIRECT" in got.held[("Sheet", "A1")]
    assert not reached(traps)
