"""A Gradescope autograder: the bundle (`write_bundle`) and what it runs for each submission (`main`).

Gradescope unzips the bundle into /autograder/source, runs `setup.sh` once as root when it
builds the image, then `run_autograder` for every submission, which must leave
/autograder/results/results.json. The bundle carries sheetprop itself (this very version,
its presets, dependencies pinned to the versions installed here), the spec and the grading
options, so what grades the class is exactly what the instructor tried on their machine.
`AUTOGRADER_ROOT` moves /autograder (a test runs the bundle in a temporary folder).

`python -m sheetprop.reports.autograder [ROOT]` grades the submission under ROOT and always exits
0 with a results.json: no workbook, several, a file that is no workbook, one that takes
too long are each score 0 and a sentence the student can act on.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import zipfile
from collections import deque
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Iterator

from sheetprop import __version__
from sheetprop.files import shown_path
from sheetprop.limits import CHECK_MAX_MEMORY, CHECK_TIMEOUT, MAX_CELLS, MAX_UNCOMPRESSED
from sheetprop.model.network import Spec

PACKAGE = Path(__file__).resolve().parents[1]  # sheetprop/, whose files the bundle holds

CONFIG = "sheetprop-autograder.json"
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
OTHER_SPREADSHEETS = (".xls", ".ods", ".numbers", ".csv", ".xlsb", ".gsheet")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
TESTS_BY = ("quantity", "section")
MAX_SUBMITTED_FILES = 100_000  # entries looked at in the submission folder
MAX_DEPTH = 64  # levels of folders looked into


@dataclass
class BundleOptions:
    """What the bundle grades with: `sheetprop check`'s options, and how Gradescope shows the tests."""

    points: dict[str, float] = field(default_factory=dict)
    cell_map: dict[str, str] = field(default_factory=dict)  # name → "Sheet1!B7", as in the --map file
    tol: float = 1e-9
    carried_forward_credit: float = 1.0
    hardcoded_credit: float = 0.0
    engine: str = "ironcalc"
    timeout: float | None = CHECK_TIMEOUT
    max_memory: int = CHECK_MAX_MEMORY
    max_size: int = MAX_UNCOMPRESSED
    max_cells: int = MAX_CELLS
    visibility: str = "visible"
    tests: str = "quantity"  # one Gradescope test per quantity, or per section
    total: float | None = None  # the assignment's points (judge.full_marks); None: each sheet's own maximum


# ---------------------------------------------------------------- the bundle

SETUP = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
# It installs Python 3.11+ if the image has none, then sheetprop's dependencies (pinned in
# requirements.txt) in a virtual environment, and grades the spec's own solution as a check.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$ROOT/sheetprop-venv"
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  if [ -n "${SHEETPROP_NO_APT:-}" ]; then
    echo "setup.sh: SHEETPROP_NO_APT is set: not installing $*" >&2
    return 0
  fi
  apt-get update -q && apt-get install -y -q --no-install-recommends "$@"
}

recent() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && recent "$candidate"; then
    PYTHON="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$PYTHON" ]; then  # Ubuntu 22.04's python3 is 3.10
  apt_install python3.11 python3.11-venv
  PYTHON="$(command -v python3.11)"
elif ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  apt_install "$(basename "$PYTHON")-venv"
fi
@EXTRA_PACKAGES@
"$PYTHON" -m venv ${SHEETPROP_VENV_OPTIONS:-} "$VENV"
"$VENV/bin/python" -m pip install --no-cache-dir --disable-pip-version-check -q -r "$SOURCE/requirements.txt"
PYTHONPATH="$SOURCE" "$VENV/bin/python" -m sheetprop.reports.autograder --self-test
"""

RUN = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission. It always leaves results/results.json and exits 0.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="$ROOT/sheetprop-venv/bin/python"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3 || echo python3)"
mkdir -p "$ROOT/results"
cd "$ROOT" || exit 0
PYTHONPATH="$ROOT/source" "$PYTHON" -m sheetprop.reports.autograder "$ROOT"
if [ ! -s "$ROOT/results/results.json" ]; then  # Python itself could not start: say so, never leave nothing
  printf '%s\n' '{"score": 0, "output": "The autograder could not run on this submission; your instructor can see why in its output. Nothing is wrong with your file as far as we know: ask for a regrade.", "tests": []}' \
    > "$ROOT/results/results.json"
fi
exit 0
"""

