"""An .xlsx package read as parts: which part is which sheet, where array formulas spill, and a
copy normalised for IronCalc.

Everything here works on the zip's bytes, never through a spreadsheet model, so that reading
the array formulas of a 300,000-formula workbook costs a scan for `t="array"`, not a parse.

`normalise` writes the copy IronCalc loads when it cannot load the file itself, though the file
is a valid workbook:

- a sheet whose name holds `!` (`Net!work`) is renamed (`sheetprop sheet 1`), in the workbook
  and in every formula and defined name that quotes it; results keep the real name;
- cells and rows written without their optional `r` attribute get it (they follow the one before);
- a What-If data table's formula (`<f t="dataTable" …/>`, which IronCalc refuses) becomes
  `=NA()`: that cell is held, with its reason, and the rest of the file is evaluated.

`inline_names` writes the copy IronCalc loads fast: IronCalc 0.9 spends its load on defined
names (1.9 s for a workbook of 15,557 formulas and 1,184 names, 0.1 s without), so every use of
a name that stands for one fixed cell or range (`w_1` = `Network!$D$7`) is written as that
reference, which means the same in every formula (the names themselves stay defined).
"""

from __future__ import annotations

import html
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sheetprop.engines.base import a1
from sheetprop.engines.screen import DATA_TABLE_REASON, rectangle
from sheetprop.limits import MAX_RANGE_CELLS

RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"

_TAG = re.compile(rb"<(/?)((?:[A-Za-z_][\w.-]*:)?)(row|c|f)\b([^>]*?)(/?)>", re.S)
_ATTR = re.compile(rb"""\b([\w:]+)\s*=\s*("[^"]*"|'[^']*')""")
_FORMULA = re.compile(rb"(<(?:[A-Za-z_][\w.-]*:)?(?:f|definedName)\b[^>]*>)([^<]*)(<)")
_CELL_REF = re.compile(r"([A-Z]{1,3})(\d+)")


def workbook_part(zf: zipfile.ZipFile) -> str:
    """The path of the workbook part (xl/workbook.xml in every file Excel writes)."""
    for rel in _relationships(zf, "_rels/.rels"):
        if rel.get("Type", "").endswith("/officeDocument"):
            return rel.get("Target", "").lstrip("/")
    return "xl/workbook.xml"


def sheet_parts(zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, part path) of every worksheet, in the workbook's order."""
    return [(name, part) for _, name, part in worksheets(zf)]


def worksheets(zf: zipfile.ZipFile) -> list[tuple[int, str, str]]:
    """(position among all the workbook's sheets, sheet name, part path) of every worksheet."""
    from defusedxml import ElementTree  # type: ignore[import-untyped]

    book = workbook_part(zf)
    folder = posixpath.dirname(book)
    rels = {rel.get("Id"): rel for rel in _relationships(zf, posixpath.join(folder, "_rels", posixpath.basename(book) + ".rels"))}
    root = ElementTree.fromstring(zf.read(book))
    found = []
    for position, sheet in enumerate(root.iter(f"{MAIN}sheet")):
        rel = rels.get(sheet.get(R_ID))
        if rel is None or not rel.get("Type", "").endswith("/worksheet") or rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        found.append((position, sheet.get("name", ""), part))
    return found


def _relationships(zf: zipfile.ZipFile, part: str) -> list:
    from defusedxml import ElementTree  # type: ignore[import-untyped]

    try:
        return list(ElementTree.fromstring(zf.read(part)).iter(RELS))
    except KeyError:
        return []


