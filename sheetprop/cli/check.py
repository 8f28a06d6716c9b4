"""`sheetprop check` and `autograder`: grade students' workbooks here, or on Gradescope."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sheetprop import __version__
from sheetprop.cli.group import main
from sheetprop.cli.params import (LearningRates, UserError, check_outputs, judging_options, limit_options,
                                  load_checked, marking, progress, read_input, read_points, submissions)
from sheetprop.files import is_special, write_text
from sheetprop.jsonout import dumps
from sheetprop.limits import CHECK_JOBS
from sheetprop.model.spec import load_yaml


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option("--spec", "spec_ref", help="The spec the exercise was made from (a file or a preset name). Without it "
                                       "the network and its given values are read from each workbook (the "
                                       "assignment's 2-2-2 sigmoid network, with or without biases).")
@click.option("--eta", "eta", type=LearningRates(), metavar="RATES",
              help="The learning rate the exercise was set with when it is not the spec's, or the sweep of them "
                   "(0.1,0.2,0.5,0.8,1,2: each training run is judged with its own, and the report says which "
                   "are missing), as for generate --eta.")
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
@limit_options(timeout="Seconds one file may take; a file that takes longer gets an error and the others are graded.",
               memory="Memory one file may use (512M, 4G); a file that needs more gets an error.",
               size="Refuse a workbook that expands to more than this once unzipped (zip bombs).",
               cells="Refuse a workbook holding more cells than this (and a spec whose exercise would).")
@click.option("-d", "--details", is_flag=True, help="With several files, list every quantity of every file.")
@click.option("--brief", "--only-wrong", "brief", is_flag=True,
              help="Print only the student's view: the verdict, what to fix first and each cell to fix (the "
                   "student's own word and cell, their formula, what it should compute, expected and got).")
def check(files: tuple[Path, ...], spec_ref: str | None, eta: tuple[float, ...] | None, as_json: bool, gradescope: Path | None, csv_path: Path | None,
          html_path: Path | None, map_path: Path | None, points_path: Path | None, tol: float,
          carried_forward_credit: float, hardcoded_credit: float, engine: str, jobs: int, timeout: float,
          max_memory: int, max_size: int, max_cells: int, details: bool, brief: bool) -> None:
    """Grade students' workbooks FILES against SPEC (or the network each workbook shows).

    Each quantity is found by its name, a map entry, the structure of the formulas or a
    label, recomputed from the student's own formulas, and reported as correct,
    carried_forward (right given the student's earlier values), incorrect (with the likely
    mistake), missing, hardcoded or error. Every row-per-iteration table is checked
    update by update. A report leads with the verdict and what to fix first; every score
    is out of the assignment's total (what a sheet showing every quantity earns). Exit 0
    when every answer is right, 1 when one is wrong, 2 when a file could not be used.

    Files are untrusted: each is graded in a process of its own within the limits below,
    never written to, and no macro or link in it is followed.
    """
    from sheetprop.grading import grade as G
    from sheetprop.grading.batch import grade_files
    from sheetprop.grading.judge import full_marks
    from sheetprop.reports import text as reports_
    from sheetprop.reports.scores import class_total, report_json

    if eta is not None and not spec_ref:
        raise UserError("--eta changes the learning rate of the spec: pass --spec too")
    files = submissions(files)
    network = load_checked(spec_ref, max_cells=max_cells, training=False, etas=eta) \
        if spec_ref else None
    if gradescope and len(files) != 1:
        raise UserError("--gradescope writes the results of one submission: pass one file")
    outputs = (("--csv", csv_path), ("--html", html_path), ("--gradescope", gradescope))
    check_outputs({option: p for option, p in outputs if p},
                   [*files, Path(spec_ref) if spec_ref else None, map_path, points_path])
    sol, cell_map, points = marking(network, map_path, points_path)
    options = G.GradeOptions(tol=tol, points=points, carried_forward_credit=carried_forward_credit,
                             hardcoded_credit=hardcoded_credit, cell_map=cell_map, engine=engine, timeout=timeout,
                             max_memory=max_memory, max_uncompressed=max_size, max_cells=max_cells)
    reports = grade_files(files, network, options, jobs=jobs, progress=progress("files graded", not as_json))
    total = class_total(reports, full_marks(sol, points) if network else None)

    if as_json:
        click.echo(dumps([report_json(r, total) for r in reports], indent=1))
    elif len(reports) == 1:
        click.echo("\n".join(reports_.text_report(reports[0], total, brief=brief)))
    else:
        for report in reports:
            click.echo("\n".join(reports_.text_report(report, total, brief=brief) if details or brief
                                 else [reports_.headline(report, total), *reports_.for_the_instructor(report)]))
        click.echo("")
        click.echo("\n".join(reports_.summary_table(reports, total=total)))
    writing: Path | None = None
    try:
        if csv_path:
            writing = csv_path
            reports_.write_csv(reports, csv_path, total)
        if html_path:
            from sheetprop.reports.classpage import class_page

            writing = html_path
            write_text(html_path, class_page(reports, title=f"{network.name}: class report" if network else None,
                                             total=total))
        if gradescope:
            writing = gradescope
            write_text(gradescope, dumps(reports_.gradescope(reports[0], total=total), indent=1))
    except OSError as exc:
        raise UserError(f"{writing}: cannot write: {exc.strerror or exc}") from None
    sys.exit(reports_.exit_code(reports))


@main.command()
@click.option("--spec", "spec_ref", required=True, help="The spec the exercise was made from (a file or a preset name).")
@click.option("--eta", "eta", type=LearningRates(), metavar="RATES",
              help="The learning rate the exercise was set with when it is not the spec's, or the sweep of them "
                   "(0.1,0.2,0.5,0.8,1,2: each training run is judged with its own, and the report says which "
                   "are missing), as for generate --eta.")
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
@limit_options(timeout="Seconds one submission may take; a longer one scores 0 with a message.",
               memory="Memory one submission may use.",
               size="Refuse a workbook that expands to more than this once unzipped.",
               cells="Refuse a workbook holding more cells than this.")
@click.option("--json", "as_json", is_flag=True, help="Print what the bundle holds as JSON.")
def autograder(spec_ref: str, eta: tuple[float, ...] | None, output: Path, points_path: Path | None, map_path: Path | None, tests_by: str | None,
               visibility: str, tol: float, carried_forward_credit: float, hardcoded_credit: float, engine: str,
               timeout: float | None, max_memory: int, max_size: int, max_cells: int, as_json: bool) -> None:
    """Write a Gradescope autograder (a zip) that grades each submitted workbook against SPEC.

    The zip holds setup.sh and run_autograder (Gradescope's entry points), this version of
    sheetprop with its dependencies pinned, the spec and the options. Each quantity (or
    section) becomes a test with the student's value, the expected one and the likely
    mistake; a submission without exactly one .xlsx, or one that cannot be graded, scores 0
    with a message the student can act on.
    """
    from sheetprop.grading.judge import full_marks
    from sheetprop.grading.locate import parse_map
    from sheetprop.model.graph import SECTIONS
    from sheetprop.model.reference import solve
    from sheetprop.reports.autograder import BundleOptions, write_bundle

    network = load_checked(spec_ref, max_cells=max_cells, training=False, etas=eta)
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
