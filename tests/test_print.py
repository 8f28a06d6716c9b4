"""Print-ready workbooks: LibreOffice renders them to PDF and the pages are checked.

Every sheet landscape on the paper asked for. A Training sheet prints readably: the height of
its text on paper (measured in the PDF) is at least 8 pt, its columns in page-wide groups with
the update number and the header rows repeated on every page. The Network sheet keeps each
section heading with its rows; the About sheet prints on one page; each chart is whole on one
page (its title is drawn on exactly one page).
"""

from __future__ import annotations

import math
import re

import openpyxl
import pytest

from sheetprop.engines.libreoffice import convert
from sheetprop.model import graph as G
from sheetprop.model.network import with_epochs
from sheetprop.model.spec import load_spec, with_sweep
from sheetprop.writing import layout as L
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice

pypdf = pytest.importorskip("pypdf", reason="pypdf is in the test extras: pip install -e '.[test]'")

# Landscape page sizes in points (1/72 inch).
PAGE = {"a4": (841.89, 595.28), "letter": (792.0, 612.0)}


MIN_TEXT = 8.0  # points: the smallest text a printed sheet may have
UPDATES = 80  # a sweep's updates: several pages down for each group of columns
UPDATE = re.compile(r"(^|\n)update(\s|$)")  # a Training sheet's first header, on a line of the header row


def pdf_pages(book, tmp_path) -> list[tuple[tuple[float, float], str]]:
    return [(size, text) for size, text, _ in pdf_pages_with_heights(book, tmp_path)]


def pdf_pages_with_heights(book, tmp_path) -> list[tuple[tuple[float, float], str, list[float]]]:
    """Each page's size, text, and the height on paper of each piece of text drawn on it: the font
    size times the vertical scale of the text matrix and the transformation matrix together."""
    pdf, _ = convert(book, "pdf", tmp_path / "lo", timeout=180)
    reader = pypdf.PdfReader(pdf)
    pages = []
    for page in reader.pages:
        heights: list[float] = []

        def visit(text, cm, tm, font, size, heights=heights):
            if text.strip():
                c, d = tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3]
                heights.append(size * math.hypot(c, d))

        text = page.extract_text(visitor_text=visit)
        pages.append(((float(page.mediabox.width), float(page.mediabox.height)), text, heights))
    return pages


def sheets_of(pages, titles: dict[str, str]) -> dict[str, list[str]]:
    """Group the pages by sheet: a sheet's pages run from the one carrying its title to the next title."""
    grouped: dict[str, list[str]] = {}
    current = None
    for _, text in pages:
        first_line = text.lstrip().split("\n", 1)[0]
        for sheet, title in titles.items():
            if first_line.startswith(title):
                current = sheet
        grouped.setdefault(current, []).append(text)
    return grouped


def headers(book, sheet: str) -> list[str]:
    wb = openpyxl.load_workbook(book, read_only=True)
    try:
        row = next(wb[sheet].iter_rows(min_row=L.TRAIN_HEADER_ROW + 1, max_row=L.TRAIN_HEADER_ROW + 1,
                                        values_only=True))
    finally:
        wb.close()
    return [h for h in row if h]


