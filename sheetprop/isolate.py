"""Run a function in a child process with a time limit and a memory bound.

Used for engines (which may hang, recurse or eat memory on a hostile file) and for
grading each submission on its own. The child is forked, so it starts at once with
everything already imported; its result comes back pickled through a pipe.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

_FORK = multiprocessing.get_context("fork")


class IsolationError(RuntimeError):
    """The child ran out of time or memory, or died; the message is one line."""


def _child(conn, fn, args, kwargs, max_memory):
    if max_memory:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))
    try:
        result = ("ok", fn(*args, **kwargs))
    except MemoryError:
        result = ("memory", None)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        result = ("error", exc)
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("memory", None))
    except Exception as exc:  # an unpicklable result or exception
        conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


class Job:
    """A function running in a child process; `result()` waits for it."""

    def __init__(self, fn, *args, timeout: float | None = None, max_memory: int | None = None, what: str = "the job",
                 **kwargs):
        self.what = what
        self.timeout = timeout
        self.max_memory = max_memory
        self.started = time.monotonic()
        self._recv, send = _FORK.Pipe(duplex=False)
        self._process = _FORK.Process(target=_child, args=(send, fn, args, kwargs, max_memory), daemon=True)
        self._process.start()
        send.close()

    def result(self):
        try:
            remaining = None if self.timeout is None else max(0.0, self.started + self.timeout - time.monotonic())
            if not self._recv.poll(remaining):
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
            raise IsolationError(f"{self.what} ran out of memory (limit{limit})")
        raise value

    def stop(self) -> None:
        if self._process.is_alive():
            try:
                os.kill(self._process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._process.join(5)
        self._recv.close()


def run(fn, *args, timeout: float | None = None, max_memory: int | None = None, what: str = "the job", **kwargs):
    """Run `fn(*args, **kwargs)` in a child process and return its result."""
    return Job(fn, *args, timeout=timeout, max_memory=max_memory, what=what, **kwargs).result()
