"""Row-per-iteration tables in a student's workbook: where they are and how they are built.

This is how the assignment is done in a spreadsheet: a header row of labels (t1, i1, w1 …
h1, a_h1 … E_tot, ∂E/∂w1 …), under it one row per update. The first row holds the given
values; in every later row each weight is computed from the row above (`=F49-$E$47*Y49`:
the weight above, the learning rate, the gradient above), and everything else is the same
formula copied down. `find_tables(book, deps)` finds every such table wherever it starts,
whatever the column order, with its parameter columns, the gradient column each is
updated with, its learning-rate cell and its header labels; and every block of typed
numbers that looks like a pasted loss curve (`find_pasted`), which is reported, not graded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sheetprop.cells import Ref
from sheetprop.grading.dependencies import Dependencies
from sheetprop.grading.readbook import Formula, StudentBook

MIN_ROWS = 2  # the first row and one update
HEADER_GAP = 3  # rows between the header and the first row that may hold notes (formula texts)


@dataclass
class Table:
    sheet: str
    first: int  # the row of update 0 (0-based)
    last: int  # the table's last row
    params: dict[int, int]  # column of a parameter → column of the gradient it is updated with
    eta: Ref | None  # the cell the updates take the learning rate from (in the first update)
    eta_column: int | None = None  # when each row has its own learning rate: its column
    header: int | None = None  # the header row
    labels: dict[int, str] = field(default_factory=dict)  # column → header text
    columns: list[int] = field(default_factory=list)  # every column the first rows use

    @property
    def rows(self) -> int:
        return self.last - self.first + 1

    def cell(self, row: int, col: int) -> Ref:
        return Ref(self.sheet, row, col)

    def eta_cell(self, update: int) -> Ref | None:
        """The learning rate of update `update` (0-based)."""
        if self.eta_column is not None:
            return Ref(self.sheet, self.first + update, self.eta_column)
        return self.eta


@dataclass
class Pasted:
    sheet: str
    first: int
    last: int
    columns: dict[int, str]  # column → header

    @property
    def rows(self) -> int:
        return self.last - self.first + 1


def find_tables(book: StudentBook, deps: Dependencies) -> list[Table]:
    """Every row-per-iteration table, in sheet order, top to bottom, left to right."""
    updates: dict[tuple[str, int], dict[int, tuple[Ref, Ref]]] = {}
    for cell, refs in deps.precedents.items():
        found = _update(cell, refs, deps)
        if found is not None:
            updates.setdefault((cell.sheet, cell.col), {})[cell.row] = found
    tables: list[Table] = []
    by_span: dict[tuple[str, int, int], Table] = {}
    firsts: dict[tuple[str, int, int], dict[int, tuple[Ref, Ref]]] = {}
    for (sheet, col), rows in updates.items():
        for start, end in _runs(sorted(rows)):
            key = (sheet, start - 1, end)  # update 0's row is the row above the first computed weight
            if key not in by_span:
                by_span[key] = Table(sheet, start - 1, end, {}, None)
                tables.append(by_span[key])
                firsts[key] = {}
            firsts[key][col] = rows[start]
    for key, table in by_span.items():
        _learning_rate(table, firsts[key])
        _complete(table, book, deps)
    order = {s: i for i, s in enumerate(book.sheets)}
    tables.sort(key=lambda t: (order.get(t.sheet, 0), t.first, min(t.params or [0])))
    return [t for t in tables if t.params]


def _update(cell: Ref, refs: tuple[Ref, ...], deps: Dependencies) -> tuple[Ref, Ref] | None:
    """The two other cells a weight computed from the one above uses (a gradient and the learning
    rate, `=F49-$E$47*Y49`), or None when `cell` is no such weight."""
    above = Ref(cell.sheet, cell.row - 1, cell.col)
    if above not in refs or len(refs) != 3 or deps.functions.get(cell):
        return None
    first, second = (r for r in refs if r != above)
    if not (deps.is_formula(first) or deps.is_formula(second)):
        return None
    terms = deps.terms(cell)  # the weight above, and a step: w − η·g (or w + η·g)
    if terms is None or sorted((len(t.cells), abs(t.coef)) for t in terms) != [(1, 1.0), (2, 1.0)] \
            or not any(t.cells == (above,) and t.coef == 1 for t in terms):
        return None
    return first, second


def _learning_rate(table: Table, firsts: dict[int, tuple[Ref, Ref]]) -> None:
    """In the first update: the learning rate is the cell (or the column, one rate per row) that every
    weight uses; the other cell each uses is its gradient."""
    counts: dict[Ref, int] = {}
    columns: dict[int, int] = {}
    for pair in firsts.values():
        for r in pair:
            counts[r] = counts.get(r, 0) + 1
            if r.row == table.first:
                columns[r.col] = columns.get(r.col, 0) + 1
    shared = max(counts, key=lambda r: counts[r]) if counts else None
    if shared is not None and counts[shared] == len(firsts) and len(firsts) > 1:
        table.eta = shared
    elif columns and max(columns.values()) == len(firsts) and len(firsts) > 1:
        table.eta_column = max(columns, key=lambda c: columns[c])
        table.eta = Ref(table.sheet, table.first, table.eta_column)
    for col, pair in firsts.items():
        grads = [r for r in pair if r != table.eta]
        if len(grads) == 1:
            table.params[col] = grads[0].col
        elif len(firsts) == 1:  # one weight alone (a 1-1 network): the gradient is the formula in the row above
            grad = next((r for r in pair if r.sheet == table.sheet and r.row == table.first), pair[0])
            table.params[col] = grad.col
            table.eta = next(r for r in pair if r != grad)


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Consecutive row numbers as (first, last) runs, each at least MIN_ROWS - 1 long."""
    runs, start = [], None
    for k, row in enumerate(rows):
        if start is None:
            start = row
        if k + 1 == len(rows) or rows[k + 1] != row + 1:
            if row - start + 1 >= MIN_ROWS - 1:
                runs.append((start, row))
            start = None
    return runs


