"""A learning-rate sweep: a live Training sheet per η and a Sweep sheet charting them together."""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import replace

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.model.network import with_epochs
from sheetprop.model.reference import iterate_training
from sheetprop.model.spec import SpecError, load_spec, parse_spec, validate, with_sweep
from sheetprop.verifying.verify import verify_workbook
from sheetprop.writing import layout as L
from sheetprop.writing.workbook import ETA_CELL, SWEEP_TABLE, training_sheet, write_workbook

from conftest import needs_libreoffice

ETAS = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)


def losses(spec, eta) -> list[float]:
    """Each update's loss at learning rate `eta`, straight from the reference."""
    return [step.E_total for step in iterate_training(replace(spec, learning_rate=eta, sweep=()))]


def column_of(ws, header: str) -> int:
    row = next(ws.iter_rows(min_row=L.TRAIN_HEADER_ROW + 1, max_row=L.TRAIN_HEADER_ROW + 1, values_only=True))
    return row.index(header)


@pytest.fixture(scope="module")
def homework(tmp_path_factory):
    """The homework as courses set it: Mazur without biases, 40 updates, the six learning rates."""
    folder = tmp_path_factory.mktemp("sweep")
    book = folder / "homework.xlsx"
    result = CliRunner().invoke(main, ["generate", "mazur-nobias", "--eta", ",".join(f"{e:g}" for e in ETAS),
                                       "--epochs", "40", "-o", str(book)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {book}: ")
    assert "40 updates on each of 6 Training sheets (η = 0.1, 0.2, 0.5, 0.8, 1, 2) and a Sweep sheet" in result.output
    return book


def test_a_training_sheet_per_learning_rate_each_with_its_own_input(homework):
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 40), ETAS)
    wb = openpyxl.load_workbook(homework)
    sheets = [f"Training η={eta:g}" for eta in ETAS]
    assert wb.sheetnames == [L.NETWORK, *sheets, "Sweep", L.ABOUT]
    for eta, sheet in zip(ETAS, sheets):
        ws = wb[sheet]
        eta_cell = ws.cell(ETA_CELL[0] + 1, ETA_CELL[1] + 1)
        assert eta_cell.value == eta
        assert eta_cell.fill.fgColor.rgb.endswith("FFF2CC")  # an input, yellow like the Network sheet's
        assert column_of(ws, "E_total") > 0
        row = [c.value for c in ws[L.TRAIN_FIRST_ROW + 2] if isinstance(c.value, str) and c.value.startswith("=")]
        assert sum("$B$3" in f for f in row) == 8  # the update of each of the 8 weights uses the sheet's own η …
        assert not any(re.search(r"\beta\b", f) for f in row)  # … never the Network sheet's
    # the Network sheet works the first learning rate
    (sheet, cell), = wb.defined_names["eta"].destinations
    assert sheet == L.NETWORK and wb[sheet][cell.replace("$", "")].value == ETAS[0] == spec.learning_rate


def test_the_stored_losses_are_each_learning_rates_own(homework):
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 40), ETAS)
    wb = openpyxl.load_workbook(homework, data_only=True)  # the results XlsxWriter stored
    for eta in ETAS:
        ws = wb[training_sheet(spec, eta)]
        col = column_of(ws, "E_total")
        stored = [ws.cell(L.TRAIN_FIRST_ROW + 1 + k, col + 1).value for k in range(41)]
        assert stored == pytest.approx(losses(spec, eta), rel=1e-15)
    ws = wb["Sweep"]
    table = [[ws.cell(SWEEP_TABLE + 2 + k, c + 1).value for c in range(3)] for k in range(len(ETAS))]
    assert [row[0] for row in table] == list(ETAS)
    assert [row[2] for row in table] == pytest.approx([losses(spec, eta)[-1] for eta in ETAS], rel=1e-15)
    # the larger η, the lower the loss after 40 updates, for this network
    assert [row[2] for row in table] == sorted((row[2] for row in table), reverse=True)


