"""Reports of graded workbooks: for a person (text, a summary table) and for machines (JSON, the
gradebook CSV, Gradescope's results.json). Text from a student's file is cleaned before it is
printed: no control characters, escape sequences or direction overrides.
"""

from __future__ import annotations

import re
from pathlib import Path

from sheetprop.grading.grade import STATUSES, FileReport

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Text from a student's file, safe to print: no control characters, escape sequences or
    direction overrides (which could redraw a terminal or disguise a line), one line."""
    return _CONTROL.sub("?", text)


def exit_code(reports: list[FileReport]) -> int:
    """0 when every answer of every file is right, 1 when one is wrong, 2 when a file could not be used."""
    if any(r.error for r in reports):
        return 2
    return 0 if all(r.all_right for r in reports) else 1


def counts(report: FileReport) -> dict[str, int]:
    return {s: sum(1 for i in report.items if i.status == s and not (i.section == "given" and s == "correct"))
            for s in STATUSES}


def _problem(report: FileReport) -> str:
    """The file's error without the file name it usually starts with."""
    error = report.error or ""
    return error[len(report.file) + 2:] if error.startswith(report.file + ": ") else error


def headline(report: FileReport) -> str:
    if report.error:
        return clean(f"{report.file}: could not be graded: {_problem(report)}")
    c = counts(report)
    parts = [f"{n} {s.replace('_', ' ')}" for s, n in c.items() if n and s != "correct"]
    wrong = len(report.wrong_tables)
    if wrong:
        parts.append(f"{wrong} training table{'s' if wrong > 1 else ''} with a wrong row")
    verdict = "every answer is right" if report.all_right else ", ".join(parts)
    return clean(f"{report.file}: {report.score:g} / {report.max_score:g} points ({verdict})")


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.9g}"
    return "" if value is None else str(value)


def for_the_instructor(report: FileReport) -> list[str]:
    """What only the instructor is told (never in a student's feedback): a file sheetprop wrote."""
    return [clean(f"  note for the instructor: {report.provenance}")] if report.provenance else []


def text_report(report: FileReport) -> list[str]:
    """One line per quantity; a diagnosis on its own line under it."""
    lines = [headline(report), *for_the_instructor(report)] + [clean(f"  note: {note}") for note in report.notes]
    if report.error:
        return lines
    found: dict[str, int] = {}
    for item in report.items:
        how = re.split(r"[ ,]", item.found_by or "", maxsplit=1)[0] or "not found"
        found[how] = found.get(how, 0) + 1
    lines.append("  found: " + ", ".join(f"{n} by {how}" if how != "not found" else f"{n} not found"
                                         for how, n in found.items()))
    width = max(len(i.name) for i in report.items)
    cells = max(len(i.cell or "-") for i in report.items)
    for item in report.items:
        mark = " (stale)" if item.stale else ""
        lines.append(clean(f"  {item.name:<{width}}  {item.cell or '-':<{cells}}  {item.status + mark:<16} "
                           f"got {_show(item.got) or '-':<16} expected {_show(item.expected)}"))
        if item.diagnosis and item.status != "correct" or item.stale:
            lines.append(clean(f"  {'':<{width}}  -> {item.diagnosis}"))
    lines += [clean("  " + training_line(t)) for t in report.training]
    return lines


def training_line(t: dict) -> str:
    """One line for a row-per-iteration table: where, its learning rate, its verdict, its first wrong cell."""
    where = f"table {t['cell']} ({t['rows']} rows" + (f", η = {t['eta']:g}" if t.get("eta") is not None else "") + ")"
    if t["status"] == "pasted":
        return f"{where}: pasted values, no formulas: not graded"
    if t["status"] == "unmatched":
        return f"{where}: its columns could not be matched to the quantities: not graded (a --map helps)"
    if t["status"] == "correct":
        verdict = "every update right"
    else:
        w = t["first_wrong"]
        verdict = (f"first wrong at update {w['update']}: {w['name']} {w['cell']} got {_show(w['got']) or '-'} "
                   f"expected {_show(w['expected'])}")
    if t.get("loss_last") is not None and t.get("correct_last") is not None:
        verdict += f"; last loss {_show(t['loss_last'])} (correct run {_show(t['correct_last'])})"
    return f"{where}: {t['status']}: {verdict}"


def first_mistake_text(report: FileReport) -> str:
    if report.error:
        return f"could not be graded: {_problem(report)}"
    item = report.first_mistake()
    if item is None:
        if not report.wrong_tables:
            return "-"
        table = report.wrong_tables[0]
        w = table["first_wrong"]
        return f"{w['name']}: incorrect in {table['sheet']} at update {w['update']} ({w['cell']})"
    return f"{item.name}: {item.status.replace('_', ' ')}" + (f": {item.diagnosis}" if item.diagnosis else "")


def student_names(reports: list[FileReport]) -> list[str]:
    """Each file's student: its name without .xlsx, with as much of its folder as tells two
    files of the same name apart (`a/alice`, `b/alice`)."""
    parts = [Path(r.file).with_suffix("").parts or (r.student,) for r in reports]
    depth = [1] * len(parts)
    while True:
        shown = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        clash = {n for n in shown if shown.count(n) > 1}
        grown = False
        for k, name in enumerate(shown):
            if name in clash and depth[k] < len(parts[k]):
                depth[k] += 1
                grown = True
        if not grown:
            return shown


