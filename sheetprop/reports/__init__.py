"""Reports of graded workbooks: text, CSV, the HTML class page, Gradescope and its autograder.

`text` is the one-file report, the class summary, the gradebook CSV and Gradescope's
results.json; `classpage` the self-contained HTML page for the class; `autograder` the
Gradescope bundle (setup.sh, run_autograder, this sheetprop pinned) and what runs inside it.

Imports: grading and everything below it. Never the CLI.
"""
