"""Run a function in a child process with a time limit and a memory bound.

Used for engines (which may hang, recurse or eat memory on a hostile file) and for grading
each submission on its own. The child is forked, so it starts at once with everything
already imported; its result comes back pickled through a pipe.

The child's address space is bounded by the limit asked, or by the hard limit this process
already has when that is lower (`ulimit -v`, as containers set): asking for more than one may
have is no error. A child that cannot be started (the user's limit on processes, `ulimit -u`)
is a `ProcessLimit` error saying so.

However the parent stops (a time limit, Ctrl-C, `kill`, `timeout`, `docker stop`, a closed
terminal, even SIGKILL), no child outlives it: a child asks the kernel for SIGTERM when its
parent dies (Linux's parent-death signal), turns SIGTERM and SIGHUP into an orderly exit
(its `finally` blocks run, so the programs it started, LibreOffice among them, are stopped
and its temporary files removed), and `Job.stop` sends SIGTERM before SIGKILL. SIGTERM and
SIGHUP are held back across the fork, so a child never meets them with the parent's handler,
and a child ends by `os._exit` whatever happens: it never prints a traceback.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import multiprocessing
import os
import signal
import sys
import time

from sheetprop.errors import SheetpropError

_FORK = multiprocessing.get_context("fork")
_PR_SET_PDEATHSIG = 1
_STOPPING = {signal.SIGTERM, signal.SIGHUP}
_LONGEST_WAIT = 3600.0  # seconds one wait may take (an absurd time limit must not overflow a poll)
STOP_GRACE = 2.0  # seconds a child has to clean up after SIGTERM, before SIGKILL


class IsolationError(SheetpropError, RuntimeError):
    """The child ran out of time or memory, or died; the message is one line."""


class ProcessLimit(IsolationError):
    """The child could not be started: the user's limit on processes (`ulimit -u`) is reached."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (running every `finally`), then exit 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def signals_held():
    """Hold back Ctrl-C, SIGTERM and SIGHUP for the block (a clean-up that must not be cut short): one
    that arrives meanwhile is noted, and raised again once the block is done. (Blocking the signals
    would not do: another thread of the process could take them.) Off the main thread, nothing is held."""
    caught: list[int] = []
    previous = {}
    try:
        for signum in (signal.SIGINT, *_STOPPING):
            previous[signum] = signal.signal(signum, lambda signum, frame: caught.append(signum))
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            signal.raise_signal(caught[0])


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


def memory_limit(asked: int | None) -> tuple[int | None, bool]:
    """The address space a child gets: `asked`, or the hard limit this process has when that is lower
    (`ulimit -v`, as containers such as Gradescope's set); and whether it was lowered."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard == resource.RLIM_INFINITY or (asked is not None and asked <= hard):
        return asked, False
    return hard, True


def process_limit() -> str:
    """How many processes this user may run (`ulimit -u`), in words."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    return "unlimited" if soft == resource.RLIM_INFINITY else f"{soft:,}"


def _child(conn, parent, fn, args, kwargs, max_memory):
    """The child's whole life. Whatever happens, it ends here with `os._exit`: no traceback is ever
    printed by multiprocessing, and nothing of the parent's (atexit handlers, buffers) runs twice."""
    code = 0
    try:
        _run_child(conn, parent, fn, args, kwargs, max_memory)
    except Terminated:
        code = 143  # the `finally` blocks between here and the signal have run
    except BaseException:  # noqa: BLE001 - the parent reads the exit code ("stopped unexpectedly")
        code = 70
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


def _run_child(conn, parent, fn, args, kwargs, max_memory):
    # SIGTERM and SIGHUP were blocked across the fork (see Job): they arrive from here on, as Terminated.
    handle_termination()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPPING)
    _die_with_parent(parent)
    if max_memory:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))  # at most the hard limit: see Job
    try:
        result = ("ok", fn(*args, **kwargs))
    except MemoryError:
        result = ("memory", None)
    except Terminated:
        raise
    except (KeyboardInterrupt, SystemExit) as exc:  # not the user's Ctrl-C (the parent gets that too): a library's
        result = ("error", RuntimeError(f"the child process got {type(exc).__name__}"))
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


class Job:
    """A function running in a child process; `result()` waits for it."""

    def __init__(self, fn, *args, timeout: float | None = None, max_memory: int | None = None, what: str = "the job",
                 daemon: bool = True, **kwargs):
        """`daemon=False` for a child that starts children of its own (multiprocessing forbids a daemon that)."""
        self.what = what
        self.timeout = timeout
        self.max_memory, self.memory_capped = memory_limit(max_memory)
        self.started = time.monotonic()
        self._recv, send = _FORK.Pipe(duplex=False)
        self._process = _FORK.Process(target=_child, args=(send, os.getpid(), fn, args, kwargs, self.max_memory),
                                      daemon=daemon)
        # SIGTERM and SIGHUP stay blocked across the fork, so the child never sees them before its own
        # handlers are set (with this process's handler, inherited, they would raise in multiprocessing).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
        try:
            self._process.start()
        except OSError as exc:
            self._recv.close()
            if exc.errno in (errno.EAGAIN, errno.ENOMEM):
                raise ProcessLimit(f"cannot start a process (limit on processes: ulimit -u is {process_limit()}"
                                   f"{'' if exc.errno == errno.EAGAIN else ', or out of memory'}); raise the "
                                   "limit") from None
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            send.close()

    @property
    def handle(self):
        """What `multiprocessing.connection.wait` waits on: readable when the result is there or the child died."""
        return self._recv

    def remaining(self) -> float | None:
        return None if self.timeout is None else self.started + self.timeout - time.monotonic()

    def wait_for(self) -> float | None:
        """How long one wait for this job may take: what is left of its time, at most an hour."""
        left = self.remaining()
        return None if left is None else min(max(0.0, left), _LONGEST_WAIT)

    def ready(self) -> bool:
        """The result is there, the child died, or its time is up."""
        left = self.remaining()
        return self._recv.poll(0) or (left is not None and left <= 0)

    def result(self):
        try:
            while not self._recv.poll(self.wait_for()):  # None: no time limit, wait until it is there
                left = self.remaining()
                if left is not None and left <= 0:
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
            raise IsolationError(f"{self.what} ran out of memory ({self.memory_words()}); "
                                 + ("raise the process's limit (ulimit -v)" if self.memory_capped
                                    else "raise it with --max-memory"))
        raise value

    def memory_words(self) -> str:
        """The child's memory bound in words: `limit of 2,048 MiB`, and whose limit it is."""
        if not self.max_memory:
            return "no limit"
        own = " (this process's own limit, ulimit -v, is lower than the one asked)" if self.memory_capped else ""
        return f"limit of {self.max_memory / 2**20:,.0f} MiB{own}"

    def terminate(self) -> None:
        """Ask the child to stop (SIGTERM), without waiting: `stop` then waits for it."""
        if self._process.is_alive() and self._process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGTERM)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop the child: SIGTERM (it cleans up what it started), then SIGKILL after `grace` seconds."""
        process = self._process
        if process.is_alive():
            pid = process.pid
            assert pid is not None  # a started process has one
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            process.join(grace)
            if process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        process.join(5)
        self._recv.close()


def run(fn, *args, timeout: float | None = None, max_memory: int | None = None, what: str = "the job", **kwargs):
    """Run `fn(*args, **kwargs)` in a child process and return its result."""
    return Job(fn, *args, timeout=timeout, max_memory=max_memory, what=what, **kwargs).result()
