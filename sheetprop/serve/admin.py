"""The instructor's page: the class page and the gradebook over the kept uploads, behind a token.

The token never travels in a URL (URLs are logged by every proxy): the instructor types it
into a form that is posted, and gets a cookie that holds a value derived from a secret drawn
when the server started (HttpOnly, SameSite=Strict, Secure over HTTPS, for the admin pages
only, 8 hours); a script may send `Authorization: Bearer TOKEN` instead. Both are compared in
constant time. A wrong token costs a second. Reading the pages changes nothing (GET); signing
in and out are POSTs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import secrets
from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from sheetprop.reports.classpage import class_page
from sheetprop.reports.text import clean, csv_text
from sheetprop.serve.keep import Kept, Keeper
from sheetprop.serve.page import shell

COOKIE = "sheetprop_admin"
SESSION_SECONDS = 8 * 3600
WRONG_TOKEN_DELAY = 1.0  # seconds


class Admin:
    def __init__(self, token: str, keeper: Keeper, assignment: str):
        self._token = hashlib.sha256(token.encode()).digest()
        self._session = secrets.token_urlsafe(32)
        self.keeper, self.assignment = keeper, assignment

    def routes(self) -> list[Route]:
        return [Route("/admin", self.page, methods=["GET", "POST"]),
                Route("/admin/gradebook.csv", self.gradebook, methods=["GET"]),
                Route("/admin/logout", self.logout, methods=["POST"])]

    def _right(self, given: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._token)

    def signed_in(self, request: Request) -> bool:
        """The session cookie, or the token as `Authorization: Bearer …`."""
        if hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), self._session.encode()):
            return True
        kind, _, given = request.headers.get("authorization", "").partition(" ")
        return kind.lower() == "bearer" and self._right(given.strip())

    async def page(self, request: Request) -> Response:
        if request.method == "POST":
            async with request.form(max_files=0, max_fields=4, max_part_size=1024) as form:
                given = form.get("token")
            if isinstance(given, str) and self._right(given):
                answer = RedirectResponse("admin", status_code=303)
                answer.set_cookie(COOKIE, self._session, max_age=SESSION_SECONDS, path=request.url.path,
                                  secure=request.url.scheme == "https", httponly=True, samesite="strict")
                return answer
            await asyncio.sleep(WRONG_TOKEN_DELAY)
            return HTMLResponse(_sign_in("That is not the token this server was started with."), status_code=403)
        if not self.signed_in(request):
            return HTMLResponse(_sign_in())
        kept = await run_in_threadpool(self.keeper.all)
        return HTMLResponse(self._class_page(kept))

    async def gradebook(self, request: Request) -> Response:
        if not self.signed_in(request):
            return HTMLResponse(_sign_in(action="../admin"), status_code=401,
                                headers={"WWW-Authenticate": "Bearer realm=\"sheetprop\""})
        latest = await run_in_threadpool(self.keeper.latest)
        return Response(csv_text(_reports(latest)), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=\"gradebook.csv\""})

    async def logout(self, request: Request) -> Response:
        answer = RedirectResponse("../admin", status_code=303)
        answer.delete_cookie(COOKIE, path=request.url.path.rpartition("/")[0],
                             secure=request.url.scheme == "https", httponly=True, samesite="strict")
        return answer

    def _class_page(self, kept: list[Kept]) -> str:
        """The class page of each student's last upload, with the list of every upload and the gradebook."""
        last: dict[str, Kept] = {k.student.casefold(): k for k in kept}
        latest = [last[key] for key in sorted(last)]
        page = class_page(_reports(latest), title=f"{self.assignment}: class report")
        nav = (f"<p class=\"note\" id=\"admin\">{len(kept)} upload{'s' if len(kept) != 1 else ''} from {len(latest)} "
               f"student{'s' if len(latest) != 1 else ''}; below, each student's last upload. "
               "<a href=\"admin/gradebook.csv\" download>Download the gradebook (CSV)</a></p>"
               "<form method=\"post\" action=\"admin/logout\"><button type=\"submit\">Sign out</button></form>\n")
        rows = [f"<tr><td>{_text(k.student)}</td><td>{_text(k.uploaded)}</td><td>{_text(k.file)}</td>"
                f"<td>{_text(k.original)}</td><td>{_score(k)}</td></tr>" for k in reversed(kept)]
        uploads = ("<h2>Every upload, newest first</h2>\n<table id=\"uploads\"><thead><tr><th>student</th>"
                   "<th>uploaded (UTC)</th><th>kept as</th><th>uploaded as</th><th>score</th></tr></thead>\n<tbody>"
                   + "\n".join(rows) + "</tbody></table>\n")
        return page.replace("</h1>\n", "</h1>\n" + nav, 1).replace("</body>", uploads + "</body>", 1)


def _reports(kept: list[Kept]):
    """Each upload's report under the student's name (the gradebook's student column)."""
    return [replace(k.report, file=f"{k.student}.xlsx") for k in kept]


def _score(kept: Kept) -> str:
    report = kept.report
    return "not graded" if report.error else f"{report.score:g} / {report.max_score:g}"


def _text(value) -> str:
    return html.escape(clean(str(value)), quote=True)


def _sign_in(problem: str = "", action: str = "admin") -> str:
    """The sign-in form, posting to the admin page (`action`, relative to the page that shows it)."""
    shown = f"<p class=\"problem\" role=\"alert\">{html.escape(problem)}</p>" if problem else ""
    return shell("Instructor's page", shown + f"<form method=\"post\" action=\"{action}\"><p><label for=\"token\">"
                 "The server's admin token</label><br><input type=\"password\" id=\"token\" name=\"token\" required "
                 "autocomplete=\"current-password\"></p><button type=\"submit\">Open the class page</button></form>")
