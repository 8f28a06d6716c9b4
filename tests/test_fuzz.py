"""Bounded fuzzing: random and mutated specs and workbooks give a result or a one-line error.

Never a traceback, never an exception of another kind; each problem one line. The
workbook cases start from a real exercise solution and damage it: random bytes of the
zip, or random bytes of the sheet's XML inside a sound zip.
"""

from __future__ import annotations

import io
import json
import zipfile

import openpyxl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sheetprop.engines.openbook import WorkbookError
from sheetprop.engines.screen import screen_book
from sheetprop.grading.batch import grade_files
from sheetprop.grading.grade import GradeOptions
from sheetprop.grading.readbook import read_book
from sheetprop.model import graph as G
from sheetprop.model.spec import SpecError, load_spec, parse_spec
from sheetprop.writing.workbook import write_workbook

MAZUR = load_spec("mazur")
MAZUR_YAML = """name: Mazur
layers: [2, {size: 2, activation: sigmoid, bias: shared}, {size: 2, activation: sigmoid, bias: shared}]
train_biases: false
loss: half_sse
weights: [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]
biases: [0.35, 0.60]
learning_rate: 0.5
data: [{inputs: [0.05, 0.10], targets: [0.01, 0.99]}]
epochs: 1
"""
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def one_line_or_result(fn, *args, error=SpecError):
    """fn's result, or None when it refuses: each of its problems one non-empty line."""
    try:
        return fn(*args)
    except error as exc:
        problems = getattr(exc, "problems", (str(exc),))
        assert problems and str(exc) == "\n".join(problems)
        assert all(p.strip() and "\n" not in p for p in problems)
        return None


# ---------------------------------------------------------------- specs

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**400, 10**400), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["sigmoid", "full", "online", ".nan", "-.inf", "1e999",
                                                           "=HYPERLINK(\"x\")", "2024-13-45", "*a", "&a"]),
                    # what YAML builds that JSON cannot say: a date, a time, !!binary, !!set
                    st.dates(), st.datetimes(), st.binary(max_size=8), st.sets(st.integers(0, 9), max_size=3))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=5)),
                      max_leaves=30)


@FUZZ
@given(st.text(max_size=300))
def test_random_text_as_a_spec(text):
    one_line_or_result(parse_spec, text)


@FUZZ
@given(st.dictionaries(st.sampled_from(["name", "layers", "activation", "bias", "train_biases", "loss", "weights",
                                        "biases", "init", "learning_rate", "data", "batch", "reduction", "epochs",
                                        "extra"]), values, max_size=8))
def test_random_fields_as_a_spec(fields):
    text = yaml.safe_dump(fields)
    one_line_or_result(parse_spec, text)
    one_line_or_result(parse_spec, json.dumps(fields, default=str), "<spec>", "network", True)


@FUZZ
@given(st.integers(0, len(MAZUR_YAML) - 1), st.text(max_size=12), st.integers(0, 12))
def test_a_mutated_spec(at, insert, cut):
    one_line_or_result(parse_spec, MAZUR_YAML[:at] + insert + MAZUR_YAML[at + cut:])


NUMBER_FIELDS = ["learning_rate", "epochs", "batch", "weights[0][0][0]", "biases[0]", "data[0].inputs[0]",
                 "data[0].targets[1]", "init.seed", "init.decimals", "layers[1]"]
ODD_VALUES = st.one_of(st.integers(4200, 6000).map(lambda n: "-" * (n % 2) + "1" + "0" * n),  # past Python's 4,300
                       st.sampled_from(["!!binary aGVsbG8=", "!!set {a, b}", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
                                        "!!omap [a: 1]", "!!pairs [a: 1]", "!!timestamp 2001-12-14"]))


