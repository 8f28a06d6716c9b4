"""Read an .xlsx for the compiled engine: sheets, defined names, constants and formulas.

Untrusted files are read defensively:

* every zip member is size-checked before it is inflated, and never inflated beyond the
  size its header declares (zipfile stops there and checks the CRC);
* every part read is first parsed by expat with no handler but two that refuse a DTD,
  so it is well-formed XML in which no entity can be declared, let alone expanded
  (about 6 ms a megabyte); small parts (workbook, relationships, shared strings) are
  then read with the C ElementTree parser;
* a worksheet's `<sheetData>` is cut into chunks of about a megabyte at `</row>`, and each
  chunk is tiled by a regular expression of flat tokens (row, cell with its `<f>`, `<v>`
  and `<is>` in the order the schema fixes, junk). The last alternative, junk, takes all
  the rest of the chunk, so a chunk is read entirely or not at all: first with a plain
  expression that knows what XlsxWriter, openpyxl and Excel write for numbers and
  formulas, then with a fuller one (any attributes, quotes, inline strings, cells
  without `r`); a chunk neither reads (a CDATA section, a comment, a namespace prefix,
  an `<extLst>`) sends the whole sheet to `xml.etree.ElementTree.iterparse`, about ten
  times slower but general. No recursion anywhere.

Cells are identified by one integer, `key(sheet, row, col) = sheet << 36 | row << 15 | col`
(row and col 1-based): a relative reference is then a constant offset from the cell.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET
from xml.parsers import expat as pyexpat

from sheetprop.engines import CellError, EngineError, one_line

ROW_SHIFT = 15
SHEET_SHIFT = 36
MAX_ROW = 1_048_576
MAX_COL = 16_384
ROW_MASK = (1 << (SHEET_SHIFT - ROW_SHIFT)) - 1
COL_MASK = (1 << ROW_SHIFT) - 1

MAX_PART = 100 * 1024 * 1024  # bytes, one zip member inflated
CHUNK = 1 << 20  # characters of sheetData handed to the regular expression at a time

MAIN_NS = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",
           "http://purl.oclc.org/ooxml/spreadsheetml/main")
REL_NS = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "http://purl.oclc.org/ooxml/officeDocument/relationships")


def key(sheet: int, row: int, col: int) -> int:
    return (sheet << SHEET_SHIFT) | (row << ROW_SHIFT) | col


@dataclass
class Formula:
    """One formula cell as the file has it.

    `text` is the formula without "=" (None for a shared-formula follower, which has only
    `shared`, the group's si); a shared-formula master has both. `array` is True for an
    array formula (`t="array"`), whose own cell is evaluated as an ordinary formula.
    """

    key: int
    text: str | None
    shared: str | None = None
    array: bool = False


@dataclass
class Book:
    sheets: list[str]
    names: dict[tuple[int | None, str], str]  # (local sheet index or None, NAME upper-cased) -> text
    values: dict[int, object] = field(default_factory=dict)  # constants: float, str, bool, CellError
    plain: list[tuple[int, str, str]] = field(default_factory=list)  # (key, formula, "B24") of ordinary formulas
    row_starts: list[int] = field(default_factory=list)  # indexes in `plain` where a row may begin
    special: list[Formula] = field(default_factory=list)  # shared and array formulas


# --- column letters -------------------------------------------------------------------

def _all_letters() -> list[str]:
    from itertools import product
    from string import ascii_uppercase as az

    letters = ["", *az, *map("".join, product(az, az)), *map("".join, product(az, az, az))]
    return letters[:MAX_COL + 1]


LETTERS = _all_letters()  # LETTERS[col] == "AB" for col 28
COLUMN = {letters: col for col, letters in enumerate(LETTERS) if col}  # "AB" -> 28


# --- the package ----------------------------------------------------------------------

def read_book(path, deadline=None) -> Book:
    """Everything the engine needs from the .xlsx at `path`."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise EngineError(f"cannot read {path} as an .xlsx workbook ({one_line(exc)}); "
                          "pass a valid .xlsx file") from None
    with zf:
        try:
            return _read(zf, path, deadline)
        except (EngineError, MemoryError):
            raise
        except Exception as exc:  # ParseError, BadZipFile, zlib.error, KeyError, UnicodeError, ...
            raise EngineError(f"cannot read {path} as an .xlsx workbook ({one_line(exc)}); "
                              "open and save it again as .xlsx") from None


