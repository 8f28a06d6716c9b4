"""The grader on workbooks of every shape, layout and convention real people use (tests/layouts.py).

Each case is a network (tests/shapes.py), a layout family (one vertical block, a sheet per
update, blocks down a sheet, a row per update, a diagram), the student's conventions and labels,
and the mistakes placed in it (tests/mistakes.py). The builder records where it put each
quantity of the first update and what a grader must say of it; every test compares the
grader's report with that truth: each quantity found at its cell with its status, each
mistake named where it sits, no right cell called wrong, full marks for an all-right
workbook, the training run checked update by update, each convention reported in its form,
and a student who mixes two conventions told where. Each workbook is built and graded once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import openpyxl
import pytest

from layouts import Built, build
from sheetprop.engines import evaluate
from sheetprop.grading.grade import FileReport, grade_file
from sheetprop.model.reference import losses
from sheetwork import SCALED, Slip, Student, Style, close
from shapes import shape


@dataclass(frozen=True)
class Case:
    shape: str
    layout: str
    updates: int = 1
    style: Style = Style()
    slips: tuple[Slip, ...] = field(default=())


H_K = Style(convention="err", labels="symbols", factors="delta", grads=False)  # Han & Kamber: Err, w + l·Err·O

RIGHT = {  # all-right workbooks: every cell right (in its form)
    "block-mazur_shared_frozen-textbook": Case("mazur_shared_frozen", "block", style=Style(spelling="textbook")),
    "sheets-mazur_shared_frozen-textbook": Case("mazur_shared_frozen", "sheets", 3, Style(spelling="textbook")),
    "rows-mazur_per_neuron": Case("mazur_per_neuron", "rows", 5),
    "block-mazur_per_neuron-bias_input": Case("mazur_per_neuron", "block", style=Style(bias_input=True, factors="all")),
    "diagram-mazur_shared_trained": Case("mazur_shared_trained", "diagram", style=Style(factors="all")),
    "rows-mazur_nobias-eta_typed": Case("mazur_nobias", "rows", 5, Style(eta_typed=True)),
    "rows-mazur_per_neuron_frozen-korean": Case("mazur_per_neuron_frozen", "rows", 4, Style(labels="korean")),
    "block-hk-err-symbols": Case("hk", "block", style=H_K),
    "diagram-hk": Case("hk", "diagram", style=Style(factors="all")),
    "sheets-hk-err-symbols": Case("hk", "sheets", 3, H_K),
    "stacked-xor-summed_cost": Case("xor", "stacked", 3, Style(factors="all", summed_cost=True)),
    "stacked-xor_half-t_minus_o-korean": Case("xor_half", "stacked", 3, Style(convention="t_minus_o", factors="all",
                                                                            labels="korean")),
    "block-xor": Case("xor", "block", style=Style(factors="delta")),
    "rows-adaline-t_minus_o-eta_typed": Case("adaline", "rows", 8, Style(convention="t_minus_o", eta_typed=True,
                                                                         grads=False)),
    "sheets-adaline": Case("adaline", "sheets", 4),
    "rows-sigmoid_neuron-portuguese": Case("sigmoid_neuron", "rows", 4, Style(labels="portuguese", factors="all")),
    "diagram-sigmoid_neuron-err-symbols": Case("sigmoid_neuron", "diagram", style=H_K),
    "block-tanh_neuron-korean": Case("tanh_neuron", "block", style=Style(labels="korean", factors="all")),
    "block-n241-t_minus_o-eta_typed-by_input-portuguese": Case(
        "n241", "block", style=Style(convention="t_minus_o", eta_typed=True, by_input=True, labels="portuguese",
                                     factors="all", grads=False)),
    "diagram-n241-korean": Case("n241", "diagram", style=Style(labels="korean")),
    "block-relu": Case("relu", "block", style=Style(factors="all")),
    "rows-relu-by_input": Case("relu", "rows", 4, Style(by_input=True)),
    "sheets-tanh221": Case("tanh221", "sheets", 3, Style(factors="delta")),
    "stacked-vandermerwe-bias_input": Case("vandermerwe", "stacked", 3, Style(factors="all", bias_input=True)),
    "rows-perceptron": Case("perceptron", "rows", 5, Style(factors="all")),
    "block-deep": Case("deep", "block", style=Style(factors="all")),
    "rows-deep-portuguese": Case("deep", "rows", 4, Style(labels="portuguese")),
}

CONVENTION_ONLY = {  # right in the student's conventions, but the steps differ from the spec's (carried forward)
    "rows-tanh_neuron-no_half": Case("tanh_neuron", "rows", 4, Style(convention="no_half", factors="all")),
    "block-mazur_nobias-no_half": Case("mazur_nobias", "block", style=Style(convention="no_half", factors="all")),
}

MISTAKES = {  # each workbook holds slips whose consequences do not meet; every later cell is carried forward
    "block-mazur_shared_frozen-updates": Case("mazur_shared_frozen", "block", style=Style(factors="all"), slips=(
        Slip("E_o1", "half_dropped_in_loss"), Slip("new_w_5", "update_sign"), Slip("new_w_6", "eta_left_out"),
        Slip("new_w_8", "wrong_gradient"), Slip("new_b_1", "frozen_bias_updated"))),
    "block-mazur_shared_frozen-hidden": Case("mazur_shared_frozen", "block", style=Style(factors="all"), slips=(
        Slip("dE_dout_h1", "updated_weights"), Slip("dout_dnet_h2", "derivative_of_net"),
        Slip("E_total", "averaged_outputs"))),
    "block-mazur_per_neuron-hidden": Case("mazur_per_neuron", "block", style=Style(factors="all"), slips=(
        Slip("dE_dout_h2", "one_output_only"), Slip("delta_h1", "derivative_left_out"),
        Slip("E_total", "loss_after_update"), Slip("new_b_o1", "bias_not_trained"))),
    "rows-mazur_per_neuron-folded": Case("mazur_per_neuron", "rows", 4, slips=(
        Slip("grad_w_3", "wrong_neuron_derivative", at="dout_dnet_h2"), Slip("grad_w_6", "net_instead_of_out"),
        Slip("grad_w_5", "missing_brackets"), Slip("grad_w_1", "weights_swapped", at="dE_dout_h1"))),
    "block-mazur_per_neuron-output": Case("mazur_per_neuron", "block", style=Style(factors="all"), slips=(
        Slip("dE_dout_o1", "target_minus_output"), Slip("E_o2", "half_dropped_in_loss"))),
    "sheets-mazur_nobias-output": Case("mazur_nobias", "sheets", 3, Style(factors="all"), slips=(
        Slip("dE_dout_o2", "half_dropped_in_gradient"),)),
    "diagram-mazur_shared_trained-backward": Case("mazur_shared_trained", "diagram", style=Style(factors="all"), slips=(
        Slip("dE_dout_h1", "dE_dout_instead_of_delta"), Slip("grad_w_5", "eta_in_gradient"),
        Slip("grad_w_8", "wrong_neuron"))),
    "rows-mazur_nobias-delta": Case("mazur_nobias", "rows", 4, Style(factors="all"), slips=(
        Slip("delta_o1", "sign_flipped"),)),
    "stacked-xor-samples": Case("xor", "stacked", 3, Style(factors="all"), slips=(
        Slip("grad_w_1", "sum_for_mean"), Slip("dout_dnet_h2_s1", "derivative_of_net"),
        Slip("E_o1_s1", "half_added_to_loss"), Slip("new_w_5", "update_sign"))),
    "stacked-xor-output": Case("xor", "stacked", 3, Style(factors="all"), slips=(
        Slip("dE_dout_o1_s1", "half_added_to_gradient"),)),
    "sheets-hk-output": Case("hk", "sheets", 3, Style(factors="all"), slips=(Slip("dE_dout_o1", "error_as_product"),)),
    "block-hk-forward": Case("hk", "block", slips=(Slip("net_h1", "weights_swapped"),)),
    "block-hk-given": Case("hk", "block", slips=(Slip("w_3", "given_mistyped", typed=-0.05),)),
    "block-n241-forward": Case("n241", "block", style=Style(factors="all"), slips=(
        Slip("net_o1", "net_instead_of_out"),)),
    "diagram-sigmoid_neuron-bias": Case("sigmoid_neuron", "diagram", slips=(Slip("net_o1", "bias_left_out"),)),
    "sheets-mazur_nobias-activation": Case("mazur_nobias", "sheets", 3, slips=(Slip("net_o2", "wrong_activation"),)),
    "rows-tanh_neuron-activation": Case("tanh_neuron", "rows", 4, Style(factors="all"), slips=(
        Slip("out_o1", "activation_left_out"),)),
    "diagram-tanh_neuron-derivative": Case("tanh_neuron", "diagram", style=Style(factors="all"), slips=(
        Slip("dout_dnet_o1", "wrong_derivative"),)),
    "block-relu-derivative": Case("relu", "block", style=Style(factors="all"), slips=(
        Slip("dout_dnet_h3", "wrong_derivative"),)),
    "block-sigmoid_neuron-typed": Case("sigmoid_neuron", "block", slips=(Slip("net_o1", "hardcoded"),)),
    "diagram-hk-gradients": Case("hk", "diagram", style=Style(factors="all"), slips=(
        Slip("grad_w_7", "eta_in_gradient"), Slip("grad_w_1", "wrong_neuron"))),
    "block-mazur_nobias-inline": Case("mazur_nobias", "block", style=Style(factors="delta"), slips=(
        Slip("delta_h2", "updated_weights", at="dE_dout_h2"),)),
    "rows-mazur_nobias-given": Case("mazur_nobias", "rows", 4, slips=(
        Slip("w_2", "weights_swapped", typed=0.25), Slip("w_3", "weights_swapped", typed=0.2))),
    "stacked-vandermerwe-sum": Case("vandermerwe", "stacked", 3, Style(factors="all", bias_input=True), slips=(
        Slip("grad_w_5", "mean_for_sum"),)),
}

LATER = {  # right in the first update; a slip in a later one: the run names the first wrong update
    "stacked-xor_half-later": Case("xor_half", "stacked", 4, Style(factors="all"), slips=(
        Slip("new_w_2", "eta_left_out", update=2),)),
    "sheets-mazur_shared_frozen-later": Case("mazur_shared_frozen", "sheets", 3, slips=(
        Slip("grad_w_4", "wrong_neuron_derivative", at="dout_dnet_h2", update=1),)),
    "rows-sigmoid_neuron-later": Case("sigmoid_neuron", "rows", 5, slips=(Slip("new_w_2", "update_sign", update=2),)),
}

MIXED = {  # a student who writes the output layer in t − o form (w + η·…) and the hidden layer in the spec's
    "block-mazur_per_neuron-mixed": Case("mazur_per_neuron", "block", style=Style(factors="all", negated_layers=(2,))),
}

CASES = {**RIGHT, **CONVENTION_ONLY, **MISTAKES, **LATER, **MIXED}
RUNS = {cid for cid, case in CASES.items() if case.updates > 1}


@dataclass
class Graded:
    built: Built
    report: FileReport

    @property
    def items(self):
        return {i.name: i for i in self.report.items}


_GRADED: dict[str, Graded] = {}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layouts")

    def get(cid: str) -> Graded:
        if cid not in _GRADED:
            case = CASES[cid]
            student = Student(shape(case.shape), case.style, case.slips)
            built = build(folder / f"{cid}.xlsx", student, case.layout, case.updates)
            _GRADED[cid] = Graded(built, grade_file(built.path, student.spec))
        return _GRADED[cid]

    return get


def _value(book, values, cell: str):
    sheet, a1 = cell.rsplit("!", 1)
    if sheet.startswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    return values[(sheet, a1)] if (sheet, a1) in values else book[sheet][a1].value


@pytest.mark.parametrize("cid", sorted(CASES))
def test_the_builder_writes_what_it_records(graded, cid):
    """The truth is the workbook's: each recorded cell holds the value the builder worked out (the
    engine recomputes it), and a right run's loss follows the reference update after update."""
    built = graded(cid).built
    st = built.student
    values, book = evaluate(built.path), openpyxl.load_workbook(built.path)
    wrong = [(name, cell, _value(book, values, cell), st.student_value(name))
             for name, (cell, _, _) in built.truth.items()
             if not close(float(_value(book, values, cell)), st.student_value(name))]
    assert not wrong
    if cid in RIGHT and built.updates > 1:
        reference = losses(st.spec, built.updates - 1)
        for k, at in enumerate(built.cells):
            cell = at.get("E_total") or at.get(st.alias("E_total") or "")
            assert close(float(_value(book, values, str(cell))) / st.factor("E_total"), reference[k]), k


