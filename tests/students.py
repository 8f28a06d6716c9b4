"""Workbooks built the way real students build the assignment (no student's file is copied here).

The assignment: Mazur's 2-2-2 sigmoid network without biases, one row per iteration under a
header row, the learning rate in one cell, every factor folded into the gradient formulas.
`Sheet` writes such a table with openpyxl, in any column order, any vocabulary for the
header, starting anywhere, with the given values typed, written as constants (`=0.5`) or
copied from a block of their own; `mistakes` replaces the formula of a quantity by one of
the slips real students make. `cell(name)` says where the builder put each quantity of the
first update, for the tests to compare with what the grader finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter

GIVEN = {"w_1": 0.15, "w_2": 0.20, "w_3": 0.25, "w_4": 0.30, "w_5": 0.40, "w_6": 0.45, "w_7": 0.50, "w_8": 0.55,
         "i_1": 0.05, "i_2": 0.10, "target_o1": 0.01, "target_o2": 0.99}
CLASSIC = ["target_o1", "target_o2", "i_1", "i_2", "w_1", "w_2", "w_3", "w_4", "net_h1", "out_h1", "net_h2", "out_h2",
           "w_5", "w_6", "w_7", "w_8", "net_o1", "out_o1", "net_o2", "out_o2", "E_o1", "E_o2", "E_total",
           *[f"grad_w_{k}" for k in range(1, 9)]]
GROUPED = ["target_o1", "target_o2", "i_1", "i_2", "w_1", "w_2", "w_3", "w_4", "net_h1", "net_h2", "out_h1", "out_h2",
           "w_5", "w_6", "w_7", "w_8", "net_o1", "net_o2", "out_o1", "out_o2", "E_o1", "E_o2", "E_total",
           *[f"grad_w_{k}" for k in range(1, 9)]]
LOCAL = ["dE_dout_o1", "dE_dout_o2", "dout_dnet_o1", "dout_dnet_o2", "dout_dnet_h1", "dout_dnet_h2"]

# How the header names the quantities: the assignment's own words, in three spellings seen in real sheets.
VOCABULARIES = {
    "a_h": {"target_o1": "t1", "target_o2": "t2", "i_1": "i1", "i_2": "i2", "net_h1": "h1", "out_h1": "a_h1",
            "net_h2": "h2", "out_h2": "a_h2", "net_o1": "o1", "out_o1": "a_o1", "net_o2": "o2", "out_o2": "a_o2",
            "E_o1": "E1", "E_o2": "E2", "E_total": "E_tot", **{f"w_{k}": f"w{k}" for k in range(1, 9)},
            **{f"grad_w_{k}": f"∂E/∂w{k}" for k in range(1, 9)}, "eta": "η ="},
    "upper": {"target_o1": "T1", "target_o2": "T2", "i_1": "I1", "i_2": "I2", "net_h1": "h1", "out_h1": "a_h1",
              "net_h2": "h2", "out_h2": "a_h2", "net_o1": "o1", "out_o1": "a_O1", "net_o2": "o2", "out_o2": "a_O2",
              "E_o1": "e1", "E_o2": "e2", "E_total": "E_T", **{f"w_{k}": f"W{k}" for k in range(1, 9)},
              **{f"grad_w_{k}": f"∂E_t/∂W{k}" for k in range(1, 9)}, "eta": "L.R"},
    "out": {"target_o1": "t1", "target_o2": "t2", "i_1": "i1", "i_2": "i2", "net_h1": "h1", "out_h1": "out_h1",
            "net_h2": "h2", "out_h2": "out_h2", "net_o1": "o1", "out_o1": "out_o1", "net_o2": "o2", "out_o2": "out_o2",
            "E_o1": "E1", "E_o2": "E2", "E_total": "Etotal", **{f"w_{k}": f"w{k}" for k in range(1, 9)},
            **{f"grad_w_{k}": f"dE_total / dw{k}" for k in range(1, 9)}, "eta": "ɳ = "},
    "none": {},
}
LOCAL_LABELS = {"dE_dout_o1": "∂E1/∂a_o1", "dE_dout_o2": "∂E2/∂a_o2", "dout_dnet_o1": "∂a_o1/∂o1",
                "dout_dnet_o2": "∂a_o2/∂o2", "dout_dnet_h1": "∂a_h1/∂h1", "dout_dnet_h2": "∂a_h2/∂h2"}


def right(name: str, c, local: bool = False) -> str:
    """The right formula of a quantity in row terms: `c(name)` is the reference of a column in this row."""
    w = {k: c(f"w_{k}") for k in range(1, 9)}
    i1, i2, t1, t2 = c("i_1"), c("i_2"), c("target_o1"), c("target_o2")
    h1, h2, o1, o2 = c("out_h1"), c("out_h2"), c("out_o1"), c("out_o2")
    if local:  # gradients as products of the local-gradient columns
        d1, d2 = f"{c('dE_dout_o1')}*{c('dout_dnet_o1')}", f"{c('dE_dout_o2')}*{c('dout_dnet_o2')}"
    else:
        d1, d2 = f"({o1}-{t1})*{o1}*(1-{o1})", f"({o2}-{t2})*{o2}*(1-{o2})"
    dh1 = f"{c('dout_dnet_h1')}" if local else f"{h1}*(1-{h1})"
    dh2 = f"{c('dout_dnet_h2')}" if local else f"{h2}*(1-{h2})"
    rules = {
        "net_h1": f"={w[1]}*{i1}+{w[2]}*{i2}", "net_h2": f"={w[3]}*{i1}+{w[4]}*{i2}",
        "out_h1": f"=1/(1+EXP(-{c('net_h1')}))", "out_h2": f"=1/(1+EXP(-{c('net_h2')}))",
        "net_o1": f"={w[5]}*{h1}+{w[6]}*{h2}", "net_o2": f"={w[7]}*{h1}+{w[8]}*{h2}",
        "out_o1": f"=1/(1+EXP(-{c('net_o1')}))", "out_o2": f"=1/(1+EXP(-{c('net_o2')}))",
        "E_o1": f"=0.5*({t1}-{o1})^2", "E_o2": f"=0.5*({t2}-{o2})^2", "E_total": f"={c('E_o1')}+{c('E_o2')}",
        "grad_w_1": f"=({d1}*{w[5]}+{d2}*{w[7]})*{dh1}*{i1}", "grad_w_2": f"=({d1}*{w[5]}+{d2}*{w[7]})*{dh1}*{i2}",
        "grad_w_3": f"=({d1}*{w[6]}+{d2}*{w[8]})*{dh2}*{i1}", "grad_w_4": f"=({d1}*{w[6]}+{d2}*{w[8]})*{dh2}*{i2}",
        "grad_w_5": f"={d1}*{h1}", "grad_w_6": f"={d1}*{h2}", "grad_w_7": f"={d2}*{h1}", "grad_w_8": f"={d2}*{h2}",
        "dE_dout_o1": f"={o1}-{t1}", "dE_dout_o2": f"={o2}-{t2}",
        "dout_dnet_o1": f"={o1}*(1-{o1})", "dout_dnet_o2": f"={o2}*(1-{o2})",
        "dout_dnet_h1": f"={h1}*(1-{h1})", "dout_dnet_h2": f"={h2}*(1-{h2})",
    }
    return rules[name]


def mistaken(name: str, c) -> str:
    """The slips real students make, by the id the grader names them with."""
    w = {k: c(f"w_{k}") for k in range(1, 9)}
    i1, t1, t2 = c("i_1"), c("target_o1"), c("target_o2")
    h1, o1, o2 = c("out_h1"), c("out_o1"), c("out_o2")
    d1, d2 = f"({o1}-{t1})*{o1}*(1-{o1})", f"({o2}-{t2})*{o2}*(1-{o2})"
    return {
        "wrong_neuron_derivative": f"=({d1}*{w[6]}+{d2}*{w[8]})*{h1}*(1-{h1})*{i1}",  # grad_w_3 with a_h1
        "net_instead_of_out": f"={d1}*{c('net_h2')}",  # grad_w_6 with h2
        "weights_swapped": f"=({d1}*{w[5]}+{d2}*{w[6]})*{h1}*(1-{h1})*{i1}",  # grad_w_1: w6 for w7
        "error_as_product": f"={o1}*{t1}*{o1}*(1-{o1})*{h1}",  # grad_w_5: a_o1·t1
        "missing_brackets": f"={o1}-{t1}*{o1}*(1-{o1})*{h1}",  # grad_w_5
    }[name]


MISTAKE_TARGET = {"wrong_neuron_derivative": "grad_w_3", "net_instead_of_out": "grad_w_6",
                  "weights_swapped": "grad_w_1", "error_as_product": "grad_w_5", "missing_brackets": "grad_w_5"}


@dataclass
class Sheet:
    """One row-per-iteration table on a sheet."""

    title: str = "Sheet1"
    columns: list[str] = field(default_factory=lambda: list(CLASSIC))
    vocabulary: str = "a_h"
    top: int = 5  # the header's row (1-based); the learning rate sits two rows above
    left: int = 1  # the first column (1-based)
    rows: int = 30  # updates shown
    eta: float = 0.5
    given: dict[str, float] = field(default_factory=lambda: dict(GIVEN))
    constants: bool = False  # the inputs and targets written as formulas `=0.05`
    block: bool = False  # the given values in a block of their own, the first row copying them (`=$B$5`)
    notes_row: bool = False  # a row of formula texts between the header and the first row
    local: bool = False  # local-gradient columns (∂E1/∂a_o1 …) the gradients multiply
    mistakes: dict[str, str] = field(default_factory=dict)  # quantity → mistake id (see `mistaken`)
    next_only: bool = False  # one update only: the next row holds just the new weights
    copies: bool = True  # later rows copy the inputs and targets from the row above (`=B49`), else retype them

    def __post_init__(self):
        if self.local:
            self.columns = self.columns + [c for c in LOCAL if c not in self.columns]
        self.places: dict[str, str] = {}

    @property
    def first(self) -> int:
        return self.top + 1 + self.notes_row

    def col(self, name: str) -> str:
        return get_column_letter(self.left + self.columns.index(name))

    def cell(self, name: str) -> str:
        """Where the builder put a quantity of the first update (new_w_k: the next row's w_k)."""
        return self.places[name]

    def write(self, ws) -> None:
        vocab = VOCABULARIES[self.vocabulary]
        eta_ref = f"${get_column_letter(self.left + 1)}${self.top - 2}"
        ws.cell(self.top - 2, self.left, vocab.get("eta", "learning rate"))
        ws.cell(self.top - 2, self.left + 1, self.eta)
        self.places["eta"] = f"{self.title}!{eta_ref.replace('$', '')}"
        block = {}
        if self.block:  # a block of given values beside the table, far right
            bc = self.left + len(self.columns) + 3
            for k, (name, value) in enumerate(self.given.items()):
                ws.cell(self.top + k, bc, vocab.get(name, name))
                ws.cell(self.top + k, bc + 1, value)
                block[name] = f"${get_column_letter(bc + 1)}${self.top + k}"
        for k, name in enumerate(self.columns):
            label = vocab.get(name) or LOCAL_LABELS.get(name)
            if label:
                ws.cell(self.top, self.left + k, label)
            if self.notes_row:
                ws.cell(self.top + 1, self.left + k, "= " + (label or name) + " formula")
        last = self.first + (1 if self.next_only else self.rows - 1)
        for r in range(self.first, last + 1):
            def c(name, r=r):
                return f"{self.col(name)}{r}"

            for k, name in enumerate(self.columns):
                col = self.left + k
                if name in self.given:
                    value = self.given[name]
                    if name.startswith("w_") and r > self.first:
                        g = f"grad_{name}"
                        text = f"={self.col(name)}{r - 1}-{eta_ref}*{self.col(g)}{r - 1}"
                    elif self.block:
                        text = f"={block[name]}"
                    elif self.constants and not name.startswith("w_"):
                        text = f"={value}"
                    elif self.copies and r > self.first:
                        text = f"={self.col(name)}{r - 1}"
                    else:
                        text = value
                    ws.cell(r, col, text)
                elif not (self.next_only and r > self.first):
                    mistake = self.mistakes.get(name)
                    ws.cell(r, col, mistaken(mistake, c) if mistake else right(name, c, self.local))
                if r == self.first:
                    self.places[name] = f"{self.title}!{self.col(name)}{r}"
                elif r == self.first + 1 and name.startswith("w_"):
                    self.places[f"new_{name}"] = f"{self.title}!{self.col(name)}{r}"


def workbook(path: Path, *sheets: Sheet, extra=None) -> Path:
    """Write the sheets (the first is the active one) into one workbook; `extra(wb)` may add more."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for sheet in sheets:
        sheet.write(wb.create_sheet(sheet.title))
    if extra:
        extra(wb)
    wb.save(path)
    return path
