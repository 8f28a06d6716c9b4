"""One total for the class: every report gives each student's score out of the assignment's total.

The assignment's total is what a sheet showing every quantity of the worked example earns
(`grading.judge.full_marks`: 39 points for Mazur's network). A student who folds a chain-rule
factor into a later formula shows fewer quantities and loses nothing for it: the score is the
share of the points the student's sheet could earn, times the total, rounded to two decimals.
A file that could not be graded, or in which nothing of the exercise was found, scores 0 of it.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from sheetprop.grading.grade import FileReport


def class_total(reports: Sequence[FileReport], total: float | None = None) -> float:
    """The total every report of this class is scored out of: `total` when the caller knows it (the
    spec's), else the one the graded files agree on (the commonest, when networks read from the
    workbooks differ)."""
    if total:
        return total
    totals = Counter(r.total for r in reports if r.total > 0)
    return totals.most_common(1)[0][0] if totals else 0.0


def nothing_to_grade(report: FileReport) -> bool:
    """Was nothing of the exercise found in a file that could be read (an empty workbook, another
    assignment)?"""
    return report.error is None and not any(item.cell for item in report.items)


def score_of(report: FileReport, total: float | None = None) -> float:
    """The score out of the assignment's total (`total`, else the report's own), to two decimals."""
    total = total or report.total
    if report.error or nothing_to_grade(report) or report.max_score <= 0:
        return 0.0
    if not total:
        return round(report.score, 2)
    return round(report.score / report.max_score * total, 2)


def percent(report: FileReport, total: float | None = None) -> float:
    """The score as a percentage of the total, to two decimals."""
    total = total or report.total
    return round(100 * score_of(report, total) / total, 2) if total else 0.0


def points_text(value: float) -> str:
    """A score as the reports print it: 38, 37.31 (never 37.3100 or 37.30)."""
    return f"{round(value, 2):g}"


def report_json(report: FileReport, total: float | None = None) -> dict:
    """A report as `check --json` prints it: the grader's report, with `score` and `max_score` out of
    the assignment's total (and `percent`); `points` and `points_possible` are what the sheet itself
    earned and could earn."""
    data = report.to_json()
    total = total or report.total
    data.update(score=score_of(report, total), max_score=total, percent=percent(report, total),
                points=report.score, points_possible=report.max_score, nothing_to_grade=nothing_to_grade(report))
    return data
