"""The command line: a thin layer over the library. Bad input is one `Error:` line, exit 2."""

from __future__ import annotations

import math
import os
import re
import signal
import sys
import time
from pathlib import Path

import click

from sheetprop import __version__
from sheetprop.errors import SheetpropError, one_line
from sheetprop.files import InputError, check_writable, is_special, read_text, target, write_text
from sheetprop.isolate import Terminated, handle_termination
from sheetprop.jsonout import dumps
from sheetprop.engines import DEFAULT_ENGINE, ENGINES
from sheetprop.limits import CHECK_JOBS, CHECK_TIMEOUT, MAX_CELLS, MAX_FORMULA_CELLS, MAX_SPEC_BYTES, VERIFY_TIMEOUT
from sheetprop.spec import MAX_SWEEP, SpecError, check_budget, load_spec, load_yaml, preset_names, with_sweep
from sheetprop.xlsx import PAPERS
from sheetprop.network import with_epochs

ENGINE_CHOICES = ENGINES


class UserError(click.ClickException):
    """Input that cannot be used: one `Error: …` line per problem, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        for line in self.format_message().splitlines() or [""]:
            click.echo(f"Error: {line}", err=True)


class Interrupted(click.ClickException):
    """Ctrl-C: one line, exit code 130 (the shell's code for an interrupt)."""

    exit_code = 130


class _Main(click.Group):
    """Every failure is one `Error: …` line, never a traceback (SHEETPROP_DEBUG=1 shows it)."""

    def invoke(self, ctx):
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
        handle_termination()  # `kill`, `timeout`, `docker stop`, a closed terminal: unwind like Ctrl-C
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise Interrupted("interrupted; no output file was written or changed") from None
        except Terminated as exc:
            name = signal.Signals(exc.signum).name
            click.echo(f"Error: stopped by {name}; no output file was written or changed", err=True)
            sys.exit(128 + exc.signum)
        except SheetpropError as exc:  # a spec, workbook, engine, limit or output problem: one line
            raise UserError(str(exc)) from None
        except BrokenPipeError:  # `sheetprop presets | head -1`: the reader has all it wants
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except Exception as exc:
            if os.environ.get("SHEETPROP_DEBUG"):
                raise
            raise UserError(f"internal error ({one_line(exc)}); run again with "
                            "SHEETPROP_DEBUG=1 for the details and report it") from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


MIN_MEMORY = 512 * 2**20  # what a child process needs to run at all (it starts as a copy of this one)


class Size(click.ParamType):
    """A size in bytes written as 100M, 2G, 512MiB or 1.5GB (binary units); a bare number is MiB."""

    name = "SIZE"
    _UNITS = {"": 2**20, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}

    def __init__(self, minimum: int = 1, why: str = ""):
        self.minimum, self.why = minimum, why

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(value), re.IGNORECASE)
        if not m or float(m[1]) <= 0:
            self.fail(f"{value!r} is not a size such as 100M or 2G", param, ctx)
        size = int(float(m[1]) * self._UNITS[m[2].lower()])
        if size < self.minimum:
            self.fail(f"{value!r} is too small: {self.why or 'at least'} {self.minimum // 2**20}M", param, ctx)
        return size


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
    """A time limit in seconds (at least 1), or `none` for no limit."""

    name = "SECONDS"

    def __init__(self):
        super().__init__(minimum=1)

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
        if len(set(rates)) != len(rates):
            self.fail(f"{value!r} lists a learning rate twice", param, ctx)
        return tuple(rates)


