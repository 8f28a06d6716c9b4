"""An activation added to `sheetprop.model.ops` alone (SiLU, x·σ(x)) works everywhere: the reference
(against finite differences), the workbook (every engine), the worked solution and the grader,
which names the sigmoid's derivative written in its place."""

from __future__ import annotations

import math

import openpyxl
import pytest

from sheetprop.grading.grade import grade_file
from sheetprop.model import graph as G
from sheetprop.model import reference as R
from sheetprop.model.spec import parse_spec
from sheetprop.solution.explain import markdown
from sheetprop.verifying.verify import verify_workbook
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice

SILU = parse_spec("""
name: SiLU 2-3-1
layers: [2, {size: 3, activation: silu}, {size: 1, activation: identity}]
loss: half_sse
learning_rate: 0.2
epochs: 3
init: {method: uniform, seed: 7, low: -1, high: 1}
data:
  - {inputs: [0.5, -1.5], targets: [0.25]}
""")


def silu(x: float) -> float:
    return x / (1 + math.exp(-x))


def test_the_reference_computes_silu_and_its_derivative():
    step = R.run_step(SILU, R.Params.of(SILU), SILU.batches()[0])
    values = R.solve(SILU).values
    for j in (1, 2, 3):
        net = values[f"net_h{j}"]
        assert values[f"out_h{j}"] == pytest.approx(silu(net), rel=1e-15)
        h = 1e-6
        numeric = (silu(net + h) - silu(net - h)) / (2 * h)
        assert values[f"dout_dnet_h{j}"] == pytest.approx(numeric, rel=1e-8)
    params = R.Params.of(SILU)
    for p in R.parameters(SILU):
        value = params.value(p)
        params.set(p, value + 1e-6)
        up = R.run_step(SILU, params, SILU.batches()[0]).E_total
        params.set(p, value - 1e-6)
        down = R.run_step(SILU, params, SILU.batches()[0]).E_total
        params.set(p, value)
        assert step.grads[p.name] == pytest.approx((up - down) / 2e-6, rel=1e-6, abs=1e-9), p.name


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = tmp_path_factory.mktemp("silu") / "silu.xlsx"
    write_workbook(SILU, path)
    return path


@pytest.mark.parametrize("engine", ["ironcalc", "formulas", pytest.param("libreoffice", marks=needs_libreoffice)])
def test_the_workbook_verifies_with_every_engine(book, engine):
    report = verify_workbook(book, engine=engine)
    assert report.error is None and report.mismatches == [], report.mismatches[:3]


def test_the_worked_solution_shows_silu():
    text = markdown(R.solve(SILU))
    out = R.solve(SILU).values["out_h1"]
    assert "out_h1" in text and f"{out:.9f}".rstrip("0") in text


def test_the_grader_names_the_sigmoids_derivative_written_for_silus(tmp_path):
    exercise = tmp_path / "exercise.xlsx"
    write_workbook(SILU, exercise, exercise=set(G.SECTIONS))
    wb = openpyxl.load_workbook(exercise)
    formulas = {name: "=" + text for name, text in G.build(SILU).formulas().items()}
    formulas["dout_dnet_h2"] = "=out_h2*(1-out_h2)"  # the sigmoid's derivative, the usual slip
    for name, formula in formulas.items():
        sheet, ref = wb.defined_names[name].attr_text.split("!")
        wb[sheet][ref.replace("$", "")].value = formula
    wb.save(tmp_path / "student.xlsx")
    report = grade_file(tmp_path / "student.xlsx", SILU)
    items = {i.name: i for i in report.items}
    assert items["dout_dnet_h2"].status == "incorrect" and items["dout_dnet_h2"].mistake == "wrong_derivative"
    assert items["dout_dnet_h1"].status == "correct"
    assert items["delta_h2"].status == "carried_forward"
    own = grade_file(write_workbook(SILU, tmp_path / "own.xlsx") and tmp_path / "own.xlsx", SILU)
    assert own.all_right and own.error is None
