"""The `libreoffice` engine: headless soffice recomputes a copy of the workbook.

Each call runs soffice with a throw-away profile whose registrymodifications.xcu sets
"recalculation on file load" to Always for OOXML and ODF files (without it LibreOffice
keeps the results stored by XlsxWriter), converts a copy of the input to .xlsx in a
temporary directory, and reads the recomputed values back with openpyxl (data_only).

LibreOffice 7.4 writes numbers with 15 significant digits into .xlsx, .csv and .ods
alike (office:value="0.501874991210987"), so values agree with full doubles to about
5e-15 relative; only its .xls (BIFF8) export keeps all 17 digits. Its arithmetic is not
Excel's either: SUM and AVERAGE use compensated (Kahan) summation, and an addition or
subtraction that nearly cancels snaps to 0 (=0.1+0.2-0.3 gives 0).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from sheetprop.engines.base import CellError, EngineError, EngineUnavailable, a1, formula_cells, soffice
from sheetprop.files import NEARLY_FULL, full_disk
from sheetprop.isolate import process_limit

INSTALL = "install LibreOffice (Debian: apt-get install libreoffice-calc-nogui)"

# Recalculate every file on load (0 = always; 1 = never, 2 = ask), and stay offline: update no
# link when a file opens (Calc's Content/Update/Link: 1 = never), block every link of a document
# from outside the trusted locations (none are set: linked pictures, movies, sounds), run no macro
# (level 3 = very high, and macros disabled), and send what might still try the network to a
# proxy that does not exist (port 9 of this machine: nothing listens, so nothing is sent).
_SETTINGS = [
    ("/org.openoffice.Office.Calc/Formula/Load", "OOXMLRecalcMode", "0"),
    ("/org.openoffice.Office.Calc/Formula/Load", "ODFRecalcMode", "0"),
    ("/org.openoffice.Office.Calc/Content/Update", "Link", "1"),
    ("/org.openoffice.Office.Common/Security/Scripting", "BlockUntrustedRefererLinks", "true"),
    ("/org.openoffice.Office.Common/Security/Scripting", "MacroSecurityLevel", "3"),
    ("/org.openoffice.Office.Common/Security/Scripting", "DisableMacrosExecution", "true"),
    ("/org.openoffice.Inet/Settings", "ooInetProxyType", "1"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPProxyName", "127.0.0.1"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPProxyPort", "9"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPSProxyName", "127.0.0.1"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPSProxyPort", "9"),
    ("/org.openoffice.Inet/Settings", "ooInetFTPProxyName", "127.0.0.1"),
    ("/org.openoffice.Inet/Settings", "ooInetFTPProxyPort", "9"),
    ("/org.openoffice.Inet/Settings", "ooInetNoProxy", ""),
]
RECALC_ALWAYS = ('<?xml version="1.0" encoding="UTF-8"?>\n<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
                 'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
                 + "".join(f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse"><value>{value}</value></prop>'
                           "</item>\n" for path, name, value in _SETTINGS)
                 + "</oor:items>\n")


def evaluate(path, timeout=None, cells=None) -> dict[tuple[str, str], object]:
    """Every formula cell's value; `cells` ((sheet, row, column), 1-based) saves reading which they are."""
    with tempfile.TemporaryDirectory(prefix="sheetprop-lo-") as tmp_name:
        converted, found = convert(path, "xlsx:Calc MS Excel 2007 XML", Path(tmp_name), timeout,
                                   lambda: formula_cells(path) if cells is None else cells)
        return _read(converted, found)


