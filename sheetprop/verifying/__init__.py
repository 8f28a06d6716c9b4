"""Verify: recompute a workbook with an engine and compare every cell with the reference.

`verify` reads the given values back from the workbook's own input cells, rebuilds the layout
the writer would make of them, evaluates the file in a bounded child process and compares.

Imports: engines, writing (for the layout), the model and the plumbing.
"""
