"""The definitions: whatever `build_definitions` is given, never the environment; a range of days is one run."""

import logging
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.defs.cascade import BACKFILL_TAG, tagged_days
from revolt_pipeline.instance import INSTANCE_FILE
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.schema import ACTIVE_USERS_TABLES, AGGREGATE_TABLES
from revolt_pipeline.settings import Settings

LOCATION = "revolt_pipeline"


def raw_events_config_default(definitions: dg.Definitions, field: str) -> object:
    config = definitions.resolve_assets_def("raw_events").op.config_schema.config_type
    return config.fields[field].default_value


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.setenv("REVOLT_ADMIN_TOKEN", "token")
    return Settings.from_env()


def test_two_settings_in_one_process_give_two_sets_of_definitions(base: Settings) -> None:
    march = build_definitions(
        replace(base, partitions_start="2026-03-01", watermark_retries=2, watermark_retry_seconds=5.0, lateness_days=1)
    )
    june = build_definitions(
        replace(base, partitions_start="2026-06-01", lateness_days=7, max_session_hours=30, mau_window_days=28)
    )

    assert march.resolve_assets_def("events").partitions_def.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert june.resolve_assets_def("events").partitions_def.start == datetime(2026, 6, 1, tzinfo=UTC)
    assert raw_events_config_default(march, "watermark_retries") == 2
    assert raw_events_config_default(march, "watermark_retry_seconds") == 5.0
    assert raw_events_config_default(june, "watermark_retries") == base.watermark_retries
    for definitions, lateness in ((march, 1), (june, 7)):
        mapping = definitions.resolve_assets_def("events").get_partition_mapping(dg.AssetKey("raw_events"))
        assert (mapping.start_offset, mapping.end_offset) == (-1, lateness)
        assert definitions.resolve_assets_def("events").metadata_by_key[dg.AssetKey("events")][
            "rules/lateness_days"
        ] == float(lateness)
    # Sessions of up to 30 hours, starting late on a day, reach two days after it.
    for definitions, days in ((march, 1), (june, 2)):
        mapping = definitions.resolve_assets_def("sessions").get_partition_mapping(dg.AssetKey("events"))
        assert (mapping.start_offset, mapping.end_offset) == (-days, days)
    # Active users read the MAU window of person days ending on their day; people read the day before's.
    for definitions, window in ((march, 30), (june, 28)):
        actives = definitions.resolve_assets_def("active_users_daily")
        mapping = actives.get_partition_mapping(dg.AssetKey("person_days"))
        assert (mapping.start_offset, mapping.end_offset) == (-(window - 1), 0)
        mapping = definitions.resolve_assets_def("people").get_partition_mapping(dg.AssetKey("people"))
        assert (mapping.start_offset, mapping.end_offset) == (-1, -1)


def test_python_names_are_the_names_dagster_shows(base: Settings) -> None:
    from revolt_pipeline.defs.raw import schedules

    assert schedules.raw_job_schedule.name == "raw_job_schedule"
    definitions = build_definitions(base)
    events = definitions.resolve_assets_def("events")
    assert events.op.name == "events" and set(events.keys) == {dg.AssetKey("events"), dg.AssetKey("events_quarantine")}


def test_every_report_table_shows_its_columns_and_their_comments_before_its_first_load(base: Settings) -> None:
    """The UI's catalog lists a report table's columns from the asset's definition, described as the database's
    COMMENTs describe them: not only once a materialization has brought them (active users, funnels, retention
    and the models' tables had none until they were built)."""
    shown: dict[str, list[tuple[str, str | None]]] = {}
    for spec in build_definitions(base).resolve_all_asset_specs():
        if "dagster/table_name" in spec.metadata:
            columns = spec.metadata.get("dagster/column_schema")
            described = columns.columns if columns is not None else []
            shown[spec.metadata["dagster/table_name"]] = [(column.name, column.description) for column in described]
    assert set(shown) == set(schema.metadata.tables)
    for name, columns in shown.items():
        assert columns == [(column.name, column.comment) for column in schema.metadata.tables[name].columns], name


def test_every_asset_backfills_a_range_of_days_as_one_run(base: Settings) -> None:
    """A backfill (from the UI, `dagster asset materialize --partition-range`) of a week is one run, not seven."""
    graph = build_definitions(base).resolve_asset_graph()
    policies = {
        key.to_user_string(): assets.backfill_policy
        for assets in graph.assets_defs
        if assets.partitions_def is not None  # privacy_deletions carries out requests, not days
        for key in assets.keys
    }
    # The six lake assets (raw_events, events, events_quarantine, sessionized_events, sessions,
    # daily_aggregates), event_catalog, every aggregate report table, the people layer's (person_days,
    # people, the active-users tables, person_days_table, people_table, person_sessions_table), the funnels'
    # six (funnel_progress, the five step tables), retention's eleven (cohort_activity, the six lifecycle and
    # four retention tables), churn's three (person_features, churn_model, churn_scores) and the other models' five
    # (recommendation_model, recommendations, segment_model, person_segments, segment_sizes).
    assert len(policies) == 7 + len(AGGREGATE_TABLES) + 2 + len(ACTIVE_USERS_TABLES) + 3 + 6 + 11 + 3 + 5
    assert {key: policy for key, policy in policies.items() if policy != dg.BackfillPolicy.single_run()} == {}


LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
} }"""
BACKFILL_DAYS = ("2026-11-16", "2026-11-17", "2026-11-18")


def test_an_asset_backfill_launched_as_the_ui_does_makes_one_run_for_three_days(base: Settings, tmp_path: Path) -> None:
    """The UI's Backfill dialog sends this mutation; the daemon's backfill loop then submits the runs."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster_graphql.test.utils import execute_dagster_graphql

    home = tmp_path / "dagster"
    home.mkdir()
    # The embedded default's instance: submitted runs wait in its queue, none is executed here.
    shutil.copy(INSTANCE_FILE, home / "dagster.yaml")
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="revolt_pipeline.definitions", attribute="defs"), location_name=LOCATION
    )
    one_run_each: dict[str, tuple[tuple[str, str] | None, ...]] = {}
    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(location)) as workspace,
    ):
        # One backfill per asset definition (a multi-asset's keys are materialized together).
        for assets in build_definitions(base).resolve_asset_graph().assets_defs:
            if assets.partitions_def is None:  # privacy_deletions: no days to backfill
                continue
            asset = ",".join(sorted(key.to_user_string() for key in assets.keys))
            selection = [{"path": key.path} for key in assets.keys]
            params = {"assetSelection": selection, "partitionNames": list(BACKFILL_DAYS)}
            answer = execute_dagster_graphql(workspace.create_request_context(), LAUNCH_BACKFILL, {"params": params})
            assert not answer.errors, answer.errors
            launched = answer.data["launchPartitionBackfill"]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched
            list(execute_backfill_iteration(workspace, logging.getLogger("backfill")))
            runs = instance.get_runs(dg.RunsFilter(tags={BACKFILL_TAG: launched["backfillId"]}))
            one_run_each[asset] = tuple(tagged_days(run.tags) for run in runs)
    assert one_run_each == dict.fromkeys(one_run_each, ((BACKFILL_DAYS[0], BACKFILL_DAYS[-1]),))
    # with funnel_progress, funnel_reports, cohort_activity, retention_tables, person_features, churn_model,
    # churn_scores and the other models' four definitions
    assert len(one_run_each) == 20
