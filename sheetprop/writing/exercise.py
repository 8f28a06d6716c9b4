"""Exercises: the Network sheet with the answers left for the student, and nothing that leaks them.

`sheetprop generate SPEC --exercise [--blank forward,loss,backward,update]` writes the
same layout, labels and names as the worked example. The given values are filled in; the
cells of the blank sections are empty, highlighted, and carry their names (so a student
types `=w_1*i_1+w_2*i_2+b_1` into `net_h1`). The other sections stay formulas *without*
stored results: they compute only from what the student enters.

Nothing in the file holds an answer: no stored results, no Training sheet (its rows are
answers), no checks (they read the Training sheet), no About sheet, no hidden sheet, and
document properties that say only what the file is.
"""

from __future__ import annotations

from sheetprop import __version__
from sheetprop.model import graph as G
from sheetprop.model import reference as R
from sheetprop.model.network import Spec
from sheetprop.writing import layout as L
from sheetprop.writing import xlsx

INSTRUCTIONS = "Instructions"
# The BRIEF names four sections; "update" covers the gradients and the new values, and
# "gradients" alone leaves the gradients blank but keeps the update as formulas.
BLANK_CHOICES = {
    "forward": {"forward"},
    "loss": {"loss"},
    "backward": {"backward"},
    "gradients": {"gradients"},
    "update": {"gradients", "update"},
    "all": set(G.SECTIONS),
}
SECTION_TITLES = {
    "forward": "2. Forward pass",
    "loss": "3. Loss",
    "backward": "4. Backward pass",
    "gradients": "5. Gradients",
    "update": "6. Update",
}


def parse_blank(text: str | None) -> frozenset[str]:
    """`forward,loss` → the sections to leave blank; ValueError (one line) for an unknown word."""
    words = [w.strip().lower() for w in (text or "all").split(",") if w.strip()]
    if not words:
        words = ["all"]
    sections: set[str] = set()
    for word in words:
        if word not in BLANK_CHOICES:
            raise ValueError(f"--blank: unknown section {word!r}; choose from {', '.join(BLANK_CHOICES)}")
        sections |= BLANK_CHOICES[word]
    return frozenset(sections)


def exercise_layout(spec: Spec, blank) -> tuple[L.SheetLayout, dict[str, tuple[int, int]], int]:
    """The Network sheet of an exercise: (layout, name → (row, col), number of answer cells)."""
    blank = set(blank)
    unknown = blank - set(G.SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; choose from {', '.join(G.SECTIONS)}")
    graph = G.build(spec)
    step = R.run_step(spec, R.Params.of(spec), spec.batches()[0])
    sheet, names = L.network_sheet(graph, step)
    answers = 0
    retitled = set()
    for cell in sheet.cells:
        if cell.style == "formula":
            section = graph.section(cell.name or "")
            if section in blank:
                cell.style, cell.text = "answer", None
                answers += 1
            cell.value = None  # never a stored result
        elif cell.style in ("subtitle", "note") and cell.style not in retitled:
            retitled.add(cell.style)
            cell.text = _intro(spec, blank)[cell.style]
    return sheet, names, answers


def _intro(spec: Spec, blank: set[str]) -> dict[str, str]:
    return {
        "subtitle": "Exercise: one step of backpropagation. Yellow cells are the given values; "
                    "fill every green cell with a formula (see the Instructions sheet).",
        "note": f"Loss: {spec.loss}; batch: {spec.batch}; batch loss = {spec.reduction} of the samples' losses. "
                f"To fill in: {', '.join(s for s in G.SECTIONS if s in blank) or 'nothing'}.",
    }


def check_command(spec: Spec) -> str:
    """The command that grades the exercise, with `--eta` when it was set with another learning rate
    than its spec's (`generate --eta`)."""
    source = spec.source
    ref = source[len("preset "):] if source.startswith("preset ") else source.replace("\\", "/").rsplit("/", 1)[-1]
    command = f"sheetprop check YOUR_FILE.xlsx --spec {ref}"
    return f"{command} --eta {spec.learning_rate!r}" if spec.eta_changed else command


def instructions(spec: Spec, blank: set[str]) -> list[tuple[str, str]]:
    """The Instructions sheet as (style, text) lines."""
    todo = [SECTION_TITLES[s] for s in G.SECTIONS if s in blank]
    given = [SECTION_TITLES[s] for s in G.SECTIONS if s not in blank]
    lines = [
        ("title", f"Exercise: {spec.name}"),
        ("label", "Work out one step of backpropagation on the Network sheet, the way the worked examples do."),
        ("label", ""),
        ("section", "What to do"),
        ("label", "1. The yellow cells hold the given values: the learning rate eta, the data, the weights and biases."),
        ("label", "2. Fill every green cell with a formula. Each green cell has a name (column Name), and so does "
                  "every given value: write =w_1*i_1+w_2*i_2+b_1, not the number you worked out."),
        ("label", "3. Column Maths says what each quantity is. Hidden neurons' ∂E/∂out use the weights from "
                  "before the update."),
        ("label", "4. Keep the names and the layout; add helper cells anywhere if you like. Save as .xlsx."),
        ("label", ""),
        ("section", "Sections"),
        ("label", "To fill in: " + (", ".join(todo) or "nothing")),
        ("label", "Already formulas (they compute from your answers): " + (", ".join(given) or "none")),
        ("label", "The numbers appear when your spreadsheet recalculates: this file stores no results."),
        ("label", ""),
        ("section", "Check your work"),
        ("label", check_command(spec)),
        ("label", "says which cells are correct, which are right given an earlier mistake, which look like a "
                  "known mistake, and where a typed number stands in for a formula."),
    ]
    return lines


def fill_exercise(wb, spec: Spec, blank, paper: str = "a4") -> dict:
    """Write the exercise's sheets into an XlsxWriter workbook (called by write_workbook)."""
    blank = set(blank)
    wb.set_properties({"title": f"Exercise: {spec.name}", "subject": "Backpropagation exercise",
                       "comments": f"Generated by sheetprop {__version__}"})
    wb.set_calc_mode("auto")
    fmt = xlsx.formats(wb)
    sheet, names, answers = exercise_layout(spec, blank)

    ws_help = xlsx.add_sheet(wb, INSTRUCTIONS)
    ws_net = xlsx.add_sheet(wb, L.NETWORK)
    for row, (style, text) in enumerate(instructions(spec, blank)):
        ws_help.write_string(row, 0, text, fmt[style])
    ws_help.set_column(0, 0, 110)
    xlsx.print_setup(ws_help, paper=paper)
    ws_help.activate()

    formulas = xlsx.write_network(wb, ws_net, sheet, names, fmt, paper)
    return {"formulas": formulas, "names": len(names), "updates": 0, "answers": answers}
