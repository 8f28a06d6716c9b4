"""Formula engines: recompute every formula cell of an .xlsx file.

One contract for every engine, so verify and check never care which one ran:

    evaluate(path, engine="formulas", timeout=None) -> dict[(sheet, "A1"), value]

maps every cell that holds a formula to the value the engine computed for it.
Stored results in the file are never used. Keys use the sheet's name as written in the
workbook and an upper-case A1 reference without `$`. Values are `float` (numbers,
integers included), `str`, `bool`, `None` (empty) or `CellError` ("#DIV/0!", "#NAME?", …).

Engines are imported lazily: importing this package costs nothing.
"""