def test_the_sweep_chart_has_a_series_per_learning_rate_a_legend_and_axis_titles(homework):
    with zipfile.ZipFile(homework) as z:
        charts = {name: z.read(name).decode() for name in z.namelist() if name.startswith("xl/charts/chart")}
        drawings = {name: z.read(name).decode() for name in z.namelist()
                    if re.fullmatch(r"xl/worksheets/_rels/sheet\d+\.xml\.rels", name)}
    sweep = [xml for xml in charts.values() if "one curve per learning rate" in xml]
    assert len(sweep) == 1 and len(charts) == len(ETAS) + 1  # one chart per Training sheet, and the Sweep chart
    xml = sweep[0]
    assert xml.count("<c:ser>") == len(ETAS)
    e_total = openpyxl.utils.get_column_letter(column_of(openpyxl.load_workbook(homework)["Training η=1"], "E_total") + 1)
    for eta in ETAS:
        assert f"<c:v>η = {eta:g}</c:v>" in xml  # the series' name, shown in the legend
        assert f"<c:f>'Training η={eta:g}'!$A$23:$A$63</c:f>" in xml  # updates 0 … 40
        assert f"<c:f>'Training η={eta:g}'!${e_total}$23:${e_total}$63</c:f>" in xml  # their losses
    assert "<c:legend>" in xml
    assert xml.count("<c:title>") == 3  # the chart's, the x axis's ("update"), the y axis's ("E_total")
    assert ">update<" in xml and ">E_total<" in xml
    assert drawings  # the charts are anchored in sheets


def test_verify_checks_every_sheet(homework):
    report = verify_workbook(homework, engine="ironcalc")
    assert report.error is None and report.mismatches == []
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 40), ETAS)
    from sheetprop.model.spec import count_formulas
    assert report.cells == count_formulas(spec)


def test_verify_checks_every_sheet_with_the_formulas_engine(tmp_path):
    """The pure-Python engine, an independent second opinion, on a smaller sweep (it takes a minute
    for the whole homework)."""
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 8), (0.1, 0.5, 2.0))
    book = tmp_path / "small.xlsx"
    write_workbook(spec, book)
    report = verify_workbook(book, engine="formulas")
    assert report.error is None and report.mismatches == []
    from sheetprop.model.spec import count_formulas
    assert report.cells == count_formulas(spec)


@needs_libreoffice
def test_verify_checks_every_sheet_with_libreoffice(homework):
    report = verify_workbook(homework, engine="libreoffice")
    assert report.error is None and report.mismatches == [], report.mismatches[:3]


def test_a_student_changing_one_sheets_eta_moves_only_that_curve(homework, tmp_path):
    edited = tmp_path / "edited.xlsx"
    wb = openpyxl.load_workbook(homework)
    wb["Training η=0.5"].cell(ETA_CELL[0] + 1, ETA_CELL[1] + 1).value = 0.25
    wb.save(edited)
    report = verify_workbook(edited, engine="ironcalc")
    assert report.error is None and report.mismatches == []
    results = report_values(edited)
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 40), ETAS)
    assert results["Training η=0.5"][-1] == pytest.approx(losses(spec, 0.25)[-1], rel=1e-12)
    assert results["Training η=0.8"][-1] == pytest.approx(losses(spec, 0.8)[-1], rel=1e-12)


def report_values(book) -> dict[str, list[float]]:
    from sheetprop.engines import evaluate

    values = evaluate(book, "ironcalc")
    wb = openpyxl.load_workbook(book, read_only=False)
    out = {}
    for sheet in wb.sheetnames:
        if sheet.startswith("Training"):
            col = column_of(wb[sheet], "E_total")
            from sheetprop.cells import a1
            out[sheet] = [values[(sheet, a1(L.TRAIN_FIRST_ROW + k, col))] for k in range(1, 41)]
    return out


