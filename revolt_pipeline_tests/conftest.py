"""Fixtures shared by every test: real servers (PostgreSQL, S3, the collector), never mocks."""

import os

# The tests' days are fixed (November 2026); the partitions' default start depends on the day a data
# directory is first used (settings.PARTITIONS_DEFAULT_DAYS). Set before any project module reads it; a test
# of the default unsets it.
os.environ["REVOLT_PARTITIONS_START"] = "2026-10-01"

from revolt_pipeline_tests.fixtures.collector import (  # noqa: F401
    collector_process,
    collector_server,
    s3_collector_server,
)
from revolt_pipeline_tests.fixtures.faults import faulty_s3  # noqa: F401
from revolt_pipeline_tests.fixtures.postgres import (  # noqa: F401
    postgres_server,
    postgres_url,
    restartable_postgres,
)
from revolt_pipeline_tests.fixtures.s3 import s3_bucket, s3_server  # noqa: F401