def _complete(table: Table, book: StudentBook, deps: Dependencies) -> None:
    """The table's columns (what its first two rows hold), its header row and labels."""
    sheet = table.sheet
    columns = sorted({c.col for c in book.cells if c.sheet == sheet and c.row in (table.first, table.first + 1)})
    table.columns = columns
    for row in range(table.first - 1, max(-1, table.first - 2 - HEADER_GAP), -1):
        texts = {c.col: v for c, v in book.cells.items() if c.sheet == sheet and c.row == row
                 and isinstance(v, str) and not isinstance(v, Formula) and c.col in columns}
        if len(texts) >= max(3, len(columns) // 3) and not _formula_texts(texts):
            table.header, table.labels = row, {col: text.strip() for col, text in texts.items()}
            break


def _formula_texts(texts: dict[int, str]) -> bool:
    """A row of notes that spell the formulas out as text ("=F39*D39…", "1/2*(t1-a_o1)^2")."""
    return sum(1 for t in texts.values() if t.strip().startswith("=") or "(" in t) > len(texts) // 2


def find_pasted(book: StudentBook, deps: Dependencies, tables: list[Table]) -> list[Pasted]:
    """Blocks of typed numbers under a header, on sheets where no table computes them: a loss
    curve copied in as values (at least five rows, no formula among them and none that a formula
    uses: given values are not a curve)."""
    in_tables = {(t.sheet, r) for t in tables for r in range(t.first, t.last + 1)}
    found = []
    for sheet in book.sheets:
        numbers: dict[int, list[int]] = {}
        for cell, raw in book.cells.items():
            if cell.sheet == sheet and (sheet, cell.row) not in in_tables and isinstance(raw, (int, float)) \
                    and not isinstance(raw, bool):
                numbers.setdefault(cell.col, []).append(cell.row)
        columns: dict[int, tuple[int, int]] = {}
        for col, rows in numbers.items():
            for start, end in _runs(sorted(rows)):
                cells = [Ref(sheet, r, col) for r in range(start, end + 1)]
                steps = {book.cells[b] - book.cells[a] for a, b in zip(cells, cells[1:])}  # type: ignore[operator]
                if steps == {1}:
                    continue  # a column counting the updates, not a curve
                if end - start + 1 >= 5 and not any(deps.is_formula(c) or c in deps.users for c in cells):
                    columns[col] = (start, end)
        groups: dict[tuple[int, int], dict[int, str]] = {}
        for col, span in columns.items():
            header = book.cells.get(Ref(sheet, span[0] - 1, col))
            groups.setdefault(span, {})[col] = str(header).strip() if header is not None else ""
        for (start, end), cols in sorted(groups.items()):
            first = [book.cells.get(Ref(sheet, start, c)) for c in cols]
            second = [book.cells.get(Ref(sheet, start + 1, c)) for c in cols]
            if len(cols) > 1 and len(set(second)) == 1 and len(set(first)) == len(first):
                # every curve starts at the same loss: the row above it is a header of learning rates
                cols = {c: f"{v:g}" for c, v in zip(cols, first)}
                start += 1
            if any(cols.values()):  # a labelled block, not stray numbers
                found.append(Pasted(sheet, start, end, cols))
    return found
