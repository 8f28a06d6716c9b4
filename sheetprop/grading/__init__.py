"""Grading students' workbooks: read, locate, recompute, judge, name the mistake.

Reading: `readbook` (every cell, stored results, names), `dependencies` (each formula's precedents, `dynamic` ones included: what INDEX,
OFFSET and INDIRECT fetch), `terms` (a formula as a sum of products), `tables` (row-per-iteration
tables). Locating the quantities: `locate` (names, a map, then the rest), `anchors` (the given
values, the weights read from what the net inputs multiply), `structure` (each computed quantity
by the shape of its formula), `gaps` (where a regular layout puts what is left), `vocabulary`
(students' labels) and `labels` (where each label's value sits), `conventions` (the forms a quantity is written in), `shape`, `objective` and `infer`
(the network, its loss, η and what is trained, when no spec is given). Judging: `judge` (each quantity against the reference and the
student's own earlier values), `mistakes` and `candidates` (the likely mistake), `hardcoded` (a
typed number wrapped in a formula), `runs`, `iterations` and `workbook_runs` (every training run,
update by update), `words` (the student's own terms). `grade` grades one file; `batch` grades
many, each in a bounded child process.

Imports: engines, writing (the solution used to warm a child up), the model and the plumbing.
Never reports or the CLI.
"""