def _read(zf: zipfile.ZipFile, path, deadline) -> Book:
    workbook = _xml(zf, "xl/workbook.xml", path)
    rels = _relationships(zf, "xl/_rels/workbook.xml.rels", "xl", path)

    sheets, parts = [], []
    for el in workbook.iter():
        if _local(el.tag) == "sheet":
            rid = next((el.get(f"{{{ns}}}id") for ns in REL_NS if el.get(f"{{{ns}}}id")), None)
            sheets.append(el.get("name") or f"Sheet{len(sheets) + 1}")
            parts.append(rels.get(rid, (None, None)))
    names: dict[tuple[int | None, str], str] = {}
    for el in workbook.iter():
        if _local(el.tag) == "definedName" and el.get("name") and el.text:
            local = el.get("localSheetId")
            scope = int(local) if local is not None and local.isdigit() and int(local) < len(sheets) else None
            names[(scope, el.get("name").upper())] = el.text

    strings: list[str] = []
    for target, kind in rels.values():
        if kind == "sharedStrings" and target in zf.NameToInfo:
            strings = _shared_strings(_xml(zf, target, path))
            break

    book = Book(sheets, names)
    for index, (target, kind) in enumerate(parts):
        if kind != "worksheet" or target not in zf.NameToInfo:
            continue  # a chartsheet, a dialog sheet or a missing part: no cells
        text = _text(zf, target, path)
        try:
            _sheet_fast(text, index, strings, book, deadline)
        except _Irregular:
            _sheet_general(text, index, strings, book, deadline)
        _check_time(deadline)
    return book


class _Irregular(Exception):
    """The sheet's XML is not in the plain form the fast reader knows."""


def _check_time(deadline):
    if deadline is not None:
        deadline.check()


def _bytes(zf: zipfile.ZipFile, name: str, path) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > MAX_PART:
        raise EngineError(f"{path}: the part {name} expands to {info.file_size / 1e6:.0f} MB, "
                          f"over the limit of {MAX_PART / 1e6:.0f} MB for one part")
    with zf.open(info) as fh:
        return fh.read(MAX_PART + 1)


