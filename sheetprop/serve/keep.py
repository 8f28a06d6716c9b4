"""Uploads kept for the instructor (`--keep DIR`): each file under its time and the student's name,
its report beside it, nothing ever overwritten.

`Keeper(folder).keep(path, student, name, report)` stores the upload as
`20250314T101500Z_alice-smith.xlsx` (the time in UTC, the name or id typed into the form made
safe for a file name) and its report as that name plus `.json`. The file is written to a
temporary name first and then linked to its own, which fails rather than replace a file of the
same name: two uploads in the same second get `…_alice-smith-2.xlsx`. The folder is created
private (0700), and each file in it is readable by this user alone (0600): it holds students'
work. `latest()` reads the reports back, the last upload of each student; the files stay what
`sheetprop check DIR/*.xlsx` grades again.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from sheetprop.grading.grade import FileReport, Item
from sheetprop.jsonout import dumps
from sheetprop.serve.upload import safe_name

MAX_REPORT_BYTES = 10 * 2**20  # a report file larger than this is no report of ours
_ITEM_FIELDS = {f.name for f in fields(Item)}


@dataclass
class Kept:
    """One kept upload: who, when, the file's name in the folder and the name it was uploaded as."""

    student: str
    uploaded: str  # ISO 8601, UTC
    file: str
    original: str
    report: FileReport


class Keeper:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def keep(self, path: Path, student: str, original: str, report: FileReport,
             when: datetime | None = None) -> Kept:
        """Store the upload at `path` and its report; returns what was kept."""
        when = when or datetime.now(timezone.utc)
        who = safe_name(student, "anonymous")
        suffix = path.suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,5}", path.suffix.lower()) else ".xlsx"
        stem = f"{when:%Y%m%dT%H%M%SZ}_{who}"
        partial = self._private(path.read_bytes())
        try:
            for n in itertools.count(1):
                name = f"{stem}{'' if n == 1 else f'-{n}'}{suffix}"
                try:
                    os.link(partial, self.folder / name)  # never replaces an existing file
                    break
                except FileExistsError:
                    continue
        finally:
            os.unlink(partial)
        kept = Kept(who, when.isoformat(timespec="seconds"), name, original, report)
        record = {"student": kept.student, "uploaded": kept.uploaded, "file": name, "original": original,
                  "same_second": n, "report": report.to_json()}
        os.replace(self._private(dumps(record, indent=1).encode()), self.folder / f"{name}.json")  # a name of its own
        return kept

    def _private(self, data: bytes) -> str:
        """A new file in the folder, readable by this user alone (0600), holding `data`, flushed to disk."""
        fd, name = tempfile.mkstemp(prefix=".", suffix=".part", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return name

    def all(self) -> list[Kept]:
        """Every kept upload with a readable report, oldest first."""
        kept = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                if path.is_symlink() or path.stat().st_size > MAX_REPORT_BYTES:
                    continue
                record = json.loads(path.read_text(encoding="utf-8"))
                kept.append((str(record["uploaded"]), int(record.get("same_second", 1)),
                             Kept(str(record["student"]), str(record["uploaded"]), str(record["file"]),
                                  str(record.get("original", "")), _report(record["report"]))))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not one of ours, or damaged: the upload itself is still there
        return [k for _, _, k in sorted(kept, key=lambda entry: entry[:2])]

    def latest(self) -> list[Kept]:
        """The last upload of each student (names compared without case), in the order of the students' names."""
        last: dict[str, Kept] = {}
        for kept in self.all():
            last[kept.student.casefold()] = kept
        return [last[key] for key in sorted(last)]


def _report(data: dict) -> FileReport:
    """A FileReport from its JSON (`FileReport.to_json`)."""
    items = [Item(**{k: v for k, v in item.items() if k in _ITEM_FIELDS}) for item in data.get("items") or []]
    return FileReport(file=str(data["file"]), score=float(data.get("score") or 0.0),
                      max_score=float(data.get("max_score") or 0.0), error=data.get("error"), items=items,
                      notes=list(data.get("notes") or []), training=list(data.get("training") or []))
