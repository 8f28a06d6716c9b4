"""How students label the quantities: in English, in a textbook's symbols (Han & Kamber's I4, O4,
Err6, w46, θ4, l for the learning rate), in Korean or in Portuguese; weights numbered neuron by
neuron (Mazur) or input by input (w1..w4 from input A). Labels are only hints to a grader: the
structure of the formulas decides, so no label here is chosen to please one. Sheets are named in
the student's language too (Planilha1, 시트1).
"""

from __future__ import annotations

WORDS = {
    "english": {
        "input": "{n}", "target": "target {n}", "eta": "η", "w": "{p}", "b": "{p}", "one": "1 (bias input)",
        "net": "net {n}", "out": "out {n}", "E_o": "E {n}", "E_sample": "E", "E_total": "E total",
        "dE_dout": "∂E/∂out {n}", "dout_dnet": "∂out/∂net {n}", "delta": "δ {n}", "grad": "∂E/∂{p}",
        "new": "new {p}", "part": "{p} per sample", "sample": "sample {s}",
        "title": "Backpropagation, one update", "sheet": "Sheet1", "iteration": "iter {k}"},
    "symbols": {
        "input": "x{n}", "target": "T{n}", "eta": "learning rate l", "w": "{p}", "b": "{p}", "one": "1",
        "net": "I{n}", "out": "O{n}", "E_o": "E{n}", "E_sample": "E", "E_total": "E",
        "dE_dout": "∂E/∂O{n}", "dout_dnet": "O{n}(1−O{n})", "delta": "Err{n}", "grad": "∂E/∂{p}",
        "new": "{p} (new)", "part": "Err·O {p}", "sample": "tuple {s}",
        "title": "Backpropagation (Han & Kamber, Figure 9.5)", "sheet": "Example", "iteration": "Epoch {k}"},
    "korean": {
        "input": "입력 {n}", "target": "목표 {n}", "eta": "학습률", "w": "가중치 {p}", "b": "편향 {p}", "one": "편향 입력 1",
        "net": "{n} 순입력", "out": "{n} 출력", "E_o": "{n} 오차", "E_sample": "오차", "E_total": "총 오차",
        "dE_dout": "∂E/∂출력 {n}", "dout_dnet": "활성화 미분 {n}", "delta": "델타 {n}", "grad": "기울기 {p}",
        "new": "새 {p}", "part": "샘플별 {p}", "sample": "샘플 {s}",
        "title": "역전파 계산", "sheet": "시트1", "iteration": "반복 {k}"},
    "portuguese": {
        "input": "entrada {n}", "target": "saída desejada {n}", "eta": "taxa de aprendizagem", "w": "peso {p}",
        "b": "viés {p}", "one": "entrada do viés (1)",
        "net": "soma {n}", "out": "saída {n}", "E_o": "erro {n}", "E_sample": "erro", "E_total": "erro total",
        "dE_dout": "∂E/∂saída {n}", "dout_dnet": "derivada {n}", "delta": "delta {n}", "grad": "gradiente {p}",
        "new": "novo {p}", "part": "{p} por amostra", "sample": "amostra {s}",
        "title": "Retropropagação", "sheet": "Planilha1", "iteration": "Iteração {k}"},
}


def neuron(st, lab: str) -> str:
    """How the student names a neuron: `h1`, or its node number in a textbook's figure (4)."""
    if st.style.labels != "symbols":
        return lab
    flat = [x for layer in st.graph.labels for x in layer]
    return str(flat.index(lab) + 1)


def param(st, name: str) -> str:
    """w5 (Mazur), w3 (numbered input by input), w46 (source and destination nodes), b1, b_h1, θ4."""
    p = st.q(name).param
    labels = st.graph.labels
    if p.kind == "b":
        where = f"{p.layer}" if p.row is None else labels[p.layer][p.row]
        if st.style.labels == "symbols":
            return "θ" + (neuron(st, where) if p.row is not None else where)
        if st.style.bias_input:
            return f"w0 {where}"
        return f"b{where}" if p.row is None else f"b {where}"
    if st.style.labels == "symbols":
        return f"w{neuron(st, labels[p.layer - 1][p.col])}{neuron(st, labels[p.layer][p.row])}"
    if st.style.by_input:
        sizes = st.spec.sizes
        before = sum(sizes[layer - 1] * sizes[layer] for layer in range(1, p.layer))
        return f"w{before + p.col * sizes[p.layer] + p.row + 1}"
    return "w" + name.split("_")[1]


def label(st, name: str) -> str:
    words = WORDS[st.style.labels]
    q = st.q(name)
    if q.kind in ("param",):
        return words[q.param.kind].format(p=param(st, name))
    if q.kind in ("grad", "new"):
        return words[q.kind].format(p=param(st, name.split("_", 1)[1]))
    if q.kind == "eta":
        return words["eta"]
    lab = q.neuron or ""
    return words[q.kind].format(n=neuron(st, lab))


def word(st, key: str, **fields) -> str:
    return WORDS[st.style.labels][key].format(**fields)
