"""Reports of graded workbooks: for a person (text, a summary table) and for machines (JSON, the
gradebook CSV, Gradescope's results.json). Text from a student's file is cleaned before it is
printed: no control characters, escape sequences or direction overrides.
"""

from __future__ import annotations

import re
from pathlib import Path

from sheetprop.grading.grade import STATUSES, FileReport
from sheetprop.reports.plain import clean, shown_value
from sheetprop.reports.scores import nothing_to_grade, percent, points_text, score_of
from sheetprop.reports.student import brief_lines, counts, entry, headline, problem

__all__ = ["clean", "csv_text", "exit_code", "gradescope", "headline", "shown_value", "summary_table", "text_report"]



def exit_code(reports: list[FileReport]) -> int:
    """0 when every answer of every file is right, 1 when one is wrong, 2 when a file could not be used."""
    if any(r.error for r in reports):
        return 2
    return 0 if all(r.all_right for r in reports) else 1


_show = shown_value


def for_the_instructor(report: FileReport) -> list[str]:
    """What only the instructor is told (never in a student's feedback): a file sheetprop wrote."""
    return [clean(f"  note for the instructor: {report.provenance}")] if report.provenance else []


def text_report(report: FileReport, total: float | None = None, brief: bool = False) -> list[str]:
    """The student's view first (the verdict, what to fix first, each cell to fix: `student.brief_lines`);
    unless `brief`, then every quantity, one line each, with the diagnosis under it. Given values read
    from the workbook itself (no spec) are not listed: they agree with it by definition. A note for the
    instructor (`for_the_instructor`) follows the verdict unless `brief`."""
    lines = brief_lines(report, total)
    if not brief:
        lines[1:1] = for_the_instructor(report)
    if brief or report.error:
        return lines + ([clean(f"  note: {note}") for note in report.notes] if not brief else [])
    lines += ["", "Every quantity:"] + [clean(f"  note: {note}") for note in report.notes]
    items = [i for i in report.items if not (report.given_read and i.section == "given")]
    if not items:
        return lines
    found: dict[str, int] = {}
    for item in report.items:
        how = re.split(r"[ ,]", item.found_by or "", maxsplit=1)[0] or "not found"
        found[how] = found.get(how, 0) + 1
    lines.append("  found: " + ", ".join(f"{n} by {how}" if how != "not found" else f"{n} not found"
                                         for how, n in found.items()))
    width = max(len(i.name) for i in items)
    cells = max(len(i.cell or "-") for i in items)
    for item in items:
        mark = " (stale)" if item.stale else ""
        got = _show(item.got) if item.shows is None else f"{_show(item.shows)} ({_show(item.got)} judged)"
        lines.append(clean(f"  {item.name:<{width}}  {item.cell or '-':<{cells}}  {item.status + mark:<16} "
                           f"got {got or '-':<16} expected {_show(item.expected)}"))
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
        return f"could not be graded: {problem(report)}"
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


def summary_table(reports: list[FileReport], width: int | None = None, total: float | None = None) -> list[str]:
    """One line per student: the score out of the class's total, and the first mistake."""
    import shutil

    from sheetprop.reports.scores import class_total

    total = class_total(reports, total)
    width = width or max(80, shutil.get_terminal_size((100, 24)).columns)
    students = student_names(reports)
    name_w = max([len("student")] + [len(s) for s in students])
    lines = [f"{'student':<{name_w}}  {'score':>11}  first mistake"]
    for r, student in zip(reports, students):
        score = "error" if r.error else f"{points_text(score_of(r, total))}/{points_text(total or r.max_score)}"
        text = "nothing to grade" if nothing_to_grade(r) else first_mistake_text(r)
        room = max(20, width - name_w - 15)
        lines.append(clean(f"{student:<{name_w}}  {score:>11}  {text if len(text) <= room else text[:room - 1] + '…'}"))
    return lines


