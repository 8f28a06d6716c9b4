"""Grading uploads as `sheetprop check` grades files: each in a child process of its own, with its
time and memory limits, at most `jobs` at a time, and at most `queue` more waiting.

`Grader(spec, options, jobs, queue)` forks one process, the broker, before the web server starts
a thread (a process with threads should not fork: a lock another thread held stays locked in the
child). The broker warms the engine up on the spec's own workbook, then forks a child per upload
(`grading.batch.start`), so each starts warm, and sends each report back as it comes
(`grading.batch.collect`: a file that takes too long, needs too much memory or crashes its child
gets a report with `error` set). The server side asks `admit()` for a place first (False when
`jobs + queue` uploads are already in hand: the caller answers "busy"), then awaits `grade(path)`.

The broker dies with the server (Linux's parent-death signal, as every child of
`sheetprop.isolate`), and its children with it; `close()` stops it in order. Should it die
unasked (the kernel's out-of-memory killer), every upload waiting is answered "busy" and
`on_lost` is called: the CLI stops the server then, for its service manager to start it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import shutil
import tempfile
import threading
from collections import deque
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from sheetprop.errors import SheetpropError
from sheetprop.isolate import Job, ProcessLimit

if TYPE_CHECKING:
    from sheetprop.grading.grade import FileReport, GradeOptions
    from sheetprop.model.network import Spec

READY = "ready"
CLOSE_GRACE = 30.0  # seconds the broker has to stop its children and clean up when asked


class GraderStopped(SheetpropError):
    """The grading process is gone (the server is stopping, or it was killed)."""


class Grader:
    """Uploads graded in bounded child processes, `jobs` at a time, `queue` more waiting."""

    def __init__(self, spec: Spec, options: GradeOptions, jobs: int, queue: int):
        self.jobs, self.queue = max(1, jobs), max(0, queue)
        self.on_lost: Callable[[], None] | None = None  # called (in a thread) if the broker dies unasked
        self.lost = False
        self._closing = False
        self.capacity = self.jobs + self.queue
        self._in_hand = 0
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self._stopped = False
        self._ready = threading.Event()
        ours, theirs = multiprocessing.get_context("fork").Pipe(duplex=True)
        self._scratch = tempfile.mkdtemp(prefix="sheetprop-serve-grading-")  # removed here, whatever the broker's fate
        self._broker = Job(_broker, theirs, ours, spec, options, self.jobs, self._scratch, what="the grader",
                           daemon=False)
        theirs.close()
        self._conn = ours
        self._reader = threading.Thread(target=self._read, name="sheetprop-grader", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Has the broker warmed up (or stopped)? Waits up to `timeout` seconds."""
        return self._ready.wait(timeout)

    @property
    def in_hand(self) -> int:
        """Uploads being graded or waiting."""
        return self._in_hand

    def admit(self) -> bool:
        """Take a place for one upload; False when every place is taken. `release()` gives it back."""
        with self._lock:
            if self._in_hand >= self.capacity:
                return False
            self._in_hand += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._in_hand = max(0, self._in_hand - 1)

    async def grade(self, path: str | Path) -> FileReport:
        """The report of the upload at `path` (an admitted one), once a child has graded it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        with self._lock:
            if self._stopped:
                raise GraderStopped("the grader has stopped")
            ident = next(self._ids)
            self._pending[ident] = (loop, future)
            try:
                self._conn.send((ident, str(path)))
            except OSError:
                del self._pending[ident]
                raise GraderStopped("the grader has stopped") from None
        try:
            return await future
        finally:
            with self._lock:
                self._pending.pop(ident, None)

    def _read(self) -> None:
        """In a thread of the server: each report from the broker to the request that waits for it."""
        try:
            while True:
                ident, report = self._conn.recv()
                if ident == READY:
                    self._ready.set()
                    continue
                with self._lock:
                    waiting = self._pending.pop(ident, None)
                if waiting:
                    _call(waiting[0], _settle, waiting[1], report)
        except (EOFError, OSError):
            pass
        finally:
            with self._lock:
                self._stopped = True
                waiting_all = list(self._pending.values())
                self._pending.clear()
            for loop, future in waiting_all:
                _call(loop, _fail, future)
            self._ready.set()
            if not self._closing:
                self.lost = True
                if self.on_lost:
                    self.on_lost()

    def close(self) -> None:
        """Stop the broker: asked first, it stops the children at work and removes their files, and the
        reader sees its end of the pipe close; one that does not stop within CLOSE_GRACE gets SIGTERM."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._reader.join(CLOSE_GRACE)
        self._broker.stop()
        self._reader.join(CLOSE_GRACE)
        self._conn.close()
        shutil.rmtree(self._scratch, ignore_errors=True)


def _call(loop: asyncio.AbstractEventLoop, fn, *args) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
        loop.call_soon_threadsafe(fn, *args)


def _settle(future: asyncio.Future, report) -> None:
    if not future.done():
        future.set_result(report)


def _fail(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(GraderStopped("the grader has stopped"))


def _broker(conn: Connection, other: Connection, spec: Spec, options: GradeOptions, jobs: int, scratch: str) -> None:
    """The broker's loop: paths come in, up to `jobs` children grade them, reports go out as they come."""
    from sheetprop.grading.batch import collect, start, warm_up
    from sheetprop.grading.grade import FileReport

    other.close()  # the server's end: the broker sees EOF when the server is gone
    waiting: deque[tuple[int, str]] = deque()
    running: dict[int, tuple[Job, str]] = {}
    try:
        warm_up(spec, replace(options, engine_in_child=False, scratch=scratch), scratch)
        conn.send((READY, None))
        while True:
            while len(running) < jobs and waiting:
                ident, path = waiting[0]
                try:
                    running[ident] = (start(path, spec, options, scratch, ident), path)
                except ProcessLimit as exc:
                    if running:
                        break  # the next one starts when one at work ends
                    conn.send((ident, FileReport(file=path, error=f"{path}: {exc}; try again later")))
                waiting.popleft()
            lefts = [left for job, _ in running.values() if (left := job.wait_for()) is not None]
            ready = wait([conn, *(job.handle for job, _ in running.values())],
                         timeout=min(lefts) if lefts else None)
            if conn in ready:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    return
                if message is None:
                    return
                waiting.append(message)
            for ident, (job, path) in list(running.items()):
                if job.ready():
                    del running[ident]
                    conn.send((ident, collect(job, path, options)))
    finally:
        for job, _ in running.values():
            job.stop()
        shutil.rmtree(scratch, ignore_errors=True)
