"""The web application (Starlette): the page, the upload that is checked, the instructor's page.

`GET /` is the page; `POST /check` takes one workbook and answers with the page and the
student's view of it (`view.student_view_html`), or a refusal in a sentence: too large (413),
no file (400), the upload took too long (408), the queue is full (503, "busy, try again in a
minute", with Retry-After). An upload takes its place in the queue before its first byte is
read, so that the disk holds at most `jobs + queue` uploads; one told "busy" is still read (and
dropped), so that a client that is still sending reads the answer rather than a reset. A file that is no workbook is graded like any other and gets the
sentence `sheetprop check` gives it. Every answer carries the page's security headers
(`page.HEADERS`: the content security policy among them), and no answer names a path of this
machine: the upload is called by the name the student gave it. The upload is deleted once it is
graded, unless the instructor keeps uploads (`keep.Keeper`); `admin.Admin` adds the instructor's
pages when a token is set.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from sheetprop.grading.grade import FileReport
from sheetprop.serve.admin import Admin
from sheetprop.serve.grader import Grader, GraderStopped
from sheetprop.serve.keep import Keeper
from sheetprop.serve.page import HEADERS, page, refusal
from sheetprop.serve.upload import (Upload, UploadProblem, discard, drain, read_upload, refuse_declared,
                                    size_text)
from sheetprop.serve.view import student_view_html

BUSY = "The server is busy checking other workbooks: try again in a minute."
BUSY_RETRY_AFTER = (30, 90)  # seconds, the range of the Retry-After header of a 503
UPLOAD_SECONDS = 120.0  # an upload that takes longer is refused (408)


@dataclass(frozen=True)
class Settings:
    assignment: str  # the spec's name
    total: float | None  # the assignment's points (judge.full_marks)
    max_upload: int  # bytes
    uploads: Path  # the server's private folder for uploads being graded
    keep: Path | None = None
    admin_token: str | None = None
    upload_seconds: float = UPLOAD_SECONDS


def build_app(settings: Settings, grader: Grader) -> SecurityHeaders:
    """The ASGI application for one assignment, grading with `grader` (started before any thread)."""
    keeper = Keeper(settings.keep) if settings.keep else None
    title = f"{settings.assignment}: check your workbook"
    total = f" ({settings.total:g} points)" if settings.total is not None else ""
    kept = ("kept for your instructor, with your name or id" if keeper else
            "deleted as soon as it is checked: nothing is kept")
    lead = (f"Upload your spreadsheet to check it against <b>{html.escape(settings.assignment)}</b>{total}. Your file "
            f"(at most {size_text(settings.max_upload)}) is {kept}.")

    def answer(result: str, status: int = 200, headers: dict | None = None) -> HTMLResponse:
        return HTMLResponse(page(title, lead, settings.max_upload, keeper is not None, result), status_code=status,
                            headers=headers)

    async def home(request: Request) -> Response:
        return answer("")

    def busy(message: str) -> HTMLResponse:
        # "in a minute", spread over 30 to 90 s so that the clients told so do not all come back at once
        return answer(refusal(message), 503, {"Retry-After": str(random.randint(*BUSY_RETRY_AFTER))})

    async def check(request: Request) -> Response:
        if request.method != "POST":
            return RedirectResponse(".", status_code=303)
        try:
            refuse_declared(request, settings.max_upload)
        except UploadProblem as problem:
            return answer(refusal(problem.message), problem.status)
        if not grader.admit():  # a place for the upload from its first byte: disk used is bounded too
            with anyio.move_on_after(settings.upload_seconds):
                await drain(request, settings.max_upload)
            return busy(BUSY)
        try:
            return await graded(request)
        finally:
            grader.release()

    async def graded(request: Request) -> Response:
        try:
            with anyio.fail_after(settings.upload_seconds):
                upload = await read_upload(request, settings.uploads, settings.max_upload)
        except UploadProblem as problem:
            return answer(refusal(problem.message), problem.status)
        except TimeoutError:
            return answer(refusal(f"Your upload took longer than {settings.upload_seconds:g} s: try again, "
                                  "on a faster connection if you can."), 408)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening
        try:
            if keeper and not upload.student:
                return answer(refusal("Write your name or student id above, so that your instructor can find "
                                      "your upload."), 400)
            try:
                report = shown(await grader.grade(upload.path), upload)
            except GraderStopped:
                return busy("The server is stopping: try again in a minute.")
            if keeper:
                await run_in_threadpool(keeper.keep, upload.path, upload.student, upload.name, report)
        finally:
            await run_in_threadpool(discard, upload)
        return answer(student_view_html(report, settings.total))

    routes = [Route("/", home, methods=["GET"]), Route("/check", check, methods=["GET", "POST"])]
    if keeper and settings.admin_token:
        routes += Admin(settings.admin_token, keeper, settings.assignment).routes()
    return SecurityHeaders(Starlette(routes=routes))


def shown(report: FileReport, upload: Upload) -> FileReport:
    """The report as the student may see it: the file called by the student's name for it, and no
    path of this machine in any of its texts."""
    items = [replace(item, diagnosis=upload.shown(item.diagnosis)) for item in report.items]
    return replace(report, file=upload.name, error=upload.shown(report.error) if report.error else None,
                   notes=[upload.shown(note) for note in report.notes], items=items)


class SecurityHeaders:
    """Every HTTP answer of the application gets `page.HEADERS` (the content security policy, nosniff, …)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in HEADERS.items():
                    headers[key] = value
            await send(message)

        await self.app(scope, receive, sending)
