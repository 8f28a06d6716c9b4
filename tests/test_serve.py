"""`sheetprop serve` over plain HTTP (Starlette's test client): what a student's upload gets back, the
limits, the headers, the instructor's page and the kept uploads. The page in a real browser is in
tests/test_serve_browser.py.

Each test's server grades with a real broker process and real children, as `serve` does; the
workbooks are built here: the spec's own (right) and a student's layout with a slip
(tests/students.py).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install -e '.[test]'")
testclient = pytest.importorskip("starlette.testclient", reason="Starlette's test client needs httpx2: "
                                                                "pip install -e '.[test]'")
TestClient = testclient.TestClient

from sheetprop.cli import main  # noqa: E402
from sheetprop.grading.grade import FileReport, GradeOptions  # noqa: E402
from sheetprop.grading.judge import full_marks  # noqa: E402
from sheetprop.model.network import with_epochs  # noqa: E402
from sheetprop.model.reference import solve  # noqa: E402
from sheetprop.model.spec import load_spec  # noqa: E402
from sheetprop.serve import admin as A  # noqa: E402
from sheetprop.serve.app import BUSY, Settings, build_app  # noqa: E402
from sheetprop.serve.grader import Grader  # noqa: E402
from sheetprop.serve.keep import Keeper  # noqa: E402
from sheetprop.serve.upload import safe_name  # noqa: E402
from sheetprop.writing.workbook import write_workbook  # noqa: E402

from students import Sheet, workbook  # noqa: E402

SPEC = load_spec("mazur-nobias")
TOTAL = full_marks(solve(SPEC), {})
TOKEN = "a-token-long-enough-0123"
MAX_UPLOAD = 256 * 1024
OPTIONS = GradeOptions(timeout=60, max_memory=2 * 2**30)


@pytest.fixture(scope="module")
def grader():
    started = Grader(SPEC, OPTIONS, jobs=1, queue=1)
    assert started.wait_ready(120)
    yield started
    started.close()


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("books")
    right = folder / "right.xlsx"
    write_workbook(with_epochs(SPEC, 3), right)
    wrong = workbook(folder / "dmitri.xlsx", Sheet(mistakes={"grad_w_5": "missing_brackets"}))
    text = folder / "notes.xlsx"
    text.write_text("student,loss\ndmitri,0.298\n", encoding="utf-8")  # a CSV export, renamed
    return {"right": right, "wrong": wrong, "text": text}


def client_for(grader: Grader, tmp_path: Path, keep: bool = False, token: str | None = None) -> tuple[TestClient, Settings]:
    uploads = tmp_path / "uploads"
    uploads.mkdir(mode=0o700)
    settings = Settings(assignment=SPEC.name, total=TOTAL, max_upload=MAX_UPLOAD, uploads=uploads,
                        keep=tmp_path / "kept" if keep else None, admin_token=token)
    return TestClient(build_app(settings, grader)), settings


def upload(client: TestClient, path: Path, student: str | None = None, name: str | None = None):
    data = {"student": student} if student is not None else {}
    with open(path, "rb") as fh:
        return client.post("/check", files={"workbook": (name or path.name, fh, "application/octet-stream")},
                           data=data)


def text(fragment: str) -> str:
    """HTML as text: tags dropped, entities resolved."""
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def result(page: str) -> str:
    """The result section of a page, as text."""
    found = re.search(r"<section id=\"result\".*?</section>", page, re.S)
    assert found, page[:500]
    return text(found[0])


def verdict(page: str) -> str:
    return html.unescape(re.search(r"<h2 id=\"verdict\">(.*?)</h2>", page)[1])


# ---------------------------------------------------------------- what a student gets back


def test_a_right_workbook_gets_every_point_of_the_assignment(grader, books, tmp_path):
    client, settings = client_for(grader, tmp_path)
    answer = upload(client, books["right"])
    assert answer.status_code == 200
    assert verdict(answer.text) == "Every answer is right"
    assert re.search(r"<b id=\"score\">([\d.]+) / ([\d.]+)</b>", answer.text).groups() == (f"{TOTAL:g}", f"{TOTAL:g}")
    assert "What to fix first" not in answer.text
    assert list(settings.uploads.iterdir()) == []  # the upload is deleted once graded


def test_a_wrong_workbook_says_what_to_fix_in_the_students_words(grader, books, tmp_path):
    client, _ = client_for(grader, tmp_path)
    answer = upload(client, books["wrong"])
    assert answer.status_code == 200
    assert verdict(answer.text) == "1 answer to fix"
    first = text(re.search(r"<ol class=\"fix\">.*?</ol>", answer.text, re.S)[0])
    sheet = Sheet(mistakes={"grad_w_5": "missing_brackets"})
    workbook(tmp_path / "again.xlsx", sheet)  # where the builder put each quantity
    assert "∂E/∂w5" in first and "(grad_w_5)" in first and sheet.cell("grad_w_5") in first
    assert "missing brackets" in first
    score = float(re.search(r"<b id=\"score\">([\d.]+) / ", answer.text)[1])
    assert 0 < score < TOTAL
    # the student's loss curve beside the correct one, with the text report's line for the table
    assert answer.text.count("class=\"student-run\"") == 1 and answer.text.count("class=\"correct-run\"") == 1
    assert "first wrong at update 0" in result(answer.text)


def test_a_file_that_is_no_workbook_gets_the_sentence_of_check(grader, books, tmp_path):
    client, settings = client_for(grader, tmp_path)
    answer = upload(client, books["text"])
    assert answer.status_code == 200
    assert verdict(answer.text) == "Your file could not be graded"
    printed = CliRunner().invoke(main, ["check", str(books["text"]), "--spec", "mazur-nobias"])
    assert printed.exit_code == 2
    sentence = printed.output.splitlines()[0].split(": could not be graded: ", 1)[1]
    assert f"notes.xlsx: {sentence}" in result(answer.text)
    assert str(books["text"].parent) not in answer.text and str(settings.uploads) not in answer.text
    assert "/tmp" not in answer.text


def test_no_path_of_the_server_in_any_answer(grader, tmp_path):
    client, settings = client_for(grader, tmp_path)
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(b"PK\x03\x04" + b"\0" * 100)  # cut short: the reader names the file
    for name in ("bomb.xlsx", "../../etc/passwd.xlsx", "C:\\Users\\bob\\hw.xlsx"):
        answer = upload(client, bomb, name=name)
        assert answer.status_code == 200, name
        assert str(settings.uploads) not in answer.text and str(tmp_path) not in answer.text
        assert verdict(answer.text) == "Your file could not be graded"
    assert "hw.xlsx:" in result(answer.text) and "bob" not in result(answer.text)


def test_no_temporary_path_survives_in_a_report(tmp_path):
    import tempfile

    from sheetprop.serve.upload import Upload

    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=tmp_path))
    upload = Upload(folder / "my_hw.xlsx", "my hw.xlsx", "")
    scratch = Path(tempfile.gettempdir()) / "sheetprop-serve-grading-x1" / "sheetprop-abc" / "copy.xlsx"
    assert upload.shown(f"{folder / 'my_hw.xlsx'}: cut short; the engine's {scratch}: broken") == \
        "my hw.xlsx: cut short; the engine's copy.xlsx: broken"


# ---------------------------------------------------------------- limits


def test_an_upload_larger_than_the_limit_is_refused_before_it_is_read(grader, tmp_path):
    client, settings = client_for(grader, tmp_path)
    big = tmp_path / "big.xlsx"
    big.write_bytes(b"\0" * (MAX_UPLOAD + 1))
    answer = upload(client, big)
    assert answer.status_code == 413
    assert verdict(answer.text) == "Not checked" and "larger than 256 KiB" in result(answer.text)
    assert list(settings.uploads.iterdir()) == []


def test_an_upload_that_does_not_say_its_size_is_cut_off_at_the_limit(grader, tmp_path):
    client, settings = client_for(grader, tmp_path)
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"workbook\"; filename=\"big.xlsx\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()

    def body():  # no Content-Length: the parts arrive as they come
        yield head
        for _ in range(64):
            yield b"\0" * 16384
        yield f"\r\n--{boundary}--\r\n".encode()

    answer = client.post("/check", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 413 and "larger than 256 KiB" in result(answer.text)
    assert list(settings.uploads.iterdir()) == []


def test_a_full_queue_answers_busy_and_try_again_in_a_minute(grader, books, tmp_path):
    client, _ = client_for(grader, tmp_path)
    taken = [grader.admit() for _ in range(grader.capacity)]  # every place taken (jobs + queue)
    try:
        assert all(taken) and not grader.admit()
        answer = upload(client, books["right"])
        assert answer.status_code == 503
        assert 30 <= int(answer.headers["Retry-After"]) <= 90
        assert BUSY in result(answer.text) and "try again in a minute" in BUSY
    finally:
        for _ in taken:
            grader.release()
    assert upload(client, books["right"]).status_code == 200


def test_no_file_or_a_garbled_form_is_a_sentence_not_a_500(grader, tmp_path):
    client, _ = client_for(grader, tmp_path)
    empty = client.post("/check", files={"workbook": ("", b"", "application/octet-stream")})
    assert empty.status_code == 400 and "Choose your workbook" in result(empty.text)
    garbled = client.post("/check", content=b"--x\r\nnonsense", headers={"Content-Type": "multipart/form-data"})
    assert garbled.status_code == 400 and "incomplete or garbled" in result(garbled.text)
    plain = client.post("/check", content=b"hello", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 400 and "with the form on this page" in result(plain.text)


def test_a_stopped_grader_is_a_503_not_a_500(books, tmp_path):
    stopped = Grader(SPEC, OPTIONS, jobs=1, queue=0)
    stopped.close()
    client, _ = client_for(stopped, tmp_path)
    answer = upload(client, books["right"])
    assert answer.status_code == 503 and "try again in a minute" in result(answer.text)


def test_a_grader_that_dies_unasked_says_so(books):
    import threading

    lost = threading.Event()
    dying = Grader(SPEC, OPTIONS, jobs=1, queue=0)
    dying.on_lost = lost.set
    assert dying.wait_ready(120)
    dying._broker.stop()  # as the out-of-memory killer would
    assert lost.wait(60) and dying.lost
    dying.close()
    closed = Grader(SPEC, OPTIONS, jobs=1, queue=0)
    closed.on_lost = lost.clear
    closed.close()
    assert lost.is_set() and not closed.lost  # stopped when asked: nothing is lost


def test_a_hostile_sheet_name_is_shown_as_text(grader, tmp_path):
    client, _ = client_for(grader, tmp_path)
    hostile = "<img src=x onerror=alert(1)>"
    path = workbook(tmp_path / "h.xlsx", Sheet(title=hostile, mistakes={"grad_w_5": "missing_brackets"}))
    answer = upload(client, path)
    assert verdict(answer.text) == "1 answer to fix"
    assert "<img" not in answer.text and "&lt;img src=x onerror=alert(1)&gt;" in answer.text


# ---------------------------------------------------------------- the page and its headers


def test_the_form_works_without_javascript(grader, tmp_path):
    client, _ = client_for(grader, tmp_path)
    page = client.get("/").text
    form = re.search(r"<form id=\"upload\"[^>]*>", page)[0]
    assert 'method="post"' in form and 'action="check"' in form and 'enctype="multipart/form-data"' in form
    assert re.search(r"<input type=\"file\" id=\"file\" name=\"workbook\" required", page)
    assert "<button type=\"submit\">" in page
    assert 'name="student"' not in page  # nothing is kept: no name is asked


def test_every_answer_carries_the_security_headers(grader, books, tmp_path):
    client, _ = client_for(grader, tmp_path, keep=True, token=TOKEN)
    answers = [client.get("/"), upload(client, books["wrong"], student="ann"), client.get("/nothing-here"),
               client.put("/check"), client.get("/admin"), client.get("/admin/gradebook.csv")]
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert [a.status_code for a in answers] == [200, 200, 404, 405, 200, 401]


def test_the_policy_allows_exactly_the_pages_own_script_and_style(grader, tmp_path):
    client, _ = client_for(grader, tmp_path)
    answer = client.get("/")
    csp = answer.headers["Content-Security-Policy"]

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    for tag in ("script", "style"):
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", answer.text, re.S)
        assert len(blocks) == 1 and digest(blocks[0]) in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert not re.search(r"\son\w+=|\sstyle=|src=|href=\"http", answer.text)  # no handler, style attribute, fetch


def test_get_changes_nothing(grader, tmp_path):
    client, settings = client_for(grader, tmp_path, keep=True, token=TOKEN)
    answer = client.get("/check", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "."
    assert client.get("/admin").status_code == 200 and "sheetprop_admin" not in client.cookies
    assert sorted(settings.keep.iterdir()) == [] and list(settings.uploads.iterdir()) == []


# ---------------------------------------------------------------- kept uploads and the instructor's page


def test_kept_uploads_carry_the_time_and_the_students_name(grader, books, tmp_path):
    client, settings = client_for(grader, tmp_path, keep=True)
    page = client.get("/").text
    assert 'name="student"' in page and "kept for your instructor" in page
    missing = upload(client, books["wrong"])
    assert missing.status_code == 400 and "name or student id" in result(missing.text)
    assert upload(client, books["wrong"], student="Ann Lee / 42").status_code == 200
    kept = sorted(p.name for p in settings.keep.iterdir())
    assert len(kept) == 2 and re.fullmatch(r"\d{8}T\d{6}Z_Ann_Lee_42\.xlsx", kept[0]) and kept[1] == kept[0] + ".json"
    assert (settings.keep / kept[0]).read_bytes() == books["wrong"].read_bytes()
    assert list(settings.uploads.iterdir()) == []


def test_the_keeper_never_overwrites_and_keeps_files_private(books, tmp_path):
    keeper = Keeper(tmp_path / "kept")
    when = datetime(2025, 3, 14, 10, 15, tzinfo=timezone.utc)
    report = FileReport(file="dmitri.xlsx", score=3, max_score=4)
    names = [keeper.keep(books["wrong"], student, "dmitri.xlsx", report, when).file
             for student in ("../../etc/passwd", "etc passwd", "Ann")]
    assert names == ["20250314T101500Z_etc_passwd.xlsx", "20250314T101500Z_etc_passwd-2.xlsx",
                     "20250314T101500Z_Ann.xlsx"]
    assert stat.S_IMODE((tmp_path / "kept").stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "kept").iterdir()} == {0o600}
    assert sorted(k.student for k in keeper.latest()) == ["Ann", "etc_passwd"]
    assert keeper.latest()[1].file == "20250314T101500Z_etc_passwd-2.xlsx"
    assert keeper.latest()[0].report.score == 3


@pytest.mark.parametrize("text,shown", [("Ann Lee", "Ann_Lee"), ("../x", "x"), (".hidden", "hidden"),
                                        ("Zoë Ørsted", "Zoë_Ørsted"), ("<script>", "script"), ("", "anonymous"),
                                        ("ﬁle", "file")])
def test_names_are_safe_for_a_file(text, shown):
    assert safe_name(text, "anonymous") == shown


def test_the_instructors_page_opens_with_the_token_only(grader, books, tmp_path, monkeypatch):
    monkeypatch.setattr(A, "WRONG_TOKEN_DELAY", 0)
    client, _ = client_for(grader, tmp_path, keep=True, token=TOKEN)
    assert upload(client, books["wrong"], student="ann").status_code == 200
    assert upload(client, books["right"], student="bo").status_code == 200
    sign_in = client.get("/admin")
    assert 'type="password"' in sign_in.text and "ann" not in sign_in.text
    assert client.get("/admin/gradebook.csv").status_code == 401
    wrong = client.post("/admin", data={"token": TOKEN + "x"}, follow_redirects=False)
    assert wrong.status_code == 403 and "sheetprop_admin" not in client.cookies
    right = client.post("/admin", data={"token": TOKEN}, follow_redirects=False)
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    page = client.get("/admin").text
    assert "class report" in page and "2 uploads from 2 students" in page and "Download the gradebook" in page
    gradebook = client.get("/admin/gradebook.csv")
    assert gradebook.status_code == 200 and gradebook.headers["content-type"].startswith("text/csv")
    rows = gradebook.text.splitlines()
    assert rows[0].startswith("student,") and [r.split(",")[0] for r in rows[1:]] == ["ann", "bo"]
    assert all(TOKEN not in a.text for a in (sign_in, wrong, right, gradebook))
    client.post("/admin/logout")
    assert "class report" not in client.get("/admin").text
    scripted = TestClient(client.app).get("/admin/gradebook.csv", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scripted.status_code == 200 and scripted.text == gradebook.text


def test_without_a_token_or_kept_uploads_there_is_no_instructors_page(grader, tmp_path):
    client, _ = client_for(grader, tmp_path, keep=True)
    assert client.get("/admin").status_code == 404


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize("args,message", [
    (["--admin-token", TOKEN], "pass --keep DIR too"),
    (["--admin-token", "short", "--keep", "kept"], "at least 16 characters"),
    (["--port", "70000"], "70000 is not in the range"),
])
def test_serve_refuses_bad_options_in_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, ["serve", "--spec", "mazur-nobias", *args])
    assert done.exit_code == 2 and message in done.output and "Traceback" not in done.output


def test_serve_says_when_its_port_is_taken(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = CliRunner().invoke(main, ["serve", "--spec", "mazur-nobias", "--port", str(port)])
    assert done.exit_code == 2
    assert f"Error: 127.0.0.1:{port}: cannot listen" in done.output and "choose another --port" in done.output
