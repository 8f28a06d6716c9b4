"""Cells per second of the compiled engine against IronCalc and LibreOffice, same files, same run.

    python benchmarks/engines_compiled.py [--epochs 20,1000,10000] [--repeat 3] [--engines compiled,ironcalc,libreoffice]

Workbooks: the xor preset as generated, and the mazur preset with each number of epochs
(20 is the preset's own: 676 formula cells; 10,000 epochs: 300,076). Each engine's time is
the best of --repeat in-process calls of `sheetprop.engines.evaluate` (LibreOffice runs
once: it is a separate process and takes seconds); ratios are against LibreOffice's time
on the same file in this run. It also times a fresh `python -c` process evaluating the
smallest file, start-up and imports included, and reports whether compiled and IronCalc
agree to the last bit, and compiled and LibreOffice to within LibreOffice's 15 digits.
"""

from __future__ import annotations

import argparse
import gc
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sheetprop.engines import evaluate, is_available  # noqa: E402
from sheetprop.spec import load_spec, with_epochs  # noqa: E402
from sheetprop.workbook import write_workbook  # noqa: E402


def timed(engine: str, path: Path, repeat: int):
    best, result = math.inf, None
    for _ in range(1 if engine == "libreoffice" else repeat):
        gc.collect()
        start = time.perf_counter()
        result = evaluate(path, engine)
        best = min(best, time.perf_counter() - start)
    return best, result


def agreement(got: dict, want: dict) -> float:
    """Worst relative difference (inf if any key, type or non-number differs)."""
    if set(got) != set(want):
        return math.inf
    worst = 0.0
    for key, value in want.items():
        other = got[key]
        if isinstance(value, float) and isinstance(other, float):
            scale = max(abs(value), abs(other))
            if scale:
                worst = max(worst, abs(value - other) / scale)
        elif type(value) is not type(other) or value != other:
            return math.inf
    return worst


def fresh_process(engine: str, path: Path) -> float:
    code = f"from sheetprop.engines import evaluate; evaluate({str(path)!r}, {engine!r})"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default="20,1000,10000", help="comma-separated mazur epochs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="compiled,ironcalc,libreoffice")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    missing = [e for e in engines if not is_available(e)]
    for engine in missing:
        print(f"{engine}: not available here")
    engines = [e for e in engines if e not in missing]

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for preset, epochs in [("xor", None)] + [("mazur", int(e)) for e in args.epochs.split(",")]:
            spec = load_spec(preset) if epochs is None else with_epochs(load_spec(preset), epochs)
            path = Path(tmp) / f"{preset}{'' if epochs is None else f'-{epochs}'}.xlsx"
            write_workbook(spec, path)
            files.append(path)

        print(f"{'file':18s} {'cells':>8s}  " + "  ".join(f"{e:>24s}" for e in engines))
        for path in files:
            times, results = {}, {}
            for engine in engines:
                times[engine], results[engine] = timed(engine, path, args.repeat)
            cells = len(next(iter(results.values())))
            row = []
            for engine in engines:
                ratio = f" {times['libreoffice'] / times[engine]:5.1f}x LO" if "libreoffice" in times else ""
                row.append(f"{times[engine]:6.3f}s {cells / times[engine]:9,.0f}/s{ratio}")
            print(f"{path.stem:18s} {cells:8,d}  " + "  ".join(f"{r:>24s}" for r in row), flush=True)
            if "compiled" in results:
                for other in ("ironcalc", "libreoffice"):
                    if other in results:
                        worst = agreement(results["compiled"], results[other])
                        print(f"{'':28s}compiled vs {other}: worst relative difference {worst:.1e}")

        small = files[1] if len(files) > 1 else files[0]
        for engine in (e for e in engines if e != "libreoffice"):
            best = min(fresh_process(engine, small) for _ in range(args.repeat))
            print(f"fresh python process evaluating {small.stem} with {engine}: {best:.2f} s (start-up included)")
        base = min(fresh_process_bare() for _ in range(args.repeat))
        print(f"bare `python -c pass` for comparison: {base:.2f} s")


def fresh_process_bare() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
