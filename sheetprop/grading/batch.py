"""Grade a class: every file in its own forked child, with a time limit and a memory bound.

`grade_files(paths, spec, options, jobs=2)` keeps up to `jobs` children at work (one per
core), each grading one file with `grade.grade_file` and nothing else. A file that takes
longer than `options.timeout` seconds, needs more than `options.max_memory` bytes (or the
process's own lower limit) or crashes its child gets a report with `error` set, and the
batch goes on; reports come back in the order of `paths`. When the user's limit on
processes (`ulimit -u`) stops a child from starting, the batch waits for those at work and
goes on with fewer; with none at work, the whole batch stops with one line saying so.
`start` and `collect` grade one file the same way, for a caller that keeps its own queue
(`sheetprop serve`).

The children start from this process by fork, so they find the engine imported and, for
a class, warmed up on the spec's own workbook (the first formulas run costs most). That
workbook is the assignment's full solution: it is written to a private folder (mode 0700)
and removed as soon as the warm-up is done. The children's standard streams go to
/dev/null: no engine's progress bar, warning or panic message reaches the output. Every
temporary file (the warm-up's, the engines' copies, LibreOffice's) lives in one private
folder that is removed at the end, whatever happened: a signal that arrives meanwhile
waits until it is gone.

A file whose name is not UTF-8 (`M\\x81ller.xlsx`, as `unzip` makes them from old zips) is
graded through a link of a plain name in that folder, and reported under its name with
the odd bytes escaped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import deque
from dataclasses import replace
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from sheetprop.files import shown_path
from sheetprop.isolate import STOP_GRACE, IsolationError, Job, ProcessLimit, signals_held
from sheetprop.limits import CHECK_JOBS, CHECK_MAX_MEMORY, CHECK_TIMEOUT, LIBREOFFICE_GRACE

if TYPE_CHECKING:
    from sheetprop.grading.grade import FileReport, GradeOptions
    from sheetprop.model.network import Spec


def grade_files(paths: Sequence[str | Path], spec: Spec | None, options: GradeOptions | None = None, *,
                jobs: int = CHECK_JOBS, progress: Callable[[int, int], None] | None = None) -> list[FileReport]:
    """Grade every file in a child process of its own, `jobs` at a time; reports in input order."""
    from sheetprop.grading.grade import GradeOptions

    options = options or GradeOptions(timeout=CHECK_TIMEOUT, max_memory=CHECK_MAX_MEMORY)
    paths = list(paths)
    reports: list[FileReport | None] = [None] * len(paths)
    running: dict[int, Job] = {}
    waiting = deque(range(len(paths)))
    done = 0
    scratch = None
    try:
        scratch = tempfile.mkdtemp(prefix="sheetprop-check-")  # mode 0700: this user's only
        if len(paths) > max(1, jobs) and spec is not None:
            warm_up(spec, replace(options, engine_in_child=False, scratch=scratch), scratch)
        while waiting or running:
            while waiting and len(running) < max(1, jobs):
                index = waiting[0]
                try:
                    running[index] = start(paths[index], spec, options, scratch, index)
                except ProcessLimit as exc:
                    if not running:  # nothing to wait for: no file can be graded
                        raise ProcessLimit(f"{exc}: each file is graded in a process of its own; no file was "
                                           "graded") from None
                    break  # go on with the children at work; the next one starts when one ends
                waiting.popleft()
            waits = [left for job in running.values() if (left := job.wait_for()) is not None]
            wait([job.handle for job in running.values()], timeout=min(waits) if waits else None)
            for index, job in list(running.items()):
                if job.ready():
                    del running[index]
                    reports[index] = collect(job, paths[index], options)
                    done += 1
                    if progress:
                        progress(done, len(paths))
    finally:
        with signals_held():  # a second Ctrl-C or SIGTERM must not leave children or files behind
            for job in running.values():
                job.terminate()  # all at once: they have STOP_GRACE to clean up, together
            until = time.monotonic() + STOP_GRACE
            for job in running.values():
                job.stop(grace=max(0.0, until - time.monotonic()))
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
    collected = [report for report in reports if report is not None]
    assert len(collected) == len(paths)  # the loop ends once every job is collected
    return collected


def _readable(path, scratch: str, index: int) -> str | Path:
    """`path`, or when its name is not UTF-8 (which an engine cannot take), a link to it in `scratch`."""
    try:
        str(path).encode("utf-8")
        return path
    except UnicodeEncodeError:
        suffix = Path(path).suffix
        link = Path(scratch) / f"file-{index + 1}{suffix if suffix[1:].isascii() and suffix[1:].isalnum() else ''}"
        if not os.path.lexists(os.fsencode(link)):  # made once: a start the limit on processes refused comes again
            os.symlink(os.path.abspath(os.fsencode(path)), os.fsencode(link))
        return link


def _grade_quietly(path, spec: Spec, options: GradeOptions) -> FileReport:
    """In the child: no output of any engine reaches the terminal; temporary files go to scratch."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    tempfile.tempdir = options.scratch
    from sheetprop.grading.grade import grade_file

    return grade_file(path, spec, options)


