"""The student's view of one graded workbook, as the part of the page that shows a result.

`student_view_html(report, total)` is the one place that turns a `FileReport` into what the
student reads: the verdict, the score out of the assignment's total, what to fix first (each
with its cell, the student's own word for it when the sheet has one, what it shows and what
it should, and the likely mistake), the loss curve of each training table beside the correct
run (`reports.classpage.loss_chart`), and every answer in a table folded away. It reads only
the report's fields (items with status, cell, diagnosis, expected and got; score; tables), so
the brief report of `sheetprop check` can take its place when there is one. Every text from
the student's file is cleaned and HTML-escaped.
"""

from __future__ import annotations

import html
import re

from sheetprop.grading.grade import FileReport, Item
from sheetprop.reports.classpage import loss_chart
from sheetprop.reports.text import clean, training_line

TO_FIX = ("incorrect", "error", "hardcoded", "missing")  # the order `FileReport.first_mistake` takes
SHOWN_FIRST = 5  # answers listed under "what to fix first"; the others are in the table below
STATUS_WORDS = {"correct": "right", "carried_forward": "right given your earlier values", "incorrect": "wrong",
                "missing": "not found", "hardcoded": "a typed number", "error": "cannot be computed"}
_LABEL = re.compile(r"label '(.+?)' at ")


def _text(value) -> str:
    return html.escape(clean(str(value)), quote=True)


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.9g}"
    return "(empty)" if value is None or value == "" else str(value)


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


def scaled_score(report: FileReport, total: float | None) -> tuple[float, float]:
    """The score out of the assignment's total: the share of the points the sheet could earn, times
    the total (a factor folded into a later formula costs nothing), as Gradescope's results have it."""
    if total is None or report.max_score <= 0:
        return report.score, report.max_score
    return report.score * total / report.max_score, total


def own_word(item: Item) -> str:
    """What the student calls the quantity: the label beside or above its cell, else its name."""
    found = _LABEL.search(item.found_by or "")
    return found[1] if found else item.name


def to_fix(report: FileReport) -> list[Item]:
    """The answers that lose points, the first mistake first: wrong, then errors, typed numbers, missing."""
    return [item for status in TO_FIX for item in report.items
            if item.status == status and not (item.section == "given" and status == "missing")]


def _fix_line(item: Item) -> str:
    word = own_word(item)
    name = f" <span class=\"name\">({_text(item.name)})</span>" if word != item.name else ""
    where = f" in <code>{_text(item.cell)}</code>" if item.cell else ""
    if item.status == "missing":
        what = f"no cell for it was found; it should be {_text(_number(item.expected))}"
    else:
        what = (f"{_text(STATUS_WORDS[item.status])}: your sheet shows {_text(_number(item.got))}, "
                f"it should be {_text(_number(item.expected))}")
    why = f"<br><span class=\"why\">{_text(item.diagnosis)}</span>" if item.diagnosis else ""
    return (f"<li class=\"{_text(item.status)}\"><b>{_text(word)}</b>{name}{where}: {what}{why}</li>")


def _verdict(report: FileReport, fixes: list[Item]) -> tuple[str, str]:
    """(kind, heading): right, wrong or error."""
    if report.error:
        return "error", "Your file could not be graded"
    if report.all_right:
        return "right", "Every answer is right"
    if fixes:
        return "wrong", f"{len(fixes)} answer{'s' if len(fixes) != 1 else ''} to fix"
    tables = len(report.wrong_tables)
    return "wrong", f"{tables} training table{'s' if tables != 1 else ''} with a wrong row"


def _all_answers(report: FileReport) -> str:
    rows = [f"<tr class=\"{_text(i.status)}\"><td>{_text(own_word(i))}</td><td><code>{_text(i.name)}</code></td>"
            f"<td>{_text(i.cell or '-')}</td><td>{_text(STATUS_WORDS.get(i.status, i.status))}</td>"
            f"<td>{_text(_number(i.got))}</td><td>{_text(_number(i.expected))}</td></tr>"
            for i in report.items if not (i.section == "given" and i.status in ("correct", "missing"))]
    return (f"<details><summary>All {len(rows)} answers</summary><table class=\"answers\"><thead><tr>"
            "<th>your word</th><th>quantity</th><th>cell</th><th>verdict</th><th>your value</th><th>expected</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></details>")


def student_view_html(report: FileReport, total: float | None = None) -> str:
    """The result of one upload as an HTML section (`id="result"`, `data-verdict` right, wrong or error)."""
    fixes = to_fix(report)
    kind, heading = _verdict(report, fixes)
    parts = [f"<h2 id=\"verdict\">{_text(heading)}</h2>"]
    if report.error:
        parts.append(f"<p class=\"problem\">{_text(report.error)}</p>"
                     "<p>If you think your file is fine, show it to your instructor.</p>")
    else:
        score, out_of = scaled_score(report, total)
        parts.append(f"<p class=\"score\">Score: <b id=\"score\">{_points(score)} / {_points(out_of)}</b> points"
                     f"<span class=\"file\"> · {_text(report.file)}</span></p>")
        if total is not None and report.max_score > 0 and abs(report.max_score - total) > 1e-9:
            parts.append(f"<p class=\"note\">Your sheet shows answers worth {_points(report.max_score)} points (a "
                         f"factor folded into a later formula costs nothing): {_points(report.score)} of them "
                         f"count as {_points(score)} / {_points(total)}.</p>")
        if fixes:
            more = len(fixes) - SHOWN_FIRST
            parts.append("<h3>What to fix first</h3><ol class=\"fix\">"
                         + "".join(_fix_line(item) for item in fixes[:SHOWN_FIRST]) + "</ol>"
                         + (f"<p class=\"note\">and {more} more in the table below.</p>" if more > 0 else ""))
        forward = sum(1 for i in report.items if i.status == "carried_forward")
        if forward:
            parts.append(f"<p class=\"note\">{forward} answer{'s are' if forward != 1 else ' is'} right given "
                         "your own earlier values: full marks, the mistake is counted once.</p>")
        if report.training:
            parts.append("<h3>Your training run</h3><p class=\"note\">E_total by update: your run (solid) and the "
                         "correct run from your given values and learning rate (dashed).</p><div class=\"curves\">"
                         + "".join(f"<figure class=\"curve\">{loss_chart(t)}<figcaption>{_text(training_line(t))}"
                                   "</figcaption></figure>" for t in report.training) + "</div>")
        if report.items:
            parts.append(_all_answers(report))
    if report.notes:
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{_text(n)}</li>" for n in report.notes) + "</ul>")
    return (f"<section id=\"result\" class=\"{kind}\" data-verdict=\"{kind}\" tabindex=\"-1\" "
            f"aria-labelledby=\"verdict\">" + "".join(parts) + "</section>")
