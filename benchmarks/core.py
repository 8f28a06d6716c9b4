"""Figures for the core: generate and verify times, each engine, with baselines from the same run.

    python benchmarks/core.py [--repeat 3] [--big-epochs 10000] [--students 60]

Every figure is a wall time of the real command (a fresh process, as a user runs it).
Baselines: a bare `python -c pass` for start-up, LibreOffice headless recalculating the
same file (converting it with recalculation forced) for the engines. verify with the default
engine must stay below 1.00x LibreOffice for every preset, the 6-8-8-4 spec and the
10,000-update Mazur workbook.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sheetprop.model.randomspec import random_spec
from sheetprop.model.spec import load_spec, preset_names, validate
from sheetprop.writing.workbook import write_workbook

SHEETPROP = [sys.executable, "-m", "sheetprop"]


def wall(cmd: list[str], repeat: int, ok: tuple[int, ...] = (0,)) -> float:
    """Best wall time of `repeat` runs of a command (it must exit with a code in `ok`)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if done.returncode not in ok:
            raise SystemExit(f"{' '.join(cmd[:6])} … exited with {done.returncode}")
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak resident memory of a command, from /usr/bin/time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], check=True, capture_output=True, text=True)
    return int(out.stderr.strip().splitlines()[-1]) / 1024


