"""Formula engines: recompute every formula cell of an .xlsx file.

One contract for every engine, so verify and check never care which one ran:

    evaluate(path, engine=None, timeout=None) -> dict[(sheet, "A1"), value]

maps every cell that holds a formula, and every cell an array formula or a spill fills, to
the value the engine computed for it. Stored results in the file are never used. Keys use the sheet's name as written in the workbook
and an upper-case A1 reference without `$`. Values are `float` (numbers, integers
included), `str`, `bool`, `None` (empty) or `CellError` ("#DIV/0!", "#NAME?", "#CIRC!" for
a reference cycle, …).

| engine | what it is |
|---|---|
| `ironcalc` (default) | IronCalc, a spreadsheet engine in Rust (pip `ironcalc`) |
| `formulas` | the `formulas` package, pure Python |
| `libreoffice` | LibreOffice headless, the real application, recalculation forced |

Engines are imported lazily: importing this package costs nothing. Beside them: `openbook`
opens an untrusted .xlsx (container checks, guarded XML), `screen` decides which formulas an
engine may evaluate (by what it can reach), `guard` bounds the references IronCalc builds,
`package` reads the zip's parts (sheets, array formulas) and makes the copies IronCalc loads,
`clean` makes the copy formulas and LibreOffice see, `offline` the one LibreOffice opens,
`tokens` runs openpyxl's formula tokenizer once per formula shape (for the guard and the grader).

Imports: only the plumbing at the top of `sheetprop` (errors, limits, cells): no model, no grading.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from sheetprop.engines.base import CellError, EngineError, EngineUnavailable, Results, Unloadable, row_col, soffice

__all__ = ["CellError", "DEFAULT_ENGINE", "ENGINES", "EngineError", "EngineUnavailable", "Results", "evaluate",
           "is_available", "unsupported_functions"]

ENGINES = ("ironcalc", "formulas", "libreoffice")
DEFAULT_ENGINE = "ironcalc"
LABELS = {"ironcalc": "IronCalc", "formulas": "the formulas engine", "libreoffice": "LibreOffice"}

_MODULES = {
    "ironcalc": "sheetprop.engines.ironcalc_engine",
    "formulas": "sheetprop.engines.formulas_engine",
    "libreoffice": "sheetprop.engines.libreoffice",
}


def evaluate(path, engine: str | None = None, *, timeout: float | None = None) -> Results:
    """Recompute every formula cell of the .xlsx at `path` with `engine` (None: the default, ironcalc).

    Every formula and defined name is screened first (`sheetprop.engines.screen`), by what the
    engine can reach: what reaches outside the workbook (other files, the network, programs),
    or would make the engine fill the sheet, never reaches it and comes back as #N/A, with the
    reason in `Results.held`. When IronCalc cannot load a valid workbook at all, another engine
    (LibreOffice if installed, else formulas) evaluates it, and `Results.notes` says so.
    `timeout` (seconds) bounds the LibreOffice run, which is a separate process; the in-process
    engines (ironcalc, formulas) cannot be interrupted and ignore it: run them in a child process
    (`sheetprop.isolate`) to bound them.
    """
    import tempfile

    from sheetprop.engines import package
    from sheetprop.engines.openbook import WorkbookError, check_container

    engine = engine or DEFAULT_ENGINE
    module = importlib.import_module(_module(engine))
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{path}: no such file; pass the path of an .xlsx workbook")
    try:
        check_container(path)  # untrusted files: no zip bomb reaches an engine
        if getattr(module, "SCREENS_ITSELF", False):
            try:
                results = module.evaluate(path, timeout=timeout)
            except Unloadable as exc:
                return _instead(path, engine, exc, timeout)
            results.engine = engine
            return results
        from sheetprop.engines.clean import prepare

        with tempfile.TemporaryDirectory(prefix="sheetprop-engine-") as folder:
            screened = prepare(path, folder, offline=engine == "libreoffice")
            arrays = package.array_cells(path)
            cells = screened.cells or []
            cells = cells + [(sheet, *row_col(ref)) for sheet, ref in arrays]
            values = module.evaluate(screened.path, timeout=timeout, cells=cells)  # the cells read once
    except WorkbookError as exc:
        raise EngineError(str(exc)) from None
    held = {**getattr(values, "held", {}), **screened.held}
    values.update((key, CellError("#N/A")) for key in held)
    held_names = {**getattr(values, "held_names", {}), **screened.held_names}
    return Results(values, held, held_names, {k: v for k, v in arrays.items() if k in values}, engine)


def _instead(path: Path, engine: str, why: Exception, timeout: float | None) -> Results:
    """The workbook evaluated by another engine, since `engine` cannot load it: LibreOffice, the
    real application, when it is installed, else formulas. The notes say so."""
    other = "libreoffice" if is_available("libreoffice") else "formulas"
    results = evaluate(path, other, timeout=timeout)
    results.notes.append(f"{why}; it was evaluated with {LABELS[other]} instead")
    return results


def unsupported_functions(engine: str | None, functions) -> list[str] | None:
    """Which of `functions` (upper-case names, `_xlfn.` prefixes allowed) `engine` cannot compute;
    None when the engine cannot tell (LibreOffice)."""
    module = importlib.import_module(_module(engine or DEFAULT_ENGINE))
    known = getattr(module, "supports", None)
    if known is None:
        return None
    return [f for f in functions if not known(f.upper().removeprefix("_XLFN.").removeprefix("_XLWS."))]


def is_available(engine: str) -> bool:
    """True when `engine` can run here (its package, or soffice, is installed)."""
    _module(engine)
    if engine == "libreoffice":
        return soffice() is not None
    return importlib.util.find_spec(engine) is not None


def _module(engine: str) -> str:
    try:
        return _MODULES[engine]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}") from None
