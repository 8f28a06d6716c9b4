"""The pieces the CLI's commands share: parameter types, loading a spec, the judging options, and
checking inputs and outputs before any work is done. Every failure is a `UserError`: one
`Error: …` line per problem and exit code 2."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import click

from sheetprop.engines import DEFAULT_ENGINE, ENGINES
from sheetprop.files import InputError, check_writable, is_special, read_text, target
from sheetprop.limits import CHECK_TIMEOUT, MAX_CELLS, MAX_FORMULA_CELLS, MAX_SPEC_BYTES
from sheetprop.model.network import with_epochs
from sheetprop.model.spec import MAX_SWEEP, SpecError, check_budget, load_spec, load_yaml, with_sweep
from sheetprop.model.shown import brief
from sheetprop.model.validate import same_rates

ENGINE_CHOICES = ENGINES


class UserError(click.ClickException):
    """Input that cannot be used: one `Error: …` line per problem, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        for line in self.format_message().splitlines() or [""]:
            click.echo(f"Error: {line}", err=True)


MIN_MEMORY = 512 * 2**20  # what a child process needs to run at all (it starts as a copy of this one)
MAX_SIZE = 2**50  # 1 PiB: a memory bound or an unzipped size beyond it is a slip of the keyboard
MAX_SECONDS = 7 * 24 * 3600.0  # a week: a longer time limit is a slip (`none` means no limit)


class Size(click.ParamType):
    """A size in bytes written as 100M, 2G, 512MiB or 1.5GB (binary units); a bare number is MiB.
    At most MAX_SIZE: an absurd one (1e16 bytes) is refused, not passed on to the kernel."""

    name = "SIZE"
    _UNITS = {"": 2**20, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}

    def __init__(self, minimum: int = 1, why: str = ""):
        self.minimum, self.why = minimum, why

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        m = re.fullmatch(r"\s*(\d{1,30}(?:\.\d{1,30})?(?:e\+?\d{1,3})?)\s*([kmgtp]?)(?:i?b)?\s*", str(value),
                         re.IGNORECASE)
        if not m or float(m[1]) <= 0:
            self.fail(f"{value!r} is not a size such as 100M or 2G", param, ctx)
        size = float(m[1]) * self._UNITS[m[2].lower()]
        if size > MAX_SIZE:
            self.fail(f"{value!r} is more than any machine has: at most 1P (1,024 T)", param, ctx)
        if size < self.minimum:
            self.fail(f"{value!r} is too small: {self.why or 'at least'} {self.minimum // 2**20}M", param, ctx)
        return int(size)


class Finite(click.ParamType):
    """A finite number (no NaN, no infinity), at least `minimum` (and at most `maximum`)."""

    name = "NUMBER"

    def __init__(self, minimum: float | None = None, maximum: float | None = None, above: bool = False):
        self.minimum, self.maximum, self.above = minimum, maximum, above

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        low = self.minimum
        if low is not None and (number < low or (self.above and number == low)):
            self.fail(f"{value!r} must be {'greater than' if self.above else 'at least'} {low:g}", param, ctx)
        if self.maximum is not None and number > self.maximum:
            self.fail(f"{value!r} must be at most {self.maximum:g}", param, ctx)
        return number


class Seconds(Finite):
    """A time limit in seconds (at least 1, at most a week), or `none` for no limit."""

    name = "SECONDS"

    def __init__(self):
        super().__init__(minimum=1, maximum=MAX_SECONDS)

    def fail(self, message, param=None, ctx=None):
        if "at most" in message:
            message += " (a week); give 'none' for no limit"
        super().fail(message, param, ctx)

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        return super().convert(value, param, ctx)


class LearningRates(click.ParamType):
    """One learning rate or a comma-separated sweep of them: 0.5, or 0.1,0.2,0.5,0.8,1,2."""

    name = "RATES"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        rates = []
        for part in str(value).split(","):
            rates.append(Finite(minimum=0, above=True).convert(part.strip(), param, ctx))
        if len(rates) > MAX_SWEEP:
            self.fail(f"a sweep of at most {MAX_SWEEP} learning rates, not {len(rates)}", param, ctx)
        same = same_rates(rates)
        if same:
            self.fail(same, param, ctx)
        return tuple(rates)


def load_checked(spec_ref: str, epochs: int | None = None, max_cells: int | None = None, training: bool = True,
          etas: tuple[float, ...] | None = None):
    """Load a spec; `training=False` when no Training sheet is made (its rows don't count)."""
    try:
        spec = with_sweep(with_epochs(load_spec(spec_ref, max_cells=max_cells), epochs), etas)
        if training:
            check_budget(spec, max_cells or MAX_FORMULA_CELLS)
    except SpecError as exc:
        raise UserError(str(exc)) from None
    for note in spec.notes:
        click.echo(f"note: {note}", err=True)
    return spec


def load_checked_budget(spec, max_cells: int | None = None) -> None:
    """Refuse a spec whose workbook, Training sheets included, would hold more than `max_cells` formulas."""
    try:
        check_budget(spec, max_cells or MAX_FORMULA_CELLS)
    except SpecError as exc:
        raise UserError(str(exc)) from None


