"""ml_job by itself, against a real instance: `ml_after_people` trains the latest day of people once the history is
long enough, at most once per REVOLT_ML_RETRAIN_DAYS days of data, never while people or the models are written."""

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from functools import cache
from typing import Any

import dagster as dg
import pytest

from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.settings import Settings

SENSOR = "ml_after_people"
FIRST = date(2026, 8, 3)  # the first day of people, a Monday
# The churn model's history (layers/ml.churn_history_days): a 14-day label, a week of validation cutoffs and their
# features' 28 days.
NEEDED = 14 + 6 + 28


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The defaults, nothing REVOLT_* set but a throwaway home, partitions from the first day of people."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in [name for name in os.environ if name.startswith("REVOLT_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("REVOLT_HOME", str(tmp_path_factory.mktemp("home")))
        monkeypatch.setenv("REVOLT_ADMIN_TOKEN", "token")
        return replace(Settings.from_env(), partitions_start=FIRST.isoformat())


@cache
def definitions(settings: Settings) -> dg.Definitions:
    """The definitions of the settings, built once per module (the sensor keeps no state of its own)."""
    return build_definitions(settings)


class Instance:
    """An ephemeral instance holding the materializations the sensor reads, and the sensor's ticks on it."""

    def __init__(self, settings: Settings) -> None:
        self.definitions = definitions(settings)
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def materialized(self, asset: str, first: date, last: date, **metadata: Any) -> None:
        for n in range((last - first).days + 1):
            partition = (first + timedelta(days=n)).isoformat()
            event = dg.AssetMaterialization(asset, partition=partition, metadata=metadata)
            self.instance.report_runless_asset_event(event)

    def tick(self) -> Any:
        """One evaluation, as the daemon's; the cursor moves as the daemon's would."""
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.definitions)
        result = self.definitions.resolve_sensor_def(SENSOR).evaluate_tick(context)
        self.cursor = result.cursor or self.cursor
        return result

    def requested(self) -> list[tuple[str | None, str | None]]:
        result = self.tick()
        return [(request.job_name, request.tags.get("dagster/partition")) for request in result.run_requests]


@pytest.fixture
def instance(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Instance]:
    monkeypatch.setenv("REVOLT_ADMIN_TOKEN", "token")  # a run's resources read it (an `EnvVar`) when it is created
    ticking = Instance(settings)
    yield ticking
    ticking.instance.dispose()


def day(n: int) -> date:
    """The n-th day of people, from 1."""
    return FIRST + timedelta(days=n - 1)


def test_the_latest_day_of_people_is_trained_once_the_history_is_long_enough(instance: Instance) -> None:
    assert instance.tick().skip_message == "no day of people is built yet"
    instance.materialized("people", day(1), day(30))
    waiting = instance.tick()
    assert not waiting.run_requests
    assert waiting.skip_message == (
        f"too little history to train the models as of {day(30)}: the churn model needs the people layer's 48 days "
        f"from {day(-17)} (a week of validation cutoffs with their features' 28 days and labels of "
        f"REVOLT_CHURN_HORIZON_DAYS=14, and a training cutoff before them), and 18 of them are not built: "
        f"{day(-17)} to {day(0)}"
    )
    instance.materialized("people", day(31), day(NEEDED))
    assert instance.requested() == [("ml_job", day(NEEDED).isoformat())]
    assert instance.cursor == day(NEEDED).isoformat()


def test_a_tick_evaluated_again_asks_for_the_same_run(instance: Instance) -> None:
    instance.materialized("people", day(1), day(NEEDED))
    context = dg.build_sensor_context(instance=instance.instance, definitions=instance.definitions)
    sensor = instance.definitions.resolve_sensor_def(SENSOR)
    once, again = sensor.evaluate_tick(context), sensor.evaluate_tick(context)
    assert [r.run_key for r in once.run_requests] == [r.run_key for r in again.run_requests]
    assert [r.run_key for r in once.run_requests] == [f"ml_job:{day(NEEDED)}"]


