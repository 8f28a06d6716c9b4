"""`sheetprop serve`: a web page where students check their own workbook against one assignment."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path

import click

from sheetprop.cli.group import main
from sheetprop.cli.params import LearningRates, Size, UserError, judging_options, limit_options, load_checked, marking

SERVE_QUEUE = 100  # uploads waiting beyond those being graded: a class of 50 uploading at once all get graded
TOKEN_VARIABLE = "SHEETPROP_ADMIN_TOKEN"
MIN_TOKEN = 16  # characters of the admin token: guessing it over HTTP is hopeless
WEB_PACKAGES = ("starlette", "uvicorn", "python_multipart")  # the `serve` extra


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@main.command()
@click.option("--spec", "spec_ref", required=True, metavar="SPEC",
              help="The assignment's spec (a file or a preset name).")
@click.option("--eta", "eta", type=LearningRates(), metavar="RATES",
              help="The learning rate the exercise was set with when it is not the spec's, or the sweep of them "
                   "(0.1,0.2,0.5,0.8,1,2), as for check --eta.")
@click.option("--points", "points_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file of points per quantity, as for check.  [default: 1 per answer]")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file mapping names to cells, as for check.")
@judging_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; keep 127.0.0.1 behind a reverse proxy that adds TLS.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="The port to listen on (0: any free one, printed at start).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=cores(), show_default="one per core",
              help="Uploads graded at once, each in a process of its own.")
@click.option("--queue", type=click.IntRange(min=0), default=SERVE_QUEUE, show_default=True,
              help="Uploads that may wait for a free core; past that an upload is answered \"busy, try again "
                   "in a minute\" (HTTP 503).")
@click.option("--max-upload", type=Size(), default="10M", show_default=True,
              help="Refuse an upload larger than this (HTTP 413) before it is stored.")
@limit_options(timeout="Seconds one upload may take to grade; a longer one gets an error.",
               memory="Memory grading one upload may use.",
               size="Refuse a workbook that expands to more than this once unzipped.",
               cells="Refuse a workbook holding more cells than this.")
@click.option("--keep", "keep_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep every upload in this folder (created private), named by time and the student's name "
                   "or id, which the form then asks for.  [default: nothing is kept]")
@click.option("--admin-token", envvar=TOKEN_VARIABLE, show_envvar=True, metavar="TOKEN",
              help="Open /admin, the class page and the gradebook (CSV) over the kept uploads, to whoever "
                   "types this token (at least 16 characters; needs --keep).")
def serve(spec_ref: str, eta: tuple[float, ...] | None, points_path: Path | None, map_path: Path | None, tol: float,
          carried_forward_credit: float, hardcoded_credit: float, engine: str, host: str, port: int, jobs: int,
          queue: int, max_upload: int, timeout: float | None, max_memory: int, max_size: int, max_cells: int,
          keep_dir: Path | None, admin_token: str | None) -> None:
    """Serve a web page where students check their own workbook against SPEC.

    A student uploads a workbook (a plain form; with JavaScript, drag and drop and a progress
    bar) and reads the verdict, the score out of the assignment's total, what to fix first
    and their loss curve beside the correct one. Each upload is graded as `check` grades a
    file: in a process of its own within the limits below, one per core at a time. Uploads
    are deleted once graded unless --keep is given. Run it behind a reverse proxy that adds
    TLS (see README). Stop it with Ctrl-C.
    """
    from sheetprop.grading.grade import GradeOptions
    from sheetprop.grading.judge import full_marks

    if admin_token is not None and not keep_dir:
        raise UserError(f"--admin-token (or {TOKEN_VARIABLE}) opens the page of the kept uploads: pass --keep DIR too")
    if admin_token is not None and len(admin_token) < MIN_TOKEN:
        raise UserError(f"--admin-token: use at least {MIN_TOKEN} characters, e.g. "
                        "python3 -c 'import secrets; print(secrets.token_urlsafe())'")
    missing = [name for name in WEB_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"sheetprop serve needs the web server's packages ({', '.join(missing)} missing): "
                        "pip install 'sheetprop[serve]'")
    network = load_checked(spec_ref, max_cells=max_cells, training=False, etas=eta)
    sol, cell_map, points = marking(network, map_path, points_path)
    options = GradeOptions(tol=tol, points=points, carried_forward_credit=carried_forward_credit,
                           hardcoded_credit=hardcoded_credit, cell_map=cell_map, engine=engine, timeout=timeout,
                           max_memory=max_memory, max_uncompressed=max_size, max_cells=max_cells)
    if keep_dir:
        try:
            keep_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{keep_dir}: --keep: cannot create the folder ({exc.strerror or exc})") from None
        if not os.access(keep_dir, os.W_OK | os.X_OK):
            raise UserError(f"{keep_dir}: --keep: the folder cannot be written (permission denied)")
    import uvicorn

    from sheetprop.serve.app import Settings, build_app
    from sheetprop.serve.grader import Grader

    listener = _listen(host, port)
    uploads = Path(tempfile.mkdtemp(prefix="sheetprop-serve-"))
    grader = Grader(network, options, jobs, queue)  # forks before any thread of the server starts
    try:
        grader.wait_ready()
        total = full_marks(sol, points)
        settings = Settings(assignment=network.name, total=total, max_upload=max_upload, uploads=uploads,
                            keep=keep_dir, admin_token=admin_token)
        app = build_app(settings, grader)
        address = listener.getsockname()
        shown = f"[{address[0]}]" if listener.family == socket.AF_INET6 else address[0]
        kept = f"uploads kept in {keep_dir}" if keep_dir else "uploads deleted once graded"
        admin = "; instructor's page at /admin" if admin_token else ""
        click.echo(f"sheetprop serve: {network.name} ({total:g} points) on http://{shown}:{address[1]}/ "
                   f"({jobs} at a time, {queue} waiting at most; {kept}{admin}); Ctrl-C stops it", err=True)
        config = uvicorn.Config(app, log_level="info", proxy_headers=True, server_header=False,
                                timeout_graceful_shutdown=10)
        server = uvicorn.Server(config)
        grader.on_lost = lambda: setattr(server, "should_exit", True)  # uvicorn checks it between requests
        stops: list[int] = []
        previous = {s: signal.signal(s, lambda signum, frame: stops.append(signum))
                    for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run(sockets=[listener])  # uvicorn stops on SIGINT or SIGTERM, then raises it again: noted
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    finally:
        grader.close()
        listener.close()
        shutil.rmtree(uploads, ignore_errors=True)
    if grader.lost:
        raise UserError("the grading process stopped unexpectedly (killed, or out of memory?), so the server "
                        "stopped too: start it again")
    click.echo("sheetprop serve: stopped", err=True)


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, or one `Error:` line saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UserError(f"{host}:{port}: cannot listen ({exc.strerror or exc}); choose another --port or --host") \
            from None
    return sock