def test_reference_json_gives_each_learning_rates_loss_history():
    result = CliRunner().invoke(main, ["reference", "mazur", "--eta", "0.1,0.5,2", "--epochs", "5", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    spec = with_epochs(load_spec("mazur"), 5)
    assert [run["learning_rate"] for run in data["sweep"]] == [0.1, 0.5, 2.0]
    for run in data["sweep"]:
        assert run["loss"] == pytest.approx(losses(spec, run["learning_rate"]), rel=1e-15)
    assert data["loss"] == data["sweep"][0]["loss"]
    assert data["names"]["eta"] == 0.1


def test_a_sweep_in_the_spec_file():
    spec = parse_spec("layers: [2, 2, 2]\nlearning_rate: [0.1, 0.2, 0.5]\ndata: [{inputs: [1, 2], targets: [0, 1]}]\n")
    assert spec.learning_rate == 0.1 and spec.sweep == (0.1, 0.2, 0.5) and spec.etas == (0.1, 0.2, 0.5)
    assert validate(spec.to_dict()) == spec  # the embedded form round-trips
    with pytest.raises(SpecError, match=r"learning_rate\[1\]: must be greater than 0"):
        parse_spec("layers: [1, 1]\nlearning_rate: [0.1, -2]\ndata: [{inputs: [1], targets: [1]}]\n")
    with pytest.raises(SpecError, match="lists the learning rate 0.1 twice"):
        parse_spec("layers: [1, 1]\nlearning_rate: [0.1, 0.1]\ndata: [{inputs: [1], targets: [1]}]\n")
    with pytest.raises(SpecError, match="0.12345678901 and 0.12345678902 are equal to 10 significant digits"):
        parse_spec("layers: [1, 1]\nlearning_rate: [0.12345678901, 0.12345678902]\ndata: [{inputs: [1], targets: [1]}]\n")


def test_rates_alike_to_six_digits_get_sheets_named_apart(tmp_path):
    spec = with_sweep(with_epochs(load_spec("mazur"), 2), (0.1234561, 0.1234562, 0.5))
    book = tmp_path / "close.xlsx"
    write_workbook(spec, book)
    assert openpyxl.load_workbook(book).sheetnames[1:4] == ["Training η=0.1234561", "Training η=0.1234562",
                                                            "Training η=0.5"]
    report = verify_workbook(book)
    assert report.error is None and report.mismatches == []


MORE = {
    "online, several samples": ("vandermerwe", {"batch": "online"}),
    "mini-batch": ("xor", {"batch": 2}),
    "several outputs, biases": ("mazur", {}),
    "softmax and cross-entropy": (None, None),
}


@pytest.mark.parametrize("case", MORE)
def test_a_sweep_works_with_every_kind_of_spec(tmp_path, case):
    name, changes = MORE[case]
    if name is None:
        spec = parse_spec("layers: [2, 3, {size: 3, activation: softmax}]\nloss: cross_entropy\n"
                          "learning_rate: 0.3\nepochs: 4\ndata:\n  - {inputs: [0.5, -1], targets: [0, 1, 0]}\n"
                          "  - {inputs: [1, 0.25], targets: [1, 0, 0]}\n")
    else:
        spec = validate({**load_spec(name).to_dict(), **changes, "epochs": 3})
    spec = with_sweep(spec, (0.05, 0.3, 1.5))
    book = tmp_path / "b.xlsx"
    write_workbook(spec, book)
    report = verify_workbook(book, engine="ironcalc")
    assert report.error is None and report.mismatches == []
    values = openpyxl.load_workbook(book, data_only=True)
    for eta in spec.sweep:
        ws = values[training_sheet(spec, eta)]
        col = column_of(ws, "E_total")
        last = ws.cell(L.TRAIN_FIRST_ROW + 1 + spec.n_updates, col + 1).value
        assert last == pytest.approx(losses(spec, eta)[-1], rel=1e-14)


@pytest.mark.parametrize("value, says", [
    ("0,1", "'0' must be greater than 0"),
    ("0.5,0.5", "lists the learning rate 0.5 twice"),
    ("0.1,abc", "'abc' is not a number"),
    (",".join(str(k + 1) for k in range(21)), "at most 20 learning rates"),
])
def test_bad_eta_options_are_one_line_and_exit_2(tmp_path, value, says):
    result = CliRunner().invoke(main, ["generate", "mazur", "--eta", value, "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2 and says in result.output
    assert result.output.startswith("Error: Invalid value for '--eta': ") and result.output.count("\n") == 1
    assert result.output.endswith(" (see `sheetprop generate --help`)\n")  # one line, no usage block
    assert not (tmp_path / "x.xlsx").exists()


@pytest.mark.parametrize("etas", [None, ETAS])
def test_the_grader_finds_every_training_sheet_of_a_sheetprop_workbook_right(homework, tmp_path, etas):
    """The worked step on the Network sheet, the runs on the Training sheets: each table is
    checked with its own learning rate, and all of them are right."""
    from sheetprop.grading.grade import grade_file

    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 40), etas)
    book = homework if etas else write_workbook(spec, tmp_path / "plain.xlsx") and tmp_path / "plain.xlsx"
    report = grade_file(book, spec)
    assert report.error is None and report.all_right
    tables = report.training
    assert [t["sheet"] for t in tables] == [training_sheet(spec, eta) for eta in spec.etas]
    assert [t["eta"] for t in tables] == list(spec.etas)
    assert all(t["status"] == "correct" and t["rows"] == 41 for t in tables), tables
    for t, eta in zip(tables, spec.etas):
        assert t["loss_last"] == pytest.approx(losses(spec, eta)[-1], rel=1e-12)
        assert t["correct_last"] == pytest.approx(losses(spec, eta)[-1], rel=1e-12)


def test_an_exercise_set_with_another_rate_is_checked_with_it(tmp_path):
    exercise, solution = tmp_path / "ex.xlsx", tmp_path / "sol.xlsx"
    runner = CliRunner()
    result = runner.invoke(main, ["generate", "mazur", "--eta", "0.1,0.5", "--exercise", "-o", str(exercise)])
    assert result.exit_code == 0, result.output
    assert "2 Training sheets of 20 updates each to fill in and the Sweep chart" in result.output
    texts = [c.value for row in openpyxl.load_workbook(exercise)["Instructions"].iter_rows() for c in row]
    assert "sheetprop check YOUR_FILE.xlsx --spec mazur --eta 0.1" in texts
    assert runner.invoke(main, ["generate", "mazur", "--eta", "0.1", "--epochs", "0", "-o", str(solution)]).exit_code == 0
    right = runner.invoke(main, ["check", str(solution), "--spec", "mazur", "--eta", "0.1", "--json"])
    assert right.exit_code == 0, right.output
    report = json.loads(right.output)[0]
    assert report["score"] == report["max_score"] > 0
    wrong = runner.invoke(main, ["check", str(solution), "--spec", "mazur", "--json"])
    eta = next(i for i in json.loads(wrong.output)[0]["items"] if i["name"] == "eta")
    assert wrong.exit_code == 1 and eta["status"] == "incorrect" and eta["expected"] == 0.5
    alone = runner.invoke(main, ["check", str(solution), "--eta", "0.1"])
    assert alone.exit_code == 2 and alone.output == "Error: --eta changes the learning rate of the spec: pass --spec too\n"


# ---------------------------------------------------------------- the handout of the homework


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    """The handout as courses set the homework: the Network sheet and a Training sheet per η to fill in."""
    folder = tmp_path_factory.mktemp("handout")
    book = folder / "handout.xlsx"
    result = CliRunner().invoke(main, ["generate", "mazur-nobias", "--eta", ",".join(f"{e:g}" for e in ETAS),
                                       "--epochs", "50", "--exercise", "-o", str(book)])
    assert result.exit_code == 0, result.output
    assert "6 Training sheets of 50 updates each to fill in and the Sweep chart" in result.output
    return book


def test_the_handout_has_a_training_sheet_per_rate_to_fill_in(handout, homework):
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 50), ETAS)
    wb = openpyxl.load_workbook(handout)
    sheets = [training_sheet(spec, eta) for eta in ETAS]
    assert wb.sheetnames == ["Instructions", "Network", *sheets, "Sweep"]
    answer = openpyxl.load_workbook(homework)  # the model answer: the same header rows
    for sheet, eta in zip(sheets, ETAS):
        ws = wb[sheet]
        assert ws.cell(ETA_CELL[0] + 1, ETA_CELL[1] + 1).value == eta  # its own η, a given value in yellow
        assert ws.cell(ETA_CELL[0] + 1, ETA_CELL[1] + 1).fill.fgColor.rgb == "FFFFF2CC"
        header = [c.value for c in ws[L.TRAIN_HEADER_ROW + 1]]
        assert header == [c.value for c in answer[sheet][L.TRAIN_HEADER_ROW + 1]]
        rows = list(ws.iter_rows(min_row=L.TRAIN_FIRST_ROW + 1, values_only=True))
        assert [row[0] for row in rows] == list(range(51))  # --epochs 50: the updates 0 … 50
        params = [c for c, h in enumerate(header) if h and re.fullmatch(r"w\d", h)]
        assert [rows[0][c] for c in params] == [f"=w_{k}" for k in range(1, 9)]  # row 0 starts from the given weights
        blank = [(k, c) for k, row in enumerate(rows) for c in range(1, len(header))
                 if not (k == 0 and c in params)]
        assert all(rows[k][c] is None for k, c in blank)  # every other cell is the student's
        assert ws.cell(L.TRAIN_FIRST_ROW + 2, 2).fill.fgColor.rgb == "FFE2EFDA"  # green: to fill in