def array_cells(path: str | Path) -> dict[tuple[str, str], tuple[str, str]]:
    """Every cell an array formula or a spill fills besides its first: (sheet, "B2") → (sheet, "B1"),
    the cell holding the formula (`<f t="array" ref="B1:B3">` in the file). At most
    MAX_RANGE_CELLS cells in all: a larger array's cells are left as the file has them."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    with zipfile.ZipFile(path) as zf:
        for sheet, part in sheet_parts(zf):
            try:
                data = zf.read(part)
            except KeyError:
                continue
            if b"array" not in data:
                continue
            for match in _TAG.finditer(data):
                if match.group(3) != b"f" or match.group(1):
                    continue
                attrs = _attributes(match.group(4))
                ref = attrs.get("ref", "")
                if attrs.get("t") != "array" or ":" not in ref:
                    continue
                box = rectangle(ref)
                if box is None:
                    continue
                r1, c1, r2, c2 = box
                if len(found) + (r2 - r1 + 1) * (c2 - c1 + 1) > MAX_RANGE_CELLS:
                    return found
                anchor = (sheet, a1(r1, c1))
                for row in range(r1, r2 + 1):
                    for col in range(c1, c2 + 1):
                        if (row, col) != (r1, c1):
                            found[(sheet, a1(row, col))] = anchor
    return found


def _attributes(raw: bytes) -> dict[str, str]:
    return {name.decode().split(":")[-1]: html.unescape(value[1:-1].decode("utf-8", "replace"))
            for name, value in _ATTR.findall(raw)}


@dataclass
class Normalised:
    path: Path  # the copy to load
    names: dict[str, str] = field(default_factory=dict)  # sheet name in the copy → its real name
    held: dict[tuple[str, str], str] = field(default_factory=dict)  # (real sheet, "A1") → why (data tables)


def normalise(path: str | Path, folder: str | Path) -> Normalised:
    """Write into `folder` the copy of the workbook that IronCalc can load (see the module's words)."""
    out = Path(folder) / "normalised.xlsx"
    result = Normalised(out)
    with zipfile.ZipFile(path) as zf:
        sheets = sheet_parts(zf)
        renames = {name: f"sheetprop sheet {k}" for k, (name, _) in enumerate(sheets, start=1) if "!" in name}
        result.names = {new: old for old, new in renames.items()}
        by_part = {part: name for name, part in sheets}
        book = workbook_part(zf)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
            for info in zf.infolist():
                data = zf.read(info)
                if info.filename in by_part:
                    data, tables = _normalise_sheet(data)
                    result.held.update(((by_part[info.filename], cell), DATA_TABLE_REASON) for cell in tables)
                if renames and (info.filename in by_part or info.filename == book):
                    data = _rename_in_formulas(data, renames)
                    if info.filename == book:
                        data = _rename_sheets(data, renames)
                copy.writestr(info, data)
    return result


def _normalise_sheet(data: bytes) -> tuple[bytes, list[str]]:
    """The sheet's XML with every row and cell numbered, and data tables made `NA()`; the data tables' cells."""
    if b"dataTable" not in data and not re.search(rb"<(?:[\w.-]+:)?(?:c|row)\b(?![^>]*\br=)[^>]*>", data):
        return data, []
    pieces: list[bytes] = []
    tables: list[str] = []
    row = col = 0
    at = 0
    skip_to: bytes | None = None
    for match in _TAG.finditer(data):
        closing, prefix, tag, attrs, empty = match.groups()
        if skip_to is not None:
            if closing and tag == b"f":
                at, skip_to = match.end(), None
            continue
        pieces.append(data[at:match.start()])
        at = match.end()
        text = match.group(0)
        if not closing and tag == b"row":
            found = re.search(rb'\br\s*=\s*["\'](\d+)["\']', attrs)
            row = int(found.group(1)) if found else row + 1
            col = 0
            if not found:
                text = b"<" + prefix + b'row r="%d"' % row + attrs + empty + b">"
        elif not closing and tag == b"c":
            found = re.search(rb'\br\s*=\s*["\']([A-Za-z]{1,3})(\d+)["\']', attrs)
            if found:
                col = rectangle(found.group(1).decode() + "1")[1]  # type: ignore[index]
            else:
                col += 1
                text = b"<" + prefix + b'c r="' + a1(row, col).encode() + b'"' + attrs + empty + b">"
        elif not closing and tag == b"f" and re.search(rb"""\bt\s*=\s*["']dataTable["']""", attrs):
            tables.append(a1(row, col))
            text = b"<" + prefix + b"f>NA()</" + prefix + b"f>"
            if not empty:
                skip_to = b"f"
        pieces.append(text)
    pieces.append(data[at:])
    return b"".join(pieces), tables


def _rename_in_formulas(data: bytes, renames: dict[str, str]) -> bytes:
    """Every formula and defined name of the part, with the renamed sheets' quoted names replaced."""
    quoted = {("'" + old.replace("'", "''") + "'!"): "'" + new + "'!" for old, new in renames.items()}

    def one(match: re.Match) -> bytes:
        text = html.unescape(match.group(2).decode("utf-8", "replace"))
        for old, new in quoted.items():
            text = text.replace(old, new)
        return match.group(1) + html.escape(text, quote=False).encode() + match.group(3)

    return _FORMULA.sub(one, data)


def _rename_sheets(data: bytes, renames: dict[str, str]) -> bytes:
    """The workbook part with the renamed sheets' `name` attributes replaced."""
    def one(match: re.Match) -> bytes:
        name = html.unescape(match.group(2).decode("utf-8", "replace"))
        if name not in renames:
            return match.group(0)
        return match.group(1) + html.escape(renames[name]).encode() + match.group(3)

    for quote in (b'"', b"'"):
        data = re.sub(rb"(<(?:[\w.-]+:)?sheet\b[^>]*?\bname\s*=\s*" + quote + rb")([^" + quote + rb"]*)(" + quote + rb")",
                      one, data)
    return data


_DEFINED = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)definedName\b([^>]*)>([^<]*)</\1definedName>")
_FIXED = re.compile(r"^(?:'(?:[^']|'')+'|[A-Za-z_][\w.]*)!\$[A-Z]{1,3}\$\d+(?::\$[A-Z]{1,3}\$\d+)?$")
_NAME_USE = re.compile(r"(?<![\w.$!:'\[\]@\\])([A-Za-z_\\][\w.\\?]*)(?![\w.\\?(!:\[])")
_TEXT = re.compile(r'("(?:[^"]|"")*")')


