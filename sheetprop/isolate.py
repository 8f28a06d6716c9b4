"""Run a function in a child process with a time limit and a memory bound.

Used for engines (which may hang, recurse or eat memory on a hostile file) and for grading
each submission on its own. The child is forked, so it starts at once with everything
already imported; its result comes back pickled through a pipe.

However the parent stops (a time limit, Ctrl-C, `kill`, `timeout`, `docker stop`, a closed
terminal, even SIGKILL), no child outlives it: a child asks the kernel for SIGTERM when its
parent dies (Linux's parent-death signal), turns SIGTERM and SIGHUP into an orderly exit
(its `finally` blocks run, so the programs it started, LibreOffice among them, are stopped
and its temporary files removed), and `Job.stop` sends SIGTERM before SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time

from sheetprop.errors import SheetpropError

_FORK = multiprocessing.get_context("fork")
_PR_SET_PDEATHSIG = 1
STOP_GRACE = 2.0  # seconds a child has to clean up after SIGTERM, before SIGKILL


class IsolationError(SheetpropError, RuntimeError):
    """The child ran out of time or memory, or died; the message is one line."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (running every `finally`), then exit 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def raise_on_termination(signum, frame) -> None:
    raise Terminated(signum)


def handle_termination() -> None:
    """Make SIGTERM and SIGHUP unwind the process like Ctrl-C does (main thread only)."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, raise_on_termination)


def _die_with_parent(parent: int) -> None:
    """Ask for SIGTERM when the parent dies; if it died already, go."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(143)


def _child(conn, parent, fn, args, kwargs, max_memory):
    _die_with_parent(parent)
    handle_termination()
    if max_memory:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))
    try:
        result = ("ok", fn(*args, **kwargs))
    except Terminated:
        os._exit(143)  # the `finally` blocks between here and the signal have run
    except MemoryError:
        result = ("memory", None)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        result = ("error", exc)
    # The work is done: from here a SIGTERM (the parent stopping a child whose result it has read)
    # ends the process quietly, instead of raising Terminated in whatever multiprocessing is doing.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("memory", None))
    except Exception as exc:  # an unpicklable result or exception
        conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)  # nothing of the parent's (atexit handlers, buffers it copied) runs twice


class Job:
    """A function running in a child process; `result()` waits for it."""

    def __init__(self, fn, *args, timeout: float | None = None, max_memory: int | None = None, what: str = "the job",
                 daemon: bool = True, **kwargs):
        """`daemon=False` for a child that starts children of its own (multiprocessing forbids a daemon that)."""
        self.what = what
        self.timeout = timeout
        self.max_memory = max_memory
        self.started = time.monotonic()
        self._recv, send = _FORK.Pipe(duplex=False)
        self._process = _FORK.Process(target=_child, args=(send, os.getpid(), fn, args, kwargs, max_memory),
                                      daemon=daemon)
        self._process.start()
        send.close()

    @property
    def handle(self):
        """What `multiprocessing.connection.wait` waits on: readable when the result is there or the child died."""
        return self._recv

    def remaining(self) -> float | None:
        return None if self.timeout is None else self.started + self.timeout - time.monotonic()

    def ready(self) -> bool:
        """The result is there, the child died, or its time is up."""
        left = self.remaining()
        return self._recv.poll(0) or (left is not None and left <= 0)

    def result(self):
        try:
            remaining = self.remaining()
            if not self._recv.poll(None if remaining is None else max(0.0, remaining)):
                raise IsolationError(f"{self.what} took longer than {self.timeout:g} s and was stopped")
            try:
                kind, value = self._recv.recv()
            except (EOFError, OSError):
                self._process.join(5)
                code = self._process.exitcode
                reason = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                raise IsolationError(f"{self.what} stopped unexpectedly ({reason})") from None
        finally:
            self.stop()
        if kind == "ok":
            return value
        if kind == "memory":
            limit = f" of {self.max_memory / 2**20:.0f} MiB" if self.max_memory else ""
            raise IsolationError(f"{self.what} ran out of memory (limit{limit}); raise it with --max-memory")
        raise value

    def stop(self) -> None:
        """Stop the child: SIGTERM (it cleans up what it started), then SIGKILL after STOP_GRACE."""
        process = self._process
        if process.is_alive():
            pid = process.pid
            assert pid is not None  # a started process has one
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            process.join(STOP_GRACE)
            if process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        process.join(5)
        self._recv.close()


def run(fn, *args, timeout: float | None = None, max_memory: int | None = None, what: str = "the job", **kwargs):
    """Run `fn(*args, **kwargs)` in a child process and return its result."""
    return Job(fn, *args, timeout=timeout, max_memory=max_memory, what=what, **kwargs).result()