def _load(spec_ref: str, epochs: int | None = None, max_cells: int | None = None, training: bool = True,
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


def _progress(label: str, enabled: bool):
    """A callback that redraws `label: done/total` on a terminal; None when quiet."""
    if not enabled or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        click.echo(f"\r{label}: {done:,}/{total:,}", err=True, nl=False)
        if end:
            click.echo("", err=True)

    return show


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sheetprop")
def main() -> None:
    """Backpropagation as live spreadsheet formulas.

    Generate a workbook from a network spec (a YAML file or a preset name), verify a
    workbook's formulas against sheetprop's reference maths, or print the reference.
    """


@main.command()
@click.argument("spec")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The .xlsx to write (default: the spec's name with .xlsx, here).")
@click.option("--epochs", type=click.IntRange(min=0), help="Passes over the data on the Training sheet (overrides the spec).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.option("--max-cells", type=click.IntRange(min=1), default=MAX_FORMULA_CELLS, show_default=True,
              help="Refuse specs whose workbook would hold more formula cells than this.")
@click.option("--exercise", is_flag=True,
              help="Write an exercise: the answers left blank for the student, no stored results, no Training sheet.")
@click.option("--blank", metavar="SECTIONS",
              help="Sections to leave blank in an exercise (implies --exercise), comma-separated: forward, loss, "
                   "backward, gradients, update (gradients and new values), all.  [default: all]")
@click.option("--eta", "etas", type=LearningRates(), metavar="RATES",
              help="Learning rate, or a sweep of them comma-separated (0.1,0.2,0.5,0.8,1,2): a Training sheet "
                   "per rate and a Sweep sheet charting their losses together (overrides the spec).")
@click.option("--paper", type=click.Choice(sorted(PAPERS)), default="a4", show_default=True,
              help="Paper size of the print set-up (every sheet landscape, one page wide).")
def generate(spec: str, output: Path | None, epochs: int | None, as_json: bool, max_cells: int, exercise: bool,
             blank: str | None, etas: tuple[float, ...] | None, paper: str) -> None:
    """Write the workbook for SPEC (a spec file or a preset name).

    Every quantity of the first update is a live, named formula on the Network sheet;
    the Training sheet unrolls every update of the run with a chart of the loss.
    With --exercise, the same layout and names with the answers left blank.
    """
    from sheetprop.exercise import parse_blank
    from sheetprop.workbook import write_workbook

    network = _load(spec, epochs, max_cells, training=not (exercise or blank is not None), etas=etas)
    sections = None
    if exercise or blank is not None:
        try:
            sections = parse_blank(blank)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    output = output or Path(Path(spec).stem + ".xlsx")
    real = target(output)
    if output.suffix.lower() != ".xlsx" and not is_special(output):
        raise UserError(f"{output}: the output must end in .xlsx")
    if Path(spec).exists() and real == target(spec):
        raise UserError(f"{output}: that is the spec itself; choose another output name")
    check_writable(output, "the output")
    start = time.perf_counter()
    try:
        counts = write_workbook(network, output, progress=_progress("rows written", not as_json), exercise=sections,
                                paper=paper)
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    seconds = time.perf_counter() - start
    if as_json:
        click.echo(dumps({"file": str(output), "seconds": round(seconds, 3), **counts}))
    elif sections is not None:
        click.echo(f"Wrote exercise {output}: {counts['answers']} cells to fill in, {counts['formulas']} formulas "
                   f"given, {counts['names']} names ({seconds:.2f} s)")
    else:
        updates = f"{counts['updates']:,} update{'s' if counts['updates'] != 1 else ''}"
        where = (f"on each of {len(network.etas)} Training sheets (η = {', '.join(f'{e:g}' for e in network.etas)}) "
                 "and a Sweep sheet" if network.sweep else "on the Training sheet")
        click.echo(f"Wrote {output}: {counts['formulas']:,} formulas, {counts['names']} names, "
                   f"{updates} {where} ({seconds:.2f} s)")



@main.command()
@click.argument("workbook", type=click.Path(path_type=Path))
@click.option("--engine", type=click.Choice(ENGINE_CHOICES), default=DEFAULT_ENGINE, show_default=True,
              help="The formula engine that recomputes the workbook: ironcalc (Rust, embedded), formulas "
                   "(the formulas package, pure Python), libreoffice (the real application, headless).")
@click.option("--tol", type=Finite(minimum=0), default=1e-9, show_default=True,
              help="Relative tolerance for each cell.")
@click.option("--timeout", type=Seconds(), default=str(int(VERIFY_TIMEOUT)), show_default=True,
              help="Give up on the engine after this many seconds ('none': no limit).")
@click.option("--max-memory", type=Size(MIN_MEMORY, "an engine needs at least"), default="4G", show_default=True,
              help="Memory the engine may use (512M, 8G); a workbook that needs more is stopped.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(workbook: Path, engine: str, tol: float, timeout: float | None, max_memory: int, as_json: bool) -> None:
    """Recompute WORKBOOK's formulas with an engine and compare every cell with the reference.

    The given values are read from the workbook's own input cells. Exit 0 when every
    cell agrees, 1 on a mismatch, 2 when the file cannot be used.
    """
    from sheetprop.verify import verify_workbook

    status = None
    if not as_json and sys.stderr.isatty():
        def status(message: str) -> None:
            click.echo(f"\r\033[K{message}", err=True, nl=False)

    report = verify_workbook(workbook, engine=engine, tol=tol, timeout=timeout, max_memory=max_memory, status=status)
    if status:
        status("")
    if as_json:
        click.echo(dumps(report.to_json(), indent=2))
    elif report.error:
        click.echo(f"Error: {report.error}", err=True)
    else:
        for change in report.input_changes:
            click.echo(f"note: given value changed in the workbook: {change}")
        if report.input_changes:
            click.echo("note: the reference uses the workbook's values, not the embedded spec's")
        summary = (f"{report.cells:,} formula cells and {report.names} names, engine {engine}, "
                   f"worst relative error {report.worst_rel_error:.1e}, {report.seconds:.2f} s")
        if report.ok:
            click.echo(f"{workbook}: OK: every cell agrees with the reference ({summary})")
        else:
            click.echo(f"{workbook}: {len(report.mismatches):,} of {report.cells:,} cells disagree "
                       f"with the reference (tolerance {tol:g}; {summary})")
            for m in report.mismatches[:50]:
                click.echo(f"  {m.what}  {m.cell}  expected {m.expected!r}  got {m.got!r}")
            if len(report.mismatches) > 50:
                click.echo(f"  … and {len(report.mismatches) - 50:,} more (--json lists them all)")
    sys.exit(2 if report.error else 0 if report.ok else 1)


@main.command()
@click.argument("spec")
@click.option("--epochs", type=click.IntRange(min=0), help="Passes over the data (overrides the spec).")
@click.option("--json", "as_json", is_flag=True, help='Print {"names": {...}, "loss": [...]} as JSON.')
@click.option("--max-cells", type=click.IntRange(min=1), default=MAX_FORMULA_CELLS, show_default=True,
              help="Refuse specs whose workbook would hold more formula cells than this.")
@click.option("--eta", "etas", type=LearningRates(), metavar="RATES",
              help="Learning rate, or a sweep of them comma-separated (overrides the spec).")
def reference(spec: str, epochs: int | None, as_json: bool, max_cells: int, etas: tuple[float, ...] | None) -> None:
    """Print the reference values of SPEC: every name of the first update, and the loss after each update."""
    from sheetprop.reference import reference_json

    result = reference_json(_load(spec, epochs, max_cells, etas=etas))
    if as_json:
        click.echo(dumps(result, indent=1))
        return
    click.echo(f"{result['name']}: first update")
    width = max(len(n) for n in result["names"])
    for name, value in result["names"].items():
        click.echo(f"  {name:<{width}}  {value!r}")
    loss = result["loss"]
    click.echo(f"loss after 0 updates: {loss[0]!r}; after {len(loss) - 1}: {loss[-1]!r}")
    for run in result.get("sweep", []):
        click.echo(f"  η = {run['learning_rate']:g}: loss after {len(run['loss']) - 1} updates: {run['loss'][-1]!r}")


@main.command()
@click.argument("spec")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (default: markdown to stdout; HTML to the spec's name with .html, here).")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]),
              help="md: GitHub markdown with $…$ maths; html: one self-contained page that renders offline.  "
                   "[default: html for an -o ending in .html, else md]")
def explain(spec: str, output: Path | None, fmt: str | None) -> None:
    """Write the worked solution of SPEC's first update, as a tutorial does.

    For every quantity, in the tutorial's order (forward pass, loss, then each layer's
    backward pass and update from the output down): its formula, the same formula with the
    numbers put in, and the result, every number from the reference.
    """
    from sheetprop.explain import render
    from sheetprop.reference import solve

    fmt = fmt or ("html" if output is not None and output.suffix.lower() in (".html", ".htm") else "md")
    network = _load(spec, training=False)
    if output is None and fmt == "html":
        output = Path(Path(spec).stem + ".html")
    if output is not None:
        if Path(spec).exists() and target(output) == target(spec):
            raise UserError(f"{output}: that is the spec itself; choose another output name")
        check_writable(output, "the output")
    text = render(solve(network), fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_text(output, text)
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"Wrote {output}: the worked solution of the first update of {network.name}")


@main.command()
def presets() -> None:
    """List the built-in example specs, usable by name wherever a SPEC is accepted."""
    for name in preset_names():
        spec = load_spec(name)
        sizes = "-".join(str(s) for s in spec.sizes)
        acts = "/".join(dict.fromkeys(layer.activation for layer in spec.layers[1:]))
        n = len(spec.data)
        click.echo(f"{name:<12} {spec.name}: {sizes} {acts}, {spec.loss}, η = {spec.learning_rate:g}, "
                   f"{n} sample{'s' if n > 1 else ''}")


def _judging_options(command):
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


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option("--spec", "spec_ref", help="The spec the exercise was made from (a file or a preset name). Without it "
                                       "the network and its given values are read from each workbook (the "
                                       "assignment's 2-2-2 sigmoid network, with or without biases).")
@click.option("--json", "as_json", is_flag=True, help="Print a list of reports, one per file, as JSON.")
@click.option("--gradescope", type=click.Path(dir_okay=False, path_type=Path),
              help="Write Gradescope's autograder results.json here (one file only).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one row per file (student, score, first mistake) for the gradebook.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one self-contained HTML page for the class: the table, every answer as a heat map, "
                   "the mistakes by how many made them, the scores and the loss curves.")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file mapping names to cells (net_h1: Sheet1!B7) for layouts without names or labels.")
@click.option("--points", "points_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file of points per quantity: names, sections (forward, loss, backward, gradients, "
                   "update, given), glob patterns (new_*) or default.  [default: 1 per answer]")
@_judging_options
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=CHECK_JOBS, show_default=True,
              help="Files graded at once, each in a process of its own (one per core).")
@click.option("--timeout", type=Seconds(), default=str(int(CHECK_TIMEOUT)), show_default=True,
              help="Seconds one file may take; a file that takes longer gets an error and the others are graded.")
@click.option("--max-memory", type=Size(MIN_MEMORY, "grading needs at least"), default="2G", show_default=True,
              help="Memory one file may use (512M, 4G); a file that needs more gets an error.")
@click.option("--max-size", type=Size(), default="100M", show_default=True,
              help="Refuse a workbook that expands to more than this once unzipped (zip bombs).")
@click.option("--max-cells", type=click.IntRange(min=1), default=MAX_CELLS, show_default=True,
              help="Refuse a workbook holding more cells than this (and a spec whose exercise would).")
@click.option("-d", "--details", is_flag=True, help="With several files, list every quantity of every file.")
def check(files: tuple[Path, ...], spec_ref: str | None, as_json: bool, gradescope: Path | None, csv_path: Path | None,
          html_path: Path | None, map_path: Path | None, points_path: Path | None, tol: float,
          carried_forward_credit: float, hardcoded_credit: float, engine: str, jobs: int, timeout: float,
          max_memory: int, max_size: int, max_cells: int, details: bool) -> None:
    """Grade students' workbooks FILES against SPEC (or the network each workbook shows).

    Each quantity is found by its name, a map entry, the structure of the formulas or a
    label, recomputed from the student's own formulas, and reported as correct,
    carried_forward (right given the student's earlier values), incorrect (with the likely
    mistake), missing, hardcoded or error. Every row-per-iteration table is checked
    update by update. Exit 0 when every answer is right, 1 when one is wrong, 2 when a
    file could not be used.

    Files are untrusted: each is graded in a process of its own within the limits below,
    never written to, and no macro or link in it is followed.
    """
    from sheetprop import grade as G
    from sheetprop import reports as reports_
    from sheetprop.reference import solve
    from sheetprop.batch import grade_files
    from sheetprop.locate import parse_map

    network = _load(spec_ref, max_cells=max_cells, training=False) if spec_ref else None
    if gradescope and len(files) != 1:
        raise UserError("--gradescope writes the results of one submission: pass one file")
    outputs = (("--csv", csv_path), ("--html", html_path), ("--gradescope", gradescope))
    _check_outputs({option: p for option, p in outputs if p},
                   [*files, Path(spec_ref) if spec_ref else None, map_path, points_path])
    # the first update worked out: a spec that overflows stops here
    names = solve(network or load_spec("mazur-nobias")).graph.names
    cell_map = {}
    if map_path:
        try:
            cell_map = parse_map(_read_text(map_path, "map file (YAML)"), names, where=str(map_path))
        except ValueError as exc:
            raise UserError(str(exc)) from None
    points = _points(points_path) if points_path else {}
    options = G.GradeOptions(tol=tol, points=points, carried_forward_credit=carried_forward_credit,
                             hardcoded_credit=hardcoded_credit, cell_map=cell_map, engine=engine, timeout=timeout,
                             max_memory=max_memory, max_uncompressed=max_size, max_cells=max_cells)
    reports = grade_files(files, network, options, jobs=jobs, progress=_progress("files graded", not as_json))

    if as_json:
        click.echo(dumps([r.to_json() for r in reports], indent=1))
    elif len(reports) == 1:
        click.echo("\n".join(reports_.text_report(reports[0])))
    else:
        for report in reports:
            click.echo("\n".join(reports_.text_report(report) if details else [reports_.headline(report)]))
        click.echo("")
        click.echo("\n".join(reports_.summary_table(reports)))
    try:
        if csv_path:
            reports_.write_csv(reports, csv_path)
        if html_path:
            from sheetprop.htmlreport import class_page

            write_text(html_path, class_page(reports, title=f"{network.name}: class report" if network else None))
        if gradescope:
            write_text(gradescope, dumps(reports_.gradescope(reports[0]), indent=1))
    except OSError as exc:
        raise UserError(f"cannot write {exc.filename or 'the output'}: {exc.strerror or exc}") from None
    sys.exit(reports_.exit_code(reports))


@main.command()
@click.option("--spec", "spec_ref", required=True, help="The spec the exercise was made from (a file or a preset name).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("autograder.zip"),
              show_default=True, help="The zip to upload as the assignment's autograder.")
@click.option("--points", "points_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file of points per quantity, as for check.  [default: 1 per answer]")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file mapping names to cells, as for check.")
@click.option("--tests", "tests_by", type=click.Choice(["quantity", "section"]),
              help="One Gradescope test per quantity, or per section (forward pass, loss, …).  "
                   "[default: section when --points gives points by section only, else quantity]")
@click.option("--visibility", type=click.Choice(["visible", "hidden", "after_due_date", "after_published"]),
              default="visible", show_default=True, help="When students see the tests' results.")
@_judging_options
@click.option("--timeout", type=Seconds(), default=str(int(CHECK_TIMEOUT)), show_default=True,
              help="Seconds one submission may take; a longer one scores 0 with a message.")
@click.option("--max-memory", type=Size(MIN_MEMORY, "grading needs at least"), default="2G", show_default=True,
              help="Memory one submission may use.")
@click.option("--max-size", type=Size(), default="100M", show_default=True,
              help="Refuse a workbook that expands to more than this once unzipped.")
@click.option("--max-cells", type=click.IntRange(min=1), default=MAX_CELLS, show_default=True,
              help="Refuse a workbook holding more cells than this.")
@click.option("--json", "as_json", is_flag=True, help="Print what the bundle holds as JSON.")
def autograder(spec_ref: str, output: Path, points_path: Path | None, map_path: Path | None, tests_by: str | None,
               visibility: str, tol: float, carried_forward_credit: float, hardcoded_credit: float, engine: str,
               timeout: float | None, max_memory: int, max_size: int, max_cells: int, as_json: bool) -> None:
    """Write a Gradescope autograder (a zip) that grades each submitted workbook against SPEC.

    The zip holds setup.sh and run_autograder (Gradescope's entry points), this version of
    sheetprop with its dependencies pinned, the spec and the options. Each quantity (or
    section) becomes a test with the student's value, the expected one and the likely
    mistake; a submission without exactly one .xlsx, or one that cannot be graded, scores 0
    with a message the student can act on.
    """
    from sheetprop.autograder import BundleOptions, write_bundle
    from sheetprop.graph import SECTIONS
    from sheetprop.locate import parse_map
    from sheetprop.reference import solve

    network = _load(spec_ref, max_cells=max_cells, training=False)
    if output.suffix.lower() != ".zip" and not is_special(output):
        raise UserError(f"{output}: the autograder must end in .zip (Gradescope takes a zip)")
    _check_outputs({"-o": output}, [Path(spec_ref), points_path, map_path])
    names = solve(network).graph.names
    cell_map: dict[str, str] = {}
    if map_path:
        text = _read_text(map_path, "map file (YAML)")
        try:
            parse_map(text, names, where=str(map_path))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        cell_map = {str(k): str(v) for k, v in load_yaml(text, str(map_path)).items()}
    points = _points(points_path) if points_path else {}
    if tests_by is None:
        tests_by = "section" if points and set(points) <= {*SECTIONS, "given", "default"} else "quantity"
    options = BundleOptions(points=points, cell_map=cell_map, tol=tol, carried_forward_credit=carried_forward_credit,
                            hardcoded_credit=hardcoded_credit, engine=engine, timeout=timeout, max_memory=max_memory,
                            max_size=max_size, max_cells=max_cells, visibility=visibility, tests=tests_by)
    try:
        held = write_bundle(network, output, options)
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    if as_json:
        click.echo(dumps(held, indent=1))
    else:
        click.echo(f"Wrote {output}: a Gradescope autograder for {network.name} (sheetprop {__version__}, "
                   f"engine {engine}, a test per {tests_by}); upload it as the assignment's autograder")


def _check_outputs(outputs: dict[str, Path], inputs: list[Path | None]) -> None:
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


def _read_text(path: Path, what: str) -> str:
    try:
        return read_text(path, MAX_SPEC_BYTES, what)
    except InputError as exc:
        raise UserError(str(exc)) from None


def _points(path: Path) -> dict[str, float]:
    try:
        raw = load_yaml(_read_text(path, "points file (YAML)"), str(path))
    except SpecError as exc:
        raise UserError(str(exc)) from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: must map names, sections or patterns to points, e.g. `new_*: 2`")
    points = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1e9:
            raise UserError(f"{path}: {key}: points must be a number from 0 to 1e9, not {str(value)[:40]!r}")
        points[str(key)] = float(value)
    return points