def convert(path, to: str, folder: Path, timeout=None, meanwhile=lambda: None):
    """Have LibreOffice recalculate `path` and save it as `to` (`pdf`, `xlsx:Calc MS Excel 2007 XML`)
    in `folder`, with a profile of its own there. Returns (the file written, what `meanwhile()`
    returned while soffice worked)."""
    exe = soffice()
    if exe is None:
        raise EngineUnavailable(f"LibreOffice is not installed (no soffice on PATH); {INSTALL}")
    profile = write_profile(folder / "profile")
    source = folder / "book.xlsx"
    shutil.copyfile(path, source)
    command = [
        exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible", "--norestore",
        "--nologo", "--nodefault", "--nolockcheck", "--convert-to", to, "--outdir", str(folder / "out"), str(source),
    ]
    private = folder / "tmp"  # its lock and temporary files (lu*.tmp), removed with the folder
    private.mkdir()
    try:
        found, log = _run(command, path, timeout, meanwhile, {**os.environ, "TMPDIR": str(private)}, cwd=private)
    finally:
        _remove_pipe(profile)
    converted = folder / "out" / f"book.{to.split(':')[0]}"
    if not converted.is_file():
        full = full_disk(folder, margin=NEARLY_FULL)
        if full:  # not the file's fault
            raise EngineError(f"{path}: LibreOffice could not work: {full}, where it keeps its temporary files; "
                              "free some space or set TMPDIR to another disk")
        raise EngineError(f"LibreOffice could not convert {path} ({log}); check that the file opens in LibreOffice")
    return converted, found


def _remove_pipe(profile: Path) -> None:
    """LibreOffice's socket for its profile (in /tmp whatever TMPDIR says: OSL_PIPE_<uid>_SingleOfficeIPC_<hash>),
    which it leaves behind when it is killed. The hash is MD5 of the profile's URL in UTF-16, each byte in hex
    without leading zeros, as LibreOffice computes it."""
    digest = hashlib.md5(profile.as_uri().encode("utf-16-le")).digest()  # noqa: S324 - LibreOffice's name, not security
    name = f"OSL_PIPE_{os.getuid()}_SingleOfficeIPC_{''.join(format(b, 'x') for b in digest)}"
    for folder in ("/tmp", "/var/tmp"):
        pipe = Path(folder) / name
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(pipe.lstat().st_mode) and pipe.lstat().st_uid == os.getuid():
                pipe.unlink()


def write_profile(profile: Path) -> Path:
    """A throw-away LibreOffice profile at `profile` that recalculates every file it loads
    (pass it as `-env:UserInstallation=profile.as_uri()`)."""
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALC_ALWAYS, encoding="utf-8")
    return profile


def _run(command, path, timeout, meanwhile, env=None, cwd=None):
    """Run soffice in its own process group, in `cwd` (soffice's script returns to the folder it was
    started in: one that is gone, or hidden, would stop it), doing `meanwhile()` as it works.

    Returns (what meanwhile returned, soffice's last line of output); kills the whole
    group when `timeout` seconds pass or anything goes wrong.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=cwd)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.ENOMEM):
            raise EngineError(f"cannot start a process (limit on processes: ulimit -u is {process_limit()}); "
                              "LibreOffice could not run") from exc
        raise EngineUnavailable(f"cannot start {command[0]} ({exc.strerror}); {INSTALL}") from exc
    try:
        found = meanwhile()
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - start))
        out, _ = proc.communicate(timeout=left)
    except subprocess.TimeoutExpired:
        raise EngineError(
            f"LibreOffice did not finish {path} within {timeout:g} s; raise the timeout or use engine 'ironcalc'"
        ) from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    lines = [line for line in out.decode(errors="replace").splitlines()
             if line.strip() and "javaldx" not in line]
    return found, (lines[-1].strip() if lines else f"soffice exited with status {proc.returncode}")


def _read(converted: Path, cells) -> dict[tuple[str, str], object]:
    from sheetprop.engines.openbook import load, sheet_cells

    wanted: dict[str, set[tuple[int, int]]] = {}
    for sheet, row, col in cells:
        wanted.setdefault(sheet, set()).add((row, col))
    book = load(converted, read_only=True, data_only=True)
    try:
        got = {}
        for sheet, places in wanted.items():
            if sheet not in book.sheetnames:
                raise EngineError(f"LibreOffice's result has no sheet {sheet!r}; try engine 'ironcalc'")
            for cell in sheet_cells(book[sheet]):
                if (cell["row"], cell["column"]) in places:
                    got[(sheet, cell["row"], cell["column"])] = _value(cell["data_type"], cell["value"])
    finally:
        book.close()
    return {(sheet, a1(row, col)): got.get((sheet, row, col)) for sheet, row, col in cells}


def _value(kind: str, value):
    if kind == "e":
        return CellError(str(value))
    if kind in ("s", "str", "inlineStr"):
        return "" if value is None else str(value)
    if isinstance(value, bool) or value is None:
        return value
    return float(value)
