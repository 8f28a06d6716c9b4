"""`sheetprop serve` end to end in a real browser: the command serving on a free port, headless
Chromium (the Debian package) driven by Playwright, a student uploading a right and a wrong
workbook and reading the verdict; with JavaScript (the form, and a file dropped on it) and
without; the instructor signing in to the class page. Any content-security-policy violation
the browser reports fails the test. Skipped when Chromium or Playwright is missing.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

import browser
from served import Served
from students import Sheet, workbook

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'")
pytestmark = [pytest.mark.chromium,
              pytest.mark.skipif(browser.CHROMIUM is None,
                                 reason="Chromium is not installed (apt-get install -y chromium): the page is not "
                                        "tried in a browser")]

TOKEN = "an-instructors-token-0123456789"
WAIT_MS = 120_000  # a verdict that takes longer is a broken server, not a slow one


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    from sheetprop.model.network import with_epochs
    from sheetprop.model.spec import load_spec
    from sheetprop.writing.workbook import write_workbook

    folder = tmp_path_factory.mktemp("books")
    right = folder / "right.xlsx"
    write_workbook(with_epochs(load_spec("mazur-nobias"), 3), right)
    return {"right": right, "wrong": workbook(folder / "grace.xlsx", Sheet(mistakes={"grad_w_3": "wrong_neuron_derivative"}))}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    served = Served(folder, "--spec", "mazur-nobias", "--jobs", "1", "--keep", str(folder / "kept"),
                    env={"SHEETPROP_ADMIN_TOKEN": TOKEN})
    yield served
    assert served.stop() == 0
    assert "sheetprop serve: stopped" in served.log.read_text()


@pytest.fixture(scope="module")
def chromium():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=browser.CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(chromium):
    """A fresh page that records the browser's errors (a refused script or style among them)."""
    context = chromium.new_context()
    opened = context.new_page()
    opened.errors = []
    opened.on("console", lambda message: message.type == "error" and opened.errors.append(message.text))
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    yield opened
    context.close()


def statuses(page) -> None:
    """Record every text the status line shows, as the student sees it change."""
    page.evaluate("""() => { window.seen = []; const s = document.getElementById("status");
        new MutationObserver(() => window.seen.push(s.textContent)).observe(s, {childList: true, subtree: true}); }""")


def test_a_student_checks_a_right_workbook(server, books, page):
    page.goto(server.url)
    assert page.inner_text(".drop-hint") == "or drop it here"  # shown only with JavaScript
    page.fill("#student", "Amira")
    page.set_input_files("#file", str(books["right"]))
    statuses(page)
    page.click("button[type=submit]")
    page.wait_for_selector("#result[data-verdict]", timeout=WAIT_MS)
    assert page.inner_text("#verdict") == "Every answer is right"
    assert page.inner_text("#score") == "39 / 39"
    seen = page.evaluate("window.seen")
    assert "Uploading right.xlsx…" in seen and "Checking right.xlsx…" in seen
    assert page.is_hidden("#progress") and page.is_enabled("button[type=submit]")
    assert page.url == server.url  # the result came into the page: no page was loaded
    assert page.errors == []


def test_a_student_drops_a_wrong_workbook_on_the_form(server, books, page):
    page.goto(server.url)
    page.fill("#student", "Grace")
    data = base64.b64encode(books["wrong"].read_bytes()).decode()
    dropped = page.evaluate_handle("""(data) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0)), transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "grace.xlsx")); return transfer; }""", data)
    page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    page.wait_for_selector("#result[data-verdict]", timeout=WAIT_MS)
    assert page.inner_text("#verdict") == "1 answer to fix"
    first = page.inner_text("ol.fix li")
    assert first.startswith("∂E/∂w3 (grad_w_3) in Sheet1!") and "wrong" in first
    box = page.locator("#result svg.loss .student-run").bounding_box()
    assert box and box["width"] > 100  # the student's curve is drawn, beside the correct one
    assert page.locator("#result svg.loss .correct-run").count() == 1
    assert page.errors == []


def test_without_javascript_the_form_posts_and_the_page_comes_back(server, books, chromium):
    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url)
        assert page.is_hidden(".drop-hint")
        page.fill("#student", "Ben")
        page.set_input_files("#file", str(books["wrong"]))
        with page.expect_navigation(timeout=WAIT_MS):
            page.click("button[type=submit]")
        assert page.url == server.url + "check"
        assert page.inner_text("#verdict") == "1 answer to fix"
        assert "∂E/∂w3" in page.inner_text("ol.fix")
    finally:
        context.close()


def test_the_instructor_signs_in_and_sees_the_class(server, books, page):
    page.goto(server.url)
    page.fill("#student", "Chloe")
    page.set_input_files("#file", str(books["right"]))
    page.click("button[type=submit]")
    page.wait_for_selector("#result[data-verdict]", timeout=WAIT_MS)
    page.goto(server.url + "admin")
    page.fill("#token", TOKEN)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "class report" in page.inner_text("h1")
    students = page.locator("#class tbody tr td:first-child").all_inner_texts()
    assert "Chloe" in students
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "14px"  # the class page's style applies
    with page.expect_download() as download:
        page.click("text=Download the gradebook (CSV)")
    rows = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("student,") and any(row.startswith("Chloe,") for row in rows)
    assert page.errors == []
