"""Building the lake's layers one day at a time: the plain library the Dagster assets call.

Each function reads its inputs from the object store, runs the SQL transforms on DuckDB, writes its
outputs back, and returns what it found (counts, problems) for the caller to report. Nothing here
knows about Dagster, which keeps the assets thin and lets benchmarks run the very same code.
"""