def test_the_handouts_sweep_chart_reads_what_the_student_fills_in(handout):
    with zipfile.ZipFile(handout) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
        sheets = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
    sweep = next(xml for xml in charts if "one curve per learning rate" in xml)
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 50), ETAS)
    for eta in ETAS:  # each series: the update numbers and the E_total column of its sheet, rows 0 … 50
        sheet = training_sheet(spec, eta)
        assert re.search(rf"<c:f>'{re.escape(sheet)}'!\$[A-Z]+\${L.TRAIN_FIRST_ROW + 1}:\$[A-Z]+\$"
                         rf"{L.TRAIN_FIRST_ROW + 51}</c:f>", sweep), sheet
    # no answer is stored: the only stored results are given values (row 0's weights, each sheet's η)
    stored = re.findall(r"<f>([^<]*)</f><v>[^<]+</v>", sheets)
    assert stored and all(re.fullmatch(r"w_\d|'[^']+'!\$B\$3", f) for f in stored), set(stored)


def fill_in(handout, answer, out):
    """A student who fills the handout with the model answer's formulas (sheetprop's own)."""
    book, model = openpyxl.load_workbook(handout), openpyxl.load_workbook(answer)
    for name, dn in book.defined_names.items():
        sheet, ref = dn.attr_text.split("!")
        cell = book[sheet][ref.replace("$", "")]
        if cell.value is None:
            cell.value = model[sheet][ref.replace("$", "")].value
    for ws in book.worksheets:
        if ws.title.startswith("Training"):
            for row in model[ws.title].iter_rows(min_row=L.TRAIN_FIRST_ROW + 1):
                for c in row:
                    if ws[c.coordinate].value is None and c.value is not None:
                        ws[c.coordinate].value = getattr(c.value, "text", c.value)  # a shared formula's text
    book.save(out)
    return out


