"""Grade a class: every file in its own forked child, with a time limit and a memory bound.

`grade_files(paths, spec, options, jobs=2)` keeps up to `jobs` children at work (one per
core), each grading one file with `grade.grade_file` and nothing else. A file that takes
longer than `options.timeout` seconds, needs more than `options.max_memory` bytes or
crashes its child gets a report with `error` set, and the batch goes on; reports come
back in the order of `paths`. `start` and `collect` grade one file the same way, for a caller
that keeps its own queue (`sheetprop serve`).

The children start from this process by fork, so they find the engine imported and, for
a class, warmed up on the spec's own workbook (the first formulas run costs most). Their
standard streams go to /dev/null: no engine's progress bar, warning or panic message
reaches the output. Their temporary files live in one folder that is removed at the end,
whatever happened to them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from sheetprop.engines.openbook import mib
from sheetprop.isolate import IsolationError, Job
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
    scratch = tempfile.mkdtemp(prefix="sheetprop-check-")
    running: dict[int, Job] = {}
    waiting = iter(range(len(paths)))
    done = 0
    try:
        if len(paths) > max(1, jobs) and spec is not None:
            warm_up(spec, replace(options, engine_in_child=False, scratch=scratch), scratch)
        while True:
            while len(running) < max(1, jobs) and (index := next(waiting, None)) is not None:
                running[index] = start(paths[index], spec, options, scratch)
            if not running:
                break
            lefts = [left for job in running.values() if (left := job.remaining()) is not None]
            wait([job.handle for job in running.values()], timeout=max(0.0, min(lefts)) if lefts else None)
            for index, job in list(running.items()):
                if job.ready():
                    del running[index]
                    reports[index] = collect(job, paths[index], options)
                    done += 1
                    if progress:
                        progress(done, len(paths))
    finally:
        for job in running.values():
            job.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    collected = [report for report in reports if report is not None]
    assert len(collected) == len(paths)  # the loop ends once every job is collected
    return collected


def start(path: str | Path, spec: Spec | None, options: GradeOptions, scratch: str) -> Job:
    """Start grading one file in a child process of its own, within the time and memory limits of
    `options`; its temporary files go to `scratch`. `collect` waits for its report."""
    inner = replace(options, engine_in_child=False, scratch=scratch)
    limit = options.timeout
    if limit is not None and options.engine == "libreoffice":
        limit += LIBREOFFICE_GRACE
    return Job(_grade_quietly, path, spec, inner, timeout=limit, max_memory=options.max_memory, what="grading")


def _grade_quietly(path, spec: Spec, options: GradeOptions) -> FileReport:
    """In the child: no output of any engine reaches the terminal; temporary files go to scratch."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    tempfile.tempdir = options.scratch
    from sheetprop.grading.grade import grade_file

    return grade_file(path, spec, options)


def collect(job: Job, path, options: GradeOptions) -> FileReport:
    """The report of a job `start` began (it waits for the child): an error report when the child was
    stopped at a limit or failed."""
    from sheetprop.grading.grade import FileReport

    try:
        return job.result()
    except IsolationError as exc:
        return FileReport(file=str(path), error=limit_message(path, str(exc), options))
    except Exception as exc:  # noqa: BLE001 - a bug in grading this file: the batch goes on
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return FileReport(file=str(path), error=f"{path}: could not be graded (internal error: "
                                                f"{type(exc).__name__}{': ' + text if text else ''})")


def limit_message(path, text: str, options: GradeOptions) -> str:
    """The one-line error of a file whose child was stopped, with the way out."""
    if "took longer" in text:
        return (f"{path}: grading took longer than {options.timeout:g} s and was stopped (a very large or looping "
                "workbook?); raise the limit with --timeout if the file is genuine")
    if "out of memory" in text:
        size = mib(options.max_memory) if options.max_memory else "the memory available"
        return (f"{path}: grading needed more than {size} of memory and was stopped; raise the limit with "
                "--max-memory if the file is genuine")
    return f"{path}: {text}: the file may be damaged or too large; open it and save it again as .xlsx"


def warm_up(spec: Spec, options: GradeOptions, folder: str) -> None:
    """Grade the spec's own workbook here, once, so that every child starts with the engine warm.

    The file is sheetprop's, not a student's. LibreOffice runs as a separate program and
    gains nothing from it. Any failure only costs the speed-up.
    """
    if options.engine == "libreoffice":
        return
    try:
        from sheetprop.grading.grade import grade_file
        from sheetprop.model.network import with_epochs
        from sheetprop.writing.workbook import write_workbook

        path = Path(folder) / "warm-up.xlsx"
        write_workbook(with_epochs(spec, 0), path)
        grade_file(path, spec, options)
    except Exception:  # noqa: BLE001 - a speed-up only
        pass
