"""Fixtures shared by every test: real servers (PostgreSQL, S3, the collector), never mocks."""

from revolt_pipeline_tests.fixtures.collector import (  # noqa: F401
    collector_process,
    collector_server,
    s3_collector_server,
)
from revolt_pipeline_tests.fixtures.faults import faulty_s3  # noqa: F401
from revolt_pipeline_tests.fixtures.postgres import postgres_server, postgres_url, restartable_postgres  # noqa: F401
from revolt_pipeline_tests.fixtures.s3 import s3_bucket, s3_server  # noqa: F401
