"""`sheetprop generate`, `reference`, `explain` and `presets`: from a spec to a workbook, the
reference values and the worked solution."""

from __future__ import annotations

import time
from pathlib import Path

import click

from sheetprop.cli.group import main
from sheetprop.cli.params import Finite, LearningRates, UserError, load_checked, load_checked_budget, progress
from sheetprop.files import check_writable, is_special, target, write_text
from sheetprop.jsonout import dumps
from sheetprop.limits import EXPLAIN_MAX_CELLS, MAX_FORMULA_CELLS
from sheetprop.model.spec import load_spec, preset_names
from sheetprop.writing.exercise import MAPS
from sheetprop.writing.xlsx import PAPERS


@main.command()
@click.argument("spec")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The .xlsx to write (default: the spec's name with .xlsx, here).")
@click.option("--epochs", type=click.IntRange(min=0), help="Passes over the data on the Training sheet (overrides the spec).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.option("--max-cells", type=click.IntRange(min=1), default=MAX_FORMULA_CELLS, show_default=True,
              help="Refuse specs whose workbook would hold more formula cells than this.")
@click.option("--exercise", is_flag=True,
              help="Write an exercise (a handout): the answers left blank for the student, no stored results. "
                   "With a sweep (--eta 0.1,0.5) or --epochs it asks for the training run too: a Training sheet "
                   "per learning rate with blank update rows, and the Sweep chart.")
@click.option("--blank", metavar="SECTIONS",
              help="Sections to leave blank in an exercise (implies --exercise), comma-separated: forward, loss, "
                   "backward, gradients, update (gradients and new values), all.  [default: all]")
@click.option("--maths", type=click.Choice(MAPS), metavar="LEVEL",
              help="What an exercise's Maths column says (implies --exercise): formulas (each quantity's formula "
                   "in symbols), inputs (only what it is computed from) or none (the column left out: the "
                   "student derives every formula).  [default: formulas]")
@click.option("--no-maths", is_flag=True, help="The same as --maths none.")
@click.option("--eta", "etas", type=LearningRates(), metavar="RATES",
              help="Learning rate, or a sweep of them comma-separated (0.1,0.2,0.5,0.8,1,2): a Training sheet "
                   "per rate and a Sweep sheet charting their losses together (overrides the spec).")
@click.option("--paper", type=click.Choice(sorted(PAPERS)), default="a4", show_default=True,
              help="Paper size of the print set-up (landscape; the Training sheets in page-wide column groups).")
def generate(spec: str, output: Path | None, epochs: int | None, as_json: bool, max_cells: int, exercise: bool,
             blank: str | None, maths: str | None, no_maths: bool, etas: tuple[float, ...] | None,
             paper: str) -> None:
    """Write the workbook for SPEC (a spec file or a preset name) to a file: -o, else SPEC's name
    with .xlsx in the current folder. Nothing is printed but a line saying what was written.

    Every quantity of the first update is a live, named formula on the Network sheet;
    the Training sheet unrolls every update of the run with a chart of the loss.
    With --exercise, the same layout and names with the answers left blank.
    """
    from sheetprop.writing.exercise import parse_blank
    from sheetprop.writing.workbook import write_workbook

    if no_maths and maths not in (None, "none"):
        raise UserError(f"--no-maths and --maths {maths} say different things: give one of them")
    maths = "none" if no_maths else maths
    exercise = exercise or blank is not None or maths is not None
    # an exercise asks for the training run when the command line (or the spec) sets one: a sweep, or --epochs
    network = load_checked(spec, epochs, max_cells, etas=etas, training=False)
    run = not exercise or bool(network.sweep) or epochs is not None
    if run:
        load_checked_budget(network, max_cells)
    sections = None
    if exercise:
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
        counts = write_workbook(network, output, progress=progress("rows written", not as_json), exercise=sections,
                                paper=paper, maths=maths or "formulas", training=run)
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    seconds = time.perf_counter() - start
    if as_json:
        click.echo(dumps({"file": str(output), "seconds": round(seconds, 3), **counts}))
    elif sections is not None:
        n = counts.get("sheets", 0)
        sheets = (f", {n} Training sheets of {counts['updates']} updates each to fill in and the Sweep chart" if n > 1
                  else f", a Training sheet of {counts['updates']} updates to fill in" if n else "")
        click.echo(f"Wrote exercise {output}: {counts['answers']:,} cells to fill in, {counts['formulas']} formulas "
                   f"given, {counts['names']} names{sheets} ({seconds:.2f} s)")
    else:
        updates = f"{counts['updates']:,} update{'s' if counts['updates'] != 1 else ''}"
        where = (f"on each of {len(network.etas)} Training sheets (η = {', '.join(network.eta_text(e) for e in network.etas)}) "
                 "and a Sweep sheet" if network.sweep else "on the Training sheet")
        click.echo(f"Wrote {output}: {counts['formulas']:,} formulas, {counts['names']} names, "
                   f"{updates} {where} ({seconds:.2f} s)")


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
    click.echo(f"{result['name']}: first update (numbers as a spreadsheet shows them; --json "
               "gives every digit)")
    width = max(len(n) for n in result["names"])
    for name, value in result["names"].items():
        click.echo(f"  {name:<{width}}  {shown(value)}")
    loss = result["loss"]
    click.echo(f"loss after 0 updates: {shown(loss[0])}; after {len(loss) - 1}: {shown(loss[-1])}")
    for run in result.get("sweep", []):
        click.echo(f"  η = {run['learning_rate']:g}: loss after {len(run['loss']) - 1} updates: {shown(run['loss'][-1])}")


def shown(value: float) -> str:
    """A number as Excel and LibreOffice show it in a wide General cell: at most 15 significant digits
    (0.39249999999999996 is 0.3925 there)."""
    return f"{value:.15g}"


@main.command()
@click.argument("spec")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (default: markdown to stdout; HTML to the spec's name with .html, here).")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]),
              help="md: GitHub markdown with $…$ maths; html: one self-contained page that renders offline.  "
                   "[default: html for an -o ending in .html, else md]")
@click.option("--eta", "eta", type=Finite(minimum=0, above=True), metavar="RATE",
              help="The learning rate of the update explained (overrides the spec's).")
@click.option("--max-cells", type=click.IntRange(min=1), default=EXPLAIN_MAX_CELLS, show_default=True,
              help="Refuse specs whose worked step holds more formula cells than this (each is a line to read).")
def explain(spec: str, output: Path | None, fmt: str | None, eta: float | None, max_cells: int) -> None:
    """Write the worked solution of SPEC's first update, as a tutorial does: markdown to standard
    output (redirect it, or give -o), or to the file -o names; --format html writes SPEC's name
    with .html in the current folder unless -o says otherwise.

    For every quantity, in the tutorial's order (forward pass, loss, then each layer's
    backward pass and update from the output down): its formula, the same formula with the
    numbers put in, and the result, every number from the reference.
    """
    from sheetprop.model.reference import solve
    from sheetprop.solution.explain import render

    fmt = fmt or ("html" if output is not None and output.suffix.lower() in (".html", ".htm") else "md")
    network = load_checked(spec, max_cells=max_cells, training=False, etas=(eta,) if eta else None)
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
