"""Exercises: the Network sheet with the answers left for the student, and nothing that leaks them.

`sheetprop generate SPEC --exercise [--blank forward,loss,backward,update]` writes the
same layout, labels and names as the worked example. The given values are filled in; the
cells of the blank sections are empty, highlighted, and carry their names (so a student
types `=w_1*i_1+w_2*i_2+b_1` into `net_h1`). The other sections stay formulas *without*
stored results: they compute only from what the student enters.

Nothing in the file holds an answer: no stored results, no checks (they read the Training
sheet), no About sheet, no hidden sheet, and document properties that say only what the file
is. A handout that asks for the training run too (a sweep, or `--epochs`) has a Training sheet
per learning rate with its given values and header rows, and blank update rows
(`sheetprop.writing.handout`). Every text is made from the spec, in the workbook's own names.
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


MAPS = ("formulas", "inputs", "none")  # how much the Maths column of an exercise says: the formula, what
# each quantity is computed from (its names, not how), or nothing: the student derives it


def exercise_layout(spec: Spec, blank, maths: str = "formulas") \
        -> tuple[L.SheetLayout, dict[str, tuple[int, int]], int]:
    """The Network sheet of an exercise: (layout, name → (row, col), number of answer cells)."""
    blank = set(blank)
    unknown = blank - set(G.SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; choose from {', '.join(G.SECTIONS)}")
    if maths not in MAPS:
        raise ValueError(f"unknown maths level {maths!r}; choose from {', '.join(MAPS)}")
    graph = G.build(spec)
    step = R.run_step(spec, R.Params.of(spec), spec.batches()[0])
    sheet, names = L.network_sheet(graph, step)
    computed = {c.row: graph[c.text] for c in sheet.cells
                if c.style == "name" and c.text in graph.quantities and not graph[c.text].given}
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
        elif cell.style == "maths" and cell.row in computed and maths != "formulas":
            q = computed[cell.row]
            cell.text = "" if maths == "none" else "from " + ", ".join(_unique(graph[x].base for x in q.inputs))
        elif cell.style == "header" and cell.text == "Maths" and maths != "formulas":
            cell.text = "" if maths == "none" else "Computed from"
    if maths == "none":  # the column left out: no cell at all where the formulas were
        sheet.cells = [c for c in sheet.cells if not (c.style in ("maths", "header") and c.col == 2 and c.text == "")]
    return sheet, names, answers


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


def _intro(spec: Spec, blank: set[str]) -> dict[str, str]:
    return {
        "subtitle": "Exercise: one step of backpropagation. Yellow cells are the given values; "
                    "fill every green cell with a formula (see the Instructions sheet).",
        "note": f"Loss: {spec.loss}; batch: {spec.batch}; batch loss = {spec.reduction} of the samples' losses. "
                f"To fill in: {', '.join(s for s in G.SECTIONS if s in blank) or 'nothing'}.",
    }


def check_command(spec: Spec) -> str:
    """The command that grades the exercise, with `--eta` when it was set with another learning rate
    than its spec's (`generate --eta`, or a sweep whose first rate is not the spec's)."""
    source = spec.source
    ref = source[len("preset "):] if source.startswith("preset ") else source.replace("\\", "/").rsplit("/", 1)[-1]
    command = f"sheetprop check YOUR_FILE.xlsx --spec {ref}"
    return f"{command} --eta {spec.learning_rate!r}" if spec.eta_changed else command


def given_words(graph: G.Graph) -> str:
    """The given values in the workbook's own names: `the learning rate eta, the inputs i_1 and i_2, …`."""
    def some(names: list[str]) -> str:
        names = _unique(names)
        if len(names) > 4:
            return f"{names[0]}, {names[1]} … {names[-1]}"
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    parts = ["the learning rate eta"]
    kinds = [("input", "input", "inputs"), ("target", "target", "targets")]
    for kind, one, many in kinds:  # with several samples in the first batch, each sample's own names
        names = [q.name for q in graph if q.kind == kind]
        parts.append(f"the {one if len(set(names)) == 1 else many} {some(names)}")
    weights = [p.name for p in graph.params if p.kind == "w"]
    biases = [p.name for p in graph.params if p.kind != "w"]
    parts.append(f"the weight{'s' if len(weights) > 1 else ''} {some(weights)}")
    if biases:
        parts.append(f"the bias{'es' if len(biases) > 1 else ''} {some(biases)}")
    return "; ".join(parts)


