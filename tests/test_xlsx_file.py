"""What the .xlsx itself holds: each Training column filled down as one shared formula, as
Excel writes it, and every number to its last bit."""

from __future__ import annotations

import re
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cells import a1
from sheetprop.cli import main
from sheetprop.model import ops
from sheetprop.model.network import with_epochs
from sheetprop.model.randomspec import random_spec
from sheetprop.model.spec import load_spec, preset_names, validate
from sheetprop.writing import layout as L
from sheetprop.writing import training as T
from sheetprop.writing.workbook import build, write_workbook

XOR = {"name": "xor", "layers": [2, 2, 1], "activation": "sigmoid", "loss": "half_sse", "learning_rate": 0.5,
       "init": {"method": "xavier", "seed": 1}, "epochs": 3,
       "data": [{"inputs": [0, 0], "targets": [0]}, {"inputs": [0, 1], "targets": [1]},
                {"inputs": [1, 0], "targets": [1]}, {"inputs": [1, 1], "targets": [0]}]}

SPECS = {
    **{name: lambda name=name: with_epochs(load_spec(name), 3) for name in preset_names()},
    **{f"xor batch {b}": lambda b=b: validate({**XOR, "batch": b}) for b in ("online", 2, 3, "full")},
    "xor sweep": lambda: validate({**XOR, "batch": 3, "learning_rate": [0.5, 2]}),
    "xor one update": lambda: validate({**XOR, "epochs": 1}),
    "mazur one update": lambda: with_epochs(load_spec("mazur"), 1),
    **{f"random {seed}": lambda seed=seed: validate(random_spec(seed, epochs=4)) for seed in range(8)},
}


def written(spec) -> dict[tuple[str, str], str]:
    """Every Training formula, rendered for its own row alone (the oracle: no templates, no sharing)."""
    built = build(spec)
    graph, cols = built.graph, built.cols
    formulas = {}
    for run in built.runs:
        for step in run.steps:
            r, present = L.TRAIN_FIRST_ROW + step.index, len(step.batch)
            refs = {name: a1(r, c) for name, c in cols.params.items()}
            for slot in range(present):
                for q in graph:
                    if q.slot == slot and q.kind in ("input", "target"):
                        field_ = "inputs" if q.kind == "input" else "targets"
                        refs[q.name] = built.data_cells[("data", step.batch[slot], field_, q.index)]
                refs.update((name, a1(r, c)) for name, c in cols.slots[slot].items())
            row = {}
            for p in graph.params:
                if (c := cols.params.get(p.name)) is not None:
                    above = {p.name: a1(r - 1, c), f"grad_{p.name}": a1(r - 1, cols.grads[p.name]), "eta": run.eta_ref}
                    row[c] = p.name if step.index == 0 else graph.of("new", param=p).formula(above)
            for slot in range(present):
                row.update((c, T._render(graph, graph[name], refs, present)) for name, c in cols.slots[slot].items())
            row[cols.E_total] = ops.reduce_excel([a1(r, cols.slots[s][cols.losses[s]]) for s in range(present)],
                                                 spec.reduction)
            row.update((c, T._render(graph, graph[f"grad_{name}"], refs, present)) for name, c in cols.grads.items())
            formulas.update(((run.sheet, a1(r, c)), "=" + text) for c, text in row.items())
    return formulas


def sheet_xml(path, index: int) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(f"xl/worksheets/sheet{index}.xml").decode()


@pytest.mark.parametrize("name", SPECS)
def test_every_training_formula_reads_back_as_the_formula_of_its_own_row(tmp_path, name):
    """openpyxl moves each shared formula to its cell itself: what it reads is what was meant."""
    spec = SPECS[name]()
    path = tmp_path / "book.xlsx"
    write_workbook(spec, path)
    expected = written(spec)
    wb = openpyxl.load_workbook(path)
    got = {(sheet, cell.coordinate): cell.value for sheet in {s for s, _ in expected}
           for row in wb[sheet].iter_rows() for cell in row if cell.data_type == "f"}
    assert got == expected


