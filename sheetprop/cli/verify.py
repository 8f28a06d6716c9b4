"""`sheetprop verify`: recompute a workbook with an engine and compare it with the reference."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from sheetprop.cli.group import main
from sheetprop.cli.params import ENGINE_CHOICES, MIN_MEMORY, Finite, Seconds, Size
from sheetprop.engines import DEFAULT_ENGINE
from sheetprop.jsonout import dumps
from sheetprop.limits import VERIFY_TIMEOUT


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
