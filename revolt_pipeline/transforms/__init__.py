"""Pure table transforms, run by DuckDB and written in SQL so they carry over to Spark SQL.

Each function takes the tables it reads (files or registered relations) and returns tables; none
of them knows about Dagster, the object store, or where its inputs came from.

Why SQL rather than Ibis or a dataframe API: the transforms are windowed, set-based logic
(sessions, deduplication, identity stitching) that SQL says plainly, DuckDB runs fastest here
(5 M events sessionized in about a third of pandas' time, with half the memory), and the same
statements run on Spark SQL with few changes. DuckDB-only spellings are kept to a few functions
(`epoch_ms`, `make_timestamptz`, JSON access with `->>`), each of which has a Spark equivalent.
"""
