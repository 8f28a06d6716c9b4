"""The worked solution (`sheetprop explain`): the tutorials' own lines, every kind of spec, the
markdown and the HTML page (rendered in headless Chromium), the command line."""

import math
import re
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from sheetprop.cli import main
from sheetprop.model import ops
from sheetprop.model.randomspec import random_spec
from sheetprop.model.reference import solve
from sheetprop.model.spec import load_spec, preset_names, validate
from sheetprop.solution import explain as X

import browser

DOCS = Path(__file__).parent.parent / "docs"

# Mazur's "A Step by Step Backpropagation Example", in the order the tutorial computes them
MAZUR = [("net_h1", "0.3775"), ("out_h1", "0.593269992"), ("net_o1", "1.105905967"), ("out_o1", "0.75136507"),
         ("E_total", "0.298371109"), ("dE_dout_o1", "0.74136507"), ("dout_dnet_o1", "0.186815602"),
         ("grad_w_5", "0.082167041"), ("new_w_5", "0.35891648"), ("dE_dout_h1", "0.036350306"),
         ("grad_w_1", "0.000438568"), ("new_w_1", "0.149780716")]

# hmkcode's "Backpropagation step by step": the prediction and the new weights as the tutorial prints them
HMKCODE = {"out_o1": ".191", "new_w_1": ".121326", "new_w_2": ".226989", "new_w_3": ".132135",
           "new_w_4": ".0982025", "new_w_5": ".1743825", "new_w_6": ".169416"}

SOFTMAX = {  # softmax with cross-entropy under two hidden layers, per-neuron and shared biases, two samples
    "name": "softmax $5 *two* [hidden](layers)",
    "layers": [2, {"size": 2, "activation": "tanh", "bias": "per_neuron"},
               {"size": 2, "activation": "relu", "bias": "shared"},
               {"size": 3, "activation": "softmax", "bias": "per_neuron"}],
    "loss": "cross_entropy", "learning_rate": 0.3, "init": {"method": "xavier", "seed": 4},
    "data": [{"inputs": [0.5, -0.2], "targets": [0, 1, 0]}, {"inputs": [0.1, 0.3], "targets": [1, 0, 0]}],
}

SPECS = [pytest.param(load_spec(name), id=name) for name in preset_names()] + \
        [pytest.param(validate(random_spec(seed)), id=f"random{seed}") for seed in range(20)] + \
        [pytest.param(validate(SOFTMAX), id="softmax")]


def lines_of(solution):
    return {ln.name: ln for section in X.sections(solution) for ln in section.lines}


def value_of(text: str) -> float:
    return float(text.replace("−", "-"))


def evaluate(numbers: str) -> float:
    """The 'numbers put in' line computed in Python, read as the arithmetic it shows."""
    expr = numbers
    for old, new in (("−", "-"), ("·", "*"), ("½", "0.5"), ("²", "**2"), ("[", "("), ("]", ")"),
                     (", else", " else"), ("σ", "sigmoid")):
        expr = expr.replace(old, new)
    number = r"\d[\d.]*(?:e-?\d+)?"
    expr = re.sub(rf"e\^({number})", r"exp(\1)", expr).replace("e^(", "exp(")
    expr = re.sub(rf"ln ({number})", r"ln(\1)", expr)
    functions = {"exp": math.exp, "ln": math.log, "tanh": math.tanh, "max": max,
                 "sigmoid": lambda x: 1 / (1 + math.exp(-x))}
    return eval(expr, {"__builtins__": {}}, functions)


def maths_of(markdown: str) -> list[str]:
    """The `$…$` maths of every list item."""
    return [m for line in markdown.splitlines() if line.startswith("- `") for m in re.findall(r"\$(.+?)\$", line)]


def unescaped_dollars(text: str) -> int:
    return len(re.findall(r"(?<!\\)\$", text))


# ---------------------------------------------------------------- the tutorials' own lines