@needs_libreoffice
@pytest.mark.parametrize("paper", ["a4", pytest.param("letter", marks=pytest.mark.slow)])
def test_a_sweep_prints_readably_with_headers_repeated_and_charts_whole(tmp_path, paper):
    spec = with_sweep(with_epochs(load_spec("mazur"), UPDATES), (0.1, 0.5, 2.0))
    book = tmp_path / "sweep.xlsx"
    write_workbook(spec, book, paper=paper)
    measured = pdf_pages_with_heights(book, tmp_path)
    pages = [(size, text) for size, text, _ in measured]

    width, height = PAGE[paper]
    for size, _ in pages:
        assert size == pytest.approx((width, height), abs=1), (paper, size)

    sheets = [f"Training η={eta:g}" for eta in spec.sweep]
    titles = {sheet: f"Training: {UPDATES} updates of {spec.name}, η = {eta:g}" for sheet, eta in zip(sheets, spec.sweep)}
    titles |= {L.NETWORK: spec.name, "Sweep": "Learning-rate sweep", L.ABOUT: "About this workbook"}
    grouped = sheets_of(pages, titles)
    assert set(grouped) == set(titles), grouped.keys()
    heights = {text: h for _, text, h in measured}
    for sheet in sheets:
        names = headers(book, sheet)
        assert len(grouped[sheet]) >= 6, f"{UPDATES} updates in several column groups take many pages"
        for k, text in enumerate(grouped[sheet]):
            # the update number's header on every page, with the header row of its column group
            assert UPDATE.search(text), (sheet, k)
            assert min(heights[text]) >= MIN_TEXT, (sheet, k, min(heights[text]))
        # every column is printed: each header is on some page, the last one on the pages of the last group
        every = "\n".join(grouped[sheet])
        assert all(re.search(rf"(^|\s){re.escape(h)}(\s|$)", every) for h in names), sheet
        # every update is printed: the last update's row is on the sheet's last page
        assert re.search(rf"(^|\n){UPDATES}(\s|$)", grouped[sheet][-1])
        # the chart is whole: its title is drawn on exactly one page of its sheet
        assert sum("Loss during training" in text for text in grouped[sheet]) == 1
    sweep_pages = grouped["Sweep"]
    assert sum("one curve per learning rate" in text for text in sweep_pages) == 1
    assert all(f"η = {eta:g}" in sweep_pages[0] for eta in spec.sweep)  # the legend
    # the About sheet prints its words on one page; the spec's JSON is not printed
    assert len(grouped[L.ABOUT]) == 1 and '"layers"' not in grouped[L.ABOUT][0]
    assert_headings_kept_with_their_rows(grouped[L.NETWORK])


def assert_headings_kept_with_their_rows(pages: list[str]) -> None:
    """No section heading is among the last lines of a page: its header row and first rows follow it."""
    headings = [title for title in L.SECTION_TITLES.values()] + ["1. Given values", "7. Checks"]
    seen = set()
    for k, text in enumerate(pages):
        lines = [line for line in text.split("\n") if line.strip()]
        for at, line in enumerate(lines):
            heading = next((h for h in headings if line.startswith(h)), None)
            if heading:
                seen.add(heading)
                assert len(lines) - at > 3, (k, heading, lines[at:])
    assert len(seen) >= 6, seen


@needs_libreoffice
def test_a_wide_training_sheet_prints_readably(tmp_path):
    spec = load_spec("vandermerwe")  # 4 samples, a full batch: a wide Training sheet
    book = tmp_path / "wide.xlsx"
    write_workbook(spec, book, paper="letter")
    measured = pdf_pages_with_heights(book, tmp_path)
    pages = [(size, text) for size, text, _ in measured]
    titles = {L.NETWORK: spec.name, L.TRAINING: "Training:", L.ABOUT: "About this workbook"}
    grouped = sheets_of(pages, titles)
    names = headers(book, L.TRAINING)
    assert len(grouped[L.TRAINING]) >= 2, "a wide sheet prints in several column groups"
    heights = {text: h for _, text, h in measured}
    for text in grouped[L.TRAINING]:
        assert UPDATE.search(text)
        assert min(heights[text]) >= MIN_TEXT
    every = "\n".join(grouped[L.TRAINING])
    assert all(re.search(rf"(^|\s){re.escape(h)}(\s|$)", every) for h in names)
    assert sum("Loss during training" in text for text in grouped[L.TRAINING]) == 1
    assert_headings_kept_with_their_rows(grouped[L.NETWORK])


@needs_libreoffice
def test_a_handout_prints_its_blank_training_sheets_readably(tmp_path):
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 50), (0.1, 2.0))
    book = tmp_path / "handout.xlsx"
    write_workbook(spec, book, exercise=G.SECTIONS)
    measured = pdf_pages_with_heights(book, tmp_path)
    training = [(text, h) for _, text, h in measured if UPDATE.search(text)]
    assert training, "the Training sheets print"
    assert all(min(h) >= MIN_TEXT for _, h in training)
