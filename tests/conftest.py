import shutil

import pytest

HAS_SOFFICE = shutil.which("soffice") is not None or shutil.which("libreoffice") is not None
needs_libreoffice = pytest.mark.skipif(
    not HAS_SOFFICE,
    reason="LibreOffice (soffice) is not installed: apt-get install -y --no-install-recommends libreoffice-calc-nogui",
)


def slow_workbook(path, n: int = 20_000):
    """A workbook of n chained formulas (A2 = A1 + 1, …): about a minute for the formulas engine."""
    import xlsxwriter

    with xlsxwriter.Workbook(str(path)) as book:
        ws = book.add_worksheet("Network")
        ws.write_number("A1", 0)
        for r in range(1, n):
            ws.write_formula(f"A{r + 1}", f"=A{r}+1")
    return path