def inline_names(path: str | Path, folder: str | Path) -> Path | None:
    """A copy of the workbook whose formulas use the fixed references its names stand for (see the
    module's words); None when no name stands for one (nothing to gain)."""
    with zipfile.ZipFile(path) as zf:
        book = workbook_part(zf)
        fixed: dict[int | None, dict[str, str]] = {}
        for match in _DEFINED.finditer(zf.read(book)):
            attrs = _attributes(match.group(2))
            name, text = attrs.get("name", ""), html.unescape(match.group(3).decode("utf-8", "replace")).strip()
            box = rectangle(text.rpartition("!")[2])
            if name.lower().startswith("_xlnm.") or not _FIXED.match(text) or "[" in text or box is None or \
                    (box[2] - box[0] + 1) * (box[3] - box[1] + 1) > MAX_RANGE_CELLS:
                continue
            scope = int(attrs["localSheetId"]) if attrs.get("localSheetId", "").isdigit() else None
            fixed.setdefault(scope, {})[name.lower()] = text
        if not fixed:
            return None
        out = Path(folder) / "inlined.xlsx"
        parts = {part: {**fixed.get(None, {}), **fixed.get(k, {})} for k, _, part in worksheets(zf)}
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as copy:
            for info in zf.infolist():
                data = zf.read(info)
                if info.filename in parts and parts[info.filename]:
                    data = _inline(data, parts[info.filename])
                copy.writestr(info.filename, data)
    return out


def _inline(data: bytes, names: dict[str, str]) -> bytes:
    """A sheet's XML with each name of `names` in its formulas replaced by its reference."""
    def name(match: re.Match) -> str:
        return names.get(match.group(1).lower(), match.group(1))

    def formula(match: re.Match) -> bytes:
        text = html.unescape(match.group(2).decode("utf-8", "replace"))
        pieces = _TEXT.split(text)  # text constants at the odd places: left alone
        pieces[::2] = [_NAME_USE.sub(name, piece) for piece in pieces[::2]]
        return match.group(1) + html.escape("".join(pieces), quote=False).encode() + match.group(3)

    return re.sub(rb"(<(?:[A-Za-z_][\w.-]*:)?f\b[^>]*>)([^<]+)(<)", formula, data)
