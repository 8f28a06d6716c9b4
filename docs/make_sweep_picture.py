"""Draw docs/sweep.png, the Sweep sheet's chart as LibreOffice renders it: `python docs/make_sweep_picture.py`.

The homework as courses set it: Mazur's network without biases, 50 updates at each of
η = 0.1, 0.2, 0.5, 0.8, 1 and 2. LibreOffice recalculates the workbook and saves it as
HTML, drawing each chart as a PNG; the widest is the Sweep sheet's.
"""

import shutil
import struct
import tempfile
from pathlib import Path

from sheetprop.engines.libreoffice import convert
from sheetprop.model.network import with_epochs
from sheetprop.model.spec import load_spec, with_sweep
from sheetprop.writing.workbook import write_workbook

OUT = Path(__file__).with_name("sweep.png")
ETAS = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)


def png_width(path: Path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "homework.xlsx"
        write_workbook(with_sweep(with_epochs(load_spec("mazur-nobias"), 50), ETAS), book)
        page, _ = convert(book, "html", Path(tmp) / "lo", timeout=300)
        pictures = sorted(page.parent.glob("*.png"), key=png_width)
        shutil.copyfile(pictures[-1], OUT)
    print(f"wrote {OUT} ({png_width(OUT)} px wide)")
