"""The command line: a thin layer over the library. Bad input is one `Error:` line, exit 2."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click

from sheetprop import __version__
from sheetprop.cli.params import (ENGINE_CHOICES, MIN_MEMORY, Finite, LearningRates, Seconds, Size, UserError,
                                 check_outputs, judging_options, load_checked, progress, read_input, read_points,
                                 submissions)
from sheetprop.engines import DEFAULT_ENGINE
from sheetprop.errors import SheetpropError, one_line
from sheetprop.files import check_writable, is_special, target, write_text
from sheetprop.isolate import Terminated, handle_termination
from sheetprop.jsonout import dumps
from sheetprop.limits import CHECK_JOBS, CHECK_TIMEOUT, MAX_CELLS, MAX_FORMULA_CELLS, VERIFY_TIMEOUT
from sheetprop.model.spec import load_spec, load_yaml, preset_names
from sheetprop.writing.xlsx import PAPERS


class Interrupted(click.ClickException):
    """Ctrl-C: one line, exit code 130 (the shell's code for an interrupt)."""

    exit_code = 130


def _usage(exc: click.UsageError) -> UserError:
    """A usage error in one line, not click's usage block: which option, what is wrong, where help is."""
    path = f"sheetprop {exc.ctx.info_name}" if exc.ctx and exc.ctx.parent else "sheetprop"
    return UserError(f"{exc.format_message().rstrip('.')} (see `{path} --help`)")


class _Main(click.Group):
    """Every failure is one `Error: …` line, never a traceback (SHEETPROP_DEBUG=1 shows it)."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # `sheetprop -x`: the same one line as a command's
            raise _usage(exc) from None

    def invoke(self, ctx):
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
        handle_termination()  # `kill`, `timeout`, `docker stop`, a closed terminal: unwind like Ctrl-C
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _usage(exc) from None
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
    from sheetprop.writing.exercise import parse_blank
    from sheetprop.writing.workbook import write_workbook

    network = load_checked(spec, epochs, max_cells, training=not (exercise or blank is not None), etas=etas)
    sections = None
    if exercise or blank is not None:
        try:
            sections = parse_blank(blank)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if network.sweep:
            click.echo(f"note: an exercise is set with one learning rate: η = {network.eta_text(network.etas[0])}, "
                       "the first of the sweep", err=True)
            network = replace(network, sweep=())
    output = output or Path(Path(spec).stem + ".xlsx")
    real = target(output)
    if output.suffix.lower() != ".xlsx" and not is_special(output):
        raise UserError(f"{output}: the output must end in .xlsx")
    if Path(spec).exists() and real == target(spec):
        raise UserError(f"{output}: that is the spec itself; choose another output name")
    check_writable(output, "the output")
    start = time.perf_counter()
    try:
        counts = write_workbook(network, output, progress=progress("rows written", not as_json), exercise=sections,
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
        where = (f"on each of {len(network.etas)} Training sheets (η = {', '.join(network.eta_text(e) for e in network.etas)}) "
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
    from sheetprop.verifying.verify import verify_workbook

    status: Callable[[str], None] | None = None
    if not as_json and sys.stderr.isatty():
        def show(message: str) -> None:
            click.echo(f"\r\033[K{message}", err=True, nl=False)

        status = show

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
    from sheetprop.model.reference import reference_json

    result = reference_json(load_checked(spec, epochs, max_cells, etas=etas))
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
    from sheetprop.solution.explain import render
    from sheetprop.model.reference import solve

    fmt = fmt or ("html" if output is not None and output.suffix.lower() in (".html", ".htm") else "md")
    network = load_checked(spec, training=False)
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


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option("--spec", "spec_ref", help="The spec the exercise was made from (a file or a preset name). Without it "
                                       "the network and its given values are read from each workbook (the "
                                       "assignment's 2-2-2 sigmoid network, with or without biases).")
@click.option("--eta", "eta", type=Finite(minimum=0, above=True), metavar="RATE",
              help="The learning rate the exercise was set with, when it is not the spec's (generate --eta).")
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
              help="YAML file of points per answer: names, sections (forward, loss, backward, gradients, "
                   "update), glob patterns (new_*) or default.  [default: 1 per answer]")
@judging_options
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
def check(files: tuple[Path, ...], spec_ref: str | None, eta: float | None, as_json: bool, gradescope: Path | None, csv_path: Path | None,
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
    from sheetprop.grading import grade as G
    from sheetprop.reports import text as reports_
    from sheetprop.model.reference import solve
    from sheetprop.grading.batch import grade_files
    from sheetprop.grading.locate import parse_map

    if eta is not None and not spec_ref:
        raise UserError("--eta changes the learning rate of the spec: pass --spec too")
    files = submissions(files)
    network = load_checked(spec_ref, max_cells=max_cells, training=False, etas=(eta,) if eta else None) \
        if spec_ref else None
    if gradescope and len(files) != 1:
        raise UserError("--gradescope writes the results of one submission: pass one file")
    outputs = (("--csv", csv_path), ("--html", html_path), ("--gradescope", gradescope))
    check_outputs({option: p for option, p in outputs if p},
                   [*files, Path(spec_ref) if spec_ref else None, map_path, points_path])
    # the first update worked out: a spec that overflows stops here
    sol = solve(network or load_spec("mazur"))
    names = sol.graph.names
    cell_map = {}
    if map_path:
        try:
            cell_map = parse_map(read_input(map_path, "map file (YAML)"), names, where=str(map_path))
        except ValueError as exc:
            raise UserError(str(exc)) from None
    points = read_points(points_path, sol, strict=network is not None) if points_path else {}
    options = G.GradeOptions(tol=tol, points=points, carried_forward_credit=carried_forward_credit,
                             hardcoded_credit=hardcoded_credit, cell_map=cell_map, engine=engine, timeout=timeout,
                             max_memory=max_memory, max_uncompressed=max_size, max_cells=max_cells)
    reports = grade_files(files, network, options, jobs=jobs, progress=progress("files graded", not as_json))

    if as_json:
        click.echo(dumps([r.to_json() for r in reports], indent=1))
    elif len(reports) == 1:
        click.echo("\n".join(reports_.text_report(reports[0])))
    else:
        for report in reports:
            click.echo("\n".join(reports_.text_report(report) if details else [reports_.headline(report)]))
        click.echo("")
        click.echo("\n".join(reports_.summary_table(reports)))
    writing: Path | None = None
    try:
        if csv_path:
            writing = csv_path
            reports_.write_csv(reports, csv_path)
        if html_path:
            from sheetprop.reports.classpage import class_page

            writing = html_path
            write_text(html_path, class_page(reports, title=f"{network.name}: class report" if network else None))
        if gradescope:
            writing = gradescope
            write_text(gradescope, dumps(reports_.gradescope(reports[0]), indent=1))
    except OSError as exc:
        raise UserError(f"{writing}: cannot write: {exc.strerror or exc}") from None
    sys.exit(reports_.exit_code(reports))


@main.command()
@click.option("--spec", "spec_ref", required=True, help="The spec the exercise was made from (a file or a preset name).")
@click.option("--eta", "eta", type=Finite(minimum=0, above=True), metavar="RATE",
              help="The learning rate the exercise was set with, when it is not the spec's (generate --eta).")
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
@judging_options
@click.option("--timeout", type=Seconds(), default=str(int(CHECK_TIMEOUT)), show_default=True,
              help="Seconds one submission may take; a longer one scores 0 with a message.")
@click.option("--max-memory", type=Size(MIN_MEMORY, "grading needs at least"), default="2G", show_default=True,
              help="Memory one submission may use.")
@click.option("--max-size", type=Size(), default="100M", show_default=True,
              help="Refuse a workbook that expands to more than this once unzipped.")
@click.option("--max-cells", type=click.IntRange(min=1), default=MAX_CELLS, show_default=True,
              help="Refuse a workbook holding more cells than this.")
@click.option("--json", "as_json", is_flag=True, help="Print what the bundle holds as JSON.")
def autograder(spec_ref: str, eta: float | None, output: Path, points_path: Path | None, map_path: Path | None, tests_by: str | None,
               visibility: str, tol: float, carried_forward_credit: float, hardcoded_credit: float, engine: str,
               timeout: float | None, max_memory: int, max_size: int, max_cells: int, as_json: bool) -> None:
    """Write a Gradescope autograder (a zip) that grades each submitted workbook against SPEC.

    The zip holds setup.sh and run_autograder (Gradescope's entry points), this version of
    sheetprop with its dependencies pinned, the spec and the options. Each quantity (or
    section) becomes a test with the student's value, the expected one and the likely
    mistake; a submission without exactly one .xlsx, or one that cannot be graded, scores 0
    with a message the student can act on.
    """
    from sheetprop.reports.autograder import BundleOptions, write_bundle
    from sheetprop.model.graph import SECTIONS
    from sheetprop.grading.judge import full_marks
    from sheetprop.grading.locate import parse_map
    from sheetprop.model.reference import solve

    network = load_checked(spec_ref, max_cells=max_cells, training=False, etas=(eta,) if eta else None)
    if output.suffix.lower() != ".zip" and not is_special(output):
        raise UserError(f"{output}: the autograder must end in .zip (Gradescope takes a zip)")
    check_outputs({"-o": output}, [Path(spec_ref), points_path, map_path])
    sol = solve(network)
    names = sol.graph.names
    cell_map: dict[str, str] = {}
    if map_path:
        text = read_input(map_path, "map file (YAML)")
        try:
            parse_map(text, names, where=str(map_path))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        cell_map = {str(k): str(v) for k, v in load_yaml(text, str(map_path)).items()}
    points = read_points(points_path, sol) if points_path else {}
    if tests_by is None:
        tests_by = "section" if points and set(points) <= {*SECTIONS, "given", "default"} else "quantity"
    options = BundleOptions(points=points, cell_map=cell_map, tol=tol, carried_forward_credit=carried_forward_credit,
                            hardcoded_credit=hardcoded_credit, engine=engine, timeout=timeout, max_memory=max_memory,
                            max_size=max_size, max_cells=max_cells, visibility=visibility, tests=tests_by,
                            total=full_marks(sol, points))
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
                   f"engine {engine}, a test per {tests_by}); upload it as the assignment's autograder and give "
                   f"the assignment {options.total:g} points")
