"""Fixtures shared by every test: real servers (PostgreSQL, S3, the collector), never mocks."""

import os

import pytest

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


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each module on one xdist worker, like ``--dist loadfile``, unless it names a group of its own.

    Modules that share a session fixture costing minutes (the demo runs) name one group, so the fixture is built
    by one worker only. Every other module is its own group, named by its file (two files of one name share a
    worker, which is harmless), so its module-scoped servers start once.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
