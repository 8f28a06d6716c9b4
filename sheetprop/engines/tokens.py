"""openpyxl's formula tokenizer, once per formula shape rather than once per cell.

A student's table holds the same formula copied down thousands of rows: `=F49-$E$47*Y49`,
`=F50-$E$47*Y50`, … Tokenizing each costs more than the rest of the grader's reading. Each
formula's cell references are replaced by placeholders; the tokens of that template are made
once (openpyxl's `Tokenizer`) and each formula's tokens are the template's with its own
references put back. The tokens are openpyxl's own `Token` objects.
"""

from __future__ import annotations

import re
from functools import lru_cache

# A cell reference (maybe absolute), not part of a name (`net_h1`), a function (`LOG10(`) or a sheet.
_REF = re.compile(r"(?<![A-Za-z0-9_.$\\])\$?[A-Za-z]{1,3}\$?[0-9]{1,7}(?![A-Za-z0-9_.(!\\\[])")
_MARK = "\u2063{}\u2063"  # invisible separators around an index: never in a formula's own text
_MARKED = re.compile("\u2063([0-9]+)\u2063")
MAX_TEMPLATES = 4096


def tokenize(formula: str) -> list:
    """The tokens of `formula` (with its `=`), as `openpyxl.formula.tokenizer.Tokenizer(formula).items`.
    Raises what the tokenizer raises for a formula it cannot read."""
    refs: list[str] = []

    def mark(match: re.Match) -> str:
        refs.append(match.group(0))
        return _MARK.format(len(refs) - 1)

    if "\u2063" in formula:
        return _tokenize(formula)
    template = _REF.sub(mark, formula)
    if not refs:
        return _tokenize(formula)
    from openpyxl.formula.tokenizer import Token

    out = []
    for value, kind, subtype in _template(template):
        if "\u2063" in value:
            value = _MARKED.sub(lambda m: refs[int(m.group(1))], value)
        out.append(Token(value, kind, subtype))  # type: ignore[arg-type]
    return out


def _tokenize(formula: str) -> list:
    from openpyxl.formula.tokenizer import Tokenizer

    return Tokenizer(formula).items


@lru_cache(maxsize=MAX_TEMPLATES)
def _template(template: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((t.value, t.type, t.subtype) for t in _tokenize(template))
