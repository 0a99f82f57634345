"""Launching the Spark job (`pipes/spark_job.py`) through Dagster Pipes: locally, on AWS Glue or on EMR Serverless."""
