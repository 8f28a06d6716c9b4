"""Writing workbooks: from a spec's quantity graph to an .xlsx file of live, named formulas.

`layout` places every quantity of the Network sheet; `training` the Training sheets' rows;
`xlsx` is the file itself (XlsxWriter, extended for shared formulas and exact numbers, print
set-up, atomic write); `workbook` puts the sheets together (Network, Training, Sweep, About);
`exercise` blanks the answers for a handout.

Imports: the model and the plumbing. Never an engine: `sheetprop generate` starts fast.
"""