def test_the_models_are_trained_again_once_a_week_of_data_has_come(instance: Instance) -> None:
    instance.materialized("people", day(1), day(NEEDED))
    assert instance.requested() == [("ml_job", day(NEEDED).isoformat())]
    instance.materialized("people", day(NEEDED + 1), day(NEEDED + 6))
    waiting = instance.tick()
    assert not waiting.run_requests
    assert waiting.skip_message == (
        f"the models were trained for {day(NEEDED)}; the next training is for {day(NEEDED + 7)} or later "
        f"(REVOLT_ML_RETRAIN_DAYS=7), and people is built through {day(NEEDED + 6)}"
    )
    instance.materialized("people", day(NEEDED + 7), day(NEEDED + 7))
    assert instance.requested() == [("ml_job", day(NEEDED + 7).isoformat())]
    # People rebuilt over earlier days (a late identify's re-stitch): the latest day is trained already.
    instance.materialized("people", day(NEEDED - 3), day(NEEDED + 7))
    assert instance.requested() == []


def test_days_no_one_was_active_on_are_not_trained(instance: Instance) -> None:
    """The demo's traffic ends days before the partitions do: the sensor trains its last active day, not the
    quiet days after it, and a week of quiet days is no reason to train again."""
    instance.materialized("people", day(1), day(NEEDED + 2), active_people=40)
    instance.materialized("people", day(NEEDED + 3), day(NEEDED + 9), active_people=0)
    assert instance.requested() == [("ml_job", day(NEEDED + 2).isoformat())]
    instance.materialized("people", day(NEEDED + 10), day(NEEDED + 12), active_people=0)
    waiting = instance.tick()
    assert not waiting.run_requests
    assert waiting.skip_message.endswith(
        f"people is built through {day(NEEDED + 12)}, with anyone active through {day(NEEDED + 2)}"
    )
    instance.materialized("people", day(NEEDED + 13), day(NEEDED + 13), active_people=3)
    assert instance.requested() == [("ml_job", day(NEEDED + 13).isoformat())]


def test_no_one_active_at_all_is_said(instance: Instance) -> None:
    instance.materialized("people", day(1), day(NEEDED), active_people=0)
    assert instance.tick().skip_message == (
        f"no one is active in the latest {NEEDED} days of people (through {day(NEEDED)}): nothing new to train on"
    )


def test_a_day_rebuilt_with_people_in_it_counts_by_its_latest_build(instance: Instance) -> None:
    """A late identify or a re-run rebuilds a quiet day with people in it: its newest materialization decides, however
    many earlier builds the days have (more than one query's page of them)."""
    instance.materialized("people", day(1), day(NEEDED + 2), active_people=40)
    for _ in range(5):  # 5 x 52 builds of quiet days: more than a page
        instance.materialized("people", day(NEEDED + 3), day(NEEDED + 54), active_people=0)
    assert instance.requested() == [("ml_job", day(NEEDED + 2).isoformat())]
    instance.materialized("people", day(NEEDED + 20), day(NEEDED + 20), active_people=2)
    assert instance.requested() == [("ml_job", day(NEEDED + 20).isoformat())]


def test_quiet_days_built_many_times_are_all_read(instance: Instance) -> None:
    """The older days' only builds lie pages behind the newer days' rebuilds: they are read too, not taken for days
    that do not say."""
    instance.materialized("people", day(1), day(NEEDED + 2), active_people=0)
    for _ in range(5):
        instance.materialized("people", day(NEEDED + 3), day(NEEDED + 54), active_people=0)
    assert instance.tick().skip_message.startswith("no one is active in the latest 92 days of people")


def test_a_backfill_of_people_is_trained_once_for_its_last_day(instance: Instance) -> None:
    instance.materialized("people", day(1), day(90))
    assert instance.requested() == [("ml_job", day(90).isoformat())]
    assert instance.requested() == []


def test_models_trained_by_hand_count_as_trained(instance: Instance) -> None:
    instance.materialized("people", day(1), day(NEEDED + 10))
    instance.materialized("churn_model", day(NEEDED + 5), day(NEEDED + 5))
    assert "the models were trained for " + str(day(NEEDED + 5)) in instance.tick().skip_message
    instance.materialized("people", day(NEEDED + 11), day(NEEDED + 12))
    assert instance.requested() == [("ml_job", day(NEEDED + 12).isoformat())]