@pytest.mark.parametrize("cid", sorted(CASES))
def test_each_quantity_is_found_where_built_and_judged_as_the_truth_says(graded, cid):
    g = graded(cid)
    assert g.report.error is None
    off = []
    for name, (cell, status, mistake) in g.built.truth.items():
        item = g.items.get(name)
        got = (item.cell, item.status, item.mistake) if item else None
        if got != (cell, status, mistake):
            off.append(f"{name}: truth {cell} {status} {mistake or ''} | grader {got}")
    assert not off, f"{len(off)} of {len(g.built.truth)} off:\n" + "\n".join(off)


@pytest.mark.parametrize("cid", sorted(CASES))
def test_no_right_cell_is_called_wrong(graded, cid):
    g = graded(cid)
    wrongly = [f"{i.name} at {i.cell}: {i.status} ({i.mistake or i.diagnosis})" for i in g.report.items
               if i.status in ("incorrect", "error", "hardcoded")
               and g.built.truth.get(i.name, (None, None, None))[:2] != (i.cell, i.status)]
    assert not wrongly


@pytest.mark.parametrize("cid", sorted(RIGHT))
def test_an_all_right_workbook_gets_full_marks(graded, cid):
    report = graded(cid).report
    assert report.max_score > 0 and report.score == report.max_score, \
        [(i.name, i.cell, i.status) for i in report.items if i.points < i.max_points]
    assert report.all_right