def test_mazur_lines_are_the_tutorials():
    lines = lines_of(solve(load_spec("mazur")))
    assert [lines[name].result for name, _ in MAZUR] == [printed for _, printed in MAZUR]
    assert lines["net_h1"].text == "net_h1 = w1·i1 + w2·i2 + b1 = 0.15·0.05 + 0.2·0.1 + 0.35 = 0.3775"
    assert lines["out_h1"].text == "out_h1 = 1 / (1 + e^(−net_h1)) = 1 / (1 + e^(−0.3775)) = 0.593269992"
    assert lines["E_o1"].text == "E_o1 = ½·(target_o1 − out_o1)² = ½·(0.01 − 0.75136507)² = 0.274811083"
    assert lines["E_total"].text == "E_total = E_o1 + E_o2 = 0.274811083 + 0.023560026 = 0.298371109"
    assert lines["delta_o1"].text == \
        "δo1 = ∂E/∂out_o1 · ∂out_o1/∂net_o1 = 0.74136507·0.186815602 = 0.138498562"
    assert lines["grad_w_5"].text == "∂E/∂w5 = δo1 · out_h1 = 0.138498562·0.593269992 = 0.082167041"
    assert lines["new_w_5"].text == "w5⁺ = w5 − η · ∂E/∂w5 = 0.4 − 0.5·0.082167041 = 0.35891648"
    assert lines["dE_dout_h1"].text == \
        "∂E/∂out_h1 = δo1·w5 + δo2·w7 = 0.138498562·0.4 + (−0.038098237)·0.5 = 0.036350306"
    assert lines["new_b_1"].text == "b1⁺ = b1 (biases are frozen) = 0.35"


def test_mazur_markdown_reads_in_the_tutorials_order():
    md = X.markdown(solve(load_spec("mazur")))
    headings = ["## Given values", "## 1. Forward pass", "## 2. Loss", "## 3. Output layer (o1, o2)",
                "### Backward pass", "### Gradients", "### Update", "## 4. Hidden layer (h1, h2)"]
    at = [md.index(h) for h in headings]
    assert at == sorted(at)
    results = [md.index(f"= {printed}$") for _, printed in MAZUR]  # each number first as a line's result
    assert results == sorted(results)
    # the output layer's new weights come before the hidden layer's backward pass
    assert md.index("`new_w_8`") < md.index("## 4. Hidden layer") < md.index("`dE_dout_h1`")


def test_hmkcode_prediction_and_new_weights_as_the_tutorial_prints_them():
    solution = solve(load_spec("hmkcode"))
    lines = lines_of(solution)
    for name, printed in HMKCODE.items():
        places = len(printed) - 1
        assert round(solution.values[name], places) == float(printed), name
        assert lines[name].result == "0" + printed, name
    assert lines["net_o1"].text == "net_o1 = w5·out_h1 + w6·out_h2 = 0.14·0.85 + 0.15·0.48 = 0.191"
    assert lines["new_w_6"].text == "w6⁺ = w6 − η · ∂E/∂w6 = 0.15 − 0.05·(−0.38832) = 0.169416"


def test_perceptron():
    lines = lines_of(solve(load_spec("perceptron")))
    assert lines["net_o1"].text == "net_o1 = w1·i1 = 0.8·1.5 = 1.2"
    assert lines["E_o1"].text == "E_o1 = (target_o1 − out_o1)² = (0.5 − 1.2)² = 0.49"
    assert lines["new_w_1"].text == "w1⁺ = w1 − η · ∂E/∂w1 = 0.8 − 0.1·2.1 = 0.59"


def test_numbers_print_as_the_tutorials_do():
    assert X.number(1.10590596705977) == "1.105905967"  # 9 decimal places, as Mazur
    assert X.number(0.35891647971788465) == "0.35891648"  # trailing zeros dropped
    assert X.number(-0.21707153467853746) == "−0.217071535"
    assert X.number(2.016989604059575e-11) == "2.0169896e-11"  # tiny: 9 significant digits
    assert X.number(-0.0) == "0"
    assert (X.written(0.15), X.written(2.0), X.written(-0.3)) == ("0.15", "2", "−0.3")  # given: as written
    assert X.TEX.render("2.0169896e-11") == r"2.0169896 \times 10^{-11}"
    assert X.HTML.render("2.0169896e-11") == "2.0169896×10<sup>−11</sup>"


# ---------------------------------------------------------------- every kind of spec


@pytest.mark.parametrize("spec", SPECS)
def test_every_worked_quantity_is_worked_out_from_the_reference(spec):
    solution = solve(spec)
    lines = [ln for section in X.sections(solution) for ln in section.lines]
    assert sorted(ln.name for ln in lines) == sorted(solution.graph.worked)  # each once
    for ln in lines:
        value = solution.values[ln.name]
        if ln.given:
            assert value_of(ln.result) == value, ln.name
            continue
        assert math.isclose(value_of(ln.result), value, rel_tol=1e-8, abs_tol=1e-9), ln.text
        if ln.numbers:  # the numbers put in really compute the result
            assert math.isclose(evaluate(ln.numbers), value, rel_tol=1e-5, abs_tol=1e-8), ln.text


