"""An upload read within limits: at most `limit` bytes, counted as they arrive, into a private folder.

A request that says it is larger than the limit is refused before a byte of it is read
(`refuse_declared`); one that grows past it is refused as soon as it does (Starlette's multipart parser reads the
stream we count; it is imported when a form is read). The form's one file is copied into a
fresh folder of the server's private upload folder (mode 0700) under a safe version of the
student's file name, so that what the grader says about it ("hw.csv: a text file, not an
.xlsx workbook; …") speaks of the name the student knows; `Upload.shown(text)` takes the
folder out of any text before it reaches a page.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, AsyncGenerator, AsyncIterator

from sheetprop.reports.text import clean

if TYPE_CHECKING:
    from starlette.requests import Request

FILE_FIELD = "workbook"
NAME_FIELD = "student"
MAX_NAME = 80  # characters of a student's name or id, and of a file name as shown
_UNSAFE = re.compile(r"[^\w.\-]+")
_TEMPORARY = re.compile(re.escape(tempfile.gettempdir().rstrip("/")) + r"/[^\s'\"),;:]+")


class UploadProblem(Exception):
    """An upload refused: the HTTP status and a sentence for the student."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class TooLarge(UploadProblem):
    def __init__(self, limit: int):
        super().__init__(413, f"Your file is larger than {size_text(limit)}, more than a workbook of this "
                              "exercise ever needs: check that you chose the right file (an .xlsx workbook).")


@dataclass
class Upload:
    path: Path  # the copy in its own private folder
    name: str  # the file's name as the student's computer gave it, cleaned for showing
    student: str  # the name or id typed into the form ("" when there is none)

    def shown(self, text: str) -> str:
        """`text` with no path of the server: the file is called by the student's name for it, and any
        other temporary file (an engine's copy) by its own name."""
        text = text.replace(str(self.path), self.name).replace(str(self.path.parent), "")
        return _TEMPORARY.sub(lambda found: Path(found[0]).name, text)


def size_text(size: int) -> str:
    """A limit in words: 10 MiB, 512 KiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def safe_name(text: str, fallback: str) -> str:
    """A file-name part made of letters, digits, `.`, `-` and `_` (spaces become `_`), no leading dot,
    at most MAX_NAME characters; `fallback` when nothing is left."""
    text = unicodedata.normalize("NFKC", text)
    text = _UNSAFE.sub("_", text.strip()).strip("._-")[:MAX_NAME].rstrip("._-")
    return text or fallback


def base_name(filename: str) -> str:
    """The file's own name (a browser may send C:\\Users\\bob\\hw.xlsx), cleaned and cut to MAX_NAME."""
    name = re.split(r"[\\/]", filename)[-1].strip()
    return clean(name)[:MAX_NAME] or "workbook.xlsx"


async def _capped(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise TooLarge(limit)
        yield chunk


def refuse_declared(request: Request, limit: int) -> None:
    """`TooLarge` when the request says it is larger than `limit`: refused before a byte is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)


async def drain(request: Request, limit: int) -> None:
    """Read the body and drop it (up to `limit` bytes), so that a client still sending reads the answer."""
    from starlette.requests import ClientDisconnect

    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                return
    except ClientDisconnect:
        pass


async def read_upload(request: Request, root: Path, limit: int) -> Upload:
    """The form's workbook, read into a new private folder under `root`; `UploadProblem` when it grows
    larger than `limit`, is missing or malformed."""
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise UploadProblem(400, "Send your workbook with the form on this page.")
    parser = MultiPartParser(request.headers, _capped(request.stream(), limit), max_files=1, max_fields=4,
                             max_part_size=4 * MAX_NAME)
    try:
        form = await parser.parse()
    except MultiPartException:
        raise UploadProblem(400, "The upload arrived incomplete or garbled: try again.") from None
    try:
        file = form.get(FILE_FIELD)
        if not isinstance(file, UploadFile) or not file.filename:
            raise UploadProblem(400, "Choose your workbook (.xlsx) first, then check it.")
        student = form.get(NAME_FIELD)
        name = base_name(file.filename)
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=root))
        path = folder / safe_name(name, "workbook.xlsx")
        try:
            with open(path, "xb") as out:
                await run_in_threadpool(shutil.copyfileobj, file.file, out)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return Upload(path, name, clean(student.strip())[:MAX_NAME] if isinstance(student, str) else "")
    finally:
        await form.close()


def discard(upload: Upload) -> None:
    """Delete the upload and its folder."""
    shutil.rmtree(upload.path.parent, ignore_errors=True)