@pytest.mark.parametrize("cid", sorted(RIGHT))
def test_without_a_spec_the_network_is_read_from_the_formulas_and_earns_full_marks(graded, cid):
    """No --spec: the shape, the activations, the biases (cells, a constant-1 input, shared, frozen),
    the loss, η and the samples are read from the workbook, said in a note, and an all-right workbook
    earns full marks as it does with the spec."""
    g = graded(cid)
    report = grade_file(g.built.path, None)
    assert report.error is None and report.max_score > 0 and report.score == report.max_score, \
        [(i.name, i.cell, i.status) for i in report.items if i.points < i.max_points]
    spec = g.built.student.spec
    note = next(n for n in report.notes if n.startswith("no spec given"))
    sizes = "-".join(map(str, spec.sizes))
    if "read the network from the workbook's formulas" not in note:  # Mazur's 2-2-2: the assignment's own
        assert note.startswith(f"no spec given: assumed the assignment's network, {sizes} sigmoid"), note
        return
    each = [layer.activation for layer in spec.layers[1:]]
    activations = each[0] if len(set(each)) == 1 else "/".join(each)
    assert f"formulas, {sizes} {activations}, " in note, note
    assert f", loss {spec.loss}, η = {spec.learning_rate:g}, " in note, note
    biased = any(b is not None for b in spec.biases)
    assert (", no biases," not in note) == biased, note
    assert ("frozen biases" in note) == (biased and not spec.train_biases), note
    if spec.batch_size == len(spec.data) > 1:  # the first update's batch: every sample, summed or averaged
        assert f"{len(spec.data)} samples, their losses {'summed' if spec.reduction == 'sum' else 'averaged'}" in note


