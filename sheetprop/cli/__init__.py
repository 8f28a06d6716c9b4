"""The command line: a thin layer over the library (click). Bad input is one `Error:` line, exit 2."""

from sheetprop.cli.group import main

__all__ = ["main"]
