"""The command line: a thin layer over the library (click). Bad input is one `Error:` line, exit 2.

`main` is the `sheetprop` group (`cli.group`); each module beside it adds its commands:
`generate` (generate, reference, explain, presets), `verify`, `check` (check, autograder), `serve`.
Shared option types and input checks are in `cli.params`. The CLI may import every
subpackage, and none imports it; heavy ones are imported inside the commands that use them,
so `sheetprop generate` starts without any engine.
"""

from sheetprop.cli import check, generate, serve, verify  # noqa: F401  (each adds its commands to main)
from sheetprop.cli.group import main

__all__ = ["main"]
