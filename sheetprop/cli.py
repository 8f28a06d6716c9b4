"""The command line: a thin layer over the library. Bad input is one `Error:` line, exit 2."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from sheetprop import __version__
from sheetprop.spec import SpecError, load_spec, preset_names, with_epochs

ENGINE_CHOICES = ("formulas", "libreoffice", "ironcalc")


class UserError(click.ClickException):
    """Input that cannot be used: printed as one `Error: …` line, exit code 2."""

    exit_code = 2


def _load(spec_ref: str, epochs: int | None = None):
    try:
        spec = with_epochs(load_spec(spec_ref), epochs)
    except SpecError as exc:
        raise UserError(str(exc)) from None
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
def generate(spec: str, output: Path | None, epochs: int | None, as_json: bool) -> None:
    """Write the workbook for SPEC (a spec file or a preset name).

    Every quantity of the first update is a live, named formula on the Network sheet;
    the Training sheet unrolls every update of the run with a chart of the loss.
    """
    from sheetprop.workbook import write_workbook

    network = _load(spec, epochs)
    output = output or Path(Path(spec).stem + ".xlsx")
    if output.suffix.lower() != ".xlsx":
        raise UserError(f"{output}: the output must end in .xlsx")
    if not output.parent.exists() if str(output.parent) else False:
        raise UserError(f"{output}: the folder {output.parent} does not exist")
    if Path(spec).exists() and output.resolve() == Path(spec).resolve():
        raise UserError(f"{output}: that is the spec itself; choose another output name")
    start = time.perf_counter()
    try:
        counts = write_workbook(network, output, progress=_progress("rows written", not as_json))
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    seconds = time.perf_counter() - start
    if as_json:
        click.echo(json.dumps({"file": str(output), "seconds": round(seconds, 3), **counts}))
    else:
        click.echo(f"Wrote {output}: {counts['formulas']:,} formulas, {counts['names']} names, "
                   f"{counts['updates']:,} updates on the Training sheet ({seconds:.2f} s)")


@main.command()
@click.argument("workbook", type=click.Path(path_type=Path))
@click.option("--engine", type=click.Choice(ENGINE_CHOICES), default="formulas", show_default=True,
              help="The formula engine that recomputes the workbook.")
@click.option("--tol", type=click.FloatRange(min=0), default=1e-9, show_default=True,
              help="Relative tolerance for each cell.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Give up on the engine after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(workbook: Path, engine: str, tol: float, timeout: float | None, as_json: bool) -> None:
    """Recompute WORKBOOK's formulas with an engine and compare every cell with the reference.

    The given values are read from the workbook's own input cells. Exit 0 when every
    cell agrees, 1 on a mismatch, 2 when the file cannot be used.
    """
    from sheetprop.verify import verify_workbook

    report = verify_workbook(workbook, engine=engine, tol=tol, timeout=timeout)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
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
def reference(spec: str, epochs: int | None, as_json: bool) -> None:
    """Print the reference values of SPEC: every name of the first update, and the loss after each update."""
    from sheetprop.reference import reference_json

    result = reference_json(_load(spec, epochs))
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    click.echo(f"{result['name']}: first update")
    width = max(len(n) for n in result["names"])
    for name, value in result["names"].items():
        click.echo(f"  {name:<{width}}  {value!r}")
    loss = result["loss"]
    click.echo(f"loss after 0 updates: {loss[0]!r}; after {len(loss) - 1}: {loss[-1]!r}")


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
