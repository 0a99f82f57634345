"""`revolt demo` runs shared by the tests that only read them: a run takes minutes, and its lake and report
tables are the same for every test that reads them, so each backend's is made once per session."""

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from revolt_pipeline.demo.pipeline import DemoResult
from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.fixtures.postgres import PostgresServer
from revolt_pipeline_tests.fixtures.s3 import S3Bucket, S3Server
from revolt_pipeline_tests.pipeline.harness import pipeline_environment
from revolt_pipeline_tests.pipeline.test_demo_end_to_end import demo, report_rows


@dataclass(frozen=True)
class DemoRun:
    settings: Settings
    result: DemoResult
    rows: dict[str, list[dict[str, Any]]]  # every report table's rows, by table


def _demo_run(home: Path, **overrides: str) -> DemoRun:
    with pytest.MonkeyPatch.context() as patch:
        settings = pipeline_environment(patch, home, **overrides)
        result = demo(settings)
        return DemoRun(settings, result, report_rows(settings))


@pytest.fixture(scope="session")
def embedded_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo on the embedded default: a local folder and SQLite."""
    return _demo_run(tmp_path_factory.mktemp("embedded-demo"))


@pytest.fixture(scope="session")
def production_demo(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, postgres_server: PostgresServer
) -> DemoRun:
    """The demo on production's backends: S3 (moto's server) and PostgreSQL, each a fresh bucket and database."""
    bucket = S3Bucket(name=f"test-{uuid.uuid4().hex[:20]}", endpoint_url=s3_server.endpoint_url)
    s3_server.client().create_bucket(Bucket=bucket.name)
    return _demo_run(
        tmp_path_factory.mktemp("production-demo"),
        REVOLT_STORAGE_URL=bucket.url("lake"),
        REVOLT_S3_ENDPOINT_URL=bucket.endpoint_url,
        REVOLT_REPORT_DB_URL=postgres_server.create_database(f"test_{uuid.uuid4().hex[:16]}"),
    )