def test_sheetprops_own_workbook_of_every_preset_is_read_without_a_spec(tmp_path):
    """The worked example `generate` writes (its Training sheet recomputing the forward pass from
    copies of the weights) is read as the preset's network and earns full marks without --spec."""
    from sheetprop.model.spec import load_spec, preset_names
    from sheetprop.writing.workbook import write_workbook

    for name in preset_names():
        path = tmp_path / f"{name}.xlsx"
        write_workbook(load_spec(name), path)
        report = grade_file(path, None)
        assert report.score == report.max_score > 0, (name, [(i.name, i.status) for i in report.items
                                                             if i.points < i.max_points][:5])
        assert not [t for t in report.training if t["status"] != "correct"], (name, report.training)


@pytest.mark.parametrize("cid", sorted(RUNS))
def test_the_training_run_is_checked_update_by_update(graded, cid):
    g = graded(cid)
    runs = [t for t in g.report.training if t["status"] != "pasted"]
    assert len(runs) == 1 and len(g.report.training) == 1, g.report.training  # one run; nothing was pasted
    run = runs[0]
    assert run["rows"] == g.built.updates
    slips = [s for s in g.built.student.slips if s.mistake != "hardcoded" and s.typed is None]  # formulas' slips
    if not slips:
        assert run["status"] == "correct" and run["first_wrong"] is None, run["first_wrong"]
        if cid in RIGHT:
            assert run["loss_last"] == pytest.approx(run["correct_last"], rel=1e-9)
        return
    first = min(s.update for s in slips)
    names = {s.cell for s in slips if s.update == first}
    assert run["status"] == "incorrect" and run["first_wrong"] is not None
    wrong = run["first_wrong"]
    assert wrong["update"] == first and wrong["name"] in names, wrong
    assert wrong["cell"] == str(g.built.cells[first][wrong["name"]]), wrong


