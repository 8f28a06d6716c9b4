"""Spec loading and validation: one clear line per problem, naming file and field."""

import json

import pytest

from sheetprop.model.spec import KEYS, SpecError, load_spec, load_yaml, parse_spec, preset_names, validate

BASE = """
layers: [2, 2, 1]
learning_rate: 0.5
data:
  - {inputs: [0.1, 0.2], targets: [0.3]}
"""


def error_of(text, where="net.yaml"):
    """The first problem of a spec that has some; every problem is one line naming the file."""
    with pytest.raises(SpecError) as info:
        parse_spec(text, where=where)
    problems = info.value.problems
    assert str(info.value) == "\n".join(problems)
    for problem in problems:
        assert "\n" not in problem
        assert problem.startswith(where + ":")
    return problems[0]


def test_presets_are_listed_and_load():
    assert preset_names() == ["hmkcode", "mazur", "mazur-nobias", "perceptron", "vandermerwe", "xor"]
    for name in preset_names():
        spec = load_spec(name)
        assert spec.source == f"preset {name}"
        assert validate(spec.to_dict()) == spec  # the embedded form round-trips


@pytest.mark.parametrize("text, field, says", [
    (BASE + "activation: sigmod\n", "activation", "did you mean 'sigmoid'"),
    (BASE + "loss: half_ssee\n", "loss", "did you mean 'half_sse'"),
    (BASE + "weights: [[[1, 2]], [[1]]]\n", "weights[0]", "must be 2 rows"),
    (BASE + "weights: [[[1, 2], [3]], [[1, 2]]]\n", "weights[0][1]", "must hold 2 weights"),
    (BASE + "biases: [0.1]\n", "biases", "one entry per non-input layer (2)"),
    ("layers: [2, 1]\nlearning_rate: 0.1\ndata: [{inputs: [1], targets: [1]}]\n", "data[0].inputs", "must hold 2 numbers"),
    ("layers: [2, 1]\nlearning_rate: 0.1\ndata: [{inputs: [1, 2], targets: [1, 2]}]\n", "data[0].targets", "must hold 1 numbers"),
    ("layers: [2, 1]\nlearning_rate: 0.1\n", "data", "missing"),
    ("layers: [2, {size: 2, activation: softmax}, 2]\nloss: cross_entropy\nlearning_rate: 0.1\n"
     "data: [{inputs: [1, 2], targets: [1, 0]}]\n", "layers[1].activation", "output layer only"),
    ("layers: [2, {size: 2, activation: softmax}]\nlearning_rate: 0.1\ndata: [{inputs: [1, 2], targets: [1, 0]}]\n",
     "loss", "cross_entropy"),
    (BASE.replace("0.5", ".nan"), "learning_rate", "finite"),
    (BASE.replace("0.5", "-1"), "learning_rate", "greater than 0"),
    (BASE + "epochs: -1\n", "epochs", "at least 0"),
    (BASE + "learning_rat: 1\n", "learning_rat", "did you mean 'learning_rate'"),
    (BASE.replace("[2, 2, 1]", "[2, 0, 1]"), "layers[1]", "at least 1"),
    (BASE.replace("0.1, 0.2", "0.1, abc"), "data[0].inputs[1]", "must be a number"),
    (BASE + "train_biases: maybe\n", "train_biases", "true or false"),
])
def test_each_problem_names_the_field(text, field, says):
    message = error_of(text)
    assert f": {field}: " in message
    assert says in message


THREE_PROBLEMS = """
layers: [2, 2, 1]
learning_rat: 0.5
loss: half_ssee
data:
  - {inputs: [0.1, 0.2], targets: [0.3]}
  - {inputs: [0.1], targets: [0.3]}
"""


