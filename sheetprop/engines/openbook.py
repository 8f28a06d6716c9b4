"""Open workbooks that may come from anywhere: check the container before parsing it.

A file is looked at as bytes first (empty? an old .xls, a password-protected workbook,
a PDF, a CSV? a zip? how large once expanded? an XML part that declares a DOCTYPE, the
way entity bombs and external entities begin?) and only then handed to openpyxl, which
parses XML through defusedxml (a dependency of sheetprop). Nothing here writes a file
or runs a macro.

Sheets are read with `sheet_cells`, which yields only the cells the file holds: a sheet
claiming the dimension A1:XFD1048576 costs nothing.
"""

from __future__ import annotations

import codecs
import functools
import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sheetprop.errors import SheetpropError
from sheetprop.limits import MAX_UNCOMPRESSED

MAX_MEMBERS = 10_000
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
SAVE_AS = "save it as Excel 2007-365 (.xlsx)"
XLSX_SUFFIXES = (".xlsx", ".xlsm")
SPREAD = 10  # a sheet's cells may span at most this many positions per cell allowed (--max-cells)


class WorkbookError(SheetpropError, ValueError):
    """A workbook that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Container:
    """What the zip holds besides cells, which an engine must never see."""

    macros: bool = False  # a VBA project (.xlsm): never run
    dropped: tuple[str, ...] = ()  # links to other workbooks, data connections, embedded objects
    xlsx_name: bool = True  # the name ends in .xlsx/.xlsm (engines and openpyxl look at it)

    @property
    def needs_copy(self) -> bool:
        """An engine gets a cleaned copy rather than the file itself."""
        return self.macros or bool(self.dropped) or not self.xlsx_name


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n / 2**20:.1f} MiB"


def check_container(path: str | Path, max_uncompressed: int = MAX_UNCOMPRESSED) -> Container:
    """Refuse anything that is not a sound .xlsx zip within the limits; say what it is instead."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise WorkbookError(f"{path}: no such file") from None
    except OSError as exc:
        raise WorkbookError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise WorkbookError(f"{path}: is a folder, not a workbook")
    if not stat.S_ISREG(mode):
        raise WorkbookError(f"{path}: not a regular file (a device or a pipe?), not a workbook")
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise WorkbookError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not head:
        raise WorkbookError(f"{path}: the file is empty; {SAVE_AS} again and hand in that file")
    if not zipfile.is_zipfile(path):
        raise WorkbookError(f"{path}: {_not_a_zip(path, head)}")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_members(path, infos, max_uncompressed)
            names = {i.filename for i in infos}
            _check_kind(path, names)
            for info in infos:
                if not info.is_dir() and info.file_size and _declares_dtd(zf, info):
                    raise WorkbookError(
                        f"{path}: the part {info.filename} declares a DOCTYPE, which no spreadsheet writes (the way "
                        f"XML entity attacks begin); refused: open the file in a spreadsheet and {SAVE_AS}")
    except WorkbookError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError,
            RuntimeError) as exc:
        raise WorkbookError(f"{path}: a damaged zip file ({first_line(exc)}); save the workbook again") from None
    return _container(path, names)


def _not_a_zip(path: Path, head: bytes) -> str:
    """What a file that is no zip is, in words, with how to make an .xlsx of it."""
    if head.startswith(OLE2_MAGIC):
        return _ole2_kind(path)
    if head.startswith(b"PK"):
        return f"a damaged or incomplete zip file (cut short while copying or uploading?); {SAVE_AS} again"
    if head.startswith(b"%PDF"):
        return "a PDF document, not a workbook; hand in the spreadsheet itself, saved as Excel 2007-365 (.xlsx)"
    if head[:4] in (b"\x89PNG", b"GIF8") or head[:3] == b"\xff\xd8\xff":
        return "a picture, not a workbook; hand in the spreadsheet itself, saved as Excel 2007-365 (.xlsx)"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return f"an XML or HTML file, not an .xlsx workbook; open it in a spreadsheet and {SAVE_AS}"
    if b"\x00" not in head:
        return f"a text file (a CSV?), not an .xlsx workbook; open it in a spreadsheet and {SAVE_AS}"
    return f"not an .xlsx workbook (not a zip file); {SAVE_AS}"


