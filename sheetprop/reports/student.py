"""The student's view of a report: the verdict, what to fix first, and each cell to fix, in the
student's own words and cells.

`student_view(report)` gives its parts as data (for `sheetprop serve` to render, or JSON);
`brief_lines(report)` the text `check --brief` prints. Each cell to fix is named by the
student's own header word and cell, with the student's formula, what it should compute in the
student's terms (their words, and the same as a formula of their cells), the expected value and
what the sheet shows (`#NAME?`), and one point per sentence. Names of sheetprop's vocabulary
that the student never wrote are said in the textbook's symbols (δh1, ∂E/∂out_h1), never as
`delta_h1`; a formula that reads a cell twice says so instead of "check the formula".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field

from sheetprop.cells import Ref
from sheetprop.grading.grade import STATUSES, FileReport, Item
from sheetprop.reports.scores import nothing_to_grade, points_text, score_of
from sheetprop.reports.plain import clean, shown_value

TO_FIX = ("error", "incorrect", "hardcoded", "missing")  # the order in which cells are to be fixed
NAME = re.compile(r"\b(?:eta|[iw]_\d+|b_\w+?|target_o\w+?|net_\w+?|out_\w+?|E_\w+?|E_total|E_s\d+|dE_dout_\w+?|"
                  r"dout_dnet_\w+?|delta_\w+?|grad_\w+?|new_\w+?|dnet_\w+?)(?![\w])")


@dataclass
class Entry:
    """One cell to fix."""

    name: str  # sheetprop's name (for machines; never shown to the student when they have a word for it)
    word: str  # the student's own word for it
    cell: str | None
    status: str
    formula: str | None  # the student's
    should: str | None  # what it should compute, in the student's words
    should_cells: str | None  # the same as a formula of the student's cells
    expected: float
    got: float | str | None  # what the student's sheet shows
    judged: float | None = None  # the value judged, with correct values in place of earlier errors
    points: list[str] = field(default_factory=list)  # one point per sentence


@dataclass
class View:
    file: str
    verdict: str  # "every answer is right", "nothing to grade", "1 incorrect, 1 hardcoded", "could not be graded"
    score: float
    total: float
    fix_first: str | None
    entries: list[Entry]
    tables: list[str]  # the training tables with a wrong row, one sentence each
    notes: list[str]

    def to_json(self) -> dict:
        return asdict(self)


def counts(report: FileReport) -> dict[str, int]:
    """How many answers have each status (given values that are right are not answers)."""
    return {s: sum(1 for i in report.items if i.status == s and not (i.section == "given" and s == "correct"))
            for s in STATUSES}


def problem(report: FileReport) -> str:
    """The file's error without the file name it usually starts with."""
    error = report.error or ""
    return error[len(report.file) + 2:] if error.startswith(report.file + ": ") else error


def verdict(report: FileReport) -> str:
    """`every answer is right`, `nothing to grade`, or how many answers of each status are not right."""
    if nothing_to_grade(report):
        return "nothing to grade"
    parts = [f"{n} {s.replace('_', ' ')}" for s, n in counts(report).items() if n and s != "correct"]
    wrong = len(report.wrong_tables)
    if wrong:
        parts.append(f"{wrong} training table{'s' if wrong > 1 else ''} with a wrong row")
    return "every answer is right" if report.all_right else ", ".join(parts)


def headline(report: FileReport, total: float | None = None) -> str:
    """`bob.xlsx: 37.31 / 39 points (1 incorrect, 1 hardcoded)`: the score out of the assignment's total."""
    if report.error:
        return clean(f"{report.file}: could not be graded: {problem(report)}")
    total = total or report.total
    score = f"{points_text(score_of(report, total))} / {points_text(total or report.max_score)}"
    return clean(f"{report.file}: {score} points ({verdict(report)})")


def student_view(report: FileReport, total: float | None = None) -> View:
    """The student's view of one report; `total` the class's total (default: the report's own)."""
    total = total or report.total
    score = score_of(report, total)
    if report.error:
        return View(report.file, "could not be graded", score, total, clean(problem(report)), [], [], [])
    notes = [clean(n) for n in report.notes]
    if nothing_to_grade(report):
        return View(report.file, "nothing to grade", score, total,
                    "Nothing of the exercise was found in this workbook: fill in the exercise's green cells, or "
                    "label each quantity (net h1, E total, ∂E/∂w5) with its value beside it.", [], [], notes)
    words = _words(report)
    entries = [_entry(item, report, words) for status in TO_FIX for item in report.items
               if item.status == status and not (item.section == "given" and status == "missing")]
    tables = [_table(t, words) for t in report.wrong_tables]
    first = None
    if entries:
        e = entries[0]
        first = f"{_where(e)}: " + " ".join(e.points[:2])
    elif tables:
        first = tables[0]
    return View(report.file, verdict(report), score, total, first, entries, tables, notes)