def start(path: str | Path, spec: Spec | None, options: GradeOptions, scratch: str, index: int = 0) -> Job:
    """Start grading one file in a child process of its own, within the time and memory limits of
    `options`; its temporary files go to `scratch` (`index` names its link there when the file's name
    is not UTF-8). `collect` waits for its report; `ProcessLimit` when no process can be started."""
    inner = replace(options, engine_in_child=False, scratch=scratch)
    limit = options.timeout
    if limit is not None and options.engine == "libreoffice":
        limit += LIBREOFFICE_GRACE
    return Job(_grade_quietly, _readable(path, scratch, index), spec, inner, timeout=limit,
               max_memory=options.max_memory, what="grading")


def collect(job: Job, path, options: GradeOptions) -> FileReport:
    """The report of a job `start` began (it waits for the child), under the file's own name: an error
    report when the child was stopped at a limit or failed."""
    from sheetprop.grading.grade import FileReport

    shown = shown_path(path)
    try:
        report = job.result()
    except IsolationError as exc:
        return FileReport(file=shown, error=limit_message(shown, str(exc), options, job))
    except Exception as exc:  # noqa: BLE001 - a bug in grading this file: the batch goes on
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return FileReport(file=shown, error=f"{shown}: internal error ({type(exc).__name__}"
                                            f"{': ' + text if text else ''}); please report it with the file")
    if report.file != shown:  # graded through a link (see `_readable`): the student's own name, escaped
        linked = report.file
        report.file = shown
        if report.error:
            report.error = report.error.replace(linked, shown)
        report.notes = [note.replace(linked, shown) for note in report.notes]
    return report


def limit_message(path, text: str, options: GradeOptions, job: Job | None = None) -> str:
    """The one-line error of a file whose child was stopped, with the way out."""
    if "took longer" in text:
        return (f"{path}: grading took longer than {options.timeout:g} s and was stopped (a very large or looping "
                "workbook?); raise the limit with --timeout if the file is genuine")
    if "out of memory" in text:
        limit = job.max_memory if job is not None else options.max_memory
        if job is not None and job.memory_capped and limit:
            return (f"{path}: grading needed more than {limit / 2**20:,.0f} MiB of memory, this process's own limit "
                    "(ulimit -v), and was stopped; raise that limit if the file is genuine")
        size = f"{limit / 2**20:,.0f} MiB" if limit else "the memory available"
        return (f"{path}: grading needed more than {size} of memory and was stopped; raise the limit with "
                "--max-memory if the file is genuine")
    return f"{path}: {text}: the file may be damaged or too large; open it and save it again as .xlsx"


def warm_up(spec: Spec, options: GradeOptions, scratch: str) -> None:
    """Grade the spec's own workbook here, once, so that every child starts with the engine warm.

    The file is sheetprop's, not a student's: the assignment's full solution. It and every
    temporary file of its grading live in a private folder inside `scratch`, removed as soon as
    the warm-up is done (a signal meanwhile waits for that). LibreOffice runs as a separate
    program and gains nothing from it. Any failure only costs the speed-up.
    """
    if options.engine == "libreoffice":
        return
    folder = tempfile.mkdtemp(prefix="warm-up-", dir=scratch)  # mode 0700
    before = tempfile.tempdir
    try:
        from sheetprop.grading.grade import grade_file
        from sheetprop.model.network import with_epochs
        from sheetprop.writing.workbook import write_workbook

        tempfile.tempdir = folder  # the engine's copies of the solution too
        path = Path(folder) / "warm-up.xlsx"
        write_workbook(with_epochs(spec, 0), path)
        grade_file(path, spec, replace(options, scratch=folder))
    except Exception:  # noqa: BLE001 - a speed-up only
        pass
    finally:
        with signals_held():
            tempfile.tempdir = before
            shutil.rmtree(folder, ignore_errors=True)
