"""`revolt demo` runs shared by the tests that only read them: a run takes minutes, and its lake and report
tables are the same for every test that reads them, so each backend's is made once per session. Likewise the
demo's lake built by the layer library (`demo_lake`), which tests load into report databases of their own."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from revolt_pipeline.demo.generator import Traffic
from revolt_pipeline.demo.pipeline import DemoResult
from revolt_pipeline.demo.run import run_demo_traffic
from revolt_pipeline.layers.days import BuiltDays, DayBuilder
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.settings import Settings
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.fixtures.postgres import PostgresServer
from revolt_pipeline_tests.fixtures.s3 import S3Bucket, S3Server
from revolt_pipeline_tests.pipeline.harness import pipeline_environment
from revolt_pipeline_tests.pipeline.test_demo_end_to_end import START, USERS, demo, report_rows


def pytest_configure(config: pytest.Config) -> None:
    # The modules sharing a session's demo name one group, which the scheduler of the root conftest.py keeps on one
    # pytest-xdist worker (pytest-xdist registers this marker itself once installed).
    config.addinivalue_line("markers", "xdist_group(name): run the marked tests on one pytest-xdist worker")


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


@dataclass(frozen=True)
class DemoLake:
    """The demo's traffic (`revolt demo`'s: seed 3, USERS people, the week from START) sent to a collector and
    built through every layer by the layer library (`DayBuilder`, in the cascade's order), without Dagster.

    Built once per session for the tests that read it; each loads it into a report database of its own. Loading
    only reads the lake. A test that would change the lake (land more, rebuild a day) must work on a copy of
    `settings.home` (a folder copy costs far less than building the lake again), never on the shared one."""

    settings: Settings
    traffic: Traffic
    truth: dict[str, Any]
    builder: DayBuilder
    built: BuiltDays

    def load(self, url: str) -> dict[str, list[dict[str, Any]]]:
        """Every report table of the lake's days loaded into the database at `url`; every table's rows."""
        engine = create_engine(url)
        try:
            ensure_tables(engine)
            self.builder.every_report(engine, self.built)
            return {table.name: read_rows(engine, table) for table in schema.metadata.sorted_tables}
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> DemoLake:
    home = tmp_path_factory.mktemp("demo-lake")
    with pytest.MonkeyPatch.context() as patch:
        settings = pipeline_environment(patch, home)
        sent = run_demo_traffic(
            settings, seed=3, users=USERS, days=7, start=START, collector_url=None, ground_truth_path=None
        )
    first, last = sent.traffic.messages[0].send_time.date(), sent.traffic.end.date()
    received = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    (home / "work").mkdir()
    builder = DayBuilder(settings.store, PipelineRules(), home / "work")
    return DemoLake(settings, sent.traffic, sent.truth, builder, builder.every_layer(received))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def report_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty report database on each backend, for tests that load the demo's lake into one of their own."""
    yield (
        f"sqlite:///{tmp_path / 'reports.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
