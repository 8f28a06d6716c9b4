"""Text as every report prints it: what comes from a student's file made safe to print, and values
to nine significant digits."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Text from a student's file, safe to print: no control characters, escape sequences or
    direction overrides (which could redraw a terminal or disguise a line), one line."""
    return _CONTROL.sub("?", text)


def shown_value(value) -> str:
    """A value as the reports print it: 9 significant digits, text as it is, nothing for none."""
    if isinstance(value, float):
        return f"{value:.9g}"
    return "" if value is None else str(value)
