"""`sheetprop serve`: a web page where students check their own workbook, one assignment per server.

A student uploads a workbook and reads the verdict, the score out of the assignment's total,
what to fix first and their loss curve beside the correct one (`view`). Each upload is read
within a size limit into a private folder (`upload`), graded by the same bounded child
process as `sheetprop check`, one per core at a time behind a bounded queue (`grader`), and
deleted, unless the instructor keeps the uploads (`keep`), whose class page and gradebook
open with a token (`admin`). `app` puts the page together (`page`) as a Starlette
application, which the CLI serves with uvicorn.

Imports: reports, grading and everything below them; Starlette and python-multipart (the
`serve` extra) at the top of `app` and `admin` only, and inside `upload.read_upload`, so that
the rest imports without them; uvicorn only in the CLI, which builds and runs the server.
Never the CLI.
"""