@FUZZ
@given(st.sampled_from(NUMBER_FIELDS), ODD_VALUES)
def test_odd_values_in_number_fields_name_the_field(field, value):
    """Every such value (YAML, and the integers in JSON) is refused in one line that names its field."""
    spec = yaml.safe_load(MAZUR_YAML)
    spec["batch"], spec["init"] = 1, {"seed": 0, "decimals": 4}
    keys = field.replace("]", "").replace("[", ".").split(".")
    holder = spec
    for key in keys[:-1]:
        holder = holder[int(key) if key.isdigit() else key]
    last = int(keys[-1]) if keys[-1].isdigit() else keys[-1]
    holder[last] = "@ODD@"
    text = yaml.safe_dump(spec, default_flow_style=True).replace("'@ODD@'", value)
    try:
        parse_spec(text)
    except SpecError as exc:
        problems = getattr(exc, "problems", (str(exc),))
        assert all("\n" not in p for p in problems)
        assert any(f": {field}" in p for p in problems) or "YAML" in str(exc), (field, value, str(exc))
    else:
        raise AssertionError(f"{field}: {value} was taken")
    if value[:1] in "-1":  # a plain integer: the same in JSON
        with pytest.raises(SpecError, match=f": {field.replace('[', '.').split('.')[0]}"):
            parse_spec(json.dumps(spec).replace('"@ODD@"', value), "<spec>", "network", True)


# ---------------------------------------------------------------- workbooks


@pytest.fixture(scope="module")
def solution(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    exercise = folder / "exercise.xlsx"
    write_workbook(MAZUR, exercise, exercise=set(G.SECTIONS))
    wb = openpyxl.load_workbook(exercise)
    for name in ("net_h1", "net_h2"):
        sheet, ref = wb.defined_names[name].attr_text.split("!")
        wb[sheet][ref.replace("$", "")] = "=w_1*i_1+w_2*i_2+b_1"
    out = folder / "solution.xlsx"
    wb.save(out)
    with zipfile.ZipFile(out) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    return folder, out.read_bytes(), parts


def read(path):
    book = one_line_or_result(read_book, path, error=WorkbookError)
    if book is not None:
        screen_book({k: str(v) for k, v in book.cells.items() if isinstance(v, str)}, book.names)
    return book


@FUZZ
@given(st.data())
def test_random_bytes_of_the_zip(solution, data):
    folder, raw, _ = solution
    raw = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    path = folder / "mutated.xlsx"
    path.write_bytes(bytes(raw))
    read(path)


def _with_parts(folder, parts, name="parts.xlsx"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for part, data in parts.items():
            zf.writestr(part, data)
    path = folder / name
    path.write_bytes(buffer.getvalue())
    return path


@FUZZ
@given(st.data())
def test_random_bytes_of_the_xml_in_a_sound_zip(solution, data):
    folder, _, parts = solution
    name = data.draw(st.sampled_from(sorted(n for n in parts if n.endswith((".xml", ".rels")))))
    xml = bytearray(parts[name])
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(xml) - 1))
        xml[at:at + data.draw(st.integers(0, 4))] = data.draw(st.binary(max_size=6))
    read(_with_parts(folder, {**parts, name: bytes(xml)}))


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.data())
def test_damaged_workbooks_through_the_whole_grader(solution, data):
    """Through engine and grading, each file in its own process: a report, or one line of error."""
    folder, _, parts = solution
    paths = []
    for k in range(4):
        name = data.draw(st.sampled_from(sorted(n for n in parts if n.startswith("xl/"))))
        xml = bytearray(parts[name])
        at = data.draw(st.integers(0, len(xml) - 1))
        xml[at:at + data.draw(st.integers(0, 8))] = data.draw(st.binary(max_size=8))
        paths.append(_with_parts(folder, {**parts, name: bytes(xml)}, f"whole{k}.xlsx"))
    reports = grade_files(paths, MAZUR, GradeOptions(timeout=30, max_memory=2 * 2**30), jobs=2)
    for report in reports:
        assert (report.error is None and report.items) or (report.error and "\n" not in report.error)
        assert "internal error" not in (report.error or "")
