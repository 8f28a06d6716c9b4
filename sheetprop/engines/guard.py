"""Bound every reference IronCalc builds, so that no formula can make it fill the sheet.

IronCalc reads no file and reaches no network, so it is given INDIRECT, OFFSET, whole
columns and ranges between names, which the screen (`sheetprop.engines.screen`) lets through
for it. What such a formula may cost is then bounded in the formula itself, in the copy
IronCalc evaluates (the workbook is never written):

- a whole column or row (`H:H`, `$A:$C`, `1:3`, `A1:A1048576`) becomes the same columns over
  the rows the workbook uses (`H$1:H$200`), which changes no result: the rows below hold
  nothing. Where the empty rest matters or is never read (COUNTBLANK, ISBLANK, ROWS, COLUMNS,
  ROW, COLUMN, COUNTIF, COUNTIFS) the reference is left as it is: the screen counts those
  or lets them be;
- every reference built while calculating (an INDIRECT or OFFSET call, a range whose corners
  are such calls or names: `INDIRECT(a):INDIRECT(b)`, `near:far`) is measured as it is built,
  `LET(_sp0, ref, IF(ROWS(_sp0)*COLUMNS(_sp0)>MAX_RANGE_CELLS, NA(), _sp0))`, without
  reading a cell of it: a reference over the bound gives #N/A instead. As COUNT or IFERROR
  would hide that error, each such cell also gets a probe (`Bounded.probe`): the same
  measures, its references pinned to its sheet and place, which `ironcalc_engine` evaluates
  on a sheet of its own to tell which cells to hold, with their reason. A reference that is
  only measured or moved (OFFSET's first argument, ROWS, ROW, COLUMN, COLUMNS, AREAS) is not
  wrapped: IronCalc reads no cell of it, and wants it bare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sheetprop.engines.screen import COLS, DYNAMIC, READS_NOTHING, ROWS, WHOLE_KEPT, function_name, plain_ranges, \
    rectangle, split_sheet, whole
from sheetprop.limits import MAX_RANGE_CELLS

TRIPPED_REASON = (f"builds a reference (with INDIRECT, OFFSET or a range of names) over more than {MAX_RANGE_CELLS:,} "
                  "cells; refer to just the cells you need, such as A1:A10")
_MEASURED = READS_NOTHING | {"ROW", "COLUMN"}  # functions that never read the cells of their reference
_DYNAMIC_WORD = re.compile("|".join(sorted(DYNAMIC)), re.IGNORECASE)


@dataclass(frozen=True)
class Bounded:
    formula: str  # the formula to evaluate instead
    probe: str | None = None  # a formula, for any cell of any sheet, TRUE when a reference of it went over the bound


def bound(formula: str, extent: tuple[int, int], at: tuple[str, int, int] | None = None) -> Bounded | None:
    """The formula with whole columns clipped to `extent` (rows, columns used) and every built
    reference measured; None when nothing needs to change (or it cannot be read). With `at`,
    the cell (sheet, row, column) it is in, the probe that tells whether a reference it builds
    went over the bound: a function that skips errors (COUNT, IFERROR) would hide the measure's
    error, so the measures are taken again, in a cell of their own, with the formula's
    references pinned to its sheet and place."""
    from openpyxl.formula.tokenizer import Token

    from sheetprop.engines.tokens import tokenize

    ranges = plain_ranges(formula)
    if ranges is not None and not _DYNAMIC_WORD.search(formula) and not any(
            whole(box) and context not in WHOLE_KEPT for box, context in ranges):
        return None  # plain ranges, none of them whole columns: nothing to bound
    try:
        tokens = tokenize(formula if formula.startswith("=") else "=" + formula)  # openpyxl's, once per shape
    except Exception:  # noqa: BLE001 - the screen has said why already
        return None
    values = [t.value for t in tokens]
    closing = _matches(tokens)
    before = [""] * len(tokens)
    after = [""] * len(tokens)
    calls: list[list] = []  # [function name or "", argument index] of each open bracket
    ends: list[int] = []  # where each wrap opened so far ends
    chains: list[tuple[int, int]] = []
    changed = False
    for i, token in enumerate(tokens):
        while ends and ends[-1] < i:
            ends.pop()
        context, argument = (calls[-1][0], calls[-1][1]) if calls else ("", 0)
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            clipped = _clip(token.value, extent) if context not in WHOLE_KEPT else None
            if clipped is not None:
                values[i], changed = clipped, True
        if not token.value.startswith(":") and _starts_primary(token):
            parts = _chain(tokens, closing, i)
            end = parts[-1][1]
            measured_only = context in _MEASURED or (context == "OFFSET" and argument == 0)
            if not measured_only and _builds_reference(tokens, parts):
                depth = len(ends)
                lead = "@" if values[i].startswith("@") else ""
                values[i] = values[i][len(lead):]
                before[i] = f"{lead}LET(_sp{depth},"
                after[end] = f",IF(ROWS(_sp{depth})*COLUMNS(_sp{depth})>{MAX_RANGE_CELLS},NA(),_sp{depth}))"
                ends.append(end)
                chains.append((i, end))
                changed = True
        if token.subtype == Token.OPEN:
            calls.append([function_name(token.value[:-1]) if token.type == Token.FUNC else "", 0])
        elif token.subtype == Token.CLOSE and calls:
            calls.pop()
        elif token.type == Token.SEP and token.subtype == Token.ARG and calls:
            calls[-1][1] += 1
    if not changed:
        return None
    text = "=" + "".join(b + v + a for b, v, a in zip(before, values, after))
    if at is None or not chains:
        return Bounded(text)
    pinned = _pinned(tokens, values, *at)
    measures = []
    for i, end in chains:
        inner = "".join((before[k] if k != i else "") + pinned[k] + (after[k] if k != end else "")
                        for k in range(i, end + 1))
        measures.append(f"IFERROR(ROWS({inner})*COLUMNS({inner})>{MAX_RANGE_CELLS},FALSE)")
    return Bounded(text, "=OR(" + ",".join(measures) + ")")


def _pinned(tokens, values: list[str], sheet: str, row: int, col: int) -> list[str]:
    """The tokens' texts with every cell reference made absolute and qualified with `sheet`, and
    ROW() and COLUMN() the cell's own: the same references from any cell of any sheet."""
    from openpyxl.formula.tokenizer import Token

    quoted = "'" + sheet.replace("'", "''") + "'!"
    pinned = list(values)
    for k, token in enumerate(tokens):
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            lead = ":" if values[k].startswith(":") else ""
            own, ref = split_sheet(values[k][len(lead):])
            if rectangle(ref) is not None:
                prefix = values[k][len(lead):len(values[k]) - len(ref)] if own is not None else quoted
                pinned[k] = lead + prefix + re.sub(r"\$?([A-Za-z]{1,3})?\$?(\d+)?", _absolute, ref)
        elif token.type == Token.FUNC and token.subtype == Token.OPEN and k + 1 < len(tokens) \
                and tokens[k + 1].type == Token.FUNC and tokens[k + 1].subtype == Token.CLOSE:
            name = function_name(values[k][:-1])
            if name in ("ROW", "COLUMN"):
                pinned[k] = values[k][:len(values[k]) - len(values[k].lstrip(":@"))] + str(row if name == "ROW" else col)
                pinned[k + 1] = ""
    return pinned