def _ole2_kind(path: Path) -> str:
    """Old Office files are OLE2 containers; their stream names (UTF-16) tell them apart."""
    with open(path, "rb") as fh:
        data = fh.read(8 * 2**20)

    def has(name: str) -> bool:
        return name.encode("utf-16-le") in data

    if has("EncryptedPackage") or has("EncryptionInfo"):
        return ("a password-protected (encrypted) workbook; open it, remove the password (Excel: File > Info > "
                f"Protect Workbook > Encrypt with Password; LibreOffice: File > Properties > Security) and {SAVE_AS}")
    if has("Workbook") or has("Book"):
        return f"an old Excel 97-2003 (.xls) workbook; open it in Excel or LibreOffice and {SAVE_AS}"
    if has("WordDocument"):
        return "a Word document, not a workbook; hand in the spreadsheet, saved as Excel 2007-365 (.xlsx)"
    return f"an old Office (OLE2) file, not an .xlsx workbook; open it in a spreadsheet and {SAVE_AS}"


def _check_members(path: Path, infos: list[zipfile.ZipInfo], max_uncompressed: int) -> None:
    if len(infos) > MAX_MEMBERS:
        raise WorkbookError(f"{path}: {len(infos):,} parts in the zip; more than {MAX_MEMBERS:,} is not a workbook")
    if any(i.flag_bits & 0x1 for i in infos):
        raise WorkbookError(f"{path}: a zip file locked with a password; {SAVE_AS} without a password")
    total = sum(i.file_size for i in infos)
    if total > max_uncompressed:
        raise WorkbookError(
            f"{path}: expands to {mib(total)}, over the limit of {mib(max_uncompressed)}; a zip bomb, or a very "
            f"large workbook: raise the limit with --max-size if the file is genuine")


def _check_kind(path: Path, names: set[str]) -> None:
    if "content.xml" in names and ("mimetype" in names or "META-INF/manifest.xml" in names):
        raise WorkbookError(
            f"{path}: an OpenDocument spreadsheet (.ods); open it in LibreOffice, choose File > Save As, "
            "file type 'Excel 2007-365 (.xlsx)', and use that file")
    if "xl/workbook.bin" in names:
        raise WorkbookError(f"{path}: an Excel binary workbook (.xlsb); open it in Excel and {SAVE_AS}")
    if "word/document.xml" in names or "ppt/presentation.xml" in names:
        raise WorkbookError(f"{path}: a Word or PowerPoint file, not a workbook; hand in the spreadsheet, {SAVE_AS}")
    if "xl/workbook.xml" not in names:
        raise WorkbookError(f"{path}: a zip file but not an .xlsx workbook (no xl/workbook.xml); {SAVE_AS}")


def _container(path: Path, names: set[str]) -> Container:
    dropped = []
    if any(n.startswith("xl/externalLinks/") for n in names):
        dropped.append("links to other workbooks")
    if "xl/connections.xml" in names or any(n.startswith("xl/queryTables/") for n in names):
        dropped.append("data connections")
    if any(n.startswith(("xl/embeddings/", "xl/activeX/")) for n in names):
        dropped.append("embedded objects")
    macros = any(n.lower().endswith("vbaproject.bin") for n in names)
    return Container(macros, tuple(dropped), path.suffix.lower() in XLSX_SUFFIXES)


_CHUNK = 64 * 1024