README = """sheetprop {version}: a Gradescope autograder for the spec {spec!r}.

Upload this zip as the autograder of a Gradescope programming assignment (Ubuntu image,
22.04 or later). Students submit their workbook (.xlsx); each quantity is a test.

To try it on your machine the way Gradescope runs it:
  mkdir -p ag/source ag/submission && unzip -q autograder.zip -d ag/source
  cp homework.xlsx ag/submission/
  AUTOGRADER_ROOT=$PWD/ag bash ag/source/setup.sh   # once (SHEETPROP_NO_APT=1 to skip apt-get)
  AUTOGRADER_ROOT=$PWD/ag bash ag/source/run_autograder && cat ag/results/results.json
"""


def requirements() -> list[str]:
    """sheetprop's dependencies pinned to the versions installed here (what was tried is what runs)."""
    try:
        wanted = metadata.requires("sheetprop") or []
    except metadata.PackageNotFoundError:
        raise RuntimeError("sheetprop is not installed (pip install .): cannot tell its dependencies") from None
    pinned = []
    for requirement in wanted:
        if "extra ==" in requirement:
            continue
        name = requirement.split(";")[0].strip()
        for stop in "<>=!~[ (":
            name = name.split(stop)[0]
        pinned.append(f"{name}=={metadata.version(name)}")
    return pinned


