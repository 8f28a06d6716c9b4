"""sheetprop: backpropagation as live spreadsheet formulas."""

__version__ = "0.1.0"
