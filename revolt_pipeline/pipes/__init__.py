"""The Spark job that Dagster launches through Dagster Pipes, and what it and the assets exchange."""