@pytest.mark.parametrize("cid", sorted(c for c in CASES if CASES[c].updates == 1))
def test_a_single_update_is_no_run_and_nothing_is_pasted(graded, cid):
    assert [t for t in graded(cid).report.training if t["status"] in ("incorrect", "pasted")] == []


@pytest.mark.parametrize("cid", sorted(c for c in {**RIGHT, **CONVENTION_ONLY}
                                       if (s := CASES[c].style).convention != "spec" or s.summed_cost))
def test_a_convention_is_reported_in_its_form(graded, cid):
    """t − o (and Han & Kamber's Err = −δ), the loss without ½ with its derivative's 2, a summed cost:
    each cell in such a form says so; a cell in the spec's own form claims none."""
    g = graded(cid)
    st = g.built.student
    off = []
    for name, (cell, _, _) in g.built.truth.items():
        item = g.items.get(name)
        if item is None or item.cell != cell:
            continue
        f, form = st.factor(name), item.form or ""
        wanted = []
        if f < 0:  # Han & Kamber's Err is −δ; the other factors (and t − o's δ) name the t − o convention
            err = st.style.convention == "err" and st.q(name).kind == "delta"
            wanted.append(r"−δ|Err" if err else r"t\s*[−-]\s*o")
        if st.style.convention == "no_half" and st.q(name).kind in SCALED:
            wanted.append(r"½|1/2|half")
        if st.style.summed_cost and st.q(name).kind == "E_total":
            wanted.append(r"sum")
        if f == 1 and form:
            off.append(f"{name}: in the spec's form, reported {form!r}")
        off += [f"{name} ({f:g} × the spec's): form {form!r} lacks /{w}/" for w in wanted if not re.search(w, form)]
    assert not off, "\n".join(off)


def test_a_student_who_mixes_two_conventions_is_told_where(graded):
    """The output layer in t − o form with w + η·… updates, the hidden layer in the spec's: every value
    right, every cell right in its own form, and the report says where the conventions change."""
    g = graded("block-mazur_per_neuron-mixed")
    assert not [i for i in g.report.items if i.status == "incorrect"]
    negated = {cell for name, (cell, _, _) in g.built.truth.items() if g.built.student.factor(name) < 0}
    plain = {cell for name, (cell, _, _) in g.built.truth.items()
             if g.built.student.factor(name) > 0 and g.built.student.q(name).kind in ("dE_dout", "delta", "grad")}
    texts = g.report.notes + [i.diagnosis for i in g.report.items]
    told = [t for t in texts if re.search(r"\bmix", t, re.IGNORECASE) and any(c in t for c in negated | plain)]
    assert told, "no note or diagnosis says the student mixes the t − o and the spec's conventions, and where"


def test_t_minus_o_with_the_update_against_the_gradient_is_named_where_the_conventions_clash(tmp_path):
    """∂E/∂out written t − o (the chain after it consistent) but the update w − η·…: the weights move
    the wrong way. Either the t − o cell is the mistake (and the rest carried forward) or the
    updates are (the factors right as the t − o form); the report says so in words."""
    st = Student(shape("mazur_nobias"), Style(convention="t_minus_o", factors="all"),
                 tuple(Slip(f"new_w_{k}", "update_sign") for k in range(1, 9)))
    built = build(tmp_path / "clash.xlsx", st, "block")
    report = grade_file(built.path, st.spec)
    items = {i.name: i for i in report.items}
    at_outputs = all(items[f"dE_dout_o{k}"].status == "incorrect"
                     and items[f"dE_dout_o{k}"].mistake == "target_minus_output" for k in (1, 2))
    at_updates = all(items[f"new_w_{k}"].status == "incorrect"
                     and items[f"new_w_{k}"].mistake in ("update_sign", "mixed_conventions") for k in range(1, 9))
    assert at_outputs != at_updates, {n: (i.status, i.mistake) for n, i in items.items() if i.status != "correct"}
    for name, (cell, _, _) in built.truth.items():
        assert items[name].cell == cell, (name, items[name].cell, cell)
    told = [i.diagnosis for i in report.items if i.status == "incorrect"]
    assert all(re.search(r"t\s*[−-]\s*o|target\s*[−-]\s*out", t) for t in told), told