def example_formula(graph: G.Graph, maths: str) -> str:
    """The example of a formula written with names: the first computed quantity's, in the workbook's
    names (whole when the Maths column shows the formulas anyway, else only its first term)."""
    q = next(q for q in graph if not q.given and q.worked)
    text = q.formula({})
    if maths != "formulas" and "+" in text:
        text = text.split("+")[0] + "+…"
    return f"={text}"


def instructions(spec: Spec, blank: set[str], maths: str = "formulas",
                 training: list[str] | None = None) -> list[tuple[str, str]]:
    """The Instructions sheet as (style, text) lines, every example in the workbook's own names.
    `training`: the Training sheets of a handout that asks for the training run too."""
    graph = G.build(spec)
    todo = [SECTION_TITLES[s] for s in G.SECTIONS if s in blank]
    given = [SECTION_TITLES[s] for s in G.SECTIONS if s not in blank]
    first = next(q for q in graph if not q.given and q.worked)
    column = {"formulas": "3. Column Maths gives each quantity's formula in symbols.",
              "inputs": "3. Column 'Computed from' names what each quantity is computed from; working out how is "
                        "the exercise.",
              "none": "3. Work out each quantity's formula yourself, from its label (column Quantity)."}[maths]
    hidden = [q for q in graph if q.kind == "dE_dout" and q.layer is not None and q.layer < len(graph.labels) - 1]
    if hidden:
        column += " Hidden neurons' ∂E/∂out use the weights from before the update."
    lines = [
        ("title", f"Exercise: {spec.name}"),
        ("label", "Work out one step of backpropagation on the Network sheet, the way the worked examples do."),
        ("label", ""),
        ("section", "What to do"),
        ("label", f"1. The yellow cells hold the given values: {given_words(graph)}."),
        ("label", "2. Fill every green cell with a formula. Each green cell has a name (column Name), and so does "
                  f"every given value: in {first.name} write {example_formula(graph, maths)}, not the number you "
                  "worked out."),
        ("label", column),
        ("label", "4. Keep the names and the layout; add helper cells anywhere if you like. Save as .xlsx."),
    ]
    if training:
        lines += [("label", f"5. {training_words(spec, training)}")]
    lines += [
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


def training_words(spec: Spec, sheets: list[str]) -> str:
    """What to do on the Training sheets of a handout."""
    where = (f"Each Training sheet ({', '.join(sheets)}) trains with its own learning rate, in its yellow cell B3"
             if len(sheets) > 1 else "The Training sheet trains with eta")
    return (f"{where}: row 0 starts from the given weights; fill its green cells, then one row per update down to "
            f"row {spec.n_updates}, each row's weights computed from the row above (new weight = weight − learning "
            "rate × gradient)." + (" The Sweep sheet draws every loss curve as you fill the rows in." if spec.sweep
                                   else " Its chart draws the loss as you fill the rows in."))


def fill_exercise(wb, spec: Spec, blank, paper: str = "a4", maths: str = "formulas",
                  training: bool | None = None) -> dict:
    """Write the exercise's sheets into an XlsxWriter workbook (called by write_workbook).

    With `training` (default: when the spec sweeps learning rates) the handout asks for the training
    run too: a Training sheet per learning rate, its given values and header rows filled in, its
    update rows blank, and (with a sweep) the Sweep sheet charting what the student fills in
    (`sheetprop.writing.handout`)."""
    from sheetprop.writing import handout

    blank = set(blank)
    training = bool(spec.sweep) if training is None else training
    wb.set_properties({"title": f"Exercise: {spec.name}", "subject": "Backpropagation exercise",
                       "comments": f"Generated by sheetprop {__version__}"})
    wb.set_calc_mode("auto")
    fmt = xlsx.formats(wb)
    sheet, names, answers = exercise_layout(spec, blank, maths)

    ws_help = xlsx.add_sheet(wb, INSTRUCTIONS)
    ws_net = xlsx.add_sheet(wb, L.NETWORK)
    sheets = handout.training_sheets(spec) if training else []
    for row, (style, text) in enumerate(instructions(spec, blank, maths, sheets)):
        ws_help.write_string(row, 0, text, fmt[style])
    ws_help.set_column(0, 0, 110)
    xlsx.print_setup(ws_help, paper=paper)
    ws_help.activate()

    formulas = xlsx.write_network(wb, ws_net, sheet, names, fmt, paper)
    counts = {"formulas": formulas, "names": len(names), "updates": 0, "answers": answers}
    if training:
        more = handout.write_training(wb, spec, fmt, paper)
        counts.update(updates=spec.n_updates, answers=answers + more["answers"],
                      formulas=formulas + more["formulas"], sheets=len(sheets))
    return counts
