"""A class uploading at once to `sheetprop serve`: are all answered, and how long does each wait?

    python benchmarks/serve.py [--uploads 50] [--jobs 2] [--queue 100] [--retry]

Builds the class's workbooks the way students build the assignment (tests/students.py: right
ones in several layouts and vocabularies, some with real students' mistakes, and the spec's own
workbook), starts `sheetprop serve --spec mazur-nobias` on a free port of this machine (127.0.0.1),
and sends every upload at the same moment, each from a thread of its own, as a browser's form
does. It prints how many were answered with a verdict, how many were told "busy" (HTTP 503) and
the median and 95th-percentile time from sending to the verdict. With `--retry` a client told
"busy" sends again after the Retry-After the server asks for (at most 3 times, as the page's
script does); without it a 503 counts as not answered. The baseline, timed in the same run:
`sheetprop check` grading the same files with the same number of processes. Every verdict is
compared with `check --json`'s score for the same file.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's sheetprop, and the tests' builders

from served import Served  # noqa: E402
from students import GROUPED, Sheet, workbook  # noqa: E402

from sheetprop.grading.judge import full_marks  # noqa: E402
from sheetprop.model.network import with_epochs  # noqa: E402
from sheetprop.model.reference import solve  # noqa: E402
from sheetprop.model.spec import load_spec  # noqa: E402
from sheetprop.writing.workbook import write_workbook  # noqa: E402

SPEC = "mazur-nobias"
SHEETS = [Sheet(), Sheet(columns=list(GROUPED), vocabulary="upper"), Sheet(local=True),
          Sheet(mistakes={"grad_w_5": "missing_brackets"}), Sheet(vocabulary="out", top=8, left=2),
          Sheet(mistakes={"grad_w_3": "wrong_neuron_derivative"}), Sheet(mistakes={"grad_w_1": "weights_swapped"}),
          Sheet(mistakes={"grad_w_6": "net_instead_of_out"}, constants=True), None]  # None: the spec's own workbook
RETRIES = 3
REQUEST_LIMIT = 600.0  # seconds a client waits for one answer


def the_class(folder: Path, n: int) -> list[Path]:
    paths = []
    for k in range(n):
        path = folder / f"student{k + 1:02d}.xlsx"
        sheet = SHEETS[k % len(SHEETS)]
        if sheet is None:
            write_workbook(with_epochs(load_spec(SPEC), 3), path)
        else:
            workbook(path, sheet)
        paths.append(path)
    return paths


def form(path: Path) -> tuple[bytes, str]:
    """The multipart body a browser sends for the page's form, and its content type."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"workbook\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n")
    return head.encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def upload(url: str, path: Path, retry: bool, start: threading.Barrier) -> dict:
    """One student's upload; the time is from the first send to the answer that ends it."""
    parts = urlsplit(url)
    body, kind = form(path)
    start.wait()
    began = time.perf_counter()
    tries = 0
    while True:
        tries += 1
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_LIMIT)
        try:
            connection.request("POST", parts.path + "check", body, {"Content-Type": kind})
            answer = connection.getresponse()
            page = answer.read().decode()
            status, wait = answer.status, int(answer.getheader("Retry-After") or 60)
        except OSError as exc:
            return {"file": path.name, "status": f"{type(exc).__name__}", "seconds": time.perf_counter() - began,
                    "tries": tries}
        finally:
            connection.close()
        if status == 503 and retry and tries <= RETRIES:
            time.sleep(wait)
            continue
        score = re.search(r"<b id=\"score\">([\d.]+) / ([\d.]+)</b>", page)
        return {"file": path.name, "status": status, "seconds": time.perf_counter() - began, "tries": tries,
                "score": float(score[1]) if score else None}


def check_scores(paths: list[Path], jobs: int) -> tuple[float, dict[str, float]]:
    """`sheetprop check --json` on the class: its wall time, and each file's score out of the total."""
    total = full_marks(solve(load_spec(SPEC)), {})
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sheetprop", "check", *map(str, paths), "--spec", SPEC, "--json",
                           "--jobs", str(jobs)], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"check failed: {done.stderr[-500:]}")
    return seconds, {Path(r["file"]).name: round(r["score"] * total / r["max_score"], 2)
                     for r in json.loads(done.stdout)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--queue", type=int, help="the server's --queue (default: its own)")
    parser.add_argument("--retry", action="store_true", help="clients told busy send again after Retry-After")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sheetprop-bench-serve-") as tmp:
        folder = Path(tmp)
        paths = the_class(folder, args.uploads)
        options = ["--spec", SPEC, "--jobs", str(args.jobs)] + (["--queue", str(args.queue)] if args.queue else [])
        served = Served(folder, *options)
        try:
            start = threading.Barrier(len(paths))
            results: list[dict] = [{}] * len(paths)

            def one(k: int) -> None:
                results[k] = upload(served.url, paths[k], args.retry, start)

            threads = [threading.Thread(target=one, args=(k,)) for k in range(len(paths))]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
        finally:
            served.stop()
        baseline, expected = check_scores(paths, args.jobs)
    answered = [r for r in results if r["status"] == 200]
    busy = [r for r in results if r["status"] == 503]
    times = [r["seconds"] for r in answered]
    agree = sum(1 for r in answered if r["score"] is not None and abs(r["score"] - expected[r["file"]]) < 0.006)
    print(f"{len(paths)} uploads at once to sheetprop serve --jobs {args.jobs}"
          f"{f' --queue {args.queue}' if args.queue else ''}{' (clients retry when busy)' if args.retry else ''}")
    print(f"  answered with a verdict: {len(answered)} of {len(paths)}; busy (503): {len(busy)}; "
          f"other: {len(paths) - len(answered) - len(busy)}; retries: {sum(r['tries'] - 1 for r in results)}")
    if times:
        print(f"  time to the verdict: median {statistics.median(times):.2f} s, 95th percentile "
              f"{percentile(times, 0.95):.2f} s, slowest {max(times):.2f} s; the last answer came after {wall:.2f} s")
    print(f"  baseline, sheetprop check of the same files --jobs {args.jobs}: {baseline:.2f} s "
          f"(the server's last answer came after {wall / baseline:.2f}× that)")
    print(f"  scores equal to check's: {agree} of {len(answered)}")


if __name__ == "__main__":
    main()
