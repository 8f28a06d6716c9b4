"""Workbooks that point outside themselves, and the traps that tell whether anything followed them.

`link_out(path, url, fifo)` adds to an existing .xlsx (in place) every way a workbook can make
a spreadsheet application reach out when it opens the file: two pictures linked (not
embedded) to `url` and to `file://fifo`, a hyperlink, and with `everything` also a link to
another workbook at `file://fifo` holding an OLE link and a DDE link, a web data connection
refreshed on load, and a defined name in LibreOffice's `'file:///…'#$Sheet.A1` form.

`Listener` records every connection made to a port of 127.0.0.1 (and the first bytes sent);
`Fifo` records whether anything opened a named pipe (a reader blocked on it would wait
forever: the trap is polled with non-blocking writes, which succeed only while a reader holds it).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import zipfile
from pathlib import Path

REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
DRAWING_TYPE = "application/vnd.openxmlformats-officedocument.drawing+xml"
EXTERNAL_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"
CONNECTIONS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.connections+xml"


class Listener:
    """A TCP listener on 127.0.0.1 that records every request made to it."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.socket.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.requests.append(conn.recv(4096) or b"(connected, sent nothing)")
                    conn.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    self.requests.append(b"(connected)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


class Fifo:
    """A named pipe that records whether anything opened it for reading."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "trap.fifo"
        os.mkfifo(self.path)
        self.opened = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader
                time.sleep(0.005)
                continue
            self.opened = True
            os.close(fd)  # the reader sees the end of the file and goes on
            time.sleep(0.005)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def link_out(path: Path, url: str, fifo: Path, everything: bool = True) -> Path:
    """Add to the .xlsx at `path` (in place) pictures linked to `url` and `file://fifo`, a hyperlink,
    and with `everything` links to another workbook, OLE, DDE, a web connection and a file name."""
    with zipfile.ZipFile(path) as zf:
        parts = {info.filename: zf.read(info) for info in zf.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    file_url = fifo.as_uri()
    drawing = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
        f'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="{REL}">'
        + "".join(_picture(k, f"rId{k}") for k in (1, 2)) + "</xdr:wsDr>")
    parts["xl/drawings/drawing91.xml"] = drawing.encode()
    parts["xl/drawings/_rels/drawing91.xml.rels"] = _rels([
        ("rId1", f"{REL}/image", f"{url}/picture.png", True), ("rId2", f"{REL}/image", file_url, True)])
    sheet_rels = "xl/worksheets/_rels/sheet1.xml.rels"
    parts[sheet_rels] = _add_rels(parts.get(sheet_rels), [
        ("rIdLinkD", f"{REL}/drawing", "../drawings/drawing91.xml", False),
        ("rIdLinkH", f"{REL}/hyperlink", f"{url}/hyperlink", True)])
    xml = parts[sheet].decode()
    if "xmlns:r=" not in xml[:2000]:
        xml = re.sub(r"<worksheet\b", f'<worksheet xmlns:r="{REL}"', xml, count=1)
    xml = re.sub(r"(</sheetData>|<sheetData/>)", r'\1<hyperlinks><hyperlink ref="A1" r:id="rIdLinkH"/></hyperlinks>',
                 xml, count=1)
    xml = xml.replace("</worksheet>", '<drawing r:id="rIdLinkD"/></worksheet>')
    parts[sheet] = xml.encode()
    overrides = [("/xl/drawings/drawing91.xml", DRAWING_TYPE)]
    if everything:
        links = {  # another workbook at the FIFO, an OLE link to it, a DDE link to a program
            91: ('<externalBook r:id="rId1"><sheetNames><sheetName val="S"/></sheetNames><sheetDataSet>'
                 '<sheetData sheetId="0"><row r="1"><cell r="A1"><v>1</v></cell></row></sheetData></sheetDataSet>'
                 "</externalBook>", "externalLinkPath"),
            92: ('<oleLink r:id="rId1" progId="Excel.Sheet.12"><oleItems><oleItem name="S!A1" advise="1"/>'
                 "</oleItems></oleLink>", "oleObject"),
            93: ('<ddeLink ddeService="cmd" ddeTopic="/c calc"><ddeItems><ddeItem name="A0" advise="1"/></ddeItems>'
                 "</ddeLink>", None),
        }
        for k, (body, target) in links.items():
            parts[f"xl/externalLinks/externalLink{k}.xml"] = (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                f'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{REL}">'
                f"{body}</externalLink>").encode()
            if target:
                parts[f"xl/externalLinks/_rels/externalLink{k}.xml.rels"] = _rels([
                    ("rId1", f"{REL}/{target}", file_url, True)])
        parts["xl/connections.xml"] = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<connections xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<connection id="1" name="web" type="4" refreshedVersion="6" refreshOnLoad="1" background="1" saveData="1">'
            f'<webPr sourceData="1" parsePre="1" consecutive="1" xl2000="1" url="{url}/data"/></connection>'
            '</connections>').encode()
        workbook_rels = "xl/_rels/workbook.xml.rels"
        parts[workbook_rels] = _add_rels(parts[workbook_rels], [
            ("rIdLinkE1", f"{REL}/externalLink", "externalLinks/externalLink91.xml", False),
            ("rIdLinkE2", f"{REL}/externalLink", "externalLinks/externalLink92.xml", False),
            ("rIdLinkE3", f"{REL}/externalLink", "externalLinks/externalLink93.xml", False),
            ("rIdLinkC", f"{REL}/connections", "connections.xml", False)])
        book = parts["xl/workbook.xml"].decode()
        if "xmlns:r=" not in book[:2000]:
            book = re.sub(r"<workbook\b", f'<workbook xmlns:r="{REL}"', book, count=1)
        refs = ('<externalReferences><externalReference r:id="rIdLinkE1"/><externalReference r:id="rIdLinkE2"/>'
                '<externalReference r:id="rIdLinkE3"/></externalReferences>')
        name = f"<definedName name=\"peek_file\">'{file_url}'#$S.A1</definedName>"
        book = book.replace("</sheets>", "</sheets>" + refs, 1)
        book = book.replace("<definedNames>", "<definedNames>" + name, 1) if "<definedNames>" in book else \
            book.replace(refs, refs + f"<definedNames>{name}</definedNames>", 1)
        parts["xl/workbook.xml"] = book.encode()
        overrides += [(f"/xl/externalLinks/externalLink{k}.xml", EXTERNAL_TYPE) for k in (91, 92, 93)]
        overrides.append(("/xl/connections.xml", CONNECTIONS_TYPE))
    types = parts["[Content_Types].xml"].decode()
    extra = "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in overrides)
    parts["[Content_Types].xml"] = types.replace("</Types>", extra + "</Types>").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name_, data in parts.items():
            zf.writestr(name_, data)
    return path


def _picture(k: int, rid: str) -> str:
    return (f'<xdr:twoCellAnchor><xdr:from><xdr:col>{k}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>0</xdr:row>'
            f'<xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>{k + 1}</xdr:col><xdr:colOff>0</xdr:colOff>'
            '<xdr:row>2</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to><xdr:pic><xdr:nvPicPr>'
            f'<xdr:cNvPr id="{k + 1}" name="Linked {k}"/><xdr:cNvPicPr/></xdr:nvPicPr><xdr:blipFill>'
            f'<a:blip r:link="{rid}"/><a:stretch><a:fillRect/></a:stretch></xdr:blipFill><xdr:spPr><a:xfrm>'
            '<a:off x="0" y="0"/><a:ext cx="600000" cy="400000"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/>'
            '</a:prstGeom></xdr:spPr></xdr:pic><xdr:clientData/></xdr:twoCellAnchor>')


def _rels(rels) -> bytes:
    body = "".join(f'<Relationship Id="{i}" Type="{t}" Target="{g}"' + (' TargetMode="External"' if ext else "") + "/>"
                   for i, t, g, ext in rels)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{body}'
            "</Relationships>").encode()


def _add_rels(existing: bytes | None, rels) -> bytes:
    if existing is None:
        return _rels(rels)
    body = _rels(rels).decode()
    inner = body[body.index("<Relationship "):body.index("</Relationships>")]
    return existing.decode().replace("</Relationships>", inner + "</Relationships>").encode()
