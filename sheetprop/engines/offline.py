"""The copy LibreOffice opens: the workbook's cells and names, and nothing that points outside it.

LibreOffice is a whole office suite: given a workbook with a picture linked to
`http://host/x.png`, it sends OPTIONS, HEAD and GET there while it loads the file; given a
`file://` link to a FIFO, it opens it and waits. So the copy it is given is rebuilt from the
package's parts (`strip`), keeping only what computes values:

- the workbook part, without its links to other workbooks (`externalReferences`), pivot
  caches and extensions, nor a defined name naming another workbook, a file, a URL or a
  program; its relationships only to its sheets, shared strings and styles, never to a target
  outside the package (`TargetMode="External"`);
- each sheet up to the end of its cells (`</sheetData>`): no drawing, linked or embedded
  picture, OLE object, control, hyperlink, table, conditional format, data validation or
  extension survives, and no relationship of a sheet is kept (a chart sheet keeps only
  its views);
- shared strings and styles; nothing else (external links, data connections and query
  tables, DDE and OLE links, embedded objects, media, themes, custom XML, macros, properties).

Formulas that reach out (WEBSERVICE, DDE, `file://`, INDIRECT) are screened before this copy
is made (`sheetprop.engines.screen`, strictly for LibreOffice), and LibreOffice itself runs
with a profile that updates no link and blocks every link of an untrusted document
(`sheetprop.engines.libreoffice.RECALC_ALWAYS`).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path

from sheetprop.engines.package import RELS, sheet_parts, workbook_part

SHEET_TYPES = ("/worksheet", "/chartsheet", "/dialogsheet", "/macrosheet", "/xlMacrosheet", "/xlIntlMacrosheet")
KEPT_TYPES = SHEET_TYPES + ("/sharedStrings", "/styles")
_DROPPED_IN_WORKBOOK = ("externalReferences", "pivotCaches", "extLst", "oleSize", "webPublishObjects",
                        "fileRecoveryPr", "customWorkbookViews", "functionGroups", "AlternateContent")


def strip(path: str | Path, out: str | Path) -> Path:
    """Write to `out` the copy of the workbook at `path` that LibreOffice may open (see above)."""
    out = Path(out)
    with zipfile.ZipFile(path) as zf, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
        book = workbook_part(zf)
        folder = posixpath.dirname(book)
        book_rels = posixpath.join(folder, "_rels", posixpath.basename(book) + ".rels")
        kept_rels, parts = _kept_relationships(zf, book_rels, folder)
        sheets = {part for _, part in sheet_parts(zf)} | {p for p, kind in parts.items() if kind in SHEET_TYPES}
        copy.writestr("_rels/.rels", _rels_part([("rId1", _TYPE_PREFIX + "/officeDocument", book)]))
        copy.writestr(book_rels, _rels_part(kept_rels))
        copy.writestr(book, _workbook(zf.read(book), {rid for rid, _, _ in kept_rels}))
        for part in sorted(set(parts) | sheets):
            try:
                data = zf.read(part)
            except KeyError:
                continue
            copy.writestr(part, _sheet(data) if part in sheets else data)
        copy.writestr("[Content_Types].xml", _content_types(zf, {book} | set(parts) | sheets))
    return out


_TYPE_PREFIX = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _kept_relationships(zf: zipfile.ZipFile, rels_part: str, folder: str):
    """([(id, type, target)] the workbook keeps, {part path: kind}) — internal sheets, strings, styles."""
    from defusedxml import ElementTree  # type: ignore[import-untyped]

    kept, parts = [], {}
    try:
        rels = list(ElementTree.fromstring(zf.read(rels_part)).iter(RELS))
    except KeyError:
        rels = []
    for rel in rels:
        kind = next((k for k in KEPT_TYPES if rel.get("Type", "").endswith(k)), None)
        target = rel.get("Target", "")
        if kind is None or rel.get("TargetMode") == "External" or ":" in target or not target:
            continue
        part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        if part.startswith("..") or part not in zf.namelist():
            continue
        kept.append((rel.get("Id", ""), rel.get("Type", ""), target))
        parts[part] = kind
    return kept, parts


def _rels_part(rels) -> bytes:
    from xml.sax.saxutils import quoteattr

    body = "".join(f"<Relationship Id={quoteattr(i)} Type={quoteattr(t)} Target={quoteattr(g)}/>" for i, t, g in rels)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f"{body}</Relationships>").encode()


def _element(name: str) -> re.Pattern:
    """An element of that local name, any prefix, empty or with content (not nested in itself)."""
    return re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)" + name.encode() + rb"\b[^>]*?(?:/>|>.*?</\1" + name.encode() + rb"\s*>)",
                      re.S)


def _workbook(data: bytes, kept_ids: set[str]) -> bytes:
    """The workbook part without links out, pivot caches or extensions, and only the sheets kept."""
    for name in _DROPPED_IN_WORKBOOK:
        data = _element(name).sub(b"", data)

    def sheet(match: re.Match) -> bytes:
        rid = re.search(rb"""\b[\w.-]*:?id\s*=\s*["']([^"']*)["']""", match.group(0))
        return match.group(0) if rid and rid.group(1).decode() in kept_ids else b""

    data = re.sub(rb"<(?:[A-Za-z_][\w.-]*:)?sheet\b[^>]*/>", sheet, data)
    return _NAME_OUT.sub(b"", data)


# A defined name that names another workbook, a file, a URL or a program (DDE): dropped.
_NAME_OUT = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)definedName\b[^>]*>[^<]*(?:\[|\]|file:|://|#\$|\|)[^<]*"
                       rb"</\1definedName>", re.I)


def _sheet(data: bytes) -> bytes:
    """A sheet's XML up to the end of its cells; a chart sheet's up to the end of its views."""
    root = re.search(rb"<((?:[A-Za-z_][\w.-]*:)?)(worksheet|chartsheet|dialogsheet|macrosheet)\b", data)
    if root is None:
        return data
    prefix, kind = root.group(1), root.group(2)
    for last in (b"sheetData", b"sheetViews", b"sheetPr"):
        closing = re.search(rb"</" + prefix + last + rb"\s*>|<" + prefix + last + rb"\b[^>]*/>", data)
        if closing is not None:
            return data[:closing.end()] + b"</" + prefix + kind + b">"
    opening = data.index(b">", root.end()) + 1
    return data[:opening] + b"</" + prefix + kind + b">"


def _content_types(zf: zipfile.ZipFile, parts: set[str]) -> bytes:
    """[Content_Types].xml with overrides only for the parts kept."""
    data = zf.read("[Content_Types].xml")

    def override(match: re.Match) -> bytes:
        name = re.search(rb"""PartName\s*=\s*["']/?([^"']*)["']""", match.group(0))
        return match.group(0) if name and name.group(1).decode() in parts else b""

    return re.sub(rb"<(?:[A-Za-z_][\w.-]*:)?Override\b[^>]*/>", override, data)

