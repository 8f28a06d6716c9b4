"""The student's own terms for each quantity, for the student's view of a report.

For each item: the word the student wrote for it (a header or a label), the formula as written,
what the sheet shows when it is not the value judged (`#NAME?`), and what the cell should
compute, in the student's words and as a formula of the student's cells.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from sheetprop.cells import Ref
from sheetprop.engines import Results
from sheetprop.grading.readbook import Formula, StudentBook
from sheetprop.grading.tables import Table
from sheetprop.model import reference as R

if TYPE_CHECKING:
    from sheetprop.grading.grade import FileReport, GradeOptions


def student_terms(report: FileReport, book: StudentBook, sol: R.Solution, found: Mapping, shown: Results,
                  table: Table | None, options: GradeOptions) -> None:
    """Fill in what the student's view of the report needs, in the student's own terms: each cell's
    word (its header or label), its formula, what the sheet shows when it was judged with correct
    values put in place of errors, what it should compute in the student's words and cells; the
    assignment's total."""
    from sheetprop.engines import CellError
    from sheetprop.grading.judge import full_marks

    report.total = round(full_marks(sol, options.points), 6)
    cells = {name: loc.cell for name, loc in found.items()}
    report.words = {name: _word(book, name, loc, table) for name, loc in found.items()}
    errors = {i.name for i in report.items if i.status == "error"}
    for item in report.items:
        cell = cells.get(item.name)
        if cell is None:
            continue
        item.word = report.words.get(item.name)
        raw = book.cells.get(cell)
        if isinstance(raw, Formula):
            item.formula = str(raw)
            before = shown.get(cell.key)
            if isinstance(before, CellError) and item.status != "error":
                item.shows = str(before)
                item.substituted = [n for n in errors if n in _upstream(sol, item.name)]
        q = sol.graph[item.name]
        if not q.given:
            item.should = _rendered(sol, q, lambda n: report.words.get(n) or sol.graph[n].base, cells)
            here = cell.sheet
            item.should_cells = "=" + _rendered(sol, q, lambda n: cells[n].a1 if cells[n].sheet == here
                                                else str(cells[n]), cells)


def _upstream(sol: R.Solution, name: str) -> set[str]:
    todo, seen = list(sol.graph[name].inputs), set()
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo.extend(sol.graph[x].inputs)
    return seen


def _rendered(sol: R.Solution, q, term, cells: Mapping) -> str:
    """q's formula with each input the student shows written as `term(name)`, the others (factors
    folded into it) written out, bracketed where a product needs it."""
    parts = []
    for x in q.inputs:
        xq = sol.graph[x]
        if x in cells or xq.given or xq.excel is None:
            parts.append(term(x) if x in cells else xq.base)
        else:
            text = _rendered(sol, xq, term, cells)
            parts.append(f"({text})" if q.wraps and _sum(text) else text)
    return q.excel(parts)


def _sum(text: str) -> bool:
    """Does a formula have a + or − outside brackets (so a product must bracket it)?"""
    depth = 0
    for k, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch in "+-" and k > 0 and text[k - 1] not in "*/^(E":
            return True
    return False


def _word(book: StudentBook, name: str, loc, table: Table | None) -> str:
    """The student's own word for a cell: its defined name, its label, the header over its column in
    a table, else the nearest text to its left (before any other value) or above; else the cell."""
    import re

    cell = loc.cell
    if loc.how == "name":
        return name
    label = re.search(r"label '(.*)' at ", loc.how)
    text = label[1] if label else None
    if text is None and table is not None and cell.sheet == table.sheet and table.first <= cell.row <= table.last:
        text = table.labels.get(cell.col)
    for line in ([(0, -k) for k in range(1, 7)], [(-k, 0) for k in range(1, 4)]):
        for dr, dc in line:
            if text is not None:
                break
            near = book.cells.get(Ref(cell.sheet, cell.row + dr, cell.col + dc))
            if isinstance(near, str) and not isinstance(near, Formula) and near.strip():
                text = near
            elif near is not None:
                break  # a value between the cell and any text: that text is another cell's
    text = re.sub(r"\s+", " ", text or "").strip().rstrip("=:").strip()
    return text if 0 < len(text) <= 40 else str(cell)