CSV_FIELDS = ["student", "file", "score", "max_score", "percent", *STATUSES, "first_mistake", "file_error",
              "written_by_sheetprop"]


def csv_text(reports: list[FileReport], total: float | None = None) -> str:
    """The gradebook: one row per file, the score out of the class's total (a file that could not be
    graded, or with nothing to grade, scores 0 of it) and as a percentage. A cell that a spreadsheet
    would take for a formula (a file named `=HYPERLINK(…).xlsx`) is written with a leading `'`."""
    import csv
    import io

    from sheetprop.reports.scores import class_total

    total = class_total(reports, total)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for r, student in zip(reports, student_names(reports)):
        mistake = "nothing to grade" if nothing_to_grade(r) else first_mistake_text(r)
        row: dict[str, object] = {"student": student, "file": r.file, "score": points_text(score_of(r, total)),
               "max_score": points_text(total or r.max_score), "percent": points_text(percent(r, total)), "first_mistake": "" if r.error or r.all_right else mistake,
               "file_error": r.error or "", "written_by_sheetprop": r.provenance or ""}
        row.update(counts(r) if not r.error else {s: "" for s in STATUSES})
        writer.writerow({k: _csv_safe(v) for k, v in row.items()})
    return out.getvalue()


def _csv_safe(value):
    if isinstance(value, str):
        value = clean(value)
        if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
    return value


def write_csv(reports: list[FileReport], path: str | Path, total: float | None = None) -> None:
    from sheetprop.files import write_text

    write_text(path, csv_text(reports, total))


SECTION_TITLES = {"given": "Given values", "forward": "Forward pass", "loss": "Loss",
                  "backward": "Backward pass", "gradients": "Gradients", "update": "Update"}


def _feedback(item, report: FileReport) -> str:
    """One quantity for the student, each point said once: right (their value and cell), right given
    their own earlier values, or what is wrong, in their own words (`student.entry`)."""
    where = f" in {item.cell}" if item.cell else ""
    if item.status == "correct":
        text = f"correct: {_show(item.got)}{where}"
    elif item.status == "carried_forward":
        text = (f"carried forward: your value {_show(item.got)}{where} is right given your own earlier values "
                f"(with the correct ones it would be {_show(item.expected)})")
    else:
        e = entry(item, report)
        text = " ".join([f"{item.status.replace('_', ' ')}: your value {_show(e.got) or '(empty)'}{where}, "
                         f"expected {_show(item.expected)}."] + e.points)
    return clean(text)


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
    total = total or report.total
    if report.error:
        return {"score": 0.0, "output": clean(f"Your file could not be graded: {problem(report)}"), "tests": [],
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
                              "output": "\n".join(f"{i.name}: {_feedback(i, report)}" for i in items)})
    else:
        for item in graded:
            tests.append({"name": item.name, "tags": [SECTION_TITLES.get(item.section, item.section)],
                          "score": item.points, "max_score": item.max_points,
                          "status": "passed" if _passed(item) else "failed",
                          "visibility": visibility, "output": _feedback(item, report)})
    lines = brief_lines(report, total) + [clean(f"note: {n}") for n in report.notes]
    lines += [clean(training_line(t)) for t in report.training]
    score = score_of(report, total)
    if total and report.max_score > 0 and abs(report.max_score - total) > 1e-9 and not nothing_to_grade(report):
        lines.append(f"Your sheet shows answers worth {points_text(report.max_score)} points (a factor folded into a "
                     f"later formula costs nothing): {points_text(report.score)} / {points_text(report.max_score)} "
                     f"counts as {points_text(score)} / {points_text(total)}.")
    if report.provenance:  # a hidden test: Gradescope never shows it to the student, only to the instructor
        tests.append({"name": "Note for the instructor: written by sheetprop", "score": 0.0, "max_score": 0.0,
                      "status": "passed", "visibility": "hidden", "output": clean(report.provenance)})
    return {"score": score, "output": "\n".join(lines), "tests": tests, "visibility": visibility}