def test_every_problem_is_reported_at_once_one_line_each():
    with pytest.raises(SpecError) as info:
        parse_spec(THREE_PROBLEMS, where="hw.yaml")
    assert info.value.problems == (
        "hw.yaml: learning_rat: unknown field (did you mean 'learning_rate'?); allowed: " + ", ".join(KEYS),
        "hw.yaml: loss: unknown value 'half_ssee' (did you mean 'half_sse'?); allowed: "
        "half_sse, sse, mse, bce, cross_entropy",
        "hw.yaml: learning_rate: missing; give the learning rate η, e.g. 0.5",
        "hw.yaml: data[1].inputs: must hold 2 numbers, not 1",
    )


def test_a_field_that_depends_on_a_broken_one_is_checked_as_far_as_it_can_be():
    # the layers are broken, so the data's width cannot be checked, but its numbers can
    text = "layers: [2, x]\nlearning_rate: 0.1\ndata: [{inputs: [1, abc], targets: [1, 2, 3]}]\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, where="s.yaml")
    assert info.value.problems == (
        "s.yaml: layers[1]: must be a whole number, not 'x'",
        "s.yaml: data[0].inputs[1]: must be a number, not 'abc'",
    )


def test_the_cli_prints_one_error_line_per_problem(tmp_path):
    from click.testing import CliRunner

    from sheetprop.cli import main

    (tmp_path / "hw.yaml").write_text(THREE_PROBLEMS)
    result = CliRunner().invoke(main, ["generate", str(tmp_path / "hw.yaml"), "-o", str(tmp_path / "hw.xlsx")])
    assert result.exit_code == 2
    lines = result.output.strip().split("\n")
    assert len(lines) == 4 and all(line.startswith(f"Error: {tmp_path / 'hw.yaml'}: ") for line in lines)
    assert not (tmp_path / "hw.xlsx").exists()


@pytest.mark.parametrize("batch, n, note", [
    (5, 1, "a mini-batch of 5 is more than the 1 sample; each update uses it as one full batch"),
    (3, 2, "a mini-batch of 3 is more than the 2 samples; each update uses all 2 as one full batch"),
])
def test_a_mini_batch_larger_than_the_data_is_one_full_batch_with_a_note(batch, n, note):
    samples = "".join(f"  - {{inputs: [0.1, 0.{k}], targets: [0.3]}}\n" for k in range(n))
    text = "layers: [2, 2, 1]\nlearning_rate: 0.5\ndata:\n" + samples
    spec = parse_spec(text + f"batch: {batch}\n", where="mb.yaml")
    assert spec.batch == "full" and spec.batch_size == n and spec.n_updates == 1
    assert spec == parse_spec(text + "batch: full\n", where="mb.yaml")
    assert spec.notes == (f"mb.yaml: batch: {note}, as PyTorch's DataLoader does",)
    assert parse_spec(text + "batch: full\n").notes == ()


@pytest.mark.parametrize("text, is_json, says", [
    ("layers: [2, 1]\nlearning_rate: 0.1\nlayers: [2, 2, 1]\n", False,
     "YAML error at line 3, column 1: the key 'layers' is given twice (first at line 1); keep one"),
    ("layers: [2, 1]\nlearning_rate: 0.1\ndata: [{inputs: [1, 2], targets: [1], inputs: [3, 4]}]\n", False,
     "the key 'inputs' is given twice"),
    ('{"layers": [2, 1], "learning_rate": 0.1, "learning_rate": 0.2, "data": []}', True,
     "JSON error: the key 'learning_rate' is given twice in one object; keep one"),
    ('{"layers": [2, 1], "data": [{"inputs": [1, 2], "targets": [1], "targets": [0]}]}', True,
     "the key 'targets' is given twice"),
])
def test_a_key_given_twice_is_an_error_naming_it(text, is_json, says):
    with pytest.raises(SpecError) as info:
        parse_spec(text, where="twice", is_json=is_json)
    assert str(info.value).startswith("twice: ") and says in str(info.value)


def test_a_yaml_merge_may_override_a_key():
    text = "defaults: &d {inputs: [1, 2], targets: [1]}\n"
    raw = load_yaml(text + "sample: {<<: *d, targets: [0]}\n", "merge.yaml")
    assert raw["sample"] == {"inputs": [1, 2], "targets": [0]}


