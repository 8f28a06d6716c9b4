"""A value of a spec, map or points file, shown in an error: short, whatever it is.

YAML builds values JSON cannot say (a date, `!!binary`, `!!set`, a list that holds itself),
and an integer may have more digits than Python reads (4,300): each is shown in words.
Only what is shown is looked at, so forty aliases that each double the one before (2**40
numbers) cost no more than a short list.
"""

from __future__ import annotations

import json
import math


class HugeNumber(float):
    """An integer in a spec too long to read (Python reads at most 4,300 digits): infinite, with its length."""

    digits: int

    def __new__(cls, digits: int) -> HugeNumber:
        number = super().__new__(cls, math.inf)
        number.digits = digits
        return number


def brief(value, limit: int = 40) -> str:
    """A value as the spec wrote it, short: JSON for what JSON can say, words for the rest (a YAML date,
    `!!binary`, `!!set`). Only what is shown is looked at: a list of aliases nested forty deep
    (2**40 items) costs no more than a short one."""
    text = "".join(_pieces(value, limit + 1, set()))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _pieces(value, budget: int, seen: set[int]):
    """JSON-like text of `value` in pieces, stopping once about `budget` characters are out."""
    if isinstance(value, str):
        yield repr(value)[:budget]
    elif isinstance(value, HugeNumber):
        yield f"a number of {value.digits:,} digits"
    elif value is None or isinstance(value, (bool, int, float)):
        yield json.dumps(value) if not isinstance(value, int) or value.bit_length() < 1000 else "a very long number"
    elif isinstance(value, (list, tuple, dict)) and id(value) not in seen:
        seen.add(id(value))
        pairs = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        yield "{" if isinstance(value, dict) else "["
        used = 1
        for k, (key, item) in enumerate(pairs):
            if used >= budget:
                return
            prefix = (", " if k else "") + (f"{json.dumps(str(key))[:budget]}: " if isinstance(value, dict) else "")
            yield prefix
            used += len(prefix)
            for piece in _pieces(item, budget - used, seen):
                yield piece
                used += len(piece)
                if used >= budget:
                    return
        seen.discard(id(value))
        yield "}" if isinstance(value, dict) else "]"
    else:
        yield _kind(value)


def _kind(value) -> str:
    import datetime

    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"the date {value.isoformat()[:19]}"
    if isinstance(value, (bytes, bytearray)):
        return "binary data (!!binary)"
    if isinstance(value, (set, frozenset)):
        return "a set (!!set)"
    if isinstance(value, (list, dict)):
        return f"a {type(value).__name__} that holds itself"
    return f"a value of type {type(value).__name__}"