def _declares_dtd(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Does this part open with a document type declaration (after the XML declaration and comments)?

    Only a DOCTYPE can declare entities (billion laughs, external entities); no spreadsheet
    application writes one. Reading stops at the root element, usually within 100 bytes.
    """
    with zf.open(info) as fh:
        head = fh.read(4)
        if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            encoding = "utf-16"
        elif head[:2] == b"<\x00":
            encoding = "utf-16-le"
        elif head[:2] == b"\x00<":
            encoding = "utf-16-be"
        else:
            encoding = "utf-8"
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        text = decoder.decode(head)

        def more() -> bool:
            nonlocal text
            chunk = fh.read(_CHUNK)
            text += decoder.decode(chunk, final=not chunk)
            return bool(chunk)

        while True:
            text = text.lstrip("\ufeff \t\r\n")
            while len(text) < 4 and more():
                text = text.lstrip("\ufeff \t\r\n")
            if not (text.startswith("<?") or text.startswith("<!--")):
                break
            opener, end = ("<?", "?>") if text.startswith("<?") else ("<!--", "-->")
            text = text[len(opener):]
            while (at := text.find(end)) < 0:
                text = text[-(len(end) - 1):]  # only what may begin the end marker
                if not more():
                    return False
            text = text[at + len(end):]
        return text.startswith("<!")


def load(path: str | Path, *, read_only: bool = True, data_only: bool = False,
         max_uncompressed: int = MAX_UNCOMPRESSED, checked: bool = False):
    """Check the container (unless the caller just did), then load it with openpyxl.

    Every failure is a WorkbookError. The bytes are handed over in memory, so the file's
    name (.xlsx or not) does not matter and no file handle outlives the call.
    """
    if not checked:
        check_container(path, max_uncompressed)
    import openpyxl

    try:
        data = io.BytesIO(Path(path).read_bytes())
        return openpyxl.load_workbook(data, read_only=read_only, data_only=data_only, keep_links=False)
    except WorkbookError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on malformed parts
        raise WorkbookError(f"{path}: cannot read the workbook ({first_line(exc)}); open it and {SAVE_AS} again") \
            from None


def sheet_cells(ws, moved: bool = True, cached: bool = False):
    """Every cell a read-only sheet's XML holds, in file order: dicts with row, column, value, data_type.

    Unlike `ws.iter_rows()`, no empty cell is made up: openpyxl pads each row to the
    sheet's dimension (or the row's last column), so one cell in column XFD costs 16,384.
    This uses the parser openpyxl's own read-only sheets use. A number is a number whatever
    its format: w_1 = 0.15 shown as a time (03:36:00) is 0.15, never a `datetime`.

    Each cell of a shared formula (a column filled down) holds the first cell's formula moved
    to its own place; `moved=False` gives it the first cell's text as it is, skipping
    openpyxl's Translator, which costs more than the rest of the read (for the screen: where
    a formula sits changes nothing it looks at).

    `cached=True` adds, to each formula cell, "cached": the result the file stores for it (what
    `data_only=True` reads), from the same pass over the XML.
    """
    from openpyxl.worksheet._reader import WorkSheetParser

    book = ws.parent
    kind = _with_cached_parser() if cached else WorkSheetParser if moved else _unmoved_parser()
    with ws._get_source() as source:
        parser = kind(source, ws._shared_strings, data_only=book.data_only, epoch=book.epoch, date_formats=set(),
                      timedelta_formats=set())
        for _, row in parser.parse():
            yield from row


@functools.lru_cache(maxsize=None)
def _unmoved_parser():
    """openpyxl's sheet parser, but a shared formula's cells all read as its first cell's text."""
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class UnmovedSharedFormulas(WorkSheetParser):
        def parse_formula(self, element):
            formula = element.find(FORMULA_TAG)
            if formula is None or formula.get("t") != "shared":
                return super().parse_formula(element)
            index, text = formula.get("si"), "=" + (formula.text or "")
            if index not in self.shared_formulae and text != "=":
                self.shared_formulae[index] = text
            return self.shared_formulae.get(index, text)

    return UnmovedSharedFormulas


@functools.lru_cache(maxsize=None)
def _with_cached_parser():
    """openpyxl's sheet parser, also giving each formula cell the result stored for it: the cell
    parsed again as `data_only` reads it (openpyxl's own casting of numbers, strings, booleans)."""
    from openpyxl.worksheet._reader import WorkSheetParser

    class WithCachedResults(WorkSheetParser):
        def parse_cell(self, element):
            cell = super().parse_cell(element)
            if cell["data_type"] == "f" and not self.data_only:
                counter, self.data_only = self.col_counter, True  # a cell without `r` counts its column once
                try:
                    cell["cached"] = super().parse_cell(element)["value"]
                finally:
                    self.data_only, self.col_counter = False, counter
            return cell

    return WithCachedResults


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