def brief_lines(report: FileReport, total: float | None = None) -> list[str]:
    """The student's view as text: the verdict, what to fix first, then each cell to fix."""
    view = student_view(report, total)
    lines = [headline(report, total)]
    if view.fix_first and not report.error:
        lines.append(clean(f"Fix first: {view.fix_first}"))
    for e in view.entries:
        lines.append(clean(f"  {_where(e)}  {e.status.replace('_', ' ')}"))
        if e.formula:
            lines.append(clean(f"      your formula:  {e.formula}"))
        elif isinstance(e.got, float) and e.status == "hardcoded":
            lines.append(clean(f"      your cell:     {shown_value(e.got)}, a number typed in"))
        if e.should:
            same = e.should_cells and e.should_cells[1:] != e.should
            lines.append(clean(f"      should be:     {_as_formula(e.should)}"
                               + (f"   i.e. {e.should_cells}" if same else "")))
        got = shown_value(e.got) or "(empty)"
        judged = f" ({shown_value(e.judged)} when judged with correct values in place of the errors before it)" \
            if e.judged is not None else ""
        lines.append(clean(f"      expected {shown_value(e.expected)}, got {got}{judged}"))
        lines += [clean(f"      {point}") for point in e.points]
    lines += [clean(f"  {t}") for t in view.tables]
    return lines


# ---------------------------------------------------------------- the parts


def _where(e: Entry) -> str:
    if e.cell is None:
        return e.word
    return e.cell if e.word == e.cell else f"{e.word} ({e.cell})"


def _as_formula(text: str) -> str:
    """A formula in the student's words: written as a formula when the words are names."""
    return text if not re.fullmatch(r"[\w.+\-*/^()=, ]+", text) else "=" + text


def _words(report: FileReport) -> dict[str, str]:
    return {name: word for name, word in report.words.items() if word}


def symbol(name: str) -> str:
    """A sheetprop name in the textbook's symbols, for a quantity the student never wrote down."""
    rules = [(r"^delta_(\w+)$", r"δ\1"), (r"^dE_dout_(\w+)$", r"∂E/∂out_\1"),
             (r"^dout_dnet_(\w+)$", r"∂out_\1/∂net_\1"), (r"^grad_w_(\d+)$", r"∂E/∂w\1"),
             (r"^grad_b_(\w+)$", r"∂E/∂b\1"), (r"^new_w_(\d+)$", r"new w\1"), (r"^new_b_(\w+)$", r"new b\1"),
             (r"^dnet_(\w+?)_dout_(\w+)$", r"∂net_\1/∂out_\2"), (r"^eta$", "η"), (r"^w_(\d+)$", r"w\1"),
             (r"^i_(\d+)$", r"i\1"), (r"^target_(\w+)$", r"t_\1")]
    for pattern, repl in rules:
        if re.match(pattern, name):
            return re.sub(pattern, repl, name)
    return name


def in_words(text: str, words: dict[str, str]) -> str:
    """`text` with every sheetprop name in the student's word for it, else in symbols."""
    return NAME.sub(lambda m: words.get(m[0]) or symbol(m[0]), text)


VERBS = ("uses", "refers", "gives", "calls", "reaches", "builds", "covers", "holds", "is ", "was ")
DONE = ("used ", "typed ", "added ", "took ", "left ", "summed ", "wrote ", "dropped ", "computed ", "swapped ",
        "stepped ", "multiplied ", "subtracted ", "divided ", "updated ", "forgot ")  # what the student did


def _sentences(text: str, words: dict[str, str]) -> list[str]:
    """A diagnosis as sentences in the student's words, one point each: its clauses (split at `;`),
    each capitalised unless it starts with a name; one that starts with a verb says what does it."""
    out = []
    for part in re.split(r";\s+", text.strip()):
        part = part.strip().rstrip(".")
        if not part:
            continue
        if part.startswith(VERBS):
            part = "The formula " + part
        elif part.startswith(DONE):
            part = "You " + part
        elif not NAME.match(part):
            part = part[0].upper() + part[1:]
        out.append(in_words(part, words) + ".")
    return out