def test_a_missing_day_in_the_history_is_named(instance: Instance) -> None:
    instance.materialized("people", day(1), day(20))
    instance.materialized("people", day(22), day(NEEDED + 2))
    skipped = instance.tick()
    assert not skipped.run_requests
    assert skipped.skip_message.endswith(f"and 1 of them are not built: {day(21)}")


@pytest.mark.parametrize("job", ["people_job", "ml_job"])
def test_nothing_is_trained_while_people_or_the_models_are_written(instance: Instance, job: str) -> None:
    instance.materialized("people", day(1), day(NEEDED))
    queued = instance.instance.create_run_for_job(
        instance.definitions.resolve_job_def(job), tags={"dagster/partition": day(NEEDED).isoformat()}
    )
    waiting = instance.tick()
    assert not waiting.run_requests
    assert waiting.skip_message == f"waiting for run {queued.run_id} ({job}) to finish writing people or the models"
    instance.instance.report_run_canceled(queued)
    assert instance.requested() == [("ml_job", day(NEEDED).isoformat())]


def test_people_materialized_from_the_ui_is_waited_for(instance: Instance) -> None:
    instance.materialized("people", day(1), day(NEEDED))
    running = instance.instance.create_run_for_job(
        instance.definitions.resolve_implicit_global_asset_job_def(),
        asset_selection=frozenset({dg.AssetKey("person_days"), dg.AssetKey("people")}),
        tags={"dagster/partition": day(NEEDED).isoformat()},
    )
    assert running.run_id in instance.tick().skip_message
    # A run of other assets is none of its business.
    instance.instance.report_run_canceled(running)
    instance.instance.create_run_for_job(
        instance.definitions.resolve_implicit_global_asset_job_def(),
        asset_selection=frozenset({dg.AssetKey("raw_events")}),
        tags={"dagster/partition": day(NEEDED).isoformat()},
    )
    assert instance.requested() == [("ml_job", day(NEEDED).isoformat())]


def test_a_shorter_horizon_needs_a_shorter_history(settings: Settings) -> None:
    instance = Instance(replace(settings, churn_horizon_days=7, ml_retrain_days=1))  # disposed with the process
    instance.materialized("people", day(1), day(2 * 7 + 28))
    assert instance.requested() == [("ml_job", day(42).isoformat())]
    instance.materialized("people", day(43), day(43))
    assert instance.requested() == [("ml_job", day(43).isoformat())]  # every day of data


def test_the_sensor_runs_by_default_and_zero_turns_it_off(settings: Settings) -> None:
    sensor = Instance(settings).definitions.resolve_sensor_def(SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "ml_job"
    off = Instance(replace(settings, ml_retrain_days=0))
    assert off.definitions.resolve_sensor_def(SENSOR).default_status == dg.DefaultSensorStatus.STOPPED
    off.materialized("people", day(1), day(NEEDED))
    # Started by hand in the UI all the same, it still trains nothing: the setting says so.
    skipped = off.tick()
    assert not skipped.run_requests
    assert skipped.skip_message == "automatic training is off (REVOLT_ML_RETRAIN_DAYS=0): launch ml_job by hand"


def test_nothing_is_trained_while_a_backfill_of_people_launches_its_runs(instance: Instance) -> None:
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

    instance.materialized("people", day(1), day(NEEDED))
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id="people-backfill",
        asset_graph=instance.definitions.resolve_asset_graph(),
        partition_names=[day(NEEDED + 1).isoformat(), day(NEEDED + 2).isoformat()],
        asset_selection=[dg.AssetKey("person_days"), dg.AssetKey("people")],
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance.instance,
        all_partitions=False,
        title=None,
        description=None,
        run_config=None,
    )
    instance.instance.add_backfill(backfill)
    waiting = instance.tick()
    assert not waiting.run_requests
    assert waiting.skip_message == "waiting for backfill people-backfill to finish writing people or the models"
    instance.materialized("people", day(NEEDED + 1), day(NEEDED + 2))
    instance.instance.update_backfill(backfill.with_status(BulkActionStatus.COMPLETED_SUCCESS))
    assert instance.requested() == [("ml_job", day(NEEDED + 2).isoformat())]
