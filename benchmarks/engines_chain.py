"""Time every engine on a chain workbook of N rows x 28 columns.

    python benchmarks/engines_chain.py [N] [--engines ironcalc,libreoffice,formulas]

Row 1 holds numbers; every cell below uses the two cells above it (plain arithmetic,
with EXP and TANH in some columns), so the dependency chain is N deep. For each engine
it prints the time, formula cells per second, the speed relative to LibreOffice in the
same run, and the worst relative difference from the same arithmetic in Python floats.
formulas manages a few hundred cells per second: N=2000 takes it minutes.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import xlsxwriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sheetprop.engines import ENGINES, evaluate, is_available  # noqa: E402
from sheetprop.engines.base import a1  # noqa: E402

COLUMNS = 28


def formula(row: int, col: int) -> tuple[str, object]:
    """Excel text and Python function of the cell at (row, col), 1-based, row > 1."""
    a, b = a1(row - 1, col), a1(row - 1, col % COLUMNS + 1)
    if col % 7 == 4:
        return f"=1/(1+EXP(-{a}))*0.5+{b}*0.5", lambda x, y: 1 / (1 + math.exp(-x)) * 0.5 + y * 0.5
    if col % 7 == 6:
        return f"=TANH({a})*0.9+{b}^2*0.1", lambda x, y: math.tanh(x) * 0.9 + y ** 2 * 0.1
    return f"={a}*0.999+{b}*0.001", lambda x, y: x * 0.999 + y * 0.001


def build(path: Path, rows: int) -> dict[tuple[str, str], float]:
    """Write the chain workbook (stored results all 0) and return Python's values."""
    expected = {}
    previous = [float("%.16G" % (0.1 + c / 100)) for c in range(COLUMNS)]  # as XlsxWriter writes them
    with xlsxwriter.Workbook(str(path)) as book:
        ws = book.add_worksheet("Training")
        for c, value in enumerate(previous):
            ws.write_number(0, c, value)
        for row in range(2, rows + 1):
            current = []
            for col in range(1, COLUMNS + 1):
                text, python = formula(row, col)
                ws.write_formula(row - 1, col - 1, text, None, 0)
                current.append(python(previous[col - 1], previous[col % COLUMNS]))
                expected[("Training", a1(row, col))] = current[-1]
            previous = current
    return expected


def worst_difference(got, expected) -> float:
    worst = 0.0
    for key, want in expected.items():
        value = got.get(key)
        if not isinstance(value, float):
            return math.inf
        worst = max(worst, abs(value - want) / abs(want))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=2000)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, default all")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain.xlsx"
        expected = build(path, args.rows)
        print(f"{args.rows} rows x {COLUMNS} columns: {len(expected)} formula cells, chain {args.rows - 1} deep")
        speed = {}
        for engine in engines:
            if not is_available(engine):
                print(f"{engine:12s} not available")
                continue
            start = time.perf_counter()
            got = evaluate(path, engine)
            seconds = time.perf_counter() - start
            speed[engine] = len(got) / seconds
            print(f"{engine:12s} {seconds:8.2f} s {speed[engine]:12,.0f} cells/s   "
                  f"worst rel. diff from Python {worst_difference(got, expected):.1e}", flush=True)
    if "libreoffice" in speed:
        print("vs LibreOffice: " + ", ".join(f"{e} {s / speed['libreoffice']:.2f}x" for e, s in speed.items()))


if __name__ == "__main__":
    main()
