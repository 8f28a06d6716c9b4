"""Draw docs/class-report.png, the page `sheetprop check --html` writes, for the README:
`python docs/make_report_picture.py` (needs headless Chromium: /usr/bin/chromium).

The class is made up, its workbooks built the way real students build the assignment
(tests/students.py): some right in different layouts and vocabularies, some with the
mistakes real students make, one file that is not a workbook at all. It is graded as
`sheetprop check --spec mazur-nobias --html` grades it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's sheetprop, and the tests' builders

from browser import screenshot  # noqa: E402
from students import GROUPED, Sheet, workbook  # noqa: E402

from sheetprop.grading.batch import grade_files  # noqa: E402
from sheetprop.model.spec import load_spec  # noqa: E402
from sheetprop.reports.classpage import class_page  # noqa: E402

OUT = Path(__file__).with_name("class-report.png")
WIDTH, HEIGHT = 1400, 2000

CLASS = {  # student → the sheet they hand in (None: a file that is not a workbook)
    "amira": Sheet(),
    "ben": Sheet(columns=list(GROUPED), vocabulary="upper"),
    "chloe": Sheet(local=True),
    "dmitri": Sheet(mistakes={"grad_w_5": "missing_brackets"}),
    "elena": Sheet(vocabulary="out", top=8, left=2),
    "farid": Sheet(mistakes={"grad_w_5": "missing_brackets"}, vocabulary="upper"),
    "grace": Sheet(mistakes={"grad_w_3": "wrong_neuron_derivative"}),
    "hiro": Sheet(mistakes={"grad_w_1": "weights_swapped"}, constants=True),
    "ines": Sheet(mistakes={"grad_w_6": "net_instead_of_out"}),
    "jonas": None,
    "kai": Sheet(block=True, copies=False),
}


def hand_ins(folder: Path) -> list[Path]:
    """Every student's file in `folder`."""
    paths = []
    for student, sheet in CLASS.items():
        path = folder / f"{student}.xlsx"
        if sheet is None:
            path.write_text("student,loss\njonas,0.298\n", encoding="utf-8")  # a CSV export, renamed
        else:
            workbook(path, sheet)
        paths.append(path)
    return paths


def main() -> None:
    spec = load_spec("mazur-nobias")
    with tempfile.TemporaryDirectory(prefix="sheetprop-picture-") as folder:
        reports = grade_files(hand_ins(Path(folder)), spec)
        page = Path(folder) / "class.html"
        page.write_text(class_page(reports, title=f"{spec.name}: class report"), encoding="utf-8")
        screenshot(page, OUT, WIDTH, HEIGHT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
