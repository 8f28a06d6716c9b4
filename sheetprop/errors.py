"""One error type for everything a user can get wrong, and one way to say an exception in a line.

Every module raises a subclass of `SheetpropError` for input that cannot be used (a spec, a
workbook, an engine that cannot run, a child process stopped at a limit); its message is one
line that names the file, the field or cell, and what to do. The CLI prints it as
`Error: …` with exit code 2.
"""

from __future__ import annotations


class SheetpropError(Exception):
    """Input or circumstances sheetprop cannot work with; the message is one line for the user."""


def one_line(exc: BaseException, limit: int = 300, kind: bool = True) -> str:
    """An exception as one short line: its type (unless `kind` is false) and the first line of
    its message, cut at `limit` characters."""
    lines = str(exc).strip().splitlines()
    text = lines[0][:limit] if lines else ""
    if not kind:
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
