"""The files sheetprop reads and writes for its user: small text inputs read safely, outputs
written atomically.

`read_text(path, limit)` reads a spec, map or points file: a regular file of at most `limit`
bytes, never a device or a pipe (which could be endless or block), in UTF-8.

An output is all of the new file or the old one untouched. The bytes go to a temporary file
beside the target (created anew, never through a link), which is flushed to disk and then
renamed over it, so an interrupted run (Ctrl-C, a kill, a full disk) leaves no half-written
file; the temporary file is removed on any failure. The rename never replaces what is not a
plain file, and never writes anywhere but the path given:

- an output that is a symbolic link is refused: a link planted in a shared folder (`/tmp`,
  sticky and writable by all) must not redirect a gradebook onto another file. The folders on
  the way may be links; the last name is never followed;
- a device, a pipe or a terminal (`--csv /dev/stdout`, `/dev/null`; the system's links to a
  process's streams, /dev/stdout, /dev/fd/N, /proc/self/fd/N, included) is written through, in
  place; a disk (a block device) never;
- an existing file keeps its permissions (a private 0600 gradebook stays private) and its
  owner and group (an administrator rewriting a colleague's gradebook leaves it theirs); one
  that would change owner (another user's file, written by someone who is not root) is
  refused before any work is done, and its group is kept where this user may. A new file
  gets the usual 0666 less the umask, as any program's new file does;
- a full disk is one line naming the disk (`no space left on /dev/sdb1, mounted at /data`),
  with nothing written or changed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
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


def shown_path(path: str | Path) -> str:
    """A path as text any output can hold: bytes of the name that are not UTF-8 (a file `unzip` made
    from an old zip, `M\\x81ller.xlsx`) escaped as `\\x81`."""
    text = str(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def target(path: str | Path) -> Path:
    """The file `path` names, every symbolic link followed (to compare inputs and outputs)."""
    return Path(os.path.realpath(path))


def _place(path: Path) -> Path:
    """Where a write to `path` lands: its folder with links followed, its own name never followed
    (but for the system's links to a stream, /dev/stdout redirected to a file)."""
    if _system_link(path):
        return target(path)
    return Path(os.path.realpath(path.parent)) / path.name


_STREAM = re.compile(r"/dev/(?:stdout|stderr|fd/\d+)|/proc/(?:self|thread-self|\d+)/fd/\d+")


def _system_link(path: Path) -> bool:
    """/dev/stdout, /dev/fd/1, /proc/self/fd/1: the links the system makes to a process's own streams
    (not whatever else lies under /dev: /dev/shm is a folder anyone may plant links in)."""
    return _STREAM.fullmatch(os.path.normpath(path.absolute())) is not None


def check_writable(path: str | Path, option: str = "the output") -> None:
    """Refuse, before any work is done, an output that cannot or must not be written (one line)."""
    path = Path(path)
    if path.is_symlink() and not _system_link(path):
        raise OutputError(f"{path}: {option} is a symbolic link (to {os.readlink(path)}); sheetprop never writes "
                          "through a link (one planted in a shared folder could redirect it): give the real file's "
                          "path")
    if is_special(path):  # a device or a pipe: written in place
        if stat.S_ISBLK(os.stat(path).st_mode):
            raise OutputError(f"{path}: {option} is a disk (a block device); choose a file")
        if not os.access(path, os.W_OK):
            raise OutputError(f"{path}: {option} cannot be written (permission denied); choose another file")
        return
    real = _place(path)
    shown = f"{path} (-> {real})" if real != path.absolute() else str(path)
    if real.exists():
        if real.is_dir():
            raise OutputError(f"{shown}: {option} is a folder; give a file name")
        if not os.access(real, os.W_OK):
            raise OutputError(f"{shown}: {option} cannot be written (permission denied); choose another file")
        owner = _foreign_owner(os.lstat(real))
        if owner:
            raise OutputError(f"{shown}: {option} belongs to {owner}; sheetprop writes a new file in its place (never "
                              "a half-written one), which would make it yours: ask its owner to run this, or choose "
                              "another file")
    folder = real.parent
    if not folder.is_dir():
        raise OutputError(f"{shown}: the folder {folder} does not exist; create it or choose another file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: the folder {folder} cannot be written (permission denied); choose another file")


def _foreign_owner(st: os.stat_result) -> str | None:
    """Whose file this is, when this process cannot give a new file the same owner (only root can)."""
    if os.geteuid() in (0, st.st_uid):
        return None
    import pwd

    try:
        return pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        return f"user {st.st_uid}"


@contextlib.contextmanager
def replacing(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes `path` (see the module's rules)."""
    path = Path(path)
    if path.is_symlink() and not _system_link(path):
        check_writable(path)  # refuses it, in words
    if is_special(path):
        with tempfile.TemporaryDirectory(prefix="sheetprop-out-") as folder:
            tmp = Path(folder) / f"out{suffix}"
            with _space_checked(path, tmp):
                yield tmp
                _write_in_place(tmp, path)
        return
    real = _place(path)
    fd, name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=suffix, dir=real.parent)  # never follows a link
    os.close(fd)
    tmp = Path(name)
    try:
        with _space_checked(path, real):
            yield tmp
            _settle(tmp, real)
            os.replace(tmp, real)  # renames over the name itself: a link put there meanwhile is replaced, not followed
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _settle(tmp: Path, real: Path) -> None:
    """The written temporary file flushed to disk, with the permissions, owner and group of the file it replaces."""
    fd = os.open(tmp, os.O_RDWR | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
        try:
            old = os.lstat(real)
        except FileNotFoundError:
            old = None
        if old is None or not stat.S_ISREG(old.st_mode):  # new (or a link put there meanwhile: replaced, not copied)
            os.fchmod(fd, _new_mode())
            return
        if old.st_uid != os.geteuid():
            try:
                os.fchown(fd, old.st_uid, old.st_gid)
            except PermissionError:
                raise OutputError(f"{real}: cannot keep its owner (a file system that refuses chown?); nothing was "
                                  "changed: choose another file") from None
        elif old.st_gid != os.getegid():
            with contextlib.suppress(PermissionError):  # a group this user is not in: the folder's rules apply
                os.fchown(fd, -1, old.st_gid)
        os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after chown, which may clear set-id bits
    finally:
        os.close(fd)


def _write_in_place(tmp: Path, path: Path) -> None:
    """Copy to a device or a pipe (never creating or truncating a file, never a disk)."""
    fd = os.open(path, os.O_WRONLY)  # no O_CREAT, no O_TRUNC: what is opened is checked before a byte is written
    with os.fdopen(fd, "wb") as dst, open(tmp, "rb") as src:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)):
            raise OutputError(f"{path}: not a file, a device or a pipe that can be written in place; choose a file")
        shutil.copyfileobj(src, dst)


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


def _new_mode() -> int:
    """A new file's permissions: 0666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# ---------------------------------------------------------------- a full disk

FULL = (errno.ENOSPC, errno.EDQUOT)
NEARLY_FULL = 64 * 2**20  # bytes free under which a disk counts as full when a program failed to write on it


def no_space(exc: BaseException | None) -> bool:
    """Was `exc` (or what it wraps: XlsxWriter's FileCreateError, …) a disk or a quota that is full?"""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in FULL:
            return True
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = inner or exc.__cause__ or exc.__context__
        seen += 1
    return False


def full_disk(*paths: str | Path, margin: int = 0) -> str | None:
    """`no space left on DEVICE (mounted at PATH)` for the first of `paths` whose disk has at most `margin`
    bytes (or no file entries) left; None when none is full."""
    for path in paths:
        folder = Path(path)
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
        try:
            fs = os.statvfs(folder)
        except OSError:
            continue
        if fs.f_bavail * fs.f_frsize <= margin or (fs.f_files and fs.f_favail == 0):
            mount = _mount_point(folder)
            device = _device(mount)
            return f"no space left on {device} (mounted at {mount})" if device else f"no space left on {mount}"
    return None


def _mount_point(folder: Path) -> Path:
    folder = Path(os.path.realpath(folder))
    device = folder.stat().st_dev
    while folder != folder.parent and folder.parent.stat().st_dev == device:
        folder = folder.parent
    return folder


def _device(mount: Path) -> str | None:
    """What is mounted at `mount` (/dev/sdb1, tmpfs), from /proc/self/mounts where there is one."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    found = None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1].replace("\\040", " ") == str(mount):
            found = fields[0]  # the last mount there is the one in use
    return found


@contextlib.contextmanager
def _space_checked(shown: Path, real: Path) -> Iterator[None]:
    """A full disk while writing `shown` is one line naming it (the output's disk, or TMPDIR's)."""
    try:
        yield
    except Exception as exc:
        if not no_space(exc):
            raise
        _forget(exc)
        where = "no space left on the device" if is_special(shown) else full_disk(real, margin=NEARLY_FULL)
        if where is None and (where := full_disk(tempfile.gettempdir(), margin=NEARLY_FULL)):
            where += f", which holds the temporary files (TMPDIR={tempfile.gettempdir()})"
        raise OutputError(f"{shown}: cannot write: {where or 'no space left on the disk'}; nothing was written or "
                          "changed: free some space, or write elsewhere") from None


def _forget(exc: BaseException) -> None:
    """Let go of what the failed writer left open (XlsxWriter's zip file, say) now, quietly: closing it
    fails again on the full disk, which Python would otherwise print as "Exception ignored"."""
    import gc
    import sys
    import traceback

    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None if isinstance(unraisable.exc_value, OSError) else hook(unraisable)
    try:
        chain: BaseException | None = exc
        while chain is not None:
            traceback.clear_frames(chain.__traceback__)
            chain = chain.__context__
        gc.collect()
    finally:
        sys.unraisablehook = hook