@pytest.mark.parametrize("spec", SPECS)
def test_markdown_maths_is_balanced_and_keeps_clear_of_markdown(spec):
    solution = solve(spec)
    md = X.markdown(solution)
    assert unescaped_dollars(md) % 2 == 0
    items = [line for line in md.splitlines() if line.startswith("- `")]
    assert len(items) == len(solution.graph.worked)
    assert all(unescaped_dollars(item) == 2 and item.endswith("$") for item in items)
    for name in solution.graph.worked:
        assert f"- `{name}` " in md
    for maths in maths_of(md):
        assert not re.search(r"(?<![A-Za-z0-9])_", maths), maths  # an underscore that could open emphasis
        assert not re.search(r"\\[^A-Za-z]", maths), maths  # \_ \{ \, are markdown escapes
        assert not re.search(r"[*<\[\]`]", maths), maths
        assert maths.count("{") == maths.count("}"), maths


@pytest.mark.parametrize("spec", SPECS)
def test_html_is_one_self_contained_well_formed_page(spec):
    solution = solve(spec)
    page = X.html(solution)
    assert not re.search(r"https?:", page) and "<script" not in page and "<link" not in page
    assert "@import" not in page and "url(" not in page
    tags = _Tags()
    tags.feed(page)
    tags.close()
    assert tags.open == [] and tags.errors == []
    assert len(set(tags.ids)) == len(tags.ids)
    assert {f"q-{name}" for name in solution.graph.worked} <= set(tags.ids)


class _Tags(HTMLParser):
    """Checks that every element is closed in order; collects the ids."""

    VOID = {"meta", "br"}

    def __init__(self):
        super().__init__()
        self.open, self.errors, self.ids = [], [], []

    def handle_starttag(self, tag, attrs):
        self.ids += [value for key, value in attrs if key == "id"]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.errors.append(tag)


def test_several_samples_have_a_subsection_each():
    solution = solve(load_spec("vandermerwe"))  # four samples, the loss summed over them
    parts = X.sections(solution)
    forward = parts[[s.title for s in parts].index("1. Forward pass") + 1:][:4]
    assert [s.title for s in forward] == [f"Sample {k} (names ending _s{k})" for k in range(1, 5)]
    for k, section in enumerate(forward, start=1):
        assert section.lines and all(ln.name.endswith(f"_s{k}") for ln in section.lines)
    lines = lines_of(solution)
    assert lines["net_h1_s2"].formula == "net_h1 = w1·i1 + w2·i2"  # the symbols of the sample's own row
    assert lines["net_h1_s2"].numbers == "0.2·0.5 + (−0.3)·0.5"
    assert lines["E_total"].formula == "E_total = E_s1 + E_s2 + E_s3 + E_s4"
    assert lines["grad_w_5"].numbers.count("·") == 4  # δ·out_h1 of each sample, summed
    assert lines["grad_b_o1"].formula == "∂E/∂b_o1 = sum over the batch of δo1"


def test_softmax_several_hidden_layers_and_biases():
    solution = solve(validate(SOFTMAX))
    titles = [s.title for s in X.sections(solution) if s.level == 2]
    assert titles == ["Given values", "1. Forward pass", "2. Loss", "3. Output layer (o1, o2, o3): backward pass and "
                      "update", "4. Hidden layer 2 (h2_1, h2_2): backward pass and update",
                      "5. Hidden layer 1 (h1_1, h1_2): backward pass and update"]
    lines = lines_of(solution)
    assert lines["delta_o2_s1"].formula == ops.SOFTMAX_DELTA_SYMBOLS.format(lab="o2")
    assert "dout_dnet_o1_s1" not in lines  # softmax has none: its δ has a formula of its own
    assert lines["out_o1_s1"].numbers.startswith("e^") and lines["out_o1_s1"].numbers.count("e^") == 4
    assert lines["grad_b_2"].formula == "∂E/∂b2 = mean over the batch of δh2_1 + δh2_2"  # shared
    assert re.fullmatch(r"\(\(.+ \+ .+\) \+ \(.+ \+ .+\)\) / 2", lines["grad_b_2"].numbers)
    assert lines["new_b_h1_1"].formula == "b_h1_1⁺ = b_h1_1 − η · ∂E/∂b_h1_1"  # per neuron, trained
    md = X.markdown(solution)
    assert md.startswith(r"# Worked solution: softmax \$5 \*two\* \[hidden\](layers)")


