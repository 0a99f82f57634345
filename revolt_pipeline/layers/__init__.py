"""Building the lake's layers one day at a time: the plain library the Dagster assets call.

Each function reads its inputs from the object store, runs the transforms (all SQL lives in
`transforms/`) on the DuckDB connection it is given, writes its outputs back behind a commit record,
and returns what it found: the counts the asset checks judge. Nothing here knows about Dagster or
reads the settings, which keeps the assets thin; `days.py` runs the layers in the jobs' order for tests
and benchmarks, so they run the very same code.
"""
