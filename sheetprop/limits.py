"""Every limit sheetprop works within, with its default: README's limits table, in code.

Students' files are untrusted and instructors' specs may be absurd; each limit can be raised
on the command line (the option is named beside each).
"""

from __future__ import annotations

# check: each submission is graded in a child process of its own
CHECK_JOBS = 2  # files graded at once (--jobs): one per core
CHECK_TIMEOUT = 60.0  # seconds per file (--timeout)
CHECK_MAX_MEMORY = 2 * 2**30  # bytes per file (--max-memory)

# verify: the engine runs in a child process of its own
VERIFY_TIMEOUT = 300.0  # seconds (--timeout)
VERIFY_MAX_MEMORY = 4 * 2**30  # bytes (--max-memory)

# reading a workbook
MAX_UNCOMPRESSED = 100 * 2**20  # bytes of all the zip's parts once expanded (--max-size)
MAX_CELLS = 100_000  # cells with content in one workbook (--max-cells)
MAX_RANGE_CELLS = 100_000  # cells one reference in a formula may cover (A:A is 1,048,576)
MAX_FORMULA_CHARS = 8192  # Excel's own limit on a formula's length

# specs
MAX_SPEC_BYTES = 1_000_000  # a spec, map or points file
MAX_YAML_ALIASES = 100
MAX_FORMULA_CELLS = 2_000_000  # formula cells of a generated workbook (--max-cells)
EXPLAIN_MAX_CELLS = 100_000  # formula cells of the worked step `explain` writes out, a line each (--max-cells)

# LibreOffice stops itself at the time limit; the child process that waits for it gets this much longer
LIBREOFFICE_GRACE = 15.0