def summary_table(reports: list[FileReport], width: int | None = None) -> list[str]:
    import shutil

    width = width or max(80, shutil.get_terminal_size((100, 24)).columns)
    students = student_names(reports)
    name_w = max([len("student")] + [len(s) for s in students])
    lines = [f"{'student':<{name_w}}  {'score':>11}  first mistake"]
    for r, student in zip(reports, students):
        score = "error" if r.error else f"{r.score:g}/{r.max_score:g}"
        text = first_mistake_text(r)
        room = max(20, width - name_w - 15)
        lines.append(clean(f"{student:<{name_w}}  {score:>11}  {text if len(text) <= room else text[:room - 1] + '…'}"))
    return lines


CSV_FIELDS = ["student", "file", "score", "max_score", *STATUSES, "first_mistake", "file_error", "written_by_sheetprop"]


def csv_text(reports: list[FileReport]) -> str:
    """The gradebook: one row per file. A cell that a spreadsheet would take for a formula
    (a file named `=HYPERLINK(…).xlsx`) is written with a leading `'`."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for r, student in zip(reports, student_names(reports)):
        row = {"student": student, "file": r.file, "score": r.score, "max_score": r.max_score,
               "first_mistake": "" if r.error or r.all_right else first_mistake_text(r), "file_error": r.error or "",
               "written_by_sheetprop": r.provenance or ""}
        row.update(counts(r) if not r.error else {s: "" for s in STATUSES})
        writer.writerow({k: _csv_safe(v) for k, v in row.items()})
    return out.getvalue()


def _csv_safe(value):
    if isinstance(value, str):
        value = clean(value)
        if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
    return value


def write_csv(reports: list[FileReport], path: str | Path) -> None:
    from sheetprop.files import write_text

    write_text(path, csv_text(reports))


SECTION_TITLES = {"given": "Given values", "forward": "Forward pass", "loss": "Loss",
                  "backward": "Backward pass", "gradients": "Gradients", "update": "Update"}


def _feedback(item) -> str:
    """One quantity for the student: the verdict, their value and where, the expected value, the diagnosis."""
    where = f" in {item.cell}" if item.cell else ""
    if item.status == "missing":
        text = f"missing: no cell for {item.name} was found; expected {_show(item.expected)}"
    elif item.status == "correct":
        text = f"correct: {_show(item.got)}{where}"
    elif item.status == "carried_forward":
        text = (f"carried forward: your value {_show(item.got)}{where} is right given your own earlier values "
                f"(with the correct ones it would be {_show(item.expected)})")
    else:
        text = (f"{item.status.replace('_', ' ')}: your value {_show(item.got) or '(empty)'}{where}, "
                f"expected {_show(item.expected)}")
    return clean(text + (f". {item.diagnosis}" if item.diagnosis else ""))


def _passed(item) -> bool:
    """Right, or right given the student's own earlier values, with every point earned."""
    return item.status in ("correct", "carried_forward") and item.points >= item.max_points


def gradescope(report: FileReport, visibility: str = "visible", by: str = "quantity",
               total: float | None = None) -> dict:
    """Gradescope's autograder results.json for one submission: a test per quantity (`by="quantity"`)
    or per section of the worked example (`by="section"`).

    With `total` (the assignment's points) the score is the share of the points the sheet could
    earn, times `total`: a student who folds a factor into a later formula shows fewer
    quantities, loses nothing for it, and still reaches the assignment's total."""
    if report.error:
        return {"score": 0.0, "output": clean(f"Your file could not be graded: {_problem(report)}"), "tests": [],
                "visibility": visibility}
    graded = [item for item in report.items if not (item.max_points <= 0 and item.status in ("correct", "missing"))]
    tests: list[dict[str, object]] = []
    if by == "section":
        for section, title in SECTION_TITLES.items():
            items = [i for i in graded if i.section == section]
            if items:
                right = all(_passed(i) for i in items)
                tests.append({"name": title, "score": sum(i.points for i in items),
                              "max_score": sum(i.max_points for i in items),
                              "status": "passed" if right else "failed", "visibility": visibility,
                              "output": "\n".join(f"{i.name}: {_feedback(i)}" for i in items)})
    else:
        for item in graded:
            tests.append({"name": item.name, "tags": [SECTION_TITLES.get(item.section, item.section)],
                          "score": item.points, "max_score": item.max_points,
                          "status": "passed" if _passed(item) else "failed",
                          "visibility": visibility, "output": _feedback(item)})
    lines = [headline(report)] + [clean(f"note: {n}") for n in report.notes]
    lines += [clean(training_line(t)) for t in report.training]
    score = report.score
    if total is not None and report.max_score > 0 and abs(report.max_score - total) > 1e-9:
        score = round(report.score * total / report.max_score, 6)
        lines.append(f"Your sheet shows answers worth {report.max_score:g} points (a factor folded into a later "
                     f"formula costs nothing): {report.score:g} / {report.max_score:g} counts as "
                     f"{score:g} / {total:g}.")
    if report.provenance:  # a hidden test: Gradescope never shows it to the student, only to the instructor
        tests.append({"name": "Note for the instructor: written by sheetprop", "score": 0.0, "max_score": 0.0,
                      "status": "passed", "visibility": "hidden", "output": clean(report.provenance)})
    return {"score": score, "output": "\n".join(lines), "tests": tests, "visibility": visibility}
