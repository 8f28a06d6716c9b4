"""Time `sheetprop check`: one student's exercise, and a class of 60 in parallel and one by one.

    python benchmarks/check_batch.py [--spec mazur] [--students 60] [--engine ironcalc]

Builds an exercise, fills it in as students do (formulas over the exercise's names, some
with a mistake), then times grading through the command line: one file in a fresh
process (what a student waits for), the class with the default `--jobs 2` (each file in
its own process, with the time limit and memory bound), and the class with `--jobs 1`
(the baseline: one by one, same isolation), with the ratio; and `grade_file` in process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

from sheetprop.grading.grade import GradeOptions, grade_file
from sheetprop.model import graph as G
from sheetprop.model.spec import load_spec
from sheetprop.writing.workbook import write_workbook

MISTAKES = [
    {},
    {"dE_dout_h1": "=delta_o1*new_w_5+delta_o2*new_w_7"},
    {"delta_o1": "=dE_dout_o1"},
    {"new_w_5": "=w_5+eta*grad_w_5"},
    {"net_h1": 0.3775},
]


def students(spec, folder: Path, n: int) -> list[Path]:
    exercise = folder / "exercise.xlsx"
    write_workbook(spec, exercise, exercise=set(G.SECTIONS))
    formulas = {name: "=" + text for name, text in G.build(spec).formulas().items()}
    paths = []
    for k in range(n):
        wb = openpyxl.load_workbook(exercise)
        changes = MISTAKES[k % len(MISTAKES)] if spec.sizes == [2, 2, 2] else {}
        for name, value in {**formulas, **changes}.items():
            sheet_name, ref = wb.defined_names[name].attr_text.split("!")
            wb[sheet_name][ref.replace("$", "")] = value
        paths.append(folder / f"student{k + 1:02d}.xlsx")
        wb.save(paths[-1])
    return paths


def cli(*args) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sheetprop", "check", *map(str, args)], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"check failed: {done.stderr or done.stdout[:500]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default="mazur")
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--engine", default="ironcalc")
    args = parser.parse_args()
    spec = load_spec(args.spec)
    n = args.students
    with tempfile.TemporaryDirectory() as tmp:
        paths = students(spec, Path(tmp), n)
        common = ["--spec", args.spec, "--engine", args.engine]
        one = cli(paths[1], *common)
        parallel = cli(*paths, *common, "--jobs", "2", "--csv", Path(tmp) / "grades.csv")
        serial = cli(*paths, *common, "--jobs", "1", "--csv", Path(tmp) / "grades1.csv")
        same = (Path(tmp) / "grades.csv").read_text() == (Path(tmp) / "grades1.csv").read_text()
        options = GradeOptions(engine=args.engine)
        grade_file(paths[0], spec, options)  # warm up imports
        start = time.perf_counter()
        reports = [grade_file(p, spec, options) for p in paths]
        in_process = time.perf_counter() - start
    print(f"spec {args.spec}, engine {args.engine}: {len(G.build(spec).names)} quantities per file, "
          f"{os.cpu_count()} cores")
    print(f"check one exercise (command line, fresh process):        {one:6.2f} s")
    print(f"check {n} exercises, --jobs 2 (each file isolated):      {parallel:6.2f} s")
    print(f"check {n} exercises, --jobs 1 (baseline, one by one):    {serial:6.2f} s   "
          f"ratio {serial / parallel:.2f}x; same gradebook: {same}")
    print(f"grade_file x {n} in process (engine warm, no isolation): {in_process:6.2f} s "
          f"({in_process / len(reports):.2f} s per file)")


if __name__ == "__main__":
    main()
