"""Report tables in the report database, for BI tools."""
