"""Bring the server fixtures into scope the same way the project's top-level conftest does."""

from revolt_pipeline_tests.fixtures.postgres import postgres_server, postgres_url  # noqa: F401
from revolt_pipeline_tests.fixtures.s3 import s3_bucket, s3_server  # noqa: F401