def test_the_worked_solution_in_the_docs_is_current():
    expected = X.markdown(solve(load_spec("mazur")))
    assert (DOCS / "worked-solution-mazur.md").read_text(encoding="utf-8") == expected, \
        "run: sheetprop explain mazur -o docs/worked-solution-mazur.md"


# ---------------------------------------------------------------- the page in a browser

needs_chromium = pytest.mark.skipif(
    browser.CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium): the HTML page is not rendered")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.headings, self._heading = [], [], None

    def handle_starttag(self, tag, attrs):
        if re.fullmatch(r"h[1-4]", tag):
            self._heading = []

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-4]", tag) and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data):
        self.parts.append(data)
        if self._heading is not None:
            self._heading.append(data)


def png_size_and_pixels(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            chunks.append(data[at + 8:at + 8 + length])
        at += 12 + length
    return width, height, zlib.decompress(b"".join(chunks))


@needs_chromium
@pytest.mark.chromium
def test_the_page_renders_in_chromium(tmp_path):
    page = tmp_path / "mazur.html"
    page.write_text(X.html(solve(load_spec("mazur"))), encoding="utf-8")
    text = _Text()
    text.feed(browser.dump_dom(page))
    assert text.headings[:4] == ["Worked solution: Mazur 2-2-2 (step by step backpropagation)", "Given values",
                                 "1. Forward pass", "2. Loss"]
    assert "3. Output layer (o1, o2): backward pass and update" in text.headings
    assert "4. Hidden layer (h1, h2): backward pass and update" in text.headings
    shown = " ".join(" ".join(text.parts).split())
    assert "= 0.15·0.05 + 0.2·0.1 + 0.35 = 0.3775" in shown
    for _, printed in MAZUR:
        assert f"= {printed}" in shown, printed

    shot = browser.screenshot(page, tmp_path / "mazur.png", width=1000, height=1600)
    width, height, pixels = png_size_and_pixels(shot.read_bytes())
    assert (width, height) == (1000, 1600)
    assert len(set(pixels)) > 32  # text in several shades, not an empty page


# ---------------------------------------------------------------- the command line


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_prints_markdown(run):
    result = run("explain", "mazur")
    assert result.exit_code == 0, result.output
    assert result.output == X.markdown(solve(load_spec("mazur")))


def test_cli_writes_markdown_and_html(run, tmp_path):
    out = tmp_path / "mazur.md"
    result = run("explain", "mazur", "-o", out)
    assert result.exit_code == 0 and result.output.startswith(f"Wrote {out}: ")
    assert out.read_text(encoding="utf-8") == X.markdown(solve(load_spec("mazur")))
    page = tmp_path / "page.htm"
    assert run("explain", "hmkcode", "--format", "html", "-o", page).exit_code == 0
    assert page.read_text(encoding="utf-8") == X.html(solve(load_spec("hmkcode")))
    inferred = tmp_path / "p.html"  # the suffix says html
    assert run("explain", "perceptron", "-o", inferred).exit_code == 0
    assert inferred.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_html_goes_to_a_file_named_after_the_spec(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("explain", "vandermerwe", "--format", "html")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "vandermerwe.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_errors_are_one_line_with_exit_code_2(run, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("layers: [1, 1]\nlearning_rate: 0.1\ndata: [{inputs: [1], targets: [0.5]}]\n", encoding="utf-8")
    cases = [
        (("explain", "mazurr"), "Error: mazurr: no such file or preset (did you mean 'mazur'?)"),
        (("explain", "mazur", "-o", tmp_path / "missing" / "x.md"), "Error: "),
        (("explain", spec, "-o", spec), f"Error: {spec}: that is the spec itself"),
        (("explain", "mazur", "--format", "pdf"), "Error: Invalid value for '--format'"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert "the folder" in run("explain", "mazur", "-o", tmp_path / "missing" / "x.md").output
    assert spec.read_text(encoding="utf-8").startswith("layers")  # the spec was left alone
    assert not (tmp_path / "missing").exists()