def libreoffice_recalc(paths: list[Path], repeat: int = 1) -> float | None:
    """LibreOffice headless opening each of `paths` in one run, recalculating everything and
    saving: the baseline (its profile set up by a first, untimed run)."""
    from sheetprop.engines.base import soffice
    from sheetprop.engines.libreoffice import write_profile

    exe = soffice()
    if not exe:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        profile = write_profile(Path(tmp) / "profile")
        cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "xlsx",
               "--outdir", str(Path(tmp) / "out")]
        subprocess.run(cmd + [str(paths[0])], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return wall(cmd + [str(p) for p in paths], repeat)


def row(label: str, seconds: float | None, base: float | None, base_name: str) -> None:
    if seconds is None:
        print(f"  {label:<52} (not available)")
        return
    ratio = f"{seconds / base:6.2f}x {base_name}" if base else ""
    print(f"  {label:<52} {seconds:8.2f} s  {ratio}")


def ironcalc_load_against_api(path: Path) -> tuple[float, float]:
    """IronCalc's own loader against feeding it through its API (cells and formulas set one by
    one, after openpyxl read them): (load + evaluate, read + set + evaluate), in seconds."""
    import ironcalc
    import openpyxl

    from sheetprop.engines.openbook import sheet_cells

    start = time.perf_counter()
    model = ironcalc.load_from_xlsx(str(path))
    model.evaluate()
    loaded = time.perf_counter() - start

    start = time.perf_counter()
    book = openpyxl.load_workbook(path, read_only=True)
    model = ironcalc.create("api", "en", "UTC")
    for index, ws in enumerate(book.worksheets):
        if index:
            model.add_sheet(ws.title)
        else:
            model.rename_sheet(0, ws.title)
        for cell in sheet_cells(ws):
            row, col, value = cell["row"], cell["column"], cell["value"]
            if cell["data_type"] == "f":
                model.update_cell_with_formula(index, row, col, value)
            elif isinstance(value, (int, float)):
                model.update_cell_with_number(index, row, col, float(value))
            elif isinstance(value, str):
                model.update_cell_with_text(index, row, col, value)
    for name, dn in book.defined_names.items():
        model.new_defined_name(name, None, dn.attr_text)
    model.evaluate()
    book.close()
    return loaded, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-epochs", type=int, default=10000)
    parser.add_argument("--students", type=int, default=60)
    args = parser.parse_args()
    engines = ["ironcalc", "formulas", "libreoffice"]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        python = wall([sys.executable, "-c", "pass"], args.repeat)
        print("start-up and generate")
        row("python -c pass (baseline)", python, None, "")
        mazur = tmp / "mazur.xlsx"
        row("sheetprop generate mazur", wall(SHEETPROP + ["generate", "mazur", "-o", str(mazur)], args.repeat),
            python, "python start-up")

        print("verify mazur.xlsx (the preset, 20 updates)")
        lo = libreoffice_recalc([mazur], args.repeat)
        row("LibreOffice headless recalculation (baseline)", lo, None, "")
        for engine in engines:
            row(f"sheetprop verify --engine {engine}",
                wall(SHEETPROP + ["verify", str(mazur), "--engine", engine], args.repeat), lo, "LibreOffice")

        print("verify every preset with the default engine (ironcalc), each against LibreOffice recalculating it")
        for preset in preset_names():
            path = tmp / f"{preset}.xlsx"
            write_workbook(load_spec(preset), path)
            lo = libreoffice_recalc([path], args.repeat)
            row(f"verify {preset}", wall(SHEETPROP + ["verify", str(path)], args.repeat), lo, "LibreOffice")

        big = tmp / "big.xlsx"
        spec = validate(random_spec(7, max_layers=3, max_width=6, max_samples=6, epochs=3))
        spec = validate({**spec.to_dict(), "layers": [6, {"size": 8, "activation": "tanh"},
                                                     {"size": 8, "activation": "sigmoid"},
                                                     {"size": 4, "activation": "sigmoid"}],
                         "weights": None, "biases": None, "loss": "half_sse",
                         "data": [{"inputs": [0.1 * (s + j) for j in range(6)], "targets": [0.2, 0.4, 0.6, 0.8]}
                                  for s in range(6)], "batch": "full", "epochs": 20})
        counts = write_workbook(spec, big)
        print(f"a large random spec: 6-8-8-4, 6 samples, full batch, 20 updates ({counts['formulas']:,} formulas)")
        lo = libreoffice_recalc([big])
        row("LibreOffice headless recalculation (baseline)", lo, None, "")
        for engine in [e for e in engines if e != "formulas"]:  # formulas: a few hundred cells/s, minutes here
            row(f"sheetprop verify --engine {engine}",
                wall(SHEETPROP + ["verify", str(big), "--engine", engine], 1), lo, "LibreOffice")

        huge = tmp / "mazur10k.xlsx"
        gen = wall(SHEETPROP + ["generate", "mazur", "--epochs", str(args.big_epochs), "-o", str(huge)], 1)
        print(f"mazur --epochs {args.big_epochs}")
        lo = libreoffice_recalc([huge])
        row("LibreOffice headless recalculation (baseline)", lo, None, "")
        row(f"sheetprop generate mazur --epochs {args.big_epochs}", gen, lo, "LibreOffice")
        print(f"  peak memory of that generate: {peak_rss_mb(SHEETPROP + ['generate', 'mazur', '--epochs', str(args.big_epochs), '-o', str(huge)]):.0f} MB"
              f" (python -c pass: {peak_rss_mb([sys.executable, '-c', 'pass']):.0f} MB)")
        for engine in ["ironcalc", "libreoffice"]:  # formulas: a quarter of an hour for 300,000 cells
            row(f"sheetprop verify --engine {engine}",
                wall(SHEETPROP + ["verify", str(huge), "--engine", engine], 1), lo, "LibreOffice")
        loaded, fed = ironcalc_load_against_api(huge)
        print("  IronCalc in process, the same file:")
        row("  its own loader, then evaluate (kept)", loaded, None, "")
        row("  openpyxl reads it, cells set through the API, evaluate", fed, loaded, "its loader")

        print(f"a class of {args.students} Mazur exercises, each graded in its own process (--jobs 2)")
        from check_batch import students

        paths = students(load_spec("mazur"), tmp, args.students)
        lo = libreoffice_recalc(paths)
        row(f"LibreOffice recalculating the {args.students} files, one run (baseline)", lo, None, "")
        for engine in engines:
            row(f"sheetprop check --engine {engine}",
                wall(SHEETPROP + ["check", *map(str, paths), "--spec", "mazur", "--engine", engine], 1, ok=(0, 1)),
                lo, "LibreOffice")


if __name__ == "__main__":
    main()
