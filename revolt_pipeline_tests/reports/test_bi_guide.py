"""docs/bi.md stays true: every ```sql block in it runs, as the read-only BI role, on demo data in PostgreSQL.

The report database is built as production builds it: the demo's traffic through a collector, every layer
through the layer library's `DayBuilder`, loaded by the pipeline's own role; the queries then run as a role
made read-only by `grant_readonly`, as a BI tool would run them. A query that fails, or finds no rows in a
week of demo traffic, fails here; so does a report table the guide does not describe.
"""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from revolt_pipeline.demo.generator import demo_funnels
from revolt_pipeline.demo.run import run_demo_traffic
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.access import grant_readonly
from revolt_pipeline.reports.loader import create_engine, ensure_tables
from revolt_pipeline.reports.views import VIEWS
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.fixtures.postgres import PostgresServer
from revolt_pipeline_tests.pipeline.harness import pipeline_environment

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "bi.md"
SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.DOTALL | re.MULTILINE)
TABLES_SECTION = "## The tables"
VIEWS_SECTION = "## The views"


@dataclass(frozen=True)
class Query:
    heading: str  # the guide's heading above the block
    question: str  # the paragraph just above it, which says what it answers
    text: str

    @property
    def id(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.heading} {self.question}"[:70].lower()).strip("-")


def guide_queries(text: str) -> list[Query]:
    """Every ```sql block of the guide, with the heading it stands under and the paragraph before it."""
    queries = []
    for match in SQL_BLOCK.finditer(text):
        before = text[: match.start()]
        headings = re.findall(r"^#+ (.+)$", before, re.MULTILINE)
        paragraph = before.rstrip().rsplit("\n\n", 1)[-1]
        queries.append(Query(headings[-1] if headings else "(top)", " ".join(paragraph.split()), match.group(1)))
    return queries


def guide_table_sections(text: str, heading: str = TABLES_SECTION) -> set[str]:
    """The tables (or views) the guide describes: each a `### \\`name\\`` heading under its `heading` section."""
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^### `([a-z0-9_]+)`", section, re.MULTILINE))


QUERIES = guide_queries(GUIDE.read_text())


@dataclass(frozen=True)
class DemoReports:
    server: PostgresServer
    database: str
    reader: str  # the read-only role, as a BI tool connects

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(
            host=self.server.host, port=self.server.port, user=self.reader, dbname=self.database, connect_timeout=10
        )


@pytest.fixture(scope="module")
def demo_reports(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoReports]:
    """A week of demo traffic ending a week ago, loaded by the pipeline's role, read by a read-only role."""
    suffix = uuid.uuid4().hex[:8]
    owner, reader, database = f"pipeline_{suffix}", f"bi_{suffix}", f"reports_{suffix}"
    with psycopg.connect(postgres_server.conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {owner} LOGIN")
        admin.execute(f"CREATE ROLE {reader} LOGIN")
        admin.execute(f"CREATE DATABASE {database} OWNER {owner}")
        admin.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
    url = f"postgresql+psycopg://{owner}@{postgres_server.host}:{postgres_server.port}/{database}"

    home = tmp_path_factory.mktemp("bi-guide")
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings = pipeline_environment(monkeypatch, home, REVOLT_REPORT_DB_URL=url)
    # Last week, Monday to Sunday, whatever today is: the guide's "last week" and "the last 30 days" both hold it
    # (two weeks back from today, the demo's default, missed "last week" entirely on Mondays). 120 people: with 60,
    # whether an upgraded Android device sent a decimal `duration_minutes` (the type drift the guide's property
    # query finds) was up to the dates, 0 or 1 events; with 120 it is 3 to 9 over the weeks tried.
    today = datetime.now(UTC).date()
    last_monday = today - timedelta(days=today.weekday() + 7)
    traffic = run_demo_traffic(
        settings, seed=3, users=120, days=7, start=last_monday, collector_url=None, ground_truth_path=None
    ).traffic
    first, last = traffic.messages[0].send_time.date(), traffic.end.date()
    received = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    engine = create_engine(url)
    try:
        ensure_tables(engine)
        (home / "work").mkdir()
        rules = PipelineRules(funnels=demo_funnels())  # the funnels `revolt demo` ships
        DayBuilder(settings.store, rules, home / "work").every_layer(received, engine)
    finally:
        engine.dispose()
    grant_readonly(url, reader)
    yield DemoReports(postgres_server, database, reader)
    postgres_server.drop_database(database)


def test_the_guide_holds_queries_and_each_is_one_statement() -> None:
    assert len(QUERIES) >= 10, "the pattern finds the guide's ```sql blocks"
    for query in QUERIES:
        statement = query.text.strip().removesuffix(";")
        assert statement and ";" not in statement, f"{query.heading}: one statement per block, as a BI tool takes it"


def test_the_guide_describes_every_report_table() -> None:
    described = guide_table_sections(GUIDE.read_text())
    assert {table.name for table in schema.metadata.sorted_tables} - described == set(), (
        f"give each report table a section under '{TABLES_SECTION}' in docs/bi.md: grain, columns, what sums"
    )
    assert described - {table.name for table in schema.metadata.sorted_tables} == set(), "a table no longer made"


def test_the_guide_describes_every_view() -> None:
    described = guide_table_sections(GUIDE.read_text(), VIEWS_SECTION)
    assert {view.name for view in VIEWS} - described == set(), (
        f"give each view of reports/views.py a section under '{VIEWS_SECTION}' in docs/bi.md: what it answers"
    )
    assert described - {view.name for view in VIEWS} == set(), "a view no longer made"


@pytest.mark.services
@pytest.mark.parametrize("query", QUERIES, ids=[query.id for query in QUERIES])
def test_each_query_of_the_guide_finds_rows_as_the_read_only_role(demo_reports: DemoReports, query: Query) -> None:
    with demo_reports.connect() as connection:
        rows = connection.execute(query.text).fetchall()
    assert rows, f"'{query.heading}: {query.question}' found no rows in a week of demo traffic:\n{query.text}"
