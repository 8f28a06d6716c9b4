"""Spec loading and validation: one clear line per problem, naming file and field."""

import json

import pytest

from sheetprop.spec import SpecError, load_spec, parse_spec, preset_names, validate

BASE = """
layers: [2, 2, 1]
learning_rate: 0.5
data:
  - {inputs: [0.1, 0.2], targets: [0.3]}
"""


def error_of(text, where="net.yaml"):
    with pytest.raises(SpecError) as info:
        parse_spec(text, where=where)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(where + ":")
    return message


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
    (BASE + "learning_rate: .nan\n", "learning_rate", "finite"),
    (BASE.replace("0.5", "-1"), "learning_rate", "greater than 0"),
    (BASE + "batch: 5\n", "batch", "larger than the 1 samples"),
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
    from sheetprop.spec import check_budget

    spec = parse_spec(BASE + "epochs: 100000\n")  # the worked step alone is small
    with pytest.raises(SpecError, match=r"net.yaml: epochs: .* over the limit of 2,000,000; .*--max-cells"):
        check_budget(parse_spec(BASE + "epochs: 100000\n", where="net.yaml"), 2_000_000)
    check_budget(spec, 10**8)


def test_the_budget_counts_the_cells_written(tmp_path):
    """Exactly, when every batch is full; at most the count otherwise (a smaller last mini-batch)."""
    from sheetprop.randomspec import random_spec
    from sheetprop.spec import count_formulas
    from sheetprop.workbook import write_workbook

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
