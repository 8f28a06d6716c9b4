"""The maths of a worked solution, written as TeX (for markdown's `$…$`) or as HTML.

The graph's symbols (`w1·i1 + w2·i2 + b1`, `∂E_total/∂out_o1`, `σ(net_h1)`) are split into
tokens: names take their subscripts (`out_o1` is out with o1 below), `/` between two
operands becomes a fraction, and everything else passes through, escaped.
"""

from __future__ import annotations

import html as html_
import re

_TOKEN = re.compile(r"""
    (?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
  | (?P<delta>δ(?=[a-z]\d))
  | (?P<sum>Σk)
  | (?P<func>(?:ln|tanh|max)\b)
  | (?P<name>[A-Za-z]+\d*(?:_[A-Za-z0-9]+)+|[A-Za-z]\d+)
  | (?P<words>[a-z][a-z']+(?!\w)(?:\ [a-z][a-z']+(?!\w))*)
  | (?P<letter>[A-Za-z])
  | (?P<space>\s+)
  | (?P<sup>\^)
  | (?P<other>.)
""", re.VERBOSE)

Token = tuple[str, str]


def _tokens(text: str) -> list[Token]:
    return [(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(text)]


def _operand(tokens: list[Token], start: int) -> tuple[list[Token], int]:
    """What a ^ raises to: a bracketed group (without its brackets) or one token; and where it ends."""
    if tokens[start][1] != "(":
        return tokens[start:start + 1], start + 1
    depth = 0
    for i in range(start, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[i][1], 0)
        if depth == 0:
            return tokens[start + 1:i], i + 1
    return tokens[start + 1:], len(tokens)


class _Maths:
    """Writes the graph's maths notation in another notation, token by token."""

    def render(self, text: str) -> str:
        return self._render(_tokens(text))

    def _render(self, tokens: list[Token]) -> str:
        out, i = [], 0
        while i < len(tokens):
            kind, text = tokens[i]
            if kind == "sup" and i + 1 < len(tokens):
                group, i = _operand(tokens, i + 1)
                out.append(self.sup(self._render(group)))
                continue
            if kind == "delta" and i + 1 < len(tokens):  # δo1: delta, subscript o1
                out.append(self.delta(tokens[i + 1][1]))
                i += 2
                continue
            spaced = (i > 0 and tokens[i - 1][0] == "space", i + 1 < len(tokens) and tokens[i + 1][0] == "space")
            out.append(self.token(kind, text, spaced))
            i += 1
        return "".join(out)

    def token(self, kind: str, text: str, spaced: tuple[bool, bool]) -> str:
        raise NotImplementedError

    def sup(self, inner: str) -> str:
        raise NotImplementedError

    def delta(self, label: str) -> str:
        raise NotImplementedError


def _split(name: str) -> tuple[str, str]:
    """net_h1 → (net, h1); w5 → (w, 5); E_total → (E, total)."""
    if "_" in name:
        base, sub = name.split("_", 1)
        return base, sub
    return name[0], name[1:]


class _Tex(_Maths):
    """TeX for GitHub's `$…$`. GitHub reads markdown around and partly inside the maths, so this TeX
    keeps clear of it: an underscore only ever follows a letter or a digit (so it can never open
    emphasis), no backslash before punctuation (`\\{`, `\\_`, `\\,` are markdown escapes), no `*`,
    `<`, `[` or `]`; a neuron label's own underscore (h2_3) becomes a comma."""

    SYMBOLS = {"·": r"\cdot ", "−": "-", "∂": r"\partial ", "η": r"\eta ", "σ": r"\sigma ", "δ": r"\delta ",
               "Σ": r"\sum ",
               "½": r"\tfrac{1}{2}", "²": "^{2}", "⁺": "^{+}", "[": r"\lbrack ", "]": r"\rbrack ", ">": r"\gt ",
               "<": r"\lt ", "{": "(", "}": ")", "$": "", "\\": ""}  # the last four never occur: kept out of TeX

    def render(self, text: str) -> str:
        return " ".join(super().render(text).split())  # a command's own space beside the text's

    def token(self, kind: str, text: str, spaced: tuple[bool, bool]) -> str:
        if kind == "num":
            mantissa, _, exponent = text.partition("e")
            return f"{mantissa} \\times 10^{{{int(exponent)}}}" if exponent else text
        if kind == "sum":
            return r"\sum_{k} "
        if kind == "func":
            return f"\\{text} "
        if kind == "name":
            base, sub = _split(text)
            sub = sub.replace("_", ",")
            if len(base) > 1:
                return f"\\mathrm{{{base}_{{{sub}}}}}"
            return f"{base}_{{{sub}}}" if sub.isdigit() else f"{base}_{{\\mathrm{{{sub}}}}}"
        if kind == "words":
            return "\\text{" + " " * spaced[0] + text + " " * spaced[1] + "}"
        if kind == "other":
            return self.SYMBOLS.get(text, text)
        return text  # a letter, a space

    def sup(self, inner: str) -> str:
        return f"^{{{inner}}}"

    def delta(self, label: str) -> str:
        return f"\\delta_{{\\mathrm{{{label.replace('_', ',')}}}}}"


class _Html(_Maths):
    """HTML: subscripts and superscripts as <sub> and <sup>, variables in italics, the rest Unicode."""

    def token(self, kind: str, text: str, spaced: tuple[bool, bool]) -> str:
        if kind == "num":
            mantissa, _, exponent = text.partition("e")
            return f"{mantissa}×10<sup>{int(exponent)}</sup>".replace("-", "−") if exponent else text
        if kind == "sum":
            return "Σ<sub>k</sub>"
        if kind == "name":
            base, sub = _split(text)
            shown = f"<i>{base}</i>" if len(base) == 1 else base
            return f"{shown}<sub>{html_.escape(sub)}</sub>"
        if kind == "letter" and text != "e":  # e is Euler's number
            return f"<i>{text}</i>"
        if kind == "words":
            return f'<span class="w">{html_.escape(text)}</span>'
        return html_.escape(text)

    def sup(self, inner: str) -> str:
        return f"<sup>{inner}</sup>"

    def delta(self, label: str) -> str:
        return f"δ<sub>{html_.escape(label)}</sub>"


TEX, HTML = _Tex(), _Html()  # the two renderings explain uses
