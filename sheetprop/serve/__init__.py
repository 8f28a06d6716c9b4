"""`sheetprop serve`: a web page where students check their own workbook, one assignment per server.

A student uploads a workbook and reads the verdict, the score out of the assignment's total,
what to fix first and their loss curve beside the correct one (`view`). Each upload is read
within a size limit into a private folder (`upload`), graded by the same bounded child
process as `sheetprop check`, one per core at a time behind a bounded queue (`grader`), and
deleted, unless the instructor keeps the uploads (`keep`), whose class page and gradebook
open with a token (`admin`). `app` puts the page together (`page`) as a Starlette
application, which the CLI serves with uvicorn.

Imports: reports, grading and everything below them; Starlette and python-multipart (the
`serve` extra) only in `app`, `upload` and `admin`, which nothing imports before the server
is built. Never the CLI.
"""