def test_yaml_syntax_error_gives_line_and_column():
    message = error_of("layers: [2, 2\nlearning_rate: 0.5\n")
    assert "YAML syntax error at line" in message and "column" in message


def test_yaml_tags_that_build_objects_are_refused():
    message = error_of("layers: !!python/object/apply:os.system ['echo hi']\n")
    assert "YAML" in message


def test_yaml_alias_bomb_is_refused():
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join('*' + chr(97 + i) for _ in range(9))}]\n" for i in range(12))
    assert "aliases" in error_of(bomb)


def test_json_is_accepted_and_its_errors_located(tmp_path):
    spec = {"layers": [1, 1], "learning_rate": 0.1, "data": [{"inputs": [1], "targets": [2]}]}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    assert load_spec(tmp_path / "s.json").sizes == [1, 1]
    (tmp_path / "bad.json").write_text('{"layers": [1, 1],}')
    with pytest.raises(SpecError, match=r"bad.json: JSON syntax error at line 1, column"):
        load_spec(tmp_path / "bad.json")


def test_numbers_in_e_notation_are_numbers():
    spec = parse_spec(BASE.replace("0.5", "5e-1"))
    assert spec.learning_rate == 0.5


def test_missing_weights_are_drawn_from_init_reproducibly():
    a = parse_spec(BASE + "init: {method: xavier, seed: 7}\n")
    b = parse_spec(BASE + "init: {method: xavier, seed: 7}\n")
    c = parse_spec(BASE + "init: {method: xavier, seed: 8}\n")
    assert a.weights == b.weights != c.weights
    limit = (6 / (2 + 2)) ** 0.5
    assert all(abs(w) <= limit for row in a.weights[0] for w in row)
    assert a.bias_modes == ["per_neuron", "per_neuron"] and len(a.biases[0]) == 2


def test_bias_mode_is_inferred_from_the_biases_given():
    spec = parse_spec(BASE + "biases: [0.35, [0.1]]\n")
    assert spec.bias_modes == ["shared", "per_neuron"]
    assert spec.biases == (0.35, (0.1,))


def test_missing_file_suggests_a_preset():
    with pytest.raises(SpecError, match=r"mazr: no such file or preset \(did you mean 'mazur'\?\)"):
        load_spec("mazr")


def test_absurd_sizes_are_refused_before_any_weight_is_drawn():
    text = "layers: [3, 3000, 3000, 3]\nlearning_rate: 0.1\ndata: [{inputs: [1, 2, 3], targets: [1, 2, 3]}]\n"
    message = error_of(text)
    assert ": layers: this network makes about" in message and "--max-cells" in message


def test_the_cell_budget_counts_training_rows_once_epochs_are_known():
    from sheetprop.model.spec import check_budget

    spec = parse_spec(BASE + "epochs: 100000\n")  # the worked step alone is small
    with pytest.raises(SpecError, match=r"net.yaml: epochs: .* over the limit of 2,000,000; .*--max-cells"):
        check_budget(parse_spec(BASE + "epochs: 100000\n", where="net.yaml"), 2_000_000)
    check_budget(spec, 10**8)


def test_the_budget_counts_the_cells_written(tmp_path):
    """Exactly, when every batch is full; at most the count otherwise (a smaller last mini-batch)."""
    from sheetprop.model.randomspec import random_spec
    from sheetprop.model.spec import count_formulas
    from sheetprop.writing.workbook import write_workbook

    exact = 0
    for seed in range(30):
        spec = validate(random_spec(seed))
        written = write_workbook(spec, tmp_path / "b.xlsx")["formulas"]
        full = len(spec.data) % spec.batch_size == 0
        assert written == count_formulas(spec) if full else written < count_formulas(spec), seed
        exact += full
        exercise = write_workbook(spec, tmp_path / "e.xlsx", exercise=set())["formulas"]
        assert exercise == count_formulas(spec, training=False), seed
    assert exact >= 10