def entry(item: Item, report: FileReport) -> Entry:
    """One quantity of the report as a cell to fix, in the student's words (Gradescope's feedback too)."""
    return _entry(item, report, _words(report))


def _entry(item: Item, report: FileReport, words: dict[str, str]) -> Entry:
    word = words.get(item.name) or symbol(item.name)
    got = item.shows if item.shows is not None else item.got
    judged = item.got if item.shows is not None and isinstance(item.got, float) else None
    should = in_words(item.should, words) if item.should else None
    entry = Entry(item.name, word, item.cell, item.status, item.formula, should, item.should_cells,
                  item.expected, got, judged)
    diagnosis = re.sub(r";?\s*judged with the correct value in place of the error in [^;]*", "", item.diagnosis or "")
    if item.status == "incorrect" and item.mistake is None and "check the formula" in diagnosis:
        entry.points = _compare(item, report, words) or _sentences(diagnosis.replace("; check the formula", ""), words)
    elif item.status == "error":
        entry.points = [f"Your sheet shows {got} here."] + _sentences(diagnosis, words)
    else:
        entry.points = _sentences(diagnosis, words)
    if item.substituted:
        errors = " and ".join(words.get(n) or symbol(n) for n in item.substituted)
        entry.points.append(f"It shows {got} because {errors} {'is an error' if len(item.substituted) == 1 else 'are errors'}: "
                            "fix that first.")
    return entry


def _compare(item: Item, report: FileReport, words: dict[str, str]) -> list[str]:
    """What the student's formula reads that it should not, or twice, or not at all (by the cells
    both formulas refer to); [] when both read the same cells."""
    if not item.formula or not item.should_cells or not item.cell:
        return []
    here = Ref.parse(item.cell)
    sheet = here.sheet if here else None
    cells = {i.name.lower(): Ref.parse(i.cell) for i in report.items if i.cell}
    used, needed = _refs(item.formula, sheet, cells), _refs(item.should_cells, sheet, cells)
    if used is None or needed is None or used == needed:
        return []
    word_of = {Ref.parse(i.cell): words.get(i.name) or symbol(i.name) for i in report.items if i.cell}

    def said(ref: Ref) -> str:
        word = word_of.get(ref)
        return f"{word} ({ref.a1 if ref.sheet == sheet else ref})" if word and word != str(ref) else str(ref)

    times = {2: "twice", 3: "three times"}
    points = []
    for ref, n in used.items():
        if n > needed.get(ref, 0) and needed.get(ref, 0) >= 1:
            points.append(f"You used {said(ref)} {times.get(n, f'{n} times')}; it belongs there "
                          f"{times.get(needed[ref], 'once')}.")
        elif needed.get(ref, 0) == 0:
            points.append(f"Your formula uses {said(ref)}, which does not belong in it.")
    points += [f"Your formula does not use {said(ref)}." for ref in needed if ref not in used]
    return points


def _refs(formula: str, sheet: str | None, cells: dict[str, Ref | None]) -> Counter | None:
    """The cells a formula refers to (defined names resolved), counted; None when it cannot be read."""
    from openpyxl.formula.tokenizer import Token, Tokenizer

    try:
        tokens = Tokenizer(formula).items
    except Exception:  # noqa: BLE001 - an unparsable formula: nothing to compare
        return None
    out: Counter = Counter()
    for t in tokens:
        if t.type != Token.OPERAND or t.subtype != Token.RANGE:
            continue
        ref = Ref.parse(t.value.replace("$", ""), sheet) or cells.get(t.value.lower())
        if ref is None:
            return None  # a range, or a name the grader did not place: no comparison
        out[ref] += 1
    return out


def _table(t: dict, words: dict[str, str]) -> str:
    w = t.get("first_wrong") or {}
    name = w.get("name", "")
    word = words.get(name) or symbol(name)
    return clean(f"The table at {t['cell']}" + (f" (η = {t['eta']:g})" if t.get("eta") is not None else "")
                 + f" goes wrong at update {w.get('update')}: {word} ({w.get('cell')}) is {shown_value(w.get('got'))}, "
                 f"it should be {shown_value(w.get('expected'))}.")
