"""The Dagster UI, through the GraphQL API it is built on, after a cascade over a range of days.

The code location is loaded as dagster-webserver loads it (workspace.yaml, a code server in its own
process) on the instance the runs went to, and asked what the UI's pages ask: the location loaded
without error; the assets, checks, jobs, schedules and sensors are exactly those the definitions hold
(with Dagster's implicit asset job); each partition's row count is that day's rows in the lake or the
report database; each check has a status for each day it was evaluated on.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from revolt_pipeline.defs.cascade import CASCADE_ORDER
from revolt_pipeline.reports import schema
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import aggregate_key
from revolt_pipeline.transforms.aggregates import AGGREGATES
from revolt_pipeline.transforms.engine import duckdb_connection, sql_string
from revolt_pipeline_tests.pipeline.harness import Pipeline, pipeline_environment, running_pipeline, track

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
LOCATION = "revolt_pipeline"
IMPLICIT_ASSET_JOB = "__ASSET_JOB"
RECEIVED = ("2026-11-18", "2026-11-19")
# The late event reopens the 17th; the cascade rebuilds the days whose sessions read it too.
EVENT_DAYS = ("2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20")
# Where each lake asset keeps a day (the report tables are counted in the report database).
LAKE_FOLDERS = {
    "raw_events": "raw_events/received_date={day}",
    "events": "events/event_date={day}",
    "events_quarantine": "events_quarantine/event_date={day}",
    "sessionized_events": "sessionized_events/event_date={day}",
    "sessions": "sessions/session_date={day}",
}
REPORT_DATE_COLUMNS = schema.PARTITION_COLUMNS

LOCATION_STATUS = """
{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
    __typename ... on PythonError { message stack } } } } } }"""
REPOSITORY = """
query($selector: RepositorySelector!) { repositoryOrError(repositorySelector: $selector) {
  __typename
  ... on Repository {
    jobs { name } schedules { name } sensors { name }
    assetNodes { assetKey { path } assetChecksOrError { __typename ... on AssetChecks { checks { name } } } }
  }
  ... on PythonError { message }
} }"""
PARTITIONS = """
query($asset: AssetKeyInput!, $partitions: [String!]) { assetNodeOrError(assetKey: $asset) {
  ... on AssetNode {
    latestMaterializationByPartition(partitions: $partitions) {
      partition metadataEntries { label ... on IntMetadataEntry { intValue } }
    }
    assetChecksOrError { ... on AssetChecks { checks { name partitionStatuses {
      __typename ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } } } } }
  }
} }"""


@pytest.fixture
def cascaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """Two received days, one of them holding a late event, built by one raw run and the cascade."""
    settings = pipeline_environment(monkeypatch, tmp_path / "home", REVOLT_PARTITIONS_START="2026-11-01")
    for name in ("REVOLT_STORAGE_URL", "REVOLT_REPORT_DB_URL", "REVOLT_COLLECTOR_URL"):
        monkeypatch.delenv(name, raising=False)
    first = datetime(2026, 11, 18, 9, tzinfo=UTC)
    with running_pipeline(settings, first) as pipeline:
        pipeline.send(
            first,
            [
                track(f"a{n}", f"user-{n}", first + timedelta(minutes=n), properties={"project": "apollo"})
                for n in range(3)
            ],
        )
        second = first + timedelta(days=1)
        apollo = {"properties": {"project": "apollo"}}
        late = track("late", "user-7", first - timedelta(hours=20), **apollo)  # happened on the 17th
        pipeline.send(second, [track("b1", "user-9", second, **apollo), late], sent_at=second)
        pipeline.complete(date(2026, 11, 19))
        assert pipeline.run("raw_job", *RECEIVED).success
        assert all(run.success for _, run in pipeline.follow_cascade())
        yield pipeline


@pytest.fixture
def webserver(cascaded: Pipeline) -> Iterator[WorkspaceRequestContext]:
    with (
        dg.DagsterInstance.from_config(str(cascaded.settings.home / "dagster")) as instance,
        WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE)])) as process,
    ):
        yield process.create_request_context()


def ask(context: WorkspaceRequestContext, query: str, **variables: Any) -> dict[str, Any]:
    answer = execute_dagster_graphql(context, query, variables)
    assert not answer.errors, answer.errors
    return answer.data


def rows_in_lake(pipeline: Pipeline, asset: str, day: str) -> int:
    store = ObjectStore(pipeline.settings.storage_url)
    folder = store.path(LAKE_FOLDERS[asset].format(day=day))
    if not Path(folder).exists():
        return 0
    with duckdb_connection(threads=1) as connection:
        query = f"SELECT count(*) FROM read_parquet({sql_string(folder + '/*.parquet')})"
        return connection.execute(query).fetchone()[0]


def rows_of_aggregates(pipeline: Pipeline, day: str) -> int:
    """daily_aggregates' rows of a day: every aggregate table's, in the lake."""
    store = ObjectStore(pipeline.settings.storage_url)
    paths = [store.path(aggregate_key(name, date.fromisoformat(day))) for name in AGGREGATES]
    with duckdb_connection(threads=1) as connection:
        return sum(
            connection.execute(f"SELECT count(*) FROM read_parquet({sql_string(path)})").fetchone()[0] for path in paths
        )


def rows_in_reports(pipeline: Pipeline, table: str, day: str) -> int:
    column = REPORT_DATE_COLUMNS[table]
    return sum(row[column].isoformat() == day for row in pipeline.report_rows()[table])


def row_counts(context: WorkspaceRequestContext, asset: str, days: tuple[str, ...]) -> dict[str, int | None]:
    data = ask(context, PARTITIONS, asset={"path": [asset]}, partitions=list(days))
    counts = {}
    for event in data["assetNodeOrError"]["latestMaterializationByPartition"]:
        entries = {entry["label"]: entry.get("intValue") for entry in event["metadataEntries"]}
        counts[event["partition"]] = entries.get("dagster/row_count")
    return counts


def check_statuses(context: WorkspaceRequestContext, asset: str) -> dict[str, dict[str, str]]:
    data = ask(context, PARTITIONS, asset={"path": [asset]}, partitions=[])
    statuses: dict[str, dict[str, str]] = {}
    for check in data["assetNodeOrError"]["assetChecksOrError"]["checks"]:
        days = statuses.setdefault(check["name"], {})
        for status in check["partitionStatuses"]["ranges"]:
            day = date.fromisoformat(status["startKey"])
            while day <= date.fromisoformat(status["endKey"]):
                days[day.isoformat()] = status["status"]
                day += timedelta(days=1)
    return statuses


def test_the_ui_shows_every_definition_and_each_partitions_own_figures(
    cascaded: Pipeline, webserver: WorkspaceRequestContext
) -> None:
    (entry,) = ask(webserver, LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
    assert entry["name"] == LOCATION
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry["locationOrLoadError"]

    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
    repository = ask(webserver, REPOSITORY, selector=selector)["repositoryOrError"]
    assert repository["__typename"] == "Repository", repository
    definitions = cascaded.definitions
    # Exactly what the definitions declare (a list, so that nothing is listed twice), and Dagster's
    # implicit job of the assets, which the UI's Materialize button runs.
    assert sorted(job["name"] for job in repository["jobs"]) == sorted(
        [IMPLICIT_ASSET_JOB, *(job.name for job in definitions.jobs or [])]
    )
    assert sorted(schedule["name"] for schedule in repository["schedules"]) == sorted(
        schedule.name for schedule in definitions.schedules or []
    )
    assert sorted(sensor["name"] for sensor in repository["sensors"]) == sorted(
        sensor.name for sensor in definitions.sensors or []
    )
    # ... which are the steps of the cascade, its sensors (and the models' retraining) and the raw layer's schedule.
    assert {job.name for job in definitions.jobs or []} == {
        "raw_job",
        "clean_job",
        "report_job",
        "catalog_job",
        "people_job",
        "funnels_job",
        "ml_job",
        "privacy_job",
        "retention_policy_job",
    }
    assert {sensor.name for sensor in definitions.sensors or []} == {
        *CASCADE_ORDER,
        "ml_after_people",
        "privacy_after_request",
    }
    assert {schedule.name for schedule in definitions.schedules or []} == {
        "raw_job_schedule",
        "retention_policy_schedule",
    }

    shown_assets = sorted("/".join(node["assetKey"]["path"]) for node in repository["assetNodes"])
    shown_checks = sorted(
        ("/".join(node["assetKey"]["path"]), check["name"])
        for node in repository["assetNodes"]
        for check in node["assetChecksOrError"]["checks"]
    )
    graph = definitions.resolve_asset_graph()
    assert shown_assets == sorted(key.to_user_string() for key in graph.get_all_asset_keys())
    assert shown_checks == sorted((key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys)
    # Six lake assets and event_catalog, and a table per aggregate, each with its loaded-rows check; twelve checks on
    # the lake (three on daily_aggregates: the paths' two and the events breakdowns', one the PII scanner's) and
    # event_catalog's; the people layer's person_days and people with a check each, its active-users tables with
    # their loaded-rows checks, and the report tables person_days_table, people_table and person_sessions_table; the
    # funnels' six assets, a check on funnel_progress and two on each of their five tables; retention's eleven assets
    # (cohort_activity and ten tables) and fourteen checks (four on cohort_activity, one per table); ml's eight assets
    # (person_features, churn_model, churn_scores, recommendation_model, recommendations, segment_model,
    # person_segments, segment_sizes) and nine checks (one per model asset, two on segment_model, and each report
    # table's loaded-rows check).
    aggregates, people = len(schema.AGGREGATE_TABLES), 2 + len(schema.ACTIVE_USERS_TABLES) + 3
    # privacy's one asset, privacy_deletions, and its check nothing_remains.
    funnels, retention, ml, privacy = (6, 11), (11, 14), (8, 9), (1, 1)
    assert len(shown_assets) == 7 + aggregates + people + funnels[0] + retention[0] + ml[0] + privacy[0]
    assert len(shown_checks) == 13 + aggregates + people + funnels[1] + retention[1] + ml[1] + privacy[1]

    # Each partition's row count is that day's rows, not the run's.
    for asset in ("raw_events", "event_catalog"):
        counts = row_counts(webserver, asset, RECEIVED)
        expected = {
            day: rows_in_lake(cascaded, asset, day) if asset in LAKE_FOLDERS else rows_in_reports(cascaded, asset, day)
            for day in RECEIVED
        }
        assert counts == expected, asset
    assert row_counts(webserver, "raw_events", RECEIVED) == {"2026-11-18": 3, "2026-11-19": 2}
    for asset in ("events", "events_quarantine", "sessionized_events", "sessions"):
        assert row_counts(webserver, asset, EVENT_DAYS) == {
            day: rows_in_lake(cascaded, asset, day) for day in EVENT_DAYS
        }
    assert row_counts(webserver, "daily_aggregates", EVENT_DAYS) == {
        day: rows_of_aggregates(cascaded, day) for day in EVENT_DAYS
    }
    for table in schema.AGGREGATE_TABLES:
        assert row_counts(webserver, table, EVENT_DAYS) == {
            day: rows_in_reports(cascaded, table, day) for day in EVENT_DAYS
        }
    assert row_counts(webserver, "events", EVENT_DAYS) == {
        "2026-11-16": 0,
        "2026-11-17": 1,
        "2026-11-18": 3,
        "2026-11-19": 1,
        "2026-11-20": 0,
    }

    # Each check has a status for each day it was evaluated on.
    assert check_statuses(webserver, "raw_events") == {
        check: dict.fromkeys(RECEIVED, "SUCCEEDED")
        for check in ("reconciled_with_collector", "required_columns_not_null", "no_schema_drift", "no_unhashed_pii")
    }
    assert check_statuses(webserver, "events")["reconciled_with_raw"] == dict.fromkeys(EVENT_DAYS, "SUCCEEDED")
    assert check_statuses(webserver, "person_days") == {
        "reconciled_with_sessions": dict.fromkeys(EVENT_DAYS, "SUCCEEDED")
    }
    assert check_statuses(webserver, "event_catalog") == {
        "loaded_rows_match_lake": dict.fromkeys(RECEIVED, "SUCCEEDED")
    }