def package_files() -> dict[str, bytes]:
    """sheetprop's own files as they are installed here, and its presets: path in the bundle → bytes."""
    from sheetprop.model.spec import preset_names, preset_path

    package = PACKAGE
    files = {}
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".yaml", ".typed"):
            files[f"sheetprop/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    for name in preset_names():
        preset = preset_path(name)
        if preset is not None:
            files.setdefault(f"sheetprop/templates/{name}.yaml", preset.read_bytes())
    return files


def write_bundle(spec: Spec, out: str | Path, options: BundleOptions | None = None) -> dict:
    """Write Gradescope's autograder zip for `spec` to `out` (atomically). Returns what it holds."""
    from sheetprop.files import write_bytes

    options = options or BundleOptions()
    config = {
        "sheetprop": __version__,
        "spec": spec.to_dict(),
        "options": {**options.__dict__},
    }
    extra = ""
    if options.engine == "libreoffice":
        extra = "command -v soffice >/dev/null 2>&1 || apt_install libreoffice-calc-nogui"
    entries: dict[str, tuple[bytes, int]] = {
        "setup.sh": (SETUP.replace("@EXTRA_PACKAGES@", extra).encode(), 0o755),
        "run_autograder": (RUN.encode(), 0o755),
        "requirements.txt": ("\n".join(requirements()).encode() + b"\n", 0o644),
        CONFIG: (json.dumps(config, indent=1, ensure_ascii=False).encode(), 0o644),
        "README.txt": (README.format(version=__version__, spec=spec.name).encode(), 0o644),
    }
    entries.update({name: (data, 0o644) for name, data in package_files().items()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (data, mode) in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16  # a regular file with its permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    write_bytes(out, buffer.getvalue())
    return {"file": str(out), "bytes": len(buffer.getvalue()), "files": len(entries),
            "requirements": requirements(), "spec": spec.name}


# ---------------------------------------------------------------- grading a submission

def find_workbook(folder: Path) -> tuple[Path | None, str]:
    """The one workbook submitted, or None and a sentence for the student.

    The folder is walked breadth first, so a workbook near the top is found however many
    other files or however deep a tree of folders sit beside it; links are not followed, at
    most MAX_SUBMITTED_FILES entries are looked at and folders MAX_DEPTH deep."""
    workbooks: list[Path] = []
    others: list[Path] = []
    for path in _submitted(folder):
        name = path.name
        if name.startswith(("~$", "._", ".")):
            continue  # Excel's lock files, macOS's resource forks, hidden files
        (workbooks if path.suffix.lower() in WORKBOOK_SUFFIXES else others).append(path)
    shown = ", ".join(shown_path(p.relative_to(folder).as_posix()) for p in (workbooks or others)[:5])
    if len(workbooks) == 1:
        return workbooks[0], ""
    if workbooks:
        return None, (f"Your submission holds {len(workbooks)} workbooks ({shown}); submit only the one "
                      "to be graded.")
    spreadsheets = [p for p in others if p.suffix.lower() in OTHER_SPREADSHEETS]
    if spreadsheets:
        return None, (f"{shown_path(spreadsheets[0].name)} is not an Excel workbook (.xlsx): open it and save it as "
                      "\"Excel Workbook (.xlsx)\" (Google Sheets: File → Download → Microsoft Excel), "
                      "then submit that file.")
    found = f" (found: {shown})" if others else ""
    return None, f"No .xlsx workbook in your submission{found}. Submit your spreadsheet saved as .xlsx."


def _submitted(folder: Path) -> Iterator[Path]:
    """The regular files under `folder`, breadth first (each folder's files in name order before its
    subfolders), no link followed, within MAX_SUBMITTED_FILES entries and MAX_DEPTH levels."""
    queue = deque([(folder, 0)])
    seen = 0
    while queue:
        current, depth = queue.popleft()
        try:
            with os.scandir(current) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:  # unreadable, or a path too long
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_SUBMITTED_FILES:
                return
            try:
                if entry.is_file(follow_symlinks=False):
                    yield Path(entry.path)
                elif entry.is_dir(follow_symlinks=False) and depth < MAX_DEPTH and entry.name != "__MACOSX" \
                        and not entry.name.startswith("."):
                    queue.append((Path(entry.path), depth + 1))
            except OSError:
                continue


def load_config(source: Path) -> tuple[Spec, BundleOptions]:
    from sheetprop.model.validate import validate

    config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
    spec = validate(config["spec"], where=f"the autograder's spec ({CONFIG})")
    known = BundleOptions.__dataclass_fields__
    return spec, BundleOptions(**{k: v for k, v in config["options"].items() if k in known})


def grade_submission(root: Path) -> dict:
    """results.json for the submission under `root` (Gradescope's layout)."""
    from sheetprop.grading.batch import grade_files
    from sheetprop.grading.grade import GradeOptions
    from sheetprop.grading.locate import parse_map
    from sheetprop.model.reference import solve
    from sheetprop.reports import text as reports

    start = time.monotonic()
    spec, options = load_config(root / "source")
    workbook, problem = find_workbook(root / "submission")
    if workbook is None:
        return {"score": 0.0, "output": problem, "tests": [], "visibility": "visible"}
    names = solve(spec).graph.names
    cell_map = parse_map(json.dumps(options.cell_map), names, where="the autograder's map") if options.cell_map else {}
    grade_options = GradeOptions(tol=options.tol, points=options.points, cell_map=cell_map,
                                 carried_forward_credit=options.carried_forward_credit,
                                 hardcoded_credit=options.hardcoded_credit, engine=options.engine,
                                 timeout=options.timeout, max_memory=options.max_memory,
                                 max_uncompressed=options.max_size, max_cells=options.max_cells)
    report, = grade_files([workbook], spec, grade_options, jobs=1)
    graded_as = report.file
    report.file = shown_path(workbook.relative_to(root / "submission").as_posix())
    if report.error:  # the student knows the file by its own name, not the container's path
        report.error = report.error.replace(graded_as, report.file)
        report.error += ". If you think your file is fine, ask your instructor to look at it."
    if report.provenance:  # Gradescope shows the standard output to the instructor only
        print(f"note for the instructor: {report.provenance}")
    results = reports.gradescope(report, visibility=options.visibility, by=options.tests, total=options.total)
    results["execution_time"] = round(time.monotonic() - start, 3)
    return results


def self_test(root: Path) -> int:
    """setup.sh's last step: the spec's own worked example, graded by the bundle, gets full marks."""
    import tempfile

    from sheetprop.grading.grade import GradeOptions, grade_file
    from sheetprop.writing.workbook import write_workbook

    spec, options = load_config(root / "source")
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "solution.xlsx"
        write_workbook(spec, book)
        report = grade_file(book, spec, GradeOptions(engine=options.engine, timeout=options.timeout,
                                                     max_memory=options.max_memory, points=options.points))
    if report.error or not report.all_right or (options.total is not None and report.max_score != options.total):
        print(f"self-test failed: the spec's own solution scores {report.score:g} / {report.max_score:g}"
              f" ({report.error or 'some answers judged wrong'})", file=sys.stderr)
        return 1
    print(f"self-test: sheetprop {__version__} grades the solution of {spec.name} "
          f"{report.score:g} / {report.max_score:g} ({options.engine})")
    return 0


def write_results(root: Path, results: dict) -> Path:
    from sheetprop.files import write_text
    from sheetprop.jsonout import dumps

    path = root / "results" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, dumps(results, indent=1))
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    default = Path(os.environ.get("AUTOGRADER_ROOT") or "/autograder")
    if args[:1] == ["--self-test"]:
        return self_test(Path(args[1]) if len(args) > 1 else default)
    root = Path(args[0]) if args else default
    try:
        results = grade_submission(root)
    except Exception as exc:  # never a traceback instead of results: the student sees a sentence
        import traceback

        from sheetprop.errors import one_line

        traceback.print_exc(file=sys.stdout)  # the instructor sees the stdout
        results = {"score": 0.0, "tests": [], "visibility": "visible",
                   "output": f"The autograder failed on this submission ({one_line(exc)}). Nothing shows your "
                             "file is at fault: ask your instructor for a regrade."}
    path = write_results(root, results)
    print(f"sheetprop {__version__} (from {PACKAGE}): score {results.get('score', 0):g}; "
          f"wrote {path}")
    print(results.get("output", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
