"""How students label the quantities: the vocabulary the grader reads as a hint.

Two vocabularies meet in students' sheets. Mazur's tutorial names neurons h1, o1 and writes
net_h1, out_h1; the course assignment most students follow writes h1 for the NET input of
hidden neuron 1, a_h1 (or out_h1, act_h1) for its activation, o1 / a_o1 for the output's,
E1 for its loss term, E_tot for the total, ∂E/∂w5 (E∂w5, Edw5, δE_tot/δw5, ∂E_t/∂W5, dw5,
dE_total / dw5) for a gradient, and η, ɳ, ƞ, ͷ, LR, L.R, α or "learning rate" for the learning
rate. `label_index(names)` maps every normalised label to the one name it stands for;
`read_label(text, index)` reads a label with the patterns of gradients and learning rates
first. A label only ever supports what the structure of the formulas shows.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_GREEK = {"δ": "delta", "Δ": "delta", "η": "eta", "ɳ": "eta", "ƞ": "eta", "ͷ": "eta", "∂": "d", "α": "alpha"}


# Words of the labels students write in other languages, read as the English ones (longest first).
_WORDS = {
    "saída desejada": "target", "saida desejada": "target", "taxa de aprendizagem": "learning rate",
    "gradiente": "gradient", "derivada": "derivative", "novo": "new", "nova": "new", "peso": "weight",
    "viés": "bias", "vies": "bias", "entrada": "input", "saída": "output", "saida": "output", "erro": "error",
    "soma": "net", "alvo": "target", "desejado": "target",
    "기울기": "gradient", "그래디언트": "gradient", "새": "new", "가중치": "weight", "편향": "bias", "입력": "input",
    "출력": "output", "오차": "error", "총": "total", "순입력": "net", "델타": "delta", "목표": "target",
    "활성화 미분": "derivative", "미분": "derivative", "학습률": "learning rate",
}
_WORD = re.compile("|".join(re.escape(w) for w in sorted(_WORDS, key=len, reverse=True)), re.IGNORECASE)


def normalise(text: str) -> str:
    """Lower case, letters and digits only: "∂E/∂w5" → "dedw5", "w5⁺" → "w5new", "NET_H1" → "neth1".
    Mathematical letters are read as the letters they are drawn from ("𝛿w_1" is "δw_1"); a few
    words of Portuguese and Korean labels as the English ones ("기울기 w5" is "gradient w5")."""
    text = unicodedata.normalize("NFKC", text.replace("⁺", "\0")).replace("\0", "⁺").strip().translate(_SUBSCRIPTS)
    text = _WORD.sub(lambda m: f" {_WORDS[m.group(0).lower()]} ", text)
    for greek, word in _GREEK.items():
        text = text.replace(greek, word)
    text = re.sub(r"(⁺|\+|'|’|\*)\s*:?\s*$", " new", text)
    return re.sub(r"[^a-z0-9]", "", text.lower())


def aliases(name: str) -> set[str]:
    """Every normalised way a student may label the quantity `name`."""
    m = re.fullmatch(r"(.*?)(_s\d+)?", name)
    assert m is not None, name  # the pattern matches every name
    base, suffix = m.group(1), normalise(m.group(2) or "")
    forms = {normalise(base)}
    parts = base.split("_")
    head, rest = parts[0], "".join(parts[1:])
    if base == "eta":
        forms |= {"learningrate", "learningrateeta", "lr", "alpha", "eta", "etaeq", "learningrateetaeq"}
    elif head in ("w", "b") and rest:
        word = "weight" if head == "w" else "bias"
        forms |= {f"{word}{rest}", f"{word}{head}{rest}", f"{word}of{rest}"}
    elif head == "i":
        forms |= {f"input{rest}", f"inputi{rest}", f"x{rest}"}
    elif head == "target":
        index = rest.lstrip("o")
        forms |= {f"targetof{rest}", f"t{rest}", f"y{rest}", f"target{index}", f"t{index}", f"y{index}"}
    elif head == "net":
        forms |= {f"{rest}net", f"netinput{rest}", f"netinputof{rest}", f"netof{rest}", rest, f"sum{rest}"}  # h1: the assignment's net
    elif head == "out":
        forms |= {f"{rest}out", f"output{rest}", f"outputof{rest}", f"outof{rest}", f"a{rest}", f"act{rest}",
                  f"{rest}output",
                  f"a{rest[0]}{rest}"}  # a_h1, act_h1, ah_h1
    elif base == "E_total":
        forms |= {"totalerror", "totalloss", "errortotal", "losstotal", "batchloss", "etot", "et", "etotal",
                  "etote1e2", "ee1e2", "etotale1e2"}
    elif head == "E" and rest:
        index = rest.lstrip("o")
        forms |= {f"error{rest}", f"loss{rest}", f"lossterm{rest}", f"losstermof{rest}", f"e{index}", f"error{index}",
                  f"{rest}error"}
    elif base == "E":
        forms |= {"error", "loss"} if suffix else set()
    elif base.startswith("dE_dout_"):
        lab = normalise(base[len("dE_dout_"):])
        forms |= {f"dedout{lab}", f"dedoutof{lab}", f"deda{lab}", f"de{lab[1:]}da{lab}",  # ∂E1/∂a_o1
                  f"dedoutput{lab}"}
    elif base.startswith("dnet_"):  # dnet_o1_dout_h1: ∂o1/∂a_h1 in the assignment's words
        to, _, source = base[len("dnet_"):].partition("_dout_")
        forms |= {f"dnet{to}dout{source}", f"d{to}da{source}", f"d{to}dout{source}"}
    elif base.startswith("dout_dnet_"):
        lab = normalise(base[len("dout_dnet_"):])
        forms |= {f"dout{lab}dnet{lab}", f"doutdnetof{lab}", f"da{lab}d{lab}", f"derivative{lab}",
                  f"activationderivative{lab}"}
        if suffix:  # ∂out_o1_s2/∂net_o1_s2
            return {form + suffix for form in forms} | {f"dout{lab}{suffix}dnet{lab}{suffix}"}
    elif head == "delta":
        forms |= {f"deltaof{rest}", f"dednet{rest}", f"delta{rest}"}
    elif head in ("grad", "new"):
        sym = "".join(parts[1:])  # w5, b1, bh1
        if head == "grad":
            forms |= {f"gradient{sym}", f"gradientof{sym}", f"ded{sym}", f"grad{sym}"}
        else:
            forms |= {f"{sym}new", f"updated{sym}", f"{sym}updated", f"newweight{sym}", f"new{sym}"}
    return {form + suffix for form in forms if form}


def label_index(names: Iterable[str]) -> dict[str, str]:
    """Normalised label → the one name it stands for (labels that fit two names are dropped)."""
    owners: dict[str, set[str]] = {}
    names = list(names)
    for name in names:
        for form in aliases(name):
            owners.setdefault(form, set()).add(name)
    index = {form: next(iter(who)) for form, who in owners.items() if len(who) == 1}
    for name in names:  # a column's header over one row per sample names the first sample's cell
        if name.endswith("_s1"):
            for form in aliases(name[:-3]):
                index.setdefault(form, name)
    return index


_GRADIENT = re.compile(r"^(?:[∂dδ]\s*(?:e|c|loss|cost)[\w.]*\s*/\s*[∂dδ]|e\s*[∂dδ]|[∂dδ])\s*(w|b)_?(\d+)$", re.IGNORECASE)
_RATE = re.compile(r"^(?:η|ɳ|ƞ|ͷ|α|lr|l\.\s*r\.?|learning\s*rate|taxa\s*de\s*aprendizagem|학습률)\s*[:=]?\s*"
                   r"(?:\(\s*(?:η|ɳ|ƞ|ͷ|α|k|lr|eta|alpha)\s*\))?\s*[:=]?$", re.IGNORECASE)


def read_label(text: str, index: dict[str, str]) -> str | None:
    """The name a label stands for, if any: "δE_tot/δw5" → grad_w_5, "L.R" → eta, "a_h1" → out_h1."""
    text = unicodedata.normalize("NFKC", text)
    compact = re.sub(r"\s+", "", text.strip().translate(_SUBSCRIPTS))
    m = _GRADIENT.match(compact)
    if m:
        name = f"grad_{m.group(1).lower()}_{m.group(2)}"
        return name if name in index.values() else None
    if _RATE.match(text.strip()):
        return "eta" if "eta" in index.values() else None
    return index.get(normalise(text))
