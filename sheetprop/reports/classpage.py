"""One HTML page for a graded class: the class table, a heat map of every answer, the mistakes
the class made, the distribution of scores and each student's loss curve.

`class_page(reports)` returns the page as text. It must open from a USB stick on a machine
without a network, so it is self-contained: inline CSS and inline SVG, no script, font,
image, stylesheet or link to anything. Every text that comes from a student's file (its
name, a label, a sheet name, a diagnosis) is cleaned (`reports.clean`) and HTML-escaped, so
a file named `<script>alert(1)</script>.xlsx` is shown as those characters.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Sequence

from sheetprop.grading.grade import STATUSES, FileReport, Item
from sheetprop.model.graph import SECTIONS
from sheetprop.reports.scores import class_total, nothing_to_grade, percent, points_text, score_of
from sheetprop.reports.text import clean, first_mistake_text, student_names, training_line

MAX_CURVE_POINTS = 200  # a loss curve of 10,000 updates is drawn with this many points

# A symbol beside each colour: the heat map reads in grey print and for colour-blind readers too.
SYMBOLS = {"correct": "✓", "carried_forward": "→", "incorrect": "✗", "missing": "∅", "hardcoded": "#",
           "error": "!"}
MEANINGS = {"correct": "equals the reference",
            "carried_forward": "right given the student's own earlier values (full credit)",
            "incorrect": "wrong; the likely mistake is named", "missing": "not found, or the cell is empty",
            "hardcoded": "a number typed where a formula belongs", "error": "the formula cannot be evaluated"}

CSS = """
body { font: 14px/1.4 system-ui, "DejaVu Sans", sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; }
th, td { padding: 2px 6px; text-align: left; vertical-align: top; }
#class td, #class th, #mistakes td, #mistakes th { border-bottom: 1px solid #e4e4e4; }
#class th { white-space: nowrap; }
#class tr.not-graded td { background: #f6edf8; }
#class tr.all-right td:nth-child(2) { color: #1b5e20; font-weight: bold; }
.scroll { overflow-x: auto; }
#heatmap { font-size: 12px; }
#heatmap th.q { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal;
                font-family: "DejaVu Sans Mono", monospace; padding: 4px 0; }
#heatmap th.section { text-align: center; border-left: 2px solid #fff; background: #f0f0f0; font-weight: normal; }
#heatmap td.cell { width: 18px; min-width: 18px; height: 20px; padding: 0; text-align: center;
                   border: 1px solid #fff; }
