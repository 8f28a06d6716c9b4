"""Time `sheetprop check`: one student's exercise, and a class of 20.

    python benchmarks/check_batch.py [--spec mazur] [--students 20]

Builds an exercise, fills it in as students do (formulas over the exercise's names, some
with a mistake), then times grading: one file in a fresh process (what a student waits
for), and 20 files in one call, both through the command line and through `grade_file`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

from sheetprop import layout as L
from sheetprop import local
from sheetprop import reference as R
from sheetprop.grade import grade_file
from sheetprop.spec import load_spec
from sheetprop.workbook import write_workbook

MISTAKES = [
    {},
    {"dE_dout_h1": "=delta_o1*new_w_5+delta_o2*new_w_7"},
    {"delta_o1": "=dE_dout_o1"},
    {"new_w_5": "=w_5+eta*grad_w_5"},
    {"net_h1": 0.3775},
]


def students(spec, folder: Path, n: int) -> list[Path]:
    exercise = folder / "exercise.xlsx"
    write_workbook(spec, exercise, exercise=set(local.SECTIONS))
    sheet, _ = L.network_sheet(spec, R.run_step(spec, R.Params.of(spec), spec.batches()[0]))
    formulas = {c.name: "=" + c.text for c in sheet.cells if c.style == "formula"}
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
    subprocess.run([sys.executable, "-m", "sheetprop", "check", *map(str, args)], capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default="mazur")
    parser.add_argument("--students", type=int, default=20)
    args = parser.parse_args()
    spec = load_spec(args.spec)
    with tempfile.TemporaryDirectory() as tmp:
        paths = students(spec, Path(tmp), args.students)
        one = cli(paths[1], "--spec", args.spec)
        batch = cli(*paths, "--spec", args.spec, "--csv", Path(tmp) / "grades.csv")
        grade_file(paths[0], spec)  # warm up imports
        start = time.perf_counter()
        reports = [grade_file(p, spec) for p in paths]
        in_process = time.perf_counter() - start
    print(f"spec {args.spec}: {len(local.network(spec).names)} quantities per file")
    print(f"check one exercise (command line, fresh process):   {one:6.2f} s")
    print(f"check {args.students} exercises (command line, one call):    {batch:6.2f} s")
    print(f"grade_file x {args.students} in process (engine warm):        {in_process:6.2f} s "
          f"({in_process / len(reports):.2f} s per file)")


if __name__ == "__main__":
    main()