def _text(zf: zipfile.ZipFile, name: str, path) -> str:
    """A part's text, once expat has found it well-formed and free of any DTD."""
    data = _bytes(zf, name, path)
    _well_formed(data, name, path)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    match = re.search(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""", data[:200].split(b"?>")[0])
    encoding = match.group(1).decode().lower() if match else "utf-8"
    return data.decode("utf-8-sig" if encoding in ("utf-8", "utf8") else encoding)


class _Refused(Exception):
    pass


def _refuse(*args):
    raise _Refused


def _well_formed(data: bytes, name: str, path) -> None:
    """Parse with expat, no handler but the ones refusing a DTD (about 6 ms a megabyte)."""
    parser = pyexpat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    try:
        parser.Parse(data, True)
    except _Refused:
        raise EngineError(f"{path}: the part {name} declares a DTD, which no .xlsx needs; "
                          "open and save the workbook again") from None
    except pyexpat.ExpatError as exc:
        raise EngineError(f"cannot read {path}: the part {name} is not well-formed XML ({exc}); "
                          "open and save the workbook again") from None


def _xml(zf: zipfile.ZipFile, name: str, path) -> ET.Element:
    text = _text(zf, name, path)
    return ET.fromstring(_drop_declaration(text))


def _drop_declaration(text: str) -> str:
    """The text without its <?xml ...?> declaration (the str is already decoded)."""
    text = text.lstrip("\ufeff")
    if text.startswith("<?xml"):
        end = text.find("?>")
        if end >= 0:
            return text[end + 2:]
    return text


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _relationships(zf: zipfile.ZipFile, name: str, base: str, path) -> dict[str, tuple[str, str]]:
    """Id -> (zip member the target resolves to, last word of its Type)."""
    if name not in zf.NameToInfo:
        return {}
    out = {}
    for el in _xml(zf, name, path).iter():
        if _local(el.tag) != "Relationship" or el.get("TargetMode") == "External":
            continue
        target = el.get("Target") or ""
        if target.startswith("/"):
            member = posixpath.normpath(target.lstrip("/"))
        else:
            member = posixpath.normpath(posixpath.join(base, target))
        out[el.get("Id")] = (member, (el.get("Type") or "").rsplit("/", 1)[-1])
    return out


# --- strings ----------------------------------------------------------------------------

_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6}));")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def unescape(text: str) -> str:
    """XML character references and the five predefined entities; any other is an error."""
    def one(m):
        if m.group(1):
            return _ENTITIES[m.group(1)]
        code = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
        if code > 0x10FFFF:
            raise ValueError(f"bad character reference {m.group(0)}")
        return chr(code)

    out = _ENTITY.sub(one, text)
    if out.count("&") != text.count("&amp;") + text.count("&#38;") + text.lower().count("&#x26;"):
        raise ValueError("an undefined XML entity")
    return out


def _xstring(text: str) -> str:
    """An ST_Xstring's `_xHHHH_` escapes undone (Excel writes a carriage return as _x000D_)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _rich_text(el: ET.Element) -> str:
    """The text of an <si> or <is>: its <t>, or the <t> of each run; phonetic runs skipped."""
    parts = []
    for child in el:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            for t in child:
                if _local(t.tag) == "t":
                    parts.append(t.text or "")
    return _xstring("".join(parts))


def _shared_strings(root: ET.Element) -> list[str]:
    return [_rich_text(si) for si in root if _local(si.tag) == "si"]


_PLAIN_T = re.compile(r'<t(?:\s+xml:space="preserve")?>([^<]*)</t>|<t\s*/>')


def _inline(content: str) -> str:
    """Text of an <is> element's content, read by the fast reader."""
    match = _PLAIN_T.fullmatch(content)
    if match:
        raw = match.group(1) or ""
        return _xstring(unescape(raw) if "&" in raw else raw)
    wrapped = f'<is xmlns="{MAIN_NS[0]}">{content}</is>'
    return _rich_text(ET.fromstring(wrapped))


# --- cell values ------------------------------------------------------------------------

def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return CellError("#VALUE!")
    return value if value - value == 0.0 else CellError("#NUM!")


def _value(kind: str, v: str | None, inline: str | None, strings: list[str]):
    """A constant cell's value from its t attribute and <v> (or <is>); None when empty."""
    if kind == "inlineStr":
        return inline if inline is not None else (v if v is not None else None)
    if v is None:
        return None
    if kind == "n" or not kind:
        return _number(v)
    if kind == "s":
        try:
            return strings[int(v)]
        except (ValueError, IndexError):
            return CellError("#VALUE!")
    if kind == "b":
        return v.strip() in ("1", "true")
    if kind == "e":
        return CellError(v.strip())
    if kind == "str":
        return v
    if kind == "d":
        return _date_serial(v)
    return _number(v)


def _date_serial(text: str):
    """An ISO 8601 date (t="d") as an Excel serial number (1900 system)."""
    import datetime

    try:
        moment = datetime.datetime.fromisoformat(text.strip().rstrip("Z"))
    except ValueError:
        return text
    delta = moment - datetime.datetime(1899, 12, 30)
    return delta.days + delta.seconds / 86400 + delta.microseconds / 86400e6


# --- the fast reader --------------------------------------------------------------------
# Two regular expressions tile a chunk of <sheetData> with tokens; the last alternative of
# each takes everything left as junk, so a chunk is read entirely or not at all. The plain
# one knows only what XlsxWriter, openpyxl and Excel write for numbers and formulas; a
# chunk it cannot read is read with the full one; a chunk neither can read sends the sheet
# to the general reader.

_SIMPLE = re.compile(
    r'<c r="(([A-Z]{1,3})([0-9]{1,7}))"([^>/]*)>'  # 1 ref, 2 col, 3 row, 4 attrs
    r"(?:<f>([^<]*)</f>)?(?:<v>([^<]*)</v>)?</c>"  # 5 formula, 6 value
    r'|<c r="(([A-Z]{1,3})([0-9]{1,7}))"([^>/]*)/>'  # 7-10: an empty cell
    r'|(<row(?: [a-zA-Z:]+="[^"<>]*")*)>'  # 11 <row attrs
    r"|(</row>)"  # 12
    r"|([\s\S]+)"  # 13 junk: the rest of the chunk (whitespace between tags included)
)
# Attributes: anything but ">" and "/" outside quotes (values may hold both).
_ATTRS = r"""[^>"'/]*+(?:(?:"[^"]*+"|'[^']*+')[^>"'/]*+)*+"""
_FULL = re.compile(
    r"\s*(?:"
    r'(<c)(?: r="(([A-Z]{1,3})([0-9]{1,7}))")?(' + _ATTRS + r")(?:/>|>"  # 1 <c, 2 ref, 3 col, 4 row, 5 attrs
    r"(?:(<f" + _ATTRS + r")(?:/>|>([^<]*)</f>))?"  # 6 <f attrs, 7 formula
    r"(?:(<v>[^<]*)</v>|<v\s*/>)?"  # 8 <v>value
    r"(?:(<is>[^<]*(?:<(?!/is>)[^<]*)*)</is>)?"  # 9 <is>content
    r"</c>)"
    r"|(<row" + _ATTRS + r")/?>"  # 10 <row attrs
    r"|(</row>)"  # 11
    r"|([\s\S]+))"  # 12 junk: the rest of the chunk
)
_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


def _attrs(text: str) -> dict[str, str]:
    return {name: a or b for name, a, b in _ATTR.findall(text)}


def _sheet_data(text: str) -> tuple[int, int] | None:
    """Start and end of what is inside <sheetData>, or None if the sheet has none."""
    start = text.find("<sheetData")
    if start < 0:
        if "sheetData" in text:
            raise _Irregular  # a prefixed element name: leave it to the general reader
        return None
    head = text.find(">", start)
    if head < 0:
        raise _Irregular
    if text[head - 1] == "/":
        return None
    end = text.find("</sheetData>", head)
    if end < 0 or text.find("sheetData", head, end) >= 0:
        raise _Irregular
    return head + 1, end


def _chunks(text: str, start: int, end: int):
    """Pieces of text[start:end] of about CHUNK characters, each ending after a </row>."""
    while start < end:
        cut = min(end, start + CHUNK)
        if cut < end:
            found = text.rfind("</row>", start, cut)
            cut = end if found < 0 else found + 6
        yield text[start:cut]
        start = cut


class _SheetReader:
    """The fast reader of one worksheet; its position (row, column) carries across chunks."""

    def __init__(self, sheet: int, strings: list[str], book: Book):
        self.sheet, self.strings, self.book = sheet, strings, book
        self.base = sheet << SHEET_SHIFT
        self.row = self.col = 0

    def read(self, text: str, deadline) -> None:
        span = _sheet_data(text)
        if span is None:
            return
        for chunk in _chunks(text, *span):
            tokens = _SIMPLE.findall(chunk)
            if tokens and not tokens[-1][-1]:
                self.simple(tokens)
            else:
                tokens = _FULL.findall(chunk)
                if tokens and tokens[-1][-1]:
                    raise _Irregular
                self.full(tokens)
            _check_time(deadline)

    def simple(self, tokens) -> None:
        values, plain, row_starts, column = self.book.values, self.book.plain, self.book.row_starts, COLUMN
        row_text, row_base, col, last_row = "", 0, self.col, ""
        for ref, col_text, row_digits, attrs, formula, v, ref2, col2, row2, _, row_tag, _, _ in tokens:
            if ref:
                if row_digits != row_text:
                    row = int(row_digits)
                    if not 0 < row <= MAX_ROW:
                        raise _Irregular
                    row_text = row_digits
                    row_base = self.base | (row << ROW_SHIFT)
                    row_starts.append(len(plain))
                col = column.get(col_text)
                if col is None:
                    raise _Irregular
                if formula:
                    if "&" in formula:
                        formula = unescape(formula)
                    plain.append((row_base | col, formula, ref))
                elif v:
                    kind = _attrs(attrs).get("t", "n") if "t" in attrs else "n"
                    value = _value(kind, unescape(v) if "&" in v else v, None, self.strings)
                    if value is not None:
                        values[row_base | col] = value
            elif ref2:
                col, row_text = column.get(col2, 0), row2
            elif row_tag:
                row_text = ""  # every cell here says where it is: the row's own r matters not
                last_row = row_tag
        if row_text:
            self.row, self.col = int(row_text), col
        elif last_row:
            self.row_tag(last_row[4:])  # a chunk ending with a row with no cell yet

    def row_tag(self, attrs: str) -> None:
        found = _attrs(attrs)
        if "r" in found:
            if not found["r"].isdigit():
                raise _Irregular
            self.row = int(found["r"])
        else:
            self.row += 1
        self.col = 0
        self.book.row_starts.append(len(self.book.plain))

    def full(self, tokens) -> None:
        values, plain, row_starts, column = self.book.values, self.book.plain, self.book.row_starts, COLUMN
        for c, ref, col_text, row_digits, attrs, f, formula, v, inline, row_tag, _, _ in tokens:
            if c:
                if col_text:
                    col, row = column.get(col_text, 0), int(row_digits)
                    found = _attrs(attrs) if "t" in attrs else {}
                else:
                    found = _attrs(attrs)
                    if "r" in found:
                        m = _REF.fullmatch(found["r"])
                        if not m:
                            raise _Irregular
                        col, row = column.get(m.group(1).upper(), 0), int(m.group(2))
                    else:
                        col, row = self.col + 1, self.row
                    ref = LETTERS[col] + str(row) if 0 < col <= MAX_COL else ""
                if not (0 < col <= MAX_COL and 0 < row <= MAX_ROW):
                    raise _Irregular
                if row != self.row:
                    row_starts.append(len(plain))
                self.row, self.col = row, col
                k = self.base | (row << ROW_SHIFT) | col
                if f:
                    _add_formula(self.book, k, unescape(formula) if "&" in formula else formula,
                                 _attrs(f[2:]), ref)
                elif v or inline:
                    raw = v[3:] if v else None
                    if raw and "&" in raw:
                        raw = unescape(raw)
                    value = _value(found.get("t", "n"), raw, _inline(inline[4:]) if inline else None, self.strings)
                    if value is not None:
                        values[k] = value
            elif row_tag:
                self.row_tag(row_tag[4:])


def _sheet_fast(text: str, sheet: int, strings: list[str], book: Book, deadline) -> None:
    _SheetReader(sheet, strings, book).read(text, deadline)


def _add_formula(book: Book, k: int, text: str, attrs: dict[str, str], ref: str) -> None:
    kind = attrs.get("t", "normal")
    if kind == "shared" and attrs.get("si") is not None:
        book.special.append(Formula(k, text or None, shared=attrs["si"]))
    elif kind == "array":
        book.special.append(Formula(k, text, array=True))
    elif kind != "dataTable" and text:  # a what-if table is Excel's machinery, not a formula
        book.plain.append((k, text, ref))


# --- the general reader -------------------------------------------------------------------

def _sheet_general(text: str, sheet: int, strings: list[str], book: Book, deadline) -> None:
    """The same as `_sheet_fast` for any well-formed worksheet, with iterparse."""
    import io

    values = book.values
    row = col = 0
    count = 0
    source = io.StringIO(_drop_declaration(text))
    for event, el in ET.iterparse(source, events=("start", "end")):
        name = _local(el.tag)
        if event == "start":
            if name == "row":
                r = el.get("r")
                row = int(r) if r and r.isdigit() else row + 1
                col = 0
                book.row_starts.append(len(book.plain))
            continue
        if name == "c":
            r = el.get("r")
            if r:
                m = _REF.fullmatch(r)
                if not m:
                    raise EngineError(f"a cell with the bad reference {r!r}")
                col = COLUMN.get(m.group(1).upper(), 0)
                row = int(m.group(2))
            else:
                col += 1
            if not (0 < col <= MAX_COL and 0 < row <= MAX_ROW):
                raise EngineError(f"a cell outside the sheet (row {row}, column {col})")
            k = (sheet << SHEET_SHIFT) | (row << ROW_SHIFT) | col
            f = v = inline = None
            for child in el:
                child_name = _local(child.tag)
                if child_name == "f":
                    f = child
                elif child_name == "v":
                    v = child.text or ""
                elif child_name == "is":
                    inline = _rich_text(child)
            if f is not None:
                _add_formula(book, k, f.text or "", {_local(a): b for a, b in f.attrib.items()},
                             LETTERS[col] + str(row))
            elif v is not None or inline is not None:
                value = _value(el.get("t") or "n", v, inline, strings)
                if value is not None:
                    values[k] = value
            el.clear()
            count += 1
            if count % 4096 == 0:
                _check_time(deadline)
        elif name == "row":
            el.clear()
