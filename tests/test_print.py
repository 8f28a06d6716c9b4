"""Print-ready workbooks: LibreOffice renders them to PDF and the pages are checked.

Every sheet landscape on the paper asked for, one page wide (every page of a Training sheet
carries its first and its last column header), the header rows repeated on each page, and
each chart whole on one page (its title is drawn on exactly one page).
"""

from __future__ import annotations

import re

import openpyxl
import pytest

from sheetprop.engines.libreoffice import convert
from sheetprop.model.network import with_epochs
from sheetprop.model.spec import load_spec, with_sweep
from sheetprop.writing import layout as L
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice

pypdf = pytest.importorskip("pypdf", reason="pypdf is in the test extras: pip install -e '.[test]'")

# Landscape page sizes in points (1/72 inch).
PAGE = {"a4": (841.89, 595.28), "letter": (792.0, 612.0)}


def pdf_pages(book, tmp_path) -> list[tuple[tuple[float, float], str]]:
    pdf, _ = convert(book, "pdf", tmp_path / "lo", timeout=180)
    reader = pypdf.PdfReader(pdf)
    return [((float(p.mediabox.width), float(p.mediabox.height)), p.extract_text()) for p in reader.pages]


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
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_a_sweep_prints_one_page_wide_with_headers_repeated_and_charts_whole(tmp_path, paper):
    spec = with_sweep(with_epochs(load_spec("mazur"), 400), (0.1, 0.5, 2.0))
    book = tmp_path / "sweep.xlsx"
    write_workbook(spec, book, paper=paper)
    pages = pdf_pages(book, tmp_path)

    width, height = PAGE[paper]
    for size, _ in pages:
        assert size == pytest.approx((width, height), abs=1), (paper, size)

    sheets = [f"Training η={eta:g}" for eta in spec.sweep]
    titles = {sheet: f"Training: 400 updates of {spec.name}, η = {eta:g}" for sheet, eta in zip(sheets, spec.sweep)}
    titles |= {L.NETWORK: spec.name, "Sweep": "Learning-rate sweep", L.ABOUT: "About this workbook"}
    grouped = sheets_of(pages, titles)
    assert set(grouped) == set(titles), grouped.keys()
    for sheet in sheets:
        first, last = headers(book, sheet)[0], headers(book, sheet)[-1]
        assert len(grouped[sheet]) >= 3, "400 updates should take several pages"
        for k, text in enumerate(grouped[sheet]):
            lines = text.split("\n")
            assert first in lines[:3] or any(line.startswith(first + " ") for line in lines[:8]), (sheet, k)
            assert re.search(rf"(^|\s){re.escape(last)}(\s|$)", text), (sheet, k, last)
        # every update is printed once: the last update's row is on the sheet's last page
        assert re.search(r"(^|\n)400 ", grouped[sheet][-1])
        # the chart is whole: its title is drawn on exactly one page of its sheet
        assert sum("Loss during training" in text for text in grouped[sheet]) == 1
    sweep_pages = grouped["Sweep"]
    assert sum("one curve per learning rate" in text for text in sweep_pages) == 1
    assert all(f"η = {eta:g}" in sweep_pages[0] for eta in spec.sweep)  # the legend


@needs_libreoffice
def test_a_wide_training_sheet_still_prints_one_page_wide(tmp_path):
    spec = load_spec("vandermerwe")  # 4 samples, a full batch: a wide Training sheet
    book = tmp_path / "wide.xlsx"
    write_workbook(spec, book, paper="letter")
    pages = pdf_pages(book, tmp_path)
    titles = {L.NETWORK: spec.name, L.TRAINING: "Training:", L.ABOUT: "About this workbook"}
    grouped = sheets_of(pages, titles)
    names = headers(book, L.TRAINING)
    for text in grouped[L.TRAINING]:
        assert re.search(rf"(^|\s){re.escape(names[-1])}(\s|$)", text)
    assert sum("Loss during training" in text for text in grouped[L.TRAINING]) == 1
