"""The model: the spec, the network, the ops, the names, the quantity graph and the reference.

`spec` loads a YAML/JSON spec or a preset and `validate` checks it into a `network.Spec`;
`ops` holds every activation and loss (forward and backward side by side); `names` the
shared vocabulary; `graph` every quantity of one update step and the rule that computes it;
`reference` solves the graph in plain Python and unrolls training; `budget` counts a spec's
cells before anything is built; `initial` draws the weights a spec leaves out; `randomspec`
makes random specs for tests and benchmarks.

Imports: only the shared plumbing at the top of `sheetprop` (errors, limits, files). Nothing
here knows of workbooks, engines or grading.
"""
