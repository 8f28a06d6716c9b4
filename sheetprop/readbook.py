"""Open workbooks that may come from anywhere: check the container before parsing it.

A file is looked at as bytes first (empty? OLE2, i.e. old .xls or password-protected?
a zip? how large once expanded?) and only then handed to openpyxl, which parses XML
through defusedxml when it is installed (it is a dependency of sheetprop).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

MAX_UNCOMPRESSED = 100 * 1024 * 1024  # bytes, all members together
MAX_MEMBERS = 10_000
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class WorkbookError(ValueError):
    """A workbook that cannot be used; the message is one line for the user."""


def check_container(path: str | Path, max_uncompressed: int = MAX_UNCOMPRESSED) -> None:
    path = Path(path)
    if not path.exists():
        raise WorkbookError(f"{path}: no such file")
    if path.is_dir():
        raise WorkbookError(f"{path}: is a folder, not a workbook")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise WorkbookError(f"{path}: the file is empty")
    if head == OLE2_MAGIC:
        raise WorkbookError(
            f"{path}: an old .xls file or a password-protected workbook; "
            "remove the password and save it as Excel 2007-365 (.xlsx)"
        )
    if not zipfile.is_zipfile(path):
        raise WorkbookError(f"{path}: not an .xlsx workbook (not a zip file); save it as Excel 2007-365 (.xlsx)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise WorkbookError(f"{path}: a damaged zip file ({exc}); save the workbook again") from None
    if len(infos) > MAX_MEMBERS:
        raise WorkbookError(f"{path}: {len(infos)} parts in the zip; more than {MAX_MEMBERS} is not a workbook")
    total = sum(i.file_size for i in infos)
    if total > max_uncompressed:
        raise WorkbookError(
            f"{path}: expands to {total / 1e6:.0f} MB, over the limit of {max_uncompressed / 1e6:.0f} MB "
            "(raise it with --max-size if the file is genuine)"
        )
    if "mimetype" in names and "content.xml" in names:
        raise WorkbookError(f"{path}: an OpenDocument (.ods) file; save it as Excel 2007-365 (.xlsx)")
    if "xl/workbook.xml" not in names:
        raise WorkbookError(f"{path}: a zip file but not an .xlsx workbook (no xl/workbook.xml)")


def load(path: str | Path, *, read_only: bool = True, data_only: bool = False, max_uncompressed: int = MAX_UNCOMPRESSED):
    """Check the container, then load it with openpyxl; every failure is a WorkbookError."""
    check_container(path, max_uncompressed)
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=read_only, data_only=data_only, keep_links=False)
    except WorkbookError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on malformed parts
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WorkbookError(f"{path}: cannot read the workbook ({reason}); open and save it again as .xlsx") from None