def test_a_filled_handout_is_graded_each_table_with_its_own_rate(tmp_path):
    etas = (0.1, 0.5, 2.0)  # three of the six rates and 20 updates: the same sheets, graded in a third of the time
    spec = with_sweep(with_epochs(load_spec("mazur-nobias"), 20), etas)
    runner = CliRunner()
    handout = tmp_path / "handout.xlsx"
    assert runner.invoke(main, ["generate", "mazur-nobias", "--eta", "0.1,0.5,2", "--epochs", "20", "--exercise",
                                "-o", str(handout)]).exit_code == 0
    answer = write_workbook(spec, tmp_path / "answer.xlsx") and tmp_path / "answer.xlsx"
    filled = fill_in(handout, answer, tmp_path / "filled.xlsx")
    result = runner.invoke(main, ["check", str(filled), "--spec", "mazur-nobias", "--eta", "0.1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)[0]
    assert report["score"] == report["max_score"] == 39
    assert [t["sheet"] for t in report["training"]] == [training_sheet(spec, eta) for eta in etas]
    assert [t["eta"] for t in report["training"]] == list(etas)
    assert all(t["status"] == "correct" and t["rows"] == 21 for t in report["training"])
    # a slip in one sheet's update (w + η·g) is that table's, found where it first appears
    wb = openpyxl.load_workbook(filled)
    ws = wb[training_sheet(spec, 0.5)]
    cell = ws.cell(L.TRAIN_FIRST_ROW + 7, 2)  # update 6's w1
    cell.value = cell.value.replace("-", "+", 1)
    wb.save(tmp_path / "slip.xlsx")
    slip = json.loads(runner.invoke(main, ["check", str(tmp_path / "slip.xlsx"), "--spec", "mazur-nobias",
                                           "--eta", "0.1", "--json"]).output)[0]
    statuses = {t["eta"]: t["status"] for t in slip["training"]}
    assert statuses == {eta: "incorrect" if eta == 0.5 else "correct" for eta in etas}
    wrong = next(t for t in slip["training"] if t["eta"] == 0.5)["first_wrong"]
    assert (wrong["update"], wrong["name"]) == (5, "new_w_1")  # update 6's w1 is the new w1 of update 5
