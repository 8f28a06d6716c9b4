"""spec → workbook → engine → compare, for every preset and many random specs."""

import json

import openpyxl
import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.model.network import with_epochs
from sheetprop.model.randomspec import random_spec
from sheetprop.model.reference import OverflowSpecError
from sheetprop.model.spec import load_spec, preset_names, validate
from sheetprop.verifying.verify import verify_workbook
from sheetprop.writing.workbook import write_workbook

from conftest import needs_libreoffice

PRESETS = preset_names()


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """One workbook per preset (epochs cut to 3 to keep the formulas engine quick)."""
    folder = tmp_path_factory.mktemp("books")
    paths = {}
    for name in PRESETS:
        paths[name] = folder / f"{name}.xlsx"
        write_workbook(with_epochs(load_spec(name), 3), paths[name])
    return paths


def random_book(folder, seed, **kw):
    path = folder / f"random{seed}.xlsx"
    write_workbook(validate(random_spec(seed, **kw)), path)
    return path


@pytest.mark.parametrize("engine", ["ironcalc", pytest.param("formulas", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_verifies_with_every_pip_engine(books, name, engine):
    report = verify_workbook(books[name], engine=engine)
    assert report.error is None
    assert report.mismatches == []
    assert report.cells >= 40 and report.names >= 10
    assert report.worst_rel_error < 1e-12


@pytest.mark.parametrize("engine, seeds", [("ironcalc", range(60)),
                                           pytest.param("formulas", range(8), marks=pytest.mark.slow)])
def test_random_specs_verify(tmp_path, engine, seeds):
    refused = []
    for seed in seeds:
        try:
            path = random_book(tmp_path, seed)
        except OverflowSpecError as exc:  # training diverges: refused in one line, no file left
            assert "learning_rate" in str(exc) and "\n" not in str(exc)
            assert not (tmp_path / f"random{seed}.xlsx").exists()
            refused.append(seed)
            continue
        report = verify_workbook(path, engine=engine)
        assert report.error is None and report.mismatches == [], (seed, report.mismatches[:3])
    assert len(refused) <= len(seeds) // 20, refused


def edit(path, out, **cells):
    """Save a copy of `path` with some Network cells replaced (as a user editing it would)."""
    wb = openpyxl.load_workbook(path)
    for ref, value in cells.items():
        wb["Network"][ref] = value
    wb.save(out)
    return out


def cell_of(path, name):
    wb = openpyxl.load_workbook(path)
    sheet, ref = wb.defined_names[name].attr_text.split("!")
    return ref.replace("$", "")


def test_a_wrong_formula_is_reported_by_name_and_cell(books, tmp_path):
    ref = cell_of(books["mazur"], "delta_h1")
    bad = edit(books["mazur"], tmp_path / "bad.xlsx", **{ref: "=dE_dout_h1"})  # derivative left out
    result = CliRunner().invoke(main, ["verify", str(bad)])
    assert result.exit_code == 1
    assert f"delta_h1  Network!{ref}  expected 0.00877135" in result.output
    # everything downstream of delta_h1 on the Network sheet disagrees too, nothing upstream
    report = verify_workbook(bad)
    wrong = {m.what for m in report.mismatches}
    assert {"delta_h1", "grad_w_1", "grad_w_2", "new_w_1", "new_w_2", "grad_b_1"} <= wrong
    assert not wrong & {"delta_o1", "delta_h2", "grad_w_5", "E_total", "new_w_3"}


def test_changed_given_values_are_used_and_reported(books, tmp_path):
    ref = cell_of(books["mazur"], "w_1")
    changed = edit(books["mazur"], tmp_path / "changed.xlsx", **{ref: 0.2})
    result = CliRunner().invoke(main, ["verify", str(changed)])
    assert result.exit_code == 0, result.output
    assert "w_1 0.15 -> 0.2" in result.output
    assert "OK: every cell agrees" in result.output


def test_verify_json(books):
    result = CliRunner().invoke(main, ["verify", str(books["perceptron"]), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["ok"] is True and data["engine"] == "ironcalc" and data["cells"] > 0 and data["mismatches"] == []


def test_verify_refuses_files_it_cannot_use(tmp_path):
    not_ours = tmp_path / "plain.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = 1
    wb.save(not_ours)
    text = tmp_path / "notes.xlsx"
    text.write_text("hello")
    for path, says in [(not_ours, "holds no embedded spec (no About sheet)"),
                       (text, "not an .xlsx workbook"),
                       (tmp_path / "missing.xlsx", "no such file")]:
        result = CliRunner().invoke(main, ["verify", str(path)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error: ") and says in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_stored_results_are_not_trusted(books, tmp_path):
    """A file whose stored results are right but whose formula is wrong fails verification."""
    ref = cell_of(books["hmkcode"], "net_h1")
    bad = edit(books["hmkcode"], tmp_path / "bad.xlsx", **{ref: "=w_1*i_1+w_2*i_1"})
    report = verify_workbook(bad)
    assert "net_h1" in {m.what for m in report.mismatches}


@needs_libreoffice
@pytest.mark.libreoffice
@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_verifies_in_libreoffice(books, name):
    report = verify_workbook(books[name], engine="libreoffice", timeout=120)
    assert report.error is None
    assert report.mismatches == []


@needs_libreoffice
@pytest.mark.libreoffice
@pytest.mark.parametrize("seed", range(100, 106))
def test_random_specs_verify_in_libreoffice(tmp_path, seed):
    report = verify_workbook(random_book(tmp_path, seed, epochs=4), engine="libreoffice", timeout=120)
    assert report.error is None and report.mismatches == [], report.mismatches[:3]


@pytest.mark.parametrize("source", PRESETS + [f"random:{seed}" for seed in range(30)])
def test_every_reference_name_is_a_defined_name_on_its_cell(tmp_path, source):
    from sheetprop.model.reference import first_update_names

    if source.startswith("random:"):
        spec = validate(random_spec(int(source[7:])))
    else:
        spec = load_spec(source)
    path = tmp_path / "book.xlsx"
    write_workbook(spec, path)
    wb = openpyxl.load_workbook(path, data_only=True)
    defined = dict(wb.defined_names.items())
    expected = first_update_names(spec)
    assert set(defined) == set(expected)
    for name, value in expected.items():
        sheet, ref = defined[name].attr_text.split("!")
        assert sheet == "Network"
        stored = wb[sheet][ref.replace("$", "")].value
        assert stored == pytest.approx(value, rel=1e-15, abs=1e-300), name


def test_a_wrong_training_cell_is_named_by_update_and_column(books, tmp_path):
    from sheetprop.cells import a1
    from sheetprop.model import graph as G
    from sheetprop.writing import layout as L
    from sheetprop.writing import training as T

    spec = with_epochs(load_spec("mazur"), 3)
    cols = T.training_columns(G.build(spec))
    col = cols.slots[0]["delta_h1"]  # δh1 of the one sample
    ref = a1(L.TRAIN_FIRST_ROW + 2, col)
    wb = openpyxl.load_workbook(books["mazur"])
    wb["Training"][ref] = "=0.5"
    bad = tmp_path / "bad.xlsx"
    wb.save(bad)
    report = verify_workbook(bad)
    first = report.mismatches[0]
    assert (first.what, first.cell) == ("Training update 2: the sample: backward: δh1", f"Training!{ref}")
    assert first.got == 0.5


@needs_libreoffice
@pytest.mark.libreoffice
@pytest.mark.slow
def test_ten_thousand_live_updates_recalculate_in_libreoffice(tmp_path):
    """Issue 5: Mazur's 10,000 updates, 300,076 formula cells, right in LibreOffice and in ironcalc."""
    path = tmp_path / "mazur10k.xlsx"
    counts = write_workbook(with_epochs(load_spec("mazur"), 10000), path)
    assert counts["formulas"] == 300_076
    for engine in ("ironcalc", "libreoffice"):
        report = verify_workbook(path, engine=engine, timeout=300)
        assert report.error is None and report.mismatches == [], (engine, report.mismatches[:3])
        assert report.cells == 300_076
