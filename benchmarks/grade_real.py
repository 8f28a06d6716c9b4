"""Grade folders of real students' workbooks and, given manifests of their truth, measure the grader.

    python benchmarks/grade_real.py ../shared/students ../shared/wild [--no-spec] [--engine ironcalc]
                                    [--details] [--repeat 3]

Each workbook is graded as `sheetprop check` grades it, each in a process of its own. With a
manifest in the folder (`manifest.json`: a list of {file, spec, truth, training, …}) the
measures are printed per folder: quantities the student shows found at the right cell, status
right, real mistakes flagged incorrect, right cells called incorrect, all-correct workbooks
given full marks, training tables checked, and the time per file with the slowest (the best of
`--repeat` runs, each in a fresh child as `sheetprop check FILE` grades it, beside the best time
of the engine alone recomputing the same file in a child: the baseline of the ratio). By default
each file is graded against the spec its manifest entry describes (the course assignment's
network with the student's given values, or a spec in sheetprop's own format); with --no-spec
the grader reads the network and its given values from the workbook, as `sheetprop check`
does without --spec.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from sheetprop.engines import evaluate
from sheetprop.grading.batch import grade_files
from sheetprop.grading.grade import GradeOptions
from sheetprop.isolate import Job
from sheetprop.limits import CHECK_MAX_MEMORY, CHECK_TIMEOUT
from sheetprop.model.spec import validate

STATUS = {"ok": "correct", "cf": "carried_forward", "wrong": "incorrect"}


def spec_of(entry: dict):
    """The spec of a manifest entry: sheetprop's own format, or the course assignment's network
    (Mazur's 2-2-2 sigmoid, no biases, half SSE) with the student's values."""
    s = entry["spec"]
    if "layers" in s:
        return validate({"name": entry["file"], **s}, where=entry["file"])
    w = [s["initial_weights"][f"w{k}"] for k in range(1, 9)]
    return validate({
        "name": entry["file"], "layers": [2, 2, 2], "activation": "sigmoid", "bias": "none", "loss": "half_sse",
        "weights": [[w[0:2], w[2:4]], [w[4:6], w[6:8]]], "learning_rate": s["eta"],
        "data": [{"inputs": [s["inputs"]["i1"], s["inputs"]["i2"]], "targets": [s["targets"]["t1"], s["targets"]["t2"]]}],
    }, where=entry["file"])


def same_cell(a: str | None, b: str | None) -> bool:
    norm = lambda ref: None if ref is None else ref.replace("'", "").replace("$", "")  # noqa: E731
    return norm(a) == norm(b)


def measure(entries: list[dict], reports: dict, details: bool) -> dict:
    shown = found = status_right = 0
    mistakes = flagged = false_alarms = 0
    all_right_files = full_marks = 0
    tables = tables_checked = 0
    misses = []
    for entry in entries:
        report = reports[entry["file"]]
        items = {i.name: i for i in report.items}
        truth = {k: t for k, t in entry["truth"].items() if t.get("cell") and t.get("status")}
        for name, t in truth.items():
            shown += 1
            item = items.get(name)
            at = item is not None and same_cell(item.cell, t["cell"])
            found += at
            right = at and item.status == STATUS[t["status"]]
            status_right += right
            if t["status"] == "wrong":
                mistakes += 1
                flagged += bool(at and item.status == "incorrect")
            elif at and item.status == "incorrect":
                false_alarms += 1
            if not right:
                misses.append(f"{entry['file']}: {name}: truth {t['status']} at {t['cell']}; got "
                              + (f"{item.status} at {item.cell} ({item.found_by}): {item.diagnosis[:90]}" if item else "nothing"))
        if all(t["status"] == "ok" for t in truth.values()):
            all_right_files += 1
            full_marks += report.error is None and report.score == report.max_score > 0
        training = entry.get("training") or {}
        main = training.get("main", training if "iterations" in training else None)  # students' / wild's form
        if main and main.get("iterations", 0) > 1:
            tables += 1
            want = "correct" if main.get("agreement") == "exact" and all(
                t["status"] == "ok" for t in truth.values()) else "incorrect"
            got = [t for t in getattr(report, "training", [])  # "iter 1..iter 3": a run over sheets from iter 1
                   if t.get("sheet") == main["sheet"] or main["sheet"].startswith(f"{t.get('sheet')}..")]
            tables_checked += bool(got and got[0].get("status") == want)
    if details:
        print("\n".join(misses))
    return {"shown": shown, "found": found, "status_right": status_right, "mistakes": mistakes, "flagged": flagged,
            "false_alarms": false_alarms, "all_right_files": all_right_files, "full_marks": full_marks,
            "tables": tables, "tables_checked": tables_checked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--no-spec", action="store_true", help="let the grader read the network from each workbook")
    parser.add_argument("--engine", default="ironcalc")
    parser.add_argument("--details", action="store_true", help="list every quantity the grader got wrong")
    parser.add_argument("--repeat", type=int, default=3, help="time each file this many times, keep the best")
    args = parser.parse_args()
    options = GradeOptions(engine=args.engine, timeout=CHECK_TIMEOUT, max_memory=CHECK_MAX_MEMORY)
    everything: dict[str, float] = {}
    for folder in args.folders:
        manifest = folder / "manifest.json"
        entries = json.loads(manifest.read_text()) if manifest.is_file() else [
            {"file": p.name} for p in sorted(folder.glob("*.xlsx"))]
        reports, seconds, engine_seconds = {}, {}, {}
        for entry in entries:  # one at a time, so that each file's time is its own
            spec = None if args.no_spec or "spec" not in entry else spec_of(entry)
            path = folder / entry["file"]
            times, engine_times = [], []
            for _ in range(max(1, args.repeat)):
                began = time.perf_counter()
                report, = grade_files([path], spec, options, jobs=1)
                times.append(time.perf_counter() - began)
                began = time.perf_counter()
                Job(evaluate, path, args.engine, timeout=CHECK_TIMEOUT, max_memory=CHECK_MAX_MEMORY).result()
                engine_times.append(time.perf_counter() - began)
            seconds[entry["file"]] = everything[f"{folder.name}/{entry['file']}"] = min(times)
            engine_seconds[entry["file"]] = min(engine_times)
            reports[entry["file"]] = report
        print(f"== {folder} ({len(entries)} files)")
        for name, report in reports.items():
            print(f"{name:<28} {report.score:g}/{report.max_score:g}  {seconds[name]:5.2f} s "
                  f"({seconds[name] / engine_seconds[name]:.1f}× the engine alone)"
                  + (f"  error: {report.error}" if report.error else ""))
        slowest = max(seconds, key=seconds.__getitem__)
        ratios = [seconds[name] / engine_seconds[name] for name in seconds]
        print(f"time: {sum(seconds.values()):.1f} s for {len(entries)} files; median "
              f"{statistics.median(seconds.values()):.2f} s, slowest {seconds[slowest]:.2f} s ({slowest}); "
              f"grading takes {statistics.median(ratios):.1f}× (median) the engine's own recalculation")
        if all("truth" in e for e in entries):
            m = measure(entries, reports, args.details)
            pct = lambda a, b: f"{100 * a / b:.1f}%" if b else "-"  # noqa: E731
            print(f"quantities the student shows, found at the right cell: {m['found']}/{m['shown']} "
                  f"({pct(m['found'], m['shown'])})")
            print(f"status right (correct / carried forward / incorrect):  {m['status_right']}/{m['shown']} "
                  f"({pct(m['status_right'], m['shown'])})")
            print(f"real mistakes flagged incorrect:                       {m['flagged']} of {m['mistakes']}")
            print(f"right cells called incorrect:                          {m['false_alarms']}")
            print(f"all-correct workbooks given full marks:                {m['full_marks']} of {m['all_right_files']}")
            print(f"training tables checked:                               {m['tables_checked']} of {m['tables']}")
    if len(args.folders) > 1:
        slowest = max(everything, key=everything.__getitem__)
        print(f"== all: {len(everything)} files, median {statistics.median(everything.values()):.2f} s, "
              f"slowest {everything[slowest]:.2f} s ({slowest})")
    sys.exit(0)


if __name__ == "__main__":
    main()
