"""Grading students' workbooks: read, locate, recompute, judge, name the mistake.

Reading: `readbook` (every cell, stored results, names). Structure: `dependencies` (each
formula's precedents), `tables` (row-per-iteration tables). Locating the quantities:
`locate` (names, a map, then the rest), `structure` (the shape of the formulas), `vocabulary`
(students' labels), `infer` (the network when no spec is given). Judging: `judge` (each
quantity against the reference and against the student's own earlier values), `mistakes`
and `candidates` (the likely mistake), `runs` (a training table update by update). `grade`
grades one file; `batch` grades many, each in a bounded child process.

Imports: engines, writing (the solution used to warm a child up), the model and the plumbing.
Never reports or the CLI.
"""
