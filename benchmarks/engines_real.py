"""How many cells of real workbooks IronCalc, as sheetprop runs it, computes as Excel does.

    python benchmarks/engines_real.py ../shared/engines [--engine ironcalc] [--raw] [--details N]

The folder holds .xlsx workbooks and `truth.json.gz`: for each file, the cells on which
Excel (the results it stored) and LibreOffice (recalculating) agree, as
`{file: {"Sheet!A1": [kind, value]}}` (kind n, s, b or e). Each workbook is evaluated with
`sheetprop.engines.evaluate` (screened, normalised, in this process, as verify and check
run it) and every truth cell is compared: a number agrees within 1e-12 relative, anything
else when equal. Prints, per file and in all, the cells right, the share, and the time,
with the time of IronCalc on its own (`ironcalc.load_from_xlsx` and `evaluate`, no screen)
as the baseline. `--raw` also scores IronCalc on its own; `--details N` lists the first N
wrong cells of each file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sheetprop.engines import CellError, EngineError, evaluate  # noqa: E402

REL = 1e-12


def agrees(kind: str, want, got) -> bool:
    """Does an engine's value match the truth cell [kind, want]?"""
    if kind == "n":
        if isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isfinite(got):
            return False
        return got == want or abs(got - want) <= REL * max(abs(got), abs(want))
    if kind == "e":
        return isinstance(got, CellError) and got.code == want
    if kind == "b":
        return isinstance(got, bool) and got == want
    return isinstance(got, str) and got == want


def raw_ironcalc(path: Path) -> tuple[dict, float]:
    """IronCalc on its own: every cell's value after load and evaluate, and the time it took."""
    import ironcalc

    from sheetprop.engines.ironcalc_engine import _silenced

    start = time.perf_counter()
    with _silenced():
        model = ironcalc.load_from_xlsx(str(path))
        model.evaluate()
    seconds = time.perf_counter() - start
    sheets = [p["name"] for p in model.get_worksheets_properties()]
    error = ironcalc.CellType.ErrorValue
    values = {}
    for index, row, col in model.get_all_cells():
        value = model.get_cell_value(index, row, col)
        if model.get_cell_type(index, row, col) is error:
            value = CellError(str(value))
        elif type(value) is int:
            value = float(value)
        from sheetprop.engines.base import a1

        values[(sheets[index], a1(row, col))] = value
    return values, seconds


def score(truth: dict, values: dict) -> tuple[int, list[str]]:
    right, wrong = 0, []
    for ref, (kind, want) in truth.items():
        sheet, _, cell = ref.rpartition("!")
        got = values.get((sheet, cell))
        if agrees(kind, want, got):
            right += 1
        else:
            wrong.append(f"{ref}: want {want!r}, got {got!r}")
    return right, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--engine", default="ironcalc")
    parser.add_argument("--raw", action="store_true", help="also score IronCalc on its own (no screen)")
    parser.add_argument("--details", type=int, default=0, metavar="N", help="list the first N wrong cells per file")
    args = parser.parse_args()
    truth = json.loads(gzip.decompress((args.folder / "truth.json.gz").read_bytes()))

    total = right_all = raw_all = 0
    seconds_all = raw_seconds_all = 0.0
    print(f"{'file':<46} {'cells':>6} {'right':>6} {'share':>8} {'time':>7} {'IronCalc alone':>15}")
    for name in sorted(truth):
        cells = truth[name]
        path = args.folder / name
        start = time.perf_counter()
        try:
            values = evaluate(path, args.engine)
            failure = None
        except EngineError as exc:
            values, failure = {}, str(exc)
        seconds = time.perf_counter() - start
        right, wrong = score(cells, values)
        raw, raw_seconds = raw_ironcalc(path)
        raw_right = score(cells, raw)[0]
        total += len(cells)
        right_all += right
        raw_all += raw_right
        seconds_all += seconds
        raw_seconds_all += raw_seconds
        alone = f"{raw_seconds:6.2f} s" + (f" {100 * raw_right / len(cells):6.2f}%" if args.raw else "")
        print(f"{name:<46} {len(cells):>6} {right:>6} {100 * right / len(cells):7.2f}% {seconds:6.2f}s {alone:>15}")
        if failure:
            print(f"    failed: {failure}")
        held = getattr(values, "held", {})
        if held:
            print(f"    {len(held)} cells not evaluated; the first: {next(iter(held.values()))}")
        for line in wrong[:args.details]:
            print(f"    {line}")
    alone = f"{raw_seconds_all:6.2f} s" + (f" {100 * raw_all / total:6.2f}%" if args.raw else "")
    print(f"{'all':<46} {total:>6} {right_all:>6} {100 * right_all / total:7.2f}% {seconds_all:6.2f}s {alone:>15}")
    print(f"sheetprop's {args.engine} takes {seconds_all / raw_seconds_all:.2f}x the time of IronCalc alone")


if __name__ == "__main__":
    main()