def test_a_column_of_one_shape_is_one_shared_formula_from_its_first_row_to_the_last(tmp_path):
    spec = with_epochs(load_spec("mazur"), 10)  # rows 23 (update 0) to 33 (update 10)
    path = tmp_path / "mazur.xlsx"
    write_workbook(spec, path)
    xml = sheet_xml(path, 2)  # Network, Training, About
    masters = re.findall(r'<c r="([A-Z]+)(\d+)"[^>]*><f t="shared" ref="([A-Z]+\d+:[A-Z]+\d+)" si="(\d+)">', xml)
    followers = re.findall(r'<f t="shared" si="(\d+)"/>', xml)
    by_column = {col: (int(row), ref) for col, row, ref, si in masters}
    assert len(by_column) == len(masters) == 30  # every formula column of Mazur's Training sheet
    assert by_column["B"] == (24, "B24:B33")  # w1: row 23 holds =w_1, the update rule starts below
    assert by_column["J"] == (23, "J23:J33")  # net_h1: the same shape from update 0 on
    assert [int(si) for *_, si in masters] == list(range(30))  # numbered as they appear, as Excel does
    assert len(followers) == 8 * 9 + 22 * 10
    assert xml.count("B23-eta*X23") == 1  # the formula text is in the file once


def test_columns_that_change_with_the_sample_are_written_row_by_row(tmp_path):
    """Online: each update takes the next sample, so net_h1 changes its inputs from row to row."""
    spec = validate({**XOR, "batch": "online"})
    path = tmp_path / "online.xlsx"
    write_workbook(spec, path)
    wb = openpyxl.load_workbook(path)
    ws = wb["Training"]
    header = {ws.cell(22, c).value: c for c in range(1, ws.max_column + 1)}
    net = [ws.cell(r, header["net_h1"]).value for r in range(23, 23 + 4)]
    assert len(set(net)) == 4  # four samples, four formulas
    xml = sheet_xml(path, 2)
    column = openpyxl.utils.get_column_letter(header["net_h1"])
    assert not re.search(rf'<c r="{column}\d+"[^>]*><f t="shared"', xml)
    out = openpyxl.utils.get_column_letter(header["out_h1"])  # out_h1 = σ(net_h1): one shape
    assert re.search(rf'<c r="{out}23"[^>]*><f t="shared" ref="{out}23:{out}{23 + spec.n_updates}"', xml)


def test_given_numbers_are_stored_to_the_last_bit(tmp_path):
    """XlsxWriter writes 16 significant digits; 0.1 + 0.2 needs 17."""
    raw = load_spec("mazur").to_dict()
    raw["weights"][0][0][0] = 0.1 + 0.2
    raw["data"][0]["inputs"][0] = 1.1 * 1.1  # 1.2100000000000002
    spec = validate(raw)
    path = tmp_path / "exact.xlsx"
    write_workbook(spec, path)
    wb = openpyxl.load_workbook(path)
    defined = {name: dn.attr_text.split("!")[1].replace("$", "") for name, dn in wb.defined_names.items()}
    assert wb["Network"][defined["w_1"]].value == 0.30000000000000004
    assert wb["Network"][defined["i_1"]].value == 1.2100000000000002
    result = CliRunner().invoke(main, ["verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "changed" not in result.output  # the workbook holds the spec's own values


def test_one_update_shares_no_parameter_column(tmp_path):
    """Update 0 holds =w_1 and update 1 the rule: one row of each, nothing to share."""
    path = tmp_path / "one.xlsx"
    write_workbook(with_epochs(load_spec("mazur"), 1), path)
    xml = sheet_xml(path, 2)
    assert '<c r="B24" s="6"><f>B23-eta*X23</f>' in xml
    assert re.search(r'<c r="J23" s="6"><f t="shared" ref="J23:J24" si="0">', xml)
