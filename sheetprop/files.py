"""The files sheetprop reads and writes for its user: small text inputs read safely, outputs
written atomically.

`read_text(path, limit)` reads a spec, map or points file: a regular file of at most `limit`
bytes, never a device or a pipe (which could be endless or block), in UTF-8.

An output is all of the new file or the old one untouched. The bytes go to a temporary file beside the target, which is flushed to disk and then renamed
over it, so an interrupted run (Ctrl-C, a kill, a full disk) leaves no half-written file; the
temporary file is removed on any failure. The rename never replaces what is not a plain file:

- a symbolic link is followed: its target is written (a gradebook linked from a shared folder
  gets the new grades, and the link stays a link);
- a device, a pipe or a terminal (`--csv /dev/stdout`, `/dev/null`) is written through, in place;
- an existing file keeps its permissions (a private 0600 gradebook stays private); a new one
  gets the usual 0666 less the umask, as any program's new file does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from sheetprop.errors import SheetpropError


class OutputError(SheetpropError):
    """An output that cannot be written; the message names the real path and what to do."""


class InputError(SheetpropError, ValueError):
    """An input file that cannot be read; the message names the file and what to do."""


def read_text(path: str | Path, limit: int, what: str = "file") -> str:
    """A small UTF-8 text file: at most `limit` bytes, a regular file (no device, pipe or folder)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{path}: is a folder, not a {what}")
        if not stat.S_ISREG(mode):
            raise InputError(f"{path}: not a regular file (a device or a pipe?); give the path of a {what}")
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than {limit // 1000:,} kB; a {what} is a short text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; save the {what} as UTF-8") from None


def target(path: str | Path) -> Path:
    """The file a write to `path` lands in: symbolic links followed."""
    return Path(os.path.realpath(path))


def check_writable(path: str | Path, option: str = "the output") -> None:
    """Refuse, before any work is done, an output that cannot be written (one line, naming the real path)."""
    path = Path(path)
    if is_special(path):  # a device or a pipe: written in place
        if not os.access(path, os.W_OK):
            raise OutputError(f"{path}: {option} cannot be written (permission denied); choose another file")
        return
    real = target(path)
    shown = f"{path} (-> {real})" if real != path.absolute() else str(path)
    if real.exists():
        if real.is_dir():
            raise OutputError(f"{shown}: {option} is a folder; give a file name")
        if not os.access(real, os.W_OK):
            raise OutputError(f"{shown}: {option} cannot be written (permission denied); choose another file")
    folder = real.parent
    if not folder.is_dir():
        raise OutputError(f"{shown}: the folder {folder} does not exist; create it or choose another file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: the folder {folder} cannot be written (permission denied); choose another file")


@contextlib.contextmanager
def replacing(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes `path` (see the module's rules)."""
    if is_special(Path(path)):
        with tempfile.TemporaryDirectory(prefix="sheetprop-out-") as folder:
            tmp = Path(folder) / f"out{suffix}"
            yield tmp
            with open(tmp, "rb") as src, open(path, "wb") as dst:  # a device or a pipe: in place
                shutil.copyfileobj(src, dst)
        return
    real = target(path)
    fd, name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=suffix, dir=real.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(real))
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    write_bytes(path, text.encode(encoding))


def is_special(path: str | Path) -> bool:
    """Is `path` (links followed, /dev/stdout included) something other than a file or a folder?"""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _mode_for(real: Path) -> int:
    """An existing file's permissions, else a new file's (0666 less the umask)."""
    try:
        return stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
