"""How each sheet prints: readable on paper, landscape, on A4 or Letter.

- The Network sheet prints one page wide (it is narrow: shrinking it only matters for many
  samples), and each section heading starts a new page when the page cannot hold the heading
  with its first rows: no "3. Loss" stranded at the foot of a page.
- A Training sheet prints at PRINT_SCALE (its 11 pt text is 8.8 pt on paper, never the 3.8 pt
  of a sheet squeezed to one page wide): its columns in page-wide groups, each break between
  two column groups (parameters, a sample's forward pass, its backward pass, the batch, the
  gradients) where one fits, with the update number (column A) and the two header rows
  repeated on every page. The first page is wide enough for the chart above the table.
- The About sheet prints its first lines only: the spec's JSON beneath them is for `verify`.

Sizes are in points. A column of width w (characters of the default font) is int(7w + 5)
pixels, 0.75 pt each, in Excel (Calibri), up to SLACK times that in LibreOffice; a row is 15 pt. The page's printable part is the paper less XlsxWriter's
default margins (0.7 in left and right, 0.75 in top and bottom).
"""

from __future__ import annotations

from typing import Sequence

PAPERS = {"a4": 9, "letter": 1}  # XlsxWriter's paper codes
LANDSCAPE = {"a4": (841.89, 595.28), "letter": (792.0, 612.0)}  # width, height in points
MARGINS = (2 * 0.7 * 72, 2 * 0.75 * 72)  # left + right, top + bottom
ROW = 15.0  # points: the default row height
PRINT_SCALE = 80  # percent, for the Training sheets: 11 pt text prints at 8.8 pt
SLACK = 1.35  # a column may print this much wider than in Excel: LibreOffice without Calibri's metric twin
# (Carlito) measures widths in a wider font
FILL = 0.85  # the share of a page's height manual breaks fill (the rest absorbs taller rows)
KEEP = 4  # a heading is kept with at least this many rows: its header row and the first rows


def column_points(width: float) -> float:
    return int(width * 7 + 5) * 0.75


def page_setup(ws, paper: str = "a4") -> None:
    ws.set_landscape()
    ws.set_paper(PAPERS[paper])


def printable(paper: str) -> tuple[float, float]:
    width, height = LANDSCAPE[paper]
    return width - MARGINS[0], height - MARGINS[1]


def section_breaks(rows: int, headings: Sequence[int], paper: str = "a4") -> list[int]:
    """Rows (0-based) before which the Network sheet breaks its pages: a page is filled up to FILL
    of its height, and a section heading that would start fewer than KEEP rows before the page's
    end moves to the next page."""
    per_page = int(printable(paper)[1] * FILL // ROW)
    breaks, start = [], 0
    heads = set(headings)
    for row in range(rows):
        if row - start >= per_page or (row in heads and row > start and row - start + KEEP > per_page):
            breaks.append(row)
            start = row
    return breaks


def column_breaks(widths: Sequence[float], groups: Sequence[int], first: int, paper: str = "a4",
                  scale: int = PRINT_SCALE) -> list[int]:
    """Columns (0-based) before which a Training sheet breaks its pages across: each page holds what
    fits beside the repeated column A at `scale`, breaking where a column group starts when one
    does; no break before column `first` (the chart above the table spans the columns up to it)."""
    room = printable(paper)[0] * 100 / scale - SLACK * column_points(widths[0])
    starts = set(groups)
    breaks: list[int] = []
    used, last_start = 0.0, 1
    for col in range(1, len(widths)):
        w = SLACK * column_points(widths[col])
        if used + w > room and col > 1:
            cut = max((c for c in starts if last_start < c <= col and c >= first), default=col)
            breaks.append(cut)
            last_start = cut
            used = sum(SLACK * column_points(widths[c]) for c in range(cut, col))
        used += w
    return breaks
