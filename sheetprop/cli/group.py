"""The `sheetprop` command group: every failure one `Error:` line (exit 2), never a traceback.

The commands live beside it (`generate`, `verify`, `check`) and add themselves to `main`."""

from __future__ import annotations

import os
import signal
import sys

import click

from sheetprop import __version__
from sheetprop.cli.params import UserError
from sheetprop.errors import SheetpropError, one_line
from sheetprop.files import NEARLY_FULL, full_disk, no_space
from sheetprop.isolate import Terminated, handle_termination

# numpy (which openpyxl imports) would start a BLAS thread per core, and under a low limit on
# processes (`ulimit -u`) fail to start with a KeyboardInterrupt; sheetprop needs none of them.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


class Interrupted(click.ClickException):
    """Ctrl-C: one line, exit code 130 (the shell's code for an interrupt)."""

    exit_code = 130


def _usage(exc: click.UsageError) -> UserError:
    """A usage error in one line, not click's usage block: which option, what is wrong, where help is."""
    path = f"sheetprop {exc.ctx.info_name}" if exc.ctx and exc.ctx.parent else "sheetprop"
    return UserError(f"{exc.format_message().rstrip('.')} (see `{path} --help`)")


def _internal(exc: Exception) -> Exception:
    if os.environ.get("SHEETPROP_DEBUG"):
        return exc
    return UserError(f"internal error ({one_line(exc)}); run again with SHEETPROP_DEBUG=1 for the details and "
                     "report it")


def _full_disk(exc: OSError) -> str | None:
    """A full disk met anywhere (a temporary file, an engine's copy): which one, in a line."""
    if no_space(exc):
        places = [p for p in (exc.filename, os.environ.get("TMPDIR"), "/tmp", ".") if isinstance(p, str)]
        where = full_disk(*places, margin=NEARLY_FULL) or "no space left on the disk"
        return (f"{exc.filename + ': ' if isinstance(exc.filename, str) else ''}cannot write: {where}; nothing was "
                "written or changed: free some space, or write elsewhere (TMPDIR for temporary files)")
    if isinstance(exc, FileNotFoundError) and "temporary directory" in str(exc):  # tempfile found none it can write
        return ("no folder for temporary files: TMPDIR, /tmp, /var/tmp and this folder are full or cannot be "
                "written; free some space or set TMPDIR to a folder that can be written")
    return None


class _Main(click.Group):
    """Every failure is one `Error: …` line, never a traceback (SHEETPROP_DEBUG=1 shows it)."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # `sheetprop -x`: the same one line as a command's
            raise _usage(exc) from None

    def invoke(self, ctx):
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
        handle_termination()  # `kill`, `timeout`, `docker stop`, a closed terminal: unwind like Ctrl-C
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _usage(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise Interrupted("interrupted; no output file was written or changed") from None
        except Terminated as exc:
            name = signal.Signals(exc.signum).name
            click.echo(f"Error: stopped by {name}; no output file was written or changed", err=True)
            sys.exit(128 + exc.signum)
        except SheetpropError as exc:  # a spec, workbook, engine, limit or output problem: one line
            raise UserError(str(exc)) from None
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):  # `sheetprop presets | head -1`: the reader has all it wants
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                sys.exit(0)
            full = _full_disk(exc)
            if full and not os.environ.get("SHEETPROP_DEBUG"):
                raise UserError(full) from None
            raise _internal(exc) from None
        except Exception as exc:
            raise _internal(exc) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sheetprop")
def main() -> None:
    """Backpropagation as live spreadsheet formulas.

    Generate a workbook from a network spec (a YAML file or a preset name), verify a
    workbook's formulas against sheetprop's reference maths, or print the reference.
    """