def progress(label: str, enabled: bool):
    """A callback that redraws `label: done/total` on a terminal; None when quiet."""
    if not enabled or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        click.echo(f"\r{label}: {done:,}/{total:,}", err=True, nl=False)
        if end:
            click.echo("", err=True)

    return show


def judging_options(command):
    """How answers are judged: the options `check` and `autograder` share."""
    for option in reversed([
        click.option("--tol", type=Finite(minimum=0, maximum=1), default=1e-9, show_default=True,
                     help="Relative tolerance when comparing values."),
        click.option("--carried-forward-credit", type=Finite(0, 1), default=1.0, show_default=True,
                     help="Fraction of the points for work that is right given the student's own earlier values."),
        click.option("--hardcoded-credit", type=Finite(0, 1), default=0.0, show_default=True,
                     help="Fraction of the points for a number typed where a formula belongs."),
        click.option("--engine", type=click.Choice(ENGINE_CHOICES), default=DEFAULT_ENGINE, show_default=True,
                     help="The formula engine that recomputes the student's formulas (for the autograder, "
                          "setup.sh installs LibreOffice when it is chosen)."),
    ]):
        command = option(command)
    return command


def limit_options(timeout: str, memory: str, size: str, cells: str):
    """The limits of grading one file (`check`, `autograder`, `serve`), each option with its help text:
    --timeout, --max-memory, --max-size, --max-cells."""
    def add(command):
        for option in reversed([
            click.option("--timeout", type=Seconds(), default=str(int(CHECK_TIMEOUT)), show_default=True, help=timeout),
            click.option("--max-memory", type=Size(MIN_MEMORY, "grading needs at least"), default="2G",
                         show_default=True, help=memory),
            click.option("--max-size", type=Size(), default="100M", show_default=True, help=size),
            click.option("--max-cells", type=click.IntRange(min=1), default=MAX_CELLS, show_default=True, help=cells),
        ]):
            command = option(command)
        return command

    return add


def check_outputs(outputs: dict[str, Path], inputs: list[Path | None]) -> None:
    """Before any grading: an output must be writable, and neither an input nor the other output
    (symbolic links followed: the real files are compared)."""
    taken = {target(p) for p in inputs if p is not None and p.exists()}
    seen: dict[Path, str] = {}  # real paths, and the paths as given (/dev/stdout has no real one)
    for option, out in outputs.items():
        real = target(out)
        if real in taken and not is_special(out):
            raise UserError(f"{out}: {option}: that is one of the input files; choose another output name")
        if real in seen or out in seen:
            raise UserError(f"{out}: {seen.get(real) or seen[out]} and {option} must be different files")
        check_writable(out, option)
        seen[real] = seen[out] = option


def read_input(path: Path, what: str) -> str:
    try:
        return read_text(path, MAX_SPEC_BYTES, what)
    except InputError as exc:
        raise UserError(str(exc)) from None


def read_points(path: Path, sol=None, strict: bool = True) -> dict[str, float]:
    """The points file, checked against the exercise's quantities (`sol`, a reference Solution)."""
    try:
        raw = load_yaml(read_input(path, "points file (YAML)"), str(path))
    except SpecError as exc:
        raise UserError(str(exc)) from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: must map names, sections or patterns to points, e.g. `new_*: 2`")
    points = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1e9:
            raise UserError(f"{path}: {key}: points must be a number from 0 to 1e9, not {brief(value)}")
        points[str(key)] = float(value)
    if sol is not None:
        from sheetprop.grading.judge import points_problems

        problems = points_problems(points, sol, strict)
        if problems:
            raise UserError("\n".join(f"{path}: {problem}" for problem in problems))
    return points


def marking(spec, map_path: Path | None, points_path: Path | None) -> tuple:
    """The first update worked out (a spec that overflows stops here; None: the assignment's network
    read from each workbook, checked as Mazur's), the --map file's cells and the --points file's
    points, checked against it: (solution, cell map, points)."""
    from sheetprop.grading.locate import parse_map
    from sheetprop.model.reference import solve

    sol = solve(spec or load_spec("mazur"))
    cell_map = {}
    if map_path:
        try:
            cell_map = parse_map(read_input(map_path, "map file (YAML)"), sol.graph.names, where=str(map_path))
        except ValueError as exc:
            raise UserError(str(exc)) from None
    points = read_points(points_path, sol, strict=spec is not None) if points_path else {}
    return sol, cell_map, points


def submissions(files: tuple[Path, ...]) -> tuple[Path, ...]:
    """The files to grade: Excel's lock files (`~$bob.xlsx`, left beside a workbook that is open)
    skipped, each with a note."""
    kept: list[Path] = []
    for path in files:
        if path.name.startswith("~$"):
            click.echo(f"note: skipped {path}: Excel's lock file of an open workbook, not a submission", err=True)
            continue
        kept.append(path)
    if not kept:
        raise UserError("no workbook to grade: every file given is a lock file (~$…); pass the workbooks")
    return tuple(kept)

