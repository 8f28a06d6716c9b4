"""Draw docs/serve.png, the page of `sheetprop serve` after a student's upload, for the README:
`python docs/make_serve_picture.py` (needs Playwright and headless Chromium: /usr/bin/chromium).

The server runs as an instructor runs it (`sheetprop serve --spec mazur-nobias`); the student's
workbook is built the way real students build the assignment (tests/students.py), with a mistake
real students make: missing brackets in ∂E/∂w5, so that the run drifts from the correct one.
Chromium uploads it through the page's form, with JavaScript, and the page is photographed once
the verdict is in.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's sheetprop, and the tests' builders

from browser import CHROMIUM  # noqa: E402
from served import Served  # noqa: E402
from students import Sheet, workbook  # noqa: E402

OUT = Path(__file__).with_name("serve.png")
WIDTH, HEIGHT = 1000, 1250


def main() -> None:
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise SystemExit("Chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="sheetprop-picture-") as folder:
        student = workbook(Path(folder) / "dmitri-hw3.xlsx", Sheet(mistakes={"grad_w_5": "missing_brackets"}))
        served = Served(Path(folder), "--spec", "mazur-nobias")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
                page.goto(served.url)
                page.set_input_files("#file", str(student))
                page.click("button[type=submit]")
                page.wait_for_selector("#result[data-verdict]", timeout=120_000)
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            served.stop()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
