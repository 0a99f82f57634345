"""Report tables in the report database (SQLite by default, PostgreSQL in production) for BI tools."""