#heatmap td.not-graded { background: #e9e2ee; color: #4a148c; font-style: italic; }
#heatmap th.student, #heatmap td.student { position: sticky; left: 0; background: #fff; white-space: nowrap; }
.correct { background: #a5d6a7; } .carried_forward { background: #dcedc8; }
.incorrect { background: #ef5350; color: #fff; } .missing { background: #cfd8dc; }
.hardcoded { background: #ffb74d; } .error { background: #8e44ad; color: #fff; } .blank { background: #fff; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.4em 1.4em; }
.swatch { display: inline-block; width: 18px; text-align: center; border: 1px solid #bbb; margin-right: 0.3em; }
.curves { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; max-width: 320px; }
figcaption { font-size: 12px; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #333; }
.note { color: #555; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
"""


def class_page(reports: Sequence[FileReport], title: str | None = None, total: float | None = None) -> str:
    """The whole page for these reports (in this order), as HTML text; every score out of the class's
    `total` (default: the one the reports agree on, `scores.class_total`)."""
    reports = list(reports)
    total = class_total(reports, total)
    names = student_names(reports)
    heading = _text(title or "sheetprop: class report")
    body = [f"<h1>{heading}</h1>", _summary(reports, total),
            "<h2>Students</h2>", _class_table(reports, names, total),
            "<h2>Every answer</h2>", _heat_map(reports, names),
            "<h2>Mistakes, by how many students made them</h2>", _mistakes(reports, names),
            "<h2>Scores</h2>", _histogram(reports, total),
            "<h2>Loss curves</h2>", _loss_curves(reports, names)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{heading}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


# ---------------------------------------------------------------- text


def _text(value) -> str:
    """Text from anywhere (a student's file included), safe in an element or a quoted attribute."""
    return html.escape(clean(str(value)), quote=True)


def _number(value) -> str:
    """A value as the text report shows it: 9 significant digits, `-` for none."""
    if isinstance(value, float):
        return f"{value:.9g}"
    return "-" if value is None else str(value)


def _percent(report: FileReport, total: float) -> float | None:
    """The score as a percentage of the class's total; None for a file that could not be graded."""
    if report.error:
        return None
    return percent(report, total)


def _summary(reports: list[FileReport], total: float) -> str:
    """One line under the title: how many files, how many all right or not graded, the median score."""
    graded = [r for r in reports if not r.error]
    parts = [f"{len(reports)} file{'s' if len(reports) != 1 else ''}",
             f"{sum(r.all_right for r in graded)} with every answer right"]
    if len(graded) < len(reports):
        parts.append(f"{len(reports) - len(graded)} could not be graded")
    made = sum(bool(r.provenance) for r in reports)
    if made:
        parts.append(f"{made} written by sheetprop, not by hand (see the table)")
    percents = sorted(p for r in graded if (p := _percent(r, total)) is not None)
    if percents:
        middle = len(percents) // 2
        median = percents[middle] if len(percents) % 2 else (percents[middle - 1] + percents[middle]) / 2
        parts.append(f"median score {median:.0f}%")
    return f"<p class=\"note\">{', '.join(parts)}.</p>"


# ---------------------------------------------------------------- the class table


def _class_table(reports: list[FileReport], names: list[str], total: float) -> str:
    """One row per file: student (the full path as its tooltip), score out of the class's total,
    first mistake, file error."""
    rows = []
    for report, name in zip(reports, names):
        kind = "not-graded" if report.error else "all-right" if report.all_right else "some-wrong"
        score = f"{points_text(score_of(report, total))} / {points_text(total or report.max_score)}"
        mistake = "" if report.error else "nothing to grade" if nothing_to_grade(report) else first_mistake_text(report)
        error = first_mistake_text(report) if report.error else ""
        if report.provenance:
            mistake = f"{mistake} " if mistake else ""
            mistake += f"[for the instructor: {report.provenance}]"
        rows.append(f"<tr class=\"{kind}{' sheetprop-made' if report.provenance else ''}\">"
                    f"<td title=\"{_text(report.file)}\">{_text(name)}</td><td>{score}</td>"
                    f"<td>{_text(mistake)}</td><td>{_text(error)}</td></tr>")
    return ("<table id=\"class\">\n<thead><tr><th>student</th><th>score / total</th><th>first mistake</th>"
            "<th>file error</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>")


# ---------------------------------------------------------------- the heat map


def _columns(reports: list[FileReport]) -> list[tuple[str, str]]:
    """Every answer any student was graded on, as (name, section): section by section in the
    order of the worked example, each in the order first seen. Given values are left out: they
    earn nothing, and a slip in one is a named mistake below."""
    seen: dict[str, str] = {}
    for report in reports:
        for item in report.items:
            if item.section != "given":
                seen.setdefault(item.name, item.section)
    order = {section: k for k, section in enumerate(SECTIONS)}
    return sorted(seen.items(), key=lambda column: order.get(column[1], len(order)))


def _heat_map(reports: list[FileReport], names: list[str]) -> str:
    """Students × answers, each cell coloured by status with the details as its tooltip; an
    answer the student does not show is blank."""
    columns = _columns(reports)
    if not columns:
        return "<p class=\"note\">No answers were graded.</p>"
    sections, start = [], 0
    for k in range(1, len(columns) + 1):  # one header cell over each run of the same section
        if k == len(columns) or columns[k][1] != columns[start][1]:
            sections.append(f"<th class=\"section\" colspan=\"{k - start}\">{_text(columns[start][1])}</th>")
            start = k
    head = ("<tr><th class=\"student\"></th>" + "".join(sections) + "</tr>\n<tr><th class=\"student\">student</th>"
            + "".join(f"<th class=\"q\">{_text(name)}</th>" for name, _ in columns) + "</tr>")
    rows = []
    for report, name in zip(reports, names):
        if report.error:
            cells = f"<td class=\"not-graded\" colspan=\"{len(columns)}\">could not be graded</td>"
        else:
            items = {item.name: item for item in report.items}
            cells = "".join(_heat_cell(name, items.get(q)) for q, _ in columns)
        rows.append(f"<tr><td class=\"student\">{_text(name)}</td>{cells}</tr>")
    table = ("<div class=\"scroll\"><table id=\"heatmap\">\n<thead>" + head + "</thead>\n<tbody>\n"
             + "\n".join(rows) + "\n</tbody>\n</table></div>")
    return table + "\n" + _legend(reports)


def _heat_cell(student: str, item: Item | None) -> str:
    """One cell: the status as colour, symbol and `data-status`; cell, got, expected and diagnosis
    as its tooltip, one per line."""
    if item is None:
        return "<td class=\"cell blank\"></td>"
    tip = [f"{student} · {item.name} ({item.cell or 'not found'})", f"status: {item.status}",
           f"got: {_number(item.got)}", f"expected: {_number(item.expected)}"]
    if item.diagnosis:
        tip.append(item.diagnosis)
    tooltip = "&#10;".join(_text(line) for line in tip)
    status = _text(item.status)
    return (f"<td class=\"cell {status}\" data-status=\"{status}\" title=\"{tooltip}\">"
            f"{SYMBOLS.get(item.status, '?')}</td>")


def _legend(reports: list[FileReport]) -> str:
    """Each status's colour, symbol and meaning, with how many answers of the class have it."""
    counts = {s: 0 for s in STATUSES}
    for report in reports:
        for item in report.items:
            if item.section != "given" and item.status in counts:
                counts[item.status] += 1
    entries = [f"<li><span class=\"swatch {s}\">{SYMBOLS[s]}</span><b>{s.replace('_', ' ')}</b> "
               f"({counts[s]}): {MEANINGS[s]}</li>" for s in STATUSES]
    entries.append("<li><span class=\"swatch blank\">&nbsp;</span><b>blank</b>: not shown by this student "
                   "(folded into another formula)</li>")
    return "<ul class=\"legend\">" + "".join(entries) + "</ul>"


# ---------------------------------------------------------------- the mistakes


@dataclass
class Mistake:
    """One named mistake across the class: who made it and in which quantities."""

    id: str
    description: str  # the first diagnosis given for it
    students: list[str] = field(default_factory=list)
    quantities: list[str] = field(default_factory=list)


def ranked_mistakes(reports: Sequence[FileReport], names: Sequence[str]) -> list[Mistake]:
    """Every named mistake (`Item.mistake`), most students first; ties in the order first seen."""
    found: dict[str, Mistake] = {}
    for report, student in zip(reports, names):
        for item in report.items:
            if not item.mistake:
                continue
            mistake = found.setdefault(item.mistake, Mistake(item.mistake, item.diagnosis))
            if student not in mistake.students:
                mistake.students.append(student)
            if item.name not in mistake.quantities:
                mistake.quantities.append(item.name)
    return sorted(found.values(), key=lambda m: -len(m.students))


def _mistakes(reports: list[FileReport], names: list[str]) -> str:
    """The ranked mistakes as a table, and how many wrong answers fit none."""
    ranked = ranked_mistakes(reports, names)
    unnamed = sum(1 for r in reports for i in r.items if i.status == "incorrect" and not i.mistake)
    note = (f"<p class=\"note\">{unnamed} incorrect answer{'s' if unnamed != 1 else ''} fit no known mistake "
            "(see each cell's tooltip above).</p>" if unnamed else "")
    if not ranked:
        return "<p class=\"note\">No named mistake.</p>" + note
    rows = [f"<tr><td>{len(m.students)}</td><td><code>{_text(m.id)}</code></td><td>{_text(m.description)}</td>"
            f"<td>{_text(', '.join(m.quantities))}</td><td>{_text(', '.join(m.students))}</td></tr>"
            for m in ranked]
    return ("<table id=\"mistakes\">\n<thead><tr><th>students</th><th>mistake</th><th>what it is</th>"
            "<th>in</th><th>who</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>" + note)


# ---------------------------------------------------------------- the scores


def _histogram(reports: list[FileReport], total: float) -> str:
    """Students per tenth of the class's total, and full marks in a bar of their own, as an SVG
    bar chart (the bar's tooltip says how many and which scores)."""
    graded = [(r, p) for r in reports if (p := _percent(r, total)) is not None]
    if not graded:
        return "<p class=\"note\">No file was graded.</p>"
    bins = [0] * 11
    for report, p in graded:
        bins[10 if p >= 100 else min(9, int(p // 10))] += 1
    width, height, left, bottom, bar = 500, 200, 20, 30, 40
    scale = (height - bottom - 20) / max(bins)
    parts = []
    for k, n in enumerate(bins):
        x, h = left + k * (bar + 2), n * scale
        label = "100%" if k == 10 else f"{k * 10}% to under {k * 10 + 10}%"
        parts.append(f"<rect x=\"{x}\" y=\"{height - bottom - h:.1f}\" width=\"{bar}\" height=\"{h:.1f}\" "
                     f"fill=\"{'#2e7d32' if k == 10 else '#5c8fd6'}\"><title>{n} student{'s' if n != 1 else ''} "
                     f"scored {label}</title></rect>")
        if n:
            parts.append(f"<text x=\"{x + bar / 2}\" y=\"{height - bottom - h - 4:.1f}\" "
                         f"text-anchor=\"middle\">{n}</text>")
        parts.append(f"<text x=\"{x + bar / 2}\" y=\"{height - bottom + 14}\" text-anchor=\"middle\">{k * 10}</text>")
    right = left + 11 * (bar + 2)
    axis = (f"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{right}\" y2=\"{height - bottom}\" stroke=\"#333\"/>"
            f"<text x=\"{(left + right) / 2}\" y=\"{height - 2}\" text-anchor=\"middle\">score, % of the total "
            "(full marks in green)</text>")
    shown = f"Scores of {len(graded)} graded file{'s' if len(graded) != 1 else ''}"
    return (f"<svg id=\"scores\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" "
            f"role=\"img\"><title>{shown}</title>" + "".join(parts) + axis + "</svg>")


# ---------------------------------------------------------------- the loss curves


def _loss_curves(reports: list[FileReport], names: list[str]) -> str:
    """One figure per row-per-iteration table: the student's loss beside the correct run's."""
    figures = [_loss_figure(name, table) for report, name in zip(reports, names) for table in report.training]
    if not figures:
        return "<p class=\"note\">No workbook has a row-per-iteration table.</p>"
    return ("<p class=\"note\">E_total by update: the student's run (solid) and the correct run from the same "
            "given values and learning rate (dashed).</p>\n<div class=\"curves\">\n" + "\n".join(figures)
            + "\n</div>")


def _loss_figure(student: str, table: dict) -> str:
    """A table's chart (when it has a curve: a pasted one has none) over the text report's line for it."""
    return (f"<figure class=\"curve\">{loss_chart(table)}<figcaption><b>{_text(student)}</b>: "
            f"{_text(training_line(table))}</figcaption></figure>")


def loss_chart(table: dict) -> str:
    """A row-per-iteration table's loss curve beside the correct run's, as inline SVG; "" when the
    table has no curve (a pasted one). The class page and `sheetprop serve`'s student view draw it."""
    own = _points(table.get("loss") or [])
    right = _points(list(enumerate(table.get("correct_loss") or [])))
    return _loss_chart(own, right, table) if len(own) > 1 or len(right) > 1 else ""


def _points(pairs) -> list[tuple[float, float]]:
    """(update, loss) pairs with finite numbers only, at most MAX_CURVE_POINTS of them, evenly spread."""
    points = [(float(x), float(y)) for x, y in pairs if _finite(x) and _finite(y)]
    return downsample(points, MAX_CURVE_POINTS)


def _finite(value) -> bool:
    """A real number (a curve read back from --json may hold "inf" or None)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def downsample(points: list, limit: int) -> list:
    """At most `limit` of `points`, evenly spaced, the first and the last kept."""
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(k * step)] for k in range(limit)]


def _loss_chart(own: list, right: list, table: dict) -> str:
    """An SVG line chart of both curves on the same axes, from 0 (or below) to the larger loss,
    with the first wrong update marked."""
    width, height, top, inner_h = 310, 170, 10, 132
    xs = [x for x, _ in own + right]
    ys = [y for _, y in own + right]
    x_max, y_min = max(max(xs), 1.0), min(0.0, min(ys))
    y_max = max(ys) if max(ys) > y_min else y_min + 1.0
    labels = f"{y_max:.3g}", f"{y_min:.3g}"
    left = max(48, 8 + 7 * max(map(len, labels)))  # room for the longer label (-1.8e+308) at 11px
    inner_w = width - left - 10
    base = top + inner_h
    half = 0.5 if math.isinf(y_max - y_min) else 1.0  # from -1e308 to 1e308 is beyond a float; half of it is not
    span = y_max * half - y_min * half

    def px(x: float) -> str:
        return f"{left + inner_w * x / x_max:.1f}"

    def py(y: float) -> str:
        return f"{top + inner_h * ((y_max * half - y * half) / span):.1f}"

    def line(points: list, style: str) -> str:
        shown = " ".join(f"{px(x)},{py(y)}" for x, y in points)
        return f"<polyline {style} fill=\"none\" points=\"{shown}\"/>" if len(points) > 1 else ""

    colour = "#c62828" if table.get("status") == "incorrect" else "#2e7d32"
    curves = (line(right, "class=\"correct-run\" stroke=\"#555\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"")
              + line(own, f"class=\"student-run\" stroke=\"{colour}\" stroke-width=\"2\""))
    wrong = (table.get("first_wrong") or {}).get("update")
    if isinstance(wrong, int) and 0 < wrong <= x_max:
        curves += (f"<line x1=\"{px(wrong)}\" y1=\"{top}\" x2=\"{px(wrong)}\" y2=\"{base}\" stroke=\"#c62828\" "
                   f"stroke-dasharray=\"2 2\"><title>first wrong at update {wrong}</title></line>")
    frame = (f"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{base}\" stroke=\"#333\"/>"
             f"<line x1=\"{left}\" y1=\"{base}\" x2=\"{left + inner_w}\" y2=\"{base}\" stroke=\"#333\"/>"
             f"<text x=\"{left - 4}\" y=\"{top + 8}\" text-anchor=\"end\">{labels[0]}</text>"
             f"<text x=\"{left - 4}\" y=\"{base}\" text-anchor=\"end\">{labels[1]}</text>"
             f"<text x=\"{left}\" y=\"{base + 14}\">0</text>"
             f"<text x=\"{left + inner_w}\" y=\"{base + 14}\" text-anchor=\"end\">{x_max:g}</text>"
             f"<text x=\"{left + inner_w / 2}\" y=\"{base + 24}\" text-anchor=\"middle\">update</text>")
    label = _text(f"E_total by update, sheet {table.get('sheet', '')}")
    return (f"<svg class=\"loss\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" "
            f"role=\"img\"><title>{label}</title>{frame}{curves}</svg>")