def _absolute(match: re.Match) -> str:
    column, row = match.group(1), match.group(2)
    return (f"${column}" if column else "") + (f"${row}" if row else "")


def _matches(tokens) -> dict[int, int]:
    """Each opening token's index → the index of its closing token."""
    from openpyxl.formula.tokenizer import Token

    found, stack = {}, []
    for i, token in enumerate(tokens):
        if token.subtype == Token.OPEN:
            stack.append(i)
        elif token.subtype == Token.CLOSE and stack:
            found[stack.pop()] = i
    return found


def _starts_primary(token) -> bool:
    from openpyxl.formula.tokenizer import Token

    return token.type in (Token.OPERAND, Token.FUNC, Token.PAREN, Token.ARRAY) and (
        token.type == Token.OPERAND or token.subtype == Token.OPEN)


def _chain(tokens, closing: dict[int, int], i: int) -> list[tuple[int, int]]:
    """(first, last) token of the primary at `i` and of every `:`-joined primary after it."""
    parts = [(i, closing.get(i, i))]
    while parts[-1][1] + 1 < len(tokens) and tokens[parts[-1][1] + 1].value.startswith(":"):
        start = parts[-1][1] + 1
        parts.append((start, closing.get(start, start)))
    return parts


def _builds_reference(tokens, parts: list[tuple[int, int]]) -> bool:
    """Is this chain of primaries a reference built while calculating: an INDIRECT or OFFSET call, a
    range joined from calls (`INDIRECT(a):INDIRECT(b)`, `A1:INDEX(…)`), or a range between names
    (`near:far`)?"""
    from openpyxl.formula.tokenizer import Token

    if len(parts) > 1:
        return True
    first = tokens[parts[0][0]]
    if first.type == Token.FUNC:
        return function_name(first.value[:-1]) in DYNAMIC
    if first.type == Token.OPERAND and first.subtype == Token.RANGE:
        _, ref = split_sheet(first.value)
        return ":" in ref and rectangle(ref) is None and "[" not in ref and "#REF!" not in ref.upper()  # near:far
    return False


def _clip(operand: str, extent: tuple[int, int]) -> str | None:
    """A whole column or row reference over the rows or columns used; None for any other reference."""
    from xlsxwriter.utility import xl_col_to_name  # type: ignore[import-untyped]

    lead = ":" if operand.startswith(":") else ""
    _, ref = split_sheet(operand[len(lead):])
    box = rectangle(ref)
    if box is None or ":" not in ref:
        return None
    kind = whole(box)
    if kind is None:
        return None
    rows, cols = extent
    prefix = operand[len(lead):len(operand) - len(ref)]  # the sheet as written, with its `!`
    r1, c1, r2, c2 = box
    if kind == "columns":
        if rows >= ROWS:
            return None
        return f"{lead}{prefix}${xl_col_to_name(c1 - 1)}$1:${xl_col_to_name(c2 - 1)}${rows}"
    if cols >= COLS:
        return None
    return f"{lead}{prefix}$A${r1}:${xl_col_to_name(cols - 1)}${r2}"
